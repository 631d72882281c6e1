"""`biomtl predict MODEL --input FILE --output FILE`: tag documents with a saved model.

MODEL is a local folder or a Hub repo id (anything `AutoModel.from_pretrained(..., trust_remote_code=True)`
loads). Formats: see trainer/predict_io.py.

Backends: a folder written by `biomtl export-onnx` runs on ONNX Runtime (`--backend auto`, the
default; `--precision int8` for its quantised graphs), anything else on PyTorch. `--backend torch`
runs such a folder on PyTorch, `--backend onnx` refuses a folder without ONNX graphs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .interface import MultiCorpusNerModel
from .onnx_format import PRECISIONS
from .predict_io import (
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    OutputWriter,
    annotate,
    default_output_format,
    read_input,
)

BACKENDS = ("auto", "torch", "onnx")


def add_predict_command(subparsers) -> argparse.ArgumentParser:
    """Add `predict` to a `biomtl` sub-command parser; its handler is `args.func`."""
    p = subparsers.add_parser(
        "predict",
        help="tag documents (text, JSON-lines, PubTator, BioC) with a saved model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="model folder or Hub repo id")
    p.add_argument("--input", "-i", required=True, help="input file")
    p.add_argument("--output", "-o", required=True, help="output file (written atomically)")
    p.add_argument("--format", default="auto", choices=INPUT_FORMATS,
                   help="input format (default: from the file name and content; 'bioc' = XML or JSON)")
    p.add_argument("--output-format", default="auto", choices=OUTPUT_FORMATS,
                   help="output format (default: the input's; jsonl for plain text)")
    p.add_argument("--lines", action="store_true", help="plain text: one document per non-empty line")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="sentences per model batch (32)")
    p.add_argument("--threshold", type=float, default=None, help="drop entities scoring below this")
    p.add_argument("--label-mode", choices=("merged", "prefixed"), default="merged",
                   help="entity types without (merged, default) or with their corpus prefix")
    p.add_argument("--conflicts", choices=("resolve", "keep"), default="resolve",
                   help="same span typed differently by heads of different corpora: keep one type (resolve, "
                        "default) or every prediction (keep); recorded in jsonl/BioC outputs")
    p.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto (default): ONNX Runtime for a `biomtl export-onnx` folder, else PyTorch")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="ONNX Runtime graphs: fp32 (default) or int8 (written by export-onnx --quantize)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="CPU threads (torch and ONNX Runtime; default: torch's default)")
    p.add_argument("--revision", default=None, help="Hub revision of MODEL")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_predict)
    return p


def _positive_int(value: str) -> int:
    n = int(value)
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {n}")
    return n


def resolve_backend(model_name_or_path: str, backend: str = "auto") -> str:
    """"torch" or "onnx" for `--backend` (auto: onnx for a folder written by `biomtl export-onnx`)."""
    from .onnx_format import is_onnx_folder

    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    has_onnx = is_onnx_folder(model_name_or_path)
    if backend == "onnx" and not has_onnx:
        raise ValueError(f"{model_name_or_path} has no ONNX graphs (onnx/export.json); write them with "
                         f"biomtl export-onnx {model_name_or_path} OUT")
    return "onnx" if backend == "onnx" or (backend == "auto" and has_onnx) else "torch"


def load_ner_pipeline(model_name_or_path: str, device: str | None = None, revision: str | None = None,
                      backend: str = "auto", precision: str = "fp32", threads: int | None = None,
                      **pipeline_kwargs: Any):
    """Model + tokenizer (trust_remote_code=True) wrapped in the checkpoint family's NER pipeline
    (`BiomedicalNerPipeline`, the `token-classification` task of saved checkpoints).

    `backend`: "torch", "onnx" (ONNX Runtime graphs of a `biomtl export-onnx` folder, `precision`
    "fp32" or "int8", CPU) or "auto" (onnx exactly when the folder has them). `threads`: intra-op
    threads of torch and ONNX Runtime (default: torch's current setting)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from biomtl.modeling.pipeline_ner import BiomedicalNerPipeline

    local = Path(model_name_or_path)
    if (local.exists() or model_name_or_path.startswith((".", "/", "~"))) and not (local / "config.json").is_file():
        raise FileNotFoundError(f"model folder {model_name_or_path} has no config.json")
    if threads:
        torch.set_num_threads(threads)
    chosen = resolve_backend(model_name_or_path, backend)
    if chosen == "torch" and precision != "fp32":
        raise ValueError(f"precision {precision!r} needs the ONNX Runtime backend (a folder written by "
                         "biomtl export-onnx --quantize)")
    if chosen == "onnx":
        from .onnx_runtime import load_onnx_model

        if device not in (None, "cpu"):
            raise ValueError(f"the ONNX Runtime backend runs on the CPU (got --device {device})")
        try:
            model, tokenizer = load_onnx_model(model_name_or_path, precision=precision, threads=threads)
        except ImportError as err:
            raise ValueError(str(err)) from err
        return BiomedicalNerPipeline(model=model, tokenizer=tokenizer, device=torch.device("cpu"), **pipeline_kwargs)
    kwargs = {"trust_remote_code": True}
    if revision:
        kwargs["revision"] = revision
    try:
        model = AutoModel.from_pretrained(model_name_or_path, **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, **kwargs)
    except OSError as err:
        raise ValueError(f"cannot load model {model_name_or_path!r}: {err}") from err
    if not isinstance(model, MultiCorpusNerModel):
        raise ValueError(f"{model_name_or_path}: {type(model).__name__} is not a biomtl model family "
                         "(it does not implement the family contract)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return BiomedicalNerPipeline(model=model, tokenizer=tokenizer, device=torch.device(device), **pipeline_kwargs)


def predict_file(ner, input_path: str | Path, output_path: str | Path, input_format: str = "auto",
                 output_format: str = "auto", lines: bool = False, batch_size: int = 32,
                 progress: bool = True, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read `input_path`, tag every document with `ner` (a pipeline or any callable with the same
    signature), write `output_path` (recording `settings`, e.g. {"conflicts": "resolve"}, where the
    format has room: see predict_io). Returns counts: documents, entities, formats, dropped input
    annotation lines (PubTator)."""
    from tqdm.auto import tqdm

    if Path(input_path).resolve() == Path(output_path).resolve():
        raise ValueError(f"--output {output_path} is the input file; choose another path")
    data = read_input(input_path, input_format, lines=lines)
    out_fmt = default_output_format(data.format) if output_format == "auto" else output_format
    collection = data.collection if out_fmt == data.format else None
    n_entities = 0
    with tqdm(total=data.total, unit="doc", desc="predict", disable=not progress, file=sys.stderr) as bar:
        with OutputWriter(output_path, out_fmt, collection=collection, settings=settings) as writer:
            for doc in annotate(data.documents, ner, batch_size=batch_size, progress=bar):
                writer.write(doc)
                n_entities += sum(len(s.entities) for s in doc.segments)
    return {"documents": writer.count, "entities": n_entities, "input_format": data.format,
            "output_format": out_fmt, "dropped_input_annotations": data.dropped_annotations[0]}


def run_predict(args: argparse.Namespace) -> int:
    if not Path(args.input).is_file():
        raise FileNotFoundError(f"input file not found: {args.input}")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold must be in [0, 1], got {args.threshold}")
    kwargs: dict[str, Any] = {"label_mode": args.label_mode, "conflicts": args.conflicts}
    if args.threshold is not None:
        kwargs["threshold"] = args.threshold
    ner = load_ner_pipeline(args.model, device=args.device, revision=args.revision, backend=args.backend,
                            precision=args.precision, threads=args.threads, **kwargs)
    stats = predict_file(ner, args.input, args.output, args.format, args.output_format, lines=args.lines,
                         batch_size=args.batch_size, progress=not args.no_progress,
                         settings={"conflicts": args.conflicts})
    print(f"{stats['documents']} documents, {stats['entities']} entities -> {args.output} "
          f"({stats['input_format']} -> {stats['output_format']}, conflicts={args.conflicts})", file=sys.stderr)
    if stats["dropped_input_annotations"]:
        print(f"note: {stats['dropped_input_annotations']} annotation/relation lines of the PubTator input "
              "were not copied (the output holds the predictions only)", file=sys.stderr)
    return 0
