"""The training loop (accelerate). Read it top to bottom: data -> model -> optimiser -> epochs
(train, evaluate every dev set in merged and disjoint mode, keep the best, stop early) -> test.

The loop knows no family's internals: it uses the family contract of trainer/interface.py
(`from_encoder`, `prepare_examples`, `collate`, `forward(...).loss`, `predict_spans`,
`parameter_groups`, `layer_lr_scale`, `training_state`, ...) and nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from safetensors.torch import load_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import AutoTokenizer

from ..encoders import resolve_encoder
from ..modeling import get_family
from .checkpoint import (
    begin_checkpoint,
    finish_checkpoint,
    load_checkpoint,
    peek_state,
    resolve_checkpoint,
    write_rng,
)
from .config import OptimConfig, TrainConfig
from .data import TrainingData, build_training_data
from .evaluation import evaluate_examples
from .sampling import MultiCorpusBatchSampler


# ----------------------------------------------------------------------------------------------
# optimiser and schedule
# ----------------------------------------------------------------------------------------------
def build_optimizer(model, opt: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the family's parameter groups: `encoder` at `encoder_lr` (with `layerwise_lr_decay`
    < 1, the family's `layer_lr_scale` gives each encoder parameter its group and factor), everything
    else at `head_lr`. Weight decay applies to all parameters, as in the SRU-NER reference."""
    groups = model.parameter_groups()
    encoder = groups.get("encoder", [])
    head = [p for name, ps in groups.items() if name != "encoder" for p in ps]
    param_groups = []
    if opt.layerwise_lr_decay < 1.0 and encoder:
        names = {id(p): n for n, p in model.named_parameters()}
        buckets: dict[str, tuple[float, list]] = {}
        for p in encoder:
            group, scale = model.layer_lr_scale(names[id(p)], opt.layerwise_lr_decay)
            buckets.setdefault(group, (scale, []))[1].append(p)
        for group, (scale, ps) in buckets.items():
            param_groups.append({"params": ps, "lr": opt.encoder_lr * scale, "weight_decay": opt.encoder_weight_decay,
                                 "group": "encoder", "layer_group": group, "warmup_epochs": opt.encoder_warmup_epochs})
    elif encoder:
        param_groups.append({"params": encoder, "lr": opt.encoder_lr, "weight_decay": opt.encoder_weight_decay,
                             "group": "encoder", "warmup_epochs": opt.encoder_warmup_epochs})
    if head:
        param_groups.append({"params": head, "lr": opt.head_lr, "weight_decay": opt.head_weight_decay,
                             "group": "head", "warmup_epochs": opt.head_warmup_epochs})
    return torch.optim.AdamW(param_groups, betas=tuple(opt.betas), eps=opt.eps)


def build_scheduler(optimizer, steps_per_epoch: int, planned_epochs: float,
                    schedule: str = "linear") -> torch.optim.lr_scheduler.LambdaLR:
    """Per group: linear warm-up over `warmup_epochs` epochs, then linear decay to 0 at the end of
    the planned epochs (`schedule="linear"`) or a constant rate (`"constant"`)."""
    total = max(1, round(planned_epochs * steps_per_epoch))

    def make(warmup_epochs: float):
        warm = round(warmup_epochs * steps_per_epoch)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if schedule == "constant":
                return 1.0
            return max(0.0, (total - step) / max(1, total - warm))

        return factor

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [make(g["warmup_epochs"]) for g in optimizer.param_groups])


def phase_steps(epochs: float, steps_per_epoch: int) -> int:
    """Optimiser steps of a phase of `epochs` (fractional epochs honoured; at least 1); rounded to
    1e-9 first so that float noise never adds a step."""
    return max(1, math.ceil(round(epochs * steps_per_epoch, 9)))


# ----------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------
def _trackers(cfg: TrainConfig) -> str | None:
    if cfg.log_with == "tensorboard" and importlib.util.find_spec("tensorboard") is None:
        return None
    return cfg.log_with


def _flat_hparams(cfg: TrainConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}{k}.", v)
        elif isinstance(value, (int, float, str, bool)):
            flat[prefix.rstrip(".")] = value
        elif value is not None:
            flat[prefix.rstrip(".")] = json.dumps(value)

    walk("", cfg.to_dict())
    return flat


def _metric(reports: dict, name: str) -> float:
    """`dev/merged/average_f1` -> reports['merged'].average_f1 (also micro_f1)."""
    _, mode, which = name.split("/")
    rep = reports[mode]
    return rep.average_f1 if which == "average_f1" else rep.micro_f1


