"""Shared fixtures: a tiny random BERT encoder (with the embedded MiniLM tokenizer) and corpora paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPORA_DIR = Path(os.environ.get("BIOMTL_CORPORA", REPO_ROOT.parent / "shared" / "corpora"))


def corpus_path(name: str) -> Path:
    """Path of a shared corpus folder; skips the calling test when the corpora are absent."""
    path = CORPORA_DIR / name
    if not path.exists():
        pytest.skip(f"shared corpus {name} not available at {path}")
    return path


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """A 2-layer, 32-hidden random BERT saved with the MiniLM tokenizer (real word pieces, tiny model)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from biomtl.encoders import embedded_encoder_path

    out = tmp_path_factory.mktemp("tiny_bert")
    tok = AutoTokenizer.from_pretrained(embedded_encoder_path())
    tok.model_max_length = 128
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tok(tiny_encoder_dir):
    """The tiny encoder's tokenizer (the MiniLM word pieces)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_encoder_dir)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine: one torch intra-op thread is several times faster.
    Modules opt in with `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
