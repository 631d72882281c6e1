"""Shared plumbing of the benchmark entry points: corpus location, machine description, seeded
statistics, and running many `biomtl` trainer runs side by side (one process and one torch thread
each), so that a profile uses both cores of a small machine without oversubscribing them.

Each run is described by a plain `biomtl train` config (a dict, also written to
`<output_dir>/train_config.json` by the trainer), so any row of a benchmark table can be rerun alone
with `biomtl train <that file>`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def corpora_dir() -> Path:
    """`$BIOMTL_CORPORA`, else ../shared/corpora next to the checkout."""
    env = os.environ.get("BIOMTL_CORPORA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "corpora"


def require_corpora(*folders: str) -> Path:
    root = corpora_dir()
    missing = [f for f in folders if not (root / f).is_dir()]
    if missing:
        raise SystemExit(f"corpus folder(s) {', '.join(missing)} not found under {root} (set BIOMTL_CORPORA)")
    return root


def quiet_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def machine() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}, python "
            f"{platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)")


def mean_sd(values: Iterable[float]) -> dict[str, float]:
    vals = list(values)
    if not vals:
        return {"mean": float("nan"), "sd": 0.0, "n": 0, "min": float("nan"), "max": float("nan")}
    return {"mean": statistics.mean(vals), "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "n": len(vals), "min": min(vals), "max": max(vals)}


def fmt_mean_sd(stats: dict[str, float]) -> str:
    if not stats or not stats.get("n"):
        return "–"
    return f"{stats['mean']:.2f} ± {stats['sd']:.2f}"


# ---------------------------------------------------------------------------------------------------
# trainer runs, side by side
# ---------------------------------------------------------------------------------------------------
def _init_worker(threads: int) -> None:
    import torch
    import transformers

    quiet_env()
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(threads)


def train_one(job: dict[str, Any]) -> dict[str, Any]:
    """One `biomtl` training run. `job`: {"name", "config" (a train config dict), optional "after"
    (a callable `after(job, results) -> dict` that adds scores, e.g. on a custom test set)}.
    Returns {"name", "results" (the trainer's all_results), "wall_s", **after's output}."""
    import contextlib
    import io

    from biomtl.trainer.config import config_from_dict
    from biomtl.trainer.loop import train

    cfg = config_from_dict(job["config"])
    t0 = time.perf_counter()
    log = io.StringIO()
    with contextlib.redirect_stdout(log):  # the trainer's per-epoch prints go to the run's log file
        results = train(cfg)
    out = {"name": job["name"], "results": results, "wall_s": time.perf_counter() - t0}
    Path(cfg.output_dir, "stdout.log").write_text(log.getvalue())
    if job.get("after"):
        out.update(job["after"](job, results))
    return out


def run_jobs(jobs: list[dict[str, Any]], n_jobs: int = 2, threads: int = 1,
             on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run `train_one` over `jobs` with `n_jobs` spawned processes of `threads` torch threads each
    (n_jobs = 1: in this process). Results come back in job order; `on_result` sees each as it ends."""
    started = time.perf_counter()
    results: dict[str, dict] = {}

    def done(r: dict) -> None:
        results[r["name"]] = r
        print(f"  [{(time.perf_counter() - started) / 60:5.1f} min] {r['name']} done in {r['wall_s']:.0f} s "
              f"({len(results)}/{len(jobs)})", flush=True)
        if on_result:
            on_result(r)

    if n_jobs <= 1:
        _init_worker(threads)
        for job in jobs:
            done(train_one(job))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(n_jobs, initializer=_init_worker, initargs=(threads,)) as pool:
            for r in pool.imap_unordered(train_one, jobs):
                done(r)
    return [results[j["name"]] for j in jobs]


def run_config(name: str, corpora: list[dict], family: str, output_dir: Path, *, seed: int, epochs: int,
               batch_size: int, encoder: str, overrides: dict | None = None, optim: dict | None = None,
               **extra: Any) -> dict[str, Any]:
    """A `biomtl train` config dict for a benchmark row (no tensorboard, no progress bars)."""
    cfg = {
        "corpora": corpora,
        "model": {"family": family, "encoder": encoder, "overrides": dict(overrides or {})},
        "optim": dict(optim or {}),
        "source_dir": str(corpora_dir()),
        "batch_size": batch_size, "epochs": epochs, "early_stopping_patience": None,
        "output_dir": str(output_dir / name), "seed": seed, "log_with": None, "progress": False,
        "keep_checkpoints": 1,
    }
    cfg.update(extra)
    return cfg


# ---------------------------------------------------------------------------------------------------
# the shape shared by the trainer-based experiments
# ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Budget:
    """What one profile of a trainer-based experiment spends per row (the same for every row)."""

    train_sentences: int | None  # per corpus (None: all)
    dev_sentences: int | None  # per corpus, fixed seeded subset scored every epoch
    test_sentences: int | None  # per corpus, fixed seeded subset (None: all)
    epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    encoder_lr: float = 1e-4
    head_lr: float = 1e-3

    def optim(self) -> dict[str, float]:
        return {"encoder_lr": self.encoder_lr, "head_lr": self.head_lr, "encoder_warmup_epochs": 0.5,
                "head_warmup_epochs": 0.25}


def experiment_parser(doc: str, name: str, profiles: dict) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc)
    ap.add_argument("--profile", choices=sorted(profiles), default="quick")
    ap.add_argument("--smoke", action="store_true", help="same as --profile smoke")
    ap.add_argument("--encoder", default="embedded-minilm", help="encoder name or path (default: embedded MiniLM)")
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--output-dir", type=Path, default=Path("runs/benchmarks") / name,
                    help="where the runs' checkpoints, configs and logs go")
    return ap


