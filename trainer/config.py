"""The typed training configuration: dataclasses, loaded from YAML/JSON plus `key=value` overrides.

    biomtl train run.yaml optim.encoder_lr=1e-4 corpora.0.max_train_sentences=500 epochs=2

Override keys are dotted paths; list items are addressed by index; values are parsed as YAML
scalars (`1e-4`, `true`, `[a, b]`).

Recipes. Each model family declares its recommended training recipes (`training_recipes` on its
model class: optimiser groups and rates, weight decay, warm-up, schedule, loss reduction, epochs,
early-stopping patience, sampling, phases). `load_config` / `config_from_dict` lay the chosen recipe
(`recipe: default`, or e.g. `paper`) under what the user wrote: every field the user sets in the
file or as an override wins, whatever its value; the dataclass defaults below fill what neither
sets. `biomtl train CONFIG --print-config` shows the result.
"""

from __future__ import annotations

import copy
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
    """Model family (`sru_ner`, `mrc_multitask`, `layer_sliced_crf`, `token_classification`), encoder name/path, and any
    family config field in `overrides` (passed to `from_encoder`)."""

    family: str = "sru_ner"
    encoder: str = "embedded-minilm"
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class PhaseConfig:
    """One phase of a multi-phase schedule (e.g. the layer-sliced family's MTL-XC -> MTL-LS).

    Attributes:
        name: shown in logs and results (`mtl_xc`, `mtl_ls`).
        epochs: this phase's budget; fractional epochs are honoured (the last epoch is cut short).
        overrides: model config fields for this phase, laid over `model.overrides`.
        start: `encoder` builds the model from the pretrained encoder (`from_encoder`);
            `previous` asks the family to build it from the previous phase's trained model
            (`from_previous_phase`).

    Each phase gets a fresh optimiser and LR schedule. Only the last phase selects the best
    epoch on dev and stops early; earlier phases are evaluated on dev every epoch for the curves.
    """

    name: str
    epochs: float
    overrides: dict[str, Any] = field(default_factory=dict)
    start: str = "encoder"


@dataclass
class OptimConfig:
    """AdamW with two parameter groups (encoder / head), per-group warm-up, then a schedule.

    `schedule`: `linear` (decay to 0 at the end of the planned epochs, or `decay_epochs`) or
    `constant` (after the warm-up). `layerwise_lr_decay` < 1 gives encoder layer l (of L) the rate
    `encoder_lr * decay**(L - 1 - l)` (the family decides its own factors through `layer_lr_scale`).
    """

    encoder_lr: float = 1e-4
    head_lr: float = 1e-3
    encoder_weight_decay: float = 0.01
    head_weight_decay: float = 0.01
    encoder_warmup_epochs: float = 1.0
    head_warmup_epochs: float = 0.5
    decay_epochs: float | None = None  # linear decay reaches 0 here (default: the planned epochs)
    schedule: str = "linear"
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
    recipe: str = "default"  # the family's training recipe laid under this config (see the module docstring)
    optim: OptimConfig = field(default_factory=OptimConfig)
    phases: list[PhaseConfig] = field(default_factory=list)  # empty: one phase of `epochs`
    source_dir: str | None = None
    sampling: str = "inverse"  # inverse (equal share per corpus) | proportional | temperature
    temperature: float = 2.0
    samples_per_epoch: int | None = None  # default: mean corpus size (inverse/temperature), total (proportional)
    batch_size: int = 16
    eval_batch_size: int = 64
    length_grouping: bool = True
    max_batch_words: int | None = None  # cut batches above this many padded words (size x longest sentence)
    epochs: float = 3
    max_steps: int | None = None
    early_stopping_patience: int | None = 2  # epochs without a dev improvement (ties go to the later epoch)
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

    def to_yaml(self) -> str:
        data = self.to_dict()
        data["optim"]["betas"] = list(data["optim"]["betas"])
        return yaml.safe_dump(data, sort_keys=False)

    def phase_plan(self) -> list[PhaseConfig]:
        """The phases this run trains: `phases`, or one phase of `epochs` from the encoder."""
        return list(self.phases) or [PhaseConfig(name="train", epochs=self.epochs)]

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
            if not part.isdigit() or int(part) >= len(node):
                raise ValueError(f"override {key!r}: {'.'.join(parts[:i]) or 'config'} is a list of {len(node)} "
                                 f"item(s); {part!r} is not an index into it")
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
    """Read YAML/JSON (or start from defaults), lay the family's recipe under it, apply the
    overrides on top, validate types."""
    data: dict = {}
    if path is not None:
        text = Path(path).read_text()
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ValueError(f"{path}: not valid YAML/JSON: {err}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the top level must be a mapping")
    return build_config(data, overrides or [])


