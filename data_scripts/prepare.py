"""Build, cache and reload a corpus as a `datasets.DatasetDict` (train / validation / test).

`prepare_corpus("bc2gm", source_dir="../shared/corpora")` reads the local files; without a source
dir it downloads the registry's public files (SHA-256 verified) into a cache. The DatasetDict is
saved with `save_to_disk` (Arrow) next to a `biomtl_corpus.json` that records the source digests;
a later call with unchanged sources reloads it without parsing again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import datasets
from datasets import Dataset, DatasetDict, load_from_disk

from .readers import RepairReport, read_iob, read_jsonlines
from .registry import CorpusSpec, get_spec
from .schema import FEATURES

FORMAT_VERSION = 1


@contextlib.contextmanager
def _quiet_datasets():
    """Hide datasets' per-split "Saving the dataset" bars (the CLI prints its own summary)."""
    was_enabled = datasets.utils.logging.is_progress_bar_enabled()
    datasets.utils.logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            datasets.utils.logging.enable_progress_bar()


def cache_root() -> Path:
    return Path(os.environ.get("BIOMTL_CACHE", Path.home() / ".cache" / "biomtl"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false") or \
        os.environ.get("BIOMTL_OFFLINE", "0") not in ("0", "", "false")


def download_file(url: str, dest: Path, sha256: str | None) -> Path:
    """Download `url` to `dest` atomically; verify the digest when known, else record it."""
    if dest.exists() and (sha256 is None or sha256_file(dest) == sha256):
        return dest
    if _offline():
        raise FileNotFoundError(f"{dest.name}: not cached, and offline mode is on (HF_HUB_OFFLINE/BIOMTL_OFFLINE)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    os.close(fd)
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as out:
            shutil.copyfileobj(resp, out)
        digest = sha256_file(Path(tmp))
        if sha256 is not None and digest != sha256:
            raise ValueError(f"checksum mismatch for {url}: expected {sha256}, got {digest}")
        os.replace(tmp, dest)
        if sha256 is None:
            (dest.parent / (dest.name + ".sha256")).write_text(digest + "\n")
            print(f"downloaded {url} (sha256 {digest}, not pinned in the registry)")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def locate_sources(spec: CorpusSpec, source_dir: str | Path | None = None) -> dict[str, Path]:
    """split -> local file. Looks in `source_dir/<folder>/` and `source_dir/` (default: the
    `BIOMTL_CORPORA` environment variable), else downloads.

    Raises FileNotFoundError with a message saying what to do when neither works.
    """
    found: dict[str, Path] = {}
    if source_dir is None and os.environ.get("BIOMTL_CORPORA"):
        source_dir = os.environ["BIOMTL_CORPORA"]
    if source_dir is not None:
        root = Path(source_dir)
        if not root.is_dir():
            raise FileNotFoundError(f"source dir {root} does not exist")
        for split, fname in spec.files.items():
            for cand in (root / spec.folder / fname, root / fname):
                if cand.is_file():
                    found[split] = cand
                    break
        missing = [s for s in spec.required_splits if s not in found]
        if missing:
            raise FileNotFoundError(
                f"{spec.key}: no {', '.join(spec.files[s] for s in missing)} under {root / spec.folder} or {root}")
        return found
    errors = []
    for split, fname in spec.files.items():
        dest = cache_root() / "raw" / spec.folder / fname
        try:
            found[split] = download_file(spec.url(split), dest, spec.sha256.get(fname))
        except (OSError, ValueError) as err:
            errors.append(str(err))
    missing = [s for s in spec.required_splits if s not in found]
    if missing:
        raise FileNotFoundError(
            f"corpus {spec.key!r} is not available: no --source-dir was given and the download from "
            f"{spec.base_url} failed ({'; '.join(errors)}). Pass a local folder, e.g. "
            f"`--source-dir ../shared/corpora`, or run online.")
    return found


@dataclass
class PreparedCorpus:
    spec: CorpusSpec
    dataset: DatasetDict
    repairs: RepairReport
    filtered_mentions: int
    path: Path | None = None
    reloaded: bool = False


def read_corpus(spec: CorpusSpec, files: dict[str, Path]) -> tuple[dict[str, list[dict]], RepairReport, int]:
    """Parse every split file; apply renames and `keep_types`. Returns examples, repairs, filtered count."""
    report = RepairReport()
    out: dict[str, list[dict]] = {}
    filtered = 0
    for split, path in files.items():
        prefix = f"{spec.corpus}-{split}"
        if spec.fmt == "iob":
            rows = read_iob(path, spec.corpus, id_prefix=prefix, renames=spec.renames, report=report)
        else:
            rows = read_jsonlines(path, spec.corpus, id_prefix=prefix, renames=spec.renames)
            for r in rows:
                r["corpus"] = spec.corpus
        if spec.keep_types is not None:
            for r in rows:
                kept = [s for s in r["spans"] if s["label"] in spec.keep_types]
                filtered += len(r["spans"]) - len(kept)
                r["spans"] = kept
        out[split] = rows
    return out, report, filtered


def to_dataset_dict(splits: dict[str, list[dict]]) -> DatasetDict:
    return DatasetDict({s: Dataset.from_list(rows, features=FEATURES) for s, rows in splits.items()})


def prepare_corpus(name: str, source_dir: str | Path | None = None, output_dir: str | Path | None = None,
                   force: bool = False) -> PreparedCorpus:
    """Build (or reload) a registry corpus as a DatasetDict saved under `output_dir`.

    Default output: `$BIOMTL_CACHE/datasets/<key>` (`~/.cache/biomtl/...`).
    """
    spec = get_spec(name)
    files = locate_sources(spec, source_dir)
    digests = {split: sha256_file(p) for split, p in files.items()}
    out = Path(output_dir) if output_dir else cache_root() / "datasets" / spec.key
    meta_path = out / "biomtl_corpus.json"
    if not force and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("format_version") == FORMAT_VERSION and meta.get("source_sha256") == digests:
            report = RepairReport()
            report.counts.update(meta["repairs"]["counts"])
            report.examples = meta["repairs"]["examples"]
            return PreparedCorpus(spec, load_from_disk(str(out)), report, meta["filtered_mentions"], out, True)
    for split, fname in ((s, spec.files[s]) for s in files):
        want = spec.sha256.get(fname)
        if want is not None and digests[split] != want:
            print(f"note: {files[split]} differs from the registry's public file (sha256 {digests[split]})")
    splits, report, filtered = read_corpus(spec, files)
    dd = to_dataset_dict(splits)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    with _quiet_datasets():
        dd.save_to_disk(str(tmp))
    meta = {"format_version": FORMAT_VERSION, "corpus": spec.corpus, "key": spec.key, "types": list(spec.types),
            "source_files": {s: str(p) for s, p in files.items()}, "source_sha256": digests,
            "repairs": report.to_dict(), "filtered_mentions": filtered, "license": spec.license}
    (tmp / "biomtl_corpus.json").write_text(json.dumps(meta, indent=2))
    if out.exists():
        shutil.rmtree(out, ignore_errors=True)
    try:
        os.replace(tmp, out)
    except OSError:  # another process finished the same corpus first: keep its copy
        shutil.rmtree(tmp, ignore_errors=True)
    return PreparedCorpus(spec, load_from_disk(str(out)), report, filtered, out, False)


def load_prepared(path: str | Path) -> DatasetDict:
    """Reload a prepared corpus folder (no parsing)."""
    return load_from_disk(str(path))
