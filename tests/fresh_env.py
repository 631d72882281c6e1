"""Run Python code in a subprocess where `biomtl` cannot be imported (as for a user who only has
transformers and a checkpoint folder or Hub repo), with the Hub offline and a private HF_HOME."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

_BLOCK_BIOMTL = '''
import importlib.abc, sys
class _NoBiomtl(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "biomtl" or name.startswith("biomtl."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked: fresh-environment test)")
        return None
sys.meta_path.insert(0, _NoBiomtl())
try:
    import biomtl  # noqa: F401
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("biomtl is still importable")
'''


def run_without_biomtl(code: str, workdir: Path, extra_env: dict[str, str] | None = None,
                       timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter (cwd=workdir) that cannot import biomtl; raise with its
    output when it fails. Returns the completed process (stdout/stderr as text)."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(workdir / "hf_home"),
                "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TOKENIZERS_PARALLELISM": "false"})
    env.update(extra_env or {})
    script = workdir / "fresh_env_script.py"
    script.write_text(_BLOCK_BIOMTL + "\n" + textwrap.dedent(code))
    proc = subprocess.run([sys.executable, str(script)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"fresh-environment run failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
