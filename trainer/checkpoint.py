"""Resumable training checkpoints: safetensors + JSON only (no pickle), written atomically.

Layout of `output_dir/checkpoints/`::

    step-000120/
        model.safetensors       model weights (unwrapped state dict)
        optimizer.safetensors   optimizer tensors (exp_avg, exp_avg_sq, step, ...)
        optimizer.json          optimizer param groups and the layout of its state
        rng-<rank>.safetensors  torch RNG state of each process
        state.json              trainer state (epoch, batches done, history, best, ...), python/numpy RNG
    latest                      name of the newest complete checkpoint

A checkpoint is written into a temporary folder that is renamed when complete, then `latest` is
replaced atomically: a crash during a save leaves the previous checkpoint as `latest`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = optimizer.state_dict()
    tensors, layout = {}, {}
    for pid, state in sd["state"].items():
        layout[str(pid)] = {}
        for name, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
                layout[str(pid)][name] = "tensor"
            else:
                layout[str(pid)][name] = value
    return tensors, {"param_groups": sd["param_groups"], "state": layout}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state = {}
    for pid, entries in meta["state"].items():
        state[int(pid)] = {name: (tensors[f"{pid}.{name}"] if kind == "tensor" else kind)
                           for name, kind in entries.items()}
    return {"state": state, "param_groups": meta["param_groups"]}


def capture_python_rng() -> dict:
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state()
    return {"python": [version, list(internal), gauss],
            "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])]}


def restore_python_rng(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))


def write_rng(folder: Path, rank: int) -> None:
    save_file({"torch": torch.get_rng_state()}, str(folder / f"rng-{rank}.safetensors"))


def read_rng(folder: Path, rank: int) -> None:
    path = folder / f"rng-{rank}.safetensors"
    if path.exists():
        torch.set_rng_state(load_file(str(path))["torch"])


def begin_checkpoint(root: Path, step: int) -> Path:
    """Fresh temporary folder for checkpoint `step` (main process)."""
    tmp = root / f".tmp-step-{step:07d}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


def finish_checkpoint(root: Path, tmp: Path, step: int, model_state: dict[str, torch.Tensor],
                      optimizer: torch.optim.Optimizer, scheduler, trainer_state: dict[str, Any],
                      keep: int = 2) -> Path:
    """Write the remaining files, rename the folder into place, point `latest` at it, prune old ones."""
    save_file({k: v.detach().cpu().contiguous() for k, v in model_state.items()}, str(tmp / "model.safetensors"))
    tensors, meta = optimizer_to_tensors(optimizer)
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    meta["scheduler"] = scheduler.state_dict() if scheduler is not None else None
    (tmp / "optimizer.json").write_text(json.dumps(meta, default=_json_default))
    state = dict(trainer_state, rng=capture_python_rng(), step=step)
    (tmp / "state.json").write_text(json.dumps(state, default=_json_default))
    final = root / f"step-{step:07d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _atomic_write_text(root / "latest", final.name)
    complete = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _json_default(obj):
    if isinstance(obj, torch.Tensor):
        return obj.tolist()
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    raise TypeError(f"not JSON-serialisable: {type(obj)}")


def resolve_checkpoint(output_dir: Path, resume_from: str) -> Path:
    root = output_dir / "checkpoints"
    if resume_from == "latest":
        pointer = root / "latest"
        if not pointer.is_file():
            raise FileNotFoundError(f"no checkpoint to resume from in {root} (no 'latest' file)")
        return root / pointer.read_text().strip()
    path = Path(resume_from)
    if not (path / "state.json").is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (no state.json)")
    return path


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler,
                    rank: int = 0) -> dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG states; returns the trainer state."""
    model.load_state_dict(load_file(str(folder / "model.safetensors")))
    meta = json.loads((folder / "optimizer.json").read_text())
    optimizer.load_state_dict(optimizer_from_tensors(load_file(str(folder / "optimizer.safetensors")), meta))
    if scheduler is not None and meta.get("scheduler") is not None:
        scheduler.load_state_dict(meta["scheduler"])
    state = json.loads((folder / "state.json").read_text())
    restore_python_rng(state.pop("rng"))
    read_rng(folder, rank)
    return state


def peek_state(folder: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint without restoring anything (e.g. which phase it is in)."""
    state = json.loads((Path(folder) / "state.json").read_text())
    state.pop("rng", None)
    state.setdefault("phase", 0)
    return state
