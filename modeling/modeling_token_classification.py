"""`TokenClassificationForNER`: BIO tagging over first sub-words with one shared label space and a
multi-corpus restricted softmax: the plain encoder + linear layer baseline, and a model users want.

Shipped with token-classification checkpoints as Hub remote code: torch/transformers imports and
single-dot sibling imports only. Built from the shared helpers: canonical.py (example checks),
subwords.py (budget, long sentences, windowed prediction), bio_head.py (the restricted softmax and
its per-corpus decoding), tag_schemes.py (BIO), encoder_loading.py, family_base.py (the contract).

Labels: `O`, then `B-t`, `I-t` for every corpus-prefixed type `t`. A sentence of corpus c is trained
with a softmax over `O` plus c's own labels only, so an unannotated chemical in an NCBI-disease
sentence costs nothing whatever the model tags it; chemicals are learnt from BC5CDR alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .bio_head import IGNORE_INDEX, corpus_label_mask, decode_word_logits, restricted_cross_entropy
from .canonical import flatten_spans, validate_example
from .configuration_token_classification import TokenClassificationConfig
from .data_report import sentence_key
from .encoder_loading import build_encoder, load_pretrained_encoder
from .family_base import NerFamilyMixin
from .hf_compat import init
from .subwords import encode_words, fit_and_split, predict_in_windows, sequence_budget
from .tag_schemes import spans_to_tags


@dataclass
class TokenClassificationNerOutput(ModelOutput):
    """Output of [`TokenClassificationForNER`].

    Attributes:
        loss: scalar token-mean restricted cross-entropy, when `labels` are given.
        logits: `[B, T, C]` per-sub-word logits over `config.id2label`.
        hidden_states / attentions: the encoder's, when asked for.
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


