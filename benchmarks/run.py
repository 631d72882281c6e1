"""Run every benchmark and rewrite BENCHMARKS.md (tables, plots, verdicts) from their results.

    python -m benchmarks.run --profile quick            # everything, about 4 h on 2 CPU cores
    python -m benchmarks.run --profile quick --only mtl_vs_stl nested_genia
    python -m benchmarks.run --report-only              # rebuild BENCHMARKS.md + plots from results/*.json
    python -m benchmarks.run --profile full --encoder michiyasunaga/BioLinkBERT-base   # GPU, paper-size
    python -m benchmarks.run --profile smoke            # every experiment end-to-end on tiny data (~10 min)

Each experiment is its own entry point (`python -m benchmarks.<name>`), run here in a subprocess; it
writes `benchmarks/results/<name>[.<profile>].json` and `.md`. This script then draws the plots from
the JSON files and assembles BENCHMARKS.md: the verdict table first (does each paper's claim show in
our numbers?), then one section per experiment with its command, settings, wall time and machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ANALYSIS = ROOT / "benchmarks" / "analysis.md"


@dataclass(frozen=True)
class Experiment:
    name: str  # module benchmarks.<name> and results stem
    title: str
    claim: str  # the seed paper's claim this checks ("" for engineering benchmarks)
    profiles: bool = True  # takes --profile quick|smoke|full (else: one setting, always run as is)
    encoder_arg: bool = True


EXPERIMENTS = [
    Experiment("mtl_vs_stl", "Experiment 1 — multi-task vs single-task (SRU-NER)",
               "SRU-NER: one model trained on several corpora at once matches or beats one model per corpus."),
    Experiment("partial_annotation", "Experiment 2 — global prediction from partial annotation (SRU-NER)",
               "SRU-NER: trained on corpora that each annotate only some types, the model predicts all types "
               "on every sentence, close to a model trained on full annotation."),
    Experiment("nested_genia", "Experiment 3 — nested NER on GENIA (SRU-NER)",
               "SRU-NER: the transition system recognises nested mentions, not only flat ones."),
    Experiment("family_speed", "Experiment 4 — inference speed of each family vs token classification",
               "SRU-NER: transition-based decoding stays within a small factor of token classification speed."),
    Experiment("mrc_low_resource", "MRC + multi-granularity auxiliary tasks, low-resource NCBI-disease",
               "MRC multi-task papers: auxiliary MRC and sentence/token-level tasks help, most with the least "
               "training data (10%)."),
    Experiment("layer_sliced", "Layer-sliced CRF: single-task vs MTL-XC vs MTL-LS",
               "Layer-sliced sharing: a well-chosen slicing rate beats full sharing (MTL-XC)."),
    Experiment("sru_speed", "SRU-NER speed and memory vs token classification (issue 3)", "", profiles=False,
               encoder_arg=False),
    Experiment("prepare_speed", "Data preparation speed (foundation)", "", profiles=False, encoder_arg=False),
]
BY_NAME = {e.name: e for e in EXPERIMENTS}


def stem(exp: Experiment, profile: str) -> str:
    return exp.name if (not exp.profiles or profile == "quick") else f"{exp.name}.{profile}"


def run_experiment(exp: Experiment, profile: str, encoder: str | None) -> float:
    cmd = [sys.executable, "-m", f"benchmarks.{exp.name}"]
    if exp.profiles:
        cmd += ["--profile", profile]
    if encoder and exp.encoder_arg:
        cmd += ["--encoder", encoder]
    print(f"\n=== {exp.name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------
def load(exp: Experiment, profile: str) -> dict | None:
    path = RESULTS / f"{stem(exp, profile)}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def verdict_lines(exp: Experiment, result: dict) -> list[str]:
    """The experiment's own statements about the claim (written by its entry point)."""
    if result.get("findings"):
        return list(result["findings"])
    if result.get("trend"):
        return [result["trend"]]
    module = importlib.import_module(f"benchmarks.{exp.name}")
    if hasattr(module, "verdict"):  # computed from the stored result by the experiment's own module
        return module.verdict(result)
    return []


def draw_plot(exp: Experiment, result: dict, profile: str) -> Path | None:
    module = importlib.import_module(f"benchmarks.{exp.name}")
    if not hasattr(module, "plot"):
        return None
    path = RESULTS / f"{stem(exp, profile)}.png"
    module.plot(result, path)
    return path if path.is_file() else None


def analysis_notes(path: Path | None = None) -> dict[str, str]:
    """Hand-written analysis per experiment (`## <name>` sections of benchmarks/analysis.md): what we
    found about why a claim does or does not show. Kept apart from the generated numbers, and dated."""
    path = path or ANALYSIS
    if not path.is_file():
        return {}
    notes: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            notes[current] = []
        elif current is not None:
            notes[current].append(line)
    return {k: "\n".join(v).strip() for k, v in notes.items()}


def wall_minutes(result: dict) -> float | None:
    for key in ("wall_s", "total_seconds"):
        for where in (result, result.get("meta", {})):
            if isinstance(where.get(key), (int, float)):
                return where[key] / 60
    return None


