"""Shared plumbing of the benchmark entry points: corpus location, machine description, seeded
statistics, and running many `biomtl` trainer runs side by side (one process and one torch thread
each), so that a profile uses both cores of a small machine without oversubscribing them.

Each run is described by a plain `biomtl train` config (a dict, also written to
`<output_dir>/train_config.json` by the trainer), so any row of a benchmark table can be rerun alone
with `biomtl train --config <that file>`.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable
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
            f"{platform.python_version()}, torch {torch.__version__}")


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
