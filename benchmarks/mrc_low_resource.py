"""Benchmark: do the MRC / multi-granularity auxiliary tasks help most in the low-resource regime?

    python -m benchmarks.mrc_low_resource                  # quick profile (~30-35 min on 2 idle cores)
    python -m benchmarks.mrc_low_resource --smoke          # every row end-to-end on a tiny subset (54 s idle)
    python -m benchmarks.mrc_low_resource --profile full --encoder michiyasunaga/BioLinkBERT-base   # GPU

NCBI-disease test F1 (entity-level, exact spans, micro) of `MrcMultiTaskForNER` with the embedded MiniLM
encoder, trained on 10 / 25 / 50 / 100 % of the NCBI-disease train split (seeded sentence samples from
`biomtl.data_scripts.subsample`; smaller samples are nested in larger ones for a given seed), rows:

    (a) plain token classification             enabled_heads = [ner]
    (b) + MRC, annotation-guideline queries    [ner, mrc]                (paper [MRC])
    (c) + bCLS / mCLS / mtCLS                  [ner, mtcls, bcls, mcls]  (paper [MG])
    (d) all heads                              [ner, mrc, mtcls, bcls, mcls]

Same budget for every row: the same number of optimisation steps with the same batch size, the same
seeded sentence order and the same optimiser (AdamW, linear warm-up 10 % + linear decay, weight decay
0.01, gradient clipping 1.0). MRC rows cost more per step (a second, query-augmented encoder pass):
wall times are reported. The whole test split is scored (long sentences are windowed, never dropped).

Profiles:

* `quick`: 120 steps x 16 sentences per run at every fraction, lr 2e-4, max_seq_length 128, seeds 13, 14
  at 10 % and 25 %, seed 13 at 50 % and 100 %; whole test split. For the embedded MiniLM on 2 CPU cores.
* `smoke`: 3 steps x 4 sentences, the first 80 train / 24 test sentences; checks the plumbing only.
* `full` (paper size, for a GPU and a biomedical encoder given with `--encoder`): the budget is given in
  epochs, 100 epochs over each run's sampled sentences, i.e. ceil(100 x sentences / 32) steps of 32
  sentences (`steps_for_epochs`), lr 1e-5, max_seq_length 256 (query included for MRC inputs), seeds 13,
  14, 15 at every fraction, whole test split: the settings of ../shared/design/mrc-multitask.md §8 with
  the §11 (item 11) choice for NCBI-disease (the papers' 100 epochs and lr 1e-5, not the 50 epochs of
  the authors' run command). Unlike the papers, dev is not merged into the training data (the
  fractions are of the train split) and the single learning rate applies to encoder and heads alike.

`--steps`, `--epochs`, `--batch-size`, `--lr` and `--max-seq-length` override the profile. `--device`
defaults to CUDA when available (models and every training batch are moved there; `--jobs N` runs N
worker processes that share the device).
Results go to benchmarks/results/mrc_low_resource.json / .md / .png for the quick profile, and to
mrc_low_resource.<profile>.* for the others (mrc_low_resource.smoke.*, mrc_low_resource.full.*).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from .common import default_device, device_label, synchronize, to_device

RESULTS = Path(__file__).resolve().parent / "results"
CORPUS = "NCBI-disease"
TYPE = f"{CORPUS}/Disease"
ROWS = {
    "a": ("plain token classification", ["ner"]),
    "b": ("+ MRC (guideline queries)", ["ner", "mrc"]),
    "c": ("+ bCLS/mCLS/mtCLS", ["ner", "mtcls", "bcls", "mcls"]),
    "d": ("all heads", ["ner", "mrc", "mtcls", "bcls", "mcls"]),
}
PROFILES: dict[str, dict[str, Any]] = {
    # steps x batch sentences per run; 24 runs (2 seeds at 10 % and 25 %, 1 seed at 50 % and 100 %)
    # measured on 2 idle cores (threads 2, batch 16): ~0.45 s/step without MRC, ~1.2 s/step with MRC;
    # 120 steps, run as 2 one-thread jobs side by side (--jobs 2) -> about 30 min for the 24 runs
    "quick": {"steps": 120, "epochs": None, "batch_size": 16, "lr": 2e-4, "max_seq_length": 128,
              "seeds_low": [13, 14], "seeds_high": [13],
              "fractions": [0.1, 0.25, 0.5, 1.0], "test_limit": None, "train_limit": None},
    "smoke": {"steps": 3, "epochs": None, "batch_size": 4, "lr": 2e-4, "max_seq_length": 128,
              "seeds_low": [13, 14], "seeds_high": [13],
              "fractions": [0.1, 0.25, 0.5, 1.0], "test_limit": 24, "train_limit": 80},
    # paper size (../shared/design/mrc-multitask.md §8 and §11 item 11): batch 32, max_seq_length 256,
    # NCBI-disease lr 1e-5 and 100 epochs (the papers; the authors' run command says 50); 48 runs
    "full": {"steps": None, "epochs": 100, "batch_size": 32, "lr": 1e-5, "max_seq_length": 256,
             "seeds_low": [13, 14, 15], "seeds_high": [13, 14, 15],
             "fractions": [0.1, 0.25, 0.5, 1.0], "test_limit": None, "train_limit": None},
}


def steps_for_epochs(epochs: float, n_sentences: int, batch_size: int) -> int:
    """Optimisation steps for `epochs` passes over `n_sentences` in batches of `batch_size`
    (`biomtl.modeling.lscrf_recipe.steps_for_epochs`), refusing an empty budget."""
    from biomtl.modeling.lscrf_recipe import steps_for_epochs as recipe_steps

    if epochs <= 0 or n_sentences <= 0 or batch_size <= 0:
        raise ValueError(f"need positive epochs, sentences and batch size, got {epochs}, {n_sentences}, "
                         f"{batch_size}")
    return recipe_steps(n_sentences, epochs, batch_size)


def run_steps(args: argparse.Namespace, n_sentences: int) -> int:
    """One run's step count: `args.steps` (fixed budget) or `args.epochs` over its `n_sentences`."""
    if args.epochs is None:
        return args.steps
    return steps_for_epochs(args.epochs, n_sentences, args.batch_size)


