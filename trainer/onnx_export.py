"""`biomtl export-onnx MODEL OUT [--quantize] [--opset N]`: a checkpoint folder for ONNX Runtime serving.

OUT is the complete checkpoint (what `biomtl train` writes: config, safetensors, tokenizer, remote
code, pipeline; so it still loads with plain transformers) plus `OUT/onnx/`:

* one graph per encoder pass (see `trainer/onnx_runtime.py` for what each family's graph holds):
  the encoder and the static part of the family's head, inputs `input_ids`, `attention_mask`
  (and `token_type_ids` when the tokenizer makes them), batch and sequence axes dynamic;
* with `--quantize`, the same graphs with dynamic int8 quantisation of their MatMul/Gemm weights
  (`*.int8.onnx`; per-channel weight scales, activations quantised per batch at run time);
* `export.json`: family, graphs, inputs, opset, versions, and the largest difference between each
  graph and the eager PyTorch modules on a check batch (the export fails when an fp32 graph
  differs by more than 1e-3).

Use it with `biomtl predict OUT ...` (ONNX Runtime is picked for such a folder) or
`trainer.onnx_runtime.load_onnx_model(OUT)`. `trainer/export.py` is the Hub writer; this command
reuses it for the checkpoint part.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .onnx_format import MANIFEST, MANIFEST_FORMAT, ONNX_DIR
from .onnx_runtime import make_session, require_onnxruntime

DEFAULT_OPSET = 17
#: fp32 graph vs eager on the check batch (absolute, on real tokens)
FP32_TOLERANCE = 1e-3
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_OF = {"sru_ner": "last_hidden_state", "mrc_multitask": "ner_logits", "layer_sliced_crf": "emissions",
             "token_classification": "logits"}
CHECK_SENTENCES = [
    ["Familial", "breast", "cancer", "is", "caused", "by", "germline", "BRCA1", "mutations", "."],
    ["Cisplatin", "nephrotoxicity"],
    ["The", "patient", "had", "acute", "renal", "failure", "after", "ibuprofen", "and", "aspirin", "intake", ",",
     "and", "later", "diabetes", "."],
]


class EncoderGraph(nn.Module):
    """The exported computation of one encoder pass: encoder (+ the family's static head layer).

    forward(input_ids, attention_mask[, token_type_ids]) with tensors (B, T) ->
      sru_ner: encoder states (B, T, H); mrc_multitask: NER logits (B, T, C);
      layer_sliced_crf: emissions (B, T, sum of the tasks' tag counts) of `task_keys`, side by side;
      token_classification: BIO logits (B, T, C) of the linear classifier (dropout is off in eval).
    """

    def __init__(self, model: nn.Module, task: str | None = None, task_keys: list[str] | None = None):
        super().__init__()
        self.model = model
        self.family = model.config.model_type
        self.task = task
        self.task_keys = list(task_keys or [])

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if self.family == "layer_sliced_crf":
            hidden = self.model.encode(self.task, input_ids, attention_mask, token_type_ids)
            return torch.cat([self.model.heads[k].emission(hidden) for k in self.task_keys], dim=-1)
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = self.model.encoder(**kwargs).last_hidden_state
        if self.family == "mrc_multitask":
            return self.model.ner_head(hidden)
        if self.family == "token_classification":
            return self.model.classifier(self.model.dropout(hidden))
        return hidden


def plan_graphs(model: nn.Module) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """`([{name, task, task_key, task_keys}], head_columns)`: the graphs a family needs, and for the
    layer-sliced CRF the columns of each task's emissions in its graph's output."""
    family = getattr(model.config, "model_type", None)
    if family not in OUTPUT_OF:
        raise ValueError(f"no ONNX export for model type {family!r} (known: {', '.join(OUTPUT_OF)})")
    if family != "layer_sliced_crf":
        return [{"name": "model", "task": None, "task_key": None, "task_keys": []}], {}
    cfg = model.config
    keys = [cfg.task_keys[t] for t in cfg.tasks]
    sizes = {k: model.heads[k].emission.out_features for k in keys}
    if not model._routed_layers():  # one encoder pass serves every task head
        columns, start = {}, 0
        for k in keys:
            columns[k] = [start, sizes[k]]
            start += sizes[k]
        return [{"name": "model", "task": cfg.tasks[0], "task_key": None, "task_keys": keys}], columns
    graphs = [{"name": f"model.{k}", "task": t, "task_key": k, "task_keys": [k]} for t, k in zip(cfg.tasks, keys)]
    return graphs, {k: [0, sizes[k]] for k in keys}


def _inputs(tokenizer, sentences: list[list[str]]) -> dict[str, torch.Tensor]:
    from biomtl.modeling.subwords import encode_words

    enc = encode_words(tokenizer, sentences)
    return {k: enc.inputs[k] for k in INPUTS if k in enc.inputs}


def _max_diff(ref: torch.Tensor, got, mask: torch.Tensor) -> float:
    got = torch.from_numpy(got)
    return float((ref - got).abs()[mask.bool()].max())


def _check(graph: EncoderGraph, session, batches: list[dict[str, torch.Tensor]]) -> float:
    worst = 0.0
    for feed in batches:
        with torch.inference_mode():
            ref = graph(**feed).float()
        (out,) = session.run(None, {k: v.numpy() for k, v in feed.items()})
        worst = max(worst, _max_diff(ref, out, feed["attention_mask"]))
    return worst


#: `quantize_dynamic` settings (recorded in the manifest). Per-channel weight scales: on the trained
#: MiniLM checkpoints (16 NCBI-disease test sentences, fp32 graph as reference) they halve the error
#: of per-tensor scales (relative L2 error of the encoder states 0.20 -> 0.10 for SRU-NER; CRF
#: emission argmax agreement 98.3 -> 99.7 %); reduce_range (7-bit) made it worse on an AVX2 CPU.
INT8_SETTINGS = {"weight_type": "QInt8", "per_channel": True, "reduce_range": False,
                 "op_types_to_quantize": ["MatMul", "Gemm"], "activations": "uint8, dynamic per batch"}


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation (`INT8_SETTINGS`: int8 weights with per-channel scales, activations
    quantised at run time) of the MatMul/Gemm nodes, after ONNX Runtime's pre-processing."""
    require_onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_name(dst.stem + ".pre.onnx")
    # ONNX shape inference + graph optimisation; the symbolic shape pass does not complete on these
    # graphs (dynamic batch and sequence axes) and is not needed for MatMul/Gemm weights
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    try:
        with _quiet_root_logger():  # "Please consider to run pre-processing": it has run
            quantize_dynamic(str(pre), str(dst), weight_type=getattr(QuantType, INT8_SETTINGS["weight_type"]),
                             per_channel=INT8_SETTINGS["per_channel"], reduce_range=INT8_SETTINGS["reduce_range"],
                             op_types_to_quantize=INT8_SETTINGS["op_types_to_quantize"])
    finally:
        pre.unlink(missing_ok=True)


class _quiet_root_logger:
    def __enter__(self):
        import logging

        self.logger = logging.getLogger()
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self.logger.setLevel(self.level)


def export_onnx(model_name_or_path: str, out_dir: str | Path, quantize: bool = False,
                opset: int = DEFAULT_OPSET, log=print) -> dict[str, Any]:
    """Write the checkpoint + ONNX graphs of `model_name_or_path` into `out_dir`; returns the manifest."""
    import onnx
    import transformers
    from transformers import AutoModel, AutoTokenizer

    import biomtl
    from biomtl import modeling  # noqa: F401  (registers the families: the installed classes export)

    from .export import save_hub_folder

    ort = require_onnxruntime()
    src = Path(model_name_or_path)
    out = Path(out_dir)
    if src.exists() and out.resolve() == src.resolve():
        raise ValueError(f"OUT {out_dir} is MODEL itself; choose a new folder")
    model = AutoModel.from_pretrained(model_name_or_path, trust_remote_code=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, trust_remote_code=True)
    if not callable(getattr(model, "predict_spans", None)):
        raise ValueError(f"{model_name_or_path}: {type(model).__name__} is not a biomtl model (no predict_spans)")
    graphs, head_columns = plan_graphs(model)
    model.config._name_or_path = ""  # where this copy was loaded from is no part of the checkpoint
    save_hub_folder(model, tokenizer, out)
    for extra in ("README.md", "all_results.json"):  # the model card and scores travel with the export
        if src.is_dir() and (src / extra).is_file() and not (out / extra).exists():
            shutil.copyfile(src / extra, out / extra)
    onnx_dir = out / ONNX_DIR
    if onnx_dir.exists():
        shutil.rmtree(onnx_dir)
    onnx_dir.mkdir(parents=True)
    trace = _inputs(tokenizer, CHECK_SENTENCES[:2])
    names = list(trace)
    checks = [_inputs(tokenizer, CHECK_SENTENCES), _inputs(tokenizer, CHECK_SENTENCES[2:]),
              _inputs(tokenizer, [CHECK_SENTENCES[1]] * 3)]
    output = OUTPUT_OF[model.config.model_type]
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {output: {0: "batch", 1: "sequence"}}
    records = []
    for plan in graphs:
        graph = EncoderGraph(model, plan["task"], plan["task_keys"]).eval()
        fp32 = onnx_dir / f"{plan['name']}.onnx"
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
            torch.onnx.export(graph, tuple(trace[n] for n in names), str(fp32), input_names=names,
                              output_names=[output], dynamic_axes=axes, opset_version=opset, dynamo=False,
                              do_constant_folding=True)
        onnx.checker.check_model(str(fp32))
        files = {"fp32": fp32.name}
        diffs = {"fp32": _check(graph, make_session(fp32), checks)}
        if diffs["fp32"] > FP32_TOLERANCE:
            raise RuntimeError(f"{fp32.name}: ONNX Runtime differs from eager PyTorch by {diffs['fp32']:.2e} "
                               f"(> {FP32_TOLERANCE}) on the check batch")
        if quantize:
            int8 = onnx_dir / f"{plan['name']}.int8.onnx"
            quantize_int8(fp32, int8)
            files["int8"] = int8.name
            diffs["int8"] = _check(graph, make_session(int8), checks)
        records.append({"name": plan["name"], "task": plan["task"], "task_key": plan["task_key"],
                        "task_keys": plan["task_keys"], "files": files, "max_abs_diff_vs_eager": diffs})
        log(f"{plan['name']}: " + ", ".join(f"{p} {onnx_dir / f} (max |ONNX - eager| {diffs[p]:.1e})"
                                            for p, f in files.items()))
    manifest = {
        "format": MANIFEST_FORMAT, "family": model.config.model_type, "output": output, "inputs": names,
        "opset": opset, "precisions": ["fp32", "int8"] if quantize else ["fp32"], "graphs": records,
        "int8": INT8_SETTINGS if quantize else None,
        "head_columns": head_columns, "source": str(model_name_or_path),
        "exported_with": {"biomtl": getattr(biomtl, "__version__", None), "torch": torch.__version__,
                          "transformers": transformers.__version__, "onnx": onnx.__version__,
                          "onnxruntime": ort.__version__},
    }
    (onnx_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def add_export_onnx_command(subparsers) -> argparse.ArgumentParser:
    """Add `export-onnx` to a `biomtl` sub-command parser."""
    p = subparsers.add_parser(
        "export-onnx", help="write a checkpoint with ONNX graphs for ONNX Runtime (CPU serving)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="model folder (e.g. OUTPUT_DIR/best) or Hub repo id")
    p.add_argument("out", metavar="OUT", help="output folder (the checkpoint + onnx/)")
    p.add_argument("--quantize", action="store_true", help="also write dynamic int8 graphs (*.int8.onnx)")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset ({DEFAULT_OPSET})")
    p.set_defaults(func=_run)
    return p


def _run(args: argparse.Namespace) -> int:
    try:
        require_onnxruntime()
    except ImportError as err:
        raise ValueError(str(err)) from err
    manifest = export_onnx(args.model, args.out, quantize=args.quantize, opset=args.opset,
                           log=lambda m: print(m, file=sys.stderr))
    print(f"{args.out}: {manifest['family']}, {len(manifest['graphs'])} graph(s), {', '.join(manifest['precisions'])}"
          f"; use: biomtl predict {args.out} --input FILE --output FILE", file=sys.stderr)
    return 0
