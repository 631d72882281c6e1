"""The family contract (trainer/interface.py), checked the same way for EVERY model family, the
layer-sliced MTL-XC -> MTL-LS phases included, through `trainer.loop.train` on a tiny encoder:

* a run stopped mid-epoch and resumed gives `torch.equal` weights and identical metrics, history and
  data report (the per-sentence counts and the family's random state travel in the checkpoint);
* the saved `best/` folder, loaded where biomtl cannot be imported, predicts exactly what the trained
  model predicted (the same test scores as the run, the same spans as an in-process load);
* `from_pretrained` + a fresh optimiser gives the same loss, gradients and first update on a batch
  as the in-memory model + a fresh optimiser (nothing of the model lives outside its checkpoint).

Budgets are small so that sentences are split for training and windowed for prediction.
"""

from __future__ import annotations

import json

import pytest
import torch
from corpus_fixtures import write_fake_corpora
from safetensors.torch import load_file
from transformers import AutoTokenizer

from biomtl.modeling import FAMILIES, get_family
from biomtl.trainer.config import load_config
from biomtl.trainer.data import build_training_data
from biomtl.trainer.evaluation import score_examples
from biomtl.trainer.export import save_hub_folder
from biomtl.trainer.interface import MultiCorpusNerModel
from biomtl.trainer.loop import build_optimizer, train
from tests.fresh_env import run_without_biomtl

pytestmark = pytest.mark.usefixtures("one_thread")

ALL_HEADS = ["ner", "mrc", "mtcls", "bcls", "mcls"]
#: case -> (family, extra config overrides); every family of the registry is listed (see below)
CASES = {
    "sru_ner": ("sru_ner", ["model.overrides.max_tokens=24", "epochs=2"]),
    # the query generator is used: random query sources and capped negatives
    "mrc_multitask": ("mrc_multitask", [f"model.overrides.enabled_heads={json.dumps(ALL_HEADS)}",
                                        "model.overrides.query_source=random",
                                        "model.overrides.mrc_max_queries_per_sentence=1",
                                        "model.overrides.max_seq_length=64", "epochs=2"]),
    "layer_sliced_crf": ("layer_sliced_crf", ["model.overrides.max_seq_length=24", "epochs=2"]),
    "layer_sliced_crf-mtl_ls": ("layer_sliced_crf", [  # MTL-XC shares one head: corpora with the same types
        "corpora=[ncbi_disease, bc5cdr_disease]", "recipe=mtl_ls", "phases.0.epochs=1", "phases.1.epochs=1.5", "phases.0.overrides.max_seq_length=24",
        "phases.1.overrides.max_seq_length=24", "phases.1.overrides.slicing_rate=0.5"]),
    "token_classification": ("token_classification", ["model.overrides.max_seq_length=24", "epochs=2"]),
}


def test_every_registered_family_is_under_contract():
    assert {family for family, _ in CASES.values()} == set(FAMILIES)
    for model_cls in FAMILIES.values():
        assert model_cls.training_recipes and "default" in model_cls.training_recipes
        assert model_cls.card_metadata["title"] and isinstance(model_cls.card_metadata["papers"], list)
        assert isinstance(model_cls.ddp_find_unused_parameters, bool)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOMTL_CORPORA", raising=False)


def _cfg(src, encoder, out, family, extra, *more):
    return load_config(None, [
        "corpora=[ncbi_disease, bc5cdr]", f"source_dir={src}", f"model.encoder={encoder}",
        f"model.family={family}", "batch_size=8", "eval_batch_size=4", f"output_dir={out}", "progress=false",
        "checkpoint_every_steps=1", "keep_checkpoints=100", "log_with=null", "sampling=proportional",
        "early_stopping_patience=null", "optim.encoder_lr=1e-3", "optim.head_lr=1e-2", *extra, *more])


def _without_seconds(history):
    return [{k: v for k, v in h.items() if k != "seconds"} for h in history]


PREDICT_IN_FRESH_ENV = """
    import json
    from transformers import AutoModel, AutoTokenizer
    folder = {folder!r}
    model = AutoModel.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    sentences = json.load(open({sentences!r}))
    print("RESULT" + json.dumps(model.predict_spans(sentences, tok, batch_size=4)))
"""


