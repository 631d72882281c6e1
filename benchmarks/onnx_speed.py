"""Benchmark: ONNX Runtime (fp32 and dynamic int8) against eager PyTorch, every family side by side.

    python -m benchmarks.onnx_speed --model sru=RUN/best --model lscrf=RUN/best [--model mrc=RUN/best]
    python -m benchmarks.onnx_speed --model tc=RUN/best
    python -m benchmarks.onnx_speed --model sru=RUN/best --max-sentences 20 --repeats 1 --tag smoke

For each trained checkpoint (`NAME=FOLDER`, any family: sru_ner, mrc_multitask, layer_sliced_crf,
token_classification; folders already written by `biomtl export-onnx --quantize` are used as they
are, others are exported into `--work-dir` first) on the NCBI-disease test set (`$BIOMTL_CORPORA`
or ../shared/corpora, `NCBI-disease-IOB/test.tsv`, read with `data_scripts.readers.read_iob`):

* quality: strict span F1 (merged mode, `biomtl evaluate`'s scoring) of eager PyTorch, ONNX fp32 and
  ONNX int8, and the predicted spans of each ONNX variant that differ from eager: every span in
  one output and not the other (same sentence, start, end and label) is counted, as a percentage
  of the eager spans; the first differing sentences are kept in the JSON;
* speed, end to end (tokenization, length sorting, batches of `--batch-size`, forward, decoding):
  sentences/s of the family's `predict_spans` on eager PyTorch, ONNX fp32 and ONNX int8, against
  an eager token-classification forward on the same encoder (the checkpoint's encoder weights with
  a linear layer over the 11 BIO labels of `benchmarks.sru_speed`: `family_speed.tc_predict_spans`,
  length-sorted batches of the same size) and HF's `pipeline("token-classification",
  aggregation_strategy="simple")` on the same model and batch size. Every runner uses `--threads`
  threads (torch intra-op and ONNX Runtime intra-op alike). `--repeats` passes, round-robin over
  the runners (the first runner rotates each pass); the best pass per runner is kept.

Results: benchmarks/results/onnx_speed.json (onnx_speed.<tag>.json with `--tag`), and a table on stdout.
On a shared machine the absolute numbers are noisy; the interleaved ratios are the meaningful ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import RESULTS, corpora_dir, quiet_env
from benchmarks.family_speed import tc_predict_spans
from benchmarks.sru_speed import BIO_LABELS, machine

CORPUS = "NCBI-disease"
TYPES = ["Disease"]
FIRST_DIFFS_KEPT = 20


def _span_keys(spans: list[dict]) -> set[tuple[int, int, str]]:
    return {(int(s["start"]), int(s["end"]), str(s["label"])) for s in spans}


def span_differences(reference: list[list[dict]], other: list[list[dict]]) -> dict[str, Any]:
    """Every span in one output and not in the other, per sentence (symmetric difference)."""
    if len(reference) != len(other):
        raise ValueError(f"{len(other)} predictions for {len(reference)} sentences")
    missing = added = sentences = 0
    first: list[dict] = []
    for i, (a, b) in enumerate(zip(reference, other)):
        ka, kb = _span_keys(a), _span_keys(b)
        lost, new = ka - kb, kb - ka
        if lost or new:
            sentences += 1
            missing += len(lost)
            added += len(new)
            if len(first) < FIRST_DIFFS_KEPT:
                first.append({"sentence": i, "only_eager": sorted(lost), "only_onnx": sorted(new)})
    total = sum(len(_span_keys(a)) for a in reference)
    return {"eager_spans": total, "only_eager": missing, "only_onnx": added, "differing": missing + added,
            "differing_pct": 100.0 * (missing + added) / total if total else 0.0,
            "sentences_differing": sentences, "first_differences": first}


def strict_f1(examples: list[dict], preds: list[list[dict]], model_types: dict[str, list[str]]) -> float:
    """Strict span F1 (%) on the corpus, merged mode (corpus prefixes stripped), conflicts resolved."""
    from biomtl.trainer.train_cli import score_predictions

    report = score_predictions(examples, preds, CORPUS, TYPES, model_types, mode="merged")
    return float(report.strict.per_corpus[CORPUS].f1)


def token_classification_model(model):
    """`AutoModelForTokenClassification` over the checkpoint's encoder weights (11 BIO labels)."""
    from transformers import AutoModelForTokenClassification

    enc_cfg = model.config.encoder_config.__class__.from_dict(model.config.encoder_config.to_dict())
    enc_cfg.num_labels = len(BIO_LABELS)
    enc_cfg.id2label = dict(enumerate(BIO_LABELS))
    enc_cfg.label2id = {lab: i for i, lab in enumerate(BIO_LABELS)}
    torch.manual_seed(0)
    tc = AutoModelForTokenClassification.from_config(enc_cfg)
    if hasattr(model, "encoder_state_for_task"):  # layer-sliced CRF: the first task's full encoder
        state = model.encoder_state_for_task(model.config.tasks[0])
    else:
        state = model.encoder.state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    missing, unexpected = tc.base_model.load_state_dict(state, strict=False)
    if unexpected or [k for k in missing if not k.startswith("pooler.")]:
        raise ValueError(f"encoder weights do not fit the token-classification model: missing {missing}, "
                         f"unexpected {unexpected}")
    return tc.eval()


