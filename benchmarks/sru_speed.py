"""Benchmark: SRU-NER speed and memory vs a token-classification head on the same encoder.

    python -m benchmarks.sru_speed [--batch-size 32] [--train-batch-size 16] [--warmup-steps 120]

Encoder: the embedded MiniLM (BERT uncased, 6 layers, 384 hidden). Data: the 940 NCBI-disease test
sentences (../shared/corpora/NCBI-disease-IOB/test.tsv, read here with a tiny IOB2 reader).
SRU-NER model: the project's four-corpus label space (NCBI-disease, BC5CDR, BC2GM, linnaeus: 5
prefixed types, 12 actions, J = 24), sentences labelled as NCBI-disease (multi-task targets).
Baseline: `AutoModelForTokenClassification` (11 BIO labels for the same 5 types), same batches.

1. Warm-up: the SRU model is trained for `--warmup-steps` batches on NCBI-disease *train*, so that
   it emits realistic action sequences (an untrained model runs every sentence to its step cap, or
   stops at once). Its test F1 after warm-up is reported for information only.
2. Inference: all 940 test sentences, the same length-sorted batches of `--batch-size` for both
   models, tokenization and decoding included; `--repeats` interleaved passes, best pass kept.
   Then one instrumented SRU pass splits the time into tokenization / encoder / step loop / decoding.
3. Training: the same `--train-batches` random batches of `--train-batch-size` test sentences for both
   models (forward + backward + AdamW step; collate timed separately), interleaved, first batch
   discarded; for the warmed-up multi-task model (also with `sru_checkpointing`) and for a fresh
   single-corpus (NCBI only) model.
4. Peak memory: one subprocess per (model, mode) running that workload; peak RSS (VmHWM, reset after
   the model is loaded) and its increase over the RSS after loading (CPU: no allocator statistics).

Targets (issue 3): inference sentences/s ratio SRU / token-classification >= 0.5; training step
time ratio <= 2.5. Writes benchmarks/results/sru_speed.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"
CORPORA = Path(os.environ.get("BIOMTL_CORPORA", Path(__file__).resolve().parents[2] / "shared" / "corpora"))
CORPUS = "NCBI-disease"
CORPUS_TYPES = {
    "NCBI-disease": ["NCBI-disease/Disease"],
    "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"],
    "BC2GM": ["BC2GM/Gene"],
    "linnaeus": ["linnaeus/Species"],
}
BIO_LABELS = ["O"] + [f"{p}-{t}" for ts in CORPUS_TYPES.values() for t in ts for p in ("B", "I")]


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def read_iob2(path: Path, corpus: str) -> list[dict]:
    """IOB2 tsv (token<TAB>tag, blank line between sentences) -> canonical examples with spans."""
    from biomtl.modeling.tag_schemes import tags_to_spans

    examples: list[dict] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush():
        if not tokens:
            return
        spans = [{"start": s, "end": e, "label": f"{corpus}/{t}"} for s, e, t in tags_to_spans(tags, "BIO")]
        examples.append({"id": str(len(examples)), "corpus": corpus, "doc_id": "", "tokens": list(tokens),
                         "spans": spans})
        tokens.clear()
        tags.clear()

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            flush()
            continue
        tok, tag = line.split("\t")[:2]
        tokens.append(tok)
        tags.append(tag.strip())
    flush()
    return examples


def bio_labels(example: dict) -> list[int]:
    from biomtl.modeling.tag_schemes import spans_to_tags

    spans = [(sp["start"], sp["end"], sp["label"]) for sp in example["spans"]]
    return [BIO_LABELS.index(t) for t in spans_to_tags(spans, len(example["tokens"]), "BIO")]


# ------------------------------------------------------------------------------------------------
# models and workloads
# ------------------------------------------------------------------------------------------------


def load_tokenizer(encoder: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(encoder)


def sru_model(encoder: str, corpus_types: dict, seed: int = 42):
    from biomtl.modeling.modeling_sru_ner import SruNerForTokenActions

    torch.manual_seed(seed)
    return SruNerForTokenActions.from_encoder(encoder, corpus_types)


def tc_model(encoder: str, seed: int = 42):
    from transformers import AutoModelForTokenClassification

    torch.manual_seed(seed)
    return AutoModelForTokenClassification.from_pretrained(encoder, num_labels=len(BIO_LABELS))


def spec_optim() -> dict:
    """The SRU-NER spec's optimiser settings (§11): the family's `paper` recipe."""
    from biomtl.trainer.config import family_recipe

    return family_recipe("sru_ner", "paper")["optim"]


def optimizer_for(model, sru: bool):
    if sru:
        g = model.parameter_groups()
        c = spec_optim()
        return torch.optim.AdamW([{"params": g["encoder"], "lr": c["encoder_lr"]},
                                  {"params": g["head"], "lr": c["head_lr"]}],
                                 betas=tuple(c["betas"]), eps=c["eps"], weight_decay=c["encoder_weight_decay"])
    return torch.optim.AdamW(model.parameters(), lr=2e-5, betas=(0.9, 0.98), eps=1e-6, weight_decay=1e-3)


def length_sorted_batches(tokenizer, sentences: list[list[str]], batch_size: int) -> list[list[int]]:
    """The batching SRU-NER's predict_spans uses (sorted by sub-word count); reused for the baseline."""
    from biomtl.modeling.subwords import subword_counts

    sizes = [sum(subword_counts(tokenizer, s)) for s in sentences]
    order = sorted(range(len(sentences)), key=lambda i: sizes[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def tc_predict(model, tokenizer, sentences, batches) -> list[list[int]]:
    """Token-classification inference with the same batches: tokenize, forward, argmax per first sub-word
    (inputs moved to the model's device, tags back as lists)."""
    from biomtl.modeling.subwords import encode_words

    model.eval()
    device = model.device
    out: list[list[int]] = [[] for _ in sentences]
    with torch.inference_mode():
        for idx in batches:
            enc = encode_words(tokenizer, [sentences[i] for i in idx])
            logits = model(**{k: v.to(device) for k, v in enc.inputs.items()}).logits
            tags = logits.argmax(-1).gather(1, enc.first_subword.to(device)).tolist()
            for b, i in enumerate(idx):
                out[i] = tags[b][: enc.num_words[b]]
    return out


def tc_collate(tokenizer, examples):
    from biomtl.modeling.subwords import encode_words

    enc = encode_words(tokenizer, [e["tokens"] for e in examples])
    labels = torch.full_like(enc.inputs["input_ids"], -100)
    for b, e in enumerate(examples):
        for w, lab in enumerate(bio_labels(e)):
            labels[b, enc.first_subword[b, w]] = lab
    return dict(enc.inputs, labels=labels)


def train_step(model, opt, batch, clip: float = 1.0) -> float:
    model.train()
    t0 = time.perf_counter()
    loss = model(**batch).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return time.perf_counter() - t0


def span_f1(gold: list[dict], pred: list[list[dict]], label: str) -> float:
    g = {(k, s["start"], s["end"]) for k, e in enumerate(gold) for s in e["spans"] if s["label"] == label}
    p = {(k, s["start"], s["end"]) for k, ps in enumerate(pred) for s in ps if s["label"] == label}
    tp = len(g & p)
    return 2 * tp / max(1, len(g) + len(p))


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark (VmHWM) to its current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    """VmHWM of this process (per address space; unlike ru_maxrss it is not inherited over fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_probe(kind: str, ckpt: str, encoder: str, batch_size: int, train_batch_size: int) -> dict:
    """Run one workload in this (fresh) process and report peak RSS; see module docstring."""
    from transformers import AutoModel

    import biomtl.modeling  # noqa: F401  (registers the SRU-NER auto classes)

    tok = load_tokenizer(encoder)
    test = read_iob2(CORPORA / "NCBI-disease-IOB" / "test.tsv", CORPUS)
    sentences = [e["tokens"] for e in test]
    sru = kind.startswith("sru")
    model = AutoModel.from_pretrained(ckpt) if sru else tc_model(encoder)
    if kind == "sru-train-ckpt":
        model.config.sru_checkpointing = True
    rng = random.Random(0)
    train_batches = [rng.sample(test, train_batch_size) for _ in range(3)]
    if "train" in kind:
        opt = optimizer_for(model, sru)
        collated = [model.collate(b, tok) if sru else tc_collate(tok, b) for b in train_batches]
    base = rss_mib()
    reset = reset_peak_rss()
    if kind == "sru-infer":
        model.predict_spans(sentences, tok, batch_size=batch_size)
    elif kind == "tc-infer":
        tc_predict(model, tok, sentences, length_sorted_batches(tok, sentences, batch_size))
    else:
        for batch in collated:
            train_step(model, opt, batch)
    peak = peak_rss_mib()
    return {"kind": kind, "rss_after_load_mib": round(base, 1), "peak_rss_mib": round(peak, 1),
            "peak_increase_mib": round(peak - base, 1), "peak_reset_after_load": reset}


# ------------------------------------------------------------------------------------------------
# main
# ------------------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "device": "cpu",
            "load_average_start": [round(x, 2) for x in os.getloadavg()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch-size", type=int, default=32, help="inference batch size (both models)")
    ap.add_argument("--train-batch-size", type=int, default=16)
    ap.add_argument("--train-batches", type=int, default=9, help="timed training batches (+1 discarded)")
    ap.add_argument("--warmup-steps", type=int, default=120, help="SRU warm-up training batches (NCBI train)")
    ap.add_argument("--warmup-lr-scale", type=float, default=3.0, help="x the spec LRs during warm-up")
    ap.add_argument("--repeats", type=int, default=2, help="interleaved inference passes per model")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    ap.add_argument("--memory-probe", help=argparse.SUPPRESS)
    ap.add_argument("--ckpt", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=str(RESULTS / "sru_speed"), help="output path without extension")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from biomtl.encoders import resolve_encoder

    encoder = resolve_encoder("embedded-minilm")
    if args.memory_probe:
        print("PROBE" + json.dumps(memory_probe(args.memory_probe, args.ckpt, encoder, args.batch_size,
                                                args.train_batch_size)))
        return 0

    test_path = CORPORA / "NCBI-disease-IOB" / "test.tsv"
    if not test_path.is_file():
        print(f"NCBI-disease corpus not found at {test_path} (set BIOMTL_CORPORA)", file=sys.stderr)
        return 2
    info = machine()
    t_start = time.perf_counter()
    test = read_iob2(test_path, CORPUS)
    train = read_iob2(CORPORA / "NCBI-disease-IOB" / "train.tsv", CORPUS)
    sentences = [e["tokens"] for e in test]
    tok = load_tokenizer(encoder)
    print(f"{len(test)} test sentences, {sum(len(s) for s in sentences)} words; threads={info['torch_threads']}",
          flush=True)

    # 1. warm-up training of the SRU model (multi-task label space, NCBI-disease sentences)
    sru = sru_model(encoder, CORPUS_TYPES)
    opt = optimizer_for(sru, True)
    for group in opt.param_groups:
        group["lr"] *= args.warmup_lr_scale
    rng = random.Random(42)
    t0 = time.perf_counter()
    warm_losses = []
    for step in range(args.warmup_steps):
        batch = sru.collate(rng.sample(train, args.train_batch_size), tok)
        train_step(sru, opt, batch)
        if step % 20 == 19:
            with torch.no_grad():
                warm_losses.append(round(float(sru(**batch).loss), 4))
            print(f"  warm-up step {step + 1}: loss {warm_losses[-1]}", flush=True)
    warmup_s = time.perf_counter() - t0
    tc = tc_model(encoder)

    # 2. inference, interleaved passes
    batches = length_sorted_batches(tok, sentences, args.batch_size)
    sru_times, tc_times = [], []
    preds = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        preds = sru.predict_spans(sentences, tok, batch_size=args.batch_size)
        sru_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tc_predict(tc, tok, sentences, batches)
        tc_times.append(time.perf_counter() - t0)
        print(f"  inference pass: SRU {sru_times[-1]:.2f}s, token-classification {tc_times[-1]:.2f}s", flush=True)
    f1 = span_f1(test, preds, f"{CORPUS}/Disease")

    # instrumented SRU pass: where the time goes
    phases = {"tokenize": 0.0, "encoder_and_pooling": 0.0, "step_loop": 0.0, "decode": 0.0}
    steps_run, sentence_steps, max_len = 0, 0, sru.token_limits(tok)[0]
    sru.eval()
    with torch.inference_mode():
        for idx in batches:
            t0 = time.perf_counter()
            b = sru._encode(tok, [sentences[i] for i in idx], max_len)
            t1 = time.perf_counter()
            slot_mask = b["slot_mask"]
            slots = sru.encode_slots(b["input_ids"], b["attention_mask"], b["word_index"], slot_mask.shape[1],
                                     b.get("token_type_ids"))
            t2 = time.perf_counter()
            out = sru._lock_step(slots, slot_mask)
            t3 = time.perf_counter()
            sru.decode(out, [len(sentences[i]) for i in idx])
            t4 = time.perf_counter()
            for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[k] += v
            steps_run += int(out.logits.shape[1])
            sentence_steps += int(out.num_steps.sum())
    phases = {k: round(v, 3) for k, v in phases.items()}
    t0 = time.perf_counter()
    tc.eval()
    with torch.inference_mode():
        from biomtl.modeling.subwords import encode_words

        tc_tok = 0.0
        for idx in batches:
            a = time.perf_counter()
            enc = encode_words(tok, [sentences[i] for i in idx])
            tc_tok += time.perf_counter() - a
            tc(**enc.inputs)
    tc_phases = {"tokenize": round(tc_tok, 3), "forward": round(time.perf_counter() - t0 - tc_tok, 3)}

    # 3. training steps on identical batches, interleaved
    rng = random.Random(7)
    train_batches = [rng.sample(test, args.train_batch_size) for _ in range(args.train_batches + 1)]
    tc_opt = optimizer_for(tc, False)
    sru_opt = optimizer_for(sru, True)
    st_model = sru_model(encoder, {CORPUS: [f"{CORPUS}/Disease"]})
    st_opt = optimizer_for(st_model, True)
    timing = {"sru_mt": [], "sru_mt_ckpt": [], "sru_st": [], "tc": [], "sru_mt_collate": [], "tc_collate": [],
              "sru_mt_steps": []}
    for k, exs in enumerate(train_batches):
        t0 = time.perf_counter()
        sb = sru.collate(exs, tok)
        t1 = time.perf_counter()
        tb = tc_collate(tok, exs)
        t2 = time.perf_counter()
        s_mt = train_step(sru, sru_opt, sb)
        sru.config.sru_checkpointing = True
        s_ck = train_step(sru, sru_opt, sb)
        sru.config.sru_checkpointing = False
        s_tc = train_step(tc, tc_opt, tb)
        s_st = train_step(st_model, st_opt, st_model.collate(exs, tok))
        if k == 0:
            continue
        timing["sru_mt"].append(s_mt)
        timing["sru_mt_ckpt"].append(s_ck)
        timing["tc"].append(s_tc)
        timing["sru_st"].append(s_st)
        timing["sru_mt_collate"].append(t1 - t0)
        timing["tc_collate"].append(t2 - t1)
        timing["sru_mt_steps"].append(int(sb["gold_rows"].shape[1]))
        print(f"  train batch {k}: SRU-MT {s_mt:.2f}s, SRU-ST {s_st:.2f}s, token-classification {s_tc:.2f}s",
              flush=True)

    # 4. peak memory, one subprocess per workload
    memory = {}
    if not args.no_memory:
        with tempfile.TemporaryDirectory() as tmp:
            sru.save_pretrained(tmp)
            for kind in ("sru-infer", "tc-infer", "sru-train", "sru-train-ckpt", "tc-train"):
                proc = subprocess.run(
                    [sys.executable, "-m", "benchmarks.sru_speed", "--memory-probe", kind, "--ckpt", tmp,
                     "--batch-size", str(args.batch_size), "--train-batch-size", str(args.train_batch_size)],
                    capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
                lines = [x for x in proc.stdout.splitlines() if x.startswith("PROBE")]
                memory[kind] = json.loads(lines[-1][5:]) if lines else {"error": proc.stderr[-2000:]}
                print(f"  memory {kind}: {memory[kind]}", flush=True)

    sru_best, tc_best = min(sru_times), min(tc_times)
    sru_sps, tc_sps = len(sentences) / sru_best, len(sentences) / tc_best
    med = {k: statistics.median(v) for k, v in timing.items() if v}
    result = {
        "benchmark": "sru_speed",
        "command": "python -m benchmarks.sru_speed " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": dict(info, load_average_end=[round(x, 2) for x in os.getloadavg()],
                        note="shared machine: other engineers' processes were running during the measurement"),
        "encoder": "embedded MiniLM (sentence-transformers/all-MiniLM-L6-v2: BERT uncased, 6 layers, 384 hidden)",
        "data": {"corpus": "NCBI-disease test", "sentences": len(sentences),
                 "words": sum(len(s) for s in sentences)},
        "sru_label_space": {"types": sum(len(v) for v in CORPUS_TYPES.values()), "corpora": list(CORPUS_TYPES),
                            "actions": sru.config.num_actions, "latents": sru.config.num_latents},
        "warmup": {"steps": args.warmup_steps, "batch_size": args.train_batch_size, "seconds": round(warmup_s, 1),
                   "lr_scale": args.warmup_lr_scale, "losses_every_20": warm_losses,
                   "test_f1_ncbi_disease_after_warmup": round(f1, 4)},
        "inference": {
            "batch_size": args.batch_size, "repeats": args.repeats,
            "sru_seconds": [round(x, 3) for x in sru_times], "tc_seconds": [round(x, 3) for x in tc_times],
            "sru_sentences_per_s": round(sru_sps, 1), "tc_sentences_per_s": round(tc_sps, 1),
            "ratio_sru_over_tc": round(sru_sps / tc_sps, 3), "target_ratio_at_least": 0.5,
            "sru_phase_seconds": phases, "tc_phase_seconds": tc_phases,
            "sru_lock_steps_total": steps_run, "sru_sentence_steps_total": sentence_steps,
            "words_total": sum(len(s) for s in sentences),
        },
        "training": {
            "batch_size": args.train_batch_size, "timed_batches": args.train_batches,
            "median_step_seconds": {k: round(v, 3) for k, v in med.items() if k != "sru_mt_steps"},
            "median_gold_rows_per_batch": med.get("sru_mt_steps"),
            "ratio_sru_mt_over_tc": round(med["sru_mt"] / med["tc"], 3),
            "ratio_sru_st_over_tc": round(med["sru_st"] / med["tc"], 3),
            "ratio_sru_mt_checkpointing_over_tc": round(med["sru_mt_ckpt"] / med["tc"], 3),
            "target_ratio_at_most": 2.5,
            "all_seconds": {k: [round(x, 3) for x in v] for k, v in timing.items()},
        },
        "memory": memory,
        "total_seconds": round(time.perf_counter() - t_start, 1),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    md = markdown(result)
    out.with_suffix(".md").write_text(md)
    print(md)
    return 0


def markdown(r: dict) -> str:
    inf, tr, mem, m = r["inference"], r["training"], r["memory"], r["machine"]
    lines = [
        "### SRU-NER speed vs token classification (embedded MiniLM, NCBI-disease test)",
        "",
        f"Command: `{r['command'].strip()}`. Machine: {m['cpu']}, {m['cpu_count']} cores, torch {m['torch']}, "
        f"{m['torch_threads']} torch threads, CPU; **shared with other busy processes** (load average "
        f"{m['load_average_start'][0]} at start, {m['load_average_end'][0]} at end), so absolute times are noisy; "
        "the passes of both models are interleaved and the ratios are the meaningful numbers.",
        f"SRU-NER label space: {r['sru_label_space']['types']} types of {len(r['sru_label_space']['corpora'])} corpora "
        f"({r['sru_label_space']['actions']} actions); warmed up for {r['warmup']['steps']} training batches "
        f"(test F1 afterwards {r['warmup']['test_f1_ncbi_disease_after_warmup']:.3f}, information only).",
        "",
        "| measure | SRU-NER | token classification | ratio | target |",
        "|---|---|---|---|---|",
        f"| inference, sentences/s (batch {inf['batch_size']}, {r['data']['sentences']} sentences) | "
        f"{inf['sru_sentences_per_s']} | {inf['tc_sentences_per_s']} | {inf['ratio_sru_over_tc']} | >= 0.5 |",
        f"| training step, s (batch {tr['batch_size']}, multi-task targets) | {tr['median_step_seconds']['sru_mt']} | "
        f"{tr['median_step_seconds']['tc']} | {tr['ratio_sru_mt_over_tc']} | <= 2.5 |",
        f"| training step, s (batch {tr['batch_size']}, single corpus) | {tr['median_step_seconds']['sru_st']} | "
        f"{tr['median_step_seconds']['tc']} | {tr['ratio_sru_st_over_tc']} | <= 2.5 |",
        f"| training step, s (multi-task, `sru_checkpointing=True`) | {tr['median_step_seconds']['sru_mt_ckpt']} | "
        f"{tr['median_step_seconds']['tc']} | {tr['ratio_sru_mt_checkpointing_over_tc']} | |",
    ]
    for kind, label in (("infer", "inference"), ("train", "training"),
                        ("train-ckpt", "training, SRU with `sru_checkpointing`")):
        s, t = mem.get(f"sru-{kind}", {}), mem.get(f"tc-{kind.split('-')[0]}", {})
        if "peak_rss_mib" in s and "peak_rss_mib" in t:
            lines.append(f"| peak RSS, MiB, {label} (increase over loaded model) | {s['peak_rss_mib']} "
                         f"(+{s['peak_increase_mib']}) | {t['peak_rss_mib']} (+{t['peak_increase_mib']}) | | |")
    ph = inf["sru_phase_seconds"]
    lines += [
        "",
        f"SRU-NER inference time split (one instrumented pass): tokenization {ph['tokenize']} s, encoder + word "
        f"pooling {ph['encoder_and_pooling']} s, lock-step action loop {ph['step_loop']} s "
        f"({inf['sru_lock_steps_total']} batched steps for {inf['words_total']} words), decoding {ph['decode']} s; "
        f"token classification: tokenization {inf['tc_phase_seconds']['tokenize']} s, forward "
        f"{inf['tc_phase_seconds']['forward']} s.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
