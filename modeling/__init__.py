"""Model families. Installed use registers the local classes with the Auto* factories, so
`AutoModel.from_pretrained(ckpt)` needs no `trust_remote_code` when biomtl is installed.

Every other file in this folder ships with each checkpoint as Hub remote code: those files use
single-dot sibling imports only (see ../shared/design/hf-notes.md §1). This file is never shipped.
"""

from .subwords import WordEncoding, encode_words, plan_windows, stitch_window_spans, window_cores

__all__ = ["WordEncoding", "encode_words", "plan_windows", "stitch_window_spans", "window_cores"]

# --- SRU-NER (issue 3) -------------------------------------------------------------------------
from transformers import AutoConfig as _SruAutoConfig  # noqa: E402
from transformers import AutoModel as _SruAutoModel  # noqa: E402

from .configuration_sru_ner import SruNerConfig  # noqa: E402
from .modeling_sru_ner import SruNerForTokenActions  # noqa: E402

_SruAutoConfig.register(SruNerConfig.model_type, SruNerConfig, exist_ok=True)
_SruAutoModel.register(SruNerConfig, SruNerForTokenActions, exist_ok=True)
__all__ += ["SruNerConfig", "SruNerForTokenActions"]
# --- MRC multi-task (issue 5) ------------------------------------------------------------------
from transformers import AutoConfig as _MrcAutoConfig  # noqa: E402
from transformers import AutoModel as _MrcAutoModel  # noqa: E402

from .configuration_mrc_multitask import MrcMultiTaskConfig  # noqa: E402
from .modeling_mrc_multitask import MrcMultiTaskForNER  # noqa: E402

_MrcAutoConfig.register(MrcMultiTaskConfig.model_type, MrcMultiTaskConfig, exist_ok=True)
_MrcAutoModel.register(MrcMultiTaskConfig, MrcMultiTaskForNER, exist_ok=True)
__all__ += ["MrcMultiTaskConfig", "MrcMultiTaskForNER"]
# --- Layer-sliced CRF (issue 6) ----------------------------------------------------------------
from transformers import AutoConfig as _LsAutoConfig  # noqa: E402
from transformers import AutoModel as _LsAutoModel  # noqa: E402

from .configuration_layer_sliced_crf import LayerSlicedCRFConfig  # noqa: E402
from .modeling_layer_sliced_crf import LayerSlicedXLNetCRF  # noqa: E402

_LsAutoConfig.register(LayerSlicedCRFConfig.model_type, LayerSlicedCRFConfig, exist_ok=True)
_LsAutoModel.register(LayerSlicedCRFConfig, LayerSlicedXLNetCRF, exist_ok=True)
__all__ += ["LayerSlicedCRFConfig", "LayerSlicedXLNetCRF"]
