"""What every benchmark driver needs: where the corpora are, a quiet offline environment, and a
one-line description of the machine a number was measured on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def corpora_dir() -> Path:
    """`$BIOMTL_CORPORA`, else ../shared/corpora next to the checkout."""
    env = os.environ.get("BIOMTL_CORPORA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "corpora"


def quiet_env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def machine() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}, python "
            f"{platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)")
