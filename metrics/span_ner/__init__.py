"""biomtl.metrics.span_ner: the span metric folder (`evaluate.load` it by path) and its pure scoring core
(IOB2 decoding, `spans_from_bio`, is the one definition of biomtl.modeling.tag_schemes)."""

from ..bio import spans_from_bio
from .scoring import (
    MODES,
    RELAXED_DEFINITION,
    Counts,
    ScoreBlock,
    ScoreReport,
    Span,
    format_table,
    score_corpus_spans,
    score_spans,
    summary,
)

__all__ = [
    "MODES",
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
