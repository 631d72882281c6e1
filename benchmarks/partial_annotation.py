"""Experiment 2 (SRU-NER paper analog): global prediction learnt from partially annotated corpora.

    python -m benchmarks.partial_annotation             # quick profile (about 25 min on 2 idle cores)
    python -m benchmarks.partial_annotation --smoke     # every row end-to-end on a tiny subset (~1 min)

BC5CDR train and dev are split into two disjoint random halves of the sentences
(`biomtl.data_scripts.partial_annotation_split`, seed 13): in the *chemical half* only Chemical
mentions are annotated, in the *disease half* only Disease. Rows (SRU-NER, `biomtl` trainer):

* chemical half only: one corpus, learns Chemical;
* disease half only: one corpus, learns Disease;
* both halves as two corpora: ONE multi-dataset model, whose loss never punishes the chemical half for
  its unannotated diseases (and vice versa); at test time it predicts both types on every sentence;
* full annotation (reference): BC5CDR with both types annotated on as many sentences as the two
  halves together.

All rows are scored on the same fully annotated BC5CDR test sentences (both types; predicted labels
are mapped to their bare type, `BC5CDR-chem-half/Chemical` -> `Chemical`). The paper's claim: the
model trained on the two partially annotated halves predicts both types, close to the model trained
on full annotation, and each type at least as well as the single-half model.
"""

from __future__ import annotations

import random
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

TYPES = ("Chemical", "Disease")
HALVES = ("BC5CDR-chem-half", "BC5CDR-disease-half")
ROWS = {  # row -> corpora (data folder names, or "bc5cdr" for the registry corpus)
    "chemical half only": ["BC5CDR-chem-half"],
    "disease half only": ["BC5CDR-disease-half"],
    "both halves (multi-task)": list(HALVES),
    "full annotation (reference)": ["bc5cdr"],
}


PROFILES = {  # train_sentences: per half (the full-annotation reference gets twice as many)
    "quick": Budget(train_sentences=600, dev_sentences=200, test_sentences=1000, epochs=4, batch_size=8,
                    seeds=(13, 14)),
    "smoke": Budget(train_sentences=24, dev_sentences=8, test_sentences=16, epochs=1, batch_size=8, seeds=(13, 14)),
    "full": Budget(train_sentences=None, dev_sentences=None, test_sentences=None, epochs=20, batch_size=16,
                   seeds=(13, 14, 15), encoder_lr=3e-5),
}


def write_halves(out: Path) -> dict[str, str]:
    """Save the two partially annotated halves (train + validation) as prepared-corpus folders."""
    from datasets import DatasetDict

    from biomtl.data_scripts import partial_annotation_split, prepare_corpus

    from .common import corpora_dir

    bc5cdr = prepare_corpus("bc5cdr", source_dir=corpora_dir()).dataset
    folders = {}
    for name, dd in partial_annotation_split(bc5cdr, seed=13).items():
        # the test split of `partial_annotation_split` carries both types; it is scored separately
        # (score_on_full_test), so it is left out here and the half declares only its own type
        path = out / "data" / name
        DatasetDict({"train": dd["train"], "validation": dd["validation"]}).save_to_disk(str(path))
        folders[name] = str(path)
    return folders


def full_test(n: int | None) -> list[dict]:
    """The fully annotated BC5CDR test sentences: all, or a fixed seeded subset of `n`."""
    from biomtl.data_scripts import prepare_corpus

    from .common import corpora_dir

    rows = prepare_corpus("bc5cdr", source_dir=corpora_dir()).dataset["test"].to_list()
    if n is not None and n < len(rows):
        keep = sorted(random.Random(13).sample(range(len(rows)), n))
        rows = [rows[i] for i in keep]
    return rows


def score_on_full_test(job: dict, results: dict) -> dict:
    """`after` hook of each run: predict with every head of the best model on the full test set."""
    from transformers import AutoTokenizer

    from biomtl.data_scripts import strip_prefix
    from biomtl.metrics import score_spans
    from biomtl.modeling import get_family

    best = Path(job["config"]["output_dir"]) / "best"
    model = get_family("sru_ner").from_pretrained(str(best))
    tokenizer = AutoTokenizer.from_pretrained(str(best))
    test = full_test(job["test_sentences"])
    pred = model.predict_spans([ex["tokens"] for ex in test], tokenizer, batch_size=32)
    pred = [[{"start": s["start"], "end": s["end"], "label": strip_prefix(s["label"])} for s in p] for p in pred]
    gold = [[{"start": s["start"], "end": s["end"], "label": s["label"]} for s in ex["spans"]] for ex in test]
    report = score_spans(gold, pred, types=list(TYPES), corpus="BC5CDR").strict
    return {"test": {"micro": report.micro.to_dict(),
                     **{t: report.per_type[t].to_dict() for t in TYPES}},
            "test_sentences": len(test)}


