"""Virtual environments with one pinned transformers each, for the remote-code version matrix.

Layout under the cache dir (default `$BIOMTL_CI_CACHE`, else `~/.cache/biomtl-ci`):

    venvs/torch-2.13.0/                     torch only (its own small deps), installed once
    venvs/transformers-4.57.6-torch-2.13.0/ transformers + its deps; torch comes from the base
                                            environment through a `.pth` line, so it is installed once

Each environment is rebuilt only when its stamp file (the pip requirement lines it was built
with) is missing or different. Nothing of biomtl is installed in them: they are what a user
who only has `pip install transformers torch` runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TORCH = "2.13.0"
#: pip requirement lines added for a transformers line (4.x needs huggingface_hub < 1.0)
EXTRA_REQUIREMENTS = {"4.": ["huggingface_hub<1.0"]}
#: what the shipped remote code needs besides transformers (tokenizers and safetensors come with it)
BASE_REQUIREMENTS = ["numpy"]


def cache_dir() -> Path:
    root = os.environ.get("BIOMTL_CI_CACHE") or Path.home() / ".cache" / "biomtl-ci"
    return Path(root)


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _site_packages(venv: Path) -> Path:
    out = subprocess.run([str(_python(venv)), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         check=True, capture_output=True, text=True)
    return Path(out.stdout.strip())


def _pip(venv: Path, *args: str, log) -> None:
    cmd = [str(_python(venv)), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    log(f"  pip install {' '.join(args)}: ok")


def _build(venv: Path, requirements: list[str], log, base: Path | None = None) -> None:
    stamp = venv / ".biomtl-ci-stamp"
    want = "\n".join(requirements) + "\n"
    if stamp.is_file() and stamp.read_text() == want and _python(venv).exists():
        return
    log(f"building {venv.name} ({', '.join(requirements)})")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    constraint = venv / "constraint.txt"
    constraint.write_text(f"torch=={TORCH}\n")
    if base is not None:  # torch from the base environment, installed once
        (_site_packages(venv) / "biomtl_ci_torch.pth").write_text(str(_site_packages(base)) + "\n")
    _pip(venv, "-c", str(constraint), *requirements, log=log)
    stamp.write_text(want)


def torch_venv(log=print) -> Path:
    venv = cache_dir() / "venvs" / f"torch-{TORCH}"
    _build(venv, [f"torch=={TORCH}"], log)
    return venv


def transformers_venv(version: str, log=print) -> Path:
    """The environment for `transformers==version` (built or reused); returns its folder."""
    base = torch_venv(log)
    venv = cache_dir() / "venvs" / f"transformers-{version}-torch-{TORCH}"
    extra = [r for prefix, reqs in EXTRA_REQUIREMENTS.items() if version.startswith(prefix) for r in reqs]
    _build(venv, [f"transformers=={version}", *extra, *BASE_REQUIREMENTS], log, base=base)
    return venv


def venv_python(venv: Path) -> Path:
    return _python(venv)


if __name__ == "__main__":
    for v in sys.argv[1:]:
        print(venv_python(transformers_venv(v)))
