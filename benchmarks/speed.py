"""Benchmark: inference speed, training step time and memory of trained checkpoints, side by side.

    python -m benchmarks.speed --model sru=RUN/best --model tc=RUN/best [--backend eager,onnx-fp32,onnx-int8]

`--model NAME=FOLDER`: a trained checkpoint (`biomtl train`'s `best/`, or a `biomtl export-onnx --quantize`
folder) of any family. One process, `--threads` intra-op threads for torch and ONNX Runtime alike.

1. Inference on the NCBI-disease test split ($BIOMTL_CORPORA or ../shared/corpora; `--max-sentences`), end
   to end (tokenization, length sorting, batches of `--batch-size`, forward, decoding) through the family's
   `predict_spans`, as the pipeline and `biomtl predict` call it, per `--backend` (eager, and ONNX Runtime
   fp32 / int8 of `biomtl export-onnx --quantize` into `--work-dir`): strict span F1 (`biomtl evaluate`'s
   merged scoring), spans differing from eager. One untimed batch per runner, then `--repeats` passes
   round-robin over all runners, the first one rotating each pass; the best pass is kept.
2. Pinned references: `tc-forward` (per model: its encoder + a linear layer, see `tc_forward_model`) and
   `hf-pipeline` (transformers' own pipeline on the first token_classification checkpoint given).
3. Training, one subprocess per model: `biomtl.trainer.loop.train` on NCBI-disease train, the recipe and
   `model.overrides` in the checkpoint's `all_results.json` (else `default`) at the recipe's batch size,
   `--warmup-steps` + `--train-steps` steps in one epoch (a multi-phase recipe as one phase), no test. The
   trainer cannot load a whole checkpoint: it starts from the checkpoint's encoder weights (a plain encoder
   folder as `model.encoder`) and the family's fresh head over NCBI-disease's types. Step time: the mean
   interval between optimizer steps after the warm-up steps; memory: the process's VmHWM at its last step.
Results: `--out` (benchmarks/results/standard/speed/speed.json) and `markdown(report)` on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import transformers
from torch.optim.optimizer import register_optimizer_step_post_hook
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer, pipeline

from benchmarks.common import RESULTS, corpora_dir, machine, quiet_env
from biomtl import modeling  # noqa: F401  (the installed family classes)
from biomtl.data_scripts.readers import read_iob
from biomtl.modeling.subwords import encode_words, subword_counts
from biomtl.modeling.tag_schemes import bio_labels, tags_to_spans
from biomtl.trainer.config import config_from_dict
from biomtl.trainer.loop import train
from biomtl.trainer.onnx_export import export_onnx
from biomtl.trainer.onnx_format import is_onnx_folder
from biomtl.trainer.onnx_runtime import load_onnx_model, read_manifest
from biomtl.trainer.train_cli import score_predictions

CORPUS, TYPES = "NCBI-disease", ["Disease"]
BACKENDS = ("eager", "onnx-fp32", "onnx-int8")
DEFAULT_OUT = RESULTS / "standard" / "speed" / "speed.json"
Runner = Callable[[list[list[str]], int], Any]  # predict(sentences, batch_size)

# --- pure helpers ---------------------------------------------------------------------------------
def span_differences(reference: list[list[dict]], other: list[list[dict]]) -> dict[str, Any]:
    """Every span (start, end, label) in one output and not in the other, per sentence (symmetric difference)."""
    if len(reference) != len(other):
        raise ValueError(f"{len(other)} predictions for {len(reference)} sentences")
    missing = added = sentences = total = 0
    first: list[dict] = []
    for i, pair in enumerate(zip(reference, other)):
        a, b = ({(int(s["start"]), int(s["end"]), str(s["label"])) for s in spans} for spans in pair)
        lost, new, total = a - b, b - a, total + len(a)
        if lost or new:
            sentences, missing, added = sentences + 1, missing + len(lost), added + len(new)
            if len(first) < 20:
                first.append({"sentence": i, "only_eager": sorted(lost), "only_onnx": sorted(new)})
    return {"eager_spans": total, "only_eager": missing, "only_onnx": added, "differing": missing + added,
            "differing_pct": 100.0 * (missing + added) / total if total else 0.0,
            "sentences_differing": sentences, "first_differences": first}

def length_sorted_batches(sizes: list[int], batch_size: int) -> list[list[int]]:
    """Sentence indices sorted by size (sub-words; stable), cut into batches of `batch_size`."""
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

def pass_order(runners: int, rep: int) -> list[int]:
    """Runner indices of pass `rep`: round-robin, the first runner rotating each pass."""
    return list(range(rep % runners, runners)) + list(range(rep % runners))

def ratio(speed: float, reference: float | None) -> float | None:
    """speed / reference (None without a reference)."""
    return speed / reference if reference else None

def peak_rss_mib() -> float:
    """VmHWM (peak resident set) of this process, Linux, MiB."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024

