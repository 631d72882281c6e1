"""`resolve_conflicts` on hand-built predictions, plus properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.modeling.span_conflicts import CONFLICT_MODES, label_parts, resolve_conflicts

CT = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"],
      "Linnaeus": ["Linnaeus/Species"]}


def sp(start: int, end: int, label: str, score: float) -> dict:
    return {"start": start, "end": end, "label": label, "score": score}


def kept(spans: list[dict], mode: str = "resolve") -> list[tuple[int, int, str]]:
    return [(s["start"], s["end"], s["label"]) for s in resolve_conflicts(spans, CT, mode)]


def test_the_corpus_annotating_both_types_is_the_arbiter():
    # Cisplatin: NCBI-disease's head says Disease (higher score), BC5CDR says Chemical -> Chemical
    spans = [sp(0, 1, "NCBI-disease/Disease", 0.9), sp(0, 1, "BC5CDR/Chemical", 0.6)]
    assert kept(spans) == [(0, 1, "BC5CDR/Chemical")]
    # when the arbiter agrees with the Disease head, both Disease predictions stay (no conflict left)
    spans = [sp(0, 1, "NCBI-disease/Disease", 0.9), sp(0, 1, "BC5CDR/Disease", 0.4)]
    assert kept(spans) == [(0, 1, "NCBI-disease/Disease"), (0, 1, "BC5CDR/Disease")]
    # the arbiter said both: its higher-scoring type wins, and the agreeing Disease head stays too
    spans = [sp(0, 1, "NCBI-disease/Disease", 0.2), sp(0, 1, "BC5CDR/Chemical", 0.3),
             sp(0, 1, "BC5CDR/Disease", 0.7)]
    assert kept(spans) == [(0, 1, "NCBI-disease/Disease"), (0, 1, "BC5CDR/Disease")]


def test_without_an_arbiter_the_higher_score_wins():
    spans = [sp(2, 4, "Linnaeus/Species", 0.8), sp(2, 4, "NCBI-disease/Disease", 0.5)]
    assert kept(spans) == [(2, 4, "Linnaeus/Species")]
    spans = [sp(2, 4, "Linnaeus/Species", 0.4), sp(2, 4, "NCBI-disease/Disease", 0.5)]
    assert kept(spans) == [(2, 4, "NCBI-disease/Disease")]
    # BC5CDR annotates Chemical and Disease but not Species: no arbiter for a three-way conflict
    spans = [sp(0, 1, "Linnaeus/Species", 0.9), sp(0, 1, "BC5CDR/Chemical", 0.6),
             sp(0, 1, "NCBI-disease/Disease", 0.1)]
    assert kept(spans) == [(0, 1, "Linnaeus/Species")]
    # ties: the alphabetically first type, whatever the input order
    a, b = sp(0, 1, "Linnaeus/Species", 0.5), sp(0, 1, "NCBI-disease/Disease", 0.5)
    assert kept([a, b]) == kept([b, a])[::-1] == [(0, 1, "NCBI-disease/Disease")]


def test_nested_crossing_and_single_corpus_spans_are_left_alone():
    spans = [sp(0, 3, "NCBI-disease/Disease", 0.9), sp(1, 2, "BC5CDR/Chemical", 0.8),  # nested
             sp(4, 6, "NCBI-disease/Disease", 0.9), sp(5, 7, "BC5CDR/Chemical", 0.8),  # crossing
             sp(8, 9, "BC5CDR/Chemical", 0.9), sp(8, 9, "BC5CDR/Disease", 0.3)]      # one head's own call
    assert kept(spans) == kept(spans, "keep") == [(s["start"], s["end"], s["label"]) for s in spans]


def test_keep_returns_the_input_and_bad_modes_are_errors():
    spans = [sp(0, 1, "NCBI-disease/Disease", 0.9), sp(0, 1, "BC5CDR/Chemical", 0.6)]
    out = resolve_conflicts(spans, CT, "keep")
    assert out == spans and out is not spans
    with pytest.raises(ValueError, match=r"conflicts must be one of \('resolve', 'keep'\)"):
        resolve_conflicts(spans, CT, "vote")
    assert CONFLICT_MODES == ("resolve", "keep")


def test_unprefixed_labels_and_missing_scores():
    assert label_parts("Disease", CT) == ("", "Disease")
    spans = [{"start": 0, "end": 1, "label": "NCBI-disease/Disease"}, sp(0, 1, "BC5CDR/Chemical", 0.2)]
    assert kept(spans) == [(0, 1, "BC5CDR/Chemical")]  # the arbiter, whatever the scores
    assert resolve_conflicts([sp(0, 1, "Gene", 0.5), sp(0, 1, "Disease", 0.4)], None) == \
        [sp(0, 1, "Gene", 0.5), sp(0, 1, "Disease", 0.4)]  # one (unknown) corpus: its own decision


LABELS = [lab for labs in CT.values() for lab in labs]
span_st = st.builds(lambda a, n, lab, sc: sp(a, a + n, lab, sc), st.integers(0, 4), st.integers(1, 3),
                    st.sampled_from(LABELS), st.sampled_from([0.1, 0.4, 0.5, 0.9]))


def _rivalled(s: dict, spans: list[dict]) -> bool:
    corpus, kind = label_parts(s["label"], CT)
    return any((o["start"], o["end"]) == (s["start"], s["end"]) and label_parts(o["label"], CT)[1] != kind
               for o in spans) and len({label_parts(o["label"], CT)[0] for o in spans
                                        if (o["start"], o["end"]) == (s["start"], s["end"])}) > 1


@settings(max_examples=200, deadline=None)
@given(st.lists(span_st, max_size=10))
def test_properties(spans):
    assert resolve_conflicts(spans, CT, "keep") == spans
    out = resolve_conflicts(spans, CT)
    assert all(any(o is s for s in spans) for o in out)  # a sub-list, in input order
    assert [s for s in spans if any(o is s for o in out)] == out
    for s in spans:
        if not _rivalled(s, spans):
            assert any(o is s for o in out), s  # never removes a span without a same-span rival
    by_span: dict[tuple[int, int], set[str]] = {}
    for o in out:
        by_span.setdefault((o["start"], o["end"]), set()).add(label_parts(o["label"], CT)[1])
    for key, kinds in by_span.items():
        corpora = {label_parts(s["label"], CT)[0] for s in spans if (s["start"], s["end"]) == key}
        assert len(kinds) == 1 or len(corpora) == 1  # one type per span once corpora disagreed
    assert resolve_conflicts(out, CT) == out  # idempotent
