"""Readers: corpus files -> canonical examples (see `schema.py`).

Supported layouts:
* tab-separated `token<TAB>tag` files, IOB2 or IOBES (detected), blank line between sentences;
* CoNLL-2003-style multi-column files (whitespace-separated, token first, tag last, `-DOCSTART-`
  lines between documents);
* JSON-lines, either the nested GENIA layout (`tokens`, `entity_mentions`, `doc_id`) or this
  package's canonical layout (`tokens`, `spans`, `corpus`, `doc_id`, `id`).

Malformed input raises `CorpusFormatError` naming file, line and reason. Tag sequences that are
merely ill-formed (`I-X` after `O` or after `B-Y`) are repaired as conlleval does -- a new X mention
starts -- and each repair is counted in a `RepairReport`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..modeling.tag_schemes import tags_to_spans as decode_tags
from .schema import CorpusFormatError, make_example, sort_spans

DOCSTART = "-DOCSTART-"


@dataclass
class RepairReport:
    """Counts of repaired tag sequences, with a few examples (`file:line: what`)."""

    counts: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_examples: int = 10

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] += 1
        if len(self.examples) < self.max_examples:
            self.examples.append(f"{where}: {kind}")

    def merge(self, other: RepairReport) -> None:
        self.counts.update(other.counts)
        for e in other.examples:
            if len(self.examples) < self.max_examples:
                self.examples.append(e)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        return {"total": self.total, "counts": dict(self.counts), "examples": list(self.examples)}

    def format(self) -> str:
        if not self.total:
            return "tag repairs: none"
        lines = [f"tag repairs: {self.total} (ill-formed sequences fixed as conlleval does)"]
        lines += [f"  {kind}: {n}" for kind, n in sorted(self.counts.items())]
        lines += [f"  e.g. {e}" for e in self.examples[:5]]
        return "\n".join(lines)


def _read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 file; invalid UTF-8 and empty files are errors naming the line."""
    raw = path.read_bytes()
    if not raw.strip():
        raise CorpusFormatError(path, None, "file is empty")
    lines = raw.split(b"\n")
    out = []
    for i, line in enumerate(lines, start=1):
        try:
            out.append(line.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError as err:
            raise CorpusFormatError(path, i, f"invalid UTF-8 ({err.reason} at byte {err.start})") from None
    if out and out[-1] == "":
        out.pop()
    return out


def _parse_tag(tag: str, path: Path, line: int) -> tuple[str, str | None]:
    """'B-Disease' -> ('B', 'Disease'); 'O' -> ('O', None)."""
    if tag == "O":
        return "O", None
    prefix, sep, typ = tag.partition("-")
    if not sep or prefix not in {"B", "I", "E", "S"} or not typ:
        raise CorpusFormatError(path, line, f"unknown tag {tag!r} (expected O, B-X, I-X, E-X or S-X)")
    return prefix, typ


def detect_scheme(tags: list[str]) -> str:
    """'IOBES' if any E-/S- tag occurs, else 'IOB2'."""
    return "IOBES" if any(t[:2] in ("E-", "S-") for t in tags) else "IOB2"


def tags_to_spans(parsed: list[tuple[str, str | None]], scheme: str, report: RepairReport | None = None,
                  where: list[str] | None = None) -> list[dict]:
    """Convert (prefix, type) pairs to spans, repairing ill-formed sequences conlleval-style (the
    repository's one decoder, `biomtl.modeling.tag_schemes.tags_to_spans`).

    Args:
        parsed: per word, ('O', None) or (prefix, type) with prefix in B/I (and E/S for IOBES).
        scheme: 'IOB2' or 'IOBES'.
        report: where repairs are counted.
        where: per word, a 'file:line' string for the report.
    """
    def repair(kind: str, i: int) -> None:
        if report is not None:
            report.add(kind, where[i] if where else f"word {i}")

    tags = ["O" if prefix == "O" else f"{prefix}-{typ}" for prefix, typ in parsed]
    if any(prefix in ("E", "S") for prefix, _ in parsed):
        scheme = "IOBES"
    return [{"start": s, "end": e, "label": t} for s, e, t in decode_tags(tags, scheme, on_repair=repair)]


def read_tagged(path: str | Path, corpus: str, *, columns: str = "tsv", scheme: str = "auto",
                id_prefix: str | None = None, renames: dict[str, str] | None = None,
                report: RepairReport | None = None) -> list[dict]:
    """Read a token-per-line tagged file.

    Args:
        path: the file.
        corpus: corpus name stored in each example.
        columns: 'tsv' (`token<TAB>...<TAB>tag`) or 'conll' (whitespace-separated, token first, tag last).
        scheme: 'auto' (detect), 'IOB2' or 'IOBES'.
        id_prefix: example ids are `{id_prefix}-{index:06d}` (default: `{corpus}-{file stem}`).
        renames: type renames applied to every label (e.g. {'GENE': 'Gene'}).
        report: repairs are counted here.

    `-DOCSTART-` lines separate documents; in tsv files the document id is the second column when that is not a
    tag, else `doc{n}`. Without any `-DOCSTART-`, doc_id is "".
    """
    path = Path(path)
    renames = renames or {}
    id_prefix = id_prefix or f"{corpus}-{path.stem}"
    lines = _read_lines(path)
    # first pass: sentences of (token, tag, line number)
    sentences: list[tuple[str, list[tuple[str, str, int]]]] = []
    doc_id, n_docs, current = "", 0, []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            if current:
                sentences.append((doc_id, current))
                current = []
            continue
        fields = line.split("\t") if columns == "tsv" else line.split()
        if fields[0] == DOCSTART:
            if current:
                sentences.append((doc_id, current))
                current = []
            n_docs += 1
            second = fields[1] if columns == "tsv" and len(fields) == 2 else "O"
            doc_id = second if second != "O" and not second.startswith(("B-", "I-")) else f"doc{n_docs}"
            continue
        if len(fields) < 2:
            raise CorpusFormatError(path, lineno, f"no tag column in {line!r} (expected token<TAB>tag)")
        token, tag = fields[0], fields[-1].strip()
        if not token.strip():
            raise CorpusFormatError(path, lineno, "empty token")
        current.append((token, tag, lineno))
    if current:
        sentences.append((doc_id, current))
    if not sentences:
        raise CorpusFormatError(path, None, "no sentences found")
    if scheme == "auto":
        scheme = detect_scheme([t for _, s in sentences for _, t, _ in s])
    examples = []
    for idx, (doc, sent) in enumerate(sentences):
        parsed = [_parse_tag(tag, path, ln) for _, tag, ln in sent]
        where = [f"{path}:{ln}" for _, _, ln in sent]
        spans = tags_to_spans(parsed, scheme, report, where)
        for sp in spans:
            sp["label"] = renames.get(sp["label"], sp["label"])
        examples.append(make_example(f"{id_prefix}-{idx:06d}", corpus, doc, [t for t, _, _ in sent], spans))
    return examples


def read_iob(path: str | Path, corpus: str, **kwargs) -> list[dict]:
    """Tab-separated IOB2/IOBES (the layout of ../shared/corpora)."""
    return read_tagged(path, corpus, columns="tsv", **kwargs)


def read_conll(path: str | Path, corpus: str, **kwargs) -> list[dict]:
    """CoNLL-2003-style multi-column file (token first, tag last, `-DOCSTART-` between documents)."""
    return read_tagged(path, corpus, columns="conll", **kwargs)


def _crossing(a: dict, b: dict) -> bool:
    return a["start"] < b["start"] < a["end"] < b["end"] or b["start"] < a["start"] < b["end"] < a["end"]


def read_jsonlines(path: str | Path, corpus: str, *, id_prefix: str | None = None,
                   renames: dict[str, str] | None = None) -> list[dict]:
    """Nested JSON-lines (GENIA layout or the canonical layout written by `write_jsonlines`).

    Errors name file and line: invalid JSON or UTF-8, missing `tokens`, empty tokens, spans out of
    range or empty, and crossing mentions of the same type (nesting is fine).
    """
    path = Path(path)
    renames = renames or {}
    id_prefix = id_prefix or f"{corpus}-{path.stem}"
    examples = []
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusFormatError(path, lineno, f"invalid JSON ({err.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("tokens"), list):
            raise CorpusFormatError(path, lineno, "expected an object with a 'tokens' list")
        tokens = obj["tokens"]
        for k, tok in enumerate(tokens):
            if not isinstance(tok, str) or not tok.strip():
                raise CorpusFormatError(path, lineno, f"empty token at position {k}")
        if "spans" in obj:
            raw = [(s.get("start"), s.get("end"), s.get("label")) for s in obj["spans"]]
        else:
            raw = [(m.get("start"), m.get("end"), m.get("entity_type")) for m in obj.get("entity_mentions", [])]
        spans = []
        for start, end, label in raw:
            if not isinstance(start, int) or not isinstance(end, int) or not label:
                raise CorpusFormatError(path, lineno, f"mention needs integer start/end and a type: "
                                                      f"{(start, end, label)}")
            if not 0 <= start < end <= len(tokens):
                raise CorpusFormatError(path, lineno, f"mention ({start}, {end}, {label}) out of range "
                                                      f"for {len(tokens)} tokens")
            spans.append({"start": start, "end": end, "label": renames.get(label, label)})
        for i, a in enumerate(spans):
            for b in spans[i + 1:]:
                if a["label"] == b["label"] and _crossing(a, b):
                    raise CorpusFormatError(
                        path, lineno, f"crossing mentions of type {a['label']}: ({a['start']}, {a['end']}) "
                                      f"and ({b['start']}, {b['end']})")
        # identical duplicates carry no information; keep one
        unique = {(s["start"], s["end"], s["label"]): s for s in spans}
        ex_id = obj.get("id") or obj.get("sent_id") or f"{id_prefix}-{len(examples):06d}"
        examples.append(make_example(str(ex_id), obj.get("corpus") or corpus, str(obj.get("doc_id") or ""),
                                     tokens, sort_spans(list(unique.values()))))
    if not examples:
        raise CorpusFormatError(path, None, "no sentences found")
    return examples
