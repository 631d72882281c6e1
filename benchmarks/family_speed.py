"""Benchmark: inference speed of each model family vs token classification, in the same run.

    python -m benchmarks.family_speed                  # quick profile (~8-10 min on 2 idle cores)
    python -m benchmarks.family_speed --smoke          # every model end-to-end on ~40 sentences (< 1 min)
    python -m benchmarks.family_speed --threads 1 --repeats 5 --encoder PATH
    python -m benchmarks.family_speed --profile full --encoder michiyasunaga/BioLinkBERT-base   # GPU

Experiment 4 of the "reproduce the papers" issue: sentences/s of every family's own `predict_spans`
against a plain `AutoModelForTokenClassification` on the same encoder, measured side by side.

Encoder: `biomtl.encoders.resolve_encoder("embedded-minilm")` (MiniLM: BERT uncased, 6 layers, hidden
384) unless `--encoder` names another one. Data: the NCBI-disease test sentences
(../shared/corpora/NCBI-disease-IOB/test.tsv, or $BIOMTL_CORPORA; read with `sru_speed.read_iob2`).
Models (all built on the same encoder; helpers shared with `benchmarks.sru_speed`):

* `SruNerForTokenActions`: the four-corpus label space of sru_speed (NCBI-disease, BC5CDR, BC2GM,
  linnaeus: 5 prefixed types), sentences labelled as NCBI-disease.
* `MrcMultiTaskForNER`: the same four-corpus label space, the config's default heads (`--mrc-heads`);
  inference is `predict_spans`, i.e. the NER head only (one encoder pass, one restricted softmax
  per corpus); the MRC / auxiliary heads cost time only in training.
* `LayerSlicedXLNetCRF`: MTL-XC style, i.e. one task and one emission layer + CRF shared by the disease
  corpora (NCBI-disease + BC5CDR Disease, `task_grouping="shared"`; a shared CRF needs identical
  types, see configuration_layer_sliced_crf); Viterbi + forward-backward span scores at inference.
* baseline `AutoModelForTokenClassification` (11 BIO labels of the four-corpus label space):
  `sru_speed.tc_predict` (on the model's device) on `sru_speed.length_sorted_batches`, argmax at each
  word's first sub-word, BIO tags turned into spans.

Device: `--device` (default: cuda when available, else cpu). Every model is moved there, every collated
warm-up batch too (once, in `warm_up`); each family's `predict_spans` and `tc_predict` move their own
inputs.
On CUDA the clocks are read after `torch.cuda.synchronize`.

1. Warm-up: every model (baseline included) is trained for `--warmup-steps` batches of
   `--train-batch-size` NCBI-disease *train* sentences, the same seeded batches for all, so that each
   decodes realistic outputs (an untrained SRU-NER runs every sentence to its step cap). One recipe for
   all: the SRU-NER spec's AdamW (encoder / head learning rates, betas, eps, weight decay) with both
   rates multiplied by `--warmup-lr-scale`, as sru_speed does; clipping 1.0 (`sru_speed.train_step`).
   Each model's test F1 afterwards (NCBI-disease/Disease spans, exact match, fraction) is reported for
   information only: a few hundred steps is far from a trained model.
2. Inference: the same test sentences for every model, end to end: tokenization, length sorting
   (each family sorts inside `predict_spans`; the baseline's `length_sorted_batches` is timed too),
   batches of `--batch-size`, forward, decoding into spans. `--repeats` passes, round-robin over the
   models (the starting model rotates each repeat); the best pass per model is kept. Reported:
   sentences/s and the ratio family / token classification. On a shared machine the absolute numbers
   are noisy; the interleaved ratios are the meaningful ones.

Profiles: `quick` (all 940 test sentences, warm-up 300 steps of 16 (SRU-NER emits its first mentions
after about 150) at 3x the spec LRs, 3 repeats,
batch 32, 2 threads), `smoke` (40 seeded test sentences, 3 warm-up steps of 8, 1 repeat, batch 16,
1 thread) and `full` (for a GPU and a biomedical encoder given with `--encoder`: all test sentences,
warm-up 1000 steps of 32 at the spec LRs (`--warmup-lr-scale` 1: about 6 epochs of the 5,424 train
sentences, no boost needed), 5 repeats, batch 64, torch's default thread count).
Results: benchmarks/results/family_speed.json / .md / .png (quick), family_speed.<profile>.* otherwise
(family_speed.smoke.*, family_speed.full.*).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.common import default_device, device_label, synchronize, to_device
from benchmarks.sru_speed import (
    BIO_LABELS,
    CORPORA,
    CORPUS,
    CORPUS_TYPES,
    length_sorted_batches,
    load_tokenizer,
    machine,
    optimizer_for,
    read_iob2,
    span_f1,
    spec_optim,
    sru_model,
    tc_collate,
    tc_model,
    tc_predict,
    train_step,
)

RESULTS = Path(__file__).resolve().parent / "results"
TARGET_LABEL = f"{CORPUS}/Disease"
#: MTL-XC label space of the layer-sliced CRF: the disease category, one shared task / head.
DISEASE_TYPES = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Disease"]}
BASELINE = "token classification"


@dataclass(frozen=True)
class Profile:
    sentences: int | None  # test sentences (None: all)
    warmup_steps: int
    train_batch_size: int
    repeats: int
    batch_size: int
    threads: int | None  # torch intra-op threads (None: torch's default)
    warmup_lr_scale: float = 3.0  # x the SRU-NER spec learning rates during the warm-up


PROFILES = {
    "quick": Profile(sentences=None, warmup_steps=300, train_batch_size=16, repeats=3, batch_size=32, threads=2),
    "smoke": Profile(sentences=40, warmup_steps=3, train_batch_size=8, repeats=1, batch_size=16, threads=1),
    "full": Profile(sentences=None, warmup_steps=1000, train_batch_size=32, repeats=5, batch_size=64,
                    threads=None, warmup_lr_scale=1.0),
}


@dataclass
class Entry:
    """One benchmarked model: how to collate a training batch, how to predict spans."""

    name: str
    family: str
    label_space: str
    model: torch.nn.Module
    groups: dict[str, list[torch.nn.Parameter]]
    collate: Callable[[list[dict]], dict]
    predict: Callable[[list[list[str]], int], list[list[dict]]]


# ------------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------------


def bio_ids_to_spans(tag_ids: list[int]) -> list[dict]:
    """Word-level BIO tag ids (indices of `BIO_LABELS`) -> sorted spans, an orphan I- starting a span."""
    from biomtl.modeling.tag_schemes import tags_to_spans

    return [{"start": s, "end": e, "label": t} for s, e, t in tags_to_spans([BIO_LABELS[t] for t in tag_ids], "BIO")]


def tc_predict_spans(model, tokenizer, sentences: list[list[str]], batch_size: int) -> list[list[dict]]:
    """The baseline end to end: length-sorted batches, `tc_predict` (on the model's device), BIO tags -> spans."""
    batches = length_sorted_batches(tokenizer, sentences, batch_size)
    return [bio_ids_to_spans(tags) for tags in tc_predict(model, tokenizer, sentences, batches)]


def tc_groups(model) -> dict[str, list[torch.nn.Parameter]]:
    enc = list(model.base_model.parameters())
    ids = {id(p) for p in enc}
    return {"encoder": enc, "head": [p for p in model.parameters() if id(p) not in ids]}


def build_models(encoder: str, tok, mrc_heads: list[str] | None, seed: int,
                 device: str = "cpu") -> list[Entry]:
    """The four models on `device` (built on the CPU with the same seeds, then moved)."""
    from biomtl.modeling import LayerSlicedXLNetCRF, MrcMultiTaskForNER

    four = f"{sum(len(v) for v in CORPUS_TYPES.values())} types of {len(CORPUS_TYPES)} corpora"
    sru = sru_model(encoder, CORPUS_TYPES, seed=seed).to(device)
    torch.manual_seed(seed)
    mrc_kw = {"enabled_heads": mrc_heads} if mrc_heads else {}
    mrc = MrcMultiTaskForNER.from_encoder(encoder, CORPUS_TYPES, **mrc_kw).to(device)
    torch.manual_seed(seed)
    ls = LayerSlicedXLNetCRF.from_encoder(encoder, DISEASE_TYPES, task_grouping="shared",
                                          category="disease").to(device)
    tc = tc_model(encoder, seed=seed).to(device)
    return [
        Entry("SRU-NER", "SruNerForTokenActions", four, sru, sru.parameter_groups(),
              lambda b: sru.collate(b, tok), lambda s, bs: sru.predict_spans(s, tok, batch_size=bs)),
        Entry("MRC multi-task (NER head)", "MrcMultiTaskForNER",
              f"{four}; heads {'+'.join(mrc.config.enabled_heads)}", mrc, mrc.parameter_groups(),
              lambda b: mrc.collate(b, tok), lambda s, bs: mrc.predict_spans(s, tok, batch_size=bs)),
        Entry("Layer-sliced CRF (MTL-XC)", "LayerSlicedXLNetCRF",
              f"disease: {' + '.join(DISEASE_TYPES)}, one shared task / CRF ({ls.config.tag_scheme})", ls,
              ls.parameter_groups(), lambda b: ls.collate(b, tok),
              lambda s, bs: ls.predict_spans(s, tok, batch_size=bs)),
        Entry(BASELINE, "AutoModelForTokenClassification", f"{four}; {len(BIO_LABELS)} BIO labels", tc,
              tc_groups(tc), lambda b: tc_collate(tok, b), lambda s, bs: tc_predict_spans(tc, tok, s, bs)),
    ]


def warmup_optimizer(entry: Entry, recipe, lr_scale: float) -> torch.optim.Optimizer:
    """The SRU-NER spec's AdamW for every model (`recipe` = its optimiser settings), both LRs scaled."""
    if entry.family == "SruNerForTokenActions":
        opt = optimizer_for(entry.model, True)
    else:
        opt = torch.optim.AdamW([{"params": entry.groups["encoder"], "lr": recipe["encoder_lr"]},
                                 {"params": entry.groups["head"], "lr": recipe["head_lr"]}],
                                betas=tuple(recipe["betas"]), eps=recipe["eps"],
                                weight_decay=recipe["encoder_weight_decay"])
    for group in opt.param_groups:
        group["lr"] *= lr_scale
    return opt


def warm_up(entry: Entry, batches: list[list[dict]], recipe, lr_scale: float, log) -> dict:
    """Train `entry` on the given batches; seconds, median step time and the last batch's loss. Every
    collated batch is moved to the model's device; on CUDA a step's time includes its synchronisation."""
    opt = warmup_optimizer(entry, recipe, lr_scale)
    device = entry.model.device
    steps, t0 = [], time.perf_counter()
    collated = None
    for k, exs in enumerate(batches):
        collated = to_device(entry.collate(exs), device)
        t_step = time.perf_counter()
        train_step(entry.model, opt, collated)
        synchronize(device)
        steps.append(time.perf_counter() - t_step)
        if k % 40 == 39:
            log(f"  {entry.name}: warm-up step {k + 1}/{len(batches)}")
    synchronize(device)
    seconds = time.perf_counter() - t0
    loss = None
    if collated is not None:
        with torch.no_grad():  # train mode, as sru_speed logs its warm-up losses
            loss = round(float(entry.model(**collated).loss), 4)
    del opt
    steps.sort()
    return {"steps": len(batches), "seconds": round(seconds, 1),
            "median_step_s": round(steps[len(steps) // 2], 3) if steps else None, "last_batch_loss": loss}


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------


def verdict(result: dict) -> list[str]:
    """The ratios, and whether SRU-NER stays "within a small factor" of token classification (at least
    half its speed, the SRU-NER issue's target)."""
    rows = [r for r in result.get("rows", []) if r.get("ratio_vs_token_classification") is not None]
    lines = ["; ".join(f"{r['model']}: {r['ratio_vs_token_classification']:.2f}x token classification"
                       for r in rows)]
    sru = next((r["ratio_vs_token_classification"] for r in rows if r["model"] == "SRU-NER"), None)
    if sru is not None:
        lines.append(f"SRU-NER at {sru:.2f}x: " + ("reproduced (at least 0.5x token classification)."
                                                    if sru >= 0.5 else "NOT reproduced (below 0.5x)."))
    return lines


def markdown(result: dict) -> str:
    m, s = result["meta"], result["settings"]
    mach = m["machine"]
    device = mach.get("device", "cpu")
    lines = [f"### Inference speed per family vs token classification (profile `{m['profile']}`)", ""]
    if m["profile"] == "smoke":
        lines += ["**Smoke run: a few sentences and warm-up steps; numbers are not results.**", ""]
    lines += [
        f"{m['sentences']} NCBI-disease test sentences ({m['words']} words), batch {m['batch_size']}, best of "
        f"{m['repeats']} interleaved pass(es) per model, tokenization and decoding included. Encoder "
        f"{m['encoder']}. Each model warmed up for {s['warmup_steps']} training batches of "
        f"{s['train_batch_size']} NCBI-disease train sentences (test F1 afterwards: information only).",
        "",
        "| model | family | label space | sentences/s | ratio vs token classification | passes, s | "
        "warm-up test F1 |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    for r in result["rows"]:
        passes = ", ".join(f"{x:.2f}" for x in r["pass_seconds"])
        lines.append(f"| {r['model']} | `{r['family']}` | {r['label_space']} | {r['sentences_per_s']:.1f} | "
                     f"{r['ratio_vs_token_classification']:.3f} | {passes} | {r['warmup_test_f1']:.3f} |")
    lines += [
        "",
        f"Machine: {mach['cpu']}, {mach['cpu_count']} cores, torch {mach['torch']}, {m['threads']} torch "
        f"thread(s), {'CPU' if device == 'cpu' else f'device {device}'}; load average "
        f"{mach['load_average_start'][0]} at start, "
        f"{mach['load_average_end'][0]} at end (a shared machine: absolute speeds are noisy, the "
        f"side-by-side ratios are the result). Wall time {m['wall_s']:.0f} s. Command: `{m['command']}`.",
        "",
    ]
    if result.get("notes"):
        lines += [f"- {n}" for n in result["notes"]] + [""]
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    """Horizontal bars of sentences/s per model, each annotated with its ratio vs token classification."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    names = [r["model"] for r in rows]
    speeds = [r["sentences_per_s"] for r in rows]
    colors = ["#9e9e9e" if r["model"] == BASELINE else "#3b75af" for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.4))
    y = list(range(len(rows)))[::-1]
    ax.barh(y, speeds, color=colors)
    ax.set_yticks(y, names)
    top = max(speeds) if speeds else 1.0
    for yi, r in zip(y, rows):
        ax.text(r["sentences_per_s"] + 0.01 * top, yi, f"{r['sentences_per_s']:.0f}/s  "
                f"(x{r['ratio_vs_token_classification']:.2f})", va="center", fontsize=9)
    ax.set_xlim(0, top * 1.3)
    m = result["meta"]
    ax.set_xlabel(f"sentences/s (best of {m['repeats']}, batch {m['batch_size']}, {m['threads']} thread(s))")
    ax.set_title(f"Inference speed vs token classification, NCBI-disease test ({m['sentences']} sentences)"
                 + (" [smoke]" if m["profile"] == "smoke" else ""), fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, prof: Profile, argv: list[str] | None) -> dict:
    from biomtl.encoders import resolve_encoder

    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:6.1f}s] {msg}", flush=True)

    encoder = resolve_encoder(args.encoder)
    test = read_iob2(CORPORA / "NCBI-disease-IOB" / "test.tsv", CORPUS)
    train = read_iob2(CORPORA / "NCBI-disease-IOB" / "train.tsv", CORPUS)
    if prof.sentences is not None and prof.sentences < len(test):
        keep = sorted(random.Random(args.seed).sample(range(len(test)), prof.sentences))
        test = [test[i] for i in keep]
    sentences = [e["tokens"] for e in test]
    info = dict(machine(), device=device_label(args.device))
    tok = load_tokenizer(encoder)
    log(f"{len(sentences)} test sentences, {sum(map(len, sentences))} words; threads={torch.get_num_threads()}; "
        f"encoder {encoder}; device {info['device']}")

    entries = build_models(encoder, tok, args.mrc_heads, args.seed, args.device)
    recipe = spec_optim()  # the SRU-NER spec's optimiser settings
    rng = random.Random(args.seed)
    batches = [rng.sample(train, args.train_batch_size) for _ in range(args.warmup_steps)]
    warmups = {}
    for entry in entries:
        warmups[entry.name] = warm_up(entry, batches, recipe, args.warmup_lr_scale, log)
        log(f"{entry.name}: warm-up {warmups[entry.name]}")
    gc.collect()

    # SRU-NER warns per call when sentences reach its step cap; counted in predict_stats and the notes instead
    warnings.filterwarnings("ignore", message=r".*reached the step cap", category=UserWarning)
    times: dict[str, list[float]] = {e.name: [] for e in entries}
    preds: dict[str, list[list[dict]]] = {}
    stats: dict[str, dict] = {}
    for rep in range(args.repeats):
        order = entries[rep % len(entries):] + entries[: rep % len(entries)]
        for entry in order:
            counters = getattr(entry.model, "predict_stats", None)
            before = dict(counters) if counters is not None else None
            gc.collect()
            synchronize(args.device)
            t0 = time.perf_counter()
            preds[entry.name] = entry.predict(sentences, args.batch_size)
            times[entry.name].append(time.perf_counter() - t0)
            if counters is not None:
                stats[entry.name] = {k: v - before.get(k, 0) for k, v in counters.items() if v - before.get(k, 0)}
        log(f"pass {rep + 1}/{args.repeats}: " + ", ".join(f"{e.name} {times[e.name][-1]:.2f}s" for e in entries))

    base_sps = len(sentences) / min(times[BASELINE])
    rows = []
    for entry in entries:
        sps = len(sentences) / min(times[entry.name])
        pred = preds[entry.name]
        rows.append({
            "model": entry.name, "family": entry.family, "label_space": entry.label_space,
            "sentences_per_s": round(sps, 2), "ratio_vs_token_classification": round(sps / base_sps, 3),
            "warmup_test_f1": round(span_f1(test, pred, TARGET_LABEL), 4),
            "best_seconds": round(min(times[entry.name]), 3),
            "pass_seconds": [round(x, 3) for x in times[entry.name]],
            "predicted_spans": sum(len(p) for p in pred),
            "predicted_target_spans": sum(sp["label"] == TARGET_LABEL for p in pred for sp in p),
            "predict_stats": stats.get(entry.name, {}),
            "warmup": warmups[entry.name],
        })
    notes = []
    for r in rows:
        capped = r["predict_stats"].get("sentences_hit_step_cap", 0)
        if capped:
            notes.append(f"{r['model']}: {capped} sentence(s) hit the step cap in the last pass (slower, "
                         "mentions after the cap lost).")
    wall = time.perf_counter() - t_start
    cmd = "python -m benchmarks.family_speed " + " ".join(argv if argv is not None else sys.argv[1:])
    return {
        "benchmark": "family_speed",
        "meta": {
            "command": cmd.strip(), "profile": args.profile_name,
            "encoder": args.encoder if args.encoder != "embedded-minilm"
            else "embedded-minilm (sentence-transformers/all-MiniLM-L6-v2: BERT uncased, 6 layers, 384 hidden)",
            "machine": dict(info, load_average_end=[round(x, 2) for x in os.getloadavg()],
                            note="shared machine: other processes may have run during the measurement"),
            "threads": torch.get_num_threads(), "batch_size": args.batch_size, "sentences": len(sentences),
            "words": sum(map(len, sentences)), "repeats": args.repeats, "wall_s": round(wall, 1),
            "corpus": "NCBI-disease test", "f1_label": TARGET_LABEL, "f1_unit": "fraction (0-1), exact spans",
        },
        "settings": {"warmup_steps": args.warmup_steps, "train_batch_size": args.train_batch_size,
                     "warmup_lr_scale": args.warmup_lr_scale, "seed": args.seed,
                     "warmup_optimizer": {"encoder_lr": recipe["encoder_lr"] * args.warmup_lr_scale,
                                          "head_lr": recipe["head_lr"] * args.warmup_lr_scale,
                                          "betas": list(recipe["betas"]), "eps": recipe["eps"],
                                          "weight_decay": recipe["encoder_weight_decay"], "clip": 1.0},
                     "mrc_heads": args.mrc_heads},
        "rows": rows,
        "notes": notes,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON and markdown results (no plot)."""
    return _cli(argv, write_plot=False)


def _cli(argv: list[str] | None, write_plot: bool) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    ap.add_argument("--smoke", action="store_true", help="same as --profile smoke")
    ap.add_argument("--encoder", default="embedded-minilm", help="encoder name or path (biomtl.encoders)")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (profile default; full: torch's)")
    ap.add_argument("--batch-size", type=int, help="inference batch size, every model (profile default)")
    ap.add_argument("--repeats", type=int, help="interleaved inference passes per model (profile default)")
    ap.add_argument("--warmup-steps", type=int, help="warm-up training batches per model (profile default)")
    ap.add_argument("--train-batch-size", type=int, help="warm-up batch size (profile default)")
    ap.add_argument("--warmup-lr-scale", type=float,
                    help="x the SRU-NER spec LRs during warm-up (profile default: quick/smoke 3, full 1)")
    ap.add_argument("--mrc-heads", nargs="+", choices=["ner", "mrc", "mtcls", "bcls", "mcls"],
                    help="MrcMultiTaskForNER enabled_heads (default: the config's default, all)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--device", help="torch device for every model (default: cuda if available, else cpu)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args.profile_name = "smoke" if args.smoke else args.profile
    prof = PROFILES[args.profile_name]
    for field in ("threads", "batch_size", "repeats", "warmup_steps", "train_batch_size", "warmup_lr_scale"):
        if getattr(args, field) is None:
            setattr(args, field, getattr(prof, field))
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    args.device = args.device or default_device()
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        print(f"--device {args.device}: CUDA is not available", file=sys.stderr)
        return 2
    if not (CORPORA / "NCBI-disease-IOB" / "test.tsv").is_file():
        print(f"NCBI-disease corpus not found under {CORPORA} (set BIOMTL_CORPORA)", file=sys.stderr)
        return 2
    import transformers

    transformers.utils.logging.set_verbosity_error()
    result = run(args, prof, argv)
    stem = "family_speed" + ("" if args.profile_name == "quick" else f".{args.profile_name}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    (RESULTS / f"{stem}.md").write_text(md)
    print(md)
    if write_plot:
        plot(result, RESULTS / f"{stem}.png")
    return 0


if __name__ == "__main__":  # `python -m benchmarks.family_speed`: main() plus the PNG
    raise SystemExit(_cli(None, write_plot=True))
