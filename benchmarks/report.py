"""BENCHMARKS.md's sections, built from the stored results of `benchmarks.standard` (no run here).

Each `*_markdown()` returns the lines of one section (empty when its experiment has no result yet);
`report_sections()` gives them in page order, experiment 1 first. Verdicts follow issue 16's rule
(`verdict`), fixed before the numbers.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from benchmarks.standard import (
    EXP1_CORPORA,
    EXP1_FAMILIES,
    EXP4_EPOCHS,
    EXP4_METHODS,
    EXP5_RATES,
    REPO,
    RESULTS,
    SPEED_MODELS,
    load_results,
)

#: issue 14's candidates for the MRC family's default (model overrides), each with the papers' loss
#: weights and loss; `ner_mrc_half` was added after the first round
MRC_CANDIDATES: dict[str, dict[str, Any]] = {
    "ner_mrc": {"enabled_heads": ["ner", "mrc"]},
    "ner_mrc_half": {"enabled_heads": ["ner", "mrc"], "mrc_sentence_fraction": 0.5},
    "ner_mg": {"enabled_heads": ["ner", "mtcls", "bcls", "mcls"]},
    "ner": {"enabled_heads": ["ner"]},
}


def mrc_candidate_label(tag: str) -> str:
    o = MRC_CANDIDATES[tag]
    label = " + ".join(o["enabled_heads"])
    frac = o.get("mrc_sentence_fraction", 1.0)
    return label + (f" (MRC on {frac:.0%} of each batch)" if frac < 1.0 else "")


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f} (1 seed)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def recipes_markdown() -> list[str]:
    rows = load_results("recipes")
    if not rows:
        return []
    out = ["## Family recipes through `biomtl train` (full NCBI-disease, 3 epochs)", "",
           "Candidates, chosen on NCBI-disease **dev** F1 (seed 13; test F1 shown, never used): the generic settings "
           "every family used before (batch 16, lr 1e-4/1e-3, warm-up 1/0.5 epochs; `*_old`) and alternatives. "
           "Layer-sliced: an unconstrained CRF (`lscrf_unconstrained`, the former default), batch 32 with lr 2e-4 and "
           "warm-up 0.3 (`lscrf_bs32`), a 0.1-epoch warm-up (`lscrf_warm01`), and the CRF's illegal IOBES moves "
           "masked (`lscrf_constrained`: best dev F1, now the default). SRU-NER: warm-up 0.1 epochs, chosen for short "
           "runs; its full-data dev comparison (`sru_old_s13`) has not run. `python -m benchmarks.standard recipes`."]
    out += runs_table(rows)
    means: dict[str, list[float]] = {}
    for name, r in rows.items():
        if (prefix := name.rsplit("_s", 1)[0]) in ("sru_default", "lscrf_constrained"):
            means.setdefault(prefix, []).append(r["test"]["merged"].get("average"))
    return out + ["Mean test F1 of the default recipes (issue 12's check: >= 83.0): "
                  + "; ".join(f"{k} {_mean_sd(v)}" for k, v in means.items()) + ".", ""]


def sparse_markdown() -> list[str]:
    rows = load_results("sru_sparse")
    return ["## SRU-NER on small sparse corpora (issue 13's check)", "",
            "500 training sentences, 5 epochs, batch 8, the default recipe (`python -m benchmarks.standard "
            "sru_sparse`). Before the early-learning fix both Linnaeus seeds scored 0.00."] + runs_table(rows) if rows else []


def learning_markdown() -> list[str]:
    folder = RESULTS / "sru_learning"
    runs = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    if not runs:
        return []
    out = ["## SRU-NER early learning: what the first steps do (`python -m benchmarks.sru_learning`)", "",
           "Linnaeus, 500 training sentences, 5 epochs, batch 8, through `biomtl train` with a checkpoint every "
           "few steps; each checkpoint is probed teacher-forced on 48 training sentences with mentions: sigma(TR) "
           "on the gold TR rows and on the SH row that follows each of them, sigma(SH) on both, the entropy of "
           "the SRU attention (uniform = log Q), and the mentions `predict_spans` emits on those sentences.", ""]
    for name, r in runs.items():
        flags = ", ".join(f"{k}={v}" for k, v in (r.get("model_flags") or {}).items())
        warm = ((r.get("resolved_config") or {}).get("optim") or {}).get("encoder_warmup_epochs")
        flags += f"; encoder warm-up {warm} epochs" if warm is not None else ""
        out += [f"**{name}** ({flags}): test F1 {r['test_f1']:.2f}; dev F1 per epoch "
                f"{', '.join(f'{x:.1f}' for x in r['dev_curve'])}; first probed step that emits a mention: "
                f"{r['first_step_with_a_mention']}.", "",
                "| step | s(TR) on TR rows | s(TR) on next SH rows | s(SH) on TR rows | s(SH) on next SH rows "
                "| attention entropy (uniform) | mentions emitted / gold |", "|---|---|---|---|---|---|---|"]
        for p in r["probe"]:
            out.append(f"| {p['step']} | {p['sigma_tr_on_tr_rows']:.3f} | {p['sigma_tr_on_next_sh_rows']:.3f} "
                       f"| {p['sigma_sh_on_tr_rows']:.3f} | {p['sigma_sh_on_next_sh_rows']:.3f} "
                       f"| {p['attention_entropy']:.2f} ({p['uniform_entropy']:.2f}) "
                       f"| {p['mentions_predicted']} / {p['mentions_gold']} |")
        out.append("")
    return out


def conflicts_markdown() -> list[str]:
    train = load_results("conflicts").get("sru_ncbi_bc5cdr_s13")
    if not train or "evaluate" not in train:
        return []
    out = ["## One type per span: same-span conflicts in global predictions (issue 18)", "",
           f"SRU-NER trained on the full NCBI-disease + BC5CDR train splits (3 epochs, default recipe, {_wall(train)}). "
           "Global predictions: every head predicts on every test sentence, types mapped by bare name, each corpus "
           "scored on the types it annotates (`biomtl evaluate --mode merged`). `keep` returns every head's prediction; "
           "`resolve` (the default) keeps one type per identical span: the corpus that annotates both types decides, "
           "else the higher score. On BC5CDR the arbiter grades itself; NCBI-disease is the fair test. "
           "`python -m benchmarks.standard conflicts`.", "",
           "| test set | conflicts | P | R | F1 | TP | FP | FN |", "|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['corpus']} | {r['conflicts']} | {r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | {r['tp']} "
            f"| {r['fp']} | {r['fn']} |" for r in train["evaluate"]["rows"]]
    return out + [""]


def mrc_heads_markdown() -> list[str]:
    rows = load_results("mrc_heads")
    if not rows:
        return []
    out = ["## MRC family: the default head set, chosen on NCBI-disease dev (issue 14)", "",
           "Candidates (`mrc_<candidate>_frac10` / `_full`): " + "; ".join(f"`{t}` = {mrc_candidate_label(t)}"
                                                                        for t in MRC_CANDIDATES)
           + "; the papers' loss weights and loss, argmax decoding, seed 13; 10 % of the train split (10 epochs, dev "
           "early stopping) and 100 % (3 epochs). Rule, fixed before the runs: the best mean dev F1 over the two "
           "fractions; within 0.3 F1, the cheaper; a candidate more than 4 F1 behind at 10 % does not run at 100 %; "
           "issue 14 caps the default's training time at " + f"{TIME_CAP}x SRU-NER's. Test F1 is shown, never used. "
           "`python -m benchmarks.standard mrc_heads`."] + runs_table(rows)
    means = {t: (rows[f"mrc_{t}_frac10_s13"]["dev"]["merged"]["average"] + rows[f"mrc_{t}_full_s13"]["dev"]["merged"]
                 ["average"]) / 2 for t in MRC_CANDIDATES if f"mrc_{t}_frac10_s13" in rows and f"mrc_{t}_full_s13" in rows}
    speed = training_time_ratios()
    out.append("Mean dev F1: " + ", ".join(f"{t} {m:.2f}" for t, m in means.items()) + ". Training time against "
               "SRU-NER (`python -m benchmarks.standard train_speed --force`: a quarter epoch each, back to back): "
               + ", ".join(f"{t} {r:.2f}x" for t, r in speed.items()) + f". By the rule alone: "
               f"**{choose_mrc_heads(means, rows)}**; within the cap: **{choose_mrc_heads(means, rows, speed)}**, the "
               "family's default, which then decodes with Viterbi (decoding section).")
    tests = list(_by_seed(rows, "mrc_default", lambda r: r["test"]["merged"]["average"]).values())
    if tests:
        out += ["", "The family's defaults (`mrc_default`: NER alone, Viterbi), full NCBI-disease, 3 epochs, through "
                f"`biomtl train`: mean test F1 {_mean_sd(tests)} (issue 14's check: >= 82.5)."]
    return out + [""]


#: issue 14's cap on the MRC default's training time, as a multiple of SRU-NER's
TIME_CAP = 1.5


def training_time_ratios() -> dict[str, float]:
    """Training-loop seconds of each measured MRC candidate over SRU-NER's, from `train_speed`."""
    rows = load_results("train_speed")
    sru = rows.get("sru_quarter_epoch")
    if not sru:
        return {}
    return {t: rows[f"mrc_{t}_quarter_epoch"]["train_runtime_s"] / sru["train_runtime_s"]
            for t in MRC_CANDIDATES if f"mrc_{t}_quarter_epoch" in rows}


