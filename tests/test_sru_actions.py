"""SRU-NER oracle and decoder (spec §3, §8.2): worked examples and the spans -> rows -> spans round trip."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.modeling.sru_actions import (
    EOA,
    SH,
    decode_step_probabilities,
    drop_same_type_crossings,
    num_actions,
    oracle_actions,
    oracle_rows,
    pack_rows,
    reduce_action,
    rows_to_multihot,
    transition_action,
    validate_spans,
)

TR, RE = transition_action, reduce_action


def _decode_rows(rows, n_types, num_words, **kw):
    probs = rows_to_multihot(rows, num_actions(n_types))
    return [(s, e, t) for s, e, t, _ in decode_step_probabilities(probs, num_words, **kw)]


def test_example_a_nested():
    dna, prot = 0, 1
    spans = [(3, 7, dna), (3, 5, dna), (3, 4, prot)]
    seq = oracle_actions(spans, 8)
    assert seq == [SH, SH, SH, TR(dna), TR(dna), TR(prot), SH, RE(prot), SH, RE(dna), SH, SH, RE(dna), SH, EOA]
    rows = pack_rows(seq)
    assert rows == [[SH], [SH], [SH], [TR(dna)], sorted([TR(dna), TR(prot)]), [SH], [RE(prot)], [SH],
                    [RE(dna)], [SH], [SH], [RE(dna)], [SH], [EOA]]
    assert len(rows) == 14
    assert _decode_rows(rows, 2, 8) == sorted(spans, key=lambda s: (s[0], -s[1], s[2]))


def test_example_b_crossing_types_and_sentence_end():
    x, y = 0, 1
    spans = [(0, 2, x), (1, 3, y), (3, 5, x), (3, 5, y)]
    seq = oracle_actions(spans, 5)
    assert seq == [TR(x), SH, TR(y), SH, RE(x), SH, RE(y), TR(x), TR(y), SH, SH, RE(y), RE(x), EOA]
    rows = oracle_rows(spans, 5)
    assert rows == [[TR(x)], [SH], [TR(y)], [SH], [RE(x)], [SH], sorted([RE(y), TR(x), TR(y)]), [SH], [SH],
                    sorted([RE(x), RE(y)]), [EOA]]
    assert _decode_rows(rows, 2, 5) == [(0, 2, x), (1, 3, y), (3, 5, x), (3, 5, y)]


def test_example_c_no_mentions():
    rows = oracle_rows([], 4)
    assert rows == [[SH], [SH], [SH], [SH], [EOA]]
    assert rows_to_multihot(rows, num_actions(1)).sum(1).tolist() == [1.0] * 5
    assert _decode_rows(rows, 1, 4) == []


def test_reference_decoder_bug_is_a_flag():
    rows = oracle_rows([(1, 3, 0)], 3)  # ends at the last word
    assert _decode_rows(rows, 1, 3) == [(1, 3, 0)]
    assert _decode_rows(rows, 1, 3, strict_last_word_bound=True) == []


def test_decoder_rules_on_probabilities():
    # step argmax TR with p <= 0.5 does nothing; TR/RE at an SH step are ignored; unclosed spans dropped
    n_act = num_actions(1)
    p = torch.full((7, n_act), 0.01)
    p[0, TR(0)] = 0.9            # open at word 0
    p[1, SH] = 0.9
    p[1, RE(0)] = 0.8            # ignored: argmax is SH
    p[2, RE(0)] = 0.4            # argmax RE but below threshold: nothing
    p[3, RE(0)] = 0.64           # close at word 1 -> (0, 1), score sqrt(0.9*0.64)
    p[4, TR(0)] = 0.7            # opened, never closed
    p[5, SH] = 0.9
    p[6, EOA] = 0.9
    out = decode_step_probabilities(p, 2)
    assert [(s, e, t) for s, e, t, _ in out] == [(0, 1, 0)]
    assert out[0][3] == pytest.approx((0.9 * 0.64) ** 0.5)
    # decoding stops at the first argmax EOA
    p2 = p.clone()
    p2[2, EOA] = 0.99
    assert decode_step_probabilities(p2, 2) == []


def test_validate_spans_errors_and_dedup():
    assert validate_spans([(0, 2, 0), (0, 2, 0), (1, 2, 1)], 3, 2) == [(0, 2, 0), (1, 2, 1)]
    with pytest.raises(ValueError, match="start < end"):
        validate_spans([(2, 2, 0)], 3, 1)
    with pytest.raises(ValueError, match="start < end"):
        validate_spans([(0, 4, 0)], 3, 1)
    with pytest.raises(ValueError, match="type id"):
        validate_spans([(0, 1, 3)], 3, 1)


def test_same_type_crossings_are_dropped_not_other_types():
    kept, dropped = drop_same_type_crossings([(0, 2, 0), (1, 3, 0), (1, 3, 1)])
    assert kept == [(0, 2, 0), (1, 3, 1)]
    assert dropped == [(1, 3, 0)]


@st.composite
def span_sets(draw):
    """Random non-crossing-per-type span sets; small sentences make nesting, shared starts/ends and
    mentions ending at the last word frequent."""
    n = draw(st.integers(1, 10))
    n_types = draw(st.integers(1, 3))
    spans = []
    for _ in range(draw(st.integers(0, 12))):
        start = draw(st.integers(0, n - 1))
        end = draw(st.integers(start + 1, n))
        spans.append((start, end, draw(st.integers(0, n_types - 1))))
    kept, _ = drop_same_type_crossings(spans)
    return n, n_types, kept


@settings(max_examples=300, deadline=None)
@given(span_sets())
def test_round_trip_spans_rows_decode(case):
    n, n_types, spans = case
    seq = oracle_actions(spans, n)
    assert seq.count(SH) == n and seq[-1] == EOA
    assert len(seq) == n + 2 * len(spans) + 1
    rows = oracle_rows(spans, n)
    for row in rows:  # SH / EOA alone, no repeated id in a row
        assert len(set(row)) == len(row)
        assert not ((SH in row or EOA in row) and len(row) > 1)
    assert _decode_rows(rows, n_types, n) == sorted(spans, key=lambda s: (s[0], -s[1], s[2]))


def test_round_trip_covers_nesting_same_start_same_end_and_last_word():
    spans = [(0, 6, 0), (0, 3, 0), (0, 3, 1), (2, 3, 0), (3, 6, 1), (5, 6, 0), (5, 6, 2), (4, 6, 0)]
    kept, dropped = drop_same_type_crossings(spans)
    assert not dropped
    rows = oracle_rows(kept, 6)
    assert _decode_rows(rows, 3, 6) == sorted(kept, key=lambda s: (s[0], -s[1], s[2]))
