"""`MrcMultiTaskForNER`: BIO tagging with MRC and multi-granularity auxiliary tasks.

Spec: ../shared/design/mrc-multitask.md, after Tong et al., "Improving biomedical named entity
recognition with a unified multi-task MRC framework" and Tong, Chen, Shi, "A multi-task approach for
improving biomedical named entity recognition by incorporating multi-granularity information".

One shared encoder, dropout, and five heads (each but `ner` switchable in the config):

* `ner`   Linear(H, C_ner) over tokens; BIO tags read at each word's first sub-word (always on);
* `mrc`   start / end Linear(H, 1) per token (sigmoid + BCE) on `[CLS] query [SEP] passage [SEP]`,
          plus an optional span-match MLP in its memory-lean form `GELU(W_s h_i + W_e h_j) -> 1`;
* `mtcls` Linear(H, K * C_mt) token tags O / B-Single / B-Multi / I-Multi;
* `bcls`  Linear(H, K * 2) "has an entity?" and `mcls` Linear(H, K * 4) "0 / 1 / 2 / 3+ entities",
          both on a pooled sentence vector (max / mean / cls pooling).

K is the number of corpora when `config.aux_heads_per_corpus` (default; else 1).

**Multi-corpus training** (beyond the papers, which are single-corpus). A sentence from corpus c is
never punished for types c does not annotate:

* NER (`ner_loss_scope="corpus"`, default): the sentence's softmax is restricted to `O` plus c's own
  `B-`/`I-` labels: other corpora's label logits are replaced by the dtype minimum before the
  cross-entropy (`masked_fill`, whose backward is exactly zero there). An unannotated chemical in a
  NCBI-disease sentence can thus be tagged `O` or `B-BC5CDR/Chemical` at no cost; the model learns
  chemicals only from BC5CDR. At inference the argmax runs over all labels.
* MRC: examples are built only for c's types (other types are unknown, not negatives).
* bCLS / mCLS / mtCLS: their targets pool c's types, so each corpus has its own output rows and a
  sentence is scored only by its corpus's rows.

Inference (`predict_spans`) uses the NER head only (no query in the default `separate` mode);
`extract_spans_mrc` runs the MRC head as an analysis API.

Shipped as Hub remote code: torch/transformers imports and single-dot sibling imports only.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .bio_head import (
    IGNORE_INDEX,
    corpus_label_mask,
    decode_word_logits,
    restricted_cross_entropy,
    token_cross_entropy,
)
from .canonical import validate_example
from .configuration_mrc_multitask import MrcMultiTaskConfig
from .data_report import sentence_key
from .encoder_loading import build_encoder, load_pretrained_encoder
from .family_base import GENERIC_OPTIM, NerFamilyMixin
from .hf_compat import init
from .mrc_examples import (
    MrcFeature,
    build_mrc_feature,
    pair_nearest_end,
    resolve_overlaps,
    select_query_types,
)
from .mrc_labels import (
    MCLS_NUM_CLASSES,
    MTCLS_TAGS,
    bcls_label,
    flatten_spans,
    mcls_label,
    mtcls_ids,
)
from .mrc_queries import REAL_SOURCES, build_query_table, render_query, sample_dictionary_examples
from .subwords import encode_words, fit_and_split, predict_in_windows, sequence_budget, word_budget
from .tag_schemes import spans_to_tags

IGNORE = IGNORE_INDEX


@dataclass
class MrcMultiTaskOutput(ModelOutput):
    """Outputs of `MrcMultiTaskForNER.forward` (B sentences of T sub-words, B_m MRC inputs of T_m).

    Attributes:
        loss: weighted sum of the per-head losses present (None without targets).
        logits: NER logits `[B, T, C_ner]` (read at first sub-words).
        ner_loss, mrc_loss (= start + end (+ match)), mrc_start_loss, mrc_end_loss, mrc_match_loss,
            mtcls_loss, bcls_loss, mcls_loss: scalar per-head losses (None when not computed).
        mtcls_logits: `[B, T, K, C_mt]`; bcls_logits: `[B, K, 2]`; mcls_logits: `[B, K, 4]`.
        start_logits / end_logits: MRC `[B_m, T_m]`; match_logits: `[B_m, T_m, T_m]` only when
            `return_match_logits=True` (dense; analysis only).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    ner_loss: torch.Tensor | None = None
    mrc_loss: torch.Tensor | None = None
    mrc_start_loss: torch.Tensor | None = None
    mrc_end_loss: torch.Tensor | None = None
    mrc_match_loss: torch.Tensor | None = None
    mtcls_loss: torch.Tensor | None = None
    bcls_loss: torch.Tensor | None = None
    mcls_loss: torch.Tensor | None = None
    mtcls_logits: torch.Tensor | None = None
    bcls_logits: torch.Tensor | None = None
    mcls_logits: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    match_logits: torch.Tensor | None = None


# ----------------------------------------------------------------------------------------------
# small pure tensor functions
# ----------------------------------------------------------------------------------------------