def choose_mrc_heads(means: dict[str, float], rows: dict[str, dict],
                     time_ratios: dict[str, float] | None = None) -> str | None:
    """The rule of the table: best mean dev F1; within 0.3 F1 of it, the cheapest (least 100 % wall).
    With `time_ratios`, candidates measured above `TIME_CAP` x SRU-NER's training time are left out."""
    if time_ratios is not None:
        means = {t: m for t, m in means.items() if time_ratios.get(t, 0.0) <= TIME_CAP}
    if not means:
        return None
    best = max(means.values())
    close = [t for t, m in means.items() if m >= best - 0.3]
    return min(close, key=lambda t: rows[f"mrc_{t}_full_s13"]["wall_s"])


def baseline_markdown() -> list[str]:
    rows = load_results("baseline")
    if not rows:
        return []
    out = ["## Baseline check: the token-classification family (issue 16)", "",
           "Full NCBI-disease, 3 epochs, the family's default recipe (batch 32, lr 2e-4, 10 % warm-up), "
           "`python -m benchmarks.standard baseline`; trained when the family decoded with argmax. Required before any "
           "comparison: mean test F1 >= 83.0 (plain token classification on this encoder: 83.2 outside the project). "
           "`tc_nogroup`: the candidate without length-grouped batches."] + runs_table(rows)
    for group in ("tc_default", "tc_nogroup"):
        tests = list(_by_seed(rows, group, lambda r: r["test"]["merged"]["average"]).values())
        out.append(f"{group} (argmax): mean test F1 {_mean_sd(tests)}: check {'met' if _mean(tests) >= 83.0 else 'not met'}.")
    decoded = _decoded_tests("tc_s", "viterbi")
    if decoded:
        out.append("\ntc_default with the family's default decoding since (Viterbi; the same checkpoints re-scored with "
                   "`biomtl evaluate`, decoding table below): test F1 " + ", ".join(f"{k} {v:.2f}" for k, v in decoded.items())
                   + f", mean {_mean_sd(list(decoded.values()))}: check "
                   f"{'met' if _mean(list(decoded.values())) >= 83.0 else 'not met'}.")
    return out + [""]


