"""The biomtl NER pipeline (`token-classification` in checkpoints) with an in-process fake model (fast unit tests of the pipeline logic).

End-to-end tests with a real model family are in test_pipeline_e2e.py.
"""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer, PretrainedConfig, PreTrainedModel, pipeline

from biomtl.modeling.pipeline_ner import BiomedicalNerPipeline, label_parts, merge_entities
from biomtl.modeling.text_split import tokenize_words


class FakeNerConfig(PretrainedConfig):
    model_type = "fake-biomedical-ner"

    def __init__(self, corpus_types=None, **kwargs):
        self.corpus_types = corpus_types or {"A": ["A/Disease"], "B": ["B/Disease", "B/Chemical"]}
        self.prefix_separator = "/"
        super().__init__(**kwargs)


class FakeNerModel(PreTrainedModel):
    """Deterministic `predict_spans`: every capitalised word is an "A/Disease" (score from its length),
    every run of >= 2 capitalised words a "B/Disease" (nested over the words), digits "B/Chemical";
    a capitalised word also gets "B/Disease" so that merged mode has duplicates to resolve."""

    config_class = FakeNerConfig
    #: the part of the family contract the pipeline reads besides `predict_spans` and `config.corpus_types`
    label_separator = "/"

    def __init__(self, config):
        super().__init__(config)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls: list[tuple[int, int]] = []  # (number of sentences, batch_size)
        self.post_init()

    def _init_weights(self, module):
        pass

    def predict_spans(self, sentences, tokenizer, batch_size=32):
        self.calls.append((len(sentences), batch_size))
        return [fake_spans(s) for s in sentences]


def fake_spans(words: list[str]) -> list[dict]:
    spans = []
    i = 0
    while i < len(words):
        if words[i][:1].isupper():
            j = i
            while j < len(words) and words[j][:1].isupper():
                spans.append({"start": j, "end": j + 1, "label": "A/Disease", "score": len(words[j]) / 20})
                spans.append({"start": j, "end": j + 1, "label": "B/Disease", "score": 0.5})
                j += 1
            if j - i >= 2:
                spans.append({"start": i, "end": j, "label": "B/Disease", "score": 0.25})
            i = j
        else:
            if words[i].isdigit():
                spans.append({"start": i, "end": i + 1, "label": "B/Chemical", "score": 0.75})
            i += 1
    return sorted(spans, key=lambda d: (d["start"], -d["end"], d["label"]))


@pytest.fixture(scope="module")
def fake_pipe(tiny_encoder_dir):
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    model = FakeNerModel(FakeNerConfig())
    return BiomedicalNerPipeline(model=model, tokenizer=tok, task="biomedical-ner")


def test_entities_have_offsets_words_and_plain_floats(fake_pipe):
    text = "Wiskott-Aldrich syndrome and Huntington Disease.  We gave 25 mg of X."
    ents = fake_pipe(text)
    json.dumps(ents)  # plain Python types only
    for e in ents:
        assert set(e) == {"entity_group", "score", "word", "start", "end"}
        assert type(e["score"]) is float and e["word"] == text[e["start"]:e["end"]]
    got = {(e["word"], e["entity_group"], e["score"]) for e in ents}
    # max score kept per (start, end, type): "Wiskott" A=7/20 vs B=0.5 -> 0.5; "Huntington" 10/20
    assert ("Wiskott", "Disease", 0.5) in got
    assert ("Huntington Disease", "Disease", 0.25) in got  # nested run kept with its words
    assert ("Huntington", "Disease", 0.5) in got and ("Disease", "Disease", 0.5) in got
    assert ("25", "Chemical", 0.75) in got
    assert ("We", "Disease", 0.5) in got and ("X", "Disease", 0.5) in got
    assert ents == sorted(ents, key=lambda e: (e["start"], -e["end"], e["entity_group"]))
    keys = [(e["start"], e["end"], e["entity_group"]) for e in ents]
    assert len(keys) == len(set(keys))


