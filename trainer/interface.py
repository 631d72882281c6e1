"""The contract between a model family and everything that uses it: the training loop, `biomtl
evaluate` / `predict`, the pipeline, the export and the model card know nothing else about a family.

Canonical examples are the rows of `biomtl.data_scripts` datasets:

    {"id": str, "corpus": str, "doc_id": str, "tokens": list[str],
     "spans": [{"start": int, "end": int, "label": str}, ...]}      # end exclusive, word indices

In multi-corpus training, labels are prefixed with their corpus (`"BC5CDR/Chemical"`) and the
model's config lists `corpus_types = {corpus: [prefixed types it annotates]}`; a model must never
be penalised for a type the example's corpus does not annotate.

Every family implements all of it (the shared half once, in modeling/family_base.py); the trainer
calls it unconditionally, never probing for attributes. The families are listed in one registry,
`biomtl.modeling.FAMILIES`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch


class FamilyConfig(Protocol):
    """What callers read from a family's `PretrainedConfig`."""

    model_type: str
    #: corpus -> prefixed types, in corpus order (kept across save/load)
    corpus_types: dict[str, list[str]]
    #: the encoder's config (its `max_position_embeddings` bounds a tokenizer's `model_max_length`)
    encoder_config: Any


@runtime_checkable
class MultiCorpusNerModel(Protocol):
    """What each family's `PreTrainedModel` implements (see each modeling_*.py)."""

    config: FamilyConfig
    #: `{recipe name: plain config data}`, laid under the user's config by `biomtl train`
    training_recipes: ClassVar[dict[str, dict]]
    #: `{"title": str, "papers": [{"name": str, "bibtex": str}, ...]}` for the model card
    card_metadata: ClassVar[dict[str, Any]]
    #: DDP's `find_unused_parameters`: True only where a step can leave parameters without a gradient
    ddp_find_unused_parameters: ClassVar[bool]
    #: the class a checkpoint's `AutoModelForTokenClassification` entry names
    token_classification_class: ClassVar[type]
    #: per-sentence counts of what `collate` changed (data_report.DataReport; restored on resume)
    collate_stats: Mapping[str, int]
    #: counts of what `predict_spans` changed, per prediction call (data_report.PREDICT_COUNTS)
    predict_stats: Counter

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                     train_examples: list[dict] | None = None, **config_kwargs: Any):
        """New model whose encoder weights are copied once from a pretrained HF encoder; the trainer
        passes the training examples (a family may build config from them, e.g. MRC dictionary queries)."""

    @classmethod
    def from_previous_phase(cls, previous, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                            **config_kwargs: Any):
        """The model of a phase that starts from the previous phase's trained model (ValueError in a
        family that trains in one phase)."""

    @property
    def encoder_name(self) -> str:
        """The encoder's public name (a Hub id or a folder name, never a local path)."""

    @property
    def label_separator(self) -> str:
        """The separator between corpus and type in labels."""

    def prepare_examples(self, examples: list[dict], tokenizer) -> list[dict]:
        """The units trained and evaluated on (e.g. merged sentences); by default the examples."""

    def collate(self, examples: list[dict], tokenizer) -> dict[str, Any]:
        """Canonical examples -> model inputs and training targets (kwargs of `forward`)."""

    def forward(self, **batch: Any):  # -> ModelOutput with .loss when targets are given
        """Unknown keyword arguments are a TypeError; `token_type_ids`, `return_dict`,
        `output_attentions` and `output_hidden_states` are accepted."""

    def predict_spans(self, sentences: list[list[str]], tokenizer, batch_size: int = 32) -> list[list[dict]]:
        """Per sentence, `[{"start", "end", "label", "score"}, ...]` with prefixed labels, sorted; leaves
        the model's train/eval mode as it found it."""

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Named parameter groups for the optimiser, at least {"encoder": [...], "head": [...]}."""

    def layer_lr_scale(self, name: str, decay: float) -> tuple[str, float]:
        """(group, learning-rate factor) of encoder parameter `name` under layer-wise decay."""

    def training_state(self) -> dict[str, Any]:
        """JSON-serialisable non-weight state a resume needs (data report, random generators)."""

    def load_training_state(self, state: dict[str, Any]) -> None:
        """Restore what `training_state` returned."""
