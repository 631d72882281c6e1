"""The MRC family through the trainer: every query source, the NER context of training vs prediction,
the papers' loss normalisation and `L_start + L_end`."""

from __future__ import annotations

import json
import random

import pytest
import torch
import torch.nn.functional as F
from corpus_fixtures import write_fake_corpora

from biomtl.trainer.config import load_config

pytestmark = pytest.mark.usefixtures("one_thread")

SOURCES = ("definition", "guideline", "dictionary", "none", "random")


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOMTL_CORPORA", raising=False)


@pytest.mark.parametrize("source", SOURCES)
def test_every_query_source_trains_through_the_loop(tmp_path, tiny_encoder_dir, isolated_cache, source):
    from biomtl.modeling.modeling_mrc_multitask import MrcMultiTaskForNER
    from biomtl.trainer.loop import train

    src = write_fake_corpora(tmp_path / "src", sizes=(16, 4, 4))
    out = tmp_path / "run"
    res = train(load_config(None, [
        "corpora=[ncbi_disease]", f"source_dir={src}", f"model.encoder={tiny_encoder_dir}",
        "model.family=mrc_multitask", "model.overrides.enabled_heads=[ner, mrc]",
        f"model.overrides.query_source={source}", "epochs=1", "batch_size=8", f"output_dir={out}",
        "progress=false", "log_with=null"]))
    assert res["history"][0]["train_loss"] > 0
    saved = json.loads((out / "best" / "config.json").read_text())
    assert saved["query_source"] == source
    (t,) = saved["entity_types"]
    # the trainer handed the training examples over: dictionary mentions come from the training split
    train_mentions = {" ".join(ex["tokens"][s["start"]:s["end"]]) for ex in _train_rows(src) for s in ex["spans"]}
    sampled = saved["dictionary_examples"].get(t, [])
    assert sampled and set(sampled) <= train_mentions
    model = MrcMultiTaskForNER.from_pretrained(out / "best")
    if source == "random":  # the dictionary query is one of the draws, not silently left out
        rng = random.Random(0)
        drawn = {model.query_text(t, rng=rng) for _ in range(60)}
        assert {model.query_text(t, s) for s in ("definition", "guideline", "dictionary")} == drawn
    elif source == "dictionary":
        assert all(m in model.query_text(t) for m in sampled)


def _train_rows(src):
    from biomtl.data_scripts import read_iob

    return read_iob(src / "NCBI-disease-IOB" / "train.tsv", "NCBI-disease")


def _near_budget_sentence(tok, budget: int) -> list[str]:
    """Words whose sub-words fill the input to within 2 of `budget` (past the query-reduced budget)."""
    words = []
    while len(tok(words + ["asthma"], is_split_into_words=True, add_special_tokens=False)["input_ids"]) <= budget:
        words.append("asthma")
    return words[:-1]


def test_training_and_prediction_see_the_same_ner_context(tiny_encoder_dir, tok):
    from biomtl.modeling.modeling_mrc_multitask import MrcMultiTaskForNER
    from biomtl.modeling.subwords import encode_words

    types = {"NCBI-disease": ["NCBI-disease/Disease"]}
    model = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), types, enabled_heads=["ner", "mrc"],
                                            max_seq_length=64)
    full = model._passage_budget(tok, with_query=False)
    with_query = model._passage_budget(tok, with_query=True)
    assert with_query < full - 8  # the query takes real room
    words = _near_budget_sentence(tok, full)
    n_sub = len(tok(words, is_split_into_words=True, add_special_tokens=False)["input_ids"])
    assert with_query < n_sub <= full
    spans = [{"start": 0, "end": 1, "label": "Disease"}, {"start": len(words) - 1, "end": len(words),
                                                         "label": "Disease"}]
    batch = model.collate([{"corpus": "NCBI-disease", "tokens": words, "spans": spans}], tok)
    # the NER input is the whole sentence, exactly as predict_spans encodes it
    assert model.collate_stats["sentences_split"] == 0 and batch["input_ids"].shape[0] == 1
    seen = []
    model._encode = lambda ids, mask, tt: seen.append(ids.clone()) or torch.zeros(*ids.shape, 32)  # noqa: ARG005
    model.ner_head = torch.nn.Linear(32, len(model.config.ner_labels))
    model.predict_spans([words], tok)
    assert torch.equal(seen[0], batch["input_ids"])
    assert torch.equal(batch["input_ids"], encode_words(tok, [words], max_length=full + 2).inputs["input_ids"])
    labelled = (batch["labels"][0] != -100).sum().item()
    assert labelled == len(words)
    # the MRC inputs are cut to fit beside the query; both mentions stay whole (cut between them)
    assert batch["mrc_input_ids"].shape[0] >= 2 and batch["mrc_input_ids"].shape[1] <= 64
    assert model.collate_stats["mrc_mentions_dropped"] == 0
    assert int(batch["mrc_start_labels"].sum()) == 2