def _decoded_tests(prefix: str, decoding: str) -> dict[str, float]:
    """Test F1 of the re-scored checkpoints (`benchmarks/decoding.py`) whose name starts with `prefix`."""
    path = RESULTS / "decoding.json"
    if not path.exists():
        return {}
    return {r["model"]: r["test"]["f1"] for r in json.loads(path.read_text())["rows"]
            if r["model"].startswith(prefix) and r["decoding"] == decoding}


def decoding_markdown() -> list[str]:
    path = RESULTS / "decoding.json"
    if not path.exists():
        return []
    rep = json.loads(path.read_text())
    out = ["## BIO decoding: per-word argmax against the best well-formed sequence (issues 14, 16)", "",
           "The same trained checkpoints scored twice with `biomtl evaluate` (strict F1), changing only "
           "`bio_decoding` in their config: `argmax` takes each word's most probable tag, so an `I-t` after `O` "
           "opens a span of its own; `viterbi` takes the most probable sequence in which `I-t` follows `B-t` / "
           "`I-t`. Decided on the seed-13 MRC checkpoint's dev F1; test F1 is shown, never used. `"
           + rep["command"] + "`.", "",
           "| checkpoint | decoding | dev P / R / F1 | test P / R / F1 |", "|---|---|---|---|"]
    for r in rep["rows"]:
        d, t = r["validation"], r["test"]
        out.append(f"| {r['model']} | {r['decoding']} | {_f(d['precision'])} / {_f(d['recall'])} / {_f(d['f1'])} "
                   f"| {_f(t['precision'])} / {_f(t['recall'])} / {_f(t['f1'])} |")
    return out + [""]


#: SRU-NER paper (BioLinkBERT-large, six-corpus MT model, test micro-F1): Table 1 MT merged / disjoint,
#: Table 3 single-task; the paper's average is over its six corpora
PAPER_EXP1 = {"NCBI-disease": (87.32, 88.71, 89.25), "BC5CDR": (89.37, 90.26, 90.61),
              "BC2GM": (78.80, 83.95, 85.43), "Linnaeus": (88.82, 88.82, 89.62)}


