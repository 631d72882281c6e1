"""`metrics.nesting_breakdown`: strict scores overall and split into nested / flat mentions (the
numbers `biomtl evaluate --nested` reports for GENIA)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.metrics import nested_flags, nesting_breakdown, score_spans


def test_a_hand_built_sentence():
    # "IL-2 receptor alpha" (protein) contains "IL-2" (protein); "T cells" is flat
    gold = [[(0, 3, "protein"), (0, 1, "protein"), (5, 7, "cell_type")]]
    assert nested_flags(gold[0]) == [True, True, False]
    # the prediction finds the outer mention and the flat one, misses the inner one, adds a wrong flat one
    pred = [[(0, 3, "protein"), (5, 7, "cell_type"), {"start": 8, "end": 9, "label": "DNA"}]]
    s = nesting_breakdown(gold, pred)
    assert (s["overall"]["gold"], s["overall"]["pred"]) == (3, 3)
    assert s["overall"]["precision"] == pytest.approx(200 / 3) and s["overall"]["recall"] == pytest.approx(200 / 3)
    # nested: gold {outer, inner} -> recall 1/2; no predicted span nests -> no nested predictions
    assert (s["nested"]["gold"], s["nested"]["pred"]) == (2, 0)
    assert s["nested"]["recall"] == pytest.approx(50.0) and s["nested"]["precision"] == 0.0
    # flat: gold {T cells} found; predicted flat: the outer mention (nothing nests in it), T cells, DNA
    assert (s["flat"]["gold"], s["flat"]["pred"]) == (1, 3)
    assert s["flat"]["recall"] == 100.0 and s["flat"]["precision"] == pytest.approx(200 / 3)


def test_same_boundaries_with_another_type_do_not_nest():
    assert nested_flags([(0, 2, "a"), (0, 2, "b"), (3, 4, "a")]) == [False, False, False]


spans = st.lists(st.tuples(st.integers(0, 8), st.integers(1, 4), st.sampled_from("ab")), max_size=5).map(
    lambda xs: [(s, s + n, t) for s, n, t in xs])


@settings(deadline=None)
@given(st.lists(st.tuples(spans, spans), min_size=1, max_size=6))
def test_overall_is_the_plain_strict_score_and_the_parts_add_up(pairs):
    gold, pred = [g for g, _ in pairs], [p for _, p in pairs]
    s = nesting_breakdown(gold, pred)
    oracle = score_spans(gold, pred, types=["a", "b"]).strict.micro
    assert (s["overall"]["tp_gold"], s["overall"]["gold"]) == (oracle.tp, oracle.tp + oracle.fn)
    assert s["overall"]["pred"] == oracle.tp + oracle.fp
    assert s["overall"]["f1"] == pytest.approx(oracle.f1)
    for key in ("gold", "pred", "tp_gold", "tp_pred"):
        assert s["nested"][key] + s["flat"][key] == s["overall"][key]