@pytest.mark.parametrize("case", list(CASES))
def test_family_contract_through_the_trainer(case, tmp_path, tiny_encoder_dir, isolated_cache):
    family_name, extra = CASES[case]
    family = get_family(family_name)
    src = write_fake_corpora(tmp_path / "src", sizes=(16, 6, 6), long_every=4)
    full = train(_cfg(src, tiny_encoder_dir, tmp_path / "full", family_name, extra))

    # 1. stopped mid-epoch and resumed: identical weights, metrics, history, data report ------------
    steps = [h["step"] for h in full["history"]]
    kill_at = steps[-2] + 1 if len(steps) > 1 else 2  # inside the last epoch
    assert 0 < kill_at < steps[-1]
    killed = train(_cfg(src, tiny_encoder_dir, tmp_path / "resumed", family_name, extra), stop_after_steps=kill_at)
    assert killed == {"stopped_at_step": kill_at}
    resumed = train(_cfg(src, tiny_encoder_dir, tmp_path / "resumed", family_name, extra, "resume_from=latest"))
    for folder in ("best", f"checkpoints/step-{steps[-1]:07d}"):
        a = load_file(str(tmp_path / "full" / folder / "model.safetensors"))
        b = load_file(str(tmp_path / "resumed" / folder / "model.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), folder
    for key in ("best", "dev", "test", "data_report"):
        assert resumed[key] == full[key], key
    assert _without_seconds(resumed["history"]) == _without_seconds(full["history"])
    report = full["data_report"]
    assert report["collate"].get("sentences_split", 0) > 0 and report["predict"].get("windowed_sentences", 0) > 0
    # per-sentence counts: never more split sentences than there are training sentences
    assert report["collate"]["sentences_split"] <= sum(c["train_sentences"] for c in full["corpora"].values())
    assert full["base_model"] == tiny_encoder_dir.name and str(tmp_path) not in (
        tmp_path / "full" / "best" / "config.json").read_text()

    # 2. save -> fresh-environment load: the same predictions as the trained model -----------------
    best = tmp_path / "full" / "best"
    data = build_training_data(_cfg(src, tiny_encoder_dir, tmp_path / "unused", family_name, extra))
    sentences = [ex["tokens"] for ex in data.test]
    (tmp_path / "sentences.json").write_text(json.dumps(sentences))
    proc = run_without_biomtl(PREDICT_IN_FRESH_ENV.format(folder=str(best), sentences=str(tmp_path / "sentences.json")),
                              tmp_path / "fresh")
    fresh = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))[len("RESULT"):])
    tok = AutoTokenizer.from_pretrained(best)
    loaded = family.from_pretrained(best)
    assert isinstance(loaded, MultiCorpusNerModel)
    assert fresh == loaded.predict_spans(sentences, tok, batch_size=4)
    rescored = score_examples(data.test, fresh, data.corpus_types)
    assert {m: r.to_dict() for m, r in rescored.items()} == full["test"]  # what the run's own model scored

    # 3. from_pretrained + fresh optimiser == in-memory model + fresh optimiser, on a batch ---------
    cfg = _cfg(src, tiny_encoder_dir, tmp_path / "unused", family_name, extra)
    plan = cfg.phase_plan()
    torch.manual_seed(1)
    model = family.from_encoder(str(tiny_encoder_dir), data.corpus_types,
                                **{**cfg.model.overrides, **plan[0].overrides})
    if len(plan) > 1:
        model = family.from_previous_phase(model, str(tiny_encoder_dir), data.corpus_types,
                                           **{**cfg.model.overrides, **plan[1].overrides})
    folder = save_hub_folder(model, tok, tmp_path / "memory")
    reloaded = family.from_pretrained(folder)
    batch = model.collate(data.train[:8], tok)
    results = []
    for m in (model, reloaded):
        m.train()
        optimizer = build_optimizer(m, cfg.optim)
        torch.manual_seed(7)  # the same dropout masks
        loss = m(**batch).loss
        loss.backward()
        grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
        optimizer.step()
        results.append((loss.detach(), grads, {n: p.detach().clone() for n, p in m.named_parameters()},
                        [(g["lr"], len(g["params"])) for g in optimizer.param_groups]))
    (loss_a, grads_a, after_a, groups_a), (loss_b, grads_b, after_b, groups_b) = results
    assert torch.equal(loss_a, loss_b)
    assert grads_a.keys() == grads_b.keys() and all(torch.equal(grads_a[n], grads_b[n]) for n in grads_a)
    assert groups_a == groups_b
    assert all(torch.equal(after_a[n], after_b[n]) for n in after_a)
