"""Benchmark: single-task vs MTL-XC vs MTL-LS (layer slicing) with `LayerSlicedXLNetCRF`.

    python -m benchmarks.layer_sliced                  # quick profile, seeds 13 + 14 (~2.5 h on 2 idle cores)
    python -m benchmarks.layer_sliced --categories gene --seeds 14 --keep-other-runs   # add one run
    python -m benchmarks.layer_sliced --smoke          # every row end-to-end on a tiny subset (~1-2 min)
    python -m benchmarks.layer_sliced --profile full   # the paper's 30 + 3x30 recipe on full data (GPU-sized)
    python -m benchmarks.layer_sliced --crf-only       # only the CRF decoding throughput micro-benchmark

Encoder: the embedded 6-layer MiniLM (BERT uncased, hidden 384). Rows, per entity category
(spec layer-sliced-crf.md §7; a category keeps only its own type, other mentions become O):

* disease = NCBI-disease + BC5CDR (Disease):
  - STL: one model per corpus (k = n, one head);
  - MTL-XC: one model and one shared head for both corpora (k = n);
  - MTL-XC +budget: the MTL-XC model trained for one more budget (fresh optimiser), the
    control for MTL-LS, which also starts from MTL-XC and trains one more budget;
  - MTL-LS r in {0.25, 0.5, 0.75, 1.0}: `from_mtl_xc` (embeddings + bottom k = round(r n) layers
    from MTL-XC, upper layers per corpus re-initialised from MiniLM, per-corpus emission + CRF),
    phase 2 "joint" (task-homogeneous batches, task drawn proportionally to its training size);
  - MTL-LS (r chosen on dev): per corpus, the rate with the best dev F1.
* gene = BC2GM (GENE) + GENIA (protein): the same rows. GENIA stands in for JNLPBA, the paper's
  GENIA-derived gene/protein task: only the GENIA-nested dev file is available here, so it is split
  by document as in experiment 3 (80/20, then 10 % of train for dev) and flattened for the CRF by
  keeping the outermost `protein` mentions (nested proteins inside a protein are counted, dropped);
* chemical = BC5CDR (Chemical): the only chemical corpus here, so only STL is meaningful (MTL needs
  >= 2 corpora of a category).

Seeds: every row runs once per seed (quick: 13 and 14; the seed also draws the training, dev and
test subsamples); tables report mean ± sd over seeds and the dev-chosen slicing rate per seed.

Same budget per row: the same number of optimiser steps and batch size (quick profile: training
sets subsampled to a fixed number of seeded sentences); MTL-LS rows and "MTL-XC +budget" have
spent one MTL-XC budget before (column "steps incl. init"). Optimiser: AdamW (eps 1e-6, no weight
decay), layer-wise LR decay 0.9 (true per-group LRs), linear decay to 0, no warm-up, clipping 1.0.
Test F1: entity-level strict span match, micro, on the WHOLE test split of each corpus (long
sentences are windowed, never dropped); dev F1 on a seeded dev subsample (quick) for rate selection.
Results: benchmarks/results/layer_sliced.json / .md (smoke: layer_sliced.smoke.*).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .common import default_device, device_label, mean_sd, to_device

RESULTS = Path(__file__).resolve().parent / "results"
CORPORA_DIR = Path(os.environ.get("BIOMTL_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora"))
RATES = (0.25, 0.5, 0.75, 1.0)
# category -> [(corpus name, folder, type kept)]
CATEGORIES = {
    "disease": [("NCBI-disease", "NCBI-disease-IOB", "Disease"), ("BC5CDR", "BC5CDR-IOB", "Disease")],
    "chemical": [("BC5CDR", "BC5CDR-IOB", "Chemical")],
    "gene": [("BC2GM", "BC2GM-IOB", "GENE"), ("GENIA", "GENIA-nested", "protein")],
}
# the category's canonical type name (spec §7.1: every kept type is renamed to it, so that MTL-XC can
# share one CRF across the category's corpora)
CATEGORY_TYPE = {"disease": "Disease", "chemical": "Chemical", "gene": "Gene"}


@dataclass(frozen=True)
class Profile:
    train_sentences: int | None  # per corpus (None: all)
    dev_sentences: int | None  # per corpus, for rate selection (None: all)
    test_sentences: int | None  # None: all (only the smoke profile subsamples, and says so)
    steps: int | None  # optimiser steps per row (None: epochs from the recipe)
    batch_size: int
    learning_rate: float
    max_seq_length: int
    eval_batch_size: int
    seeds: tuple[int, ...] = (13,)
    paper_recipe: bool = False


PROFILES = {
    "quick": Profile(train_sentences=2000, dev_sentences=400, test_sentences=None, steps=400, batch_size=16,
                     learning_rate=2e-4, max_seq_length=128, eval_batch_size=64, seeds=(13, 14)),
    "smoke": Profile(train_sentences=48, dev_sentences=16, test_sentences=24, steps=3, batch_size=4,
                     learning_rate=2e-4, max_seq_length=64, eval_batch_size=16),
    "full": Profile(train_sentences=None, dev_sentences=None, test_sentences=None, steps=None, batch_size=24,
                    learning_rate=3e-5, max_seq_length=256, eval_batch_size=64, seeds=(13, 14, 15), paper_recipe=True),
}


# ---------------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------------
def read_corpus(folder: str, corpus: str, keep_type: str,
                label_type: str | None = None) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """Splits of one corpus as canonical examples, keeping only `keep_type`, labelled
    `<corpus>/<label_type>` (default: `keep_type`)."""
    label_type = label_type or keep_type
    from biomtl.data_scripts import read_iob

    path = CORPORA_DIR / folder
    if not path.exists():
        raise SystemExit(f"corpus folder {path} not found (set BIOMTL_CORPORA)")
    if folder == "GENIA-nested":
        return read_genia_flat(corpus, keep_type, label_type)
    splits, dropped = {}, {}
    for split in ("train", "devel", "test"):
        rows = read_iob(path / f"{split}.tsv", corpus)
        n_drop = 0
        for ex in rows:
            kept = [dict(s, label=f"{corpus}/{label_type}") for s in ex["spans"] if s["label"] == keep_type]
            n_drop += len(ex["spans"]) - len(kept)
            ex["spans"] = kept
        splits[split] = rows
        dropped[split] = n_drop
    return splits, dropped


def outermost(spans: list[dict]) -> list[dict]:
    """A flat, non-overlapping subset for a CRF: the outermost spans, scanning left to right and
    keeping the longest span at each start; spans inside or crossing a kept span are dropped."""
    keys = sorted({(s["start"], s["end"]) for s in spans}, key=lambda k: (k[0], -k[1]))
    kept, right = [], -1
    for start, end in keys:
        if start < right:
            continue  # inside, or crossing, a kept span
        kept.append((start, end))
        right = end
    label = {(s["start"], s["end"]): s["label"] for s in spans}
    return [{"start": a, "end": b, "label": label[(a, b)]} for a, b in kept]


def read_genia_flat(corpus: str, keep_type: str, label_type: str) -> tuple[dict[str, list[dict]], dict[str, int]]:
    """GENIA-nested dev split by document (train / devel / test, as in experiment 3), keeping only the
    outermost `keep_type` mentions; `dropped` counts other-type mentions plus nested ones removed."""
    from biomtl.data_scripts import document_split, prepare_corpus

    genia = prepare_corpus("genia_nested", source_dir=CORPORA_DIR).dataset["validation"]
    outer = document_split(genia, test_fraction=0.2, seed=13)
    inner = document_split(outer["train"], test_fraction=0.1, seed=13)
    splits, dropped = {}, {}
    for split, ds in (("train", inner["train"]), ("devel", inner["test"]), ("test", outer["test"])):
        rows, n_drop = [], 0
        for ex in ds.to_list():
            of_type = [dict(s, label=f"{corpus}/{label_type}") for s in ex["spans"] if s["label"] == keep_type]
            flat = outermost(of_type)
            n_drop += len(ex["spans"]) - len(flat)
            rows.append({**ex, "corpus": corpus, "spans": flat})
        splits[split] = rows
        dropped[split] = n_drop
    return splits, dropped


def sample(rows: list[dict], n: int | None, seed: int) -> list[dict]:
    if n is None or n >= len(rows):
        return list(rows)
    return random.Random(seed).sample(rows, n)


# ---------------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------------
def span_prf(gold: list[list[dict]], pred: list[list[dict]]) -> dict[str, float]:
    """Micro P/R/F1 (percent) over exact (start, end, label) matches."""
    tp = n_gold = n_pred = 0
    for g, p in zip(gold, pred):
        gs = {(s["start"], s["end"], s["label"]) for s in g}
        ps = {(s["start"], s["end"], s["label"]) for s in p}
        tp += len(gs & ps)
        n_gold += len(gs)
        n_pred += len(ps)
    prec = 100.0 * tp / n_pred if n_pred else 0.0
    rec = 100.0 * tp / n_gold if n_gold else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"p": prec, "r": rec, "f1": f1, "gold": n_gold, "pred": n_pred}


def evaluate(model, tok, eval_sets: dict[str, list[dict]], corpora: list[str], batch_size: int) -> dict:
    """{f"{split}/{corpus}": prf} for split in eval_sets keys like "dev"/"test"."""
    out = {}
    for key, rows in eval_sets.items():
        split, corpus = key.split("/", 1)
        if corpus not in corpora:
            continue
        t0 = time.perf_counter()
        pred = model.predict_spans([r["tokens"] for r in rows], tok, batch_size=batch_size, corpus=corpus)
        res = span_prf([r["spans"] for r in rows], pred)
        res["seconds"] = time.perf_counter() - t0
        res["sentences"] = len(rows)
        out[key] = res
    return out


# ---------------------------------------------------------------------------------------------------
# training rows
# ---------------------------------------------------------------------------------------------------
def batch_stream(model, tok, examples_by_task: dict[str, list[dict]], batch_size: int, seed: int, joint: bool):
    """Collated batches forever: task-homogeneous (joint phase 2) or shuffled over all examples."""
    from biomtl.modeling.lscrf_recipe import task_batches

    if joint:
        for _, batch in task_batches(examples_by_task, batch_size, 10**9, seed=seed):
            yield to_device(model.collate(batch, tok), model.device)
    rows = [r for rs in examples_by_task.values() for r in rs]
    rng = random.Random(seed)
    while True:
        order = list(rows)
        rng.shuffle(order)
        for i in range(0, len(order) - batch_size + 1, batch_size):
            yield to_device(model.collate(order[i: i + batch_size], tok), model.device)


def train_and_score(model, tok, train_by_task, eval_sets, prof: Profile, seed: int, joint: bool) -> dict:
    """Train one row with the recipe (quick: one stage of `prof.steps`; full: 30 + 3x30) and score it."""
    from biomtl.modeling.lscrf_recipe import TrainingRecipe, run_schedule, steps_for_epochs

    n_train = sum(len(v) for v in train_by_task.values())
    if prof.paper_recipe:
        recipe = TrainingRecipe(learning_rate=prof.learning_rate, batch_size=prof.batch_size, seed=seed)
    else:
        recipe = TrainingRecipe(stage_a_epochs=prof.steps * prof.batch_size / n_train, continuation_runs=0,
                                save_steps=prof.steps, keep_last_checkpoints=1, learning_rate=prof.learning_rate,
                                batch_size=prof.batch_size, seed=seed)
    steps_done = []

    def make_batches(plan):
        steps = prof.steps if prof.steps else steps_for_epochs(n_train, plan.epochs, prof.batch_size)
        steps_done.append(steps)
        return batch_stream(model, tok, train_by_task, prof.batch_size, plan.seed, joint), steps

    corpora = list(model.config.corpora)
    eval_seconds = []

    def score(m):
        t0 = time.perf_counter()
        res = evaluate(m, tok, eval_sets, corpora, prof.eval_batch_size)
        eval_seconds.append(time.perf_counter() - t0)
        flat = {f"{k}/f1": v["f1"] for k, v in res.items()}
        dev = [v["f1"] for k, v in res.items() if k.startswith("dev/")]
        flat["dev_f1"] = sum(dev) / len(dev) if dev else 0.0
        score.last = res
        return flat

    model.collate_stats.clear()
    t0 = time.perf_counter()
    result = run_schedule(model, recipe, make_batches, score)
    wall = time.perf_counter() - t0
    if result.averaged_state is not None and prof.paper_recipe:
        model.load_state_dict(result.averaged_state)  # the published weights (last-5 average, best dev run)
    total_steps = sum(steps_done)
    return {
        "steps": total_steps,
        "batch_size": prof.batch_size,
        "epochs": total_steps * prof.batch_size / n_train,
        "train_wall_s": wall - sum(eval_seconds),
        "eval_wall_s": sum(eval_seconds),
        "summary": result.summary,  # mean/std/max over evaluated checkpoints (quick: 1 checkpoint)
        "last_eval": score.last,
        "collate_stats": dict(model.collate_stats),
    }


def category_rows(category: str, prof: Profile, encoder_path: str, seed: int, rates, log,
                  data_log: list[dict] | None = None, device: str = "cpu") -> list[dict]:
    from transformers import AutoModel, AutoTokenizer

    from biomtl.modeling import LayerSlicedXLNetCRF

    tok = AutoTokenizer.from_pretrained(encoder_path)
    data, dropped = {}, {}
    for corpus, folder, keep in CATEGORIES[category]:
        splits, drop = read_corpus(folder, corpus, keep, CATEGORY_TYPE[category])
        data[corpus] = {
            "train": sample(splits["train"], prof.train_sentences, seed),
            "dev": sample(splits["devel"], prof.dev_sentences, seed + 1),
            "test": sample(splits["test"], prof.test_sentences, seed + 2),
        }
        dropped[corpus] = drop
        text = (f"train {len(data[corpus]['train'])}/{len(splits['train'])}, dev {len(data[corpus]['dev'])}, "
                f"test {len(data[corpus]['test'])}/{len(splits['test'])} sentences; mentions set to O: {drop}")
        log(f"[{category}] seed {seed} {corpus}: {text}")
        if data_log is not None:
            data_log.append({"category": category, "corpus": corpus, "text": text})
    corpora = list(data)
    eval_sets = {f"{split}/{c}": data[c][split] for c in corpora for split in ("dev", "test")}
    types = {c: [f"{c}/{CATEGORY_TYPE[category]}"] for c, _, _ in CATEGORIES[category]}
    common = dict(max_seq_length=prof.max_seq_length, category=category)
    rows = []

    def record(name, model, res, k=None, init_steps=0, **extra):
        n = model.config.num_layers
        k = model.config.num_shared_layers if k is None else k
        row = {"category": category, "row": name, "seed": seed, "corpora": list(model.config.corpora), "k": k, "n": n,
               "tasks": list(model.config.tasks), "steps_incl_init": res["steps"] + init_steps, **extra, **res,
               "test_f1": {c: res["last_eval"][f"test/{c}"]["f1"] for c in model.config.corpora},
               "dev_f1": {c: res["last_eval"][f"dev/{c}"]["f1"] for c in model.config.corpora}}
        rows.append(row)
        log(f"[{category}] {name}: test F1 {json.dumps({c: round(v, 2) for c, v in row['test_f1'].items()})}, "
            f"dev F1 {json.dumps({c: round(v, 2) for c, v in row['dev_f1'].items()})}, train "
            f"{res['train_wall_s']:.0f}s, eval {res['eval_wall_s']:.0f}s")
        return row

    # STL: one model per corpus
    for c in corpora:
        torch.manual_seed(seed)
        model = LayerSlicedXLNetCRF.from_encoder(encoder_path, {c: types[c]}, **common).to(device)
        res = train_and_score(model, tok, {c: data[c]["train"]}, eval_sets, prof, seed, joint=False)
        record(f"STL {c}", model, res)
        del model
    if len(corpora) < 2:
        return rows
    # MTL-XC: everything shared, one head
    torch.manual_seed(seed)
    xc = LayerSlicedXLNetCRF.from_encoder(encoder_path, types, task_grouping="shared", **common).to(device)
    res = train_and_score(xc, tok, {"all": [r for c in corpora for r in data[c]["train"]]}, eval_sets, prof, seed,
                          joint=False)
    record("MTL-XC", xc, res)
    xc_steps = res["steps"]
    xc_state = copy.deepcopy(xc.state_dict())
    pretrained = AutoModel.from_pretrained(encoder_path)
    # MTL-LS at each slicing rate, phase 2 joint, from the MTL-XC model
    ls_rows = []
    for rate in rates:
        torch.manual_seed(seed)
        ls = LayerSlicedXLNetCRF.from_mtl_xc(xc, pretrained, slicing_rate=rate).to(device)
        res = train_and_score(ls, tok, {c: data[c]["train"] for c in corpora}, eval_sets, prof, seed, joint=True)
        ls_rows.append(record(f"MTL-LS r={rate:g}", ls, res, init_steps=xc_steps, slicing_rate=rate))
        del ls
    # control: MTL-XC trained for one more budget
    torch.manual_seed(seed)
    res = train_and_score(xc, tok, {"all": [r for c in corpora for r in data[c]["train"]]}, eval_sets, prof,
                          seed + 7, joint=False)
    record("MTL-XC +budget", xc, res, init_steps=xc_steps)
    xc.load_state_dict(xc_state)
    # rate chosen on dev, per corpus
    chosen = {}
    for c in corpora:
        best = max(ls_rows, key=lambda r: r["dev_f1"][c])
        chosen[c] = {"slicing_rate": best["slicing_rate"], "k": best["k"], "test_f1": best["test_f1"][c],
                     "dev_f1": best["dev_f1"][c]}
    rows.append({"category": category, "row": "MTL-LS (r chosen on dev)", "seed": seed, "corpora": corpora,
                 "chosen": chosen,
                 "test_f1": {c: chosen[c]["test_f1"] for c in corpora},
                 "dev_f1": {c: chosen[c]["dev_f1"] for c in corpora}})
    return rows


# ---------------------------------------------------------------------------------------------------
# CRF decoding throughput
# ---------------------------------------------------------------------------------------------------
def crf_throughput(seconds: float = 1.0, batch: int = 64, width: int = 32) -> list[dict]:
    """Sentences/s of Viterbi, forward-backward (span scores) and NLL+backward on random emissions,
    one intra-op thread (the CRF's [B, T, T] steps are far too small to gain from more)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _crf_throughput(seconds, batch, width)
    finally:
        torch.set_num_threads(threads)


def _crf_throughput(seconds: float, batch: int, width: int) -> list[dict]:
    from biomtl.modeling.crf import LinearChainCRF

    out = []
    gen = torch.Generator().manual_seed(0)
    for num_tags, what in ((5, "1 type, IOBES"), (9, "2 types, IOBES")):
        crf = LinearChainCRF(num_tags)
        with torch.no_grad():
            crf.transitions.copy_(torch.randn(num_tags, num_tags, generator=gen))
        emissions = torch.randn(batch, width, num_tags, generator=gen)
        lengths = torch.randint(width // 3, width + 1, (batch,), generator=gen)
        mask = torch.arange(width)[None, :] < lengths[:, None]
        tags = torch.randint(0, num_tags, (batch, width), generator=gen)
        row = {"tags": num_tags, "what": what, "batch": batch, "max_words": width,
               "mean_words": float(lengths.float().mean())}
        trainable = emissions.clone().requires_grad_()
        calls = {
            "viterbi": lambda c=crf, e=emissions, m=mask: c.decode(e, m),
            "forward_backward": lambda c=crf, e=emissions, m=mask: c.forward_backward(e, m),
            "nll_backward": lambda c=crf, e=trainable, y=tags, m=mask: c.nll(e, y, m).sum().backward(),
        }
        for name, fn in calls.items():
            with torch.inference_mode(name != "nll_backward"):
                fn()
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds:
                    fn()
                    n += 1
            row[f"{name}_sent_per_s"] = n * batch / (time.perf_counter() - t0)
        out.append(row)
    return out


# ---------------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------------
def aggregate(rows: list[dict]) -> list[dict]:
    """One entry per (category, row) over its seeds: test / dev F1 per corpus as mean_sd dicts, the
    dev-chosen rate of every seed for the "r chosen on dev" row, budget columns of the first seed."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["category"], r["row"]), []).append(r)
    order = list(CATEGORIES)
    out = []
    for (cat, name), rs in sorted(groups.items(), key=lambda kv: order.index(kv[0][0])):
        corpora = rs[0]["corpora"]
        agg = {"category": cat, "row": name, "corpora": corpora, "seeds": [r.get("seed") for r in rs],
               "test_f1": {c: mean_sd(r["test_f1"][c] for r in rs if c in r["test_f1"]) for c in corpora},
               "dev_f1": {c: mean_sd(r["dev_f1"][c] for r in rs if c in r["dev_f1"]) for c in corpora}}
        if "chosen" in rs[0]:
            agg["chosen_rates"] = {c: [r["chosen"][c]["slicing_rate"] for r in rs] for c in corpora}
        else:
            agg.update({key: rs[0][key] for key in ("k", "n", "steps", "steps_incl_init", "epochs")})
            agg["train_wall_s"] = sum(r["train_wall_s"] for r in rs) / len(rs)
            agg["eval_wall_s"] = sum(r["eval_wall_s"] for r in rs) / len(rs)
            if "slicing_rate" in rs[0]:
                agg["slicing_rate"] = rs[0]["slicing_rate"]
        out.append(agg)
    return out


def fmt_f1(stats: dict) -> str:
    return f"{stats['mean']:.2f}" if stats["n"] < 2 else f"{stats['mean']:.2f} ± {stats['sd']:.2f}"


def findings(rows: list[dict]) -> list[str]:
    """Per corpus of every category with MTL-LS rows: does the slicing rate chosen on dev beat full
    sharing (MTL-XC, and the equal-budget control MTL-XC +budget), on the mean over seeds and seed by
    seed?"""
    lines = []
    agg = {(a["category"], a["row"]): a for a in aggregate(rows)}
    raw = {(r["category"], r["row"], r.get("seed")): r for r in rows}
    for cat in CATEGORIES:
        xc, chosen = agg.get((cat, "MTL-XC")), agg.get((cat, "MTL-LS (r chosen on dev)"))
        ctrl = agg.get((cat, "MTL-XC +budget"))
        if not xc or not chosen:
            continue
        rates = sorted({a["slicing_rate"] for a in agg.values() if a["category"] == cat and "slicing_rate" in a})
        for c in chosen["corpora"]:
            ls = chosen["test_f1"][c]
            full = max(xc["test_f1"][c]["mean"], ctrl["test_f1"][c]["mean"] if ctrl else float("-inf"))
            verdict = "beats" if ls["mean"] > full else "does not beat"
            seeds = chosen["seeds"]
            wins = sum(1 for sd in seeds if ctrl and (cat, "MTL-XC +budget", sd) in raw
                       and raw[(cat, "MTL-LS (r chosen on dev)", sd)]["test_f1"][c]
                       > raw[(cat, "MTL-XC +budget", sd)]["test_f1"][c])
            stl = agg.get((cat, f"STL {c}"))
            per_rate = ", ".join(f"r={r:g}: {agg[(cat, f'MTL-LS r={r:g}')]['test_f1'][c]['mean']:.2f}" for r in rates
                                 if (cat, f"MTL-LS r={r:g}") in agg)
            lines.append(
                f"{cat}/{c}: MTL-LS with r chosen on dev (per seed: "
                f"{', '.join(f'{r:g}' for r in chosen['chosen_rates'][c])}) {fmt_f1(ls)} {verdict} full sharing "
                f"(MTL-XC {fmt_f1(xc['test_f1'][c])}; MTL-XC +budget "
                + (f"{fmt_f1(ctrl['test_f1'][c])}, beaten in {wins} of {len(seeds)} seed(s)" if ctrl else "–")
                + f"); STL {fmt_f1(stl['test_f1'][c]) if stl else '–'}; fixed rates, mean over seeds: {per_rate}")
    return lines


def markdown(report: dict) -> str:
    parts = report.get("parts") or [{"command": report["command"], "wall_s": report["wall_s"], "runs": []}]
    runs = "; ".join(f"`{p['command']}` ({', '.join(p.get('runs') or []) or 'CRF micro-benchmark'}: "
                     f"{p['wall_s'] / 60:.1f} min)" for p in parts)
    seeds = sorted({r.get("seed") for r in report["rows"]} - {None})
    lines = [f"### Layer-sliced CRF (MTL-XC / MTL-LS), profile `{report['profile']}`", "",
             f"Machine: {report['machine']}"
             + (f", device {report['device']}" if report.get("device", "cpu") != "cpu" else "")
             + f"; torch threads {report['threads']}; batch size "
             f"{report['settings']['batch_size']}; {report['settings']['steps']} steps per row; seeds "
             f"{', '.join(map(str, seeds)) or '–'} (test F1: mean ± sd over seeds; each seed also draws the "
             f"training / dev subsamples); run as {runs} (category@seed).", ""]
    if report.get("smoke"):
        lines += ["**Smoke run: tiny subsets (test split subsampled), numbers are not results.**", ""]
    if report["rows"]:
        lines += ["| category | row | k/n | seeds | test F1 per corpus | dev F1 | steps (incl. init) | epochs | "
                  "train s | eval s |", "|---|---|---|---|---|---|---|---|---|---|"]
        for a in aggregate(report["rows"]):
            f1 = ", ".join(f"{c} {fmt_f1(v)}" for c, v in a["test_f1"].items())
            dev = ", ".join(f"{v['mean']:.2f}" for v in a["dev_f1"].values())
            n_seeds = len(a["seeds"])
            if "chosen_rates" in a:
                kn = "; ".join(f"{c}: r={', '.join(f'{x:g}' for x in v)}" for c, v in a["chosen_rates"].items())
                lines.append(f"| {a['category']} | {a['row']} | {kn} | {n_seeds} | {f1} | {dev} | | | | |")
                continue
            lines.append(f"| {a['category']} | {a['row']} | {a['k']}/{a['n']} | {n_seeds} | {f1} | {dev} | "
                         f"{a['steps']} ({a['steps_incl_init']}) | {a['epochs']:.2f} | {a['train_wall_s']:.0f} | "
                         f"{a['eval_wall_s']:.0f} |")
        lines.append("")
    if report.get("data"):
        lines += ["Data per corpus (sentences; mentions of other types, and for GENIA nested proteins, set to O):", ""]
        lines += [f"- {cat}/{c}: {d}" for (cat, c), d in sorted(
            {(x["category"], x["corpus"]): x["text"] for x in report["data"]}.items())]
        lines.append("")
    if report.get("findings"):
        lines += ["Finding (paper: a well-chosen slicing rate beats full sharing):", ""]
        lines += [f"- {f}" for f in report["findings"]]
        lines.append("")
    lines += ["CRF decoding throughput (random emissions, one thread, sentences/s; end-to-end prediction "
              "speed is the test sentences / eval s above, dominated by the encoder):", "",
              "| tags | batch x words | Viterbi | forward-backward (span scores) | NLL + backward |",
              "|---|---|---|---|---|"]
    for t in report["crf_throughput"]:
        lines.append(f"| {t['tags']} ({t['what']}) | {t['batch']} x <= {t['max_words']} (mean "
                     f"{t['mean_words']:.0f}) | {t['viterbi_sent_per_s']:.0f} | "
                     f"{t['forward_backward_sent_per_s']:.0f} | {t['nll_backward_sent_per_s']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> None:
    """Test F1 vs slicing rate per corpus of each category with MTL-LS rows (mean, error bars sd over
    seeds); the full-sharing rows and STL as horizontal references."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    agg = aggregate(report["rows"])
    cats = [c for c in CATEGORIES if any(a["category"] == c and a["row"].startswith("MTL-LS r=") for a in agg)]
    if not cats:
        return
    corpora = [(cat, c) for cat in cats for c, _, _ in CATEGORIES[cat]]
    fig, axes = plt.subplots(1, len(corpora), figsize=(4.2 * len(corpora), 3.6), squeeze=False)
    for ax, (cat, corpus) in zip(axes[0], corpora):
        ls = sorted((a["slicing_rate"], a["test_f1"][corpus]) for a in agg
                    if a["category"] == cat and a["row"].startswith("MTL-LS r=") and corpus in a["test_f1"])
        ax.errorbar([x for x, _ in ls], [v["mean"] for _, v in ls], yerr=[v["sd"] for _, v in ls], fmt="o-",
                    capsize=3, label="MTL-LS (per-task upper layers)")
        styles = {"MTL-XC": "--", "MTL-XC +budget": "-.", f"STL {corpus}": ":"}
        for a in agg:
            if a["category"] == cat and a["row"] in styles and corpus in a["test_f1"]:
                ax.axhline(a["test_f1"][corpus]["mean"], linestyle=styles[a["row"]],
                           color="grey" if "XC" in a["row"] else "black", label=a["row"].replace(f" {corpus}", ""))
        n = max(len(a["seeds"]) for a in agg if a["category"] == cat)
        ax.set_title(f"{cat}: {corpus} ({n} seed{'s' if n > 1 else ''})")
        ax.set_xlabel("slicing rate r (shared fraction of layers)")
        ax.set_ylabel("test F1 (%)")
        ax.set_xticks([x for x, _ in ls])
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge_runs(old: dict, new_rows: list[dict], part: dict) -> tuple[list[dict], list[dict]]:
    """Rows and parts after adding this invocation's (category, seed) runs to an earlier results file:
    earlier rows of the same (category, seed) are replaced, all others kept."""
    old_seed = old.get("seed", 13)
    replaced = set(part["runs"])
    kept = [r for r in old["rows"] if f"{r['category']}@{r.get('seed', old_seed)}" not in replaced]
    for r in kept:
        r.setdefault("seed", old_seed)
    parts = []
    for p in old.get("parts") or [{"command": old["command"], "wall_s": old["wall_s"], "threads": old["threads"],
                                   "categories": sorted({r["category"] for r in old["rows"]})}]:
        runs = p.get("runs") or [f"{c}@{s}" for c in p.get("categories", []) for s in p.get("seeds", [old_seed])]
        runs = [x for x in runs if x not in replaced]
        if runs:
            parts.append({**p, "runs": runs})
    order = list(CATEGORIES)
    rows = sorted(kept + new_rows, key=lambda r: (order.index(r["category"]), r["seed"]))
    return rows, parts + [part]


@contextlib.contextmanager
def results_lock(path: Path):
    """An exclusive lock around the read-merge-write of a results file."""
    import fcntl

    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_results(report: dict, stem: str, rows: list[dict], data_log: list[dict], part: dict, merge: bool) -> None:
    """results/<stem>.json / .md / .png; with `merge`, this run's (category, seed) rows are merged into the
    existing file (see `merge_runs`)."""
    if merge and (RESULTS / f"{stem}.json").is_file():
        old = json.loads((RESULTS / f"{stem}.json").read_text())
        report["rows"], report["parts"] = merge_runs(old, rows, part)
        known = {(d["category"], d["corpus"]) for d in data_log}
        report["data"] = [d for d in old.get("data", []) if (d["category"], d["corpus"]) not in known] + data_log
        report["seeds"] = sorted({r["seed"] for r in report["rows"]})
        report["findings"] = findings(report["rows"])
    report["wall_s"] = sum(p["wall_s"] for p in report["parts"])  # all runs behind the rows, together
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2))
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    if report["rows"]:
        plot(report, RESULTS / f"{stem}.png")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    ap.add_argument("--smoke", action="store_true", help="same as --profile smoke")
    ap.add_argument("--categories", nargs="+", default=list(CATEGORIES), choices=list(CATEGORIES))
    ap.add_argument("--rates", nargs="+", type=float, default=list(RATES))
    ap.add_argument("--encoder", default="embedded-minilm")
    ap.add_argument("--seeds", nargs="+", type=int, help="seeds (default: the profile's; quick: 13 14)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--device", help="cpu or cuda[:N] (default: CUDA when available)")
    ap.add_argument("--crf-only", action="store_true", help="only the CRF throughput micro-benchmark")
    ap.add_argument("--keep-other-runs", "--keep-other-categories", dest="keep_other_runs", action="store_true",
                    help="keep the rows of the (category, seed) runs not run now from the existing results file "
                         "(their own commands and wall times are listed under `parts`)")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    profile = "smoke" if args.smoke else args.profile
    args.device = args.device or default_device()
    if args.threads is None and profile == "smoke":
        args.threads = 1  # tiny batches: a second intra-op thread only spins on a busy machine
    if args.threads:
        torch.set_num_threads(args.threads)
    prof = PROFILES[profile]
    from biomtl.modeling.encoder_loading import resolve_encoder_source

    encoder_path, encoder_name = resolve_encoder_source(args.encoder)
    t_start = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t_start:7.1f}s] {msg}", flush=True)

    seeds = list(args.seeds or prof.seeds)
    rows: list[dict] = []
    data_log: list[dict] = []
    if not args.crf_only:
        for seed in seeds:
            for cat in args.categories:
                rows += category_rows(cat, prof, encoder_path, seed, args.rates, log, data_log, args.device)
    throughput = crf_throughput(0.3 if profile == "smoke" else 1.0)
    report = {
        "benchmark": "layer_sliced", "profile": "crf-only" if args.crf_only else profile, "smoke": profile == "smoke",
        "command": "python -m benchmarks.layer_sliced " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}, torch {torch.__version__}",
        "threads": torch.get_num_threads(), "device": device_label(args.device), "encoder": encoder_name,
        "seeds": seeds,
        "settings": prof.__dict__, "rates": args.rates, "rows": rows, "data": data_log, "findings": findings(rows),
        "crf_throughput": throughput, "wall_s": time.perf_counter() - t_start,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "layer_sliced" + (".smoke" if profile == "smoke" else "" if profile == "quick" else f".{profile}")
    if args.crf_only:
        stem += ".crf"
    part = {"command": report["command"], "wall_s": report["wall_s"], "threads": report["threads"],
            "runs": [] if args.crf_only else [f"{c}@{sd}" for c in args.categories for sd in seeds]}
    report["parts"] = [part]
    with results_lock(RESULTS / f"{stem}.lock"):  # runs of other seeds may finish at the same time
        write_results(report, stem, rows, data_log, part, merge=args.keep_other_runs)
    print(markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
