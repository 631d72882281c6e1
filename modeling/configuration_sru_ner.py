"""Configuration of SRU-NER (Ruano et al., 2025, "Effective Multi-Task Learning for Biomedical
Named Entity Recognition", BioNLP 2025; reference implementation github.com/Priberam/sru-ner).

Shipped with SRU-NER checkpoints as Hub remote code.
"""

from __future__ import annotations

import math

from transformers import AutoConfig, PretrainedConfig

from .canonical import ordered_corpus_types
from .hf_compat import FieldConfig, SubConfigSpec
from .token_logits import OwnPipelineConfigMixin


class SruNerConfig(OwnPipelineConfigMixin, FieldConfig):
    r"""Configuration of [`SruNerForTokenActions`].

    Label space: `corpus_types` maps each corpus to the (corpus-prefixed) entity types it annotates,
    e.g. `{"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"], "NCBI-disease": ["NCBI-disease/Disease"]}`.
    Type ids follow that order (corpus insertion order, then the listed types); `type_names` and
    `type_dataset` are derived from it. With `M` types there are `2M+2` actions (EOA, SH, TR/RE per
    type) and `latent_multiplier * (2M+2)` SRU latent vectors.

    Args:
        encoder_config: the HF encoder's config (a dict or `PretrainedConfig`); the encoder is built
            with `AutoModel.from_config` (weights come from the checkpoint or `from_encoder`).
        encoder_name_or_path: where the encoder weights came from (a Hub id; informational).
        corpus_types: corpus -> prefixed types.
        corpus_order: derived; the corpora in insertion order (config.json sorts dict keys, so the
            order, hence the type ids, is restored from this list on loading).
        type_names / type_dataset: derived; prefixed types in id order and the corpus of each.
        prefix_separator: separator between corpus and type in a label ("/").
        multi_task: use the multi-corpus targets of spec §7.3; None = iff more than one corpus.
        latent_multiplier: `k`, with `J = k * (2M+2)` latent vectors (2; 10 for GENIA).
        half_context: `hc`, relative positions in `[-hc, hc]` get their own vector (150).
        dropout_mlp_input / dropout_positions / dropout_latents / dropout_slot_scores: dropouts.
        alpha_init / alpha_trainable: scale of the state in the position-aware keys (1.0, frozen).
        max_tokens: sub-word limit per sequence including special tokens (405; capped by the
            tokenizer's `model_max_length` and the encoder's position table).
        window_overlap: words shared by consecutive inference windows of an over-long sentence.
        sentence_merging: pack consecutive sentences of a document into sequences of at most
            `max_tokens` (spec §9 "maximize": on for GENIA/CoNLL in the paper, off for the multi-corpus
            model); applied to canonical examples by `SruNerForTokenActions.merge_examples`.
        train_step_factor: multi-task training loop cap, `ceil(factor * A)` steps.
        infer_step_factor: per-sentence inference step cap, `ceil(factor * (N+2))`.
        soft_target_coef: multiplier of the soft targets of other corpora's actions (1.0).
        decode_threshold: a TR/RE fires when its probability exceeds this (0.5).
        loss_reduction: "rows" (reference: mean over every non-empty (sentence, step) row) or
            "sentences" (paper: per-sentence mean over steps, then mean over sentences).
        sru_checkpointing: training only: activation checkpointing of each SRU read (keeps one
            (B, Q, d) state per step instead of three tensors; measured -40% SRU-NER training memory
            for about +25% step time, issue 3 measurement (former benchmarks/sru_speed); spec §8.4).
        stop_check_interval: steps between host checks of "every sentence finished" (any value
            gives identical results; larger = fewer device syncs).
        detach_sh_soft_target: detach sigma(u_SH) used as the target of a postponed SH (recommended
            True; the reference does not detach, spec §13.8).
        mask_post_eoa_rows: exclude rows after a sentence's EOA from the multi-task loss
            (recommended True; the reference includes them, §13.11).
        strict_last_word_bound: reference decoder bug dropping mentions that end at the last word
            (recommended False, §8.2).
        legacy_position_quirks: reference position table quirks: row `hc+3` frozen at zero and offset
            `hc+1` mapped to the CLS row (recommended False, §5).
        batch_dependent_stopping: reference inference loop (global cap `ceil(1.5 Q_max)`, batch stops
            when every sentence passed sigma(EOA) > 0.5; results depend on batch peers). Recommended
            False: per-sentence stop at argmax EOA and per-sentence cap (§8.4).
        centre_attention_init: early-learning fix (BENCHMARKS.md, "SRU-NER early learning"). With the
            paper's latents L = 0 every key is 0, the SRU's attention is uniform, and the write of a
            TR at the pointer's slot changes the read by 1/Q only: the step after a TR looks like the
            TR step itself, so sigma(TR) sits at the same value on both and never fires. A value
            c > 0 initialises one latent along the relative-position row of offset 0, so that at
            initialisation the slot just written scores c above the others (about 8 -> 98 % of the
            attention): the model sees its own last action from step 1. 0 = the paper's L = 0.
        action_bias_init: "prior" (fix) starts the action logits' biases at the log-odds of a
            typical action distribution (SH 0.9, EOA 0.04, each TR/RE 0.01) instead of 0 ("zero",
            the reference), so the first steps are not spent pushing every rare action down from 0.5.

    The optimisation settings (spec §11) are not model configuration: they are the family's
    training recipes (`SruNerForTokenActions.training_recipes`), read by `biomtl train`.
    """

    model_type = "sru_ner"
    sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}

    encoder_config: dict | PretrainedConfig | None = None
    encoder_name_or_path: str | None = None
    corpus_types: dict | None = None
    corpus_order: list | None = None
    type_names: list | None = None
    type_dataset: list | None = None
    prefix_separator: str = "/"
    multi_task: bool | None = None
    latent_multiplier: int = 2
    half_context: int = 150
    dropout_mlp_input: float = 0.1
    dropout_positions: float = 0.2
    dropout_latents: float = 0.2
    dropout_slot_scores: float = 0.0
    alpha_init: float = 1.0
    alpha_trainable: bool = False
    max_tokens: int = 405
    window_overlap: int = 16
    sentence_merging: bool = False
    train_step_factor: float = 2.0
    infer_step_factor: float = 1.5
    soft_target_coef: float = 1.0
    decode_threshold: float = 0.5
    loss_reduction: str = "rows"
    stop_check_interval: int = 8
    sru_checkpointing: bool = False
    detach_sh_soft_target: bool = True
    mask_post_eoa_rows: bool = True
    strict_last_word_bound: bool = False
    legacy_position_quirks: bool = False
    batch_dependent_stopping: bool = False
    centre_attention_init: float = 8.0
    action_bias_init: str = "prior"

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        # config.json stores dicts with sorted keys: the saved corpus order restores insertion order
        corpus_types = ordered_corpus_types(self.corpus_types, self.corpus_order)
        names = [t for ts in corpus_types.values() for t in ts]
        if self.type_names is not None and list(self.type_names) != names:
            raise ValueError(f"type_names {self.type_names} disagree with corpus_types (expected {names})")
        self.corpus_types = corpus_types
        self.corpus_order = list(corpus_types)
        self.type_names = names
        self.type_dataset = [c for c, ts in corpus_types.items() for _ in ts]
        if self.loss_reduction not in ("rows", "sentences"):
            raise ValueError(f"loss_reduction must be 'rows' or 'sentences', got {self.loss_reduction!r}")
        if self.action_bias_init not in ("prior", "zero"):
            raise ValueError(f"action_bias_init must be 'prior' or 'zero', got {self.action_bias_init!r}")
        if self.centre_attention_init < 0:
            raise ValueError(f"centre_attention_init must be >= 0, got {self.centre_attention_init}")
        for field in ("latent_multiplier", "half_context", "max_tokens", "stop_check_interval"):
            if int(getattr(self, field)) < 1:
                raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
        for field in ("train_step_factor", "infer_step_factor"):
            if not getattr(self, field) >= 1.0 or math.isinf(getattr(self, field)):
                raise ValueError(f"{field} must be a finite number >= 1, got {getattr(self, field)}")

    # ----- derived sizes -----
    @property
    def num_types(self) -> int:
        return len(self.type_names)

    @property
    def num_actions(self) -> int:
        return 2 * len(self.type_names) + 2

    @property
    def num_latents(self) -> int:
        return self.latent_multiplier * self.num_actions

    @property
    def is_multi_task(self) -> bool:
        return bool(self.multi_task) if self.multi_task is not None else len(self.corpus_types) > 1


SruNerConfig.register_for_auto_class()