def verdict(paper_diff: float, diffs: list[float]) -> str:
    """Issue 16's rule, fixed before the numbers: `diffs` = our difference per seed (same sign
    convention as `paper_diff`). Reproduced iff the signs match and |mean| > max(2 x seed SD, 0.5);
    not reproduced iff the signs differ by the same margin; otherwise inconclusive. With one seed the
    margin is 2 F1, and below it the verdict says "(1 seed)"."""
    if not diffs:
        return "not run"
    mean = statistics.mean(diffs)
    margin = 2.0 if len(diffs) == 1 else max(2 * statistics.stdev(diffs), 0.5)
    if abs(mean) > margin and paper_diff != 0:
        return "reproduced" if (mean > 0) == (paper_diff > 0) else "not reproduced"
    return "inconclusive (1 seed)" if len(diffs) == 1 else "inconclusive"


def exp1_values(rows: dict[str, dict], tag: str, kind: str, corpus: str, mode: str = "merged") -> dict[int, float]:
    """{seed: test F1} of family `tag`'s `kind` ("stl" | "mtl") runs on `corpus` (or "Average": the mean
    over the four corpora, for STL only when all four single-task runs exist)."""
    seeds = sorted({int(n.rsplit("_s", 1)[1]) for n in rows})
    out = {}
    for seed in seeds:
        if kind == "mtl":
            v = (rows.get(f"{tag}_mtl4_s{seed}") or {}).get("test", {}).get(mode, {}).get(
                "average" if corpus == "Average" else corpus)
        else:
            per = [(rows.get(f"{tag}_{k}_s{seed}") or {}).get("test", {}).get("merged", {}).get(c)
                   for k, c in EXP1_CORPORA.items() if corpus in (c, "Average")]
            v = statistics.mean(per) if per and None not in per else None
        if v is not None:
            out[seed] = v
    return out


def _diffs(a: dict[int, float], b: dict[int, float]) -> list[float]:
    return [a[s] - b[s] for s in sorted(a) if s in b]


