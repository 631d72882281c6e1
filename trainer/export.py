"""Write a Hub-ready folder: config with `auto_map`, safetensors weights, tokenizer, remote code and the
`token-classification` pipeline, loadable where biomtl is not installed:

    AutoModel.from_pretrained(folder, trust_remote_code=True)
    AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True)  # not SRU-NER
    pipeline("token-classification", model=folder, trust_remote_code=True)   # or without the task

See ../shared/design/hf-notes.md §1 (auto_map, copied files), §3 (tokenizer) and §4 (pipelines).
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from biomtl.modeling.pipeline_ner import TASK, BiomedicalNerPipeline

from .interface import MultiCorpusNerModel

#: used when neither the tokenizer nor the encoder config gives a usable limit
FALLBACK_MAX_LENGTH = 512


AUTO_CLASSES = ("AutoConfig", "AutoModel", "AutoModelForTokenClassification")


def _class_ref(cls: type) -> str:
    return f"{cls.__module__.rsplit('.', 1)[-1]}.{cls.__name__}"


def auto_map_for(model: PreTrainedModel) -> dict[str, str]:
    """`{"AutoConfig": "configuration_x.XConfig", "AutoModel": "modeling_x.XModel",
    "AutoModelForTokenClassification": ...}` for a model instance.

    The module part is the file name the class is defined in (copied flat into the folder). The
    token-classification class is the family's `token_classification_class` (the model class itself,
    or for SRU-NER a placeholder that explains why it cannot be loaded).
    """
    return {
        "AutoConfig": _class_ref(type(model.config)),
        "AutoModel": _class_ref(type(model)),
        "AutoModelForTokenClassification": _class_ref(model.token_classification_class),
    }


def model_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """The tokenizer's `model_max_length` when set, else the encoder's position limit (hf-notes §3)."""
    current = getattr(tokenizer, "model_max_length", None)
    if current and current < 100_000:
        return int(current)
    limit = getattr(model.config.encoder_config, "max_position_embeddings", None)  # not every encoder has one
    return int(limit) if limit and limit < 100_000 else FALLBACK_MAX_LENGTH


def save_hub_folder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: str | Path) -> Path:
    """Save `model` + `tokenizer` with their remote code and the `token-classification` pipeline into `out_dir`.

    Writes `config.json` (with `auto_map` for AutoConfig/AutoModel/AutoModelForTokenClassification
    and `custom_pipelines`, whose only entry is keyed `token-classification`),
    `model.safetensors`, `tokenizer.json` + `tokenizer_config.json` (with `model_max_length`), the
    family's modeling/configuration files and every sibling they import, `pipeline_ner.py` and
    `text_split.py`. Other files already in `out_dir` (e.g. a README.md model card) are left alone.
    Sets `tokenizer.model_max_length` (when unset) and `model.config.auto_map` in place.

    Raises ValueError when the model does not implement the family contract (trainer/interface.py).
    Returns the folder path.
    """
    if not isinstance(model, MultiCorpusNerModel):
        raise ValueError(f"{type(model).__name__} does not implement the biomtl family contract "
                         "(trainer/interface.py); it is not a biomtl model family")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.model_max_length = model_max_length(model, tokenizer)
    # one auto class per class is recorded by register_for_auto_class: set both explicitly (hf-notes §1)
    model.config.auto_map = {**(getattr(model.config, "auto_map", None) or {}), **auto_map_for(model)}
    pipe = BiomedicalNerPipeline(model=model, tokenizer=tokenizer, task=TASK, device=model.device)
    pipe.save_pretrained(str(out))  # custom_pipelines + pipeline_ner.py/text_split.py, model, tokenizer
    check_hub_folder(out)
    check_config_round_trip(model, out)
    return out


def check_config_round_trip(model: PreTrainedModel, folder: str | Path) -> None:
    """Raise ValueError when the saved config.json does not load back into the same configuration
    (values, and the corpus order, which decides label ids although `config.json`'s keys are sorted)."""
    cls = type(model.config)
    try:
        reloaded = cls.from_pretrained(str(folder))
    except Exception as err:  # noqa: BLE001 - any failure here means a broken checkpoint
        raise ValueError(f"{folder}/config.json does not load back into {cls.__name__}: {err}") from err
    before = json.loads(model.config.to_json_string(use_diff=False))
    after = json.loads(reloaded.to_json_string(use_diff=False))
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        raise ValueError(f"{folder}/config.json reloads with different values for: {', '.join(changed)}")
    order_before, order_after = list(model.config.corpus_types), list(reloaded.corpus_types)
    if order_before != order_after:
        raise ValueError(f"{folder}/config.json reloads with corpus order {order_after}, not {order_before} "
                         "(config.json keys are sorted: the family must store the order)")


def check_hub_folder(folder: str | Path) -> None:
    """Raise ValueError when a saved folder lacks what a fresh environment needs to load it."""
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    missing = []
    for key in AUTO_CLASSES:
        ref = (config.get("auto_map") or {}).get(key)
        if not ref:
            missing.append(f"config.json auto_map.{key}")
        elif not (folder / f"{ref.split('.')[0]}.py").is_file():
            missing.append(f"{ref.split('.')[0]}.py")
    pipelines = config.get("custom_pipelines") or {}
    if not (pipelines.get(TASK) or {}).get("impl"):
        missing.append(f"config.json custom_pipelines.{TASK}")
    if set(pipelines) - {TASK}:  # a second entry breaks pipeline(model=...) without a task
        raise ValueError(f"{folder}/config.json lists custom pipelines {sorted(pipelines)}; only {TASK!r} may be listed")
    for name in ("pipeline_ner.py", "text_split.py", "span_conflicts.py", "model.safetensors",
                 "tokenizer_config.json"):
        if not (folder / name).is_file():
            missing.append(name)
    for py in folder.glob("*.py"):  # every sibling a shipped file imports must be there too
        for line in py.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "from" and words[1].startswith(".") and words[1][1:2] != ".":
                sibling = words[1][1:] + ".py"
                if not (folder / sibling).is_file():
                    missing.append(f"{sibling} (imported by {py.name})")
    if missing:
        raise ValueError(f"{folder} is not a complete Hub folder; missing: {', '.join(sorted(set(missing)))}")
