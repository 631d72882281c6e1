"""Writers: canonical examples -> IOB2 tsv or JSON-lines. Reading a written file gives back the
same examples (`read_iob(write_iob2(x)) == x` for flat spans; JSON-lines for any spans)."""

from __future__ import annotations

import json
from pathlib import Path

from ..modeling.tag_schemes import spans_to_tags
from .readers import DOCSTART


def spans_to_iob2(n_words: int, spans: list[dict], where: str = "") -> list[str]:
    """Flat spans -> IOB2 tags (`biomtl.modeling.tag_schemes.spans_to_tags`). Overlapping spans cannot
    be written in IOB2: ValueError."""
    try:
        return spans_to_tags([(sp["start"], sp["end"], sp["label"]) for sp in spans], n_words, "BIO")
    except ValueError as err:
        if "overlaps" not in str(err):
            raise ValueError(f"{where}: {err}") from None
        raise ValueError(f"{where}: overlapping spans cannot be written as IOB2 (use JSON-lines): {err}") from None


def write_iob2(path: str | Path, examples: list[dict]) -> Path:
    """`token<TAB>tag` lines, blank line between sentences; a `-DOCSTART-<TAB>doc_id` line (then a
    blank line) wherever the document id changes to a non-empty value."""
    path = Path(path)
    out: list[str] = []
    prev_doc = ""
    for ex in examples:
        if ex["doc_id"] and ex["doc_id"] != prev_doc:
            out += [f"{DOCSTART}\t{ex['doc_id']}", ""]
        prev_doc = ex["doc_id"]
        for tok in ex["tokens"]:
            if "\t" in tok or "\n" in tok:
                raise ValueError(f"{ex['id']}: token {tok!r} contains a tab or newline")
        tags = spans_to_iob2(len(ex["tokens"]), ex["spans"], where=ex["id"])
        out += [f"{tok}\t{tag}" for tok, tag in zip(ex["tokens"], tags)]
        out.append("")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")
    return path


def write_jsonlines(path: str | Path, examples: list[dict]) -> Path:
    """One canonical example per line (keeps nested spans, ids, corpus and doc ids)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            row = {"id": ex["id"], "corpus": ex["corpus"], "doc_id": ex["doc_id"], "tokens": list(ex["tokens"]),
                   "spans": [{"start": s["start"], "end": s["end"], "label": s["label"]} for s in ex["spans"]]}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
