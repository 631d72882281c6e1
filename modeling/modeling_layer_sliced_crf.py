"""`LayerSlicedXLNetCRF`: any HF encoder + emission layer + linear-chain CRF with hierarchical
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

Files: this one holds the model (structure, encoding, forward, collate, prediction); the task
surgery (per-task encoder states, the MTL-XC -> MTL-LS hand-over, select / export / add a task) is in
lscrf_tasks.py, the layer-wise learning-rate decay in lscrf_optim.py, the plain-torch training recipe
in lscrf_recipe.py, the CRF in crf.py and the tag schemes in tag_schemes.py.

Each corpus of the family contract's `corpus_types` belongs to one task (see
configuration_layer_sliced_crf.py): by default one task per corpus, so no CRF ever sees a type its
corpus does not annotate. One task per encoder pass: mixed-task batches are split by `task_ids` and
run task by task (the routing is an attribute set around the pass, so `nn.DataParallel` is not
supported; DDP is). `predict_spans` runs every head (or one) and emits each head's spans once per
corpus it serves, with that corpus's prefixed label.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .canonical import flatten_spans, validate_example
from .configuration_layer_sliced_crf import LAYER_PATHS, LayerSlicedCRFConfig
from .crf import ILLEGAL_SCORE, LinearChainCRF
from .data_report import sentence_key
from .encoder_loading import build_encoder, load_pretrained_encoder
from .family_base import GENERIC_OPTIM, NerFamilyMixin
from .hf_compat import init
from .lscrf_optim import LayerwiseDecayMixin
from .lscrf_tasks import TaskSurgeryMixin
from .subwords import encode_words, fit_and_split, predict_in_windows, sequence_budget
from .tag_schemes import X_TAG, allowed_transitions, spans_to_tags, tags_to_spans
from .token_logits import bio_log_probs, joint_token_logits


# ---------------------------------------------------------------------------------------------------
# encoder structure
# ---------------------------------------------------------------------------------------------------
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
class LayerSlicedXLNetCRF(LayerwiseDecayMixin, TaskSurgeryMixin, NerFamilyMixin, PreTrainedModel):
    """Encoder + per-task emission layer and CRF, bottom `num_shared_layers` layers shared.

    Any HF encoder with an ordered layer stack works (BERT family, XLNet, ...): the name keeps the
    paper's XLNet for compatibility with saved checkpoints and code.
    """

    config_class = LayerSlicedCRFConfig
    base_model_prefix = "lscrf"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = False  # the task-routed layers are not checkpointed
    _tied_weights_keys: dict = {}
    #: a step trains only the tasks in its batch: the other tasks' heads and layer copies get no gradient
    ddp_find_unused_parameters = True
    card_metadata = {
        "title": "encoder + CRF with hierarchical (layer-sliced) sharing",
        "papers": [{"name": "hierarchical shared transfer (layer slicing)", "bibtex": (
            "@misc{chai2022hierarchical,\n"
            "  title = {Hierarchical shared transfer learning for biomedical named entity recognition},\n"
            "  author = {Chai and Jin and Shi and Zhan and Zhuo and Yang},\n"
            "  year = {2022},\n"
            "  note = {Code: https://github.com/pwldj/MTL-BioNER}\n"
            "}")}],
    }

    #: Training recipes, read by `biomtl train` (`recipe: default | mtl_ls | paper`; trainer/config.py
    #: lays the chosen one under the user's config). "default" (one phase: STL, or MTL-XC with
    #: `model.overrides.task_grouping: shared`) suits the small embedded encoder and was chosen on
    #: NCBI-disease dev F1 (BENCHMARKS.md, "Recipes"). "mtl_ls" is the hierarchical schedule of §7.4:
    #: phase 1 MTL-XC (one shared head), phase 2 MTL-LS with the bottom round(r*n) layers from phase 1
    #: and the upper layers from the pretrained encoder (`phases.1.overrides.slicing_rate`), Adam
    #: without warm-up and with layer-wise decay, a fresh optimiser per phase. "paper" is §8's STL
    #: run (lr 3e-5, decay 0.9, no warm-up, 30 epochs).
    _OPTIM = GENERIC_OPTIM
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
                  "model": {"overrides": {"crf_reduction": "mean", "constrain_transitions": False}}},
    }

    def __init__(self, config: LayerSlicedCRFConfig):
        super().__init__(config)
        self.encoder = build_encoder(config.encoder_config)
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
        self._init_family_state()  # collate_stats / predict_stats (data_report.py)
        self.post_init()
        self.apply_frozen_parameters()

    # -- HF plumbing -------------------------------------------------------------------------------
    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Emission layers: normal(0, initializer_range), zero bias; CRF scores: zeros (spec §3)."""
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

    def apply_frozen_parameters(self) -> None:
        """`phase2_mode="frozen"` freezes the shared block (embeddings and layers < k)."""
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
        output_attentions: bool | None = None, output_hidden_states: bool | None = None, return_dict: bool | None = None,
    ) -> LayerSlicedCRFOutput | tuple:
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
        `[B, L, num_labels]` over `config.id2label` (see `token_logits`). `output_attentions` /
        `output_hidden_states` are accepted for transformers' callers (the output has neither);
        `return_dict=False` gives a tuple.
        """
        out = self._forward(input_ids, attention_mask, token_type_ids, word_index, word_mask, tags, task_ids, task)
        return out if return_dict is not False else out.to_tuple()

    def _forward(self, input_ids, attention_mask, token_type_ids, word_index, word_mask, tags, task_ids,
                 task) -> LayerSlicedCRFOutput:
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
        return sequence_budget(tokenizer, self.config.max_seq_length, self.config.encoder_config)[0]

    def _word_budget(self, tokenizer) -> int:
        return sequence_budget(tokenizer, self.config.max_seq_length, self.config.encoder_config)[1]

    def collate(self, examples: list[dict], tokenizer) -> dict:
        """Canonical examples -> kwargs of `forward` (inputs, `word_index`, `word_mask`, `tags`, `task_ids`).

        Sentences longer than the sub-word budget are split at word boundaries, never inside a gold
        mention when avoidable (`subwords.split_for_training`). Counted per sentence in
        `self.collate_stats` (data_report.py): `sentences_split`, `mentions_cut` (dropped by a forced
        split), `overlong_words` (replaced by the UNK token), `overlapping_mentions_dropped` (nested or
        overlapping gold spans cannot be tagged: the earlier, longer one is kept), `empty_sentences`
        (no word: nothing for the CRF). With `pack_sentences`, consecutive sentences of the same task
        share one sequence up to the budget (the reference's packing; the CRF then runs across
        sentence boundaries).
        """
        if not isinstance(examples, (list, tuple)):
            raise ValueError("collate expects a list of examples")
        cfg = self.config
        budget = self._word_budget(tokenizer)
        corpus_task = cfg.corpus_task
        rows: list[tuple[list[str], list[str], int]] = []
        sizes: list[int] = []  # sub-words per row
        for i, ex in enumerate(examples):
            corpus, words, spans = validate_example(ex, i, cfg.corpus_types)
            task = corpus_task[corpus]
            tidx = cfg.tasks.index(task)
            key = sentence_key(ex)
            if not words:
                self.collate_stats.record("empty_sentences", key)
                continue
            bare = dict(zip(cfg.task_corpora[task][corpus], cfg.task_types[task]))
            kept, dropped = flatten_spans([(s, e, bare[label]) for s, e, label in spans])
            split = fit_and_split(tokenizer, words, kept, budget)
            for name, n in (("overlapping_mentions_dropped", len(dropped)), ("overlong_words", split.replaced),
                            ("sentences_split", int(len(split.chunks) > 1)), ("mentions_cut", len(split.lost))):
                self.collate_stats.record(name, key, n)
            rows += [(piece, spans_to_tags(inside, len(piece), cfg.tag_scheme), tidx) for piece, inside in split.pieces()]
            sizes += split.sizes()
        if cfg.pack_sentences:
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
        emits only its labels. Long sentences are windowed on word boundaries with the configured
        `window_overlap` and stitched, over-long words replaced by UNK (`subwords.predict_in_windows`,
        both counted in `predict_stats`). The score is the CRF probability that the span's words
        carry exactly the predicted tags.
        """
        if not isinstance(sentences, (list, tuple)):
            raise ValueError("sentences must be a list of word lists (list[list[str]])")
        if corpus is not None:
            if corpus not in self.config.corpus_task:
                raise ValueError(f"unknown corpus {corpus!r}; this model predicts {self.config.corpora}")
            run = [self.config.corpus_task[corpus]]
        elif task is not None:
            run = [self.task_of(task)]
        else:
            run = list(self.config.tasks)
        limit = self.max_sequence_length(tokenizer)
        shared_pass = not self._routed_layers()

        def predict_batch(words_batch: list[list[str]], _sentence_ids: list[int]) -> list[list[dict]]:
            enc = encode_words(tokenizer, words_batch, limit)
            steps, mask, is_first = (t.to(self.device) for t in self._steps(enc))
            inputs = {k: (v.to(self.device) if v is not None else None)
                      for k, v in ((k, enc.inputs.get(k)) for k in ("input_ids", "attention_mask", "token_type_ids"))}
            hidden = self.encode(run[0], **inputs) if shared_pass else None
            out: list[list[dict]] = [[] for _ in words_batch]
            for name in run:
                h = hidden if shared_pass else self.encode(name, **inputs)
                head = self.heads[self.config.task_keys[name]]
                emissions = head(self.gather_steps(h, steps)).float()
                for b, spans in enumerate(self._decode_batch(head, emissions, mask, is_first, name)):
                    for c, labels in self.config.task_corpora[name].items():  # once per corpus the head serves
                        if corpus is None or c == corpus:
                            out[b] += [dict(sp, label=labels[sp["label"]]) for sp in spans]
            return out

        with self.inference():
            return predict_in_windows(sentences, tokenizer, self._word_budget(tokenizer), self.config.window_overlap,
                                      batch_size, predict_batch, self.predict_stats)

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

    @classmethod
    def from_encoder(cls, encoder_name_or_path: str | None, corpus_types: dict[str, list[str]],
                     task_grouping: str | dict = "corpus", num_shared_layers: int | None = None,
                     slicing_rate: float | None = None, train_examples: list[dict] | None = None,
                     **config_kwargs) -> LayerSlicedXLNetCRF:
        """New model from a pretrained HF encoder (weights copied once; heads random).
        `train_examples` is part of the family contract; this family builds nothing from them.

        `task_grouping` maps `corpus_types` onto tasks ("corpus": one head per corpus; "shared":
        one head for all, MTL-XC; see configuration_layer_sliced_crf). Layers >= k are copied into
        every task's copy. Default k = n (all layers shared).
        """
        encoder, recorded = load_pretrained_encoder(encoder_name_or_path)
        enc_cfg = encoder.config
        config_kwargs.setdefault("init_encoder", recorded)
        config = cls._config_for(None, enc_cfg, corpus_types, task_grouping, num_shared_layers, slicing_rate,
                                 config_kwargs)
        model = cls(config)
        plain = encoder.state_dict()
        model.load_encoder_states(plain, {t: plain for t in config.tasks})
        return model

    @property
    def encoder_name(self) -> str:
        return str(self.config.init_encoder or self.config.encoder_config._name_or_path)



def _rows(x: torch.Tensor | None, rows: torch.Tensor) -> torch.Tensor | None:
    return None if x is None else x[rows]



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




LayerSlicedXLNetCRF.register_for_auto_class("AutoModel")
LayerSlicedXLNetCRF.token_classification_class = LayerSlicedXLNetCRF
