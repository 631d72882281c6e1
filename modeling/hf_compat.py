"""What the shipped model code needs from transformers, on every release it supports (4.57 to 5.x).

Shipped with every checkpoint as Hub remote code: only stdlib, torch and transformers imports here.
Three generations of `PretrainedConfig` are handled (measured on 4.57.6, 5.0.0, 5.12.1, 5.24.0):

* `SubConfigSpec` (5.2x): native dataclass configs with typed sub-configs. `FieldConfig` is
  `PretrainedConfig` itself and `SubConfigSpec` is transformers' own class: nothing changes.
* dataclass configs without `SubConfigSpec` (e.g. 5.12): fields and `__post_init__` work, but a
  sub-config read from `config.json` stays a dict. `FieldConfig.__post_init__` builds it (and sets
  `sub_configs`, so `attn_implementation` still reaches the encoder's config).
* classic configs (4.57, 5.0): no dataclass machinery at all. `FieldConfig.__init__` reads the
  class's annotated fields (defaults from the class body), builds the sub-configs, runs
  `PretrainedConfig.__init__` with the remaining keyword arguments and then `__post_init__`.

`init` is `transformers.initialization` (5.x: every function skips a tensor already loaded from a
checkpoint, flagged `_is_hf_initialized`); on 4.x, where only whole loaded modules are skipped by
`from_pretrained`, a stand-in with the same names and the same per-tensor guard.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from types import SimpleNamespace

import torch
from transformers import AutoConfig, PretrainedConfig

try:  # transformers >= 5.0
    from transformers import initialization as init
except ImportError:  # transformers 4.x
    def _guarded(fn):
        def run(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
            if getattr(tensor, "_is_hf_initialized", False):  # same rule as transformers 5.x
                return tensor
            with torch.no_grad():
                fn(tensor, *args, **kwargs)
            return tensor
        return run

    init = SimpleNamespace(
        normal_=_guarded(torch.nn.init.normal_),
        uniform_=_guarded(torch.nn.init.uniform_),
        zeros_=_guarded(torch.nn.init.zeros_),
        ones_=_guarded(torch.nn.init.ones_),
        constant_=_guarded(torch.nn.init.constant_),
        copy_=_guarded(lambda tensor, other: tensor.copy_(other)),
    )

try:  # transformers >= 5.2x
    from transformers.configuration_utils import SubConfigSpec

    NATIVE_SUB_CONFIGS = True
except ImportError:
    NATIVE_SUB_CONFIGS = False

    class SubConfigSpec:  # the part of transformers' SubConfigSpec that the shipped configs use
        def __init__(self, config_class=AutoConfig, model_type: str | None = None,
                     init_kwargs: dict | None = None, optional: bool = False):
            self.config_class = config_class
            self.model_type = model_type if model_type is not None else getattr(config_class, "model_type", None)
            self.init_kwargs = dict(init_kwargs or {})
            self.optional = optional

#: whether `PretrainedConfig` subclasses are dataclasses (transformers >= 5.1x)
DATACLASS_CONFIGS = dataclasses.is_dataclass(PretrainedConfig)


def as_sub_config(value, spec: SubConfigSpec):
    """A sub-config value (dict from config.json, config, or None) as a `PretrainedConfig` (None stays
    None when the spec is optional)."""
    if isinstance(value, PretrainedConfig):
        return value
    if value is None:
        if spec.optional:
            return None
        value = dict(spec.init_kwargs)
    if not isinstance(value, dict):
        raise TypeError(f"a sub-config must be a dict, a PretrainedConfig or None, got {type(value).__name__}")
    value = dict(value)
    config_class = spec.config_class
    if config_class is AutoConfig or not (isinstance(config_class, type) and issubclass(config_class, PretrainedConfig)):
        model_type = value.pop("model_type", None) or spec.model_type
        if not model_type:
            raise ValueError("a sub-config needs a 'model_type'")
        return AutoConfig.for_model(model_type, **value)
    value.pop("model_type", None)
    return config_class(**value)


def _specs(cls) -> dict[str, SubConfigSpec]:
    specs = getattr(cls, "sub_configs_defaults", None) or {}
    return {k: v if isinstance(v, SubConfigSpec) else SubConfigSpec(config_class=v) for k, v in specs.items()}


def _declared_fields(cls) -> dict[str, object]:
    """Annotated class attributes (not ClassVar) of `cls` and its bases below PretrainedConfig, with
    their class-body defaults."""
    out: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if not issubclass(klass, PretrainedConfig) or klass is PretrainedConfig or klass is FieldConfig:
            continue
        for name, note in vars(klass).get("__annotations__", {}).items():
            if "ClassVar" in str(note) or typing.get_origin(note) is typing.ClassVar:
                continue
            out[name] = vars(klass).get(name, out.get(name))
    return out


if NATIVE_SUB_CONFIGS:
    FieldConfig = PretrainedConfig
else:
    class FieldConfig(PretrainedConfig):
        """Base of a config written in the 5.x dataclass style (annotated fields, `__post_init__`,
        `sub_configs_defaults`), for transformers releases that lack part of that machinery."""

        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            specs = _specs(cls)
            if specs:  # the older releases' name for sub-configs (serialisation, attn_implementation)
                cls.sub_configs = {k: s.config_class for k, s in specs.items()}

        if not DATACLASS_CONFIGS:
            def __init__(self, **kwargs):
                for name, default in _declared_fields(type(self)).items():
                    setattr(self, name, kwargs.pop(name) if name in kwargs else copy.deepcopy(default))
                for key, spec in _specs(type(self)).items():  # before the base __init__ reads them
                    setattr(self, key, as_sub_config(getattr(self, key, None), spec))
                super().__init__(**kwargs)
                self.__post_init__()

        def __post_init__(self, **kwargs):
            for key, spec in _specs(type(self)).items():
                setattr(self, key, as_sub_config(getattr(self, key, None), spec))
            parent = getattr(super(), "__post_init__", None)
            if parent is not None:
                parent(**kwargs)