def ensure_export(name: str, folder: str, work_dir: Path) -> Path:
    """`folder` when it holds fp32 and int8 graphs, else its export under `work_dir/name`."""
    from biomtl.trainer.onnx_export import export_onnx
    from biomtl.trainer.onnx_format import is_onnx_folder
    from biomtl.trainer.onnx_runtime import read_manifest

    if is_onnx_folder(folder) and "int8" in read_manifest(folder)["precisions"]:
        return Path(folder)
    out = work_dir / name
    if is_onnx_folder(out) and "int8" in read_manifest(out)["precisions"] and \
            read_manifest(out)["source"] == str(folder):
        return out
    print(f"exporting {name}: {folder} -> {out}", file=sys.stderr)
    export_onnx(folder, out, quantize=True, log=lambda m: print(f"  {m}", file=sys.stderr))
    return out


def build_runners(name: str, folder: str, work_dir: Path, threads: int, with_hf_pipeline: bool):
    """(family, [(runner label, predict(sentences, batch_size) -> spans | None)]) for one checkpoint."""
    from transformers import AutoModel, AutoTokenizer, pipeline

    from biomtl import modeling  # noqa: F401  (the installed family classes)
    from biomtl.trainer.onnx_runtime import load_onnx_model

    exported = ensure_export(name, folder, work_dir)
    eager = AutoModel.from_pretrained(str(exported), trust_remote_code=True).eval()
    tok = AutoTokenizer.from_pretrained(str(exported), trust_remote_code=True)
    fp32, _ = load_onnx_model(exported, "fp32", threads=threads)
    int8, _ = load_onnx_model(exported, "int8", threads=threads)
    tc = token_classification_model(eager)
    runners = [
        ("eager", lambda s, bs: eager.predict_spans(s, tok, batch_size=bs)),
        ("onnx fp32", lambda s, bs: fp32.predict_spans(s, tok, batch_size=bs)),
        ("onnx int8", lambda s, bs: int8.predict_spans(s, tok, batch_size=bs)),
        ("token classification (eager)", lambda s, bs: tc_predict_spans(tc, tok, s, bs)),
    ]
    if with_hf_pipeline:
        hf = pipeline("token-classification", model=tc, tokenizer=tok, aggregation_strategy="simple", device="cpu")
        runners.append(("HF pipeline (simple)", lambda s, bs: hf([" ".join(w) for w in s], batch_size=bs)))
    return eager.config.model_type, dict(eager.config.corpus_types), runners


def timed(fn, sentences, batch_size) -> tuple[float, Any]:
    start = time.perf_counter()
    with torch.inference_mode():
        out = fn(sentences, batch_size)
    return time.perf_counter() - start, out


