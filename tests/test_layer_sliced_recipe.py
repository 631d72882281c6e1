"""The "30 + 3x30" recipe of the layer-sliced CRF family (spec §8, §9): schedule, LR decay,
checkpoint keeping, reporting, weight averaging and task-homogeneous batches."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from transformers import AutoTokenizer

from biomtl.modeling import LayerSlicedXLNetCRF
from biomtl.modeling.lscrf_recipe import (
    TrainingRecipe,
    average_state_dicts,
    build_optimizer,
    checkpoint_steps,
    linear_decay,
    phase2_models,
    run_schedule,
    summarize_scores,
    task_batches,
    task_sampling_probs,
)

pytestmark = pytest.mark.usefixtures("one_thread")

DISEASE_TYPES = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Disease"]}
EXAMPLES = [
    {"id": "1", "corpus": "BC5CDR", "tokens": "clonidine induced hypertension .".split(),
     "spans": [{"start": 2, "end": 3, "label": "Disease"}]},
    {"id": "2", "corpus": "NCBI-disease", "tokens": "BRCA1 mutations cause breast cancer".split(),
     "spans": [{"start": 3, "end": 5, "label": "Disease"}]},
]


def test_runs_independent_and_sequential():
    recipe = TrainingRecipe()
    runs = recipe.runs()
    assert [(r.name, r.start_from, r.epochs, r.evaluated) for r in runs] == [
        ("stage_a", "init", 30, False), ("cont_1", "stage_a", 30, True), ("cont_2", "stage_a", 30, True),
        ("cont_3", "stage_a", 30, True)]
    assert len({r.seed for r in runs}) == 4 and recipe.total_epochs() == 120
    seq = recipe.with_changes(continuation_mode="sequential").runs()
    assert [r.start_from for r in seq] == ["init", "stage_a", "cont_1", "cont_2"]
    alone = recipe.with_changes(continuation_runs=0).runs()
    assert [(r.name, r.evaluated) for r in alone] == [("stage_a", True)]
    with pytest.raises(ValueError, match="continuation_mode"):
        TrainingRecipe(continuation_mode="parallel")


def test_model_config_carries_no_optimiser_fields(tiny_encoder_dir):
    """The recipe lives in one place (the family's `training_recipes`), not in config.json."""
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES)
    saved = model.config.to_dict()
    for field in ("learning_rate", "layer_decay", "adam_epsilon", "weight_decay", "batch_size", "stage_a_epochs",
                  "continuation_runs", "save_steps", "warmup_steps"):
        assert field not in saved, field


