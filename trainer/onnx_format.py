"""Layout of a folder written by `biomtl export-onnx` (no heavy imports: the CLI reads it at start-up)."""

from __future__ import annotations

from pathlib import Path

#: sub-folder with the graphs and the manifest
ONNX_DIR = "onnx"
MANIFEST = "export.json"
MANIFEST_FORMAT = 1
PRECISIONS = ("fp32", "int8")


def is_onnx_folder(path: str | Path) -> bool:
    """Whether `path` is a folder written by `biomtl export-onnx`."""
    return (Path(path) / ONNX_DIR / MANIFEST).is_file()
