"""Training recipe of the layer-sliced CRF family (spec §7.4, §8, §9), in plain torch.

* `TrainingRecipe`: the "30 + 3x30" schedule (stage A, then continuation runs that restart
  from the stage-A weights with a fresh optimiser and LR schedule and their own data-order seed,
  or run back to back in "sequential" mode), checkpoints every `save_steps`, last 5 kept.
* `build_optimizer` / `linear_decay`: AdamW (eps 1e-6, no weight decay) over the model's
  layer-wise decayed parameter groups, linear decay to 0 over each run, no warm-up.
* `task_batches`: task-homogeneous batches for phase-2 "joint" training, the task of each batch
  drawn with probability proportional to its size (optionally tempered).
* `train_run`: a small reference loop (clipping at 1.0, checkpoint callback) and `run_schedule`,
  which evaluates the last kept checkpoints of every continuation run and reports mean / std /
  max F1 over them, picks the best run on dev and averages its last checkpoints' weights.

Independent of the project's trainer (which drives the model through the family contract);
this module ships nowhere and depends on torch only.
"""

from __future__ import annotations

import copy
import math
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import torch


@dataclass(frozen=True)
class RunPlan:
    """One training run of the schedule."""

    name: str  # "stage_a", "cont_1", ...
    start_from: str  # "init" (the stage's initialisation), "stage_a", or the previous run's name
    epochs: float
    seed: int
    evaluated: bool  # whether its last checkpoints are scored (continuation runs; stage A alone if none)


@dataclass(frozen=True)
class TrainingRecipe:
    """Hyper-parameters of the "30 + 3x30" recipe (defaults: spec §8-§9 recommendations)."""

    stage_a_epochs: float = 30
    continuation_runs: int = 3
    continuation_epochs: float = 30
    continuation_mode: str = "independent"  # or "sequential"
    save_steps: int = 300
    keep_last_checkpoints: int = 5
    learning_rate: float = 3e-5
    layer_decay: float = 0.9
    layer_decay_impl: str = "lr"  # or "grad_scale" (reference-code quirk)
    adam_epsilon: float = 1e-6
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    warmup_steps: int = 0
    batch_size: int = 24
    task_sampling_temperature: float = 1.0
    seed: int = 42

    def __post_init__(self):
        if self.continuation_mode not in ("independent", "sequential"):
            raise ValueError(f"continuation_mode must be 'independent' or 'sequential', got {self.continuation_mode!r}")
        if self.layer_decay_impl not in ("lr", "grad_scale"):
            raise ValueError(f"layer_decay_impl must be 'lr' or 'grad_scale', got {self.layer_decay_impl!r}")
        if self.keep_last_checkpoints < 1 or self.save_steps < 1:
            raise ValueError("keep_last_checkpoints and save_steps must be >= 1")

    def with_changes(self, **changes) -> TrainingRecipe:
        return replace(self, **changes)

    def runs(self) -> list[RunPlan]:
        """Stage A then the continuation runs, in execution order."""
        plans = [RunPlan("stage_a", "init", self.stage_a_epochs, self.seed, self.continuation_runs == 0)]
        prev = "stage_a"
        for i in range(1, self.continuation_runs + 1):
            name = f"cont_{i}"
            start = "stage_a" if self.continuation_mode == "independent" else prev
            plans.append(RunPlan(name, start, self.continuation_epochs, self.seed + i, True))
            prev = name
        return plans

    def total_epochs(self) -> float:
        return self.stage_a_epochs + self.continuation_runs * self.continuation_epochs


def build_optimizer(model, recipe: TrainingRecipe) -> torch.optim.Optimizer:
    """AdamW over the model's parameter groups: true per-group LRs (`layer_decay_impl="lr"`) or one LR
    for everything (`"grad_scale"`: call `model.scale_gradients_by_layer_()` after clipping)."""
    groups = model.layerwise_lr_groups(recipe.learning_rate, recipe.weight_decay, recipe.layer_decay)
    if recipe.layer_decay_impl == "grad_scale":
        for g in groups:
            g["lr"], g["lr_scale"] = recipe.learning_rate, 1.0
    return torch.optim.AdamW(groups, lr=recipe.learning_rate, eps=recipe.adam_epsilon,
                             weight_decay=recipe.weight_decay)