# --- models and runners ---------------------------------------------------------------------------
def tc_forward_model(model, labels: list[str]) -> torch.nn.Module:
    """`AutoModelForTokenClassification` over the checkpoint's encoder weights (layer-sliced CRF: its first
    task's) with a seeded random linear layer over `labels`; its `base_model` is the bare encoder."""
    cfg = model.config.encoder_config.__class__.from_dict(model.config.encoder_config.to_dict())
    cfg.id2label, cfg.label2id = dict(enumerate(labels)), {lab: i for i, lab in enumerate(labels)}
    torch.manual_seed(0)
    tc = AutoModelForTokenClassification.from_config(cfg)
    sliced = hasattr(model, "encoder_state_for_task")
    state = model.encoder_state_for_task(model.config.tasks[0]) if sliced else model.encoder.state_dict()
    missing, unexpected = tc.base_model.load_state_dict(
        {k: v for k, v in state.items() if not k.startswith("pooler.")}, strict=False)
    if missing or unexpected:
        raise ValueError(f"encoder weights do not fit: missing {missing}, unexpected {unexpected}")
    return tc.eval()

def tc_forward_spans(tc, labels: list[str], tok, sentences: list[list[str]], batch_size: int) -> list[list[dict]]:
    """The tc-forward reference end to end: length-sorted batches, forward, argmax at first sub-words, spans."""
    out: list[list[dict]] = [[] for _ in sentences]
    for idx in length_sorted_batches([sum(subword_counts(tok, s)) for s in sentences], batch_size):
        enc = encode_words(tok, [sentences[i] for i in idx])
        tags = tc(**enc.inputs).logits.argmax(-1).gather(1, enc.first_subword).tolist()
        for b, i in enumerate(idx):
            words = [labels[t] for t in tags[b][: enc.num_words[b]]]
            out[i] = [{"start": s, "end": e, "label": t} for s, e, t in tags_to_spans(words, "BIO")]
    return out

def ensure_export(name: str, folder: str, work_dir: Path) -> Path:
    """`folder` when it holds fp32 and int8 graphs, else its `biomtl export-onnx --quantize` in `work_dir/name`."""
    for path, source in ((Path(folder), None), (work_dir / name, str(folder))):  # the folder, an earlier export
        manifest = read_manifest(path) if is_onnx_folder(path) else {"precisions": []}
        if "int8" in manifest["precisions"] and source in (None, manifest["source"]):
            return path
    print(f"exporting {name}: {folder} -> {work_dir / name}", file=sys.stderr)
    export_onnx(folder, work_dir / name, quantize=True, log=lambda m: print(f"  {m}", file=sys.stderr))
    return work_dir / name