def pool_sentence(hidden: torch.Tensor, mask: torch.Tensor, mode: str, cls_proj: nn.Module | None = None,
                  summary_last: bool = False) -> torch.Tensor:
    """Pool `[B, T, H]` hidden states over non-padding positions (mask `[B, T]`) into `[B, H]`.

    `max` fills padding with the dtype minimum on a copy (the input is never modified); `mean` divides
    by the clamped count; `cls` applies `tanh(cls_proj(h))` to the summary token (first position, or
    the last non-padding one when `summary_last`).
    """
    keep = mask.bool().unsqueeze(-1)
    if mode == "max":
        return hidden.masked_fill(~keep, torch.finfo(hidden.dtype).min).max(dim=1).values
    if mode == "mean":
        total = (hidden * keep.to(hidden.dtype)).sum(dim=1)
        return total / keep.sum(dim=1).to(hidden.dtype).clamp(min=1e-9)
    if mode == "cls":
        if summary_last:
            t = mask.shape[1]
            idx = t - 1 - mask.long().flip(1).argmax(dim=1)
            vec = hidden[torch.arange(hidden.shape[0], device=hidden.device), idx]
        else:
            vec = hidden[:, 0]
        return torch.tanh(cls_proj(vec))
    raise ValueError(f"sentence_pooling={mode!r}")


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """sum(BCE(logits, labels) * mask) / sum(mask) (spec §5.2); all `[B, T]`."""
    mask = mask.to(logits.dtype)
    loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    return (loss * mask).sum() / mask.sum().clamp(min=1.0)


def _pad(rows: list[list[int]], value: int) -> torch.Tensor:
    width = max(1, max(len(r) for r in rows))
    return torch.tensor([r + [value] * (width - len(r)) for r in rows], dtype=torch.long)


# ----------------------------------------------------------------------------------------------
# the model
# ----------------------------------------------------------------------------------------------


class MrcMultiTaskPreTrainedModel(NerFamilyMixin, PreTrainedModel):
    config_class = MrcMultiTaskConfig
    base_model_prefix = "mrc_multitask"

    @torch.no_grad()
    def _init_weights(self, module):
        """Head layers: normal(0, initializer_range) weights and zero biases (as in the reference)."""
        if isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=self.config.initializer_range)
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)


