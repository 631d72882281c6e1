"""Where the embedded default encoder lives, and how encoder names are resolved (defined once, in
biomtl.modeling.encoder_loading, which ships with every checkpoint)."""

from __future__ import annotations

from .modeling.encoder_loading import (
    EMBEDDED_ENCODER as DEFAULT_ENCODER,
)
from .modeling.encoder_loading import (
    EMBEDDED_ENCODER_HUB_ID as DEFAULT_ENCODER_HUB_ID,
)
from .modeling.encoder_loading import (
    embedded_encoder_path,
    public_encoder_name,
    resolve_encoder_source,
)


def resolve_encoder(name_or_path: str | None) -> str:
    """Where to load an encoder (or its tokenizer) from: `None` / `"embedded-minilm"` -> the embedded
    checkpoint folder; anything else unchanged."""
    return resolve_encoder_source(name_or_path)[0]


__all__ = ["DEFAULT_ENCODER", "DEFAULT_ENCODER_HUB_ID", "embedded_encoder_path", "public_encoder_name",
           "resolve_encoder", "resolve_encoder_source"]
