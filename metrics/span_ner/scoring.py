"""Span-level NER scoring for multi-corpus models: the pure core (standard library only).

A span is `(start, end, label)` with word indices and `end` exclusive, given either as a tuple/list
or as a dict `{"start", "end", "label"}`. A gold dict may carry `"unaligned": True` for a mention
that could not be aligned to words (its `start`/`end` may then be missing or `None`): such a gold
span always counts as a false negative, under both matchings.

Scoring follows the SRU-NER evaluation (design/sru-ner.md §12). Each sentence belongs to one
corpus, and `corpus_types` maps every corpus to the types it annotates, prefixed with the corpus
and `prefix_sep` (`{"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}`). A sentence is scored only on
its own corpus's types; predictions outside them are dropped (and counted in
`ScoreReport.dropped_predictions`), because a corpus that does not annotate a type cannot judge it.

* `mode="disjoint"`: types stay prefixed; a sentence of corpus C scores only C's prefixed types, so
  `"NCBI-disease/Disease"` predicted in a BC5CDR sentence is dropped.
* `mode="merged"`: the corpus prefix is stripped from every gold and predicted label, identical
  `(start, end, type)` items are deduplicated (two corpora's `Chemical` on one span are one
  prediction), C's type set becomes its stripped types, and predictions of other types are dropped.
  Merged is the headline number that selects checkpoints.

Labels: a label is *prefixed* when it starts with `<corpus><prefix_sep>` for a corpus of
`corpus_types` (so `corpus_types` must list every corpus whose prefix a model can predict, e.g. the
model's `config.corpus_types`); any other label is *bare*. Bare labels (gold or predicted) of a
sentence of corpus C are read as C's own types (`"Chemical"` -> `"C/Chemical"` in disjoint mode).
A gold label outside its corpus's type set raises `ValueError` (or, with `unknown_gold="ignore"`, is
skipped and counted in `ScoreReport.ignored_gold`).

Counting, per sentence and per type of the sentence's corpus, on the sets of distinct
`(start, end, type)` items (this is §12's "one record per distinct (start, end)"):

* strict (the headline): TP = gold items also predicted, FP = predicted items not in gold,
  FN = gold items not predicted (+ unaligned gold). P = TP/(TP+FP), R = TP/(TP+FN).
* relaxed (overlap + same type; reported beside strict, never instead of it): a predicted item is a
  relaxed TP when it overlaps (shares at least one word with) some gold item of the same type, else
  a relaxed FP; a gold item is *found* (`tp_gold`) when some predicted item of the same type overlaps
  it, else it is a relaxed FN (unaligned gold are always FN). P = TP/(TP+FP), R = tp_gold/(tp_gold+FN),
  F1 = harmonic mean of P and R.

Precision, recall and F1 are percentages (0-100), 0 when undefined. Per corpus, counts are summed
over its types (micro); `micro` sums all corpora; `average` is the plain mean of the per-corpus P, R
and F1 (each averaged separately) over the corpora that have at least one sentence: the papers'
"Average" rows.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Span = tuple[int, int, str]
"""`(start, end, label)`: word indices, `end` exclusive."""

MODES = ("merged", "disjoint")
RELAXED_DEFINITION = (
    "relaxed = overlap + same type: a prediction is a TP when it shares a word with a gold span of the "
    "same type; a gold span is found (tp_gold) when a prediction of the same type overlaps it; "
    "recall = tp_gold / (tp_gold + fn)"
)


# --------------------------------------------------------------------------------------------------
# Counts and reports
# --------------------------------------------------------------------------------------------------


def _percent(numerator: int, denominator: int) -> float:
    return 100.0 * numerator / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
    return 2.0 * precision * recall / (precision + recall) if precision + recall else 0.0


@dataclass
class Counts:
    """TP/FP/FN of one scope. `tp_gold` (gold spans found) equals `tp` under strict matching and
    can differ under relaxed matching, where several predictions may overlap one gold span."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tp_gold: int = 0

    def add(self, other: Counts) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.tp_gold += other.tp_gold

    @property
    def precision(self) -> float:
        return _percent(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _percent(self.tp_gold, self.tp_gold + self.fn)

    @property
    def f1(self) -> float:
        return _f1(self.precision, self.recall)

    def to_dict(self, relaxed: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"tp": self.tp, "fp": self.fp, "fn": self.fn}
        if relaxed:
            out["tp_gold"] = self.tp_gold
        out.update(precision=self.precision, recall=self.recall, f1=self.f1)
        return out


@dataclass
class ScoreBlock:
    """All scores under one matching ("strict" or "relaxed")."""

    matching: str
    per_corpus_type: dict[str, dict[str, Counts]] = field(default_factory=dict)

    @property
    def per_corpus(self) -> dict[str, Counts]:
        """Corpus -> counts summed over its types."""
        out = {}
        for corpus, types in self.per_corpus_type.items():
            total = Counts()
            for counts in types.values():
                total.add(counts)
            out[corpus] = total
        return out

    @property
    def per_type(self) -> dict[str, Counts]:
        """Type -> counts summed over corpora (merged mode: stripped types shared by corpora add up)."""
        out: dict[str, Counts] = {}
        for types in self.per_corpus_type.values():
            for type_, counts in types.items():
                out.setdefault(type_, Counts()).add(counts)
        return out

    @property
    def micro(self) -> Counts:
        total = Counts()
        for counts in self.per_corpus.values():
            total.add(counts)
        return total

    @property
    def average(self) -> dict[str, float]:
        """The papers' "Average": plain mean of the per-corpus P, R and F1 (0 without corpora)."""
        per_corpus = list(self.per_corpus.values())
        n = len(per_corpus)
        return {
            "precision": sum(c.precision for c in per_corpus) / n if n else 0.0,
            "recall": sum(c.recall for c in per_corpus) / n if n else 0.0,
            "f1": sum(c.f1 for c in per_corpus) / n if n else 0.0,
        }

    def to_dict(self) -> dict[str, Any]:
        relaxed = self.matching == "relaxed"
        per_corpus = self.per_corpus
        return {
            "matching": RELAXED_DEFINITION if relaxed else "strict (exact start, end and type)",
            "micro": self.micro.to_dict(relaxed),
            "average": self.average,
            "per_corpus": {
                corpus: {
                    **per_corpus[corpus].to_dict(relaxed),
                    "types": {t: c.to_dict(relaxed) for t, c in types.items()},
                }
                for corpus, types in self.per_corpus_type.items()
            },
            "per_type": {t: c.to_dict(relaxed) for t, c in self.per_type.items()},
        }


@dataclass
class ScoreReport:
    """Strict scores (the headline) with relaxed scores beside them, per corpus, per type, micro and
    average. Only corpora with at least one sentence appear (in `corpus_types` order)."""

    mode: str
    strict: ScoreBlock
    relaxed: ScoreBlock
    sentences: dict[str, int]
    dropped_predictions: dict[str, int]
    ignored_gold: dict[str, int]

    @property
    def micro_f1(self) -> float:
        return self.strict.micro.f1

    @property
    def average_f1(self) -> float:
        return self.strict.average["f1"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: strict blocks at the top level, the relaxed ones under `"relaxed"`."""
        strict = self.strict.to_dict()
        for corpus, scores in strict["per_corpus"].items():
            scores["sentences"] = self.sentences[corpus]
            scores["dropped_predictions"] = self.dropped_predictions[corpus]
            scores["ignored_gold"] = self.ignored_gold[corpus]
        return {"mode": self.mode, **strict, "relaxed": self.relaxed.to_dict()}


def summary(report: ScoreReport) -> dict[str, Any]:
    """Flat headline numbers first, then the full `report.to_dict()` (what the evaluate module returns)."""
    strict, relaxed = report.strict, report.relaxed
    micro, rmicro = strict.micro, relaxed.micro
    return {
        "overall_precision": micro.precision,
        "overall_recall": micro.recall,
        "overall_f1": micro.f1,
        "average_precision": strict.average["precision"],
        "average_recall": strict.average["recall"],
        "average_f1": strict.average["f1"],
        "relaxed_overall_precision": rmicro.precision,
        "relaxed_overall_recall": rmicro.recall,
        "relaxed_overall_f1": rmicro.f1,
        "relaxed_average_f1": relaxed.average["f1"],
        **report.to_dict(),
    }


# --------------------------------------------------------------------------------------------------
# Input normalisation and validation
# --------------------------------------------------------------------------------------------------


def _as_int(value: Any, where: str, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{where}: field {name!r} must be an integer word index, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{where}: field {name!r} must be an integer word index, got {value!r}") from None


def read_span(span: Any, where: str, allow_unaligned: bool = False) -> tuple[int, int, str, bool]:
    """One span (dict or `(start, end, label)` tuple) -> `(start, end, label, unaligned)`, validated;
    `where` names it in the ValueError (e.g. "sentence 3: gold[0]"). Unaligned spans (gold only, with
    `allow_unaligned`) come back with start = end = -1."""
    if isinstance(span, Mapping):
        unaligned = bool(span.get("unaligned") or False)
        if unaligned and not allow_unaligned:
            raise ValueError(f"{where}: field 'unaligned' is only meaningful for gold spans")
        for name in ("label",) if unaligned else ("start", "end", "label"):
            if span.get(name) is None:
                raise ValueError(f"{where}: missing field {name!r} in span {dict(span)!r}")
        start, end, label = span.get("start"), span.get("end"), span["label"]
    elif isinstance(span, (tuple, list)) and len(span) == 3:
        (start, end, label), unaligned = span, False
    else:
        raise ValueError(
            f"{where}: a span must be a dict with 'start', 'end', 'label' or a (start, end, label) tuple, "
            f"got {span!r}"
        )
    if not isinstance(label, str) or not label:
        raise ValueError(f"{where}: field 'label' must be a non-empty string, got {label!r}")
    if unaligned:
        return -1, -1, label, True
    start, end = _as_int(start, where, "start"), _as_int(end, where, "end")
    if start < 0:
        raise ValueError(f"{where}: field 'start' must be >= 0, got {start}")
    if end <= start:
        raise ValueError(f"{where}: field 'end' must be > start (end exclusive), got start={start}, end={end}")
    return start, end, label, False


class _Labels:
    """Reads labels against the known corpora: prefixed/bare, stripping and prefixing."""

    def __init__(self, corpora: Iterable[str], sep: str):
        self.sep = sep
        self.prefixes = sorted(((c + sep, c) for c in corpora), key=lambda p: -len(p[0]))
        self._cache: dict[str, tuple[str | None, str]] = {}

    def split(self, label: str) -> tuple[str | None, str]:
        """`"BC5CDR/Chemical"` -> `("BC5CDR", "Chemical")`; a bare label -> `(None, label)`."""
        hit = self._cache.get(label)
        if hit is None:
            hit = (None, label)
            for prefix, corpus in self.prefixes:
                if label.startswith(prefix) and len(label) > len(prefix):
                    hit = (corpus, label[len(prefix):])
                    break
            self._cache[label] = hit
        return hit

    def key(self, label: str, corpus: str, mode: str) -> str:
        """The type a label scores as in a sentence of `corpus`."""
        owner, bare = self.split(label)
        if mode == "merged":
            return bare
        return label if owner is not None else corpus + self.sep + bare


def _type_sets(corpus_types: Mapping[str, Sequence[str]], labels: _Labels, mode: str) -> dict[str, list[str]]:
    """Corpus -> the ordered, distinct types its sentences are scored on (keys as `_Labels.key`)."""
    out: dict[str, list[str]] = {}
    for corpus, types in corpus_types.items():
        if isinstance(types, str) or not isinstance(types, Iterable):
            raise ValueError(f"corpus_types[{corpus!r}] must be a list of type names, got {types!r}")
        keys: list[str] = []
        for type_ in types:
            if not isinstance(type_, str) or not type_:
                raise ValueError(f"corpus_types[{corpus!r}]: type names must be non-empty strings, got {type_!r}")
            owner, _ = labels.split(type_)
            if owner is not None and owner != corpus:
                raise ValueError(
                    f"corpus_types[{corpus!r}] lists {type_!r}, which carries the prefix of corpus {owner!r}"
                )
            key = labels.key(type_, corpus, mode)
            if key not in keys:
                keys.append(key)
        out[corpus] = keys
    return out


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _score_sentence(
    gold: set[tuple[int, int, str]], pred: set[tuple[int, int, str]], unaligned: list[str],
    strict: dict[str, Counts], relaxed: dict[str, Counts],
) -> None:
    """Add one sentence's strict and relaxed counts (gold/pred: distinct, already filtered items)."""
    for s, e, t in pred:
        if (s, e, t) in gold:
            strict[t].tp += 1
            strict[t].tp_gold += 1
        else:
            strict[t].fp += 1
        if any(gt == t and _overlaps((s, e), (gs, ge)) for gs, ge, gt in gold):
            relaxed[t].tp += 1
        else:
            relaxed[t].fp += 1
    for s, e, t in gold:
        if (s, e, t) not in pred:
            strict[t].fn += 1
        if any(pt == t and _overlaps((s, e), (ps, pe)) for ps, pe, pt in pred):
            relaxed[t].tp_gold += 1
        else:
            relaxed[t].fn += 1
    for t in unaligned:
        strict[t].fn += 1
        relaxed[t].fn += 1


def score_corpus_spans(
    gold: Sequence[Sequence[Any]],
    pred: Sequence[Sequence[Any]],
    corpora: Sequence[str],
    corpus_types: Mapping[str, Sequence[str]],
    mode: str = "merged",
    prefix_sep: str = "/",
    unknown_gold: str = "error",
) -> ScoreReport:
    """Score predicted spans against gold spans, sentence by sentence, in a multi-corpus setting.

    Args:
        gold: per sentence, its gold spans (dicts or `(start, end, label)` tuples; labels prefixed or bare;
            a gold dict may carry `"unaligned": True`, see the module docstring).
        pred: per sentence, its predicted spans (extra dict keys such as `"score"` are ignored).
        corpora: per sentence, the corpus it comes from (a key of `corpus_types`).
        corpus_types: corpus -> the (prefixed) types it annotates; list every corpus whose prefix
            may appear in the labels.
        mode: `"merged"` (prefixes stripped, duplicates merged; the headline) or `"disjoint"`.
        prefix_sep: separator between corpus and type in prefixed labels.
        unknown_gold: `"error"` (default) raises on a gold label outside its corpus's type set;
            `"ignore"` skips it and counts it in `ScoreReport.ignored_gold`.

    Returns:
        A `ScoreReport` (strict and relaxed blocks; `.to_dict()` is JSON-able).

    Raises:
        ValueError: naming the sentence and field, for mismatched lengths, malformed spans, unknown
            corpora or mode, and gold labels outside their corpus's types (with `unknown_gold="error"`).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if unknown_gold not in ("error", "ignore"):
        raise ValueError(f"unknown_gold must be 'error' or 'ignore', got {unknown_gold!r}")
    if not isinstance(prefix_sep, str) or not prefix_sep:
        raise ValueError(f"prefix_sep must be a non-empty string, got {prefix_sep!r}")
    if not isinstance(corpus_types, Mapping) or not corpus_types:
        raise ValueError("corpus_types must be a non-empty dict: corpus -> list of the types it annotates")
    if isinstance(corpora, str):
        raise ValueError("corpora must be a list with one corpus name per sentence, got a string")
    if not len(gold) == len(pred) == len(corpora):
        raise ValueError(
            f"gold, pred and corpora must have one entry per sentence, got lengths "
            f"{len(gold)}, {len(pred)}, {len(corpora)}"
        )
    labels = _Labels(corpus_types.keys(), prefix_sep)
    type_sets = _type_sets(corpus_types, labels, mode)

    present = set(corpora)
    unknown = [c for c in present if c not in type_sets]
    if unknown:
        i = next(i for i, c in enumerate(corpora) if c not in type_sets)
        raise ValueError(
            f"sentence {i}: field 'corpus' = {corpora[i]!r} is not in corpus_types "
            f"(known: {sorted(type_sets)})"
        )
    order = [c for c in type_sets if c in present]
    strict = ScoreBlock("strict", {c: {t: Counts() for t in type_sets[c]} for c in order})
    relaxed = ScoreBlock("relaxed", {c: {t: Counts() for t in type_sets[c]} for c in order})
    sentences = dict.fromkeys(order, 0)
    dropped = dict.fromkeys(order, 0)
    ignored = dict.fromkeys(order, 0)

    for i, (gold_spans, pred_spans, corpus) in enumerate(zip(gold, pred, corpora)):
        allowed = strict.per_corpus_type[corpus]
        sentences[corpus] += 1
        gold_items: set[tuple[int, int, str]] = set()
        unaligned: list[str] = []
        if gold_spans is None or isinstance(gold_spans, (str, Mapping)):
            raise ValueError(f"sentence {i}: field 'gold' must be a list of spans, got {gold_spans!r}")
        if pred_spans is None or isinstance(pred_spans, (str, Mapping)):
            raise ValueError(f"sentence {i}: field 'pred' must be a list of spans, got {pred_spans!r}")
        for j, span in enumerate(gold_spans):
            start, end, label, is_unaligned = read_span(span, f"sentence {i}: gold[{j}]", True)
            key = labels.key(label, corpus, mode)
            if key not in allowed:
                if unknown_gold == "ignore":
                    ignored[corpus] += 1
                    continue
                raise ValueError(
                    f"sentence {i}: gold[{j}] field 'label' = {label!r} is not a type of corpus {corpus!r} "
                    f"(scored as {key!r}; {mode} types: {list(allowed)}); fix corpus_types or pass "
                    f"unknown_gold='ignore'"
                )
            if is_unaligned:
                unaligned.append(key)
            else:
                gold_items.add((start, end, key))
        pred_items: set[tuple[int, int, str]] = set()
        for j, span in enumerate(pred_spans):
            start, end, label, _ = read_span(span, f"sentence {i}: pred[{j}]", False)
            key = labels.key(label, corpus, mode)
            if key in allowed:
                pred_items.add((start, end, key))
            else:
                dropped[corpus] += 1
        _score_sentence(gold_items, pred_items, unaligned, allowed, relaxed.per_corpus_type[corpus])

    return ScoreReport(mode, strict, relaxed, sentences, dropped, ignored)


def score_spans(
    gold: Sequence[Sequence[Any]],
    pred: Sequence[Sequence[Any]],
    types: Sequence[str] | None = None,
    corpus: str = "all",
) -> ScoreReport:
    """Single-corpus convenience with bare labels: every sentence belongs to `corpus`, scored on
    `types` (default: every label seen in gold or predictions, as seqeval does). Both modes coincide."""
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred must have one entry per sentence, got lengths {len(gold)}, {len(pred)}")
    if types is None:
        seen: dict[str, None] = {}
        for name, sentences in (("gold", gold), ("pred", pred)):
            for i, spans in enumerate(sentences):
                if spans is None or isinstance(spans, (str, Mapping)):
                    raise ValueError(f"sentence {i}: field {name!r} must be a list of spans, got {spans!r}")
                for j, span in enumerate(spans):
                    label = read_span(span, f"sentence {i}: {name}[{j}]", name == "gold")[2]
                    seen.setdefault(label, None)
        types = sorted(seen)
    return score_corpus_spans(gold, pred, [corpus] * len(gold), {corpus: list(types)}, mode="merged")


def nested_flags(spans: Sequence[Span]) -> list[bool]:
    """Per span: does it contain, or lie inside, another span of the same sentence (any type; the
    same boundaries with another type do not count)?"""
    return [any((s2, e2) != (s, e) and ((s <= s2 and e2 <= e) or (s2 <= s and e <= e2)) for s2, e2, _ in spans)
            for s, e, _ in spans]


def nesting_breakdown(gold: Sequence[Sequence[Any]], pred: Sequence[Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """Strict P/R/F1 overall and split by nesting, on distinct `(start, end, label)` items.

    A gold span is *nested* when it contains or lies inside another gold span of its sentence, and
    a predicted span when it does so among the predictions: recall on nested gold spans asks whether
    the model finds mentions that take part in nesting; precision on nested predictions whether the
    nested structures it emits are right. `flat` is the rest. Labels are compared as given (strip
    corpus prefixes first). Returns {"overall" | "nested" | "flat": {precision, recall, f1, tp_pred,
    pred, tp_gold, gold}} with percentages."""
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred must have one entry per sentence, got lengths {len(gold)}, {len(pred)}")
    counts = {k: {"tp_pred": 0, "pred": 0, "tp_gold": 0, "gold": 0} for k in ("overall", "nested", "flat")}
    for i, (g, p) in enumerate(zip(gold, pred)):
        sets = {name: sorted({read_span(sp, f"sentence {i}: {name}[{j}]")[:3] for j, sp in enumerate(spans)})
                for name, spans in (("gold", g), ("pred", p))}
        for name, other in (("gold", "pred"), ("pred", "gold")):
            found = set(sets[other])
            for span, nested in zip(sets[name], nested_flags(sets[name])):
                for key in ("overall", "nested" if nested else "flat"):
                    counts[key][name] += 1
                    counts[key]["tp_" + name] += span in found
    out = {}
    for key, c in counts.items():
        precision, recall = _percent(c["tp_pred"], c["pred"]), _percent(c["tp_gold"], c["gold"])
        out[key] = {"precision": precision, "recall": recall, "f1": _f1(precision, recall), **c}
    return out


# --------------------------------------------------------------------------------------------------
# Printing
# --------------------------------------------------------------------------------------------------


def format_table(report: ScoreReport, types: bool = True) -> str:
    """A fixed-width table: per corpus (and its types), micro and the papers' Average; strict
    TP/FP/FN/P/R/F1 then the relaxed P/R/F1 beside them."""
    strict, relaxed = report.strict, report.relaxed
    rows: list[tuple[str, Counts | None, Counts | None, dict[str, float] | None, dict[str, float] | None]] = []
    s_corpus, r_corpus = strict.per_corpus, relaxed.per_corpus
    for corpus, type_counts in strict.per_corpus_type.items():
        rows.append((corpus, s_corpus[corpus], r_corpus[corpus], None, None))
        if types:
            for type_, counts in type_counts.items():
                rows.append(("  " + type_, counts, relaxed.per_corpus_type[corpus][type_], None, None))
    rows.append(("micro (all corpora)", strict.micro, relaxed.micro, None, None))
    rows.append(("Average (mean of corpora)", None, None, strict.average, relaxed.average))

    width = max([len(r[0]) for r in rows] + [10]) + 2
    header = (f"{'':<{width}}{'TP':>7}{'FP':>7}{'FN':>7}{'P':>8}{'R':>8}{'F1':>8}  |"
              f"{'rel. P':>8}{'rel. R':>8}{'rel. F1':>8}")
    lines = [f"mode: {report.mode} | strict = exact (start, end, type); rel. = relaxed (overlap + same type)",
             header, "-" * len(header)]
    for name, s, r, s_avg, r_avg in rows:
        if s is not None and r is not None:
            lines.append(f"{name:<{width}}{s.tp:>7}{s.fp:>7}{s.fn:>7}{s.precision:>8.2f}{s.recall:>8.2f}"
                         f"{s.f1:>8.2f}  |{r.precision:>8.2f}{r.recall:>8.2f}{r.f1:>8.2f}")
        elif s_avg is not None and r_avg is not None:
            lines.append(f"{name:<{width}}{'':>21}{s_avg['precision']:>8.2f}{s_avg['recall']:>8.2f}"
                         f"{s_avg['f1']:>8.2f}  |{r_avg['precision']:>8.2f}{r_avg['recall']:>8.2f}"
                         f"{r_avg['f1']:>8.2f}")
    return "\n".join(lines)


__all__ = [
    "MODES",
    "RELAXED_DEFINITION",
    "Counts",
    "ScoreBlock",
    "ScoreReport",
    "Span",
    "format_table",
    "read_span",
    "score_corpus_spans",
    "score_spans",
    "summary",
]