class MrcMultiTaskForNER(MrcMultiTaskPreTrainedModel):
    """See the module docstring. Build a new model with `MrcMultiTaskForNER.from_encoder(...)`."""

    #: optional heads: a batch without MRC candidates (or a head left out of the loss) gives no gradient
    ddp_find_unused_parameters = True
    card_metadata = {
        "title": "multi-task MRC / multi-granularity NER",
        "papers": [
            {"name": "unified multi-task MRC", "bibtex": (
                "@misc{tong_unified_mrc,\n"
                "  title = {Improving biomedical named entity recognition with a unified multi-task MRC framework},\n"
                "  author = {Tong and Zhuang and Wang and Ying and Wang},\n"
                "  note = {Code: https://github.com/zgzjdx/MT-BioNER}\n"
                "}")},
            {"name": "multi-granularity multi-task", "bibtex": (
                "@inproceedings{tong2021multitask,\n"
                "  title = {A multi-task approach for improving biomedical named entity recognition by incorporating\n"
                "           multi-granularity information},\n"
                "  author = {Tong and Chen and Shi},\n"
                "  booktitle = {Findings of ACL-IJCNLP 2021},\n"
                "  year = {2021},\n"
                "  note = {Code: https://github.com/zgzjdx/MT-BioNER}\n"
                "}")},
        ],
    }

    #: Training recipes, read by `biomtl train` (`recipe: default | paper`; trainer/config.py lays the
    #: chosen one under the user's config). "default" keeps the settings every family shared before
    #: recipes existed (the default heads and decoding are config defaults, chosen on dev:
    #: BENCHMARKS.md, `mrc_heads`); "paper" is the papers' setting (spec §8: batch 32, lr 1e-5,
    #: weight decay 0.01, 10 % warm-up then linear decay, 100 epochs, argmax decoding).
    training_recipes = {
        "default": {
            "epochs": 3, "batch_size": 16, "sampling": "inverse", "early_stopping_patience": 1,
            "optim": dict(GENERIC_OPTIM),
        },
        "paper": {
            "epochs": 100, "batch_size": 32, "sampling": "proportional", "early_stopping_patience": None,
            "optim": {"encoder_lr": 1e-5, "head_lr": 1e-5, "encoder_weight_decay": 0.01, "head_weight_decay": 0.01,
                      "encoder_warmup_epochs": 10.0, "head_warmup_epochs": 10.0, "schedule": "linear",
                      "betas": [0.9, 0.999], "eps": 1e-8, "max_grad_norm": 1.0},
            "model": {"overrides": {"bio_decoding": "argmax"}},
        },
    }

    def __init__(self, config: MrcMultiTaskConfig):
        super().__init__(config)
        enc_cfg = config.encoder_config
        if enc_cfg is None:
            raise ValueError("MrcMultiTaskConfig.encoder_config is required (use from_encoder)")
        if not config.corpus_types:
            raise ValueError("MrcMultiTaskConfig.corpus_types is empty: the model needs at least one corpus")
        self.encoder = build_encoder(enc_cfg)
        hidden = enc_cfg.hidden_size
        heads = set(config.enabled_heads)
        self.num_aux_rows = len(config.corpus_types) if config.aux_heads_per_corpus else 1
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.ner_head = nn.Linear(hidden, len(config.ner_labels))
        self.num_mtcls = len(MTCLS_TAGS[config.mtcls_scheme])
        self.mtcls_head = nn.Linear(hidden, self.num_aux_rows * self.num_mtcls) if "mtcls" in heads else None
        self.bcls_head = nn.Linear(hidden, self.num_aux_rows * 2) if "bcls" in heads else None
        self.mcls_head = nn.Linear(hidden, self.num_aux_rows * MCLS_NUM_CLASSES) if "mcls" in heads else None
        self.cls_pool = (nn.Linear(hidden, hidden) if config.sentence_pooling == "cls"
                         and heads & {"bcls", "mcls"} else None)
        if "mrc" in heads:
            self.start_head = nn.Linear(hidden, 1)
            self.end_head = nn.Linear(hidden, 1)
            if config.mrc_use_match_head:
                width = config.mrc_match_hidden_size or hidden
                self.match_start = nn.Linear(hidden, width)          # W_s h_i + b
                self.match_end = nn.Linear(hidden, width, bias=False)  # W_e h_j
                self.match_out = nn.Linear(width, 1)
        self._init_family_state()  # collate_stats / predict_stats (data_report.py)
        self._query_rng = random.Random(config.query_seed)
        if "mrc" in heads or config.mrc_input_mode == "shared":
            self._fill_missing_queries()
        self.post_init()

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                     train_examples: list[dict] | None = None, user_queries: dict[str, dict] | None = None,
                     query_file: str | None = None, **config_kwargs) -> MrcMultiTaskForNER:
        """A new model whose encoder weights are copied once from a pretrained HF encoder.

        Args:
            encoder_name_or_path: HF encoder id or folder.
            corpus_types: `{corpus: [prefixed types]}`.
            train_examples: canonical TRAINING examples; when given, the dictionary-query mentions are
                sampled from them (k=`dictionary_k`, seed `query_seed`) and stored in the config.
            user_queries: `{type (prefixed or bare): {type_phrase/definition/guideline/
                dictionary_template: text}}` merged over the shipped `mrc_queries.json`.
            query_file: another query JSON file instead of the shipped one.
            **config_kwargs: any `MrcMultiTaskConfig` field.
        """
        encoder, name = load_pretrained_encoder(encoder_name_or_path)
        queries = build_query_table(corpus_types, user_queries, query_file)
        for t, fields in (config_kwargs.pop("mrc_queries", None) or {}).items():
            queries[t] = {**queries.get(t, {}), **fields}
        config = MrcMultiTaskConfig(encoder_config=encoder.config.to_dict(), corpus_types=corpus_types,
                                    mrc_queries=queries, **config_kwargs)
        model = cls._with_pretrained_encoder(config, encoder, name)
        if train_examples is not None:
            model.set_dictionary_examples(train_examples)
        return model

    def set_dictionary_examples(self, train_examples: list[dict], k: int | None = None,
                                seed: int | None = None) -> dict[str, list[str]]:
        """Sample the dictionary-query mentions once from TRAINING examples and store them in the config."""
        k = self.config.dictionary_k if k is None else k
        seed = self.config.query_seed if seed is None else seed
        sampled = sample_dictionary_examples(train_examples, self.config.corpus_types, k=k, seed=seed)
        self.config.dictionary_examples = {t: v for t, v in sampled.items() if v}
        return self.config.dictionary_examples

    @property
    def encoder_name(self) -> str:
        return str(self.config.encoder_config._name_or_path)

    def training_state(self) -> dict:
        """The data report and the query generator's state (negative capping and `random` query draws
        in `collate`), so that a resumed run draws the same queries."""
        version, internal, gauss = self._query_rng.getstate()
        return {**super().training_state(), "query_rng": [version, list(internal), gauss]}

    def load_training_state(self, state: dict) -> None:
        super().load_training_state(state)
        if state.get("query_rng") is not None:
            version, internal, gauss = state["query_rng"]
            self._query_rng.setstate((version, tuple(internal), gauss))

    @property
    def corpus_mask(self) -> torch.Tensor:
        """`[K, C]` bool: the labels each corpus's restricted softmax covers (bio_head.py)."""
        return corpus_label_mask(self.config.corpus_types, self.config.ner_labels)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"encoder": encoder parameters, "head": every head parameter}."""
        enc = [p for p in self.encoder.parameters()]
        enc_ids = {id(p) for p in enc}
        return {"encoder": enc, "head": [p for p in self.parameters() if id(p) not in enc_ids]}

    # ------------------------------------------------------------------ queries

    def _fill_missing_queries(self) -> None:
        """Types without stored query texts (a config built by hand) get them from `mrc_queries.json`
        (or the generic template when the file is absent) now, so they are saved with the config."""
        missing = {c: [t for t in ts if t not in self.config.mrc_queries]
                   for c, ts in self.config.corpus_types.items()}
        if any(missing.values()):
            self.config.mrc_queries.update(build_query_table({c: ts for c, ts in missing.items() if ts}))

    def _query_entry(self, entity_type: str) -> dict[str, str]:
        if entity_type not in self.config.mrc_queries:
            self._fill_missing_queries()
        return self.config.mrc_queries[entity_type]

    def query_text(self, entity_type: str, source: str | None = None, rng: random.Random | None = None
                   ) -> str | None:
        """The query of a type for a source (default: the configured one); None for `none`.

        `random` draws one of definition / guideline / dictionary (the latter only when examples were
        sampled) with `rng` (default: the model's seeded generator).
        """
        source = source or self.config.query_source_for(entity_type)
        if source == "none":
            return None
        examples = self.config.dictionary_examples.get(entity_type)
        if source == "random":
            options = [s for s in REAL_SOURCES if s != "dictionary" or examples]
            source = (rng or self._query_rng).choice(options)
        return render_query(self._query_entry(entity_type), source, examples)

    def _max_query_subwords(self, tokenizer, types: list[str], source: str | None = None) -> int:
        longest = 0
        for t in types:
            src = source or self.config.query_source_for(t)
            sources = [s for s in REAL_SOURCES if s != "dictionary" or self.config.dictionary_examples.get(t)] \
                if src == "random" else [src]
            for s in sources:
                q = self.query_text(t, s)
                if q:
                    longest = max(longest, len(tokenizer(q.split(), is_split_into_words=True,
                                                         add_special_tokens=False)["input_ids"]))
        return longest

    def _input_budget(self, tokenizer) -> int:
        """Sub-words of one input, special tokens (and query) included."""
        return sequence_budget(tokenizer, self.config.max_seq_length, self.config.encoder_config)[0]

    def _passage_budget(self, tokenizer, with_query: bool) -> int:
        """Sub-words left for the sentence words in one input (the tokenizer's own special tokens of a
        single sequence or of a query + sentence pair are counted)."""
        total = self._input_budget(tokenizer)
        if not with_query:
            return word_budget(tokenizer, total)
        budget = total - tokenizer.num_special_tokens_to_add(pair=True) - \
            self._max_query_subwords(tokenizer, self.config.entity_types)
        if budget < 8:
            raise ValueError(f"queries leave only {budget} sub-words for the sentence "
                             f"(max_seq_length={self.config.max_seq_length}); shorten mrc_queries")
        return budget

    # ------------------------------------------------------------------ collate

    def collate(self, examples: list[dict], tokenizer) -> dict:
        """Canonical examples -> kwargs of `forward` (inputs and every enabled head's targets).

        The NER input of a sentence is what `predict_spans` sees (the full budget; the query takes
        room only in the shared mode). Sentences too long for one input are split at word boundaries
        that cut no mention when possible (`subwords.split_for_training`). Counted per sentence in
        `self.collate_stats` (data_report.py): `sentences_split`, `mentions_cut`, `overlong_words`,
        `empty_sentences`, `overlapping_mentions_dropped` (left out of the NER/mtCLS targets, kept for
        MRC), `mrc_examples`, `mrc_mentions_dropped` and `mrc_overlong_words` (see `_mrc_passages`).
        """
        cfg = self.config
        heads = set(cfg.enabled_heads)
        shared = cfg.mrc_input_mode == "shared"
        with_mrc = "mrc" in heads
        # the NER input gets the same budget as in prediction (`predict_spans`): the query only takes
        # room in the shared mode; the separate MRC inputs are split further below when needed
        budget = self._passage_budget(tokenizer, with_query=shared)
        label_id = {lab: i for i, lab in enumerate(cfg.ner_labels)}
        corpus_index = {c: k for k, c in enumerate(cfg.corpus_types)}
        rows = []  # (corpus, words, spans in chunk coordinates, sentence key)
        found: dict[str, Counter] = {}  # per sentence, what had to change
        for i, ex in enumerate(examples):
            corpus, tokens, spans = validate_example(ex, i, cfg.corpus_types)
            key = sentence_key(ex)
            counter = found.setdefault(key, Counter())
            if not tokens:
                counter["empty_sentences"] = 1
                continue
            split = fit_and_split(tokenizer, tokens, spans, budget)
            counter.update(overlong_words=split.replaced, sentences_split=int(len(split.chunks) > 1),
                           mentions_cut=len(split.lost))
            rows += [(corpus, words, inside, key) for words, inside in split.pieces()]
        if not rows:
            raise ValueError("collate: no non-empty sentence in the batch")

        flat_rows = []
        for _, _, spans, key in rows:
            kept, dropped = flatten_spans(spans)
            found[key]["overlapping_mentions_dropped"] += len(dropped)
            flat_rows.append(kept)

        batch: dict = {"corpus_ids": torch.tensor([corpus_index[r[0]] for r in rows], dtype=torch.long)}
        if shared:
            only_type = cfg.entity_types[0]
            feats = [build_mrc_feature(tokenizer, self.query_text(only_type), words,
                                       [(s, e) for s, e, _ in spans])
                     for (_, words, spans, _) in rows]
            batch.update(self._stack_features(feats, prefix=""))
            firsts = [f.word_first for f in feats]
            if with_mrc:
                batch.update(self._mrc_targets(feats, prefix="mrc_"))
        else:
            enc = encode_words(tokenizer, [r[1] for r in rows], max_length=self._input_budget(tokenizer))
            batch.update(enc.inputs)
            firsts = [[int(p) for p in enc.first_subword[b, : enc.num_words[b]]] for b in range(len(rows))]
        width = batch["input_ids"].shape[1]

        def token_rows(values_per_word: list[list[int]]) -> torch.Tensor:
            out = torch.full((len(rows), width), IGNORE, dtype=torch.long)
            for b, (vals, pos) in enumerate(zip(values_per_word, firsts)):
                for v, p in zip(vals, pos):
                    out[b, p] = v
            return out

        batch["labels"] = token_rows([[label_id[t] for t in spans_to_tags(kept, len(r[1]), "BIO")]
                                      for r, kept in zip(rows, flat_rows)])
        if "mtcls" in heads:
            batch["mtcls_labels"] = token_rows([mtcls_ids(kept, len(r[1]), cfg.mtcls_scheme)
                                                for r, kept in zip(rows, flat_rows)])
        if "bcls" in heads:
            batch["bcls_labels"] = torch.tensor([bcls_label(r[2]) for r in rows], dtype=torch.long)
        if "mcls" in heads:
            batch["mcls_labels"] = torch.tensor([mcls_label(r[2]) for r in rows], dtype=torch.long)
        if with_mrc and not shared:
            feats = []
            mrc_budget = self._passage_budget(tokenizer, with_query=True)
            for corpus, words, spans, key in self._mrc_passages(self._mrc_rows(rows), tokenizer, mrc_budget, found):
                types = cfg.corpus_types[corpus]
                positive = {t for _, _, t in spans}
                for t in select_query_types(types, positive, cfg.mrc_max_queries_per_sentence, self._query_rng):
                    f = build_mrc_feature(tokenizer, self.query_text(t), words,
                                          [(s, e) for s, e, tt in spans if tt == t])
                    found[key].update(mrc_examples=1, mrc_mentions_dropped=f.dropped_spans)
                    feats.append(f)
            batch.update(self._stack_features(feats, prefix="mrc_"))
            batch.update(self._mrc_targets(feats, prefix="mrc_"))
        for key, counter in found.items():
            for name, n in counter.items():
                self.collate_stats.record(name, key, n)
        return batch

    def _mrc_rows(self, rows: list[tuple]) -> list[tuple]:
        """The rows that get MRC examples: all, or `round(mrc_sentence_fraction * len(rows))` of them
        (at least one) drawn with the family's own random state (saved with the training state)."""
        frac = self.config.mrc_sentence_fraction
        if frac >= 1.0:
            return rows
        k = max(1, round(frac * len(rows)))
        return [rows[i] for i in sorted(self._query_rng.sample(range(len(rows)), k))]

    def _mrc_passages(self, rows: list[tuple], tokenizer, budget: int, found: dict[str, Counter]) -> list[tuple]:
        """The NER rows cut further to fit the MRC inputs next to their query (`budget` sub-words):
        only the auxiliary MRC task sees the shorter pieces; mentions such a cut drops are counted per
        sentence in `found[key]["mrc_mentions_dropped"]` (the NER targets keep them), words longer than
        the whole MRC budget in `mrc_overlong_words`."""
        out = []
        for corpus, words, spans, key in rows:
            split = fit_and_split(tokenizer, words, spans, budget)
            found[key].update(mrc_overlong_words=split.replaced, mrc_mentions_dropped=len(split.lost))
            out += [(corpus, piece, inside, key) for piece, inside in split.pieces()]
        return out

    @staticmethod
    def _stack_features(feats: list[MrcFeature], prefix: str) -> dict[str, torch.Tensor]:
        out = {f"{prefix}input_ids": _pad([f.input_ids for f in feats], 0),
               f"{prefix}attention_mask": _pad([f.attention_mask for f in feats], 0)}
        if feats[0].token_type_ids is not None:
            out[f"{prefix}token_type_ids"] = _pad([f.token_type_ids for f in feats], 0)
        return out

    @staticmethod
    def _mrc_targets(feats: list[MrcFeature], prefix: str) -> dict[str, torch.Tensor]:
        gold = [(b, i, j) for b, f in enumerate(feats) for i, j in f.gold_pairs]
        return {
            f"{prefix}start_labels": _pad([f.start_labels for f in feats], 0),
            f"{prefix}end_labels": _pad([f.end_labels for f in feats], 0),
            f"{prefix}start_mask": _pad([f.start_mask for f in feats], 0),
            f"{prefix}end_mask": _pad([f.end_mask for f in feats], 0),
            f"{prefix}gold_pairs": torch.tensor(gold, dtype=torch.long).reshape(-1, 3),
        }

    # ------------------------------------------------------------------ forward

    def _encode(self, input_ids, attention_mask, token_type_ids) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return self.dropout(self.encoder(**kwargs).last_hidden_state)

    def _select_rows(self, shaped: torch.Tensor, corpus_ids: torch.Tensor | None) -> torch.Tensor:
        """`[B, (T,) K, classes]` -> the rows of each sentence's corpus `[B, (T,) classes]`."""
        if self.num_aux_rows == 1:
            return shaped[..., 0, :]
        if corpus_ids is None:
            raise ValueError("corpus_ids is required for auxiliary-head losses with several corpora")
        if shaped.dim() == 3:  # [B, K, classes]
            return shaped[torch.arange(shaped.shape[0], device=shaped.device), corpus_ids]
        index = corpus_ids.view(-1, 1, 1, 1).expand(-1, shaped.shape[1], 1, shaped.shape[-1])
        return shaped.gather(2, index).squeeze(2)

    def ner_loss_fn(self, logits: torch.Tensor, labels: torch.Tensor, corpus_ids: torch.Tensor | None
                    ) -> torch.Tensor:
        """Cross-entropy at labelled positions (`config.token_loss_reduction`); with
        `ner_loss_scope="corpus"` each sentence's softmax covers only `O` and its corpus's labels
        (bio_head.py: others masked to the dtype minimum)."""
        restricted = self.config.ner_loss_scope == "corpus" and len(self.config.corpus_types) > 1
        if restricted and corpus_ids is None:
            raise ValueError("corpus_ids is required for the NER loss when the model has several corpora")
        return restricted_cross_entropy(logits, labels, corpus_ids, self.corpus_mask if restricted else None,
                                        self.config.token_loss_reduction)

    def _match_logits_at(self, hidden: torch.Tensor, b: torch.Tensor, i: torch.Tensor, j: torch.Tensor
                         ) -> torch.Tensor:
        """Match logits of the pairs (b, i, j) only: `[N]` (the sparse, memory-lean path)."""
        x = self.match_start(hidden[b, i]) + self.match_end(hidden[b, j])
        return self.match_out(self.dropout(F.gelu(x))).squeeze(-1)

    def match_logits_dense(self, hidden: torch.Tensor) -> torch.Tensor:
        """All pairs `[B, T, T]` via `W_s h_i + W_e h_j` (broadcast add, never a `[B,T,T,2H]` concat)."""
        ps, pe = self.match_start(hidden), self.match_end(hidden)
        x = ps[:, :, None, :] + pe[:, None, :, :]
        return self.match_out(self.dropout(F.gelu(x))).squeeze(-1)

    def _match_loss(self, hidden, start_logits, end_logits, start_labels, end_labels, start_mask, end_mask,
                    gold_pairs) -> torch.Tensor:
        """BCE over candidate pairs (spec §5.2 "pred_and_gold"), averaged over the candidates."""
        bsz, t = start_logits.shape
        tri = torch.ones(t, t, dtype=torch.bool, device=hidden.device).triu()
        valid = start_mask.bool()[:, :, None] & end_mask.bool()[:, None, :] & tri
        pred = (start_logits > 0)[:, :, None] & (end_logits > 0)[:, None, :]
        gold_se = (start_labels == 1)[:, :, None] & (end_labels == 1)[:, None, :]
        cand = valid & (pred | gold_se)
        gold = torch.zeros_like(cand)
        if gold_pairs is not None and gold_pairs.numel():
            gold[gold_pairs[:, 0], gold_pairs[:, 1], gold_pairs[:, 2]] = True
        cap = self.config.mrc_match_max_candidates
        per_example = cand.view(bsz, -1).sum(1)
        for b in torch.nonzero(per_example > cap).flatten().tolist():
            score = (start_logits[b][:, None] + end_logits[b][None, :]).detach()
            score = score.masked_fill(gold[b] & cand[b], float("inf")).masked_fill(~cand[b], float("-inf"))
            keep = torch.zeros(t * t, dtype=torch.bool, device=hidden.device)
            keep[score.view(-1).topk(cap).indices] = True
            cand[b] = keep.view(t, t) & cand[b]
        if self.config.mrc_match_loss_mode == "dense":
            logits = self.match_logits_dense(hidden)
            loss = F.binary_cross_entropy_with_logits(logits, gold.to(logits.dtype), reduction="none")
            m = cand.to(logits.dtype)
            return (loss * m).sum() / (m.sum() + 1e-10)
        b, i, j = cand.nonzero(as_tuple=True)
        logits = self._match_logits_at(hidden, b, i, j)
        loss = F.binary_cross_entropy_with_logits(logits, gold[b, i, j].to(logits.dtype), reduction="sum")
        return loss / (b.numel() + 1e-10)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        corpus_ids: torch.Tensor | None = None,
        mtcls_labels: torch.Tensor | None = None,
        bcls_labels: torch.Tensor | None = None,
        mcls_labels: torch.Tensor | None = None,
        mrc_input_ids: torch.Tensor | None = None,
        mrc_attention_mask: torch.Tensor | None = None,
        mrc_token_type_ids: torch.Tensor | None = None,
        mrc_start_labels: torch.Tensor | None = None,
        mrc_end_labels: torch.Tensor | None = None,
        mrc_start_mask: torch.Tensor | None = None,
        mrc_end_mask: torch.Tensor | None = None,
        mrc_gold_pairs: torch.Tensor | None = None,
        return_match_logits: bool = False,
        output_attentions: bool | None = None, output_hidden_states: bool | None = None, return_dict: bool | None = None,
    ) -> MrcMultiTaskOutput | tuple:
        """Run the encoder and every enabled head; losses for the targets given.

        Args:
            input_ids / attention_mask / token_type_ids: `[B, T]` sentence inputs (query-augmented in
                `shared` mode).
            labels: `[B, T]` NER tag ids at first sub-words, -100 elsewhere.
            corpus_ids: `[B]` index of each sentence's corpus in `config.corpus_types`.
            mtcls_labels: `[B, T]` (-100 outside first sub-words); bcls_labels / mcls_labels: `[B]`.
            mrc_input_ids / mrc_attention_mask / mrc_token_type_ids: `[B_m, T_m]` query + passage inputs
                (`separate` mode; absent in `shared` mode, where the MRC head reads `input_ids`).
            mrc_start_labels / mrc_end_labels / mrc_start_mask / mrc_end_mask: `[B_m, T_m]` 0/1.
            mrc_gold_pairs: `[G, 3]` (example, start position, end position) of the gold mentions.
            return_match_logits: also return dense `[B_m, T_m, T_m]` match logits (memory-hungry).
            output_attentions / output_hidden_states: accepted for transformers' callers (the output
                has neither); return_dict=False gives a tuple.
        """
        if input_ids is None:
            raise ValueError("forward needs input_ids")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        cfg = self.config
        heads = set(cfg.enabled_heads)
        out = MrcMultiTaskOutput()
        hidden = self._encode(input_ids, attention_mask, token_type_ids)
        out.logits = self.ner_head(hidden)
        losses: dict[str, torch.Tensor] = {}
        if labels is not None:
            out.ner_loss = losses["ner"] = self.ner_loss_fn(out.logits, labels, corpus_ids)
        if self.mtcls_head is not None:
            mt = self.mtcls_head(hidden)
            out.mtcls_logits = mt.view(*mt.shape[:-1], self.num_aux_rows, self.num_mtcls)
            if mtcls_labels is not None:
                sel = self._select_rows(out.mtcls_logits, corpus_ids)
                out.mtcls_loss = losses["mtcls"] = token_cross_entropy(sel, mtcls_labels,
                                                                       cfg.token_loss_reduction)
        if self.bcls_head is not None or self.mcls_head is not None:
            summary_last = getattr(cfg.encoder_config, "model_type", "") == "xlnet"
            pooled = pool_sentence(hidden, attention_mask, cfg.sentence_pooling, self.cls_pool, summary_last)
            for name, head, classes, target in (("bcls", self.bcls_head, 2, bcls_labels),
                                                ("mcls", self.mcls_head, MCLS_NUM_CLASSES, mcls_labels)):
                if head is None:
                    continue
                logits = head(pooled).view(-1, self.num_aux_rows, classes)
                setattr(out, f"{name}_logits", logits)
                if target is not None:
                    loss = F.cross_entropy(self._select_rows(logits, corpus_ids), target)
                    setattr(out, f"{name}_loss", loss)
                    losses[name] = loss
        if "mrc" in heads:
            if mrc_input_ids is not None:
                mrc_hidden = self._encode(mrc_input_ids, mrc_attention_mask
                                          if mrc_attention_mask is not None else torch.ones_like(mrc_input_ids),
                                          mrc_token_type_ids)
            elif cfg.mrc_input_mode == "shared":
                mrc_hidden = hidden
            else:
                mrc_hidden = None
            if mrc_hidden is not None:
                out.start_logits = self.start_head(mrc_hidden).squeeze(-1)
                out.end_logits = self.end_head(mrc_hidden).squeeze(-1)
                if return_match_logits and cfg.mrc_use_match_head:
                    out.match_logits = self.match_logits_dense(mrc_hidden)
                if mrc_start_labels is not None:
                    out.mrc_start_loss = masked_bce(out.start_logits, mrc_start_labels, mrc_start_mask)
                    out.mrc_end_loss = masked_bce(out.end_logits, mrc_end_labels, mrc_end_mask)
                    mrc = out.mrc_start_loss + out.mrc_end_loss
                    if cfg.mrc_use_match_head:
                        out.mrc_match_loss = self._match_loss(
                            mrc_hidden, out.start_logits, out.end_logits, mrc_start_labels, mrc_end_labels,
                            mrc_start_mask, mrc_end_mask, mrc_gold_pairs)
                        mrc = mrc + out.mrc_match_loss
                    out.mrc_loss = losses["mrc"] = mrc
        if losses:
            out.loss = sum(cfg.loss_weights.get(h, 0.0) * v for h, v in losses.items())
        return out if return_dict is not False else out.to_tuple()

    # ------------------------------------------------------------------ inference

    def _stable_rng(self, words: list[str], entity_type: str) -> random.Random:
        digest = hashlib.sha256((" ".join(words) + "\x00" + entity_type).encode()).hexdigest()
        return random.Random(f"{self.config.query_seed}:{digest}")

    def predict_spans(self, sentences: list[list[str]], tokenizer, batch_size: int = 32) -> list[list[dict]]:
        """NER-head predictions: per sentence `[{"start", "end", "label", "score"}]` sorted by
        (start, -end, label); `score` = mean probability of the predicted tags over the span's words.

        With several corpora and `ner_decoding="per_corpus"` (default) the tags are decoded once per
        corpus with the same restricted softmax as in training (`O` + that corpus's labels) and the
        spans are merged: the model never learned to compare one corpus's labels with another's, so a
        joint argmax would let an untrained label win. Spans of different corpora may then overlap
        (e.g. `NCBI-disease/Disease` and `BC5CDR/Disease` on the same words). `"joint"`: one argmax
        over all labels (flat output).

        Long sentences are covered by overlapping windows and stitched, over-long words replaced by
        UNK (`subwords.predict_in_windows`, counted in `predict_stats`). In `shared` mode each window
        is prefixed with the configured query (as in training).
        """
        shared = self.config.mrc_input_mode == "shared"
        budget = self._passage_budget(tokenizer, with_query=shared)

        def predict_batch(words_batch: list[list[str]], _sentence_ids: list[int]) -> list[list[dict]]:
            return self._predict_batch(words_batch, tokenizer, shared)

        with self.inference():
            return predict_in_windows(sentences, tokenizer, budget, self.config.window_overlap, batch_size,
                                      predict_batch, self.predict_stats)

    def _predict_batch(self, batch_words: list[list[str]], tokenizer, shared: bool) -> list[list[dict]]:
        device = self.device
        if shared:
            t = self.config.entity_types[0]
            feats = []
            for words in batch_words:
                source = self.config.query_source_for(t)
                query = self.query_text(t, rng=self._stable_rng(words, t)) if source == "random" \
                    else self.query_text(t)
                feats.append(build_mrc_feature(tokenizer, query, words, []))
            inputs = self._stack_features(feats, prefix="")
            firsts = [f.word_first for f in feats]
        else:
            enc = encode_words(tokenizer, batch_words, max_length=self._input_budget(tokenizer))
            inputs = enc.inputs
            firsts = [enc.first_subword[b, : enc.num_words[b]].tolist() for b in range(len(batch_words))]
        inputs = {k: v.to(device) for k, v in inputs.items()}
        hidden = self._encode(inputs["input_ids"], inputs["attention_mask"], inputs.get("token_type_ids"))
        logits = self.ner_head(hidden).float().cpu()
        if self.config.ner_decoding == "per_corpus" and len(self.config.corpus_types) > 1:
            masks = self.corpus_mask  # one restricted softmax per corpus, as in training
        else:
            masks = torch.ones(1, logits.shape[-1], dtype=torch.bool)
        viterbi = self.config.bio_decoding == "viterbi"
        return [decode_word_logits(logits[b, torch.tensor(pos, dtype=torch.long)], self.config.ner_labels, masks,
                                   viterbi)
                for b, pos in enumerate(firsts)]

    def extract_spans_mrc(self, sentences: list[list[str]], tokenizer, types: list[str] | None = None,
                          query_source: str | None = None, nested: bool = False, flat: bool = False,
                          batch_size: int = 32) -> list[dict[str, list[dict]]] | list[list[dict]]:
        """Analysis API: entities from the MRC head (never used by `predict_spans`; spec §7).

        For each sentence and type: encode (query, sentence); starts / ends are the word-boundary
        positions with a positive logit. With the match head, pairs `i <= j` with a positive match
        logit are kept (`nested=True`: every such pair; else each start paired with its nearest end,
        kept if the match logit is positive); without it, each start pairs with its nearest end.
        `score` = mean of the sigmoids of the start, end (and match) logits.

        Returns per sentence `{type: [spans]}`, or with `flat=True` one list per sentence with overlaps
        across types resolved greedily by score.
        """
        if "mrc" not in self.config.enabled_heads:
            raise ValueError("this model has no MRC head (enabled_heads lacks 'mrc')")
        types = list(types or self.config.entity_types)
        for t in types:
            if t not in self.config.entity_types:
                raise ValueError(f"types: {t!r} is not one of {self.config.entity_types}")
        use_match = self.config.mrc_use_match_head
        total = self._input_budget(tokenizer)
        device = self.device
        per_sentence: list[dict[str, list[dict]]] = [{t: [] for t in types} for _ in sentences]

        def predict_batch(pieces: list[list[str]], t: str, source: str) -> list[list[dict]]:
            feats = [build_mrc_feature(tokenizer, self.query_text(t, source, rng=self._stable_rng(piece, t)), piece, [])
                     for piece in pieces]
            inputs = {k: v.to(device) for k, v in self._stack_features(feats, "").items()}
            hidden = self._encode(inputs["input_ids"], inputs["attention_mask"], inputs.get("token_type_ids"))
            s_log = self.start_head(hidden).squeeze(-1).float().cpu()
            e_log = self.end_head(hidden).squeeze(-1).float().cpu()
            out = []
            for b, f in enumerate(feats):
                starts = [i for i, m in enumerate(f.start_mask) if m and s_log[b, i] > 0]
                ends = [j for j, m in enumerate(f.end_mask) if m and e_log[b, j] > 0]
                if use_match and starts and ends:
                    pairs = [(i, j) for i in starts for j in ends if i <= j] if nested else pair_nearest_end(starts, ends)
                    m_log = []
                    if pairs:
                        pi = torch.tensor([p[0] for p in pairs], device=device)
                        pj = torch.tensor([p[1] for p in pairs], device=device)
                        m_log = self._match_logits_at(hidden, torch.full_like(pi, b), pi, pj).float().cpu().tolist()
                    scored = [(i, j, [s_log[b, i], e_log[b, j], torch.tensor(m)])
                              for (i, j), m in zip(pairs, m_log) if m > 0]
                else:
                    scored = [(i, j, [s_log[b, i], e_log[b, j]]) for i, j in pair_nearest_end(starts, ends)]
                spans = []
                for i, j, parts in scored:
                    words_span = f.span_to_words(i, j)
                    if words_span is not None:
                        spans.append({"start": words_span[0], "end": words_span[1], "label": t,
                                      "score": float(torch.stack(parts).sigmoid().mean())})
                out.append(spans)
            return out

        with self.inference():
            for t in types:
                source = query_source or self.config.query_source_for(t)
                budget = word_budget(tokenizer, total, pair=True,
                                     reserved=self._max_query_subwords(tokenizer, [t], source))
                found = predict_in_windows(sentences, tokenizer, budget, self.config.window_overlap, batch_size,
                                           lambda pieces, _ids, t=t, source=source: predict_batch(pieces, t, source))
                for si, spans in enumerate(found):
                    per_sentence[si][t] = spans
        if flat:
            return [resolve_overlaps([sp for spans in d.values() for sp in spans]) for d in per_sentence]
        return per_sentence


MrcMultiTaskForNER.register_for_auto_class("AutoModel")
MrcMultiTaskForNER.token_classification_class = MrcMultiTaskForNER
