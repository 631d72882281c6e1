"""Benchmark: time to prepare corpora (parse + build the DatasetDict + save), from local files.

    python -m benchmarks.prepare_speed [--source-dir ../shared/corpora] [--repeats 3]

Prints a table and writes benchmarks/results/prepare_speed.json / .md. Target (foundation issue):
BC2GM train (12.5k sentences) in < 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from biomtl.data_scripts import get_spec
from biomtl.data_scripts.prepare import locate_sources, prepare_corpus, read_corpus, to_dataset_dict

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "corpora"))
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rows = []
    spec = get_spec("bc2gm")
    files = locate_sources(spec, args.source_dir)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        splits, _, _ = read_corpus(spec, {"train": files["train"]})
        ds = to_dataset_dict(splits)["train"]
        times.append(time.perf_counter() - t0)
    rows.append({"what": "BC2GM train: parse + Dataset", "sentences": len(ds), "seconds": min(times)})
    for name in ("bc2gm", "ncbi_disease", "bc5cdr", "linnaeus"):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            pc = prepare_corpus(name, source_dir=args.source_dir, output_dir=Path(tmp) / name, force=True)
            full = time.perf_counter() - t0
            t0 = time.perf_counter()
            prepare_corpus(name, source_dir=args.source_dir, output_dir=Path(tmp) / name)
            reload = time.perf_counter() - t0
        rows.append({"what": f"{name}: prepare all splits + save", "sentences": sum(map(len, pc.dataset.values())),
                     "seconds": full})
        rows.append({"what": f"{name}: reload prepared copy", "sentences": sum(map(len, pc.dataset.values())),
                     "seconds": reload})
    print(f"{'what':<40} {'sentences':>10} {'seconds':>8}")
    for r in rows:
        print(f"{r['what']:<40} {r['sentences']:>10} {r['seconds']:>8.2f}")
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version(), "command": "python -m benchmarks.prepare_speed"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prepare_speed.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    md = ["| what | sentences | seconds |", "|---|---:|---:|"]
    md += [f"| {r['what']} | {r['sentences']} | {r['seconds']:.2f} |" for r in rows]
    (RESULTS / "prepare_speed.md").write_text("\n".join(md) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
