"""The typed training configuration: dataclasses, loaded from YAML/JSON plus `key=value` overrides.

    biomtl train run.yaml optim.learning_rate=1e-4 corpora.0.max_train_sentences=500 epochs=2

Override keys are dotted paths; list items are addressed by index; values are parsed as YAML
scalars (`1e-4`, `true`, `[a, b]`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml


@dataclass
class CorpusConfig:
    """One training corpus.

    Attributes:
        name: registry key (`ncbi_disease`) or display name; with `data_dir`, any name (the corpus prefix).
        data_dir: a prepared DatasetDict folder (`biomtl data prepare --output`) instead of the registry.
        source_dir: local folder with the corpus files (default: `TrainConfig.source_dir`).
        renames: type renames applied before prefixing (`{"GENE": "Gene"}`).
        drops: types whose mentions are removed (counted in the data report).
        max_train_sentences / max_eval_sentences: seeded subsets (demos, budgets); None = all.
            `max_eval_sentences` applies to dev and test unless `max_test_sentences` is given.
        max_test_sentences: a seeded test subset of its own size (e.g. a small dev set per epoch
            but a larger test set); None = as `max_eval_sentences`.
        train_fraction: seeded low-resource subsample of the train split (applied first).
        splits: names of the train / dev / test splits in the DatasetDict.
    """

    name: str
    data_dir: str | None = None
    source_dir: str | None = None
    renames: dict[str, str] = field(default_factory=dict)
    drops: list[str] = field(default_factory=list)
    max_train_sentences: int | None = None
    max_eval_sentences: int | None = None
    max_test_sentences: int | None = None
    train_fraction: float = 1.0
    train_split: str = "train"
    dev_split: str = "validation"
    test_split: str = "test"


@dataclass
class ModelConfig:
    """Model family (`sru_ner`, `mrc_multitask`, `layer_sliced_crf`), encoder name/path, and any
    family config field in `overrides` (passed to `from_encoder`)."""

    family: str = "sru_ner"
    encoder: str = "embedded-minilm"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class OptimConfig:
    """AdamW with two parameter groups (encoder / head), per-group warm-up, linear decay.

    `layerwise_lr_decay` < 1 gives encoder layer l (of L) the rate `encoder_lr * decay**(L - l)`
    when the family exposes per-layer groups (`encoder.layer.N`).
    """

    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    encoder_weight_decay: float = 0.01
    head_weight_decay: float = 0.01
    encoder_warmup_epochs: float = 1.0
    head_warmup_epochs: float = 0.5
    decay_epochs: float | None = None  # linear decay reaches 0 here (default: the planned epochs)
    layerwise_lr_decay: float = 1.0
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    max_grad_norm: float = 1.0
    gradient_accumulation_steps: int = 1


@dataclass
class TrainConfig:
    """Everything one training run needs (saved with the run as `train_config.json`)."""

    corpora: list[CorpusConfig] = field(default_factory=list)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    source_dir: str | None = None
    sampling: str = "inverse"  # inverse (equal share per corpus) | proportional | temperature
    temperature: float = 2.0
    samples_per_epoch: int | None = None  # default: mean corpus size (inverse/temperature), total (proportional)
    batch_size: int = 16
    eval_batch_size: int = 64
    length_grouping: bool = True
    epochs: int = 3
    max_steps: int | None = None
    early_stopping_patience: int | None = 5
    selection_metric: str = "dev/merged/average_f1"
    output_dir: str = "runs/biomtl"
    seed: int = 13
    eval_subset_seed: int = 13  # dev/test subsets (max_eval/test_sentences) stay the same across `seed`s
    checkpoint_every_steps: int | None = None  # mid-epoch resumable checkpoints (each epoch end always)
    keep_checkpoints: int = 2
    resume_from: str | None = None  # "latest" or a checkpoint folder
    evaluate_test: bool = True
    log_with: str | None = "tensorboard"  # used only when installed
    push_to_hub: str | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Build a dataclass / list / tuple value of type `tp` from plain data, with clear errors."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return _from_dict(tp, value, where)
    if origin is list:
        (inner,) = get_args(tp) or (Any,)
        if not isinstance(value, list):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return [_coerce(inner, v, f"{where}.{i}") for i, v in enumerate(value)]
    if origin is tuple:
        return tuple(value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float) and isinstance(value, str):  # YAML reads "3e-3" as a string
        try:
            return tp(value)
        except ValueError:
            raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    args = [a for a in get_args(tp) if a is not type(None)]
    if args and value is not None and len(args) == 1:
        return _coerce(args[0], value, where)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def _from_dict(cls, data: dict, where: str = "config"):
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
    return cls(**{k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()})


def apply_override(data: dict, assignment: str) -> None:
    """Apply `a.b.0.c=value` to nested plain data in place."""
    if "=" not in assignment:
        raise ValueError(f"override {assignment!r} is not KEY=VALUE")
    key, raw = assignment.split("=", 1)
    value = yaml.safe_load(raw) if raw != "" else None
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            node = node[int(part)]
        else:
            if part not in node or node[part] is None:
                node[part] = [] if nxt.isdigit() else {}
            node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        idx = int(last)
        if idx == len(node):
            node.append(value)
        else:
            node[idx] = value
    else:
        node[last] = value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    """Read YAML/JSON (or start from defaults), apply overrides, validate types."""
    data: dict = {}
    if path is not None:
        text = Path(path).read_text()
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML/JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the top level must be a mapping")
    def names_to_mappings() -> None:  # corpora may be given as plain names
        if isinstance(data.get("corpora"), list):
            data["corpora"] = [{"name": c} if isinstance(c, str) else c for c in data["corpora"]]

    names_to_mappings()
    for ov in overrides or []:
        apply_override(data, ov)
        names_to_mappings()
    return config_from_dict(data)


def config_from_dict(data: dict) -> TrainConfig:
    """Validate plain data (as in a YAML config; corpora may be plain names) into a TrainConfig."""
    if isinstance(data.get("corpora"), list):
        data = {**data, "corpora": [{"name": c} if isinstance(c, str) else c for c in data["corpora"]]}
    cfg = _from_dict(TrainConfig, data)
    if not cfg.corpora:
        raise ValueError("config: `corpora` is empty; list at least one corpus")
    if cfg.sampling not in ("inverse", "proportional", "temperature"):
        raise ValueError(f"config.sampling: {cfg.sampling!r} is not inverse | proportional | temperature")
    return cfg
