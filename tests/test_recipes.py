"""Family training recipes through `biomtl train`: resolution, override precedence, --print-config,
the layer-sliced MTL-XC -> MTL-LS phases (hand-over, fractional epochs, exact resume), early stopping."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from corpus_fixtures import write_fake_corpora
from safetensors.torch import load_file

from biomtl.trainer.config import OptimConfig, TrainConfig, load_config

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOMTL_CORPORA", raising=False)


def test_family_recipe_is_laid_under_the_users_fields(tmp_path):
    from biomtl.modeling.modeling_sru_ner import SruNerForTokenActions

    recipe = SruNerForTokenActions.training_recipes["default"]
    cfg = load_config(None, ["corpora=[ncbi_disease]", "model.family=sru_ner"])
    assert cfg.recipe == "default"
    warm = recipe["optim"]["encoder_warmup_epochs"]
    assert cfg.optim.encoder_warmup_epochs == warm != OptimConfig.encoder_warmup_epochs
    assert cfg.early_stopping_patience == recipe["early_stopping_patience"] != TrainConfig.early_stopping_patience
    # a value the user writes wins, also when it equals the dataclass default the recipe replaced
    f = tmp_path / "run.yaml"
    f.write_text(f"corpora: [ncbi_disease]\nmodel: {{family: sru_ner}}\n"
                 f"early_stopping_patience: {TrainConfig.early_stopping_patience}\n"
                 f"optim: {{encoder_warmup_epochs: {OptimConfig.encoder_warmup_epochs}}}\n")
    cfg = load_config(f)
    assert cfg.optim.encoder_warmup_epochs == OptimConfig.encoder_warmup_epochs
    assert cfg.early_stopping_patience == TrainConfig.early_stopping_patience
    assert cfg.optim.head_warmup_epochs == recipe["optim"]["head_warmup_epochs"]  # not written: from the recipe
    # an override beats the file
    cfg = load_config(f, ["optim.encoder_warmup_epochs=0.5", "model.overrides.loss_reduction=sentences"])
    assert cfg.optim.encoder_warmup_epochs == 0.5 and cfg.model.overrides["loss_reduction"] == "sentences"
    # each family has its own: the layer-sliced default samples proportionally
    lscrf = load_config(None, ["corpora=[ncbi_disease]", "model.family=layer_sliced_crf"])
    assert lscrf.sampling == "proportional" != cfg.sampling
    # the papers' values are one switch away
    paper = load_config(None, ["corpora=[ncbi_disease]", "model.family=sru_ner", "recipe=paper"])
    assert (paper.optim.encoder_lr, paper.epochs, paper.early_stopping_patience) == (2e-5, 100, 30)


def test_recipe_errors_name_the_field():
    with pytest.raises(ValueError, match="has no recipe 'fast'.*default"):
        load_config(None, ["corpora=[ncbi_disease]", "recipe=fast"])
    with pytest.raises(ValueError, match="set phases.N.epochs"):
        load_config(None, ["corpora=[ncbi_disease]", "model.family=layer_sliced_crf", "recipe=mtl_ls", "epochs=4"])
    with pytest.raises(ValueError, match="phases is a list of 2"):
        load_config(None, ["corpora=[ncbi_disease]", "model.family=layer_sliced_crf", "recipe=mtl_ls",
                           "phases.2.epochs=1"])
    with pytest.raises(ValueError, match="optim.schedule"):
        load_config(None, ["corpora=[ncbi_disease]", "optim.schedule=cosine"])


def test_print_config_shows_the_resolved_config(capsys):
    from biomtl.cli import main

    rc = main(["train", "corpora=[ncbi_disease]", "model.family=layer_sliced_crf", "recipe=mtl_ls",
               "phases.1.overrides.slicing_rate=0.75", "phases.0.epochs=0.5", "--print-config"])
    assert rc == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["recipe"] == "mtl_ls" and printed["optim"]["layerwise_lr_decay"] == 0.9
    assert [p["name"] for p in printed["phases"]] == ["mtl_xc", "mtl_ls"]
    assert printed["phases"][1]["overrides"] == {"task_grouping": "corpus", "slicing_rate": 0.75}
    assert printed["phases"][0]["epochs"] == 0.5 and printed["epochs"] == 0.5 + printed["phases"][1]["epochs"]
    # what was printed is a config that `biomtl train` reads back to the same thing
    again = load_config(None, [f"{k}={json.dumps(v)}" for k, v in printed.items()])
    assert yaml.safe_load(again.to_yaml()) == printed


def _ls_cfg(tmp_path, tiny_encoder_dir, out, *extra):
    src = write_fake_corpora(tmp_path / "src", sizes=(20, 6, 6))
    return load_config(None, [
        "corpora=[ncbi_disease, bc5cdr_disease]", f"source_dir={src}", f"model.encoder={tiny_encoder_dir}",
        "model.family=layer_sliced_crf", "recipe=mtl_ls", "phases.0.epochs=1.5", "phases.1.epochs=1",
        "phases.1.overrides.num_shared_layers=1", "phases.1.overrides.slicing_rate=null",
        "batch_size=8", "eval_batch_size=16", f"output_dir={out}", "progress=false", "checkpoint_every_steps=1",
        "keep_checkpoints=50", "log_with=null", "optim.encoder_lr=1e-3", "optim.head_lr=1e-2", *extra])


def test_mtl_ls_hand_over_takes_bottom_layers_from_phase_1_and_top_from_the_encoder(tmp_path, tiny_encoder_dir):
    from transformers import AutoModel

    from biomtl.modeling.modeling_layer_sliced_crf import LayerSlicedXLNetCRF

    types = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Disease"]}
    xc = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), types, task_grouping="shared")
    with torch.no_grad():  # stand-in for phase-1 training: every encoder weight moves
        for p in xc.encoder.parameters():
            p.add_(0.5)
    ls = LayerSlicedXLNetCRF.from_previous_phase(xc, str(tiny_encoder_dir), types, task_grouping="corpus",
                                                 num_shared_layers=1)
    assert ls.config.tasks == ["NCBI-disease", "BC5CDR"] and ls.config.num_shared_layers == 1
    trained = xc.encoder_state_for_task(xc.config.tasks[0])
    pretrained = AutoModel.from_pretrained(tiny_encoder_dir).state_dict()
    for task in ls.config.tasks:
        state = ls.encoder_state_for_task(task)
        for name, value in state.items():
            source = trained if (".layer.0." in name or "embeddings" in name) else pretrained
            assert torch.equal(value, source[name]), (task, name)
    with pytest.raises(ValueError, match="independent"):
        LayerSlicedXLNetCRF.from_previous_phase(xc, str(tiny_encoder_dir), types, phase2_mode="independent")


def test_mtl_ls_runs_through_train_with_fractional_phase_epochs(tmp_path, tiny_encoder_dir, isolated_cache):
    from biomtl.trainer.loop import train

    res = train(_ls_cfg(tmp_path, tiny_encoder_dir, tmp_path / "run"))
    # 20 + 20 training sentences (proportional) / batch 8 = 5 steps per epoch: 1.5 epochs = 8 steps, then 5
    phases = [(h["phase"], h["epoch"], h["step"]) for h in res["history"]]
    assert phases == [("mtl_xc", 1, 5), ("mtl_xc", 2, 8), ("mtl_ls", 1, 13)]
    assert res["best"]["phase"] == "mtl_ls"
    saved = json.loads((tmp_path / "run" / "best" / "config.json").read_text())
    assert saved["tasks"] == ["NCBI-disease", "BC5CDR-disease"] and saved["num_shared_layers"] == 1
    assert res["recipe"] == "mtl_ls" and res["config"]["phases"][1]["overrides"]["num_shared_layers"] == 1
    assert set(res["test"]["disjoint"]["per_corpus"]) == {"NCBI-disease", "BC5CDR-disease"}


@pytest.mark.parametrize("kill_at", [8, "hand-over", 10], ids=["end-of-phase-1", "hand-over", "inside-phase-2"])
def test_kill_and_resume_across_the_phase_boundary_gives_identical_weights(tmp_path, tiny_encoder_dir,
                                                                             isolated_cache, kill_at):
    from biomtl.trainer.loop import train

    full = train(_ls_cfg(tmp_path, tiny_encoder_dir, tmp_path / "full"))
    if kill_at == "hand-over":  # the checkpoint written when phase 2 starts (phase 1 fully done)
        handover = tmp_path / "full" / "checkpoints" / "step-0000008"
        assert json.loads((handover / "state.json").read_text())["phase"] == 1
        resumed = train(_ls_cfg(tmp_path, tiny_encoder_dir, tmp_path / "resumed", f"resume_from={handover}"))
    else:
        killed = train(_ls_cfg(tmp_path, tiny_encoder_dir, tmp_path / "resumed"), stop_after_steps=kill_at)
        assert killed == {"stopped_at_step": kill_at}
        resumed = train(_ls_cfg(tmp_path, tiny_encoder_dir, tmp_path / "resumed", "resume_from=latest"))
    for folder in ("best", "checkpoints/step-0000013"):
        a = load_file(str(tmp_path / "full" / folder / "model.safetensors"))
        b = load_file(str(tmp_path / "resumed" / folder / "model.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), folder
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    assert resumed["test"] == full["test"]


def test_selection_tie_rule_and_early_stopping():
    from biomtl.trainer.loop import _selection

    state = {"best": None, "bad_epochs": 0}

    def step(value):
        verdict = _selection(state, value)
        if verdict:
            state["best"] = {"value": value}
        return verdict, state["bad_epochs"]

    assert step(0.0) == ("best", 0)
    assert step(0.0) == ("best, tie", 0)  # the later epoch is kept; nothing learned yet, nothing counted
    assert step(40.0) == ("best", 0)
    assert step(40.0) == ("best, tie", 1)  # a tie is not an improvement for early stopping
    assert step(39.0) == ("", 2)


def test_early_stopping_triggers_within_the_planned_epochs(tmp_path, tiny_encoder_dir, isolated_cache, monkeypatch):
    import biomtl.trainer.loop as loop

    scores = iter([30.0, 50.0, 45.0, 44.0, 60.0])  # dev values of epochs 1..5
    monkeypatch.setattr(loop, "_metric", lambda reports, name: next(scores))
    src = write_fake_corpora(tmp_path / "src", sizes=(8, 4, 4))
    res = loop.train(load_config(None, [
        "corpora=[ncbi_disease]", f"source_dir={src}", f"model.encoder={tiny_encoder_dir}", "epochs=5",
        "early_stopping_patience=2", "batch_size=8", f"output_dir={tmp_path / 'out'}", "progress=false",
        "log_with=null", "evaluate_test=false"]))
    assert res["stopped_early"] and len(res["history"]) == 4 and res["best"]["epoch"] == 2