def write_report(profile: str, ran: dict[str, float], out_dir: Path = ROOT) -> str:
    sections, verdicts, missing = [], [], []
    notes = analysis_notes()
    for exp in EXPERIMENTS:
        result = load(exp, profile)
        if result is None:
            missing.append(exp.name)
            continue
        md_path = RESULTS / f"{stem(exp, profile)}.md"
        body = md_path.read_text().strip() if md_path.is_file() else "(no markdown written)"
        body = "\n".join(("#" + line) if line.startswith("###") else line for line in body.splitlines())
        plot = draw_plot(exp, result, profile)
        lines = [f"## {exp.title}", ""]
        if exp.claim:
            lines += [f"**Claim checked:** {exp.claim}", ""]
        lines += [body, ""]
        if plot:
            lines += [f"![{exp.name}]({Path(os.path.relpath(plot, out_dir)).as_posix()})", ""]
        if notes.get(exp.name):
            lines += ["**Analysis** (hand-written in `benchmarks/analysis.md` for the recorded run):", "",
                      notes[exp.name], ""]
        minutes = wall_minutes(result)
        lines += [f"Rerun alone: `python -m benchmarks.{exp.name}"
                  + (f" --profile {profile}`" if exp.profiles else "`")
                  + (f" (wall time of the recorded run: {minutes:.1f} min)." if minutes else "."), ""]
        sections.append("\n".join(lines))
        if exp.claim:
            found = verdict_lines(exp, result)
            verdicts.append(f"| {exp.title.split(' — ')[0] if ' — ' in exp.title else exp.title} | {exp.claim} | "
                            + ("<br>".join(found) if found else "(see section)") + " |")
    today = dt.date.today().isoformat()
    walls = {exp.name: wall_minutes(r) for exp in EXPERIMENTS if (r := load(exp, profile)) is not None}
    walls = {k: v for k, v in walls.items() if v}
    over = sorted(k for k, v in walls.items() if v > 30)
    timing = (f"each section gives its recorded wall time ({min(walls.values()):.0f}-{max(walls.values()):.0f} min an "
              f"experiment, {sum(walls.values()) / 60:.1f} h in all"
              + (f"; over the 30 min we aimed at: {', '.join(over)}, partly because runs shared the 2 cores)"
                 if over else ")")) if walls else "no experiment has been run yet"
    head = [
        "# Benchmarks", "",
        f"Generated by `python -m benchmarks.run --profile {profile}` from `benchmarks/results/*.json` "
        f"({today}); do not edit by hand: rerun the command (or `python -m benchmarks.run --report-only` to "
        "rebuild this page and the plots from the stored results).", "",
        "Profiles: `quick` = small subsets with the embedded MiniLM encoder (sentence-transformers/all-MiniLM-L6-v2, "
        f"6 layers, 384 hidden) on 2 CPU cores; {timing}; `full` = paper-size settings for a "
        "GPU and a biomedical encoder given by name (`--encoder michiyasunaga/BioLinkBERT-base`). Corpora: the "
        "benchmark copies in `../shared/corpora` (`BIOMTL_CORPORA` overrides). Quick-profile numbers are far below "
        "the papers' (tiny encoder, a few hundred training sentences per corpus, a few epochs): what is compared "
        "is the direction of each effect, at the same budget per row, over at least two seeds where stated.", "",
    ]
    if ran:
        head += ["Wall time of the experiments run by this invocation: " + ", ".join(
            f"{k} {v / 60:.1f} min" for k, v in ran.items()) + ".", ""]
    if profile == "quick":
        from benchmarks.standard import report_markdown

        standard = report_markdown()
        if standard:
            head += ["## Standard profile: full data through `biomtl train`", "",
                     "Generated from `benchmarks/results/standard/` (`python -m benchmarks.standard EXPERIMENT`, "
                     "one stored `biomtl train` config per run). Machine: " + machine_of_standard() + ".", "",
                     standard, ""]
            if notes.get("standard"):
                head += ["**Analysis** (hand-written in `benchmarks/analysis.md`):", "", notes["standard"], ""]
    head += ["## Do the seed papers' claims reproduce?", "",
             "| experiment | claim | our result (quick profile) |", "|---|---|---|", *verdicts, ""]
    if missing:
        head += [f"Not run yet for this profile: {', '.join(missing)}.", ""]
    return "\n".join(head + sections).rstrip() + "\n"


def machine_of_standard() -> str:
    machines = set()
    for path in (RESULTS / "standard").rglob("*.json"):
        machines.add(json.loads(path.read_text()).get("machine") or "?")
    return "; ".join(sorted(machines)) or "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--profile", choices=["quick", "smoke", "full"], default="quick")
    ap.add_argument("--only", nargs="+", choices=list(BY_NAME), help="run only these experiments")
    ap.add_argument("--skip", nargs="+", choices=list(BY_NAME), default=[], help="do not run these")
    ap.add_argument("--encoder", help="encoder name or path for every model experiment (default: embedded MiniLM)")
    ap.add_argument("--report-only", action="store_true", help="run nothing; rebuild BENCHMARKS.md and the plots")
    ap.add_argument("--output", type=Path, default=None,
                    help="the report file (default: BENCHMARKS.md for quick, benchmarks/results/BENCHMARKS.<profile>.md "
                         "otherwise)")
    args = ap.parse_args(argv)
    ran: dict[str, float] = {}
    if not args.report_only:
        for exp in EXPERIMENTS:
            if (args.only and exp.name not in args.only) or exp.name in args.skip:
                continue
            if not exp.profiles and args.profile != "quick":
                continue  # one-setting engineering benchmarks belong to the quick report
            ran[exp.name] = run_experiment(exp, args.profile, args.encoder)
    out = args.output or (ROOT / "BENCHMARKS.md" if args.profile == "quick"
                          else RESULTS / f"BENCHMARKS.{args.profile}.md")
    out.write_text(write_report(args.profile, ran, out.parent))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
