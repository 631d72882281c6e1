"""modeling/hf_compat.py on the installed transformers (the other releases are `make compat`'s job:
.ci/compat_matrix.py loads real checkpoints on 4.57, 5.0, 5.12 and the latest 5.x)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, BertConfig, PretrainedConfig

from biomtl import modeling
from biomtl.modeling import FAMILIES, BiomedicalNerPipeline
from biomtl.modeling.configuration_sru_ner import SruNerConfig
from biomtl.modeling.hf_compat import SubConfigSpec, as_sub_config, init


def test_sub_config_from_dict_config_or_none():
    spec = SubConfigSpec(config_class=AutoConfig, model_type="bert")
    cfg = as_sub_config({"model_type": "bert", "hidden_size": 48, "num_attention_heads": 4}, spec)
    assert isinstance(cfg, BertConfig) and cfg.hidden_size == 48
    assert isinstance(as_sub_config({"hidden_size": 64}, spec), BertConfig)  # the spec's default model type
    assert as_sub_config(cfg, spec) is cfg
    assert isinstance(as_sub_config(None, spec), BertConfig)
    assert as_sub_config(None, SubConfigSpec(config_class=AutoConfig, model_type="bert", optional=True)) is None
    with pytest.raises(TypeError, match="sub-config"):
        as_sub_config("bert", spec)


def test_sru_config_round_trips_its_encoder_config(tmp_path):
    cfg = SruNerConfig(encoder_config={"model_type": "bert", "hidden_size": 32, "num_attention_heads": 2},
                       corpus_types={"A": ["A/x"]}, half_context=8)
    assert isinstance(cfg.encoder_config, PretrainedConfig) and cfg.encoder_config.hidden_size == 32
    cfg.save_pretrained(tmp_path)
    back = SruNerConfig.from_pretrained(tmp_path)
    assert isinstance(back.encoder_config, BertConfig) and back.encoder_config.hidden_size == 32
    assert back.half_context == 8 and back.type_names == ["A/x"]


def test_init_functions_skip_tensors_loaded_from_a_checkpoint():
    loaded, fresh = torch.ones(3), torch.ones(3)
    loaded._is_hf_initialized = True  # what from_pretrained sets on a tensor it filled
    with torch.no_grad():
        init.zeros_(loaded)
        init.zeros_(fresh)
        init.copy_(loaded, torch.full((3,), 5.0))
    assert loaded.tolist() == [1.0, 1.0, 1.0] and fresh.tolist() == [0.0, 0.0, 0.0]


SHIPPED = Path(modeling.__file__).parent  #: the modules that ship with every checkpoint
SIBLING_IMPORT = re.compile(r"^\s*(?:from\s+\.(\w+)\s+import|import\s+\.(\w+))", re.MULTILINE)


def _siblings(module: str) -> set[str]:
    """The sibling modules `module` imports itself (any indentation: transformers reads them so)."""
    text = (SHIPPED / f"{module}.py").read_text(encoding="utf-8")
    return {a or b for a, b in SIBLING_IMPORT.findall(text)}


def _reached(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for sibling in _siblings(todo.pop()) - seen:
            seen.add(sibling)
            todo.append(sibling)
    return seen


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_local_checkpoint_folder_has_every_sibling_its_entry_modules_reach(family):
    """transformers 4.57 and 5.0 copy, for a checkpoint in a local folder, only the module of the
    class being loaded and the siblings it imports *itself* into the remote-code cache, and then
    import it, which needs every sibling it reaches through other siblings too. The configuration
    module is always loaded first; each auto class's module and the pipeline's must then find every
    sibling they reach (else a fresh environment fails with FileNotFoundError on that file)."""
    cls = FAMILIES[family]
    config = cls.config_class.__module__.rsplit(".", 1)[-1]
    for entry in (cls.config_class, cls, cls.token_classification_class, BiomedicalNerPipeline):
        module = entry.__module__.rsplit(".", 1)[-1]
        copied = {config, module} | _siblings(config) | _siblings(module)
        missing = sorted(_reached(module) - copied)
        assert not missing, (f"{module}.py reaches {missing} only through other siblings: a local folder fails "
                             f"to load on transformers 4.57 / 5.0; import them in {module}.py itself")