def _names_to_mappings(data: dict) -> None:
    """Corpora may be given as plain names."""
    if isinstance(data.get("corpora"), list):
        data["corpora"] = [{"name": c} if isinstance(c, str) else c for c in data["corpora"]]


def family_recipe(family: str, recipe: str) -> dict[str, Any]:
    """The named training recipe of a model family (plain data in the shape of a config)."""
    from ..modeling import get_family

    recipes = get_family(family).training_recipes
    if recipe not in recipes:
        raise ValueError(f"config.recipe: family {family!r} has no recipe {recipe!r}; it has {sorted(recipes)}")
    return copy.deepcopy(recipes[recipe])


def merge_under(base: Any, top: Any) -> Any:
    """`top` laid over `base`: mappings merge key by key (recursively), anything else in `top` wins."""
    if isinstance(base, dict) and isinstance(top, dict):
        out = dict(base)
        for key, value in top.items():
            out[key] = merge_under(base[key], value) if key in base else value
        return out
    return top


def build_config(data: dict, overrides: list[str] | None = None) -> TrainConfig:
    """The one path from plain data to a TrainConfig: the family's recipe, laid under the user's
    data, then the dotted overrides on top (so every field the user sets wins), then validation."""
    if not isinstance(data, dict):
        raise ValueError("config: the top level must be a mapping")
    user = copy.deepcopy(data)
    _names_to_mappings(user)
    model = user.get("model") or {}
    if not isinstance(model, dict):
        raise ValueError(f"config.model: expected a mapping, got {model!r}")
    family, name = model.get("family", ModelConfig.family), user.get("recipe", TrainConfig.recipe)
    user_keys = set(user)
    for ov in overrides or []:  # which family and recipe, once the overrides are applied
        key, _, raw = ov.partition("=")
        user_keys.add(key.split(".")[0])
        value = yaml.safe_load(raw) if raw else None
        if key == "model.family":
            family = value
        elif key == "model" and isinstance(value, dict) and "family" in value:
            family = value["family"]
        elif key == "recipe":
            name = value
    recipe = family_recipe(str(family), str(name))
    if recipe.get("phases") and "epochs" in user_keys and "phases" not in user_keys:
        raise ValueError(f"config.epochs: recipe {name!r} of {family!r} trains in phases "
                         f"({[p['name'] for p in recipe['phases']]}); set phases.N.epochs instead")
    merged = merge_under(recipe, user)
    for ov in overrides or []:
        apply_override(merged, ov)
        _names_to_mappings(merged)
    return _validated(merged)


def config_from_dict(data: dict) -> TrainConfig:
    """Validate plain data (as in a YAML config; corpora may be plain names), with the family's
    recipe laid under it, into a TrainConfig."""
    return build_config(data)


def _validated(data: dict) -> TrainConfig:
    cfg = _from_dict(TrainConfig, data)
    if not cfg.corpora:
        raise ValueError("config: `corpora` is empty; list at least one corpus")
    if cfg.sampling not in ("inverse", "proportional", "temperature"):
        raise ValueError(f"config.sampling: {cfg.sampling!r} is not inverse | proportional | temperature")
    if cfg.optim.schedule not in ("linear", "constant"):
        raise ValueError(f"config.optim.schedule: {cfg.optim.schedule!r} is not linear | constant")
    for i, phase in enumerate(cfg.phases):
        if phase.start not in ("encoder", "previous"):
            raise ValueError(f"config.phases.{i}.start: {phase.start!r} is not encoder | previous")
        if phase.epochs <= 0:
            raise ValueError(f"config.phases.{i}.epochs: must be > 0, got {phase.epochs}")
        if i == 0 and phase.start == "previous":
            raise ValueError("config.phases.0.start: the first phase has no previous phase; use `encoder`")
    if cfg.epochs <= 0:
        raise ValueError(f"config.epochs: must be > 0, got {cfg.epochs}")
    if cfg.max_batch_words is not None and cfg.max_batch_words < 1:
        raise ValueError(f"config.max_batch_words: must be a positive number of words or null, got {cfg.max_batch_words}")
    if cfg.phases:  # the run's budget is its phases' (shown as such by --print-config)
        cfg.epochs = sum(p.epochs for p in cfg.phases)
    return cfg
