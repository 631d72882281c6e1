"""Experiment 1 (SRU-NER paper analog): one multi-task model vs single-task models.

    python -m benchmarks.mtl_vs_stl                  # quick profile (about 30 min on 2 idle cores)
    python -m benchmarks.mtl_vs_stl --smoke          # every row end-to-end on a tiny subset (~2 min)
    python -m benchmarks.mtl_vs_stl --profile full --encoder michiyasunaga/BioLinkBERT-base   # GPU

Rows, all trained with the `biomtl` trainer (each run's `train_config.json` reruns it alone with
`biomtl train --config`), per seed:

* SRU-NER MTL: one `SruNerForTokenActions` on NCBI-disease + BC5CDR + BC2GM + Linnaeus (the four
  corpora's types kept apart, `CORPUS/Type`; the multi-dataset loss never punishes a sentence for the
  types its corpus does not annotate). Scored on each corpus's test set in merged mode (every
  predicted mention counts, mapped to the corpus's types by name) and disjoint mode (only the
  corpus's own head).
* SRU-NER STL: one SRU-NER model per corpus.
* Token classification STL: `MrcMultiTaskForNER` with only its NER head (BIO softmax over first
  sub-words = a plain token-classification model), one per corpus.

Same budget: every corpus contributes the same seeded `train_sentences` for the same epochs, so the
MTL model sees exactly the sentences the four STL models see together (proportional sampling).
Dev (a fixed seeded subset) is scored every epoch and the best epoch is tested; test = a fixed seeded
subset of `test_sentences` per corpus (the same for every seed and row).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .common import RESULTS, fmt_mean_sd, machine, mean_sd, quiet_env, require_corpora, run_config, run_jobs

CORPORA = {  # registry key -> display name
    "ncbi_disease": "NCBI-disease",
    "bc5cdr": "BC5CDR",
    "bc2gm": "BC2GM",
    "linnaeus": "Linnaeus",
}
FOLDERS = ("NCBI-disease-IOB", "BC5CDR-IOB", "BC2GM-IOB", "linnaeus-IOB")


@dataclass(frozen=True)
class Profile:
    train_sentences: int | None  # per corpus
    dev_sentences: int | None
    test_sentences: int | None
    epochs: int
    batch_size: int
    seeds: tuple[int, ...]
    encoder_lr: float
    head_lr: float


PROFILES = {
    "quick": Profile(train_sentences=500, dev_sentences=200, test_sentences=500, epochs=5, batch_size=8,
                     seeds=(13, 14), encoder_lr=1e-4, head_lr=1e-3),
    "smoke": Profile(train_sentences=24, dev_sentences=8, test_sentences=12, epochs=1, batch_size=8,
                     seeds=(13, 14), encoder_lr=1e-4, head_lr=1e-3),
    "full": Profile(train_sentences=None, dev_sentences=None, test_sentences=None, epochs=20, batch_size=16,
                    seeds=(13, 14, 15), encoder_lr=3e-5, head_lr=1e-3),
}
ROWS = {  # row -> (family, overrides, multi-task)
    "SRU-NER MTL": ("sru_ner", {}, True),
    "SRU-NER STL": ("sru_ner", {}, False),
    "Token classification STL": ("mrc_multitask", {"enabled_heads": ["ner"]}, False),
}


def jobs_for(prof: Profile, encoder: str, out: Path) -> list[dict]:
    def corpus(key: str) -> dict:
        return {"name": key, "max_train_sentences": prof.train_sentences,
                "max_eval_sentences": prof.dev_sentences, "max_test_sentences": prof.test_sentences}

    optim = {"encoder_lr": prof.encoder_lr, "head_lr": prof.head_lr, "encoder_warmup_epochs": 0.5,
             "head_warmup_epochs": 0.25}
    jobs = []
    for seed in prof.seeds:
        for row, (family, overrides, multi) in ROWS.items():
            groups = [list(CORPORA)] if multi else [[k] for k in CORPORA]
            for keys in groups:
                tag = "all" if multi else keys[0]
                name = f"{row.split()[0].lower()}-{'mtl' if multi else 'stl'}-{tag}-s{seed}"
                cfg = run_config(name, [corpus(k) for k in keys], family, out, seed=seed, epochs=prof.epochs,
                                 batch_size=prof.batch_size, encoder=encoder, overrides=overrides, optim=optim,
                                 sampling="proportional")
                jobs.append({"name": name, "row": row, "seed": seed, "config": cfg})
    # the multi-task runs are the longest: start them first so the parallel jobs end together
    jobs.sort(key=lambda j: "mtl" not in j["name"])
    return jobs


def collect(jobs: list[dict], outcomes: list[dict]) -> list[dict]:
    """One record per (row, seed, corpus): test F1 (merged, disjoint), P, R, epochs, wall time."""
    records = []
    for job, res in zip(jobs, outcomes):
        test = res["results"]["test"]
        for corpus, scores in test["merged"]["per_corpus"].items():
            dis = test["disjoint"]["per_corpus"][corpus]
            records.append({"row": job["row"], "seed": job["seed"], "corpus": corpus, "run": job["name"],
                            "merged_f1": scores["f1"], "disjoint_f1": dis["f1"],
                            "merged_precision": scores["precision"], "disjoint_precision": dis["precision"],
                            "recall": dis["recall"], "best_epoch": res["results"]["best"]["epoch"],
                            "train_s": res["results"]["train_runtime_s"], "wall_s": res["wall_s"],
                            "test_sentences": scores["sentences"]})
    return records


def summarise(records: list[dict]) -> dict:
    table: dict[str, dict] = {}
    corpora = list(dict.fromkeys(r["corpus"] for r in records))
    for row in ROWS:
        for corpus in corpora + ["Average"]:
            for mode in ("merged", "disjoint"):
                if corpus == "Average":
                    seeds = sorted({r["seed"] for r in records if r["row"] == row})
                    vals = []
                    for s in seeds:
                        per = [r[f"{mode}_f1"] for r in records if r["row"] == row and r["seed"] == s]
                        if len(per) == len(corpora):
                            vals.append(sum(per) / len(per))
                else:
                    vals = [r[f"{mode}_f1"] for r in records if r["row"] == row and r["corpus"] == corpus]
                table[f"{row}|{corpus}|{mode}"] = mean_sd(vals)
    return {"corpora": corpora, "cells": table}


def findings(summary: dict) -> list[str]:
    cells, corpora = summary["cells"], summary["corpora"]
    out = []

    def m(row: str, corpus: str, mode: str = "disjoint") -> float:
        return cells[f"{row}|{corpus}|{mode}"]["mean"]

    better = [c for c in corpora if m("SRU-NER MTL", c) > m("SRU-NER STL", c)]
    gap = m("SRU-NER MTL", "Average") - m("SRU-NER STL", "Average")
    out.append(f"SRU-NER multi-task vs single-task (disjoint, mean over seeds): MTL is better on {len(better)} of "
               f"{len(corpora)} corpora ({', '.join(better) or 'none'}); average F1 difference {gap:+.2f}. "
               + ("The paper's claim (one multi-dataset model matches or beats per-corpus models) is reproduced."
                  if gap >= -0.5 else "The paper's claim is NOT reproduced at this budget."))
    tc = m("Token classification STL", "Average")
    out.append(f"Against token classification at the same budget: SRU-NER MTL average {m('SRU-NER MTL', 'Average'):.2f}, "
               f"SRU-NER STL {m('SRU-NER STL', 'Average'):.2f}, token classification STL {tc:.2f}.")
    mg = m("SRU-NER MTL", "Average", "merged") - m("SRU-NER MTL", "Average")
    out.append(f"Merged vs disjoint scoring of the MTL model: {mg:+.2f} average F1 (merged also counts what the "
               f"other corpora's heads predict on a corpus's sentences, mapped by type name).")
    return out


def markdown(report: dict) -> str:
    s, meta = report["summary"], report["meta"]
    corpora = s["corpora"]
    lines = ["### Experiment 1: multi-task vs single-task SRU-NER", "",
             f"Test F1 (strict, %), mean ± sd over seeds {meta['seeds']}; {meta['train_sentences']} train sentences "
             f"per corpus, {meta['epochs']} epochs, batch {meta['batch_size']}, dev {meta['dev_sentences']} and test "
             f"{meta['test_sentences']} sentences per corpus (fixed seeded subsets; NCBI-disease test has 940).", "",
             "| corpus | SRU-NER MTL (merged) | SRU-NER MTL (disjoint) | SRU-NER STL | Token classification STL |",
             "|---|---:|---:|---:|---:|"]
    for c in corpora + ["Average"]:
        cells = [fmt_mean_sd(s["cells"][f"SRU-NER MTL|{c}|merged"]), fmt_mean_sd(s["cells"][f"SRU-NER MTL|{c}|disjoint"]),
                 fmt_mean_sd(s["cells"][f"SRU-NER STL|{c}|disjoint"]),
                 fmt_mean_sd(s["cells"][f"Token classification STL|{c}|disjoint"])]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    walls = {}
    for r in report["runs"]:
        walls.setdefault(r["row"], []).append(r["wall_s"])
    lines += ["", "Wall time per run (one process, one torch thread, 2 runs side by side): " + "; ".join(
        f"{row} {min(v):.0f}–{max(v):.0f} s" for row, v in walls.items()) + ".", ""]
    lines += [f"- {f}" for f in report["findings"]]
    lines += ["", f"Encoder {meta['encoder']}; machine {meta['machine']}; total wall time "
              f"{meta['wall_s'] / 60:.1f} min.  ", f"Command: `{meta['command']}`"]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["summary"]
    corpora = s["corpora"] + ["Average"]
    series = [("Token classification STL", "disjoint"), ("SRU-NER STL", "disjoint"),
              ("SRU-NER MTL", "disjoint"), ("SRU-NER MTL", "merged")]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(series)
    for i, (row, mode) in enumerate(series):
        cells = [s["cells"][f"{row}|{c}|{mode}"] for c in corpora]
        xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(corpora))]
        label = row + (" (merged)" if mode == "merged" else "")
        ax.bar(xs, [c["mean"] for c in cells], width, yerr=[c["sd"] for c in cells], label=label, capsize=2)
    ax.set_xticks(range(len(corpora)), corpora)
    ax.set_ylabel("test F1 (%)")
    ax.set_title("Experiment 1: multi-task vs single-task (mean ± sd over seeds)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    ap.add_argument("--smoke", action="store_true", help="same as --profile smoke")
    ap.add_argument("--encoder", default="embedded-minilm")
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side (default 2)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--output-dir", type=Path, default=Path("runs/benchmarks/mtl_vs_stl"))
    args = ap.parse_args(argv)
    quiet_env()
    require_corpora(*FOLDERS)
    profile = "smoke" if args.smoke else args.profile
    prof = PROFILES[profile]
    t0 = time.perf_counter()
    jobs = jobs_for(prof, args.encoder, args.output_dir / profile)
    print(f"experiment 1 (mtl_vs_stl, {profile}): {len(jobs)} trainer runs, {args.jobs} side by side")
    outcomes = run_jobs(jobs, args.jobs, args.threads)
    records = collect(jobs, outcomes)
    from biomtl.encoders import DEFAULT_ENCODER_HUB_ID

    meta = {**asdict(prof), "profile": profile,
            "encoder": DEFAULT_ENCODER_HUB_ID if args.encoder == "embedded-minilm" else args.encoder,
            "machine": machine(), "jobs": args.jobs, "threads": args.threads, "wall_s": time.perf_counter() - t0,
            "command": "python -m benchmarks.mtl_vs_stl " + " ".join(argv if argv is not None else sys.argv[1:]),
            "steps": {j["name"]: o["results"]["history"][-1]["step"] for j, o in zip(jobs, outcomes)}}
    summary = summarise(records)
    runs = [{"run": j["name"], "row": j["row"], "seed": j["seed"], "wall_s": o["wall_s"],
             "config": str(Path(j["config"]["output_dir"]) / "train_config.json")} for j, o in zip(jobs, outcomes)]
    report = {"benchmark": "mtl_vs_stl", "meta": meta, "records": records, "runs": runs, "summary": summary,
              "findings": findings(summary)}
    stem = "mtl_vs_stl" + ("" if profile == "quick" else f".{profile}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    plot(report, RESULTS / f"{stem}.png")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
