"""Model families and their registry (the only one: the trainer, CLI and model card look families
up here). Installed use registers the local classes with the Auto* factories, so
`AutoModel.from_pretrained(ckpt)` needs no `trust_remote_code` when biomtl is installed.

Every other file in this folder ships with each checkpoint as Hub remote code: those files use
single-dot sibling imports only (see ../shared/design/hf-notes.md §1). This file is never shipped.
"""

from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

from .configuration_layer_sliced_crf import LayerSlicedCRFConfig
from .configuration_mrc_multitask import MrcMultiTaskConfig
from .configuration_sru_ner import SruNerConfig
from .configuration_token_classification import TokenClassificationConfig
from .modeling_layer_sliced_crf import LayerSlicedXLNetCRF
from .modeling_mrc_multitask import MrcMultiTaskForNER
from .modeling_sru_ner import SruNerForTokenActions
from .modeling_token_classification import TokenClassificationForNER
from .pipeline_ner import BiomedicalNerPipeline  # importing registers the in-process `biomedical-ner` task
from .span_conflicts import CONFLICT_MODES, resolve_conflicts
from .subwords import WordEncoding, encode_words, plan_windows, stitch_window_spans, window_cores

#: model families by `config.model_type` (`model.family` in a training config) -> model class
FAMILIES: dict[str, type] = {
    "sru_ner": SruNerForTokenActions,
    "mrc_multitask": MrcMultiTaskForNER,
    "layer_sliced_crf": LayerSlicedXLNetCRF,
    "token_classification": TokenClassificationForNER,
}


def get_family(name: str) -> type:
    """The model class of a family name (`sru_ner`, `mrc_multitask`, `layer_sliced_crf`,
    `token_classification`; dashes work as underscores)."""
    key = str(name).lower().replace("-", "_")
    if key not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[key]


for _model in FAMILIES.values():
    _config = _model.config_class
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    # SRU-NER: a placeholder whose loading explains why (no per-token logits)
    AutoModelForTokenClassification.register(_config, _model.token_classification_class, exist_ok=True)

__all__ = [
    "BiomedicalNerPipeline",
    "CONFLICT_MODES",
    "FAMILIES",
    "LayerSlicedCRFConfig",
    "LayerSlicedXLNetCRF",
    "MrcMultiTaskConfig",
    "MrcMultiTaskForNER",
    "SruNerConfig",
    "SruNerForTokenActions",
    "TokenClassificationConfig",
    "TokenClassificationForNER",
    "WordEncoding",
    "encode_words",
    "get_family",
    "plan_windows",
    "resolve_conflicts",
    "stitch_window_spans",
    "window_cores",
]
