"""SRU-NER early learning: what the model does in its first few hundred steps (issue 13).

    python -m benchmarks.sru_learning --variant before model.overrides.init_action_bias=false ...
    python -m benchmarks.sru_learning --variant after

Trains the issue's sparse check through `biomtl train` (Linnaeus, 500 training sentences, 5 epochs,
batch 8; a checkpoint every `--every` steps), then probes every checkpoint on a fixed set of
training sentences with mentions, teacher-forced as in training:

* sigma(TR) on the gold TR rows versus on the SH row that follows each of them (same type), and
  sigma(SH) on both: whether the model can tell "open a mention here" from "now shift";
* the entropy of the SRU's attention over the slots (log Q = uniform);
* how many mentions `predict_spans` emits on those sentences, and the first step at which any fires.

Writes `benchmarks/results/standard/sru_learning/<variant>.json` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import torch
import yaml

from benchmarks.common import corpora_dir, machine
from benchmarks.standard import REPO, RESULTS, RUNS


def sparse_config(seed: int, every: int, corpus: str = "linnaeus") -> dict:
    """The issue's check (unchanged but for the checkpoints)."""
    return {"corpora": [{"name": corpus, "max_train_sentences": 500, "max_eval_sentences": 200,
                         "max_test_sentences": 1000}],
            "model": {"family": "sru_ner"}, "epochs": 5, "batch_size": 8, "seed": seed,
            "source_dir": os.path.relpath(corpora_dir(), REPO), "log_with": None, "progress": False,
            "checkpoint_every_steps": every, "keep_checkpoints": 1000}


@torch.no_grad()
def probe(model, tokenizer, examples: list[dict]) -> dict:
    """Teacher-forced statistics on `examples` (eval mode) and what decoding emits."""
    from biomtl.modeling.sru_actions import SH

    entropies: list[float] = []
    sru = model.sru
    original = sru._attend

    def attend(scores, state, slot_mask):  # record the attention entropy of every read
        s = scores.amax(dim=-1).masked_fill(~slot_mask, float("-inf"))
        w = torch.softmax(s, dim=-1)
        ent = -(w * torch.log(w.clamp_min(1e-12))).sum(-1)
        entropies.append(float(ent.mean()))
        return original(scores, state, slot_mask)

    model.eval()
    sru._attend = attend
    try:
        batch = model.collate(examples, tokenizer)
        out = model(**batch)
    finally:
        del sru._attend
    probs = torch.sigmoid(out.logits)
    gold = batch["gold_rows"]
    rows = torch.gather(gold, 1, out.gold_row_index[..., None].expand(-1, -1, gold.shape[-1]))
    tr_cols = list(range(2, gold.shape[-1], 2))
    tr_here, tr_next, sh_here, sh_next = [], [], [], []
    for b in range(probs.shape[0]):
        steps = int(out.step_mask[b].sum())
        for t in range(steps - 1):
            for c in tr_cols:
                if rows[b, t, c] == 1 and rows[b, t + 1, SH] == 1:
                    tr_here.append(float(probs[b, t, c]))
                    tr_next.append(float(probs[b, t + 1, c]))
                    sh_here.append(float(probs[b, t, SH]))
                    sh_next.append(float(probs[b, t + 1, SH]))
    preds = model.predict_spans([ex["tokens"] for ex in examples], tokenizer)
    mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
    q = batch["slot_mask"].sum(1).float()
    return {"tr_rows": len(tr_here), "sigma_tr_on_tr_rows": mean(tr_here), "sigma_tr_on_next_sh_rows": mean(tr_next),
            "sigma_sh_on_tr_rows": mean(sh_here), "sigma_sh_on_next_sh_rows": mean(sh_next),
            "tr_fires_on_tr_rows": mean([float(p > max(0.5, s)) for p, s in zip(tr_here, sh_here)]),
            "attention_entropy": mean(entropies), "uniform_entropy": float(torch.log(q).mean()),
            "mentions_predicted": sum(len(p) for p in preds),
            "mentions_gold": sum(len(ex["spans"]) for ex in examples)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, help="name of this variant (the result file)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--every", type=int, default=15, help="checkpoint every N optimiser steps")
    ap.add_argument("--corpus", default="linnaeus")
    ap.add_argument("--probe-sentences", type=int, default=48)
    ap.add_argument("overrides", nargs="*", help="dotted `biomtl train` overrides of this variant")
    args = ap.parse_args(argv)

    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    from biomtl.modeling import get_family
    from biomtl.trainer.config import build_config
    from biomtl.trainer.data import build_training_data

    name = f"{args.variant}_{args.corpus}_s{args.seed}"
    folder = RESULTS / "sru_learning"
    folder.mkdir(parents=True, exist_ok=True)
    out_dir = RUNS / "sru_learning" / name
    cfg = {**sparse_config(args.seed, args.every, args.corpus), "output_dir": os.path.relpath(out_dir, REPO)}
    config_path = folder / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "stdout.log", "w") as log:
        proc = subprocess.run([sys.executable, "-m", "biomtl.cli", "train", str(config_path), *args.overrides],
                              env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"biomtl train failed; see {out_dir / 'stdout.log'}")
    results = json.loads((out_dir / "all_results.json").read_text())

    train_cfg = build_config(cfg, args.overrides)
    data = build_training_data(train_cfg)
    probe_set = [ex for ex in data.train if ex["spans"]][: args.probe_sentences]
    best = out_dir / "best"
    tokenizer = AutoTokenizer.from_pretrained(best)
    model = get_family("sru_ner").from_pretrained(best)
    rows = []
    for ckpt in sorted((out_dir / "checkpoints").glob("step-*")):
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")))
        step = int(ckpt.name.split("-")[1])
        rows.append({"step": step, **probe(model, tokenizer, probe_set)})
        print(json.dumps(rows[-1]), flush=True)
    first = next((r["step"] for r in rows if r["mentions_predicted"] > 0), None)
    summary = {"variant": args.variant, "overrides": args.overrides, "config": str(config_path), "machine": machine(),
               "resolved_config": json.loads((out_dir / "train_config.json").read_text()),
               "model_flags": {k: json.loads((best / "config.json").read_text()).get(k)
                               for k in ("centre_attention_init", "action_bias_init")},
               "test_f1": results["test"]["merged"]["average"]["f1"], "dev_curve": [
                   h["dev"]["merged"]["average"]["f1"] for h in results["history"]],
               "first_step_with_a_mention": first, "probe": rows,
               "step_cap_hits": results.get("data_report", {}).get("predict")}
    (folder / f"{name}.json").write_text(json.dumps(summary, indent=2))
    print(f"{name}: test F1 {summary['test_f1']:.2f}; dev per epoch {summary['dev_curve']}; "
          f"first checkpoint that emits a mention: step {first}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
