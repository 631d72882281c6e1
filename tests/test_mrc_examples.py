"""MRC example builder (spec mrc-multitask.md §2.4): positives, negatives, truncation, sub-word mapping."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

from biomtl.encoders import embedded_encoder_path
from biomtl.modeling.mrc_examples import (
    build_mrc_feature,
    pair_nearest_end,
    resolve_overlaps,
    select_query_types,
)

TOK = AutoTokenizer.from_pretrained(embedded_encoder_path())
WORDS = "Germline mutations in BRCA1 cause inherited breast and ovarian cancer .".split()
QUERY = "Find disease mentions."


def pieces(f):
    return TOK.convert_ids_to_tokens(f.input_ids)


def test_positive_example_marks_first_and_last_subword():
    f = build_mrc_feature(TOK, QUERY, WORDS, [(5, 10)])
    toks = pieces(f)
    assert toks[0] == "[CLS]" and toks[-1] == "[SEP]"
    sep = toks.index("[SEP]")
    assert f.token_type_ids == [0] * (sep + 1) + [1] * (len(toks) - sep - 1)
    assert [toks[i] for i, v in enumerate(f.start_labels) if v] == ["inherited"]
    assert [toks[i] for i, v in enumerate(f.end_labels) if v] == ["cancer"]
    assert f.gold_pairs == [(f.word_first[5], f.word_last[9])]
    # masks: only passage sub-words that begin / end a word
    assert sum(f.start_mask) == sum(f.end_mask) == len(WORDS)
    assert all(not toks[i].startswith("##") for i, m in enumerate(f.start_mask) if m)
    assert all(f.start_mask[i] == 0 and f.end_mask[i] == 0 for i in range(sep + 1))
    assert f.start_mask[-1] == f.end_mask[-1] == 0
    germ = f.word_first[0]
    assert toks[germ:germ + 3] == ["ge", "##rm", "##line"]
    assert f.start_mask[germ:germ + 3] == [1, 0, 0] and f.end_mask[germ:germ + 3] == [0, 0, 1]


def test_several_mentions_and_negative():
    f = build_mrc_feature(TOK, QUERY, WORDS, [(3, 4), (6, 7), (8, 10)])
    assert sum(f.start_labels) == 3 and sum(f.end_labels) == 3
    assert [f.span_to_words(i, j) for i, j in f.gold_pairs] == [(3, 4), (6, 7), (8, 10)]
    neg = build_mrc_feature(TOK, QUERY, WORDS, [])
    assert sum(neg.start_labels) == sum(neg.end_labels) == 0 and neg.gold_pairs == []
    assert neg.input_ids == f.input_ids


def test_no_query_source_encodes_the_passage_alone():
    f = build_mrc_feature(TOK, None, WORDS, [(5, 10)])
    assert pieces(f)[:2] == ["[CLS]", "ge"]
    assert f.span_to_words(*f.gold_pairs[0]) == (5, 10)
    assert set(f.token_type_ids) == {0}


def test_truncation_keeps_sep_and_counts_dropped_mentions():
    f = build_mrc_feature(TOK, QUERY, WORDS, [(0, 1), (3, 4), (5, 10)], max_length=14)
    toks = pieces(f)
    assert len(toks) == 14 and toks[-1] == "[SEP]"
    assert f.dropped_spans == 2                       # BRCA1 is cut mid-word, the disease is gone
    assert f.gold_pairs == [(f.word_first[0], f.word_last[0])]
    assert f.word_first[3] == -1                      # the cut word is masked out
    assert sum(f.start_mask) == 3 and sum(f.end_mask) == 3
    with pytest.raises(ValueError, match="max_length"):
        build_mrc_feature(TOK, "a very long query " * 10, WORDS, [], max_length=12)
    with pytest.raises(ValueError, match="outside"):
        build_mrc_feature(TOK, QUERY, WORDS, [(10, 12)])


VOCAB = ["the", "BRCA1", "cancer", "ovarian", "Germline", "p53-null", "ataxia-telangiectasia", "of", ".",
         "IL-2Rα", "(", "hMLH1", "carcinoma"]


@st.composite
def passages(draw):
    words = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=20))
    spans, i = [], 0
    while i < len(words):
        if draw(st.booleans()):
            e = i + draw(st.integers(1, min(3, len(words) - i)))
            spans.append((i, e))
            i = e + 1
        else:
            i += 1
    return words, spans


@settings(max_examples=60, deadline=None)
@given(passages(), st.sampled_from([None, QUERY]))
def test_word_spans_survive_the_round_trip_through_subwords(data, query):
    words, spans = data
    f = build_mrc_feature(TOK, query, words, spans)
    assert [f.span_to_words(i, j) for i, j in f.gold_pairs] == sorted(spans)
    assert sum(f.start_labels) == len(spans) == sum(f.end_labels)
    # each word's sub-words are exactly the tokenizer's pieces of that word
    for w, word in enumerate(words):
        assert f.word_last[w] - f.word_first[w] + 1 == len(TOK.tokenize(word))


def test_query_cap_keeps_positives_and_samples_negatives():
    types = ["a", "b", "c", "d", "e"]
    assert select_query_types(types, {"d"}, None, random.Random(0)) == types
    for seed in range(10):
        got = select_query_types(types, {"d", "b"}, 3, random.Random(seed))
        assert len(got) == 3 and {"b", "d"} <= set(got) and got == sorted(got)
    assert select_query_types(types, {"a", "b", "c", "d"}, 2, random.Random(0)) == ["a", "b", "c", "d"]


def test_flat_decoding_helpers():
    assert pair_nearest_end([1, 4, 9], [2, 3, 6]) == [(1, 2), (4, 6)]
    spans = [{"start": 0, "end": 3, "label": "A", "score": 0.6}, {"start": 2, "end": 4, "label": "B", "score": 0.9},
             {"start": 5, "end": 6, "label": "A", "score": 0.1}]
    assert [(s["start"], s["label"]) for s in resolve_overlaps(spans)] == [(2, "B"), (5, "A")]