def markdown(report: dict) -> str:
    lines = [f"ONNX Runtime vs eager on {report['data']['sentences']} {CORPUS} test sentences, batch "
             f"{report['settings']['batch_size']}, {report['settings']['threads']} thread(s), best of "
             f"{report['settings']['repeats']} ({report['machine']['cpu']})", "",
             "| model | family | runner | sentences/s | x token cls. | x HF pipeline | strict F1 | spans differing from eager |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for m in report["models"]:
        for r in m["runners"]:
            diff = r.get("vs_eager")
            diff_s = f"{diff['differing']} / {diff['eager_spans']} ({diff['differing_pct']:.2f} %)" if diff else ""
            f1 = f"{r['strict_f1']:.2f}" if r.get("strict_f1") is not None else ""
            hf = f"{r['x_hf_pipeline']:.2f}" if r.get("x_hf_pipeline") is not None else ""
            lines.append(f"| {m['name']} | {m['family']} | {r['runner']} | {r['sentences_per_s']:.1f} | "
                         f"{r['x_token_classification']:.2f} | {hf} | {f1} | {diff_s} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", required=True, metavar="NAME=FOLDER",
                   help="a trained checkpoint (or a biomtl export-onnx --quantize folder); repeat per family")
    p.add_argument("--corpora", default=None, help="folder with NCBI-disease-IOB/ (default: $BIOMTL_CORPORA "
                                                   "or ../shared/corpora)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="intra-op threads of every runner (2)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-sentences", type=int, default=None, help="first N test sentences only (checks)")
    p.add_argument("--no-hf-pipeline", action="store_true", help="leave out HF's token-classification pipeline")
    p.add_argument("--work-dir", default=None, help="where exports go (default: benchmarks/results/onnx_models)")
    p.add_argument("--tag", default=None, help="results file onnx_speed.<tag>.json instead of onnx_speed.json")
    args = p.parse_args(argv)
    quiet_env()
    warnings.filterwarnings("ignore", message=".*step cap")
    from biomtl.data_scripts.readers import read_iob

    torch.set_num_threads(args.threads)
    test_file = Path(args.corpora or corpora_dir()) / "NCBI-disease-IOB" / "test.tsv"
    if not test_file.is_file():
        raise SystemExit(f"{test_file} not found (set --corpora or BIOMTL_CORPORA)")
    examples = read_iob(test_file, CORPUS)
    if args.max_sentences:
        examples = examples[: args.max_sentences]
    sentences = [ex["tokens"] for ex in examples]
    work_dir = Path(args.work_dir) if args.work_dir else RESULTS / "onnx_models"
    started = time.time()
    models = []
    for item in args.model:
        if "=" not in item:
            raise SystemExit(f"--model {item!r} is not NAME=FOLDER")
        name, folder = item.split("=", 1)
        family, model_types, runners = build_runners(name, folder, work_dir, args.threads, not args.no_hf_pipeline)
        models.append({"name": name, "folder": folder, "family": family, "model_types": model_types,
                       "runners": runners, "best": {}, "preds": {}})
    all_runs = [(m, label, fn) for m in models for label, fn in m["runners"]]
    for _, _, fn in all_runs:  # warm-up (first-run allocations, lazy initialisation): not timed
        timed(fn, sentences[: args.batch_size], args.batch_size)
    for rep in range(args.repeats):
        shift = rep % len(all_runs)
        for m, label, fn in all_runs[shift:] + all_runs[:shift]:
            seconds, out = timed(fn, sentences, args.batch_size)
            m["best"][label] = min(seconds, m["best"].get(label, float("inf")))
            m["preds"].setdefault(label, out)
            print(f"pass {rep + 1}: {m['name']} {label}: {len(sentences) / seconds:.1f} sentences/s", file=sys.stderr)
    report_models = []
    for m in models:
        tc_speed = len(sentences) / m["best"]["token classification (eager)"]
        hf_speed = len(sentences) / m["best"]["HF pipeline (simple)"] if "HF pipeline (simple)" in m["best"] else None
        rows = []
        for label, _ in m["runners"]:
            speed = len(sentences) / m["best"][label]
            row: dict[str, Any] = {"runner": label, "seconds": m["best"][label], "sentences_per_s": speed,
                                   "x_token_classification": speed / tc_speed,
                                   "x_hf_pipeline": speed / hf_speed if hf_speed else None}
            if label in ("eager", "onnx fp32", "onnx int8"):
                row["strict_f1"] = strict_f1(examples, m["preds"][label], m["model_types"])
            if label.startswith("onnx"):
                row["vs_eager"] = span_differences(m["preds"]["eager"], m["preds"][label])
                row["f1_cost_vs_eager"] = rows[0]["strict_f1"] - row["strict_f1"]
            rows.append(row)
        report_models.append({"name": m["name"], "folder": m["folder"], "family": m["family"], "runners": rows})
    import onnxruntime
    import transformers

    report = {
        "benchmark": "onnx_speed", "command": " ".join(["python -m benchmarks.onnx_speed", *(argv or sys.argv[1:])]),
        "data": {"file": str(test_file), "sentences": len(sentences), "corpus": CORPUS},
        "settings": {"batch_size": args.batch_size, "threads": args.threads, "repeats": args.repeats},
        "machine": {**machine(), "onnxruntime": onnxruntime.__version__, "transformers": transformers.__version__},
        "seconds": round(time.time() - started, 1), "models": report_models,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"onnx_speed.{args.tag}" if args.tag else "onnx_speed"
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (RESULTS / f"{stem}.md").write_text(markdown(report))
    print(markdown(report))
    print(f"results: {RESULTS / stem}.json / .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