def test_prefixed_mode_keeps_corpus_labels(fake_pipe):
    text = "Aspirin 5"
    ents = fake_pipe(text, label_mode="prefixed")
    assert {(e["word"], e["entity_group"], e["corpus"]) for e in ents} == {
        ("Aspirin", "A/Disease", "A"), ("Aspirin", "B/Disease", "B"), ("5", "B/Chemical", "B")}
    assert fake_pipe(text, return_corpus=True) == ents
    with pytest.raises(ValueError, match="label_mode"):
        fake_pipe(text, label_mode="flat")
    with pytest.raises(ValueError, match="contradicts"):
        fake_pipe(text, label_mode="merged", return_corpus=True)


def test_threshold(fake_pipe):
    text = "Aspirin and Tylenol Extra 5"
    ents = fake_pipe(text, threshold=0.5)
    assert ents and all(e["score"] >= 0.5 for e in ents)
    assert {e["word"] for e in fake_pipe(text)} - {e["word"] for e in ents} == {"Tylenol Extra"}
    with pytest.raises(ValueError, match="threshold"):
        fake_pipe(text, threshold=2)


def test_unknown_parameter_is_an_error(fake_pipe):
    with pytest.raises(TypeError, match="ignore_labels.*accepted: .*aggregation_strategy"):
        fake_pipe("Text", ignore_labels=["O"])


def test_aggregation_strategies(fake_pipe):
    from transformers.pipelines.token_classification import AggregationStrategy

    text = "Huntington Disease after 25 mg."
    spans = fake_pipe(text)
    for name in ("simple", "first", "max", "average", "SIMPLE", AggregationStrategy.MAX):
        assert fake_pipe(text, aggregation_strategy=name) == spans
    words = fake_pipe(text, aggregation_strategy="none")
    # "Huntington Disease" (0.25) nests "Huntington" and "Disease" (0.5 each): one record per entity and
    # word, except that the same (word, tag) keeps its highest score
    assert [(w["index"], w["entity"], w["word"], w["score"]) for w in words] == [
        (0, "B-Disease", "Huntington", 0.5), (1, "B-Disease", "Disease", 0.5), (1, "I-Disease", "Disease", 0.25),
        (3, "B-Chemical", "25", 0.75)]
    for w in words:
        assert set(w) == {"entity", "score", "index", "word", "start", "end"} and text[w["start"]:w["end"]] == w["word"]
    prefixed = fake_pipe(text, aggregation_strategy="none", label_mode="prefixed")
    assert {(w["entity"], w["corpus"]) for w in prefixed if w["index"] == 3} == {("B-B/Chemical", "B")}
    with pytest.raises(ValueError, match=r"aggregation_strategy must be one of \('none', 'simple'"):
        fake_pipe(text, aggregation_strategy="mean")


def test_conflicts_option(tiny_encoder_dir):
    """A with only Disease against B (Chemical + Disease) on the same word: B arbitrates."""
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    model = FakeNerModel(FakeNerConfig())
    model.predict_spans = lambda sentences, tokenizer, batch_size=32: [
        [{"start": 0, "end": 1, "label": "A/Disease", "score": 0.9},
         {"start": 0, "end": 1, "label": "B/Chemical", "score": 0.6},
         {"start": 0, "end": 2, "label": "A/Disease", "score": 0.8}] for _ in sentences]
    pipe = BiomedicalNerPipeline(model=model, tokenizer=tok)
    got = {(e["word"], e["entity_group"]) for e in pipe("Cisplatin toxicity")}
    assert got == {("Cisplatin", "Chemical"), ("Cisplatin toxicity", "Disease")}
    kept = {(e["word"], e["entity_group"]) for e in pipe("Cisplatin toxicity", conflicts="keep")}
    assert kept == got | {("Cisplatin", "Disease")}
    keep_pipe = BiomedicalNerPipeline(model=model, tokenizer=tok, conflicts="keep")
    assert {(e["word"], e["entity_group"]) for e in keep_pipe("Cisplatin toxicity")} == kept
    with pytest.raises(ValueError, match="conflicts must be one of"):
        pipe("Cisplatin", conflicts="merge")


