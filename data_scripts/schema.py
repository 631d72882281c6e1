"""The canonical example schema every corpus is converted to.

One example = one sentence::

    {
      "id":      "NCBI-disease-train-000017",   # unique within a DatasetDict
      "corpus":  "NCBI-disease",                # registry display name (prefix of multi-corpus types)
      "doc_id":  "PMID:123" or "",              # empty when the source has no document boundaries
      "tokens":  ["Ovarian", "cancer", "risk"],
      "spans":   [{"start": 0, "end": 2, "label": "Disease"}],   # word indices, end exclusive
    }

`label` is the corpus's type name after the registry's renames (e.g. BC2GM `GENE` -> `Gene`).
Spans may nest (GENIA); they are kept sorted by (start, -end, label).
"""

from __future__ import annotations

from datasets import Features, List, Value

SPAN_FEATURE = {"start": Value("int32"), "end": Value("int32"), "label": Value("string")}

FEATURES = Features(
    {
        "id": Value("string"),
        "corpus": Value("string"),
        "doc_id": Value("string"),
        "tokens": List(Value("string")),
        "spans": List(SPAN_FEATURE),
    }
)

#: Separator between corpus and type in multi-corpus type names ("BC5CDR/Chemical").
PREFIX_SEP = "/"


class CorpusFormatError(ValueError):
    """Bad input in a corpus file; the message starts with `path:line:`."""

    def __init__(self, path, line: int | None, reason: str):
        self.path, self.line, self.reason = str(path), line, reason
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {reason}")


def sort_spans(spans: list[dict]) -> list[dict]:
    """Canonical span order: by start, longer first, then label."""
    return sorted(spans, key=lambda s: (s["start"], -s["end"], s["label"]))


def make_example(ex_id: str, corpus: str, doc_id: str, tokens: list[str], spans: list[dict]) -> dict:
    return {
        "id": ex_id,
        "corpus": corpus,
        "doc_id": doc_id,
        "tokens": list(tokens),
        "spans": sort_spans([{"start": int(s["start"]), "end": int(s["end"]), "label": str(s["label"])}
                             for s in spans]),
    }