def exp1_markdown() -> list[str]:
    """Issue 16: the experiment-1 table (BENCHMARKS.md opens with it), the baseline check, convergence."""
    rows = load_results("exp1")
    if not rows:
        return []
    seeds = sorted({int(n.rsplit("_s", 1)[1]) for n in rows})
    out = ["## Experiment 1: multi-task vs single-task at full data (SRU-NER and token classification)", "",
           "Test strict F1 per corpus (seed" + ("s " if len(seeds) > 1 else " ") + ", ".join(map(str, seeds))
           + (", mean ± SD" if len(seeds) > 1 else "") + "); full train splits of "
           "NCBI-disease, BC5CDR, BC2GM and Linnaeus, full dev sets for selection, full test sets; embedded MiniLM "
           "encoder (6 layers, 384 hidden); 3 epochs of each family's recipe (dev early stopping, patience 1). STL = one "
           "model per corpus; MTL = one model on all four with `sampling: proportional`: every training sentence once "
           "per epoch, so each corpus sees the same sentences, as often, as in its single-task run (equal budget). "
           "MTL disjoint = each corpus scored on its own types' predictions; merged = every type the model predicts, "
           "mapped to the corpus's bare types. Paper: SRU-NER with **BioLinkBERT-large**, its six-corpus MT model "
           "(Table 1) and single-task models (Table 3). `python -m benchmarks.standard exp1` (one stored `biomtl "
           "train` config per run, `benchmarks/results/standard/exp1/<run>.yaml`).", "",
           "| corpus | SRU STL | SRU MTL disjoint / merged | TC STL | TC MTL disjoint / merged | paper ST / MT "
           "disjoint / merged | SRU MTL − STL disjoint (paper) | verdict | merged (paper) | verdict "
           "| TC MTL − STL disjoint |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    paper_avg = tuple(statistics.mean(v[i] for v in PAPER_EXP1.values()) for i in range(3))
    for corpus in [*EXP1_CORPORA.values(), "Average"]:
        p_merged, p_disjoint, p_st = PAPER_EXP1.get(corpus, paper_avg)
        v = {(tag, kind, mode): exp1_values(rows, tag, kind, corpus, mode) for tag in EXP1_FAMILIES
             for kind, mode in (("stl", "merged"), ("mtl", "disjoint"), ("mtl", "merged"))}

        def cell(key, v=v):
            return _mean_sd(list(v[key].values())).replace(" (1 seed)", "")

        cells = [cell(("sru", "stl", "merged")), f"{cell(('sru', 'mtl', 'disjoint'))} / {cell(('sru', 'mtl', 'merged'))}",
                 cell(("tc", "stl", "merged")), f"{cell(('tc', 'mtl', 'disjoint'))} / {cell(('tc', 'mtl', 'merged'))}",
                 f"{p_st:.2f} / {p_disjoint:.2f} / {p_merged:.2f}"]
        for mode, paper in (("disjoint", p_disjoint - p_st), ("merged", p_merged - p_st)):
            d = _diffs(v["sru", "mtl", mode], v["sru", "stl", "merged"])
            cells += [f"{_mean_sd(d).replace(' (1 seed)', '')} ({paper:+.2f})", verdict(paper, d)]
        cells.append(_mean_sd(_diffs(v["tc", "mtl", "disjoint"], v["tc", "stl", "merged"])).replace(" (1 seed)", ""))
        out.append(f"| {'**Average** (4 corpora)' if corpus == 'Average' else corpus} | " + " | ".join(cells) + " |")
    out += ["", "Verdict rule (fixed before the numbers): reproduced iff the sign of our MTL − STL difference "
            "matches the paper's and |difference| > max(2 × seed SD, 0.5 F1); not reproduced iff the sign is "
            "opposite with the same margin; else inconclusive; with one seed, inconclusive (1 seed) unless "
            "|difference| > 2 F1. The paper's MT model is slightly *below* its single-task models on every corpus "
            "(−0.35 to −1.48 disjoint), so its claim is that one model comes close to four. The paper's average "
            "here is over these four corpora."]
    tc = list(exp1_values(rows, "tc", "stl", "NCBI-disease").values())
    where = "this table's token-classification STL NCBI-disease run"
    if not tc:  # not run here yet: the baseline section's checkpoints, re-scored with today's decoding
        tc, where = list(_decoded_tests("tc_s", "viterbi").values()), ("the baseline section's checkpoints with the "
                                                                      "family's default Viterbi decoding (`biomtl evaluate`)")
    if tc:
        out += ["", f"**Baseline check** (token classification, full NCBI-disease, 3 epochs, default recipe; {where}): "
                f"test F1 {_mean_sd(tc)}: **{'met' if _mean(tc) >= 83.0 else 'not met'}** (>= 83.0; plain token "
                "classification on this encoder: 83.2 outside the project)."]
    return out + runs_table(rows, "exp1")


def plot_dev_curves(rows: dict[str, dict], path: Path) -> Path | None:
    """Dev F1 against evaluation (epochs, counted across phases) for every run, one panel per family
    tag: a run's merged average (solid) and, for a multi-corpus run, each corpus's disjoint F1 (dashed)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    tags = sorted({n.split("_")[0] for n in rows})
    fig, axes = plt.subplots(1, len(tags), figsize=(6 * len(tags), 4.5), squeeze=False)
    for ax, tag in zip(axes[0], tags):
        for name, r in ((n, r) for n, r in rows.items() if n.split("_")[0] == tag):
            x = list(range(1, len(r["dev_curve"]) + 1))
            ax.plot(x, [c["merged_average_f1"] for c in r["dev_curve"]], marker="o", label=name)
            per = [c.get("per_corpus", {}).get("disjoint", {}) for c in r["dev_curve"]]
            for corpus in per[0] if len(per[0]) > 1 else []:
                ax.plot(x, [p.get(corpus) for p in per], ls="--", lw=1, label=f"{name}: {corpus}")
        ax.set(title=tag, xlabel="epoch (across phases)", ylabel="dev F1")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def runs_table(rows: dict[str, dict], experiment: str | None = None) -> list[str]:
    """Every run: dev F1 per epoch, best epoch / epochs run, the last epoch's dev change, test P / R / F1
    (merged average over the run's corpora), wall time and machine; with `experiment`, the dev-curve plot."""
    out = ["", "| run | dev F1 per epoch | best / run | last-epoch change | test P / R / F1 | wall | machine |",
           "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        best, t = r["best"], (r.get("test_detail") or {}).get("merged", {}).get("average", {})
        where = (f"{best['phase']} " if best.get("phase") not in (None, "train") else "") + str(best["epoch"])
        curve = ", ".join(f"{c['merged_average_f1']:.2f}" for c in r["dev_curve"])
        out.append(f"| {name} | {curve} "
                   f"| {where} / {r['epochs_run']} | {_f(r['last_epoch_dev_change'])} | {_f(t.get('precision'))} / "
                   f"{_f(t.get('recall'))} / {_f(t.get('f1'))} | {_wall(r)} | {_machine(r['machine'])} |")
    plot = plot_dev_curves(rows, RESULTS / f"{experiment}_dev_curves.png") if experiment else None
    return out + ([f"\n![dev F1 per epoch, {experiment}]({os.path.relpath(plot, REPO)})"] if plot else []) + [""]


def _machine(m: str) -> str:  # the per-row part of a machine description (the page header has it all)
    return ", ".join(x for x in m.split(", ") if "core" in x or "thread" in x or "cuda" in x.lower()) or m


def _wall(r: dict) -> str:
    return "–" if r.get("wall_s") is None else f"{r['wall_s'] / 60:.1f} min"


def _mean(values: list[float]) -> float:
    return statistics.mean(values) if values else float("nan")


def _by_seed(rows: dict[str, dict], prefix: str, get) -> dict[int, float]:
    """{seed: get(result)} over the runs `<prefix>_s<seed>` that have a value."""
    vals = {int(n.rsplit("_s", 1)[1]): get(r) for n, r in rows.items() if n.rsplit("_s", 1)[0] == prefix}
    return {k: v for k, v in sorted(vals.items()) if v is not None}


def _type_f1(r: dict, label: str) -> float | None:
    """F1 of a bare type in a run's `biomtl evaluate` report (merged: labels are `<corpus>/<type>`)."""
    per = (r.get("evaluate") or {}).get("per_type", {})
    return next((v["f1"] for k, v in per.items() if k.rsplit("/", 1)[-1] == label), None)


#: SRU-NER paper Table 5 (BC5CDR halves, full test, F1): per row, Chemical and Disease
PAPER_EXP2 = {"chem_half": (91.27, None), "disease_half": (None, 85.41), "both_halves": (91.81, 86.10)}


def exp2_markdown() -> list[str]:
    rows = load_results("exp2")
    if not rows:
        return []
    out = ["## Experiment 2: partial annotation (BC5CDR halves)", "",
           "BC5CDR's train and dev sentences split into two random halves (`partial_annotation_split`, seed 13): "
           "Chemical annotated only in one, Disease only in the other. SRU-NER, 3 epochs, default recipe; both halves "
           "= one model on the two halves as two corpora. Every model scored on the full BC5CDR test with "
           "`biomtl evaluate --mode merged` (strict F1 per type). Paper: SRU-NER Table 5 (BioLinkBERT-large). "
           "`python -m benchmarks.standard exp2`.", "",
           "| row | Chemical F1 | Disease F1 | micro F1 | paper Chemical / Disease |", "|---|---|---|---|---|"]
    for tag in ("chem_half", "disease_half", "both_halves", "full"):
        pc, pd = PAPER_EXP2.get(tag, (None, None))
        cells = [_mean_sd(list(_by_seed(rows, f"sru_{tag}", lambda r, t=t: _type_f1(r, t)).values()))
                 for t in ("Chemical", "Disease")]
        micro = _mean_sd(list(_by_seed(rows, f"sru_{tag}", lambda r: (r.get("evaluate") or {}).get("micro", {}).get(
            "f1")).values()))
        out.append(f"| {tag.replace('_', ' ')} | {cells[0]} | {cells[1]} | {micro} | {_f(pc)} / {_f(pd)} |")
    out += ["", "Claims (both halves against the single half of the same type, per seed):", ""]
    for label, single, paper in (("Chemical", "chem_half", 91.81 - 91.27), ("Disease", "disease_half", 86.10 - 85.41)):
        diffs = _diffs(_by_seed(rows, "sru_both_halves", lambda r, t=label: _type_f1(r, t)),
                       _by_seed(rows, f"sru_{single}", lambda r, t=label: _type_f1(r, t)))
        out.append(f"- {label}: both halves − {single.replace('_', ' ')} {_mean_sd(diffs)} (paper {paper:+.2f}): "
                   f"**{verdict(paper, diffs)}**.")
    return out + runs_table(rows, "exp2")


def exp3_markdown() -> list[str]:
    rows = load_results("exp3")
    if not rows:
        return []
    out = ["## Experiment 3: nested NER (GENIA)", "",
           "SRU-NER on a document split of GENIA-nested (the dev file of Yan et al.'s split, the only one provided: 20 % "
           "of the documents for test, 10 % of the rest for dev), 10 epochs, dev early stopping (patience 2). Test "
           "documents scored with `biomtl evaluate --nested`: a mention is nested when it contains or lies inside "
           "another. Paper: GENIA nested F1 80.10 (Table 2; full GENIA train, 15k sentences, BioLinkBERT-large): a "
           "reference, not a comparison. `python -m benchmarks.standard exp3`.", "",
           "| run | scope | P | R | F1 | gold mentions |", "|---|---|---|---|---|---|"]
    for name, r in rows.items():
        for scope, s in ((r.get("evaluate") or {}).get("nesting") or {}).items():
            out.append(f"| {name} | {scope} | {s['precision']:.2f} | {s['recall']:.2f} | {s['f1']:.2f} | {s['gold']} |")
    return out + runs_table(rows, "exp3")


#: MRC paper Table 5 / MG paper Table 3, NCBI-disease test F1: BioBERT against NER+MRC / MG-max
PAPER_EXP4 = {"ner_mrc": {50: (88.62, 88.89), 25: (85.79, 86.50), 10: (80.10, 82.08)},
              "ner_mg": {100: (89.36, 89.91), 50: (88.62, 89.16), 25: (85.79, 87.12), 10: (80.10, 83.39)}}


def exp4_markdown() -> list[str]:
    rows = load_results("exp4")
    if not rows:
        return []
    test = {(tag, pct): _by_seed(rows, f"{tag}_frac{pct}", lambda r: r["test"]["merged"].get("average"))
            for tag in EXP4_METHODS for pct in EXP4_EPOCHS}
    out = ["## Experiment 4: low resource (NCBI-disease, MRC and multi-granularity heads)", "",
           "Seeded subsamples of the NCBI-disease train split, full dev and test; epoch budget per fraction "
           + ", ".join(f"{p} %: {e}" for p, e in EXP4_EPOCHS.items())
           + " epochs, dev early stopping. tc = the token-classification family; mrc = the MRC family's default "
           "(NER alone); ner_mrc = NER + MRC; ner_mg = NER + bCLS/mCLS/mtCLS. Test F1 (mean ± SD over seeds). "
           "Papers: the gain of NER+MRC ([MRC] Table 5) and MG-max ([MG] Table 3) over BioBERT. "
           "`python -m benchmarks.standard exp4`.", "",
           "| fraction | " + " | ".join(EXP4_METHODS) + " | ner_mrc − tc (paper) | verdict | ner_mg − tc (paper) "
           "| verdict |", "|---|" + "---|" * (len(EXP4_METHODS) + 4)]
    for pct in EXP4_EPOCHS:
        cells = [_mean_sd(list(test[tag, pct].values())) for tag in EXP4_METHODS]
        for tag in ("ner_mrc", "ner_mg"):
            paper = PAPER_EXP4[tag].get(pct)
            diffs = _diffs(test[tag, pct], test["tc", pct])
            gain = None if paper is None else paper[1] - paper[0]
            cells += [f"{_mean_sd(diffs)} ({'–' if gain is None else f'{gain:+.2f}'})",
                      "no paper number" if gain is None else verdict(gain, diffs)]
        out.append(f"| {pct} % | " + " | ".join(cells) + " |")
    return out + runs_table(rows, "exp4")


#: layer-sliced paper Table 1/2 (XLNet-large, test F1): STL, MTL-XC, MTL-LS at rates 0.25/0.5/0.75/1.0
PAPER_EXP5 = {"NCBI-disease": (88.26, 88.75, (85.23, 86.79, 89.24, 88.97)),
              "BC5CDR-disease": (86.44, 86.87, (86.10, 87.04, 86.28, 87.34))}


def exp5_markdown() -> list[str]:
    rows = load_results("exp5")
    if not rows:
        return []
    corpora = {"NCBI-disease": "ncbi_disease", "BC5CDR-disease": "bc5cdr_disease"}

    def test(prefix: str, corpus: str, mode: str = "disjoint") -> dict[int, float]:
        return _by_seed(rows, prefix, lambda r: next((v for k, v in r["test"][mode].items() if k.startswith(corpus)), None))

    dev = {rate: statistics.mean(v.values()) for rate in EXP5_RATES
           if (v := _by_seed(rows, f"ls{int(rate * 100)}", lambda r: r["dev"]["merged"].get("average")))}
    chosen = max(dev, key=dev.get) if dev else None
    out = ["## Experiment 5: layer-sliced CRF, STL vs MTL-XC vs MTL-LS (disease group)", "",
           "NCBI-disease + BC5CDR (Disease only); chemical and gene have one corpus each here, so they form no group. "
           "STL = one layer-sliced CRF per corpus, 3 epochs; MTL-XC = one shared encoder and CRF, 3 epochs; MTL-LS = "
           "1.5 epochs of MTL-XC, then 1.5 of MTL-LS from it (bottom round(r x 6) layers shared, the rest one copy per "
           "corpus; the same steps as MTL-XC). The rate is chosen on mean dev F1"
           + (f": **r = {chosen}** (dev " + ", ".join(f"{k}: {v:.2f}" for k, v in dev.items()) + ")" if chosen else "")
           + ". Test F1 on each corpus's own head (disjoint). Paper: XLNet-large, Tables 1-2. "
           "`python -m benchmarks.standard exp5`.", "",
           "| corpus | STL | MTL-XC | " + " | ".join(f"LS {r}" for r in EXP5_RATES)
           + " | paper STL / XC / LS by rate | XC − STL (paper) | verdict | LS chosen − XC (paper) | verdict |",
           "|---|---|---|" + "---|" * (len(EXP5_RATES) + 5)]
    for corpus, key in corpora.items():
        p_stl, p_xc, p_ls = PAPER_EXP5[corpus]
        stl, xc = test(f"stl_{key}", corpus, "merged"), test("xc", corpus)
        ls = {r: test(f"ls{int(r * 100)}", corpus) for r in EXP5_RATES}
        cells = [_mean_sd(list(v.values())) for v in (stl, xc, *(ls[r] for r in EXP5_RATES))]
        cells.append(f"{p_stl:.2f} / {p_xc:.2f} / " + ", ".join(f"{v:.2f}" for v in p_ls))
        d_xc = _diffs(xc, stl)
        cells += [f"{_mean_sd(d_xc)} ({p_xc - p_stl:+.2f})", verdict(p_xc - p_stl, d_xc)]
        if chosen is not None:
            p_gain = p_ls[EXP5_RATES.index(chosen)] - p_xc
            d_ls = _diffs(ls[chosen], xc)
            cells += [f"{_mean_sd(d_ls)} ({p_gain:+.2f})", verdict(p_gain, d_ls)]
        else:
            cells += ["–", "not run"]
        out.append(f"| {corpus} | " + " | ".join(cells) + " |")
    return out + runs_table(rows, "exp5")


def exp6_markdown() -> list[str]:
    path = RESULTS / "exp6" / "speed.json"
    if not path.is_file():
        return []
    from benchmarks import speed

    report = json.loads(path.read_text())
    return (["## Experiment 6: speed and memory of every family", "",
             "Trained NCBI-disease checkpoints (" + ", ".join(f"{k}: `{v}`" for k, v in SPEED_MODELS.items())
             + "), measured side by side in one run with equal threads: `" + report.get("command", "") + "`.", ""]
            + list(speed.markdown(report)) + [""])


def stored_markdown(stem: str, title: str, note: str) -> list[str]:
    """A benchmark's own stored table (`benchmarks/results/<stem>.md`), under a section title."""
    paths = sorted((RESULTS.parent).glob(f"{stem}*.md"))
    body = [line for p in paths for line in p.read_text().splitlines() if not line.startswith("# ")]
    return ["## " + title, "", note, ""] + [("#" + x if x.startswith("##") else x) for x in body] + [""] if paths else []


def report_sections() -> list[tuple[str, str]]:  # (analysis key, markdown) of each section with results
    speed = exp6_markdown()
    sections = [("exp1", exp1_markdown()), ("exp2", exp2_markdown()), ("exp3", exp3_markdown()),
                ("exp4", exp4_markdown()), ("exp5", exp5_markdown()), ("exp6", speed),
                ("baseline", baseline_markdown()), ("recipes", recipes_markdown()),
                ("mrc_heads", mrc_heads_markdown() + decoding_markdown()),
                ("sru_sparse", sparse_markdown() + learning_markdown()), ("conflicts", conflicts_markdown()),
                ("onnx", [] if speed else stored_markdown(
                    "onnx_speed", "ONNX Runtime against eager PyTorch (issue 19; recorded before experiment 6)",
                    "Measured by the former `benchmarks.onnx_speed` on the checkpoints of that time; experiment 6 "
                    "(`benchmarks.speed --backend eager,onnx-fp32,onnx-int8`) replaces it once it has run.")),
                ("prepare_speed", stored_markdown("prepare_speed", "Data preparation speed (foundation)",
                                                  "`python -m benchmarks.prepare_speed`."))]
    return [(name, "\n".join(lines)) for name, lines in sections if lines]