def linear_decay(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0):
    """LambdaLR: linear warm-up (default none), then linear decay of every group's LR to 0 at `total_steps`."""
    total_steps = max(1, int(total_steps))

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def checkpoint_steps(total_steps: int, save_steps: int, keep_last: int) -> list[int]:
    """Optimiser steps whose checkpoints survive: multiples of `save_steps` plus the final step, last `keep_last`."""
    steps = list(range(save_steps, total_steps + 1, save_steps))
    if total_steps > 0 and (not steps or steps[-1] != total_steps):
        steps.append(total_steps)
    return steps[-keep_last:]


@dataclass
class CheckpointKeeper:
    """Keeps the last `keep` checkpoints of a run (CPU copies of the state dict, or a callback's handles)."""

    keep: int = 5
    saved: list[tuple[int, dict]] = field(default_factory=list)

    def record(self, step: int, model: torch.nn.Module) -> None:
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        self.saved.append((step, state))
        del self.saved[: -self.keep]


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors (others taken from the last state)."""
    if not states:
        raise ValueError("average_state_dicts needs at least one state dict")
    out = {}
    for key, last in states[-1].items():
        if torch.is_floating_point(last):
            out[key] = torch.stack([s[key].float() for s in states]).mean(dim=0).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def summarize_scores(scores: dict[str, list[float]]) -> dict:
    """Mean / std / max / count over every evaluated checkpoint of every run (spec §9: 15 = 3 x 5)."""
    flat = [s for run in scores.values() for s in run]
    if not flat:
        return {"mean": float("nan"), "std": float("nan"), "max": float("nan"), "n": 0}
    return {"mean": statistics.fmean(flat), "std": statistics.pstdev(flat) if len(flat) > 1 else 0.0,
            "max": max(flat), "n": len(flat)}


def task_sampling_probs(sizes: dict[str, int], temperature: float = 1.0) -> dict[str, float]:
    """P(task) proportional to size^(1/temperature) (temperature 1 = proportional to size)."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    weights = {t: max(0, n) ** (1.0 / temperature) for t, n in sizes.items()}
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"no training data for any task: {sizes}")
    return {t: w / total for t, w in weights.items()}


def task_batches(examples_by_task: dict[str, list], batch_size: int, num_batches: int, seed: int = 0,
                 temperature: float = 1.0) -> Iterator[tuple[str, list]]:
    """`num_batches` task-homogeneous batches: draw a task (size-proportional, tempered), then its next
    `batch_size` examples from a per-task shuffled stream (reshuffled on exhaustion)."""
    rng = random.Random(seed)
    probs = task_sampling_probs({t: len(v) for t, v in examples_by_task.items()}, temperature)
    names = [t for t in probs if probs[t] > 0]
    streams = {t: [] for t in names}
    for _ in range(num_batches):
        task = rng.choices(names, weights=[probs[t] for t in names])[0]
        batch = []
        while len(batch) < batch_size:
            if not streams[task]:
                streams[task] = list(examples_by_task[task])
                rng.shuffle(streams[task])
            batch.append(streams[task].pop())
        yield task, batch


def steps_for_epochs(num_examples: int, epochs: float, batch_size: int) -> int:
    """ceil(epochs * num_examples / batch_size), at least 1; rounded to 1e-9 first so that float noise
    in a fractional `epochs` never adds a step."""
    return max(1, math.ceil(round(num_examples * epochs / batch_size, 9)))


