"""Configuration of `MrcMultiTaskForNER` (spec: ../shared/design/mrc-multitask.md).

Shipped as Hub remote code: only transformers imports and single-dot sibling imports.
"""

from __future__ import annotations

from transformers import AutoConfig, PretrainedConfig

from .canonical import ordered_corpus_types
from .hf_compat import NATIVE_SUB_CONFIGS, SubConfigSpec
from .mrc_labels import MTCLS_TAGS
from .mrc_queries import QUERY_SOURCES
from .tag_schemes import BIO_DECODINGS, bio_labels
from .token_logits import OwnPipelineConfigMixin

ALL_HEADS = ("ner", "mrc", "mtcls", "bcls", "mcls")
#: the default head set, chosen on NCBI-disease dev at 10 % and 100 % of the train split within a
#: training-time cap of 1.5x SRU-NER's (BENCHMARKS.md, `mrc_heads`): NER + MRC had the best mean dev
#: F1 but costs 2.0x; NER + MRC on half of each batch fits the cap but trailed by more than 4 F1 at 10 %
DEFAULT_HEADS = ("ner",)
POOLINGS = ("max", "mean", "cls")
MRC_INPUT_MODES = ("separate", "shared")
NER_LOSS_SCOPES = ("corpus", "all")
TOKEN_LOSS_REDUCTIONS = ("sentence_sum", "token_mean")


def default_loss_weights(enabled_heads: list[str]) -> dict[str, float]:
    """Spec §5.4 defaults: [MRC] alpha=0.7 / beta=0.3; [MG] 0.8 / 0.1 / 0.05 / 0.05.

    When both paper setups are combined (all five heads, experimental) the NER weight of the MRC paper
    (0.7) is used with both auxiliary weight sets.
    """
    has_mrc = "mrc" in enabled_heads
    has_mg = any(h in enabled_heads for h in ("mtcls", "bcls", "mcls"))
    weights = {"ner": 0.7 if has_mrc else (0.8 if has_mg else 1.0), "mrc": 0.3,
               "mtcls": 0.1, "bcls": 0.05, "mcls": 0.05}
    return {h: w for h, w in weights.items() if h in enabled_heads}