def run_meta(name: str, args: argparse.Namespace, profile: str, budget: Budget, started: float,
             argv: list[str] | None) -> dict[str, Any]:
    from biomtl.encoders import DEFAULT_ENCODER_HUB_ID

    return {**asdict(budget), "profile": profile,
            "encoder": DEFAULT_ENCODER_HUB_ID if args.encoder == "embedded-minilm" else args.encoder,
            "machine": machine(), "jobs": args.jobs, "threads": args.threads,
            "wall_s": time.perf_counter() - started,
            "command": f"python -m benchmarks.{name} " + " ".join(argv if argv is not None else sys.argv[1:])}


def save_report(name: str, profile: str, report: dict, markdown: Callable[[dict], str],
                plot: Callable[[dict, Path], None] | None = None) -> None:
    """results/<name>[.<profile>].json, .md (and .png); the markdown is printed too."""
    stem = name + ("" if profile == "quick" else f".{profile}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    if plot:
        plot(report, RESULTS / f"{stem}.png")
    print(markdown(report))


def steps_line(records: list[dict]) -> str:
    """`steps per run: row a–b` from records with "row" and "steps"."""
    by: dict[str, list[int]] = {}
    for r in records:
        by.setdefault(r.get("row", "run"), []).append(r["steps"])
    return "Optimiser steps per run: " + "; ".join(
        f"{row} {min(v)}" + (f"–{max(v)}" if max(v) != min(v) else "") for row, v in by.items()) + "."


def footer(meta: dict) -> list[str]:
    """The closing lines of an experiment's markdown: encoder, machine, wall time, command."""
    return ["", f"Encoder {meta['encoder']}; machine {meta['machine']}; total wall time {meta['wall_s'] / 60:.1f} "
            f"min.  ", f"Command: `{meta['command']}`"]


def grouped_bars(path: Path, groups: list[str], series: dict[str, list[dict]], title: str,
                 ylabel: str = "test F1 (%)", size: tuple[float, float] = (8, 4)) -> None:
    """A grouped bar chart: one bar per series in each group, height = "mean", error bar = "sd"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=size)
    width = 0.8 / len(series)
    for i, (label, cells) in enumerate(series.items()):
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(groups))]
        ax.bar(xs, [c["mean"] for c in cells], width, yerr=[c["sd"] for c in cells], label=label, capsize=2)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------
# device (the raw-loop benchmarks: CUDA when available)
# ---------------------------------------------------------------------------------------------------
def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_label(device: str) -> str:
    """`cpu`, or e.g. `cuda (NVIDIA H200)`: what the meta and the markdown record."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(dev)})"
    return device


def to_device(batch: dict[str, Any], device) -> dict[str, Any]:
    """A collated batch with every tensor value moved to `device`; None and other values are kept."""
    import torch

    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def synchronize(device) -> None:
    """Wait for queued CUDA work (before reading a clock); nothing on the CPU."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
