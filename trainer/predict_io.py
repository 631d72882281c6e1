"""Readers and writers of `biomtl predict`: plain text, JSON-lines, PubTator, BioC XML and BioC JSON.

A document is read as *segments* (text pieces with their character offset in the document): one for
plain text and JSON-lines, title (offset 0) and abstract (offset len(title) + 1) for PubTator, each
passage (or, for passages given only as sentences, each sentence) for BioC. The pipeline tags every
segment; entities get document-level offsets (segment offset + offset in the segment).

Output formats:
  jsonl      `{"id", "text", "entities": [{"entity_group", "score", "word", "start", "end"}]}` per line
             (plus `"biomtl": {settings}` when the caller records settings, e.g. `conflicts`);
             a JSON-lines input line keeps its other fields. `text` is the document text (segments laid
             out at their offsets, gaps filled with spaces) and `word == text[start:end]`.
  pubtator   `ID|t|title`, `ID|a|abstract`, then `ID<TAB>start<TAB>end<TAB>mention<TAB>type` lines, offsets
             over title + " " + abstract. Line breaks and tabs inside texts are written as spaces
             (offsets unchanged). Annotation and relation lines of a PubTator input are not copied.
  bioc-xml / bioc-json   the input collection (when it is BioC) with one annotation per entity added
             to the passage/sentence it was found in (`infons`: type, score, annotator=biomtl); existing
             annotations and relations are kept. Other inputs become a new collection. Recorded
             settings become collection infons `biomtl.<name>`. PubTator has no place for them.

Every input problem raises `PredictInputError` (a ValueError) naming the file and line or document.
BioC uses the `bioc` package (PyPI, MIT; pure Python + lxml).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INPUT_FORMATS = ("auto", "text", "jsonl", "pubtator", "bioc", "bioc-xml", "bioc-json")
OUTPUT_FORMATS = ("auto", "jsonl", "pubtator", "bioc-xml", "bioc-json")
ANNOTATOR = "biomtl"

_PUBTATOR_TEXT_RE = re.compile(r"^([^|\t]*)\|([ta])\|(.*)$")


class PredictInputError(ValueError):
    """A problem with the input file; the message names the file and the line or document."""


@dataclass
class Segment:
    """A piece of a document tagged on its own; `offset` is its position in the document."""

    offset: int
    text: str
    kind: str = ""  # "title" / "abstract" / BioC passage type
    entities: list[dict[str, Any]] = field(default_factory=list)  # offsets relative to `text`
    ref: Any = None  # the BioC passage/sentence it came from


@dataclass
class Document:
    id: str
    segments: list[Segment]
    record: dict[str, Any] | None = None  # the JSON-lines input object
    bioc: Any = None  # the BioC document it came from
    where: str = ""  # "file:line" for error messages

    def entities(self) -> list[dict[str, Any]]:
        """Entities with document-level offsets, sorted by (start, -end, entity_group)."""
        out = []
        for seg in self.segments:
            for e in seg.entities:
                out.append(dict(e, start=e["start"] + seg.offset, end=e["end"] + seg.offset))
        return sorted(out, key=lambda e: (e["start"], -e["end"], e["entity_group"]))

    def text(self) -> str:
        """The segments laid out at their offsets (gaps filled with spaces)."""
        parts, pos = [], 0
        for seg in sorted(self.segments, key=lambda s: s.offset):
            if seg.offset < pos:
                raise PredictInputError(
                    f"{self.where or 'document'}: document {self.id!r}: segment at offset {seg.offset} "
                    f"overlaps the previous one (ending at {pos})")
            parts.append(" " * (seg.offset - pos))
            parts.append(seg.text)
            pos = seg.offset + len(seg.text)
        return "".join(parts)


@dataclass
class InputData:
    format: str
    documents: Iterable[Document]
    collection: Any = None  # the BioC collection of a BioC input
    total: int | None = None  # number of documents when known up front
    dropped_annotations: list[int] = field(default_factory=lambda: [0])  # PubTator lines not copied


# ---------------------------------------------------------------------------------------------
# format detection
# ---------------------------------------------------------------------------------------------
def detect_format(path: str | Path) -> str:
    """Input format from the file name, else from the first characters."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonlines", ".ndjson")):
        return "jsonl"
    if name.endswith((".pubtator", ".pubtator.txt", ".pubtator3")):
        return "pubtator"
    if name.endswith(".xml"):
        return "bioc-xml"
    head = _read_text(path)[:4096].lstrip("\ufeff \t\r\n")
    if head.startswith("<"):
        return "bioc-xml"
    if head.startswith("{"):
        try:
            obj = json.loads(_read_text(path))
        except json.JSONDecodeError:
            return "jsonl"
        return "bioc-json" if isinstance(obj, dict) and "documents" in obj else "jsonl"
    if head and _PUBTATOR_TEXT_RE.match(head.splitlines()[0]):
        return "pubtator"
    return "text"


