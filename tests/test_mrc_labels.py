"""Multi-granularity label derivations of the MRC multi-task family (spec mrc-multitask.md §2.5)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biomtl.modeling.mrc_labels import (
    bcls_label,
    bio_labels,
    bio_to_spans,
    flatten_spans,
    mcls_label,
    mtcls_ids,
    mtcls_tags,
    prefixed_label,
    spans_to_bio,
)


def test_sentence_without_entity():
    tags = ["O"] * 4
    spans = bio_to_spans(tags)
    assert spans == []
    assert (bcls_label(spans), mcls_label(spans)) == (0, 0)
    assert mtcls_tags(spans, 4) == ["O"] * 4


def test_single_and_multi_token_mentions():
    # "BRCA1 mutations cause breast cancer and ataxia ."
    tags = ["O", "O", "O", "B-Disease", "I-Disease", "O", "B-Disease", "O"]
    spans = bio_to_spans(tags)
    assert spans == [(3, 5, "Disease"), (6, 7, "Disease")]
    assert (bcls_label(spans), mcls_label(spans)) == (1, 2)
    assert mtcls_tags(spans, 8) == ["O", "O", "O", "B-Multi", "I-Multi", "O", "B-Single", "O"]
    assert mtcls_tags(spans, 8, "3class") == ["O", "O", "O", "Multi", "Multi", "O", "Single", "O"]
    assert mtcls_ids(spans, 8) == [0, 0, 0, 2, 3, 0, 1, 0]


def test_three_or_more_mentions_clip_to_class_3():
    tags = ["B-D", "O", "B-D", "I-D", "I-D", "O", "B-C", "B-D"]
    spans = bio_to_spans(tags)
    assert len(spans) == 4
    assert (bcls_label(spans), mcls_label(spans)) == (1, 3)
    assert mtcls_tags(spans, 8) == ["B-Single", "O", "B-Multi", "I-Multi", "I-Multi", "O", "B-Single",
                                    "B-Single"]


def test_worked_example_of_the_spec():
    words = "Germline mutations in BRCA1 cause inherited breast and ovarian cancer .".split()
    tags = ["O"] * 5 + ["B-Disease"] + ["I-Disease"] * 4 + ["O"]
    assert len(tags) == len(words)
    assert bio_to_spans(tags) == [(5, 10, "Disease")]


def test_lenient_decoding_of_stray_inside_tags():
    assert bio_to_spans(["I-A", "I-A", "O", "I-A"]) == [(0, 2, "A"), (3, 4, "A")]
    assert bio_to_spans(["B-A", "I-B", "I-B"]) == [(0, 1, "A"), (1, 3, "B")]
    with pytest.raises(ValueError, match=r"tags\[1\]"):
        bio_to_spans(["O", "X-A"])


def test_bio_label_list_and_prefixes():
    assert bio_labels(["C/Chem", "C/Dis"]) == ["O", "B-C/Chem", "I-C/Chem", "B-C/Dis", "I-C/Dis"]
    ct = {"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}
    assert prefixed_label("Chemical", "BC5CDR", ct) == "BC5CDR/Chemical"
    assert prefixed_label("BC5CDR/Disease", "BC5CDR", ct) == "BC5CDR/Disease"
    with pytest.raises(ValueError, match="Gene"):
        prefixed_label("Gene", "BC5CDR", ct)
    with pytest.raises(ValueError, match="NCBI"):
        prefixed_label("Disease", "NCBI", ct)


def test_flatten_keeps_longest_first_and_counts_the_rest():
    kept, dropped = flatten_spans([(0, 3, "A"), (1, 2, "B"), (3, 4, "A"), (0, 3, "A")])
    assert kept == [(0, 3, "A"), (3, 4, "A")]
    assert dropped == [(1, 2, "B")]


@st.composite
def flat_spans(draw):
    n = draw(st.integers(0, 25))
    spans, i = [], 0
    while i < n:
        if draw(st.booleans()):
            length = draw(st.integers(1, min(4, n - i)))
            spans.append((i, i + length, draw(st.sampled_from(["A", "B"]))))
            i += length + draw(st.integers(0, 2))
        else:
            i += 1
    return n, spans


@given(flat_spans())
def test_bio_round_trip_and_aux_labels_agree(data):
    n, spans = data
    tags = spans_to_bio(spans, n)
    assert bio_to_spans(tags) == spans
    mt = mtcls_tags(spans, n)
    assert sum(t.startswith("B-") for t in mt) == len(spans)          # one start per mention
    assert mt.count("B-Single") == sum(e - s == 1 for s, e, _ in spans)
    assert [t == "O" for t in mt] == [t == "O" for t in tags]          # same entity words
    assert mcls_label(spans) == min(len(spans), 3)
    assert bcls_label(spans) == int(bool(spans))
