"""The pure span-scoring core (biomtl.metrics): seqeval agreement, the §12 worked example, nested spans,
a brute-force §12 oracle, relaxed matching, averages and input validation."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities
from seqeval.scheme import IOB2, Entities

from biomtl.metrics import (
    METRIC_PATH,
    format_table,
    score_corpus_spans,
    score_spans,
    spans_from_bio,
)

TAGS = ["O", "B-A", "I-A", "B-B", "I-B", "B-C", "I-C"]
tag_lists = st.lists(st.sampled_from(TAGS), max_size=12)


@st.composite
def gold_and_pred_tags(draw):
    """Sentences of random (often ill-formed) IOB2 tags; gold and prediction of equal lengths."""
    lengths = draw(st.lists(st.integers(0, 12), min_size=1, max_size=5))
    gold = [draw(st.lists(st.sampled_from(TAGS), min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(st.sampled_from(TAGS), min_size=n, max_size=n)) for n in lengths]
    return gold, pred


# --------------------------------------------------------------------------------------------------
# IOB2 conversion and seqeval agreement
# --------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(tag_lists)
def test_spans_from_bio_strict_equals_seqeval_entities(tags):
    expected = sorted((e.start, e.end, e.tag) for e in Entities([tags], IOB2).entities[0])
    assert spans_from_bio(tags) == expected


@settings(max_examples=300, deadline=None)
@given(tag_lists)
def test_spans_from_bio_lenient_equals_conlleval_reading(tags):
    # seqeval's default (non-strict) mode is conlleval's chunking; its ends are inclusive
    expected = sorted((start, end + 1, label) for label, start, end in get_entities(tags))
    assert spans_from_bio(tags, lenient=True) == expected


def test_spans_from_bio_examples():
    tags = ["B-A", "I-A", "O", "I-A", "B-B", "I-A", "B-A", "B-A", "I-A"]
    assert spans_from_bio(tags) == [(0, 2, "A"), (4, 5, "B"), (6, 7, "A"), (7, 9, "A")]
    assert spans_from_bio(tags, lenient=True) == [(0, 2, "A"), (3, 4, "A"), (4, 5, "B"), (5, 6, "A"),
                                                   (6, 7, "A"), (7, 9, "A")]
    assert spans_from_bio([]) == []


@pytest.mark.parametrize("tags", [["B-A", "X"], ["B-"], ["E-A"], ["b-A"], ["O", None]])
def test_spans_from_bio_rejects_invalid_tags(tags):
    with pytest.raises(ValueError, match=r"tags\[\d\]: invalid IOB2 tag"):
        spans_from_bio(tags)


@settings(max_examples=200, deadline=None)
@given(gold_and_pred_tags())
def test_strict_scores_equal_seqeval_strict_iob2(data):
    gold_tags, pred_tags = data
    gold = [spans_from_bio(t) for t in gold_tags]
    pred = [spans_from_bio(t) for t in pred_tags]
    report = score_spans(gold, pred)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seq = classification_report(gold_tags, pred_tags, mode="strict", scheme=IOB2, output_dict=True,
                                     zero_division=0)
        seq_p = precision_score(gold_tags, pred_tags, mode="strict", scheme=IOB2, zero_division=0)
        seq_r = recall_score(gold_tags, pred_tags, mode="strict", scheme=IOB2, zero_division=0)
        seq_f = f1_score(gold_tags, pred_tags, mode="strict", scheme=IOB2, zero_division=0)
    per_type = report.strict.per_type
    seq_types = {k: v for k, v in seq.items() if k not in ("micro avg", "macro avg", "weighted avg")}
    assert set(per_type) == set(seq_types)
    for label, counts in per_type.items():
        assert counts.tp + counts.fn == seq_types[label]["support"]
        assert counts.precision == pytest.approx(100 * seq_types[label]["precision"])
        assert counts.recall == pytest.approx(100 * seq_types[label]["recall"])
        assert counts.f1 == pytest.approx(100 * seq_types[label]["f1-score"])
    micro = report.strict.micro
    assert micro.tp + micro.fn == sum(len(g) for g in gold)
    assert micro.tp + micro.fp == sum(len(p) for p in pred)
    assert micro.precision == pytest.approx(100 * seq_p)
    assert micro.recall == pytest.approx(100 * seq_r)
    assert micro.f1 == pytest.approx(100 * seq_f)
    # one corpus: its scores, the micro scores and the average coincide
    assert report.strict.average["f1"] == pytest.approx(micro.f1)


# --------------------------------------------------------------------------------------------------
# The worked example of design/sru-ner.md §12 (prefix separator "/")
# --------------------------------------------------------------------------------------------------

WORKED_CORPUS_TYPES = {
    "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"],
    "BC4CHEMD": ["BC4CHEMD/Chemical"],
    "NCBIDisease": ["NCBIDisease/Disease"],
    "BC2GM": ["BC2GM/Gene_or_protein"],
}
WORKED_GOLD = [[{"start": 0, "end": 1, "label": "Chemical"}, {"start": 3, "end": 5, "label": "Disease"},
                {"start": 7, "end": 8, "label": "Disease"}]]
WORKED_PRED = [[{"start": 0, "end": 1, "label": "BC4CHEMD/Chemical", "score": 0.9},
                {"start": 0, "end": 1, "label": "BC5CDR/Chemical", "score": 0.8},
                {"start": 3, "end": 5, "label": "NCBIDisease/Disease", "score": 0.7},
                {"start": 9, "end": 10, "label": "BC2GM/Gene_or_protein", "score": 0.6},
                {"start": 11, "end": 12, "label": "BC5CDR/Disease", "score": 0.5},
                {"start": 13, "end": 14, "label": "BC4CHEMD/Chemical", "score": 0.4}]]


@pytest.mark.parametrize("gold_prefixed", [False, True])
def test_worked_example_disjoint_and_merged(gold_prefixed):
    gold = WORKED_GOLD
    if gold_prefixed:
        gold = [[{**s, "label": "BC5CDR/" + s["label"]} for s in sent] for sent in gold]
    disjoint = score_corpus_spans(gold, WORKED_PRED, ["BC5CDR"], WORKED_CORPUS_TYPES, mode="disjoint")
    d = disjoint.strict.per_corpus["BC5CDR"]
    assert (d.tp, d.fp, d.fn) == (1, 1, 2)
    assert (round(d.precision, 1), round(d.recall, 1), round(d.f1, 1)) == (50.0, 33.3, 40.0)
    assert disjoint.dropped_predictions == {"BC5CDR": 4}
    assert set(disjoint.strict.per_type) == {"BC5CDR/Chemical", "BC5CDR/Disease"}

    merged = score_corpus_spans(gold, WORKED_PRED, ["BC5CDR"], WORKED_CORPUS_TYPES, mode="merged")
    m = merged.strict.per_corpus["BC5CDR"]
    assert (m.tp, m.fp, m.fn) == (2, 2, 1)
    assert (round(m.precision, 1), round(m.recall, 1), round(m.f1, 1)) == (50.0, 66.7, 57.1)
    assert merged.dropped_predictions == {"BC5CDR": 1}
    per_type = merged.strict.per_type
    assert (per_type["Chemical"].tp, per_type["Chemical"].fp, per_type["Chemical"].fn) == (1, 1, 0)
    assert (per_type["Disease"].tp, per_type["Disease"].fp, per_type["Disease"].fn) == (1, 1, 1)
    # only BC5CDR has sentences: the other corpora of corpus_types do not enter the report
    assert list(merged.strict.per_corpus) == ["BC5CDR"]
    assert merged.average_f1 == pytest.approx(m.f1) and merged.micro_f1 == pytest.approx(m.f1)


def test_worked_example_accepts_tuples():
    gold = [[(s["start"], s["end"], s["label"]) for s in WORKED_GOLD[0]]]
    pred = [[(s["start"], s["end"], s["label"]) for s in WORKED_PRED[0]]]
    merged = score_corpus_spans(gold, pred, ["BC5CDR"], WORKED_CORPUS_TYPES)
    assert merged.mode == "merged"
    m = merged.strict.micro
    assert (m.tp, m.fp, m.fn) == (2, 2, 1)


# --------------------------------------------------------------------------------------------------
# Nested spans, unaligned gold, relaxed matching
# --------------------------------------------------------------------------------------------------


def test_nested_spans_are_scored_per_distinct_start_end_type():
    # "[[IL-2] receptor] [alpha [chain]]": nested and same-extent mentions of different types
    gold = [[(0, 3, "Protein"), (0, 1, "Protein"), (0, 3, "Complex"), (3, 5, "Protein"), (4, 5, "Part")]]
    pred = [[(0, 3, "Protein"), (0, 1, "Protein"), (0, 1, "Protein"),  # duplicate: counted once
             (0, 3, "Part"),  # right extent, wrong type: FP for Part, and Complex stays FN
             (3, 5, "Protein"), (3, 4, "Part")]]  # Part nested inside a gold Protein, wrong extent
    report = score_spans(gold, pred, types=["Protein", "Complex", "Part"])
    t = report.strict.per_type
    assert (t["Protein"].tp, t["Protein"].fp, t["Protein"].fn) == (3, 0, 0)
    assert (t["Complex"].tp, t["Complex"].fp, t["Complex"].fn) == (0, 0, 1)
    assert (t["Part"].tp, t["Part"].fp, t["Part"].fn) == (0, 2, 1)
    m = report.strict.micro
    assert (m.tp, m.fp, m.fn) == (3, 2, 2)
    # relaxed: neither (0,3) nor (3,4) Part shares a word with the gold (4,5) Part (ends are exclusive)
    r = report.relaxed.per_type
    assert (r["Part"].tp, r["Part"].fp, r["Part"].tp_gold, r["Part"].fn) == (0, 2, 0, 1)


def test_relaxed_matching_counts_overlaps_of_same_type():
    gold = [[(0, 3, "A"), (5, 6, "A"), (8, 10, "B")]]
    pred = [[(1, 2, "A"), (2, 4, "A"), (5, 6, "B"), (9, 12, "B"), (20, 21, "A")]]
    report = score_spans(gold, pred)
    s, r = report.strict.micro, report.relaxed.micro
    assert (s.tp, s.fp, s.fn) == (0, 5, 3)
    # preds (1,2)A, (2,4)A overlap gold (0,3)A; (9,12)B overlaps (8,10)B; (5,6)B and (20,21)A match nothing
    # gold (0,3)A and (8,10)B are found; (5,6)A is not (the prediction on it has type B)
    assert (r.tp, r.fp, r.tp_gold, r.fn) == (3, 2, 2, 1)
    assert r.precision == pytest.approx(60.0)
    assert r.recall == pytest.approx(200 / 3)
    assert r.f1 == pytest.approx(2 * 60.0 * (200 / 3) / (60.0 + 200 / 3))
    assert report.to_dict()["relaxed"]["micro"]["tp_gold"] == 2
    assert "overlap" in report.to_dict()["relaxed"]["matching"]


def test_unaligned_gold_always_counts_as_false_negative():
    corpus_types = {"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}
    gold = [[{"start": 0, "end": 1, "label": "Chemical"},
             {"label": "BC5CDR/Disease", "unaligned": True},
             {"start": 2, "end": 4, "label": "Disease", "unaligned": True}]]
    pred = [[(0, 1, "BC5CDR/Chemical"), (2, 4, "BC5CDR/Disease")]]
    for mode in ("merged", "disjoint"):
        report = score_corpus_spans(gold, pred, ["BC5CDR"], corpus_types, mode=mode)
        s, r = report.strict.micro, report.relaxed.micro
        assert (s.tp, s.fp, s.fn) == (1, 1, 2)
        assert (r.tp, r.fp, r.tp_gold, r.fn) == (1, 1, 1, 2)


def test_average_is_mean_of_corpus_scores_and_micro_sums_counts():
    corpus_types = {"NCBI-disease": ["NCBI-disease/Disease"], "BC2GM": ["BC2GM/Gene"]}
    gold = [[(0, 1, "Disease")], [(0, 1, "Disease"), (2, 3, "Disease")], [(0, 2, "Gene")]]
    pred = [[(0, 1, "NCBI-disease/Disease")], [(0, 1, "NCBI-disease/Disease"), (2, 3, "BC2GM/Gene")],
            [(0, 2, "BC2GM/Gene"), (3, 4, "BC2GM/Gene"), (5, 6, "BC2GM/Gene"), (0, 1, "NCBI-disease/Disease")]]
    corpora = ["NCBI-disease", "NCBI-disease", "BC2GM"]
    for mode in ("merged", "disjoint"):
        report = score_corpus_spans(gold, pred, corpora, corpus_types, mode=mode)
        ncbi, gm = report.strict.per_corpus["NCBI-disease"], report.strict.per_corpus["BC2GM"]
        assert (ncbi.tp, ncbi.fp, ncbi.fn) == (2, 0, 1)  # the Gene prediction is dropped
        assert (gm.tp, gm.fp, gm.fn) == (1, 2, 0)  # the Disease prediction is dropped
        assert report.dropped_predictions == {"NCBI-disease": 1, "BC2GM": 1}
        assert report.sentences == {"NCBI-disease": 2, "BC2GM": 1}
        avg = report.strict.average
        assert avg["precision"] == pytest.approx((100 + 100 / 3) / 2)
        assert avg["recall"] == pytest.approx((200 / 3 + 100) / 2)
        assert avg["f1"] == pytest.approx((80 + 50) / 2)
        micro = report.strict.micro
        assert (micro.tp, micro.fp, micro.fn) == (3, 2, 1)
        assert micro.f1 == pytest.approx(2 * 3 / (2 * 3 + 2 + 1) * 100)


def test_merged_per_type_adds_up_corpora_sharing_a_type():
    corpus_types = {"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"], "NCBI-disease": ["NCBI-disease/Disease"]}
    gold = [[(0, 1, "Disease")], [(0, 1, "Disease")]]
    pred = [[(0, 1, "NCBI-disease/Disease")], [(0, 1, "BC5CDR/Disease")]]
    merged = score_corpus_spans(gold, pred, ["BC5CDR", "NCBI-disease"], corpus_types, mode="merged")
    assert merged.strict.per_type["Disease"].tp == 2
    disjoint = score_corpus_spans(gold, pred, ["BC5CDR", "NCBI-disease"], corpus_types, mode="disjoint")
    assert disjoint.strict.micro.tp == 0 and disjoint.strict.micro.fn == 2
    assert set(disjoint.strict.per_type) == {"BC5CDR/Chemical", "BC5CDR/Disease", "NCBI-disease/Disease"}


# --------------------------------------------------------------------------------------------------
# Brute-force oracle: §12 literally (records per distinct (start, end) holding lists of types)
# --------------------------------------------------------------------------------------------------

ORACLE_CORPUS_TYPES = {"C1": ["C1/X", "C1/Y"], "C2": ["C2/Y", "C2/Z"], "C3": ["C3/X"]}


def oracle_counts(gold, pred, corpora, mode):
    """Per corpus (tp, fp, fn), following the §12 text step by step (labels here are always prefixed)."""
    out = {}
    for g_spans, p_spans, corpus in zip(gold, pred, corpora):
        if mode == "merged":
            own = {t.split("/", 1)[1] for t in ORACLE_CORPUS_TYPES[corpus]}
            g_items = [(s, e, label.split("/", 1)[1]) for s, e, label in g_spans]
            p_items = list({(s, e, label.split("/", 1)[1]) for s, e, label in p_spans})  # deduplicate
        else:
            own = set(ORACLE_CORPUS_TYPES[corpus])
            g_items = list(g_spans)
            p_items = [(s, e, label) for s, e, label in p_spans if label.startswith(corpus + "/")]
        records = {}
        for s, e, t in g_items:
            records.setdefault((s, e), ([], []))[0].append(t)
        for s, e, t in p_items:
            records.setdefault((s, e), ([], []))[1].append(t)
        tp = fp = fn = 0
        for t in own:
            for g_types, p_types in records.values():
                tp += t in g_types and t in p_types
                fn += t in g_types and t not in p_types
                fp += t in p_types and t not in g_types
        prev = out.get(corpus, (0, 0, 0))
        out[corpus] = (prev[0] + tp, prev[1] + fp, prev[2] + fn)
    return out


@st.composite
def multi_corpus_data(draw):
    n = draw(st.integers(1, 6))
    corpora = [draw(st.sampled_from(sorted(ORACLE_CORPUS_TYPES))) for _ in range(n)]
    all_types = [t for types in ORACLE_CORPUS_TYPES.values() for t in types]

    def span(types):
        start = draw(st.integers(0, 6))
        return (start, draw(st.integers(start + 1, 8)), draw(st.sampled_from(types)))

    gold = [[span(ORACLE_CORPUS_TYPES[c]) for _ in range(draw(st.integers(0, 5)))] for c in corpora]
    pred = [[span(all_types) for _ in range(draw(st.integers(0, 7)))] for _ in corpora]
    return gold, pred, corpora


@settings(max_examples=200, deadline=None)
@given(multi_corpus_data(), st.sampled_from(["merged", "disjoint"]))
def test_scores_equal_brute_force_section_12_oracle(data, mode):
    gold, pred, corpora = data
    report = score_corpus_spans(gold, pred, corpora, ORACLE_CORPUS_TYPES, mode=mode)
    expected = oracle_counts(gold, pred, corpora, mode)
    got = {c: (x.tp, x.fp, x.fn) for c, x in report.strict.per_corpus.items()}
    assert got == expected
    # relaxed never scores below strict
    for corpus, strict in report.strict.per_corpus.items():
        relaxed = report.relaxed.per_corpus[corpus]
        assert relaxed.tp + relaxed.fp == strict.tp + strict.fp  # same predictions, differently judged
        assert relaxed.tp_gold + relaxed.fn == strict.tp + strict.fn  # same gold
        assert relaxed.tp >= strict.tp and relaxed.tp_gold >= strict.tp
        assert relaxed.precision >= strict.precision - 1e-9 and relaxed.recall >= strict.recall - 1e-9
    # the report is JSON-able and the numbers survive a round trip
    assert json.loads(json.dumps(report.to_dict())) == report.to_dict()


# --------------------------------------------------------------------------------------------------
# Reports, printing, validation
# --------------------------------------------------------------------------------------------------


def test_to_dict_and_format_table():
    report = score_corpus_spans(WORKED_GOLD, WORKED_PRED, ["BC5CDR"], WORKED_CORPUS_TYPES)
    d = report.to_dict()
    assert d["mode"] == "merged" and d["matching"].startswith("strict")
    assert d["per_corpus"]["BC5CDR"]["tp"] == 2
    assert d["per_corpus"]["BC5CDR"]["types"]["Disease"]["fn"] == 1
    assert d["per_corpus"]["BC5CDR"]["dropped_predictions"] == 1
    assert set(d["relaxed"]) >= {"matching", "micro", "average", "per_corpus", "per_type"}
    table = format_table(report)
    assert "BC5CDR" in table and "Average" in table and "57.14" in table and "relaxed" in table
    assert "  Chemical" in table and "  Chemical" not in format_table(report, types=False)


def test_empty_inputs_score_zero():
    report = score_spans([[], []], [[], []])
    assert report.strict.micro.f1 == 0.0 and report.strict.average == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    report = score_corpus_spans([], [], [], {"A": ["A/X"]})
    assert report.strict.per_corpus == {} and report.average_f1 == 0.0


CT = {"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"], "NCBI-disease": ["NCBI-disease/Disease"]}


@pytest.mark.parametrize(
    "gold, pred, corpora, kwargs, message",
    [
        ([[(1, 1, "Chemical")]], [[]], ["BC5CDR"], {}, r"sentence 0: gold\[0\]: field 'end' must be > start"),
        ([[]], [[(-1, 2, "BC5CDR/Chemical")]], ["BC5CDR"], {}, r"sentence 0: pred\[0\]: field 'start' must be >= 0"),
        ([[], [{"start": 0, "end": 1}]], [[], []], ["BC5CDR"] * 2, {}, r"sentence 1: gold\[0\]: missing field 'label'"),
        ([[{"start": 0, "label": "Chemical"}]], [[]], ["BC5CDR"], {}, r"sentence 0: gold\[0\]: missing field 'end'"),
        ([[(0, "1", "Chemical")]], [[]], ["BC5CDR"], {}, r"sentence 0: gold\[0\]: field 'end' must be an integer"),
        ([[(0, 1, "")]], [[]], ["BC5CDR"], {}, r"field 'label' must be a non-empty string"),
        ([[(0, 1)]], [[]], ["BC5CDR"], {}, r"sentence 0: gold\[0\]: a span must be"),
        ([[]], [[]], ["BC2GM"], {}, r"sentence 0: field 'corpus' = 'BC2GM' is not in corpus_types"),
        ([[]], [[], []], ["BC5CDR"], {}, r"one entry per sentence"),
        ([[]], [[]], ["BC5CDR"], {"mode": "joined"}, r"mode must be one of"),
        ([[(0, 1, "Gene")]], [[]], ["BC5CDR"], {}, r"sentence 0: gold\[0\] field 'label' = 'Gene' is not a type"),
        ([[(0, 1, "NCBI-disease/Disease")]], [[]], ["BC5CDR"], {"mode": "disjoint"},
         r"'NCBI-disease/Disease' is not a type of corpus 'BC5CDR'"),
        ([[]], [[{"start": 0, "end": 1, "label": "BC5CDR/Chemical", "unaligned": True}]], ["BC5CDR"], {},
         r"'unaligned' is only meaningful for gold"),
        ([{"start": 0, "end": 1, "label": "Chemical"}], [[]], ["BC5CDR"], {},
         r"sentence 0: field 'gold' must be a list of spans"),
        ([[]], [[]], "BC5CDR", {}, r"corpora must be a list"),
    ],
)
def test_invalid_input_raises_clear_value_error(gold, pred, corpora, kwargs, message):
    with pytest.raises(ValueError, match=message):
        score_corpus_spans(gold, pred, corpora, CT, **kwargs)


def test_invalid_corpus_types():
    with pytest.raises(ValueError, match=r"corpus_types\['BC5CDR'\] lists 'NCBI-disease/Disease'"):
        score_corpus_spans([[]], [[]], ["BC5CDR"], {"BC5CDR": ["NCBI-disease/Disease"], "NCBI-disease": []})
    with pytest.raises(ValueError, match=r"corpus_types\['BC5CDR'\] must be a list"):
        score_corpus_spans([[]], [[]], ["BC5CDR"], {"BC5CDR": "BC5CDR/Chemical"})
    with pytest.raises(ValueError, match=r"corpus_types must be a non-empty dict"):
        score_corpus_spans([[]], [[]], ["BC5CDR"], {})


def test_unknown_gold_ignore_is_counted_not_silent():
    report = score_corpus_spans([[(0, 1, "Gene"), (2, 3, "Chemical")]], [[]], ["BC5CDR"], CT, unknown_gold="ignore")
    assert report.ignored_gold == {"BC5CDR": 1}
    assert report.strict.micro.fn == 1
    assert report.to_dict()["per_corpus"]["BC5CDR"]["ignored_gold"] == 1


def test_bare_labels_and_bare_corpus_types():
    # bare type names in corpus_types and bare predicted labels are read as the sentence corpus's types
    report = score_corpus_spans([[(0, 1, "Chemical")]], [[(0, 1, "Chemical")]], ["BC5CDR"],
                                {"BC5CDR": ["Chemical", "Disease"]}, mode="disjoint")
    assert report.strict.micro.tp == 1
    assert set(report.strict.per_type) == {"BC5CDR/Chemical", "BC5CDR/Disease"}


def test_metric_path_points_at_the_evaluate_module():
    from pathlib import Path

    path = Path(METRIC_PATH)
    assert path.is_absolute() and (path / "span_ner.py").is_file() and (path / "scoring.py").is_file()