def test_optimizer_groups_and_linear_decay(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES, num_shared_layers=1)
    recipe = TrainingRecipe(learning_rate=1e-3, layer_decay=0.5)
    opt = build_optimizer(model, recipe)
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["eps"] == 1e-6 and opt.defaults["weight_decay"] == 0
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == pytest.approx({"embeddings": 1e-3 * 0.25, "layer_0": 1e-3 * 0.5, "layer_1": 1e-3, "head": 1e-3})
    sched = linear_decay(opt, total_steps=4)
    seen = []
    for _ in range(4):
        seen.append(opt.param_groups[0]["lr"] / opt.param_groups[0]["initial_lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([1.0, 0.75, 0.5, 0.25]) and opt.param_groups[0]["lr"] == 0.0
    flat = build_optimizer(model, recipe.with_changes(layer_decay_impl="grad_scale"))
    assert {g["lr"] for g in flat.param_groups} == {1e-3}


def test_grad_scale_variant_scales_layer_gradients_only(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES)
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    model.scale_gradients_by_layer_(0.5)
    for name, p in model.named_parameters():
        want = 1.0 if ".layer." not in name else {"0": 0.5, "1": 1.0}[name.split(".layer.")[1][0]]
        assert torch.all(p.grad == want), name


def test_checkpoint_steps_and_reporting():
    assert checkpoint_steps(1000, 300, 5) == [300, 600, 900, 1000]
    assert checkpoint_steps(3000, 300, 5) == [1800, 2100, 2400, 2700, 3000]
    s = summarize_scores({"a": [0.5, 0.7], "b": [0.9]})
    assert s["mean"] == pytest.approx(0.7) and s["max"] == 0.9 and s["n"] == 3
    assert s["std"] == pytest.approx(torch.tensor([0.5, 0.7, 0.9]).std(unbiased=False).item())
    states = [{"w": torch.tensor([1.0, 3.0]), "n": torch.tensor(1)}, {"w": torch.tensor([3.0, 5.0]), "n": torch.tensor(2)}]
    avg = average_state_dicts(states)
    assert torch.equal(avg["w"], torch.tensor([2.0, 4.0])) and avg["n"].item() == 2


def test_task_batches_are_homogeneous_and_size_proportional():
    data = {"big": [("big", i) for i in range(300)], "small": [("small", i) for i in range(100)]}
    assert task_sampling_probs({"big": 300, "small": 100}) == pytest.approx({"big": 0.75, "small": 0.25})
    assert task_sampling_probs({"big": 300, "small": 100}, temperature=1e6)["small"] == pytest.approx(0.5, abs=1e-3)
    counts = Counter()
    for task, batch in task_batches(data, batch_size=4, num_batches=2000, seed=1):
        assert {b[0] for b in batch} == {task} and len(batch) == 4
        counts[task] += 1
    assert counts["big"] / 2000 == pytest.approx(0.75, abs=0.03)


def test_run_schedule_restarts_continuations_from_stage_a_and_reports(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES, task_grouping="shared",
                                             category="Disease")
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    batch = model.collate(EXAMPLES, tok)
    recipe = TrainingRecipe(stage_a_epochs=1, continuation_runs=3, continuation_epochs=1, save_steps=1,
                            keep_last_checkpoints=2, learning_rate=1e-3)
    starts, finals = {}, {}

    def make_batches(plan):
        starts[plan.name] = {k: v.clone() for k, v in model.state_dict().items()}
        return iter([batch] * 3), 3

    def on_run_end(plan, m):
        finals[plan.name] = {k: v.clone() for k, v in m.state_dict().items()}

    evaluated = []

    def evaluate(m):
        evaluated.append({k: v.clone() for k, v in m.state_dict().items()})
        w = m.heads["Disease"].emission.weight.detach()
        return {"dev_f1": float(w.sum()), "test_f1": float(w.abs().sum())}

    result = run_schedule(model, recipe, make_batches, evaluate, on_run_end=on_run_end)
    key = "heads.Disease.emission.weight"
    for run in ("cont_1", "cont_2", "cont_3"):  # independent continuations all start from stage A
        assert all(torch.equal(starts[run][k], finals["stage_a"][k]) for k in starts[run])
    assert not torch.equal(finals["cont_1"][key], finals["stage_a"][key])
    assert sorted(result.evaluations) == ["cont_1", "cont_2", "cont_3"]
    assert all(sorted(ev) == [2, 3] for ev in result.evaluations.values())  # last 2 of steps 1..3
    assert result.summary["dev_f1"]["n"] == 6
    best = max(result.evaluations, key=lambda r: sum(e["dev_f1"] for e in result.evaluations[r].values()))
    assert result.best_run == best
    # the published weights: mean of the best run's kept checkpoints (evaluated in run order, 2 per run)
    i = ["cont_1", "cont_2", "cont_3"].index(best)
    kept = evaluated[2 * i: 2 * i + 2]
    assert torch.equal(kept[1][key], finals[best][key])
    assert torch.allclose(result.averaged_state[key], (kept[0][key] + kept[1][key]) / 2)
    assert not torch.equal(kept[0][key], kept[1][key])


def test_phase2_models_follow_the_mode(tiny_encoder_dir):
    xc = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES, task_grouping="shared")
    joint = LayerSlicedXLNetCRF.from_mtl_xc(xc, str(tiny_encoder_dir), num_shared_layers=1)
    assert [name for name, _ in phase2_models(joint)] == ["all"]
    indep = LayerSlicedXLNetCRF.from_mtl_xc(xc, str(tiny_encoder_dir), num_shared_layers=1,
                                            phase2_mode="independent")
    plans = phase2_models(indep)
    assert [name for name, _ in plans] == ["NCBI-disease", "BC5CDR"]
    assert all(m.config.num_shared_layers == 2 and len(m.config.tasks) == 1 for _, m in plans)