def jobs_for(prof: Budget, encoder: str, out: Path, folders: dict[str, str]) -> list[dict]:
    optim = prof.optim()
    jobs = []
    for seed in prof.seeds:
        for row, names in ROWS.items():
            corpora = []
            for name in names:
                c = {"name": name, "max_eval_sentences": prof.dev_sentences}
                if name == "bc5cdr":
                    c["max_train_sentences"] = None if prof.train_sentences is None else 2 * prof.train_sentences
                else:
                    c["data_dir"] = folders[name]
                    c["max_train_sentences"] = prof.train_sentences
                corpora.append(c)
            name = row.split(" (")[0].replace(" ", "-") + f"-s{seed}"
            cfg = run_config(name, corpora, "sru_ner", out, seed=seed, epochs=prof.epochs,
                             batch_size=prof.batch_size, encoder=encoder, optim=optim, sampling="proportional",
                             evaluate_test=False)
            jobs.append({"name": name, "row": row, "seed": seed, "config": cfg,
                         "test_sentences": prof.test_sentences, "after": score_on_full_test})
    jobs.sort(key=lambda j: len(j["config"]["corpora"]) == 1 and j["config"]["corpora"][0]["name"] != "bc5cdr")
    return jobs


def summarise(records: list[dict]) -> dict:
    cells = {}
    for row in ROWS:
        for what in ("micro",) + TYPES:
            cells[f"{row}|{what}"] = mean_sd(r["test"][what]["f1"] for r in records if r["row"] == row)
    return cells


def findings(cells: dict) -> list[str]:
    def m(row: str, what: str) -> float:
        return cells[f"{row}|{what}"]["mean"]

    both, full = "both halves (multi-task)", "full annotation (reference)"
    out = [f"Global prediction: the model trained on the two partially annotated halves scores "
           f"{m(both, 'micro'):.2f} overall F1 on the fully annotated test set, vs {m(full, 'micro'):.2f} for "
           f"full annotation on as many sentences ({m(both, 'micro') - m(full, 'micro'):+.2f}); the single halves "
           f"reach {m('chemical half only', 'micro'):.2f} and {m('disease half only', 'micro'):.2f} (one type each)."]
    chem = m(both, "Chemical") - m("chemical half only", "Chemical")
    dis = m(both, "Disease") - m("disease half only", "Disease")
    out.append(f"Per type, both halves vs the matching single half: Chemical {chem:+.2f}, Disease {dis:+.2f} "
               f"(the two-corpus model also learns from the other half's sentences, where its type is unannotated "
               f"but not punished).")
    gap = m(both, "micro") - m(full, "micro")
    verdict = ("reproduced: partial annotation gets within 3 F1 of full annotation" if gap >= -3.0 else
               "NOT reproduced at this budget: partial annotation stays more than 3 F1 below full annotation")
    out.append(f"The paper's claim (global prediction from partially annotated corpora approaches full "
               f"annotation) is {verdict}.")
    return out


def markdown(report: dict) -> str:
    cells, meta = report["summary"], report["meta"]
    lines = ["### Experiment 2: global prediction from partial annotation (BC5CDR halves)", "",
             f"Test F1 (strict, %) on {meta['test_sentences_scored']} fully annotated BC5CDR test sentences, mean ± sd "
             f"over seeds {meta['seeds']}; {meta['train_sentences']} train sentences per half (the reference: twice "
             f"as many), {meta['epochs']} epochs, batch {meta['batch_size']}.", "",
             "| row | overall (micro) | Chemical | Disease |", "|---|---:|---:|---:|"]
    for row in ROWS:
        lines.append(f"| {row} | " + " | ".join(fmt_mean_sd(cells[f"{row}|{w}"]) for w in ("micro",) + TYPES)
                     + " |")
    lines += ["", steps_line(report["records"]), ""] + [f"- {f}" for f in report["findings"]] + footer(meta)
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    cells = report["summary"]
    groups = ("micro",) + TYPES
    grouped_bars(path, ["overall", *TYPES], {row: [cells[f"{row}|{g}"] for g in groups] for row in ROWS},
                 "Experiment 2: BC5CDR, partial vs full annotation", size=(7.5, 3.8))


def main(argv: list[str] | None = None) -> int:
    args = experiment_parser(__doc__, "partial_annotation", PROFILES).parse_args(argv)
    quiet_env()
    require_corpora("BC5CDR-IOB")
    profile = "smoke" if args.smoke else args.profile
    prof = PROFILES[profile]
    t0 = time.perf_counter()
    out = args.output_dir / profile
    folders = write_halves(out)
    jobs = jobs_for(prof, args.encoder, out, folders)
    print(f"experiment 2 (partial_annotation, {profile}): {len(jobs)} trainer runs, {args.jobs} side by side")
    outcomes = run_jobs(jobs, args.jobs, args.threads)
    records = [{"row": j["row"], "seed": j["seed"], "run": j["name"], "test": o["test"], "wall_s": o["wall_s"],
                "best_epoch": o["results"]["best"]["epoch"], "steps": o["results"]["history"][-1]["step"],
                "train_sentences": {c: i.get("train_sentences") for c, i in o["results"]["corpora"].items()},
                "config": str(Path(j["config"]["output_dir"]) / "train_config.json")}
               for j, o in zip(jobs, outcomes)]
    meta = {**run_meta("partial_annotation", args, profile, prof, t0, argv),
            "test_sentences_scored": outcomes[0]["test_sentences"]}
    cells = summarise(records)
    report = {"benchmark": "partial_annotation", "meta": meta, "records": records, "summary": cells,
              "findings": findings(cells)}
    save_report("partial_annotation", profile, report, markdown, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
