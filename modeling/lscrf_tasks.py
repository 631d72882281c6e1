"""Task surgery of the layer-sliced CRF family (spec layer-sliced-crf.md §6.3, §7.4): the plain-layout
encoder states of a task, the MTL-XC -> MTL-LS hand-over, and copies with fewer, one or more tasks.

Shipped with layer-sliced checkpoints as Hub remote code: torch/transformers and sibling imports only.
`LayerSlicedXLNetCRF` (modeling_layer_sliced_crf.py) inherits these methods from `TaskSurgeryMixin`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .configuration_layer_sliced_crf import LayerSlicedCRFConfig, plan_tasks
from .encoder_loading import load_pretrained_encoder

_HEAD_FIELDS = {
    "layer_path", "tag_scheme", "subword_mode", "crf_reduction", "constrain_transitions", "emission_dropout",
    "initializer_range", "max_seq_length", "window_overlap", "pack_sentences", "category", "phase2_mode"}


def _loadable(cfg: dict) -> dict:
    """A config dict without the informational / bookkeeping entries."""
    drop = {"slicing_rate", "corpus_types", "task_labels", "auto_map", "transformers_version", "architectures"}
    return {k: v for k, v in cfg.items() if k not in drop}



class TaskSurgeryMixin:
    """Encoder states per task, the MTL-LS initialisation and task selection / export / addition."""

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
    def from_mtl_xc(cls, xc_model, pretrained_encoder, corpus_types: dict | None = None,
                    num_shared_layers: int | None = None, slicing_rate: float | None = None,
                    task_grouping: str | dict = "corpus", **config_kwargs):
        """MTL-LS initialisation (spec §6.3, §7.4): embeddings and layers < k from the trained MTL-XC
        model, layers >= k of every task from the *pretrained* encoder, emission layers and CRFs
        random. `pretrained_encoder`: a name/path or a loaded bare HF encoder. Default tasks: one per
        corpus of the MTL-XC model."""
        if not isinstance(xc_model, cls):
            raise ValueError("xc_model must be a LayerSlicedXLNetCRF (the trained MTL-XC model)")
        if isinstance(pretrained_encoder, nn.Module):
            encoder, recorded = pretrained_encoder, getattr(pretrained_encoder.config, "_name_or_path", None)
            recorded = config_kwargs.pop("init_encoder", None) or xc_model.config.init_encoder or recorded
        else:
            encoder, recorded = load_pretrained_encoder(pretrained_encoder)
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
    def from_previous_phase(cls, previous, encoder_name_or_path: str, corpus_types: dict[str, list[str]],
                            **config_kwargs):
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

    def _rebuilt(self, config: LayerSlicedCRFConfig, sources: dict[str, tuple]):
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

    def select_tasks(self, tasks: list[str]):
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

    def export_task(self, task: str):
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
                 task_name: str | None = None):
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
            enc = pretrained_encoder if isinstance(pretrained_encoder, nn.Module) else \
                load_pretrained_encoder(pretrained_encoder)[0]
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


