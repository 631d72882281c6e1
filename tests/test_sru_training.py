"""SRU-NER end to end on a tiny random encoder: overfitting two corpora with different type sets,
batch independence of predictions, save / fresh-environment load with identical output."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from transformers import AutoModel

from biomtl.modeling.modeling_sru_ner import SruNerForTokenActions
from tests.fresh_env import run_without_biomtl

# one torch thread; the tiny overfitted model sometimes loops on a sentence until its step cap: that is
# counted, not tested here
pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore:.*step cap:UserWarning")]

CORPUS_TYPES = {"A": ["A/Disease"], "B": ["B/Gene", "B/Chemical"]}


def _example(i, corpus, text, spans):
    return {"id": str(i), "corpus": corpus, "doc_id": "d", "tokens": text.split(),
            "spans": [{"start": s, "end": e, "label": f"{corpus}/{lab}"} for s, e, lab in spans]}


# nested mentions, same start / same end, mentions at the sentence end, an empty sentence
DATA = [
    _example(0, "A", "familial breast cancer is common .", [(0, 3, "Disease"), (1, 3, "Disease")]),
    _example(1, "A", "patients with colon cancer", [(2, 4, "Disease")]),
    _example(2, "B", "BRCA1 gene mutations bind cisplatin", [(0, 1, "Gene"), (0, 2, "Gene"), (4, 5, "Chemical")]),
    _example(3, "B", "the IL-2 promoter responds to aspirin", [(1, 3, "Gene"), (1, 2, "Gene"), (5, 6, "Chemical")]),
    _example(4, "A", "no disease here", []),
]


def own_type_f1(model, tok, data) -> float:
    """Micro F1 over each sentence's own corpus types (predictions of other corpora's types ignored)."""
    pred = model.predict_spans([d["tokens"] for d in data], tok)
    tp = fp = fn = 0
    for d, p in zip(data, pred):
        own = set(CORPUS_TYPES[d["corpus"]])
        gold = {(s["start"], s["end"], s["label"]) for s in d["spans"]}
        got = {(s["start"], s["end"], s["label"]) for s in p if s["label"] in own}
        tp, fp, fn = tp + len(gold & got), fp + len(got - gold), fn + len(gold - got)
    return 2 * tp / max(1, 2 * tp + fp + fn)


@pytest.fixture(scope="module")
def trained(tiny_encoder_dir, tok, one_thread):
    """Tiny SRU-NER overfitted on DATA (multi-task mode: two corpora); returns (model, f1, steps)."""
    torch.manual_seed(0)
    model = SruNerForTokenActions.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, half_context=8,
                                               infer_step_factor=2.0)  # dense nested sentences
    for mod in model.modules():  # deterministic overfitting
        if isinstance(mod, nn.Dropout):
            mod.p = 0.0
    groups = model.parameter_groups()
    opt = torch.optim.Adam([{"params": groups["encoder"], "lr": 1e-3}, {"params": groups["head"], "lr": 1e-2}])
    batch = model.collate(DATA, tok)
    f1, step = 0.0, 0
    f1, step = _train(model, opt, batch, tok)
    return model, f1, step


def _train(model, opt, batch, tok) -> tuple[float, int]:
    f1, step = 0.0, 0
    for step in range(1, 301):
        model.train()
        out = model(**batch)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        if step % 20 == 0:
            f1 = own_type_f1(model, tok, DATA)
            if f1 == 1.0:
                break
    return f1, step


def test_overfit_two_corpora_reaches_f1_one(trained):
    model, f1, steps = trained
    assert model.config.is_multi_task
    assert f1 == 1.0, f"F1 {f1} after {steps} steps"


def test_prediction_format(trained, tok):
    model, _, _ = trained
    pred = model.predict_spans([d["tokens"] for d in DATA] + [[]], tok, batch_size=2)
    assert len(pred) == len(DATA) + 1 and pred[-1] == []
    for spans, d in zip(pred, DATA):
        assert spans == sorted(spans, key=lambda s: (s["start"], -s["end"], s["label"]))
        for s in spans:
            assert set(s) == {"start", "end", "label", "score"}
            assert s["label"] in model.config.type_names
            assert isinstance(s["score"], float) and 0.0 <= s["score"] <= 1.0
            assert 0 <= s["start"] < s["end"] <= len(d["tokens"])


def test_batch_independence(trained, tok):
    model, _, _ = trained
    target = DATA[2]["tokens"]
    peers = [["cancer"], DATA[3]["tokens"] + DATA[0]["tokens"] + ["and", "more", "words", "here"], DATA[1]["tokens"]]
    alone = model.predict_spans([target], tok)[0]
    together = model.predict_spans(peers[:1] + [target] + peers[1:], tok, batch_size=8)[1]
    assert alone  # a non-trivial comparison
    assert [(s["start"], s["end"], s["label"]) for s in alone] == [(s["start"], s["end"], s["label"]) for s in together]
    assert [s["score"] for s in alone] == pytest.approx([s["score"] for s in together], abs=1e-5)
    # the raw step logits too: a sentence's steps do not depend on its peers
    model.eval()
    with torch.inference_mode():
        one = model(**model._encode(tok, [target], 128))
        many = model(**model._encode(tok, [peers[0], target, peers[1]], 128))
    n = int(one.num_steps[0])
    assert int(many.num_steps[1]) == n
    assert torch.allclose(one.logits[0, :n], many.logits[1, :n], atol=1e-4)


def test_reference_stopping_flag_runs(trained, tok):
    model, _, _ = trained
    model.config.batch_dependent_stopping = True
    try:
        pred = model.predict_spans([d["tokens"] for d in DATA], tok)
    finally:
        model.config.batch_dependent_stopping = False
    assert len(pred) == len(DATA)


def test_step_cap_is_counted(trained, tok):
    model, _, _ = trained
    old = model.config.infer_step_factor
    model.config.infer_step_factor = 1.0  # N+2 steps cannot hold 3 mentions of a 5-word sentence
    before = model.predict_stats["sentences_hit_step_cap"]
    try:
        with pytest.warns(UserWarning, match="step cap"):
            model.predict_spans([DATA[2]["tokens"]], tok)
    finally:
        model.config.infer_step_factor = old
    assert model.predict_stats["sentences_hit_step_cap"] == before + 1


def test_step_cap_counts_a_windowed_sentence_once(trained, tok):
    """A sentence predicted over several windows that each hit the cap is one capped sentence."""
    model, _, _ = trained
    old = (model.config.infer_step_factor, model.config.max_tokens, model.config.window_overlap)
    model.config.infer_step_factor, model.config.max_tokens, model.config.window_overlap = 0.2, 12, 1
    long = DATA[2]["tokens"] * 4  # 20 words: several windows of at most 12 sub-words
    before = dict(model.predict_stats)
    try:
        with pytest.warns(UserWarning, match="2 sentence"):
            model.predict_spans([long, DATA[1]["tokens"]], tok)
    finally:
        model.config.infer_step_factor, model.config.max_tokens, model.config.window_overlap = old
    assert model.predict_stats["windowed_sentences"] - before.get("windowed_sentences", 0) == 1
    assert model.predict_stats["sentences_hit_step_cap"] - before.get("sentences_hit_step_cap", 0) == 2


def test_save_and_fresh_environment_load_give_identical_predictions(trained, tok, tmp_path):
    model, _, _ = trained
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    config = json.loads((ckpt / "config.json").read_text())
    assert config["auto_map"] == {"AutoConfig": "configuration_sru_ner.SruNerConfig",
                                  "AutoModel": "modeling_sru_ner.SruNerForTokenActions"}
    assert config["model_type"] == "sru_ner"
    assert config["encoder_config"]["_name_or_path"] == tiny_name(model)
    for f in ("configuration_sru_ner.py", "modeling_sru_ner.py", "sru_actions.py", "sru_inputs.py",
              "subwords.py", "model.safetensors"):
        assert (ckpt / f).is_file(), f
    assert not list(ckpt.glob("*.bin"))
    sentences = [d["tokens"] for d in DATA] + [["BRCA1", "and", "familial", "breast", "cancer"]]
    expected = model.predict_spans(sentences, tok)
    # installed use: the registered local class, no trust_remote_code
    local = AutoModel.from_pretrained(ckpt)
    assert isinstance(local, SruNerForTokenActions)
    assert local.predict_spans(sentences, tok) == expected
    code = f"""
        import json
        from transformers import AutoModel, AutoTokenizer
        model = AutoModel.from_pretrained({str(ckpt)!r}, trust_remote_code=True)
        tok = AutoTokenizer.from_pretrained({str(ckpt)!r}, trust_remote_code=True)
        assert type(model).__name__ == "SruNerForTokenActions"
        assert not type(model).__module__.startswith("biomtl")
        print("RESULT" + json.dumps(model.predict_spans({sentences!r}, tok)))
    """
    proc = run_without_biomtl(code, tmp_path / "fresh")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")][-1]
    got = json.loads(line[len("RESULT"):])
    assert [[(s["start"], s["end"], s["label"]) for s in p] for p in got] == \
        [[(s["start"], s["end"], s["label"]) for s in p] for p in expected]
    assert [s["score"] for p in got for s in p] == pytest.approx([s["score"] for p in expected for s in p],
                                                                  abs=1e-6)
    assert any(expected)


def tiny_name(model) -> str:
    """The encoder name recorded for the tiny test encoder: its folder name, never its full path."""
    name = model.config.encoder_config._name_or_path
    assert "/" not in name
    return name
