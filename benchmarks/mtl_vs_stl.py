"""Experiment 1 (SRU-NER paper analog): one multi-task model vs single-task models.

    python -m benchmarks.mtl_vs_stl                  # quick profile (about 30 min on 2 idle cores)
    python -m benchmarks.mtl_vs_stl --smoke          # every row end-to-end on a tiny subset (~2 min)
    python -m benchmarks.mtl_vs_stl --profile full --encoder michiyasunaga/BioLinkBERT-base   # GPU

Rows, all trained with the `biomtl` trainer (each run's `train_config.json` reruns it alone with
`biomtl train <that file>`), per seed:

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

import time
from pathlib import Path

from .common import (
    Budget,
    experiment_parser,
    fmt_mean_sd,
    footer,
    grouped_bars,
    mean_sd,
    quiet_env,
    require_corpora,
    run_config,
    run_jobs,
    run_meta,
    save_report,
    steps_line,
)

CORPORA = {  # registry key -> display name
    "ncbi_disease": "NCBI-disease",
    "bc5cdr": "BC5CDR",
    "bc2gm": "BC2GM",
    "linnaeus": "Linnaeus",
}
FOLDERS = ("NCBI-disease-IOB", "BC5CDR-IOB", "BC2GM-IOB", "linnaeus-IOB")


PROFILES = {
    "quick": Budget(train_sentences=500, dev_sentences=200, test_sentences=500, epochs=5, batch_size=8,
                    seeds=(13, 14)),
    "smoke": Budget(train_sentences=24, dev_sentences=8, test_sentences=12, epochs=1, batch_size=8, seeds=(13, 14)),
    "full": Budget(train_sentences=None, dev_sentences=None, test_sentences=None, epochs=20, batch_size=16,
                   seeds=(13, 14, 15), encoder_lr=3e-5),
}
ROWS = {  # row -> (family, overrides, multi-task)
    "SRU-NER MTL": ("sru_ner", {}, True),
    "SRU-NER STL": ("sru_ner", {}, False),
    "Token classification STL": ("mrc_multitask", {"enabled_heads": ["ner"]}, False),
}


def jobs_for(prof: Budget, encoder: str, out: Path) -> list[dict]:
    def corpus(key: str) -> dict:
        return {"name": key, "max_train_sentences": prof.train_sentences,
                "max_eval_sentences": prof.dev_sentences, "max_test_sentences": prof.test_sentences}

    optim = prof.optim()
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

    mtl, stl = "SRU-NER MTL", "SRU-NER STL"
    diffs = {c: m(mtl, c) - m(stl, c) for c in corpora}
    # a row that learned nothing on a corpus (F1 < 1) says nothing about sharing: judged apart
    failed = [c for c in corpora if m(stl, c) < 1.0 or m(mtl, c) < 1.0]
    judged = [c for c in corpora if c not in failed]
    matched = [c for c in judged if diffs[c] >= -0.5]
    per = ", ".join(f"{c} {d:+.2f}" for c, d in diffs.items())
    verdict = ("The paper's claim (one multi-dataset model matches or beats per-corpus models) is reproduced."
               if judged and 2 * len(matched) >= len(judged) else
               "The paper's claim is NOT reproduced at this budget.")
    out.append(f"SRU-NER multi-task minus single-task test F1 (disjoint, mean over seeds): {per}. MTL matches or "
               f"beats STL (within 0.5 F1) on {len(matched)} of the {len(judged)} corpora where both learned "
               f"something. {verdict}")
    if failed:
        out.append("Judged apart, because a SRU-NER row scored F1 < 1 there (it learned to predict nothing): "
                   + ", ".join(f"{c} (MTL {m(mtl, c):.2f}, STL {m(stl, c):.2f})" for c in failed) + ".")
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
        f"{row} {min(v):.0f}–{max(v):.0f} s" for row, v in walls.items()) + ". " + steps_line(report["runs"]), ""]
    lines += [f"- {f}" for f in report["findings"]] + footer(meta)
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    s = report["summary"]
    corpora = s["corpora"] + ["Average"]
    series = {"Token classification STL": ("Token classification STL", "disjoint"),
              "SRU-NER STL": ("SRU-NER STL", "disjoint"), "SRU-NER MTL": ("SRU-NER MTL", "disjoint"),
              "SRU-NER MTL (merged)": ("SRU-NER MTL", "merged")}
    grouped_bars(path, corpora, {label: [s["cells"][f"{row}|{c}|{mode}"] for c in corpora]
                                 for label, (row, mode) in series.items()},
                 "Experiment 1: multi-task vs single-task (mean ± sd over seeds)")


def main(argv: list[str] | None = None) -> int:
    args = experiment_parser(__doc__, "mtl_vs_stl", PROFILES).parse_args(argv)
    quiet_env()
    require_corpora(*FOLDERS)
    profile = "smoke" if args.smoke else args.profile
    prof = PROFILES[profile]
    t0 = time.perf_counter()
    jobs = jobs_for(prof, args.encoder, args.output_dir / profile)
    print(f"experiment 1 (mtl_vs_stl, {profile}): {len(jobs)} trainer runs, {args.jobs} side by side")
    outcomes = run_jobs(jobs, args.jobs, args.threads)
    records = collect(jobs, outcomes)
    summary = summarise(records)
    runs = [{"run": j["name"], "row": j["row"], "seed": j["seed"], "wall_s": o["wall_s"],
             "steps": o["results"]["history"][-1]["step"],
             "config": str(Path(j["config"]["output_dir"]) / "train_config.json")} for j, o in zip(jobs, outcomes)]
    report = {"benchmark": "mtl_vs_stl", "meta": run_meta("mtl_vs_stl", args, profile, prof, t0, argv),
              "records": records, "runs": runs, "summary": summary, "findings": findings(summary)}
    save_report("mtl_vs_stl", profile, report, markdown, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
