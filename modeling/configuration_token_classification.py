"""Configuration of `TokenClassificationForNER`: BIO over first sub-words, one shared label space,
a multi-corpus restricted softmax.

Shipped with token-classification checkpoints as Hub remote code.
"""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig

from .canonical import ordered_corpus_types
from .hf_compat import FieldConfig, SubConfigSpec
from .tag_schemes import BIO_DECODINGS, bio_labels
from .token_logits import OwnPipelineConfigMixin

LOSS_SCOPES = ("corpus", "all")
DECODINGS = ("per_corpus", "joint")


class TokenClassificationConfig(OwnPipelineConfigMixin, FieldConfig):
    r"""Configuration of [`TokenClassificationForNER`].

    Args:
        encoder_config: the HF encoder's config (a dict or `PretrainedConfig`); the encoder is built with
            `AutoModel.from_config` (weights come from the checkpoint or `from_encoder`).
        encoder_name_or_path: where the encoder weights came from (a Hub id or folder name; never a path).
        corpus_types: corpus -> prefixed types it annotates; the label space is `O`, then `B-t`, `I-t` of
            every type in corpus order (`id2label`).
        corpus_order: derived; the corpora in insertion order (config.json sorts dict keys).
        prefix_separator: separator between corpus and type in a label ("/").
        loss_scope: "corpus" (default): a sentence's softmax covers `O` plus its own corpus's labels, so
            it is never punished for types its corpus does not annotate; "all": a plain softmax over
            every label (the single-corpus setting; identical with one corpus).
        decoding: "per_corpus" (default): `predict_spans` decodes each corpus's labels with that corpus's
            restricted softmax and merges the spans (which may overlap across corpora); "joint": one
            argmax over all labels (flat output). Identical with one corpus.
        bio_decoding: "viterbi" (default; the most probable well-formed BIO sequence,
            `bio_head.bio_viterbi`; chosen on NCBI-disease dev, +2.0 F1, BENCHMARKS.md) or "argmax"
            (each word's most probable tag, an `I-t` after `O` opening a span: what HF's
            token-classification pipeline does with the logits).
        classifier_dropout: dropout on the encoder states before the classifier.
        initializer_range: std of the classifier's initial weights.
        max_seq_length: sub-words per sequence, special tokens included (capped by the tokenizer and
            the encoder's position table); longer sentences are split for training and windowed for
            prediction with `window_overlap` words of shared context.
    """

    model_type = "token_classification"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder_config: dict | PretrainedConfig | None = None
    encoder_name_or_path: str | None = None
    corpus_types: dict | None = None
    corpus_order: list | None = None
    prefix_separator: str = "/"
    loss_scope: str = "corpus"
    decoding: str = "per_corpus"
    bio_decoding: str = "viterbi"
    classifier_dropout: float = 0.1
    initializer_range: float = 0.02
    max_seq_length: int = 512
    window_overlap: int = 16

    def __post_init__(self, **kwargs):
        self.corpus_types = ordered_corpus_types(self.corpus_types, self.corpus_order)
        self.corpus_order = list(self.corpus_types)
        labels = bio_labels(self.entity_types)
        self.id2label = dict(enumerate(labels))
        self.label2id = {label: i for i, label in enumerate(labels)}
        super().__post_init__(**kwargs)
        for name, value, allowed in (("loss_scope", self.loss_scope, LOSS_SCOPES),
                                     ("decoding", self.decoding, DECODINGS),
                                     ("bio_decoding", self.bio_decoding, BIO_DECODINGS)):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if int(self.max_seq_length) < 4:
            raise ValueError(f"max_seq_length must be >= 4, got {self.max_seq_length}")
        if int(self.window_overlap) < 0:
            raise ValueError(f"window_overlap must be >= 0, got {self.window_overlap}")

    @property
    def entity_types(self) -> list[str]:
        """Every prefixed type, corpus by corpus."""
        return [t for ts in self.corpus_types.values() for t in ts]

    @property
    def labels(self) -> list[str]:
        """BIO labels in id order."""
        return bio_labels(self.entity_types)


TokenClassificationConfig.register_for_auto_class()