def load_model(name: str, folder: str, args: argparse.Namespace) -> dict[str, Any]:
    """A checkpoint and its runners: one per backend, then its tc-forward reference."""
    eager = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    runners: dict[str, Runner] = {"eager": lambda s, bs: eager.predict_spans(s, tok, batch_size=bs)}
    if len(args.backends) > 1:
        exported = ensure_export(name, folder, Path(args.work_dir))
        for backend in args.backends[1:]:
            onnx, otok = load_onnx_model(exported, backend.split("-")[1], threads=args.threads)
            runners[backend] = lambda s, bs, m=onnx, t=otok: m.predict_spans(s, t, batch_size=bs)
    types = dict(eager.config.corpus_types)
    labels = bio_labels([t for ts in types.values() for t in ts])
    tc = tc_forward_model(eager, labels)
    runners["tc-forward"] = lambda s, bs: tc_forward_spans(tc, labels, tok, s, bs)
    return {"name": name, "folder": folder, "family": eager.config.model_type, "model_types": types,
            "tok": tok, "encoder": tc.base_model, "runners": runners}

def hf_pipeline_runner(folder: str) -> Runner:
    """transformers' built-in token-classification pipeline ("simple" aggregation) on a checkpoint."""
    model = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    hf = pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy="simple")
    return lambda s, bs: hf([" ".join(w) for w in s], batch_size=bs)

def strict_f1(examples: list[dict], preds: list[list[dict]], model_types: dict[str, list[str]]) -> float:
    """Strict span F1 (%) on the corpus, merged mode (corpus prefixes stripped), conflicts resolved."""
    report = score_predictions(examples, preds, CORPUS, TYPES, model_types, mode="merged")
    return float(report.strict.per_corpus[CORPUS].f1)

def timed(fn: Runner, sentences: list[list[str]], batch_size: int) -> tuple[float, Any]:
    start = time.perf_counter()
    with torch.inference_mode():
        out = fn(sentences, batch_size)
    return time.perf_counter() - start, out

# --- training: one subprocess per model -----------------------------------------------------------
def train_config(model: dict, encoder_dir: Path, corpora: Path, steps: int, out: Path) -> dict[str, Any]:
    """The `biomtl train` config of a model's training workload (module docstring, 3)."""
    results = Path(model["folder"]) / "all_results.json"
    ran = json.loads(results.read_text()).get("config", {}) if results.is_file() else {}
    overrides = (ran.get("model") or {}).get("overrides", {})
    cfg = {"corpora": [{"name": "ncbi_disease", "max_eval_sentences": 8}], "source_dir": str(corpora),
           "model": {"family": model["family"], "encoder": str(encoder_dir), "overrides": overrides},
           "recipe": ran.get("recipe", "default"), "phases": [], "epochs": 1, "max_steps": steps,
           "early_stopping_patience": None, "evaluate_test": False, "output_dir": str(out), "log_with": None,
           "progress": False, "keep_checkpoints": 1}
    return {**cfg, "samples_per_epoch": steps * config_from_dict(cfg).batch_size}  # one epoch: no evaluation

def train_probe(config_file: str, warmup: int) -> dict[str, Any]:
    """In the subprocess: the trainer on `config_file`, with a clock read after every optimizer step."""
    stamps: list[tuple[float, float]] = []  # (time, peak RSS) after each optimizer step
    handle = register_optimizer_step_post_hook(lambda *_: stamps.append((time.perf_counter(), peak_rss_mib())))
    cfg = config_from_dict(json.loads(Path(config_file).read_text()))
    results = train(cfg)
    handle.remove()
    steps = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])][warmup - 1:]  # step 1 has no interval
    return {"step_s": statistics.mean(steps), "steps_timed": len(steps), "warmup_steps": warmup,
            "batch_size": cfg.batch_size, "recipe": cfg.recipe, "peak_rss_mib": round(stamps[-1][1], 1),
            "train_runtime_s": results["train_runtime_s"]}

