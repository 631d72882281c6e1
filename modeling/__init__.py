"""Model families. Installed use registers the local classes with the Auto* factories, so
`AutoModel.from_pretrained(ckpt)` needs no `trust_remote_code` when biomtl is installed.

Every other file in this folder ships with each checkpoint as Hub remote code: those files use
single-dot sibling imports only (see ../shared/design/hf-notes.md §1). This file is never shipped.
"""

from transformers import AutoConfig, AutoModel, AutoModelForTokenClassification

from .configuration_layer_sliced_crf import LayerSlicedCRFConfig
from .configuration_mrc_multitask import MrcMultiTaskConfig
from .configuration_sru_ner import SruNerConfig
from .modeling_layer_sliced_crf import LayerSlicedXLNetCRF
from .modeling_mrc_multitask import MrcMultiTaskForNER
from .modeling_sru_ner import SruNerForTokenActions
from .pipeline_ner import BiomedicalNerPipeline  # importing registers the in-process `biomedical-ner` task
from .span_conflicts import CONFLICT_MODES, resolve_conflicts
from .subwords import WordEncoding, encode_words, plan_windows, stitch_window_spans, window_cores

for _config, _model in (
    (SruNerConfig, SruNerForTokenActions),
    (MrcMultiTaskConfig, MrcMultiTaskForNER),
    (LayerSlicedCRFConfig, LayerSlicedXLNetCRF),
):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModel.register(_config, _model, exist_ok=True)
    # SRU-NER: a placeholder whose loading explains why (no per-token logits)
    AutoModelForTokenClassification.register(
        _config, getattr(_model, "token_classification_class", _model), exist_ok=True)

__all__ = [
    "BiomedicalNerPipeline",
    "CONFLICT_MODES",
    "LayerSlicedCRFConfig",
    "LayerSlicedXLNetCRF",
    "MrcMultiTaskConfig",
    "MrcMultiTaskForNER",
    "SruNerConfig",
    "SruNerForTokenActions",
    "WordEncoding",
    "encode_words",
    "plan_windows",
    "resolve_conflicts",
    "stitch_window_spans",
    "window_cores",
]
