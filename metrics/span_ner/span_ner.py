"""span_ner: span-level NER precision/recall/F1 for multi-corpus models (strict, with relaxed beside).

Load it offline with `evaluate.load(<absolute path of this folder>)`; the scoring itself lives in
`scoring.py` (pure Python), which evaluate copies next to this file.
"""

import datasets
import evaluate

from .scoring import read_span, score_corpus_spans, score_spans, summary

_CITATION = """
@inproceedings{ruano2025effective,
  title     = {Effective Multi-Task Learning for Biomedical Named Entity Recognition},
  author    = {Ruano and others},
  booktitle = {Proceedings of BioNLP 2025},
  year      = {2025},
  note      = {Evaluation protocol (disjoint and merged modes) implemented by this metric}
}
@misc{seqeval,
  title  = {{seqeval}: A Python framework for sequence labeling evaluation},
  author = {Hiroki Nakayama},
  year   = {2018},
  url    = {https://github.com/chakki-works/seqeval}
}
"""


_DESCRIPTION = """
Span-level micro precision, recall and F1 (in percent) for named entity recognition, where every
sentence comes from a corpus that annotates only some entity types. A sentence is scored only on its
own corpus's types; predictions of other types are dropped. Two modes: "merged" (corpus prefixes
stripped and identical (start, end, type) predictions deduplicated; the headline) and "disjoint"
(prefixed types, a sentence scores only its own corpus's prefixed types). Strict matching (exact
start, end and type) is the headline; relaxed matching (overlap + same type) is reported beside it
under the "relaxed" key. Scores per corpus, per type, micro over everything, and "Average" (plain mean
of the per-corpus precision, recall and F1).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: per sentence, a list of predicted spans {"label": str, "start": int, "end": int}
        (word indices, end exclusive; labels prefixed "Corpus/Type" or bare). Other keys are ignored.
    references: per sentence, a list of gold spans {"label", "start", "end"} with an optional
        "unaligned": True for a gold mention that could not be aligned to words (always a false negative).
    corpus: per sentence, the corpus it comes from (default config only; absent in "single_corpus").
    corpus_types: dict corpus -> list of the prefixed types it annotates, e.g.
        {"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]} (default config: required; list every corpus
        whose prefix can appear in the predictions, e.g. a model's config.corpus_types).
    types: "single_corpus" config only: the types to score (default: every label seen).
    mode: "merged" (default) or "disjoint".
    prefix_sep: separator between corpus and type in labels (default "/").
    unknown_gold: "error" (default) or "ignore" for gold labels outside their corpus's types.
Returns:
    overall_precision, overall_recall, overall_f1: strict micro scores over all sentences;
    average_precision, average_recall, average_f1: mean of the per-corpus strict scores (the papers' Average);
    relaxed_overall_precision / _recall / _f1, relaxed_average_f1: the same under relaxed matching;
    mode, matching, micro, average, per_corpus (with "types", "sentences", "dropped_predictions",
    "ignored_gold"), per_type: the full strict report; relaxed: the full relaxed report.
Examples:
    >>> import evaluate
    >>> metric = evaluate.load("/abs/path/to/metrics/span_ner")
    >>> out = metric.compute(
    ...     predictions=[[{"label": "BC5CDR/Chemical", "start": 0, "end": 1}]],
    ...     references=[[{"label": "Chemical", "start": 0, "end": 1}]],
    ...     corpus=["BC5CDR"],
    ...     corpus_types={"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]},
    ... )
    >>> out["overall_f1"]
    100.0
"""


def _span_features(with_unaligned):
    span = {"label": datasets.Value("string"), "start": datasets.Value("int32"), "end": datasets.Value("int32")}
    if with_unaligned:
        span["unaligned"] = datasets.Value("bool")
    return datasets.List(span)


def _normalise_spans(sentences, field, gold):
    """Spans as dicts with exactly the feature keys: evaluate's type check raises a bare KeyError on
    extra keys (e.g. a prediction's "score") or missing ones; `(start, end, label)` tuples become dicts."""
    if sentences is None:
        return None
    out = []
    for i, spans in enumerate(sentences):
        if spans is None or isinstance(spans, (str, dict)):
            raise ValueError(f"sentence {i}: field {field!r} must be a list of spans, got {spans!r}")
        rows = []
        for j, span in enumerate(spans):
            start, end, label, unaligned = read_span(span, f"sentence {i}: {field}[{j}]", gold)
            row = {"label": label, "start": None if unaligned else start, "end": None if unaligned else end}
            if gold:
                row["unaligned"] = unaligned
            rows.append(row)
        out.append(rows)
    return out


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SpanNer(evaluate.Metric):
    """Configs: "default" (multi-corpus: a `corpus` column and `corpus_types`) and "single_corpus"
    (no corpus column; bare labels, scored with `scoring.score_spans`)."""

    def _info(self):
        features = {"predictions": _span_features(False), "references": _span_features(True)}
        if self.config_name != "single_corpus":
            features["corpus"] = datasets.Value("string")
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(features),
            reference_urls=["https://github.com/chakki-works/seqeval"],
        )

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """Add a batch of sentences (spans may be dicts with extra keys, or (start, end, label) tuples)."""
        super().add_batch(predictions=_normalise_spans(predictions, "predictions", False),
                          references=_normalise_spans(references, "references", True), **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """Add one sentence (spans may be dicts with extra keys, or (start, end, label) tuples)."""
        prediction = None if prediction is None else _normalise_spans([prediction], "prediction", False)[0]
        reference = None if reference is None else _normalise_spans([reference], "reference", True)[0]
        super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(self, predictions, references, corpus=None, corpus_types=None, types=None, mode="merged",
                 prefix_sep="/", unknown_gold="error"):
        if self.config_name == "single_corpus":
            report = score_spans(references, predictions, types=types)
        else:
            if corpus_types is None:
                raise ValueError(
                    "span_ner: pass corpus_types={corpus: [prefixed types]} to compute(), or load the "
                    "'single_corpus' config for one corpus with bare labels"
                )
            report = score_corpus_spans(references, predictions, corpus, corpus_types, mode=mode,
                                        prefix_sep=prefix_sep, unknown_gold=unknown_gold)
        return summary(report)