class MrcMultiTaskConfig(OwnPipelineConfigMixin, PretrainedConfig):
    r"""Shared encoder + BIO NER head + MRC and multi-granularity auxiliary heads.

    Args:
        encoder_config: the encoder's config (dict or `PretrainedConfig`); the encoder is built with
            `AutoModel.from_config`, never downloaded by name.
        corpus_types: `{corpus: [prefixed types it annotates]}` (insertion order = corpus order).
        corpus_order: derived; the corpora in insertion order (config.json sorts dict keys, so the
            order, which decides the corpus ids of the losses and the auxiliary rows, is restored
            from this list on loading).
        entity_types: ordered type list (default: the types of `corpus_types` in order). The NER labels
            are `O, B-t1, I-t1, B-t2, ...` (also stored as `id2label`).
        enabled_heads: subset of `("ner", "mrc", "mtcls", "bcls", "mcls")`; "ner" is always on.
            Default `DEFAULT_HEADS` = NER alone (chosen on dev within the time cap; BENCHMARKS.md).
            Paper [MRC] = ner+mrc (the best dev F1 at 10 % of NCBI-disease, +3.5 F1, at 2.0x the
            training time), paper [MG] = ner+mtcls+bcls+mcls; all five is experimental.
        loss_weights: `{head: weight}`; default `default_loss_weights(enabled_heads)`.
        mtcls_scheme: "4tag" (O/B-Single/B-Multi/I-Multi, default) or "3class" (O/Single/Multi).
        sentence_pooling: "max" (default), "mean" or "cls" (head-owned tanh projection of the summary
            token) for the bCLS / mCLS heads.
        aux_heads_per_corpus: the bCLS/mCLS/mtCLS targets depend on which types a corpus annotates (a
            NCBI-disease sentence without a disease is "no entity" even if it names a chemical), so by
            default each corpus gets its own output rows and a sentence is scored only by its corpus's
            rows. With a single corpus this is exactly the papers' head.
        ner_loss_scope: "corpus" (default): a sentence's NER softmax runs over `O` plus its own corpus's
            B-/I- labels only, so other corpora's labels get exactly zero gradient from it; "all": a
            plain softmax over every label (the papers' single-corpus setting).
        ner_decoding: "per_corpus" (default): `predict_spans` decodes each corpus's labels with that
            corpus's restricted softmax (matching "corpus" training) and merges the spans, which may
            then overlap across corpora; "joint": one argmax over all labels (flat output; matches
            `ner_loss_scope="all"`). Identical with a single corpus.
        bio_decoding: how the NER head's tags become spans: "viterbi" (default; the most probable
            well-formed BIO sequence, `bio_head.bio_viterbi`; chosen on NCBI-disease dev, +1.6 F1,
            BENCHMARKS.md) or "argmax" (each word's most probable tag; an `I-t` after `O` opens a
            span; the papers' decoding).
        mrc_input_mode: "separate" (default; NER reads `[CLS] s [SEP]`, MRC a second pass over
            `[CLS] q [SEP] s [SEP]`) or "shared" (reproduction of the authors' code; one query-augmented
            input for every head; single entity type only).
        mrc_use_match_head / mrc_match_hidden_size (default: encoder hidden size) /
        mrc_match_max_candidates: the optional span-match head (memory-lean, sparse training loss,
            at most this many candidate pairs per example) / mrc_match_loss_mode ("sparse" | "dense").
            Off by default: the MRC paper's loss is `L_start + L_end`; the authors' code adds the
            match loss (`True`).
        token_loss_reduction: how the token-level NER and mtCLS losses are normalised.
            "sentence_sum" (default, the papers' loss): each sentence's token losses are summed and
            the sums averaged over the sentences of the batch, so the loss weights balance a
            sentence's NER loss against its sentence-level bCLS/mCLS losses as in the papers;
            "token_mean": one mean over every labelled token of the batch (the authors' code),
            which makes the auxiliary heads about one sentence length (~25x) heavier.
        mrc_max_queries_per_sentence: cap of MRC examples per sentence (positives kept, negatives
            sampled); None keeps every type of the sentence's corpus.
        mrc_sentence_fraction: the share of a batch's sentences (drawn anew each batch, at least one)
            that get MRC examples in the separate mode; 1.0 = every sentence (the papers). The MRC
            pass is a second encoder pass over a longer input, so this sets most of the family's
            training cost (BENCHMARKS.md measures it).
        query_source: "guideline" (default), "definition", "dictionary", "none" or "random";
            `query_source_overrides` = `{type: source}` per-type overrides.
        mrc_queries: `{type: {type_phrase, definition, guideline, dictionary_template}}` (filled by
            `from_encoder` from `mrc_queries.json` plus user texts; stored so loads need no data file).
        dictionary_examples: `{type: [mention, ...]}` sampled once from training data (k=`dictionary_k`).
        query_seed: seed of the per-example draws (`random` source, negative capping).
        classifier_dropout: dropout on the encoder output before every head (0.1).
        max_seq_length: sub-word budget of one input (query included); longer sentences are split (training)
            or windowed with `window_overlap` words of context (prediction).
    """

    model_type = "mrc_multitask"
    if NATIVE_SUB_CONFIGS:  # lets from_pretrained(attn_implementation=...) reach the encoder
        sub_configs_defaults = {"encoder_config": SubConfigSpec(config_class=AutoConfig, model_type="bert",
                                                                optional=True)}

    def __init__(
        self,
        encoder_config: dict | PretrainedConfig | None = None,
        corpus_types: dict[str, list[str]] | None = None,
        corpus_order: list[str] | None = None,
        entity_types: list[str] | None = None,
        enabled_heads: list[str] | tuple[str, ...] = DEFAULT_HEADS,
        loss_weights: dict[str, float] | None = None,
        mtcls_scheme: str = "4tag",
        sentence_pooling: str = "max",
        aux_heads_per_corpus: bool = True,
        ner_loss_scope: str = "corpus",
        ner_decoding: str = "per_corpus",
        bio_decoding: str = "viterbi",
        mrc_input_mode: str = "separate",
        mrc_use_match_head: bool = False,
        mrc_match_hidden_size: int | None = None,
        mrc_match_max_candidates: int = 4096,
        mrc_match_loss_mode: str = "sparse",
        token_loss_reduction: str = "sentence_sum",
        mrc_max_queries_per_sentence: int | None = None,
        mrc_sentence_fraction: float = 1.0,
        query_source: str = "guideline",
        query_source_overrides: dict[str, str] | None = None,
        mrc_queries: dict[str, dict[str, str]] | None = None,
        dictionary_examples: dict[str, list[str]] | None = None,
        dictionary_k: int = 3,
        query_seed: int = 2020,
        classifier_dropout: float = 0.1,
        initializer_range: float = 0.02,
        max_seq_length: int = 256,
        window_overlap: int = 16,
        **kwargs,
    ):
        if isinstance(encoder_config, dict):
            enc = dict(encoder_config)
            model_type = enc.pop("model_type", "bert")
            encoder_config = AutoConfig.for_model(model_type, **enc)
        self.encoder_config = encoder_config
        self.corpus_types = ordered_corpus_types(corpus_types, corpus_order, unique=False)
        self.corpus_order = list(self.corpus_types)
        flat = [t for ts in self.corpus_types.values() for t in ts]
        self.entity_types = list(entity_types) if entity_types is not None else list(dict.fromkeys(flat))
        missing = [t for t in flat if t not in self.entity_types]
        if missing:
            raise ValueError(f"corpus_types lists types missing from entity_types: {missing}")
        self.enabled_heads = [h for h in ALL_HEADS if h in set(enabled_heads) | {"ner"}]
        unknown = set(enabled_heads) - set(ALL_HEADS)
        if unknown:
            raise ValueError(f"enabled_heads: unknown heads {sorted(unknown)}; choose from {ALL_HEADS}")
        self.loss_weights = dict(loss_weights) if loss_weights else default_loss_weights(self.enabled_heads)
        bad = set(self.loss_weights) - set(ALL_HEADS)
        if bad:
            raise ValueError(f"loss_weights: unknown heads {sorted(bad)}")
        _check("mtcls_scheme", mtcls_scheme, tuple(MTCLS_TAGS))
        _check("sentence_pooling", sentence_pooling, POOLINGS)
        _check("mrc_input_mode", mrc_input_mode, MRC_INPUT_MODES)
        _check("ner_loss_scope", ner_loss_scope, NER_LOSS_SCOPES)
        _check("ner_decoding", ner_decoding, ("per_corpus", "joint"))
        _check("bio_decoding", bio_decoding, BIO_DECODINGS)
        _check("mrc_match_loss_mode", mrc_match_loss_mode, ("sparse", "dense"))
        _check("token_loss_reduction", token_loss_reduction, TOKEN_LOSS_REDUCTIONS)
        _check("query_source", query_source, QUERY_SOURCES)
        for t, src in (query_source_overrides or {}).items():
            _check(f"query_source_overrides[{t!r}]", src, QUERY_SOURCES)
        uses_mrc_input = "mrc" in self.enabled_heads or mrc_input_mode == "shared"
        if uses_mrc_input and len(self.entity_types) > 1:
            if mrc_input_mode == "shared":
                raise ValueError("mrc_input_mode='shared' supports a single entity type only "
                                 f"(got {len(self.entity_types)}); use 'separate'")
            sources = {query_source, *(query_source_overrides or {}).values()}
            if "none" in sources:
                raise ValueError("query_source='none' cannot tell entity types apart; it needs a single type")
        if mrc_max_queries_per_sentence is not None and mrc_max_queries_per_sentence < 1:
            raise ValueError("mrc_max_queries_per_sentence must be >= 1 or None")
        self.mtcls_scheme = mtcls_scheme
        self.sentence_pooling = sentence_pooling
        self.aux_heads_per_corpus = bool(aux_heads_per_corpus)
        self.ner_loss_scope = ner_loss_scope
        self.ner_decoding = ner_decoding
        self.bio_decoding = bio_decoding
        self.mrc_input_mode = mrc_input_mode
        self.mrc_use_match_head = bool(mrc_use_match_head)
        self.mrc_match_hidden_size = mrc_match_hidden_size
        self.mrc_match_max_candidates = int(mrc_match_max_candidates)
        self.mrc_match_loss_mode = mrc_match_loss_mode
        self.token_loss_reduction = token_loss_reduction
        self.mrc_max_queries_per_sentence = mrc_max_queries_per_sentence
        if not 0.0 < float(mrc_sentence_fraction) <= 1.0:
            raise ValueError(f"mrc_sentence_fraction must be in (0, 1], got {mrc_sentence_fraction}")
        self.mrc_sentence_fraction = float(mrc_sentence_fraction)
        self.query_source = query_source
        self.query_source_overrides = dict(query_source_overrides or {})
        self.mrc_queries = {t: dict(v) for t, v in (mrc_queries or {}).items()}
        self.dictionary_examples = {t: list(v) for t, v in (dictionary_examples or {}).items()}
        self.dictionary_k = int(dictionary_k)
        self.query_seed = int(query_seed)
        self.classifier_dropout = float(classifier_dropout)
        self.initializer_range = float(initializer_range)
        self.max_seq_length = int(max_seq_length)
        self.window_overlap = int(window_overlap)
        labels = bio_labels(self.entity_types)
        kwargs["id2label"] = dict(enumerate(labels))
        kwargs["label2id"] = {lab: i for i, lab in enumerate(labels)}
        super().__init__(**kwargs)

    @property
    def ner_labels(self) -> list[str]:
        """BIO tags of the NER head, in id order."""
        return bio_labels(self.entity_types)

    @property
    def corpora(self) -> list[str]:
        return list(self.corpus_types)

    def query_source_for(self, entity_type: str) -> str:
        """The query source used for a type (per-type override, else `query_source`)."""
        return self.query_source_overrides.get(entity_type, self.query_source)

    def to_dict(self):
        out = super().to_dict()
        if isinstance(self.encoder_config, PretrainedConfig):
            out["encoder_config"] = self.encoder_config.to_dict()
        return out


def _check(name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name}={value!r}; expected one of {list(allowed)}")


MrcMultiTaskConfig.register_for_auto_class()
