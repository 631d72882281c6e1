"""Share a saved model folder on the Hugging Face Hub.

`push_to_hub(model_dir, repo_id)` uploads everything a user needs to run the model without biomtl:
weights (`model.safetensors`), `config.json`, the tokenizer files, the remote-code `.py` files of the
model family and its `token-classification` pipeline, `all_results.json`, and the model card `README.md`
(generated from `all_results.json` when missing, regenerated when it is a biomtl-generated card so its
usage snippet names the repo). Pickle files (`*.bin`, `*.pkl`, `*.pt`, `*.pth`), training checkpoints
and `__pycache__` are never uploaded.
"""

from __future__ import annotations

import logging
from fnmatch import fnmatch
from pathlib import Path

from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HFValidationError, OfflineModeIsEnabled
from huggingface_hub.utils import validate_repo_id

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.safetensors")
#: fnmatch patterns on paths relative to the folder (as huggingface_hub applies them; `*` crosses `/`)
IGNORE_PATTERNS = ["*.bin", "*.pkl", "*.pt", "*.pth", "checkpoints/*", "*__pycache__/*", "runs/*"]


def check_model_folder(model_dir: str | Path) -> Path:
    """The folder as a Path; FileNotFoundError naming what is missing when it is not a saved model."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"model folder {model_dir} does not exist")
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    if missing:
        hint = (f" Did you mean {model_dir / 'best'}?" if all((model_dir / "best" / n).is_file() for n in REQUIRED_FILES)
                else "")
        raise FileNotFoundError(
            f"{model_dir} is not a saved model folder: missing {', '.join(missing)}. Push the folder written by "
            "`biomtl train` (or `save_hub_folder`), which holds config.json, model.safetensors, the tokenizer "
            f"and the model code.{hint}")
    return model_dir


def ignored_files(model_dir: Path) -> list[str]:
    """Files of the folder that IGNORE_PATTERNS keep off the Hub (relative POSIX paths)."""
    rel = (p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file())
    return sorted(r for r in rel if any(fnmatch(r, pattern) for pattern in IGNORE_PATTERNS))


def ensure_card(model_dir: Path, repo_id: str) -> None:
    """Write README.md when missing; regenerate a biomtl-generated card (from all_results.json) so that
    its usage snippet loads `repo_id`. A hand-written README.md is left untouched."""
    from biomtl.model_cards import GENERATED_MARKER, generate_model_card

    readme = model_dir / "README.md"
    if not readme.is_file():
        logger.info("%s has no README.md: generating the model card", model_dir)
        generate_model_card(model_dir, repo_id=repo_id)
    elif GENERATED_MARKER in readme.read_text(encoding="utf-8", errors="replace"):
        if (model_dir / "all_results.json").is_file():
            generate_model_card(model_dir, repo_id=repo_id)
        else:
            logger.warning("%s: README.md was generated without all_results.json; uploading it as it is",
                           model_dir)


def push_to_hub(
    model_dir: str | Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Upload a saved model folder to the Hub in one call; returns the commit URL.

    Args:
        model_dir: folder with config.json, model.safetensors, tokenizer, code (and all_results.json).
        repo_id: "org/name" (created if needed; an existing repo is reused).
        private: create the repo private (an existing repo keeps its visibility).
        revision: branch to push to; created from main when missing. Default: main.
        commit_message: default "Upload <family> model with biomtl".
        token: Hub token; default: HF_TOKEN or the saved login.

    Raises:
        FileNotFoundError: the folder is not a saved model (message names the missing files).
        ValueError: `repo_id` or `revision` is not valid.
        huggingface_hub.errors.OfflineModeIsEnabled: HF_HUB_OFFLINE is set.
    """
    model_dir = check_model_folder(model_dir)
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"repo_id {repo_id!r} is not a valid Hub repo id ({err})") from None
    if revision is not None and (not revision.strip() or revision.startswith("refs/")):
        raise ValueError(f"revision {revision!r} must be a branch name (e.g. 'v1'); pull-request refs are not "
                         "supported")
    if constants.is_offline_mode():
        raise OfflineModeIsEnabled("HF_HUB_OFFLINE is set: unset it to push to the Hub")
    ensure_card(model_dir, repo_id)
    ignored = ignored_files(model_dir)
    if ignored:
        logger.warning("not uploading %d file(s) (pickles, checkpoints, caches): %s", len(ignored),
                       ", ".join(ignored[:10]))

    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision is not None:
        api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
    info = api.upload_folder(
        folder_path=model_dir,
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        commit_message=commit_message or f"Upload {_family(model_dir)} model with biomtl",
        ignore_patterns=IGNORE_PATTERNS,
    )
    return str(info.commit_url)


def _family(model_dir: Path) -> str:
    import json

    try:
        return str(json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type") or "a")
    except (OSError, ValueError):
        return "a"