def framework_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for pkg in ("biomtl", "transformers", "torch", "tokenizers", "datasets", "accelerate", "huggingface_hub",
                "evaluate", "seqeval"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


# ----------------------------------------------------------------------------------------------
# the loop
# ----------------------------------------------------------------------------------------------
def train(cfg: TrainConfig, data: TrainingData | None = None, stop_after_steps: int | None = None) -> dict:
    """Train, select the best epoch on dev, score it on test; returns the results dict
    (also written to `output_dir/all_results.json` and `output_dir/best/`).

    A run has one phase (`epochs` from the encoder) or the family's phases (`cfg.phases`, e.g. the
    layer-sliced MTL-XC -> MTL-LS schedule), each with a fresh optimiser and schedule; the best
    epoch of the last phase is the result. `stop_after_steps` simulates a killed run (tests): the
    loop returns right after the checkpoint of that optimiser step, without evaluating.
    """
    out = Path(cfg.output_dir)
    family = get_family(cfg.model.family)
    accelerator = Accelerator(
        cpu=not torch.cuda.is_available(),  # without it, a multi-process launch on a GPU-less machine gives N rank-0s
        gradient_accumulation_steps=cfg.optim.gradient_accumulation_steps,
        log_with=_trackers(cfg), project_dir=str(out),
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=family.ddp_find_unused_parameters)],
    )
    main = accelerator.is_main_process
    set_seed(cfg.seed)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        cfg.save(out / "train_config.json")

    # 1. data ---------------------------------------------------------------------------------
    with accelerator.main_process_first():  # the main process prepares/caches the corpora, the others reload
        data = data or build_training_data(cfg)
    if main:
        sizes = {c: info.get("train_sentences") for c, info in data.corpora.items()}
        print(f"corpora: {sizes}; types: {data.corpus_types}")

    # 2. tokenizer, family, phases -------------------------------------------------------------
    encoder_path = resolve_encoder(cfg.model.encoder)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    plan = cfg.phase_plan()
    last_phase = len(plan) - 1
    if main and cfg.early_stopping_patience and cfg.early_stopping_patience >= math.ceil(plan[-1].epochs) - 1:
        print(f"note: early stopping cannot trigger (patience {cfg.early_stopping_patience} epochs, "
              f"{plan[-1].epochs:g} epochs planned)")

    def build_model(index: int, previous=None):
        """The model of phase `index`: from the encoder, or from the previous phase's model."""
        phase = plan[index]
        overrides = {**cfg.model.overrides, **phase.overrides}
        if phase.start == "previous":
            return family.from_previous_phase(previous, cfg.model.encoder, data.corpus_types, **overrides)
        # the training examples reach the family (the MRC family samples its dictionary queries from them)
        return family.from_encoder(cfg.model.encoder, data.corpus_types, train_examples=data.train, **overrides)

    # 3. batches: multi-corpus sampling, length grouping, deterministic per (seed, epoch) ---------
    # over the units the family trains on (`prepare_examples`, e.g. merged sentences), built with the
    # first phase's model (every phase is the same family)
    current: dict[str, Any] = {}  # the raw (unwrapped) model of the running phase, and its units
    base_loader = None

    def collate(indices: list[int]) -> dict:
        model = current["model"]
        batch = model.collate([current["train"][i] for i in indices], tokenizer)
        # the family's non-weight state (data report, random generators) as it is once this batch is
        # built: the loader builds the next batch before this one trains, so a checkpoint after this
        # batch's step must save this snapshot, not the model's current state
        batch[_FAMILY_STATE] = model.training_state()
        return batch

    def make_loader(model) -> DataLoader:
        current.update(train=model.prepare_examples(data.train, tokenizer),
                       dev=model.prepare_examples(data.dev, tokenizer),
                       test=model.prepare_examples(data.test, tokenizer))
        train_units = current["train"]
        sampler = MultiCorpusBatchSampler(
            [ex["corpus"] for ex in train_units], [len(ex["tokens"]) for ex in train_units], cfg.batch_size,
            mode=cfg.sampling, temperature=cfg.temperature, samples_per_epoch=cfg.samples_per_epoch,
            length_grouping=cfg.length_grouping, seed=cfg.seed, max_batch_words=cfg.max_batch_words)
        return DataLoader(list(range(len(train_units))), batch_sampler=sampler, collate_fn=collate,
                          generator=torch.Generator().manual_seed(cfg.seed))

    state: dict[str, Any] = {"phase": 0, "epoch": 0, "batches_done": 0, "phase_step": 0, "global_step": 0,
                             "history": [], "best": None, "bad_epochs": 0, "train_seconds": 0.0,
                             "loss_sum": 0.0, "loss_n": 0}
    ckpt = resolve_checkpoint(out, cfg.resume_from) if cfg.resume_from else None
    start_phase = peek_state(ckpt)["phase"] if ckpt else 0
    if main and cfg.log_with and _trackers(cfg):
        accelerator.init_trackers("biomtl", config=_flat_hparams(cfg))

    def save_checkpoint() -> None:
        root = out / "checkpoints"
        tmp = root / f".tmp-step-{state['global_step']:07d}"
        if main:
            begin_checkpoint(root, state["global_step"])
        accelerator.wait_for_everyone()
        write_rng(tmp, accelerator.process_index)
        accelerator.wait_for_everyone()
        if main:
            trainer_state = {k: v for k, v in state.items() if k != "step"}
            trainer_state["model_state"] = current["family_state"]  # data report, random generators
            finish_checkpoint(root, tmp, state["global_step"], raw_model.state_dict(), optimizer, scheduler,
                              trainer_state, keep=cfg.keep_checkpoints)
        accelerator.wait_for_everyone()

    def log_jsonl(record: dict) -> None:
        if main:
            with open(out / "eval_log.jsonl", "a") as fh:
                fh.write(json.dumps(record) + "\n")

    # 4. phases, each: model, optimiser, schedule, epochs -------------------------------------------
    raw_model = None
    stopped_early = False
    for index in range(len(plan)):
        phase = plan[index]
        final = index == last_phase
        raw_model = build_model(index, raw_model)
        if base_loader is None:
            base_loader = make_loader(raw_model)
        if index < start_phase:  # resuming a later phase: only its architecture is needed from here
            continue
        current.update(model=raw_model, family_state=raw_model.training_state())
        optimizer = build_optimizer(raw_model, cfg.optim)
        model, optimizer, loader = accelerator.prepare(raw_model, optimizer, base_loader)
        steps_per_epoch = math.ceil(len(loader) / cfg.optim.gradient_accumulation_steps)
        total_steps = phase_steps(phase.epochs, steps_per_epoch)
        planned = cfg.optim.decay_epochs if (cfg.optim.decay_epochs and len(plan) == 1) else phase.epochs
        scheduler = build_scheduler(optimizer, steps_per_epoch, planned, cfg.optim.schedule)
        if ckpt is not None and index == start_phase:
            state = load_checkpoint(ckpt, raw_model, optimizer, scheduler, accelerator.process_index)
            raw_model.load_training_state(state.pop("model_state", {}))
            current["family_state"] = raw_model.training_state()
            state.setdefault("phase", 0)
            state.setdefault("phase_step", state["global_step"])
            if main:
                print(f"resumed from {ckpt} (phase {phase.name}, epoch {state['epoch'] + 1}, "
                      f"batch {state['batches_done']})")
        elif index > 0:
            state.update(phase=index, epoch=0, batches_done=0, phase_step=0)
            save_checkpoint()  # a run killed right after the hand-over resumes in this phase
        if main and len(plan) > 1:
            print(f"phase {index + 1}/{len(plan)} {phase.name}: {phase.epochs:g} epochs, {total_steps} steps")
        tag = f"{phase.name} " if len(plan) > 1 else ""

        for epoch in range(state["epoch"], math.ceil(round(phase.epochs, 9))):
            # the data order of (seed, epoch) counted over the whole run; set through accelerate's loader,
            # whose every iteration re-applies its own epoch counter to the batch sampler
            loader.set_epoch(sum(math.ceil(p.epochs) for p in plan[:index]) + epoch)
            skip = state["batches_done"]
            epoch_loader = accelerator.skip_first_batches(loader, skip) if skip else loader
            model.train()
            t0 = time.perf_counter()
            if not skip:
                state["loss_sum"], state["loss_n"] = 0.0, 0
            in_epoch = min(len(loader), (total_steps - state["phase_step"]) * cfg.optim.gradient_accumulation_steps
                           + skip)
            bar = tqdm(total=in_epoch, initial=skip, desc=f"{tag}epoch {epoch + 1}/{phase.epochs:g}", unit="batch",
                       disable=not (main and cfg.progress), dynamic_ncols=True)
            for batch in epoch_loader:
                if state["phase_step"] >= total_steps:  # resumed right at the end of a (fractional) phase
                    break
                with accelerator.accumulate(model):
                    current["family_state"] = batch.pop(_FAMILY_STATE)
                    output = model(**batch)
                    loss = output.loss
                    if not torch.isfinite(loss):
                        raise FloatingPointError(f"non-finite loss {loss.item()} at epoch {epoch + 1}, "
                                                 f"step {state['global_step']}: lower the learning rates?")
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and cfg.optim.max_grad_norm:
                        accelerator.clip_grad_norm_(model.parameters(), cfg.optim.max_grad_norm)
                    optimizer.step()
                    if accelerator.sync_gradients:
                        scheduler.step()
                    optimizer.zero_grad()
                state["batches_done"] += 1
                state["loss_sum"] += loss.item()
                state["loss_n"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{state['loss_sum'] / state['loss_n']:.4f}")
                if accelerator.sync_gradients:
                    state["global_step"] += 1
                    state["phase_step"] += 1
                    if cfg.checkpoint_every_steps and state["global_step"] % cfg.checkpoint_every_steps == 0:
                        save_checkpoint()
                    if stop_after_steps is not None and state["global_step"] >= stop_after_steps:
                        bar.close()
                        return {"stopped_at_step": state["global_step"]}
                    if state["phase_step"] >= total_steps or (cfg.max_steps and state["global_step"] >= cfg.max_steps):
                        break
            bar.close()
            state["train_seconds"] += time.perf_counter() - t0

            # evaluate every dev set, both modes
            before = _predict_counts(raw_model)
            reports, _ = evaluate_examples(raw_model, tokenizer, current["dev"], data.corpus_types, cfg.eval_batch_size,
                                           accelerator, progress=cfg.progress, desc="dev")
            value = _metric(reports, cfg.selection_metric)
            record = {"phase": phase.name, "epoch": epoch + 1, "step": state["global_step"],
                      "train_loss": state["loss_sum"] / max(1, state["loss_n"]),
                      "seconds": time.perf_counter() - t0, "dev": {m: r.to_dict() for m, r in reports.items()},
                      "dev_predict_report": dict(_predict_counts(raw_model) - before)}
            state["history"].append(record)
            log_jsonl(record)
            accelerator.log({"train/loss": record["train_loss"],
                             "dev/merged/average_f1": reports["merged"].average_f1,
                             "dev/disjoint/average_f1": reports["disjoint"].average_f1}, step=state["global_step"])
            verdict = _selection(state, value) if final else ""
            if main:
                print(f"{tag}epoch {epoch + 1}: loss {record['train_loss']:.4f}  dev merged avg F1 "
                      f"{reports['merged'].average_f1:.2f}  disjoint avg F1 {reports['disjoint'].average_f1:.2f}"
                      + (f"  ({verdict})" if verdict else ""))
            if verdict:
                state["best"] = {"phase": phase.name, "epoch": epoch + 1, "history_index": len(state["history"]) - 1,
                                 "metric": cfg.selection_metric, "value": value}
                if main:
                    _save_best(raw_model, tokenizer, out / "best")
            state["epoch"], state["batches_done"] = epoch + 1, 0
            save_checkpoint()
            if final and cfg.early_stopping_patience and state["bad_epochs"] >= cfg.early_stopping_patience:
                stopped_early = True
                if main:
                    print(f"early stopping: no dev improvement for {state['bad_epochs']} epochs")
                break
            if state["phase_step"] >= total_steps or (cfg.max_steps and state["global_step"] >= cfg.max_steps):
                break
        if cfg.max_steps and state["global_step"] >= cfg.max_steps:
            break
    accelerator.wait_for_everyone()

    # 5. best checkpoint on dev and test --------------------------------------------------------
    raw_model.load_state_dict(load_file(str(out / "best" / "model.safetensors")))
    best = state["best"]
    dev_best = state["history"][best["history_index"]]["dev"]
    results: dict[str, Any] = {
        "model_family": raw_model.config.model_type,
        "model_class": type(raw_model).__name__,
        "base_model": raw_model.encoder_name,
        "corpora": data.corpora,
        "corpus_types": data.corpus_types,
        "recipe": cfg.recipe,
        "config": cfg.to_dict(),  # exactly what ran: the recipe with the user's fields laid over it
        "hyperparameters": _flat_hparams(cfg),
        "phases": [{"name": p.name, "epochs": p.epochs, "start": p.start, "overrides": p.overrides} for p in plan],
        "history": state["history"],
        "best": best,
        "dev": dev_best,
        "stopped_early": stopped_early,
        "framework_versions": framework_versions(),
        "train_runtime_s": state["train_seconds"],
        "world_size": accelerator.num_processes,
        # what the family had to change to fit the data (split sentences, dropped or cut mentions, ...),
        # counted once per training sentence by its collate and once per test sentence by its
        # predict_spans (vocabulary: modeling/data_report.py); reported, never silent (this process's counts)
        "data_report": {
            "collate": dict(raw_model.collate_stats),
            "predict": {},  # filled by the test prediction below
            "dropped_mentions_by_config": {c: i.get("dropped_mentions", 0) for c, i in data.corpora.items()},
        },
    }
    if cfg.evaluate_test and current["test"]:
        before = _predict_counts(raw_model)
        reports, _ = evaluate_examples(raw_model, tokenizer, current["test"], data.corpus_types, cfg.eval_batch_size,
                                       accelerator, progress=cfg.progress, desc="test")
        results["test"] = {m: r.to_dict() for m, r in reports.items()}
        # what predicting the test set had to do, once per sentence (not summed over the run's evaluations)
        test_counts = dict(_predict_counts(raw_model) - before)
        results["data_report"]["predict"] = test_counts
        results["data_report"]["test_sentences"] = len(data.test)
        if "sentences_hit_step_cap" in raw_model.predict_stats:  # families with a step-capped decoder
            results["data_report"]["test_step_cap_rate"] = (test_counts.get("sentences_hit_step_cap", 0)
                                                            / len(current["test"]))
        if main:
            print(f"test (best: {best['phase'] + ' ' if len(plan) > 1 else ''}epoch {best['epoch']}): merged avg F1 "
                  f"{reports['merged'].average_f1:.2f}  disjoint avg F1 {reports['disjoint'].average_f1:.2f}")
    if main:
        changed = {k: v for part in ("collate", "predict") for k, v in results["data_report"][part].items() if v}
        if changed:
            print(f"data report (what the model had to split, cut or drop): {changed}")
        text = json.dumps(results, indent=2)
        (out / "all_results.json").write_text(text)
        (out / "best" / "all_results.json").write_text(text)
        _write_card(out / "best", results, cfg.push_to_hub)
        if cfg.push_to_hub:
            from .hub import push_to_hub

            print(push_to_hub(out / "best", cfg.push_to_hub))
    # every rank reaches the process-group teardown together: a rank that tore gloo down while the
    # main process was still writing results sometimes aborted ("terminate called without an active
    # exception") after a successful run
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return results


#: where a collated batch carries the family's training state (popped before `forward`)
_FAMILY_STATE = "_biomtl_family_state"


def _predict_counts(model) -> Counter:
    """A snapshot of what the family's `predict_spans` counted so far (windows, step caps, ...); the
    difference of two snapshots (Counter subtraction keeps the positive counts) is what one
    prediction call did."""
    return Counter(model.predict_stats)


def _selection(state: dict, value: float) -> str:
    """Whether this epoch of the last phase becomes the best ("best"), with the tie rule, and the
    early-stopping count (updated in `state`).

    A higher dev value is an improvement. A tie moves the best to the later epoch (more trained;
    and a run whose dev F1 stays 0 does not keep epoch 1 forever) but is not an improvement for
    early stopping. Epochs are not counted against patience while no epoch has scored above 0.
    """
    best = state["best"]
    if best is None or value > best["value"]:
        state["bad_epochs"] = 0
        return "best"
    if best["value"] > 0:
        state["bad_epochs"] += 1
    return "best, tie" if value == best["value"] else ""


def _save_best(model, tokenizer, folder: Path) -> None:
    """The Hub-ready folder (config, safetensors, tokenizer, remote code, pipeline), replaced atomically."""
    from .export import save_hub_folder

    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    save_hub_folder(model, tokenizer, tmp)
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    os.replace(tmp, folder)


def _write_card(folder: Path, results: dict, repo_id: str | None) -> None:
    try:
        from ..model_cards import generate_model_card
    except ImportError:  # card generation is optional for a training run
        return
    generate_model_card(folder, results, repo_id=repo_id)
