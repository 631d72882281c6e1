"""biomtl.metrics: span-level NER scoring (disjoint / merged multi-corpus modes, strict and relaxed).

The pure core is re-exported here; `METRIC_PATH` is the absolute path of the `evaluate` metric folder:

    from biomtl.metrics import METRIC_PATH, score_corpus_spans
    metric = evaluate.load(METRIC_PATH)          # offline; "single_corpus" config for bare labels
"""

from pathlib import Path

from .bio import spans_from_bio
from .span_ner.scoring import (
    MODES,
    RELAXED_DEFINITION,
    Counts,
    ScoreBlock,
    ScoreReport,
    Span,
    format_table,
    nested_flags,
    nesting_breakdown,
    score_corpus_spans,
    score_spans,
    summary,
)

METRIC_PATH = str(Path(__file__).resolve().parent / "span_ner")
"""Absolute path of the span_ner metric folder, for `evaluate.load(METRIC_PATH)`."""

__all__ = [
    "METRIC_PATH",
    "MODES",
    "nested_flags",
    "nesting_breakdown",
    "RELAXED_DEFINITION",
    "Counts",
    "ScoreBlock",
    "ScoreReport",
    "Span",
    "format_table",
    "score_corpus_spans",
    "score_spans",
    "spans_from_bio",
    "summary",
]