def test_sentence_sum_normalisation_matches_a_per_sentence_loop(tiny_encoder_dir, tok):
    from biomtl.modeling.modeling_mrc_multitask import MrcMultiTaskForNER

    types = {"NCBI-disease": ["NCBI-disease/Disease"]}
    rows = [{"corpus": "NCBI-disease", "tokens": "asthma and renal failure were seen".split(),
             "spans": [{"start": 0, "end": 1, "label": "Disease"}, {"start": 2, "end": 4, "label": "Disease"}]},
            {"corpus": "NCBI-disease", "tokens": "no signs".split(), "spans": []}]
    torch.manual_seed(0)
    model = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), types, enabled_heads=["ner", "mtcls"]).eval()
    assert model.config.token_loss_reduction == "sentence_sum" and not model.config.mrc_use_match_head
    batch = model.collate(rows, tok)
    out = model(**batch)
    # oracle: each sentence's summed token cross-entropy, averaged over the sentences
    per_sentence = []
    for b in range(2):
        keep = batch["labels"][b] != -100
        per_sentence.append(F.cross_entropy(out.logits[b][keep], batch["labels"][b][keep], reduction="sum"))
    assert torch.allclose(out.ner_loss, torch.stack(per_sentence).mean())
    model.config.token_loss_reduction = "token_mean"
    mean = model(**batch).ner_loss
    keep = batch["labels"] != -100
    assert torch.allclose(mean, F.cross_entropy(out.logits[keep], batch["labels"][keep]))


def test_mrc_loss_is_start_plus_end_unless_the_match_head_is_on(tiny_encoder_dir, tok):
    from biomtl.modeling.modeling_mrc_multitask import MrcMultiTaskForNER

    types = {"NCBI-disease": ["NCBI-disease/Disease"]}
    rows = [{"corpus": "NCBI-disease", "tokens": "asthma and renal failure".split(),
             "spans": [{"start": 2, "end": 4, "label": "Disease"}]}]
    plain = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), types, enabled_heads=["ner", "mrc"]).eval()
    out = plain(**plain.collate(rows, tok))
    assert out.mrc_match_loss is None and torch.allclose(out.mrc_loss, out.mrc_start_loss + out.mrc_end_loss)
    match = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), types, enabled_heads=["ner", "mrc"],
                                            mrc_use_match_head=True).eval()
    out = match(**match.collate(rows, tok))
    assert torch.allclose(out.mrc_loss, out.mrc_start_loss + out.mrc_end_loss + out.mrc_match_loss)


def test_mrc_sentence_fraction_builds_mrc_examples_for_that_share_of_each_batch(tiny_encoder_dir, tok):
    from biomtl.modeling.modeling_mrc_multitask import MrcMultiTaskForNER

    types = {"NCBI-disease": ["NCBI-disease/Disease"]}
    rows = [{"corpus": "NCBI-disease", "id": str(i), "tokens": f"case {i} of renal failure".split(),
             "spans": [{"start": 3, "end": 5, "label": "Disease"}]} for i in range(10)]
    with pytest.raises(ValueError, match="mrc_sentence_fraction"):
        MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), types, mrc_sentence_fraction=0.0)
    model = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), types, enabled_heads=["ner", "mrc"],
                                            mrc_sentence_fraction=0.3)
    chosen = []
    for _ in range(4):
        batch = model.collate(rows, tok)
        assert batch["input_ids"].shape[0] == 10 and batch["mrc_input_ids"].shape[0] == 3
        ids = batch["mrc_input_ids"].tolist()
        chosen.append(frozenset(i for i, r in enumerate(rows)
                                if any(tok.convert_tokens_to_ids(str(i)) in row for row in ids)))
    assert len(set(chosen)) > 1                       # drawn anew for each batch
    assert model.collate_stats["mrc_examples"] == len(set().union(*chosen))
    one = model.collate(rows[:1], tok)                # at least one sentence of any batch
    assert one["mrc_input_ids"].shape[0] == 1
    # the draws come from the family's saved random state: a restored state repeats them
    state = model.training_state()
    first = model.collate(rows, tok)["mrc_input_ids"]
    model.load_training_state(state)
    assert torch.equal(model.collate(rows, tok)["mrc_input_ids"], first)