def default_corpus_dir() -> Path:
    env = os.environ.get("BIOMTL_CORPORA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "corpora"


def read_split(corpus_dir: Path, split: str) -> list[dict]:
    from biomtl.data_scripts import read_iob

    return read_iob(corpus_dir / "NCBI-disease-IOB" / f"{split}.tsv", CORPUS)


def low_resource_sample(train: list[dict], fraction: float, seed: int) -> list[dict]:
    """The seeded `fraction` of the train sentences (biomtl.data_scripts.subsample)."""
    from datasets import Dataset

    from biomtl.data_scripts import FEATURES, subsample

    if fraction >= 1.0:
        return list(train)
    return subsample(Dataset.from_list(train, features=FEATURES), fraction, seed=seed).to_list()


def batches(examples: list[dict], batch_size: int, steps: int, seed: int, tokenizer) -> list[list[dict]]:
    """`steps` batches: seeded epoch-wise shuffles; inside each group of 8 batches sentences are sorted by
    length (less padding), and the batches of a group are shuffled again."""
    rng = random.Random(seed)
    lengths = [len(tokenizer(e["tokens"], is_split_into_words=True)["input_ids"]) for e in examples]
    out: list[list[dict]] = []
    while len(out) < steps:
        order = list(range(len(examples)))
        rng.shuffle(order)
        group = batch_size * 8
        for g in range(0, len(order), group):
            idx = sorted(order[g:g + group], key=lambda i: lengths[i])
            chunk = [[examples[i] for i in idx[b:b + batch_size]] for b in range(0, len(idx), batch_size)]
            rng.shuffle(chunk)
            out.extend(chunk)
    return out[:steps]


def score(pred: list[list[dict]], gold_examples: list[dict]) -> dict[str, float]:
    """Entity-level micro precision / recall / F1 over exact (sentence, start, end, type) spans."""
    p = {(i, s["start"], s["end"], s["label"]) for i, spans in enumerate(pred) for s in spans if s["label"] == TYPE}
    g = {(i, s["start"], s["end"], TYPE) for i, e in enumerate(gold_examples) for s in e["spans"]}
    tp = len(p & g)
    prec = tp / len(p) if p else 0.0
    rec = tp / len(g) if g else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": 100 * prec, "recall": 100 * rec, "f1": 100 * f1, "tp": tp, "pred": len(p), "gold": len(g)}


def run_one(row: str, fraction: float, seed: int, train_all: list[dict], test: list[dict], encoder: str,
            tokenizer, args) -> dict:
    import torch
    from transformers import get_linear_schedule_with_warmup

    from biomtl.modeling import MrcMultiTaskForNER

    train = low_resource_sample(train_all, fraction, seed)
    steps = run_steps(args, len(train))
    torch.manual_seed(seed)
    model = MrcMultiTaskForNER.from_encoder(
        encoder, {CORPUS: [TYPE]}, train_examples=train, enabled_heads=ROWS[row][1],
        query_source="guideline", max_seq_length=args.max_seq_length).to(args.device)
    groups = model.parameter_groups()
    decay, no_decay = [], []
    for p in model.parameters():
        (no_decay if p.ndim == 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr)
    sched = get_linear_schedule_with_warmup(opt, max(1, int(0.1 * steps)), steps)
    plan = batches(train, args.batch_size, steps, seed, tokenizer)
    model.train()
    t0 = time.perf_counter()
    last = []
    for batch in plan:
        inputs = to_device(model.collate(batch, tokenizer), args.device)
        loss = model(**inputs).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        last.append(loss.item())
    synchronize(args.device)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pred = model.predict_spans([e["tokens"] for e in test], tokenizer, batch_size=64)
    eval_s = time.perf_counter() - t0
    result = {"row": row, "fraction": fraction, "seed": seed, "train_sentences": len(train), "steps": steps,
              "epochs": round(steps * args.batch_size / len(train), 2), "train_s": round(train_s, 1),
              "eval_s": round(eval_s, 1), "final_loss": round(statistics.mean(last[-10:]), 4),
              "encoder_params": sum(p.numel() for p in groups["encoder"]),
              "head_params": sum(p.numel() for p in groups["head"]),
              "collate_stats": dict(model.collate_stats), **score(pred, test)}
    return result


_WORKER: dict = {}


def _init_worker(args) -> None:
    """Per-process state for `--jobs N`: one torch thread, the encoder, tokenizer and corpus read once."""
    import torch
    import transformers
    from transformers import AutoTokenizer

    from biomtl.encoders import resolve_encoder

    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    encoder = resolve_encoder(args.encoder)
    train_all, test = read_split(args.corpora_dir, "train"), read_split(args.corpora_dir, "test")
    profile = PROFILES[args.profile_name]
    if profile["train_limit"]:
        train_all = train_all[: profile["train_limit"]]
    if profile["test_limit"]:
        test = test[: profile["test_limit"]]
    _WORKER.update(args=args, encoder=encoder, tokenizer=AutoTokenizer.from_pretrained(encoder),
                   train_all=train_all, test=test)


def _run_task(task: tuple[str, float, int]) -> dict:
    w = _WORKER
    row, frac, seed = task
    return run_one(row, frac, seed, w["train_all"], w["test"], w["encoder"], w["tokenizer"], w["args"])


def summarise(runs: list[dict], fractions: list[float]) -> dict:
    table = {}
    for row in ROWS:
        for frac in fractions:
            cell = [r for r in runs if r["row"] == row and r["fraction"] == frac]
            f1s = [r["f1"] for r in cell]
            if f1s:
                table[f"{row}@{frac}"] = {"mean": statistics.mean(f1s),
                                          "sd": statistics.stdev(f1s) if len(f1s) > 1 else 0.0,
                                          "min": min(f1s), "max": max(f1s), "n": len(f1s),
                                          "train_s": statistics.mean(r["train_s"] for r in cell),
                                          "epochs": cell[0]["epochs"],
                                          "steps": sorted({r["steps"] for r in cell if "steps" in r})}
    return table


def steps_per_fraction(runs: list[dict], fractions: list[float]) -> dict[str, list[int]]:
    """The distinct step counts of the runs at each fraction (str(fraction) -> sorted counts)."""
    return {str(f): sorted({r["steps"] for r in runs if r["fraction"] == f and "steps" in r})
            for f in fractions}


def budget_text(meta: dict) -> str:
    """The "Budget per run: ..." sentence: fixed steps, or epochs with the steps they gave per fraction."""
    if meta.get("epochs") is None:
        return f"Budget per run: {meta['steps']} steps × {meta['batch_size']} sentences"
    per = meta.get("steps_per_fraction", {})
    steps = ", ".join(f"{int(f * 100)}%: {'/'.join(map(str, per[str(f)]))}" for f in meta["fractions"]
                      if per.get(str(f)))
    return (f"Budget per run: {meta['epochs']:g} epochs over the sampled sentences (steps per fraction: "
            f"{steps or 'none run'}) × {meta['batch_size']} sentences")


def trend_statement(table: dict, fractions: list[float]) -> str:
    """Whether the papers' claim (auxiliary gain over (a) is largest at 10 %) shows in these numbers."""
    lines = []
    for row in ("b", "c", "d"):
        gains = {f: table[f"{row}@{f}"]["mean"] - table[f"a@{f}"]["mean"] for f in fractions
                 if f"{row}@{f}" in table and f"a@{f}" in table}
        if not gains:
            continue
        best = max(gains, key=gains.get)
        desc = ", ".join(f"{int(f * 100)}%: {g:+.2f}" for f, g in gains.items())
        verdict = ("largest at 10% (the papers' trend appears)" if best == min(fractions) and gains[best] > 0
                   else "not largest at 10% (the papers' trend does not appear)")
        lines.append(f"({row}) vs (a) F1 gain {desc}; {verdict}.")
    return " ".join(lines)


def to_markdown(result: dict) -> str:
    meta, table, fractions = result["meta"], result["summary"], result["meta"]["fractions"]
    head = "| row | " + " | ".join(f"{int(f * 100)}% train" for f in fractions) + " | train s/run (10% → 100%) |"
    md = [f"### MRC multi-task: NCBI-disease low-resource ({meta['profile']} profile)", "",
          f"Test F1 (entity-level exact match, {meta['test_sentences']} test sentences), mean ± sd over seeds "
          f"(n in brackets). {budget_text(meta)}, "
          f"lr {meta['lr']}, max_seq_length {meta['max_seq_length']}, encoder {meta['encoder']}.", "",
          head, "|---|" + "---:|" * (len(fractions) + 1)]
    for row, (label, _) in ROWS.items():
        cells = []
        for f in fractions:
            c = table.get(f"{row}@{f}")
            cells.append("–" if c is None else f"{c['mean']:.2f} ± {c['sd']:.2f} ({c['n']})")
        times = [table[f"{row}@{f}"]["train_s"] for f in fractions if f"{row}@{f}" in table]
        span = f"{times[0]:.0f} → {times[-1]:.0f}" if times else "–"  # – : row not run (--rows)
        md.append(f"| ({row}) {label} | " + " | ".join(cells) + f" | {span} |")
    epochs = [table[f"a@{f}"]["epochs"] for f in fractions if f"a@{f}" in table]
    md += ["", "Epochs over the sampled train sentences: " + ", ".join(
        f"{int(f * 100)}%: {e}" for f, e in zip(fractions, epochs)) + ".", "",
           f"Trend: {result['trend']}", "",
           f"Machine: {meta['machine']}, {meta['cpus']} CPUs, "
           + (f"device {meta['device']}, " if meta.get("device") else "")
           + f"{meta.get('jobs', 1)} job(s) side by side × "
           f"{meta['threads']} torch thread(s), "
           f"batch size {meta['batch_size']}, total wall time {meta['wall_s'] / 60:.1f} min.  ",
           f"Command: `{meta['command']}`"]
    return "\n".join(md) + "\n"


def plot(result: dict, path: Path) -> None:
    """Test F1 vs training fraction, one line per row (error bars: sd over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table, fractions = result["summary"], result["meta"]["fractions"]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for row, (label, _) in ROWS.items():
        pts = [(f * 100, table[f"{row}@{f}"]) for f in fractions if f"{row}@{f}" in table]
        ax.errorbar([x for x, _ in pts], [c["mean"] for _, c in pts], yerr=[c["sd"] for _, c in pts],
                    marker="o", capsize=3, label=f"({row}) {label}")
    ax.set_xscale("log")
    ax.set_xticks([f * 100 for f in fractions], [f"{int(f * 100)}%" for f in fractions])
    ax.set_xlabel("share of the NCBI-disease train split")
    ax.set_ylabel("test F1 (%)")
    meta = result["meta"]
    budget = f"{meta['steps']} steps" if meta.get("epochs") is None else f"{meta['epochs']:g} epochs"
    ax.set_title(f"MRC / multi-granularity auxiliary tasks ({budget} per run)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    ap.add_argument("--smoke", action="store_true", help="same as --profile smoke")
    ap.add_argument("--corpora-dir", type=Path, default=default_corpus_dir())
    ap.add_argument("--encoder", default="embedded-minilm")
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="optimisation steps per run (profile default: quick 120, "
                        "smoke 3; overrides the full profile's epochs)")
    budget.add_argument("--epochs", type=float, help="epochs over each run's sampled sentences instead of a "
                        "fixed step count (profile default: full 100)")
    ap.add_argument("--batch-size", type=int, help="sentences per step (profile default)")
    ap.add_argument("--lr", type=float, help="learning rate (profile default: quick/smoke 2e-4, full 1e-5)")
    ap.add_argument("--max-seq-length", type=int,
                    help="sub-words per input, query included (profile default: quick/smoke 128, full 256)")
    ap.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    ap.add_argument("--jobs", type=int, default=2, help="runs side by side, one process each (default 2)")
    ap.add_argument("--threads", type=int, help="torch threads per job (default: 1 with --jobs > 1, else 2)")
    ap.add_argument("--rows", default="abcd")
    return ap


def resolve_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fill what the command line left open from the profile (`args.profile_name` set too)."""
    args.profile_name = "smoke" if args.smoke else args.profile
    profile = PROFILES[args.profile_name]
    if args.steps is None and args.epochs is None:
        args.steps, args.epochs = profile["steps"], profile["epochs"]
    for key in ("batch_size", "lr", "max_seq_length"):
        if getattr(args, key) is None:
            setattr(args, key, profile[key])
    return args


def main(argv=None) -> int:
    args = resolve_args(build_parser().parse_args(argv))
    profile_name = args.profile_name
    profile = PROFILES[profile_name]

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import multiprocessing

    import torch
    import transformers

    from biomtl.encoders import DEFAULT_ENCODER_HUB_ID

    if not (args.corpora_dir / "NCBI-disease-IOB").is_dir():
        raise SystemExit(f"NCBI-disease-IOB not found under {args.corpora_dir} (set --corpora-dir)")
    args.device = args.device or default_device()
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: CUDA is not available")
    if args.threads is None:
        args.threads = 1 if args.jobs > 1 else 2
    tasks = [(row, frac, seed) for frac in profile["fractions"]
             for seed in (profile["seeds_low"] if frac <= 0.25 else profile["seeds_high"]) for row in args.rows]
    # the MRC rows cost ~2.5x the others: start them first so the jobs finish together
    tasks.sort(key=lambda t: "mrc" not in ROWS[t[0]][1])
    started = time.perf_counter()
    header = f"{'row':<4} {'frac':>5} {'seed':>5} {'n':>6} {'epochs':>7} {'F1':>7} {'P':>7} {'R':>7} {'train s':>8}"
    budget = f"{args.steps} steps" if args.epochs is None else f"{args.epochs:g} epochs"
    print(f"{len(tasks)} runs of {budget} x {args.batch_size} sentences, {args.jobs} job(s) x {args.threads} "
          f"torch thread(s), device {args.device}")
    print(header)

    def show(r: dict) -> None:
        print(f"({r['row']}) {r['fraction']:>5} {r['seed']:>5} {r['train_sentences']:>6} {r['epochs']:>7} "
              f"{r['f1']:>7.2f} {r['precision']:>7.2f} {r['recall']:>7.2f} {r['train_s']:>8.1f}  "
              f"[{(time.perf_counter() - started) / 60:.1f} min]", flush=True)

    runs = []
    if args.jobs > 1:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(args.jobs, initializer=_init_worker, initargs=(args,), maxtasksperchild=None) as pool:
            for r in pool.imap_unordered(_run_task, tasks):
                runs.append(r)
                show(r)
    else:
        _init_worker(args)
        for task in tasks:
            runs.append(_run_task(task))
            show(runs[-1])
    order = {t: i for i, t in enumerate((row, frac, seed) for row in ROWS for frac in profile["fractions"]
                                        for seed in (13, 14, 15, 16))}
    runs.sort(key=lambda r: order.get((r["row"], r["fraction"], r["seed"]), 10**6))
    test = _WORKER.get("test") or read_split(args.corpora_dir, "test")[: profile["test_limit"] or None]
    train_total = len(read_split(args.corpora_dir, "train")[: profile["train_limit"] or None])
    fractions = profile["fractions"]
    table = summarise(runs, fractions)
    cmd = " ".join(["python -m benchmarks.mrc_low_resource", *(sys.argv[1:] if argv is None else argv)])
    meta = {"profile": profile_name, "steps": args.steps, "epochs": args.epochs,
            "steps_per_fraction": steps_per_fraction(runs, fractions), "batch_size": args.batch_size,
            "lr": args.lr, "max_seq_length": args.max_seq_length, "threads": args.threads,
            "fractions": fractions,
            "seeds_low": profile["seeds_low"], "seeds_high": profile["seeds_high"],
            "encoder": DEFAULT_ENCODER_HUB_ID if args.encoder == "embedded-minilm" else args.encoder,
            "train_sentences_total": train_total, "jobs": args.jobs, "test_sentences": len(test),
            "machine": f"{platform.machine()} {platform.processor()}".strip(), "cpus": os.cpu_count(),
            "device": device_label(args.device),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "wall_s": round(time.perf_counter() - started, 1),
            "command": cmd, "optimizer": "AdamW wd 0.01, linear warm-up 10% + decay, clip 1.0"}
    result = {"meta": meta, "runs": runs, "summary": table, "trend": trend_statement(table, fractions)}
    md = to_markdown(result)
    print()
    print(md)
    RESULTS.mkdir(exist_ok=True)
    stem = "mrc_low_resource" + ("" if profile_name == "quick" else f".{profile_name}")
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / f"{stem}.md").write_text(md)
    plot(result, RESULTS / f"{stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
