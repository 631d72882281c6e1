"""Run a biomtl model with ONNX Runtime (CPU serving): load a folder written by `biomtl export-onnx`.

    from biomtl.trainer.onnx_runtime import load_onnx_model
    model, tokenizer = load_onnx_model("exported/", precision="int8")     # or "fp32"
    model.predict_spans([["Familial", "breast", "cancer"]], tokenizer)

The folder is a complete checkpoint (config, safetensors, tokenizer, remote code, pipeline) plus
`onnx/`: one graph per encoder pass, each the encoder and the static part of the family's head,
and `onnx/export.json` (the manifest written by `trainer.onnx_export`). Loading builds the
family's model as usual, then swaps in the graphs; everything after them (SRU-NER's action loop,
the CRF's Viterbi and span scores, the MRC family's per-corpus softmax, windowing, stitching) is
the family's own `predict_spans`, unchanged:

* `sru_ner`: graph = encoder -> `last_hidden_state` [B, T, H]; `model.encoder` runs it.
* `mrc_multitask`: graph = encoder + NER head -> logits [B, T, C]; `model.encoder` runs it and
  `model.ner_head` becomes the identity (the MRC / auxiliary heads are training-only; their
  analysis API `extract_spans_mrc` is not available on an ONNX model).
* `token_classification`: graph = encoder + linear classifier -> BIO logits [B, T, C];
  `model.encoder` runs it and `model.classifier` becomes the identity (the per-corpus restricted
  decoding is `predict_spans`'). No torch weight is left: the model's `device` is the CPU.
* `layer_sliced_crf`: one graph per encoder pass: all tasks' emission layers on a fully shared
  encoder (emissions of every task side by side, [B, T, sum of tag counts]), or one graph per task
  when tasks own upper layers. The task-routed layers stay as empty placeholders so the model still
  routes (`encode(task)` picks the task's graph); each task's emission layer becomes a column slice.

Only what `predict_spans` needs is supported: no training, no `forward` with labels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from .onnx_format import MANIFEST, MANIFEST_FORMAT, ONNX_DIR, PRECISIONS, is_onnx_folder

__all__ = ["ColumnSlice", "OnnxEncoder", "attach_onnx", "is_onnx_folder", "load_onnx_model", "make_session",
           "read_manifest"]

def read_manifest(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / ONNX_DIR / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no {ONNX_DIR}/{MANIFEST}: not a folder written by biomtl export-onnx")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: manifest format {manifest.get('format')!r}, this biomtl reads {MANIFEST_FORMAT}")
    return manifest


def require_onnxruntime():
    try:
        import onnxruntime
    except ImportError as err:
        raise ImportError("ONNX Runtime is not installed: pip install 'biomtl[onnx]' "
                          "(or pip install onnxruntime onnx)") from err
    return onnxruntime


def make_session(path: str | Path, threads: int | None = None):
    """A CPU `InferenceSession` with `threads` intra-op threads (default: torch's thread count, so
    that ONNX and eager runs compare at equal threads)."""
    ort = require_onnxruntime()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _routed(module: nn.Module) -> bool:
    """A task-routed layer (layer-sliced CRF): one copy of a layer per task, picked by `active_task`."""
    return hasattr(module, "per_task") and hasattr(module, "active_task")


class OnnxEncoder(nn.Module):
    """Stands in for a family's `encoder`: runs the ONNX graph(s) and returns their output as
    `last_hidden_state` (the encoder states, or the head outputs folded into the graph).

    `sessions` maps a task key (layer-sliced CRF with per-task upper layers) or None (one graph)
    to an `InferenceSession`. With per-task graphs, `layer_stack` holds the original task-routed
    layers with their weights dropped, at the same attribute path as in the encoder, so the model
    still sets `active_task` on them; the routed graph is picked from that.
    """

    def __init__(self, sessions: dict[str | None, Any], output: str, layer_path: str | None = None,
                 layer_stack: nn.ModuleList | None = None):
        super().__init__()
        self.sessions = sessions
        self.output = output
        self.input_names = {k: [i.name for i in s.get_inputs()] for k, s in sessions.items()}
        if layer_path and layer_stack is not None:
            parent: nn.Module = self
            parts = layer_path.split(".")
            for part in parts[:-1]:
                child = nn.Module()
                parent.add_module(part, child)
                parent = child
            parent.add_module(parts[-1], layer_stack)
        self._stack_path = layer_path if layer_stack is not None else None

    def _active_session(self):
        if None in self.sessions:
            return None
        stack = self.get_submodule(self._stack_path)
        active = {m.active_task for m in stack if _routed(m)}
        if len(active) != 1 or None in active:
            raise RuntimeError("the ONNX encoder has one graph per task: call it through the model's encode(task)")
        return next(iter(active))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, **_: Any) -> BaseModelOutput:
        key = self._active_session()
        feed = {"input_ids": input_ids,
                "attention_mask": attention_mask if attention_mask is not None else torch.ones_like(input_ids),
                "token_type_ids": token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids)}
        arrays = {name: feed[name].detach().cpu().to(torch.int64).numpy() for name in self.input_names[key]}
        (out,) = self.sessions[key].run([self.output], arrays)
        return BaseModelOutput(last_hidden_state=torch.from_numpy(out).to(input_ids.device))


class ColumnSlice(nn.Module):
    """A task head's emission layer on an ONNX model: its columns of the graph's emission output."""

    def __init__(self, start: int, size: int):
        super().__init__()
        self.start, self.size = int(start), int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[..., self.start:self.start + self.size]

    def extra_repr(self) -> str:
        return f"start={self.start}, size={self.size}"


def _not_on_onnx(name: str):
    def refuse(*args, **kwargs):
        raise NotImplementedError(f"{name} is not available on an ONNX Runtime model (predict_spans only)")
    return refuse


def attach_onnx(model: nn.Module, folder: str | Path, precision: str = "fp32", threads: int | None = None,
                manifest: dict | None = None) -> nn.Module:
    """Swap the exported graphs of `folder` into `model` (the same checkpoint loaded with torch),
    in place; returns the model. The torch encoder's weights are released."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    manifest = manifest or read_manifest(folder)
    family = getattr(model.config, "model_type", None)
    if manifest["family"] != family:
        raise ValueError(f"{folder}: ONNX graphs of a {manifest['family']} model, but the checkpoint is {family}")
    graphs = manifest["graphs"]
    sessions: dict[str | None, Any] = {}
    for graph in graphs:
        files = graph["files"]
        if precision not in files:
            raise ValueError(f"{folder}: no {precision} graph (exported: {sorted(files)}); "
                             f"re-export with biomtl export-onnx{' --quantize' if precision == 'int8' else ''}")
        sessions[graph["task_key"]] = make_session(Path(folder) / ONNX_DIR / files[precision], threads)
    output = manifest["output"]
    layer_path, stack = None, None
    if family == "layer_sliced_crf":  # the model reads its layer stack to route tasks: keep it, emptied
        layer_path = model.layer_path
        stack = model.layer_stack
        for i, layer in enumerate(stack):
            if _routed(layer):
                for key in list(layer.per_task):
                    layer.per_task[key] = nn.Identity()
            else:
                stack[i] = nn.Identity()
    model.encoder = OnnxEncoder(sessions, output, layer_path, stack)
    if family == "mrc_multitask":
        model.ner_head = nn.Identity()
        model.extract_spans_mrc = _not_on_onnx("extract_spans_mrc (the MRC head)")
    elif family == "token_classification":
        model.classifier = nn.Identity()
    elif family == "layer_sliced_crf":
        for key, (start, size) in manifest["head_columns"].items():
            model.heads[key].emission = ColumnSlice(start, size)
    model.collate = _not_on_onnx("collate (training)")
    model.onnx_precision = precision
    model.onnx_manifest = manifest
    return model.eval()


def load_onnx_model(folder: str | Path, precision: str = "fp32", threads: int | None = None):
    """`(model, tokenizer)` of a folder written by `biomtl export-onnx`, with ONNX Runtime graphs."""
    from transformers import AutoModel, AutoTokenizer

    manifest = read_manifest(folder)
    require_onnxruntime()
    model = AutoModel.from_pretrained(str(folder), trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=True)
    return attach_onnx(model, folder, precision, threads, manifest), tokenizer