def measure_training(model: dict, corpora: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Save the model's encoder as a plain folder, run `train_probe` on its config in a fresh process."""
    for part in ("encoder", "tok"):
        model[part].save_pretrained(work / "encoder")
    cfg = train_config(model, work / "encoder", corpora, args.warmup_steps + args.train_steps, work / "run")
    (work / "config.json").write_text(json.dumps(cfg, indent=1))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--train-probe", str(work / "config.json"),
                           "--threads", str(args.threads), "--warmup-steps", str(args.warmup_steps)],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    probe = [line for line in proc.stdout.splitlines() if line.startswith("PROBE")]
    return json.loads(probe[-1][5:]) if probe else {"error": proc.stderr[-2000:]}

# --- report ---------------------------------------------------------------------------------------
def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"

def markdown(report: dict) -> list[str]:
    """The section's lines: what was measured, one table row per (model, backend) and per reference."""
    s, hf = report["settings"], report["references"]["hf-pipeline"]
    lines = [f"{report['data']['sentences']} {CORPUS} test sentences, batch {s['batch_size']}, {s['threads']} thread(s), "
             f"best of {s['repeats']} interleaved passes; {report['machine']}. `x tc-forward`: vs an eager token "
             f"classification forward on the model's encoder; `x hf-pipeline`: vs transformers' pipeline on "
             f"{hf['model'] if hf else '-'}. Train step: mean s per step of `biomtl train`; peak train MiB: VmHWM.", "",
             "| model | family | backend | sentences/s | x tc-forward | x hf-pipeline | train step s | "
             "peak train MiB | strict F1 | spans differing from eager |", "|---|---|---|" + "---:|" * 7]
    for m in report["models"]:
        train = m["train"] or {}
        for r in m["rows"]:
            own = train if r["backend"] == "eager" else {}
            d = r.get("vs_eager")
            diff = f"{d['differing']} / {d['eager_spans']} ({d['differing_pct']:.2f} %)" if d else ""
            lines.append(f"| {m['name']} | {m['family']} | {r['backend']} | {r['sentences_per_s']:.1f} | "
                         f"{_num(r['x_tc_forward'], 2)} | {_num(r['x_hf_pipeline'], 2)} | "
                         f"{_num(own.get('step_s'), 3)} | {_num(own.get('peak_rss_mib'), 0)} | "
                         f"{_num(r['strict_f1'], 2)} | {diff} |")
        tc = m["tc_forward"]["sentences_per_s"]
        lines.append(f"| {m['name']} | reference | tc-forward | {tc:.1f} | 1.00 | "
                     f"{_num(ratio(tc, hf and hf['sentences_per_s']), 2)} | | | | |")
    if hf:
        lines.append(f"| {hf['model']} | reference | hf-pipeline | {hf['sentences_per_s']:.1f} | | 1.00 | | | | |")
    return lines + ["", f"Command: `{report['command']}`"]