class TokenClassificationForNER(NerFamilyMixin, PreTrainedModel):
    """Encoder + dropout + `Linear(H, C)`; see the module docstring."""

    config_class = TokenClassificationConfig
    base_model_prefix = "token_classification"

    #: Training recipes, read by `biomtl train`. "default" is the plain token-classification setting
    #: that reached test F1 83.2 on NCBI-disease with the embedded encoder outside this project: batch
    #: 32, one learning rate 2e-4 for every parameter, 10 % warm-up (0.3 of 3 epochs), then linear
    #: decay; AdamW with transformers' Trainer defaults otherwise (no weight decay, betas 0.9/0.999,
    #: eps 1e-8, gradient norm 1). All three epochs run; the best dev epoch is kept.
    training_recipes = {
        "default": {
            "epochs": 3, "batch_size": 32, "sampling": "proportional", "early_stopping_patience": None,
            "optim": {"encoder_lr": 2e-4, "head_lr": 2e-4, "encoder_weight_decay": 0.0, "head_weight_decay": 0.0,
                      "encoder_warmup_epochs": 0.3, "head_warmup_epochs": 0.3, "schedule": "linear",
                      "betas": [0.9, 0.999], "eps": 1e-8, "max_grad_norm": 1.0},
        },
    }
    card_metadata = {"title": "BIO token classification over one shared label space with a per-corpus "
                              "restricted softmax", "papers": []}

    def __init__(self, config: TokenClassificationConfig):
        super().__init__(config)
        if not config.corpus_types:
            raise ValueError("TokenClassificationConfig.corpus_types is empty: the model needs at least one corpus")
        self.encoder = build_encoder(config.encoder_config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.encoder_config.hidden_size, len(config.labels))
        self._init_family_state()
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module):
        """The classifier: normal(0, initializer_range) weights, zero bias (the encoder keeps its own)."""
        if module is self.classifier:
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.bias)

    # ------------------------------------------------------------------------------------------
    # construction and optimisation
    # ------------------------------------------------------------------------------------------
    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                     train_examples: list[dict] | None = None, **config_kwargs):
        """The family contract's constructor (trainer/interface.py): the encoder (a Hub id, a folder or
        "embedded-minilm") copied once, a random classifier over the BIO labels of `corpus_types`;
        `config_kwargs` are [`TokenClassificationConfig`] fields, `train_examples` are not needed."""
        encoder, name = load_pretrained_encoder(encoder_name_or_path)
        config = cls.config_class(encoder_config=encoder.config.to_dict(), encoder_name_or_path=name,
                                  corpus_types=corpus_types, **config_kwargs)
        return cls._with_pretrained_encoder(config, encoder, name)

    @property
    def encoder_name(self) -> str:
        return str(self.config.encoder_name_or_path)

    @property
    def corpus_mask(self) -> torch.Tensor:
        """`[K, C]` bool: the labels each corpus's restricted softmax covers (bio_head.py)."""
        return corpus_label_mask(self.config.corpus_types, self.config.labels)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"encoder": the encoder's parameters, "head": the classifier's}."""
        return {"encoder": [p for p in self.encoder.parameters() if p.requires_grad],
                "head": [p for p in self.classifier.parameters() if p.requires_grad]}

    # ------------------------------------------------------------------------------------------
    # forward
    # ------------------------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                corpus_ids: torch.Tensor | None = None, output_attentions: bool | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                ) -> TokenClassificationNerOutput | tuple:
        """Per-sub-word logits and, with `labels`, the restricted loss.

        Args:
            input_ids, attention_mask, token_type_ids: `[B, T]` tokenizer tensors.
            labels: `[B, T]` label ids at each word's first sub-word, -100 elsewhere.
            corpus_ids: `[B]` index of each sentence's corpus in `config.corpus_types` (needed for the
                loss of a multi-corpus model with `loss_scope="corpus"`).
            output_attentions / output_hidden_states: return the encoder's.
            return_dict: False gives a tuple (loss first when computed, then logits).
        """
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        enc = self.encoder(**kwargs, output_attentions=output_attentions, output_hidden_states=output_hidden_states)
        logits = self.classifier(self.dropout(enc.last_hidden_state))
        loss = None
        if labels is not None:
            restricted = self.config.loss_scope == "corpus" and len(self.config.corpus_types) > 1
            loss = restricted_cross_entropy(logits, labels, corpus_ids, self.corpus_mask if restricted else None)
        out = TokenClassificationNerOutput(loss=loss, logits=logits, hidden_states=enc.hidden_states,
                                           attentions=enc.attentions)
        return out if return_dict is not False else out.to_tuple()

    # ------------------------------------------------------------------------------------------
    # data: collate for training, predict_spans for inference
    # ------------------------------------------------------------------------------------------
    def collate(self, examples: list[dict], tokenizer) -> dict[str, torch.Tensor]:
        """Canonical examples -> `forward` kwargs with `labels` and `corpus_ids`.

        Counted per sentence in `collate_stats` (data_report.py): overlapping mentions a flat tagger
        cannot hold, words longer than the budget, sentences split for the budget (`subwords.
        split_for_training`) and the mentions such a split had to drop, empty sentences.
        """
        cfg = self.config
        limit, budget = sequence_budget(tokenizer, cfg.max_seq_length, cfg.encoder_config)
        corpus_index = {c: k for k, c in enumerate(cfg.corpus_types)}
        label_id = cfg.label2id
        rows: list[tuple[int, list[str], list[str]]] = []  # (corpus, words, BIO tags)
        for i, ex in enumerate(examples):
            corpus, tokens, spans = validate_example(ex, i, cfg.corpus_types, cfg.prefix_separator)
            key = sentence_key(ex)
            if not tokens:
                self.collate_stats.record("empty_sentences", key)
                continue
            kept, dropped = flatten_spans(spans)
            split = fit_and_split(tokenizer, tokens, kept, budget)
            for name, n in (("overlapping_mentions_dropped", len(dropped)), ("overlong_words", split.replaced),
                            ("sentences_split", int(len(split.chunks) > 1)), ("mentions_cut", len(split.lost))):
                self.collate_stats.record(name, key, n)
            rows += [(corpus_index[corpus], words, spans_to_tags(inside, len(words), "BIO"))
                     for words, inside in split.pieces()]
        if not rows:
            raise ValueError("collate: no non-empty sentence in the batch")
        enc = encode_words(tokenizer, [words for _, words, _ in rows], limit)
        labels = torch.full(enc.inputs["input_ids"].shape, IGNORE_INDEX, dtype=torch.long)
        for b, (_, words, tags) in enumerate(rows):
            labels[b, enc.first_subword[b, : len(words)]] = torch.tensor([label_id[t] for t in tags])
        return {**enc.inputs, "labels": labels, "corpus_ids": torch.tensor([r[0] for r in rows], dtype=torch.long)}

    def predict_spans(self, sentences: list[list[str]], tokenizer, batch_size: int = 32) -> list[list[dict]]:
        """Per sentence, `[{"start", "end", "label", "score"}, ...]` sorted by (start, -end, label);
        `score` is the mean probability of the predicted tags over the span's words.

        With several corpora and `decoding="per_corpus"` each corpus's labels are decoded with the
        restricted softmax the sentence was trained with (see bio_head.py). Long sentences are
        predicted over windows and stitched (`subwords.predict_in_windows`, counted in `predict_stats`).
        """
        cfg = self.config
        limit, budget = sequence_budget(tokenizer, cfg.max_seq_length, cfg.encoder_config)
        labels = cfg.labels
        per_corpus = cfg.decoding == "per_corpus" and len(cfg.corpus_types) > 1
        masks = self.corpus_mask if per_corpus else torch.ones(1, len(labels), dtype=torch.bool)

        def predict_batch(words_batch: list[list[str]], _sentence_ids: list[int]) -> list[list[dict]]:
            enc = encode_words(tokenizer, words_batch, limit)
            logits = self(**{k: v.to(self.device) for k, v in enc.inputs.items()}).logits.float().cpu()
            return [decode_word_logits(logits[b, enc.first_subword[b, : enc.num_words[b]]], labels, masks,
                                       self.config.bio_decoding == "viterbi")
                    for b in range(len(words_batch))]

        with self.inference():
            return predict_in_windows(sentences, tokenizer, budget, cfg.window_overlap, batch_size, predict_batch,
                                      self.predict_stats)


TokenClassificationForNER.register_for_auto_class("AutoModel")
TokenClassificationForNER.token_classification_class = TokenClassificationForNER