def _bioc_flavour(path: Path) -> str:
    head = _read_text(path)[:256].lstrip("\ufeff \t\r\n")
    return "bioc-json" if head.startswith("{") or path.suffix.lower() == ".json" else "bioc-xml"


def default_output_format(input_format: str) -> str:
    return input_format if input_format in ("pubtator", "bioc-xml", "bioc-json", "jsonl") else "jsonl"


# ---------------------------------------------------------------------------------------------
# readers
# ---------------------------------------------------------------------------------------------
def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise PredictInputError(f"{path}:{line}: not valid UTF-8 ({err.reason} at byte {err.start})") from None


def read_input(path: str | Path, fmt: str = "auto", lines: bool = False) -> InputData:
    """Open an input file. `lines`: plain text with one document per non-empty line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    if fmt not in INPUT_FORMATS:
        raise PredictInputError(f"unknown input format {fmt!r}; one of {', '.join(INPUT_FORMATS)}")
    if fmt == "auto":
        fmt = "text" if lines else detect_format(path)
    if fmt == "bioc":
        fmt = _bioc_flavour(path)
    if lines and fmt != "text":
        raise PredictInputError(f"--lines applies to plain text input only, not {fmt}")
    if fmt == "text":
        docs = list(_read_plain(path, lines))
        return InputData("text", docs, total=len(docs))
    if fmt == "jsonl":
        return InputData("jsonl", _read_jsonl(path))
    if fmt == "pubtator":
        data = InputData("pubtator", [])
        data.documents = _read_pubtator(path, data.dropped_annotations)
        return data
    collection = _load_bioc(path, fmt)
    docs = list(_bioc_documents(collection, path))
    return InputData(fmt, docs, collection=collection, total=len(docs))


def _read_plain(path: Path, lines: bool) -> Iterator[Document]:
    text = _read_text(path)
    if not lines:
        yield Document(path.stem, [Segment(0, text)], where=str(path))
        return
    for n, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if line.strip():
            yield Document(str(n), [Segment(0, line)], where=f"{path}:{n}")


def _read_jsonl(path: Path) -> Iterator[Document]:
    with path.open(encoding="utf-8-sig") as fh:
        n = 0
        while True:
            n += 1
            try:
                line = fh.readline()
            except UnicodeDecodeError as err:
                raise PredictInputError(f"{path}:{n}: not valid UTF-8 ({err.reason})") from None
            if not line:
                return
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise PredictInputError(f"{where}: invalid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(obj, dict):
                raise PredictInputError(f"{where}: expected a JSON object with \"text\", got {type(obj).__name__}")
            if "text" not in obj:
                raise PredictInputError(f"{where}: missing field \"text\"")
            if not isinstance(obj["text"], str):
                raise PredictInputError(f"{where}: field \"text\" must be a string, got {type(obj['text']).__name__}")
            doc_id = obj.get("id", str(n))
            if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
                raise PredictInputError(f"{where}: field \"id\" must be a string or an integer")
            yield Document(str(doc_id), [Segment(0, obj["text"])], record=obj, where=where)


def _read_pubtator(path: Path, dropped: list[int]) -> Iterator[Document]:
    text = _read_text(path)
    doc: dict[str, Any] | None = None

    def finish(d):
        if d["title"] is None:
            raise PredictInputError(f"{path}:{d['line']}: document {d['id']!r} has an abstract but no title line")
        title, abstract = d["title"], d["abstract"]
        segs = [Segment(0, title, "title")]
        if abstract is not None:
            segs.append(Segment(len(title) + 1, abstract, "abstract"))
        return Document(d["id"], segs, where=f"{path}:{d['line']}")

    for n, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if doc is not None:
                yield finish(doc)
                doc = None
            continue
        m = _PUBTATOR_TEXT_RE.match(line)
        if m:
            doc_id, part, body = m.groups()
            if not doc_id:
                raise PredictInputError(f"{path}:{n}: empty document id before |{part}|")
            if doc is not None and (doc_id != doc["id"] or (part == "t" and doc["title"] is not None)
                                    or doc["abstract"] is not None):
                yield finish(doc)
                doc = None
            if doc is None:
                doc = {"id": doc_id, "title": None, "abstract": None, "line": n}
            doc["title" if part == "t" else "abstract"] = body
            continue
        cols = line.split("\t")
        if doc is None:
            raise PredictInputError(f"{path}:{n}: annotation line outside a document (no ID|t| line before it)")
        is_annotation = len(cols) >= 5 and cols[1].isdigit() and cols[2].isdigit()
        is_relation = len(cols) in (4, 5) and not is_annotation
        if not (is_annotation or is_relation):
            raise PredictInputError(
                f"{path}:{n}: not a PubTator line (expected ID|t|title, ID|a|abstract, or tab-separated "
                "ID, start, end, mention, type)")
        if cols[0] != doc["id"]:
            raise PredictInputError(f"{path}:{n}: line for document {cols[0]!r} inside document {doc['id']!r}")
        dropped[0] += 1
    if doc is not None:
        yield finish(doc)


def _load_bioc(path: Path, fmt: str):
    import bioc
    from bioc import biocjson

    try:
        if fmt == "bioc-json":
            with path.open(encoding="utf-8-sig") as fh:
                return biocjson.load(fh)
        with path.open("rb") as fh:
            return bioc.biocxml.load(fh)
    except json.JSONDecodeError as err:
        raise PredictInputError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    except KeyError as err:
        raise PredictInputError(f"{path}: not a BioC JSON collection: missing field {err.args[0]!r}") from None
    except (TypeError, ValueError) as err:
        raise PredictInputError(f"{path}: not a valid BioC {fmt[5:].upper()} collection ({err})") from None
    except Exception as err:  # lxml.etree.XMLSyntaxError and friends
        line = getattr(err, "lineno", None) or (getattr(err, "position", None) or (None,))[0]
        where = f"{path}:{line}" if line else str(path)
        raise PredictInputError(f"{where}: invalid BioC XML ({err})") from None


def _bioc_documents(collection, path: Path) -> Iterator[Document]:
    for k, bdoc in enumerate(collection.documents):
        where = f"{path}: document {bdoc.id!r} (#{k + 1})"
        segs = []
        for passage in bdoc.passages:
            kind = (passage.infons or {}).get("type") or (passage.infons or {}).get("section_type") or ""
            if passage.text:
                segs.append(_bioc_segment(passage, kind, where))
            for sentence in passage.sentences if not passage.text else []:
                if sentence.text:
                    segs.append(_bioc_segment(sentence, kind, where))
        yield Document(str(bdoc.id), segs, bioc=bdoc, where=where)


def _bioc_segment(node, kind: str, where: str) -> Segment:
    if not isinstance(node.offset, int) or node.offset < 0:
        raise PredictInputError(f"{where}: passage/sentence offset must be a non-negative integer, "
                                f"got {node.offset!r}")
    return Segment(node.offset, node.text, kind, ref=node)


# ---------------------------------------------------------------------------------------------
# prediction
# ---------------------------------------------------------------------------------------------
def annotate(documents: Iterable[Document], ner: Callable[..., list], batch_size: int = 32,
             docs_per_call: int = 64, progress: Any = None) -> Iterator[Document]:
    """Fill `segment.entities` of each document with `ner(list_of_texts, batch_size=...)` results.

    Documents are grouped `docs_per_call` at a time so that the sentences of short documents share
    batches; `progress` (e.g. a tqdm bar) is advanced by one per document.
    """
    chunk: list[Document] = []

    def flush():
        segments = [s for d in chunk for s in d.segments]
        results = ner([s.text for s in segments], batch_size=batch_size) if segments else []
        for seg, ents in zip(segments, results):
            seg.entities = ents
        if progress is not None:
            progress.update(len(chunk))

    for doc in documents:
        chunk.append(doc)
        if len(chunk) >= docs_per_call:
            flush()
            yield from chunk
            chunk = []
    if chunk:
        flush()
        yield from chunk


# ---------------------------------------------------------------------------------------------
# writers
# ---------------------------------------------------------------------------------------------
def _plain_entity(e: dict[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if k == "score" else v) for k, v in e.items()}


def jsonl_record(doc: Document, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    text = doc.text()
    record = dict(doc.record) if doc.record is not None else {"id": doc.id, "text": text}
    record.setdefault("id", doc.id)  # a JSON-lines input without ids gets its line number
    record["entities"] = [_plain_entity(e) for e in doc.entities()]
    if settings:
        record["biomtl"] = dict(settings)
    for e in record["entities"]:
        if text[e["start"]:e["end"]] != e["word"]:  # a bug, never written silently
            raise AssertionError(f"entity {e} does not match the text of document {doc.id!r}")
    return record


def _flat(s: str) -> str:
    return re.sub(r"[\t\r\n\v\f\u2028\u2029\x1c-\x1e\x85]", " ", s)


def pubtator_lines(doc: Document) -> list[str]:
    if any(c in doc.id for c in "|\t\r\n") or not doc.id:
        raise PredictInputError(f"{doc.where}: document id {doc.id!r} cannot be written as PubTator "
                                "(empty, or contains '|', a tab or a line break)")
    text = doc.text()
    segs = sorted(doc.segments, key=lambda s: s.offset)
    title, abstract = text, None
    if len(segs) > 1 and segs[0].offset == 0 and text[len(segs[0].text):len(segs[0].text) + 1] == " ":
        title, abstract = segs[0].text, text[len(segs[0].text) + 1:]
    out = [f"{doc.id}|t|{_flat(title)}", f"{doc.id}|a|{_flat(abstract or '')}"]
    for e in doc.entities():
        out.append(f"{doc.id}\t{e['start']}\t{e['end']}\t{_flat(e['word'])}\t{_flat(e['entity_group'])}")
    return out


def _bioc_annotation(bioc, ann_id: str, seg: Segment, e: dict[str, Any]):
    ann = bioc.BioCAnnotation()
    ann.id = ann_id
    ann.infons = {"type": e["entity_group"], "score": f"{float(e['score']):.6g}", "annotator": ANNOTATOR}
    if "corpus" in e:
        ann.infons["corpus"] = e["corpus"]
    ann.text = e["word"]
    ann.add_location(bioc.BioCLocation(seg.offset + e["start"], e["end"] - e["start"]))
    return ann


def _existing_ids(bdoc) -> set[str]:
    ids = {a.id for a in bdoc.annotations} | {r.id for r in bdoc.relations}
    for p in bdoc.passages:
        ids |= {a.id for a in p.annotations} | {r.id for r in p.relations}
        for s in p.sentences:
            ids |= {a.id for a in s.annotations} | {r.id for r in s.relations}
    return ids


def bioc_document(doc: Document):
    """The BioC document of `doc` with its entities added (a new one for non-BioC inputs)."""
    import bioc

    bdoc = doc.bioc
    if bdoc is None:
        bdoc = bioc.BioCDocument()
        bdoc.id = doc.id
        for seg in doc.segments:
            passage = bioc.BioCPassage()
            passage.offset = seg.offset
            passage.text = seg.text
            if seg.kind:
                passage.infons["type"] = seg.kind
            bdoc.add_passage(passage)
            seg.ref = passage
    taken = _existing_ids(bdoc)
    n = 0
    for seg in doc.segments:
        for e in sorted(seg.entities, key=lambda e: (e["start"], -e["end"], e["entity_group"])):
            while f"{ANNOTATOR}{n}" in taken:
                n += 1
            ann_id = f"{ANNOTATOR}{n}"
            taken.add(ann_id)
            seg.ref.add_annotation(_bioc_annotation(bioc, ann_id, seg, e))
    return bdoc


class OutputWriter:
    """Writes documents to `path` in `fmt`; the file appears only when `close()` succeeds."""

    def __init__(self, path: str | Path, fmt: str, collection: Any = None, settings: dict[str, Any] | None = None):
        if fmt not in OUTPUT_FORMATS or fmt == "auto":
            raise PredictInputError(f"unknown output format {fmt!r}; one of {', '.join(OUTPUT_FORMATS[1:])}")
        self.path = Path(path)
        self.fmt = fmt
        self.collection = collection
        self.settings = dict(settings or {})  # recorded in jsonl records / BioC collection infons
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        self._bioc_docs: list = []

    def write(self, doc: Document) -> None:
        if self.fmt == "jsonl":
            self._fh.write(json.dumps(jsonl_record(doc, self.settings), ensure_ascii=False) + "\n")
        elif self.fmt == "pubtator":
            self._fh.write("\n".join(pubtator_lines(doc)) + "\n\n")
        else:
            self._bioc_docs.append(bioc_document(doc))
        self.count += 1

    def close(self) -> None:
        try:
            if self.fmt in ("bioc-xml", "bioc-json"):
                self._write_bioc()
            self._fh.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)

    def _write_bioc(self) -> None:
        import bioc
        from bioc import biocjson

        collection = self.collection
        if collection is None:
            collection = bioc.BioCCollection()
            collection.source = ANNOTATOR
        else:  # the input collection, whose documents were annotated in place
            collection.documents = []
        for bdoc in self._bioc_docs:
            collection.add_document(bdoc)
        for key, value in self.settings.items():
            collection.infons[f"{ANNOTATOR}.{key}"] = str(value)
        if self.fmt == "bioc-json":
            self._fh.write(biocjson.dumps(collection, indent=2, ensure_ascii=False) + "\n")
        else:
            collection.encoding = "utf-8"
            self._fh.write(bioc.biocxml.dumps(collection))

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