# --- main -----------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=[], metavar="NAME=FOLDER", help="a trained checkpoint")
    p.add_argument("--backend", default="eager", help=f"comma-separated, of {','.join(BACKENDS)} (eager always runs)")
    p.add_argument("--corpora", help="folder with NCBI-disease-IOB/ (default: $BIOMTL_CORPORA or ../shared/corpora)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads of torch and ONNX Runtime (1)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-sentences", type=int, help="the first N test sentences only (checks)")
    p.add_argument("--train-steps", type=int, default=20, help="timed optimizer steps per model (0: no training)")
    p.add_argument("--warmup-steps", type=int, default=3, help="first optimizer steps, not timed (>= 1)")
    p.add_argument("--work-dir", default="runs/benchmarks/speed", help="where ONNX exports go")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="results JSON")
    p.add_argument("--train-probe", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    asked = args.backend.split(",")
    args.backends = ["eager"] + [b for b in BACKENDS[1:] if b in asked]
    names = [m.split("=", 1)[0] for m in args.model if "=" in m]
    if set(asked) - set(BACKENDS) or args.warmup_steps < 1 or not (args.train_probe or args.model) or \
            len(set(names)) < len(args.model):
        p.error(f"--backend: of {','.join(BACKENDS)}; --warmup-steps: >= 1; models: --model NAME=FOLDER, "
                "distinct names")
    return args

def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_env()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*step cap")
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if args.train_probe:
        print("PROBE" + json.dumps(train_probe(args.train_probe, args.warmup_steps)), flush=True)
        return 0
    corpora = Path(args.corpora or corpora_dir())
    test_file = corpora / "NCBI-disease-IOB" / "test.tsv"
    if not test_file.is_file():
        raise SystemExit(f"{test_file} not found (set --corpora or BIOMTL_CORPORA)")
    examples = read_iob(test_file, CORPUS)[: args.max_sentences]
    sentences, started = [ex["tokens"] for ex in examples], time.time()
    models = [load_model(*item.split("=", 1), args) for item in args.model]
    runners = [(m["name"], backend, fn) for m in models for backend, fn in m["runners"].items()]
    hf_model = next((m for m in models if m["family"] == "token_classification"), None)
    if hf_model:
        runners.append((hf_model["name"], "hf-pipeline", hf_pipeline_runner(hf_model["folder"])))
    for _, _, fn in runners:  # first-call allocations and lazy initialisation: not timed
        timed(fn, sentences[: args.batch_size], args.batch_size)
    best, preds = {}, {}  # (model, backend) -> best seconds, predictions
    for rep in range(args.repeats):
        for i in pass_order(len(runners), rep):
            name, backend, fn = runners[i]
            seconds, preds[name, backend] = timed(fn, sentences, args.batch_size)
            best[name, backend] = min(seconds, best.get((name, backend), float("inf")))
            print(f"pass {rep + 1}: {name} {backend}: {len(sentences) / seconds:.1f} sentences/s", file=sys.stderr)

    def speed(key: tuple[str, str]) -> dict[str, float]:
        return {"seconds": best[key], "sentences_per_s": len(sentences) / best[key]}

    hf = {"model": hf_model["name"], **speed((hf_model["name"], "hf-pipeline"))} if hf_model else None
    rows_of = []
    for m in models:
        tc, rows = speed((m["name"], "tc-forward")), []
        for backend in args.backends:
            row: dict[str, Any] = {"backend": backend, **speed((m["name"], backend))}
            row.update(x_tc_forward=ratio(row["sentences_per_s"], tc["sentences_per_s"]),
                       x_hf_pipeline=ratio(row["sentences_per_s"], hf and hf["sentences_per_s"]),
                       strict_f1=strict_f1(examples, preds[m["name"], backend], m["model_types"]))
            if backend != "eager":
                row["vs_eager"] = span_differences(preds[m["name"], "eager"], preds[m["name"], backend])
            rows.append(row)
        rows_of.append({"name": m["name"], "folder": m["folder"], "family": m["family"], "tc_forward": tc,
                        "rows": rows, "train": None})
    if args.train_steps > 0:
        with tempfile.TemporaryDirectory() as tmp:
            for m, row in zip(models, rows_of):
                print(f"training {m['name']}: {args.warmup_steps} + {args.train_steps} steps", file=sys.stderr)
                row["train"] = measure_training(m, corpora, args, Path(tmp) / m["name"])
    report = {
        "benchmark": "speed", "command": " ".join(["python -m benchmarks.speed", *(argv or sys.argv[1:])]),
        "machine": machine(), "transformers": transformers.__version__,
        "settings": {"threads": args.threads, "batch_size": args.batch_size, "repeats": args.repeats,
                     "backends": args.backends, "train_steps": args.train_steps, "warmup_steps": args.warmup_steps},
        "data": {"file": str(test_file), "corpus": CORPUS, "sentences": len(sentences)},
        "references": {"tc-forward": "per model: its tc_forward", "hf-pipeline": hf}, "models": rows_of,
        "seconds": round(time.time() - started, 1),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print("\n".join(markdown(report)))
    return 0

if __name__ == "__main__":
    sys.exit(main())
