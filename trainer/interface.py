"""The contract between the training loop / CLI / pipeline and a model family.

The loop, `biomtl evaluate`, `biomtl predict`, the pipeline and the model card know nothing else
about a family. Canonical examples are the rows of `biomtl.data_scripts` datasets:

    {"id": str, "corpus": str, "doc_id": str, "tokens": list[str],
     "spans": [{"start": int, "end": int, "label": str}, ...]}      # end exclusive, word indices

In multi-corpus training, labels are prefixed with their corpus (`"BC5CDR/Chemical"`) and the
model's config lists `corpus_types = {corpus: [prefixed types it annotates]}`; a model must never
be penalised for a type the example's corpus does not annotate.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class MultiCorpusNerModel(Protocol):
    """What each family's `PreTrainedModel` implements (see each modeling_*.py)."""

    config: Any

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                     train_examples: list[dict] | None = None, **config_kwargs: Any):
        """New model whose encoder weights are copied once from a pretrained HF encoder; the trainer
        passes the training examples (a family may build config from them, e.g. MRC dictionary queries)."""

    def collate(self, examples: list[dict], tokenizer) -> dict[str, Any]:
        """Canonical examples -> model inputs and training targets (kwargs of `forward`)."""

    def forward(self, **batch: Any):  # -> ModelOutput with .loss when targets are given
        ...

    def predict_spans(
        self, sentences: list[list[str]], tokenizer, batch_size: int = 32
    ) -> list[list[dict]]:
        """Per sentence, `[{"start", "end", "label", "score"}, ...]` with prefixed labels, sorted."""

    def parameter_groups(self) -> dict[str, list[torch.nn.Parameter]]:
        """Named parameter groups for the optimiser, at least {"encoder": [...], "head": [...]}."""