def test_batch_size_is_passed_and_documents_share_batches(fake_pipe):
    docs = ["One. Two. Three.", "", "Four five", "   \n  "]
    fake_pipe.model.calls.clear()
    out = fake_pipe(docs, batch_size=3)
    assert fake_pipe.model.calls == [(4, 3)]  # all sentences of all documents in one call
    assert out == [fake_pipe(d) for d in docs]
    assert out[1] == [] and out[3] == []
    fake_pipe.model.calls.clear()
    fake_pipe("Alpha. Beta.")
    assert fake_pipe.model.calls == [(2, 32)]  # default
    with pytest.raises(ValueError, match="batch_size"):
        fake_pipe("A", batch_size=0)


def test_generator_input_streams_results(fake_pipe):
    docs = [f"Doc {i} Alpha." for i in range(7)]
    out = fake_pipe(iter(docs), batch_size=3)
    assert not isinstance(out, list)
    assert list(out) == [fake_pipe(d) for d in docs]


def test_non_string_input_is_a_clear_error(fake_pipe):
    with pytest.raises(TypeError, match="expects a string"):
        fake_pipe([["already", "split"]])


def test_factory_builds_the_registered_task(tiny_encoder_dir):
    # a remote-code load earlier in this process re-registers the task with the checkpoint's copy of
    # the class (as it should); register the installed class again, as `import biomtl.modeling` does
    from transformers import AutoModel
    from transformers.pipelines import PIPELINE_REGISTRY

    PIPELINE_REGISTRY.register_pipeline("biomedical-ner", pipeline_class=BiomedicalNerPipeline,
                                        pt_model=AutoModel, type="text")
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    pipe = pipeline("biomedical-ner", model=FakeNerModel(FakeNerConfig()), tokenizer=tok, batch_size=4)
    assert isinstance(pipe, BiomedicalNerPipeline)
    pipe.model.calls.clear()
    assert [e["word"] for e in pipe("Big Cat")] == ["Big Cat", "Big", "Cat"]
    assert pipe.model.calls == [(1, 4)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["Alpha", "beta", "Gamma", "7", ".", "-", "(", "x", "Delta", "!", "?"]),
                max_size=40),
       st.lists(st.sampled_from([" ", "  ", "\n", "\n\n", "\t", ""]), min_size=40, max_size=40))
def test_entities_match_a_whole_text_oracle(fake_pipe, words, seps):
    """Whatever the sentence split, single-word entities are exactly the capitalised words / numbers."""
    text = "".join(w + s for w, s in zip(words, seps))
    ents = fake_pipe(text)
    singles = {(e["start"], e["end"], e["entity_group"]) for e in ents
               if len(tokenize_words(text, e["start"], e["end"])) == 1}
    expected = set()
    for w in tokenize_words(text):
        if w.text[:1].isupper():
            expected.add((w.start, w.end, "Disease"))
        if w.text.isdigit():
            expected.add((w.start, w.end, "Chemical"))
    assert singles == expected
    for e in ents:
        assert e["word"] == text[e["start"]:e["end"]]


def test_label_parts_and_merge():
    ct = {"NCBI-disease": ["NCBI-disease/Disease"], "a/b": ["a/b/Gene"]}
    assert label_parts("NCBI-disease/Disease", ct) == ("NCBI-disease", "Disease")
    assert label_parts("a/b/Gene", ct) == ("a/b", "Gene")  # corpus names may contain the separator
    assert label_parts("X/Y", None) == ("X", "Y")
    assert label_parts("Plain", None) == ("", "Plain")
    ents = [{"start": 0, "end": 2, "entity_group": "D", "score": 0.2},
            {"start": 0, "end": 2, "entity_group": "D", "score": 0.9},
            {"start": 0, "end": 5, "entity_group": "D", "score": 0.1}]
    assert [e["score"] for e in merge_entities(ents)] == [0.1, 0.9]
