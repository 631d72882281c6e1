"""BIO decoding of a trained checkpoint: per-word argmax against the best well-formed sequence
(`bio_decoding`), scored with the shipped `biomtl evaluate` on NCBI-disease dev and test.

    python -m benchmarks.decoding --model mrc_s13=runs/standard/mrc_heads/mrc_ner_full_s13/best ...

The decoding changes nothing in training, so one checkpoint gives both rows. Each model is copied,
its `config.json` given the decoding, and scored in a subprocess; the reports are stored in
`benchmarks/results/standard/decoding.json` (BENCHMARKS.md: `python -m benchmarks.standard`'s page).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.common import corpora_dir, machine

OUT = Path(__file__).resolve().parent / "results" / "standard" / "decoding.json"
DECODINGS = ("argmax", "viterbi")


def score(model: Path, decoding: str, split: str, work: Path) -> dict:
    copy = work / f"{model.parent.name}.{decoding}"
    if not copy.exists():
        shutil.copytree(model, copy)
        cfg = json.loads((copy / "config.json").read_text())
        (copy / "config.json").write_text(json.dumps({**cfg, "bio_decoding": decoding}, indent=2))
    report = work / f"{copy.name}.{split}.json"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_PROGRESS_BARS="1")
    subprocess.run([sys.executable, "-m", "biomtl.cli", "evaluate", str(copy), "--corpus", "ncbi_disease",
                    "--source-dir", str(corpora_dir()), "--split", split, "--output", str(report)],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(report.read_text())["micro"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="NAME=checkpoint folder (repeatable)")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.model:
            name, _, path = spec.partition("=")
            for decoding in DECODINGS:
                row = {"model": name, "checkpoint": path, "decoding": decoding}
                for split in ("validation", "test"):
                    row[split] = score(Path(path), decoding, split, Path(tmp))
                rows.append(row)
                print(f"{name} {decoding}: dev {row['validation']['f1']:.2f}, test {row['test']['f1']:.2f}", flush=True)
    OUT.write_text(json.dumps({"command": "python -m benchmarks.decoding " + " ".join(f"--model {m}" for m in args.model),
                               "machine": machine(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
