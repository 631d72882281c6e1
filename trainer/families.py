"""Model families known to the trainer, by `config.model_type` (imported lazily)."""

from __future__ import annotations

import importlib

FAMILIES: dict[str, tuple[str, str]] = {
    "sru_ner": ("biomtl.modeling.modeling_sru_ner", "SruNerForTokenActions"),
    "mrc_multitask": ("biomtl.modeling.modeling_mrc_multitask", "MrcMultiTaskForNER"),
    "layer_sliced_crf": ("biomtl.modeling.modeling_layer_sliced_crf", "LayerSlicedXLNetCRF"),
}


def get_family(name: str):
    """The model class of a family name (`sru_ner`, `mrc_multitask`, `layer_sliced_crf`)."""
    key = name.lower().replace("-", "_")
    if key not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    module, cls = FAMILIES[key]
    return getattr(importlib.import_module(module), cls)