def train_run(model, batches: Iterator[dict], total_steps: int, recipe: TrainingRecipe,
              on_checkpoint: Callable[[int], None] | None = None,
              on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Reference loop: `total_steps` AdamW steps over already-collated batches (kwargs of `forward`),
    clipping to `max_grad_norm`, linear LR decay, `on_checkpoint(step)` every `save_steps` and at the
    end. Returns the loss of each step."""
    optimizer = build_optimizer(model, recipe)
    scheduler = linear_decay(optimizer, total_steps, recipe.warmup_steps)
    params = [p for g in optimizer.param_groups for p in g["params"]]
    model.train()
    losses = []
    for step in range(1, total_steps + 1):
        batch = next(batches)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, recipe.max_grad_norm)
        if recipe.layer_decay_impl == "grad_scale":
            model.scale_gradients_by_layer_(recipe.layer_decay)
        optimizer.step()
        scheduler.step()
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
        if on_checkpoint is not None and (step % recipe.save_steps == 0 or step == total_steps):
            on_checkpoint(step)
    return losses


@dataclass
class ScheduleResult:
    """What `run_schedule` reports: per run and checkpoint step, the evaluation dict."""

    evaluations: dict[str, dict[int, dict]]
    summary: dict[str, dict]  # metric -> mean/std/max/n over all evaluated checkpoints
    best_run: str | None
    averaged_state: dict | None


def run_schedule(model, recipe: TrainingRecipe, make_batches: Callable[[RunPlan], tuple[Iterator[dict], int]],
                 evaluate: Callable[[torch.nn.Module], dict[str, float]], select_metric: str = "dev_f1",
                 on_run_end: Callable[[RunPlan, torch.nn.Module], None] | None = None) -> ScheduleResult:
    """Run the whole schedule on `model` (changed in place to the stage-A / last run weights).

    `make_batches(plan)` returns (collated batch iterator, number of steps); `evaluate(model)` returns
    metrics (e.g. {"dev_f1": .., "test_f1": ..}) and is called on each of the last
    `keep_last_checkpoints` checkpoints of every evaluated run.
    """
    finals: dict[str, dict] = {"init": copy.deepcopy(model.state_dict())}
    evaluations: dict[str, dict[int, dict]] = {}
    kept_states: dict[str, list[tuple[int, dict]]] = {}
    for plan in recipe.runs():
        model.load_state_dict(finals[plan.start_from])
        torch.manual_seed(plan.seed)
        keeper = CheckpointKeeper(recipe.keep_last_checkpoints)
        batches, steps = make_batches(plan)
        train_run(model, batches, steps, recipe, on_checkpoint=lambda s, k=keeper: k.record(s, model))
        finals[plan.name] = copy.deepcopy(model.state_dict())
        if on_run_end is not None:
            on_run_end(plan, model)
        if plan.evaluated:
            kept_states[plan.name] = keeper.saved
            evaluations[plan.name] = {}
            for step, state in keeper.saved:
                model.load_state_dict(state)
                evaluations[plan.name][step] = evaluate(model)
            model.load_state_dict(finals[plan.name])
    metrics = sorted({m for run in evaluations.values() for ev in run.values() for m in ev})
    summary = {m: summarize_scores({r: [ev[m] for ev in run.values() if m in ev] for r, run in evaluations.items()})
               for m in metrics}
    best_run, averaged = None, None
    if evaluations:
        def run_mean(r):
            vals = [ev.get(select_metric, float("-inf")) for ev in evaluations[r].values()]
            return statistics.fmean(vals) if vals else float("-inf")

        best_run = max(evaluations, key=run_mean)
        averaged = average_state_dicts([s for _, s in kept_states[best_run]])
    return ScheduleResult(evaluations, summary, best_run, averaged)


def phase2_models(model) -> list[tuple[str, torch.nn.Module]]:
    """What to train in phase 2: "joint"/"frozen" -> the model itself (all tasks, task-homogeneous
    batches); "independent" -> one standalone single-task model per task (`export_task`)."""
    if model.config.phase2_mode == "independent":
        return [(t, model.export_task(t)) for t in model.config.tasks]
    return [("all", model)]
