"""What every model family shares: the family contract's common half (trainer/interface.py lists
all of it), implemented once.

Shipped with every checkpoint as Hub remote code: torch and sibling imports only.

A family's model class derives from `NerFamilyMixin` and `PreTrainedModel` and sets the class
attributes below; what differs between families (`from_encoder`, `collate`, `forward`,
`predict_spans`, `parameter_groups`, `encoder_name`) each family writes itself. A family whose
encoder layers are not one plain stack (the layer-sliced CRF) overrides `layer_lr_scale`; a family
with its own random state (the MRC query draws) extends `training_state`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import torch

from .data_report import DataReport
from .encoder_loading import encoder_weights

_LAYER_CONTAINERS = ("layer", "layers", "h", "block")

#: The optimiser settings every family shared before recipes existed (AdamW, encoder / head rates
#: 1e-4 / 1e-3, weight decay 0.01, warm-up 1 / 0.5 epochs, linear decay); the families' `default`
#: recipes start from them (BENCHMARKS.md says how each default was chosen on dev).
GENERIC_OPTIM: dict[str, Any] = {
    "encoder_lr": 1e-4, "head_lr": 1e-3, "encoder_weight_decay": 0.01, "head_weight_decay": 0.01,
    "encoder_warmup_epochs": 1.0, "head_warmup_epochs": 0.5, "schedule": "linear",
    "betas": [0.9, 0.98], "eps": 1e-6, "max_grad_norm": 1.0}


def encoder_layer_index(name: str) -> int | None:
    """Index of the transformer block a parameter name belongs to (`...layer.3....`), else None."""
    parts = name.split(".")
    for i, p in enumerate(parts[:-1]):
        if p in _LAYER_CONTAINERS and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


class NerFamilyMixin:
    """The shared half of the family contract.

    Class attributes each family sets:
        training_recipes: `{name: plain config data}` read by `biomtl train` (`recipe: default`).
        card_metadata: `{"title": str, "papers": [{"name": str, "bibtex": str}, ...]}` for the model card.
        ddp_find_unused_parameters: whether some parameters can go without a gradient in a step
            (task-routed layers, optional heads): DDP must then look for them.
        token_classification_class: the class `AutoModelForTokenClassification` loads from a
            checkpoint (the model class itself when its `forward` gives per-token logits).
    """

    #: every family reads a plain HF encoder: SDPA attention and gradient checkpointing pass through
    _supports_sdpa: ClassVar[bool] = True
    supports_gradient_checkpointing: ClassVar[bool] = True
    training_recipes: ClassVar[dict[str, dict]] = {}
    card_metadata: ClassVar[dict[str, Any]] = {}
    ddp_find_unused_parameters: ClassVar[bool] = False
    token_classification_class: ClassVar[type | None] = None

    def _init_family_state(self) -> None:
        """Counters of what `collate` / `predict_spans` had to change (data_report.py); call in `__init__`."""
        self.collate_stats = DataReport()
        self.predict_stats: Counter = Counter()

    # -- names ---------------------------------------------------------------------------------------
    @property
    def label_separator(self) -> str:
        """The separator between corpus and type in labels (`"BC5CDR/Chemical"`)."""
        return str(getattr(self.config, "prefix_separator", None) or "/")

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, then the parameters the config freezes are frozen again
        (loading makes every parameter trainable)."""
        loaded = super().from_pretrained(*args, **kwargs)
        (loaded[0] if isinstance(loaded, tuple) else loaded).apply_frozen_parameters()
        return loaded

    def apply_frozen_parameters(self) -> None:
        """Set `requires_grad=False` on the parameters the config freezes (default: none); called at
        the end of `__init__` and after `from_pretrained`."""

    @classmethod
    def from_previous_phase(cls, previous, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                            **config_kwargs):
        """The model of a phase that starts from the previous phase's model (`phases.N.start: previous`)."""
        raise ValueError(f"{cls.__name__} trains in one phase: `start: previous` is not supported by this family")

    @classmethod
    def _with_pretrained_encoder(cls, config, encoder, name: str):
        """The model of `config` (built from the pretrained `encoder`'s config) with the encoder's
        weights copied once; `name` (never a local path) is recorded as the encoder config's name."""
        config.encoder_config._name_or_path = name
        model = cls(config)
        model.encoder.load_state_dict(encoder_weights(encoder), strict=True)
        return model

    def prepare_examples(self, examples: list[dict], tokenizer) -> list[dict]:
        """The examples this family trains and evaluates on (default: the sentences unchanged)."""
        return list(examples)

    # -- optimisation ------------------------------------------------------------------------------
    def layer_lr_scale(self, name: str, decay: float) -> tuple[str, float]:
        """(group, learning-rate factor) of encoder parameter `name` (as in `named_parameters`) under
        layer-wise decay: block l of L gets `decay ** (L - 1 - l)`, embeddings `decay ** L`, anything
        above the blocks (final norms) 1."""
        depth = int(self.config.encoder_config.num_hidden_layers)
        layer = encoder_layer_index(name)
        if layer is None:
            return ("embeddings", decay ** depth) if "emb" in name else ("top", 1.0)
        return f"layer_{layer}", decay ** (depth - 1 - layer)

    # -- state saved in training checkpoints -----------------------------------------------------------
    def training_state(self) -> dict[str, Any]:
        """JSON-serialisable state that is not a weight but must survive a resume."""
        return {"collate_stats": self.collate_stats.state_dict()}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.collate_stats.load_state_dict(state.get("collate_stats") or {})

    # -- inference ---------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """The device of the weights; the CPU when no torch weight is left (a model whose encoder and
        head run as ONNX Runtime graphs, see trainer/onnx_runtime.py)."""
        first = next(self.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    @contextmanager
    def inference(self) -> Iterator[None]:
        """Eval mode and no autograd for a prediction call; the previous train/eval mode comes back."""
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                yield
        finally:
            self.train(was_training)
