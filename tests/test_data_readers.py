"""Readers and writers: round trips, scheme detection, conlleval-style repairs, bad-input errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.data_scripts import (
    CorpusFormatError,
    RepairReport,
    read_conll,
    read_iob,
    read_jsonlines,
    write_iob2,
    write_jsonlines,
)

WORD = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1,
               max_size=6).filter(lambda w: w.strip() and w != "-DOCSTART-")
TYPES = st.sampled_from(["Disease", "Chemical", "Gene_or_protein", "cell-line"])


@st.composite
def flat_sentence(draw):
    n = draw(st.integers(1, 12))
    tokens = draw(st.lists(WORD, min_size=n, max_size=n))
    spans, i = [], 0
    while i < n:
        if draw(st.booleans()):
            length = draw(st.integers(1, n - i))
            spans.append({"start": i, "end": i + length, "label": draw(TYPES)})
            i += length
        i += 1
    return tokens, spans


@st.composite
def nested_sentence(draw):
    n = draw(st.integers(1, 10))
    tokens = draw(st.lists(WORD, min_size=n, max_size=n))
    cands = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, n), TYPES), max_size=8))
    spans: list[dict] = []
    for s, e, t in cands:
        if s >= e:
            continue
        new = {"start": s, "end": e, "label": t}
        crossing = any(o["start"] < s < o["end"] < e or s < o["start"] < e < o["end"] for o in spans)
        if not crossing and new not in spans:
            spans.append(new)
    return tokens, spans


def _examples(sents, corpus="C", doc_ids=None):
    from biomtl.data_scripts import make_example

    return [make_example(f"{corpus}-x-{i:06d}", corpus, (doc_ids[i] if doc_ids else ""), t, s)
            for i, (t, s) in enumerate(sents)]


@settings(max_examples=60, deadline=None)
@given(st.lists(flat_sentence(), min_size=1, max_size=6))
def test_iob2_read_write_read_is_identity(tmp_path_factory, sents):
    d = tmp_path_factory.mktemp("iob")
    first = _examples(sents)
    write_iob2(d / "a.tsv", first)
    again = read_iob(d / "a.tsv", "C", id_prefix="C-x")
    assert again == first
    write_iob2(d / "b.tsv", again)
    assert (d / "a.tsv").read_bytes() == (d / "b.tsv").read_bytes()


def test_iob2_round_trip_keeps_documents(tmp_path):
    first = _examples([(["a"], []), (["b", "c"], [{"start": 1, "end": 2, "label": "X"}]), (["d"], [])],
                      doc_ids=["PMID:1", "PMID:1", "PMID:2"])
    write_iob2(tmp_path / "d.tsv", first)
    assert read_iob(tmp_path / "d.tsv", "C", id_prefix="C-x") == first


@settings(max_examples=60, deadline=None)
@given(st.lists(nested_sentence(), min_size=1, max_size=6))
def test_jsonlines_read_write_read_is_identity(tmp_path_factory, sents):
    d = tmp_path_factory.mktemp("jsonl")
    first = _examples(sents, doc_ids=[f"doc{i // 2}" for i in range(len(sents))])
    write_jsonlines(d / "a.jsonl", first)
    again = read_jsonlines(d / "a.jsonl", "C")
    assert again == first
    write_jsonlines(d / "b.jsonl", again)
    assert (d / "a.jsonl").read_bytes() == (d / "b.jsonl").read_bytes()


def test_iobes_is_detected_and_converted(tmp_path):
    f = tmp_path / "x.tsv"
    f.write_text("Aspirin\tS-Chemical\ncauses\tO\nliver\tB-Disease\ndamage\tE-Disease\n\n"
                 "big\tB-Disease\nred\tI-Disease\nrash\tE-Disease\n")
    ex = read_iob(f, "C")
    assert [e["spans"] for e in ex] == [
        [{"start": 0, "end": 1, "label": "Chemical"}, {"start": 2, "end": 4, "label": "Disease"}],
        [{"start": 0, "end": 3, "label": "Disease"}],
    ]


def test_conll_multicolumn_with_docstart(tmp_path):
    f = tmp_path / "x.conll"
    f.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
                 "-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n")
    ex = read_conll(f, "conll")
    assert [e["doc_id"] for e in ex] == ["doc1", "doc2"]
    assert ex[0]["tokens"] == ["EU", "rejects", "German"]
    assert ex[0]["spans"] == [{"start": 0, "end": 1, "label": "ORG"}, {"start": 2, "end": 3, "label": "MISC"}]
    assert ex[1]["spans"] == [{"start": 0, "end": 2, "label": "PER"}]


def test_ill_formed_tags_are_repaired_like_conlleval_and_counted(tmp_path):
    f = tmp_path / "x.tsv"
    f.write_text("a\tO\nb\tI-Disease\nc\tI-Disease\nd\tB-Chemical\ne\tI-Disease\n")
    report = RepairReport()
    ex = read_iob(f, "C", report=report)
    assert ex[0]["spans"] == [{"start": 1, "end": 3, "label": "Disease"}, {"start": 3, "end": 4, "label": "Chemical"},
                              {"start": 4, "end": 5, "label": "Disease"}]
    assert report.total == 2
    assert report.examples[0].startswith(f"{f}:2")
    assert report.examples[1].startswith(f"{f}:5")
    assert "2" in report.format()


def test_repairs_agree_with_seqeval_lenient_chunking(tmp_path):
    """conlleval / seqeval default mode starts a new chunk at I-X after O or another type."""
    from seqeval.metrics.sequence_labeling import get_entities

    tags = ["I-A", "I-A", "O", "B-B", "I-A", "I-A", "B-A", "I-B", "O", "I-B"]
    f = tmp_path / "x.tsv"
    f.write_text("".join(f"w{i}\t{t}\n" for i, t in enumerate(tags)))
    ours = [(s["label"], s["start"], s["end"] - 1) for s in read_iob(f, "C")[0]["spans"]]
    assert sorted(ours) == sorted(get_entities(tags))


BAD_TSV = [
    ("a\tO\nnotag\n", 2, "no tag column"),
    ("a\tO\nb\tX-Disease\n", 2, "unknown tag"),
    ("a\tO\n\tB-Disease\n", 2, "empty token"),
]


@pytest.mark.parametrize("content,line,reason", BAD_TSV)
def test_bad_tsv_input_names_file_and_line(tmp_path, content, line, reason):
    f = tmp_path / "bad.tsv"
    f.write_text(content)
    with pytest.raises(CorpusFormatError) as err:
        read_iob(f, "C")
    assert str(err.value).startswith(f"{f}:{line}:")
    assert reason in str(err.value)


def test_invalid_utf8_names_file_and_line(tmp_path):
    f = tmp_path / "bad.tsv"
    f.write_bytes(b"a\tO\nb\tO\n\nc\xff\tO\n")
    with pytest.raises(CorpusFormatError, match=rf"^{f}:4: invalid UTF-8"):
        read_iob(f, "C")


@pytest.mark.parametrize("reader", [read_iob, read_jsonlines])
def test_empty_file_is_an_error_naming_the_file(tmp_path, reader):
    f = tmp_path / "empty.tsv"
    f.write_text("\n\n")
    with pytest.raises(CorpusFormatError, match=rf"^{f}: file is empty"):
        reader(f, "C")


def test_crossing_mentions_of_same_type_in_jsonlines(tmp_path):
    f = tmp_path / "bad.jsonl"
    good = {"tokens": ["a", "b", "c"], "entity_mentions": [{"start": 0, "end": 2, "entity_type": "DNA"},
                                                           {"start": 0, "end": 1, "entity_type": "DNA"}]}
    bad = {"tokens": ["a", "b", "c"], "entity_mentions": [{"start": 0, "end": 2, "entity_type": "DNA"},
                                                          {"start": 1, "end": 3, "entity_type": "DNA"}]}
    f.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(CorpusFormatError, match=rf"^{f}:2: crossing mentions of type DNA"):
        read_jsonlines(f, "C")


@pytest.mark.parametrize("obj,reason", [
    ('{"tokens": ["a", ""], "entity_mentions": []}', "empty token"),
    ('{"tokens": ["a"], "entity_mentions": [{"start": 0, "end": 3, "entity_type": "X"}]}', "out of range"),
    ('{"tokens": ["a"], ', "invalid JSON"),
    ('["a"]', "expected an object"),
])
def test_bad_jsonlines_names_file_and_line(tmp_path, obj, reason):
    f = tmp_path / "bad.jsonl"
    f.write_text('{"tokens": ["ok"], "entity_mentions": []}\n' + obj + "\n")
    with pytest.raises(CorpusFormatError) as err:
        read_jsonlines(f, "C")
    assert str(err.value).startswith(f"{f}:2:") and reason in str(err.value)


def test_iob2_writer_refuses_nested_spans(tmp_path):
    ex = _examples([(["a", "b"], [{"start": 0, "end": 2, "label": "X"}, {"start": 0, "end": 1, "label": "Y"}])])
    with pytest.raises(ValueError, match="overlapping spans"):
        write_iob2(tmp_path / "x.tsv", ex)
