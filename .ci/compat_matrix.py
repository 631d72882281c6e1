"""Remote-code version matrix: checkpoints saved by `biomtl train` load where biomtl is NOT
installed, on every supported transformers release, and predict what biomtl predicts.

    .venv/bin/python .ci/compat_matrix.py                 # COMPAT_VERSIONS + this environment's version
    .venv/bin/python .ci/compat_matrix.py --versions 4.57.6 5.24.0 --json out.json

1. With this environment (biomtl installed), `biomtl train` trains one small checkpoint per family
   (a 2-layer, 32-wide random BERT with the MiniLM word pieces, on synthetic NCBI-disease +
   BC5CDR corpora, a few dozen steps) and records the reference entities of a fixed set of texts
   with biomtl's own classes. Checkpoints and references are cached under the cache dir, keyed by
   the source files that shape them (modeling/, trainer/, data_scripts/, this script) and the
   torch/transformers versions; a change to any of them trains new ones.
2. For each transformers version: a virtual environment with only torch + that transformers
   (`compat_venvs.py`, cached), where a fresh interpreter that cannot import biomtl loads every
   checkpoint (each in a folder named after its family) with
   `AutoModel.from_pretrained(..., trust_remote_code=True)` and
   `pipeline(model=folder, trust_remote_code=True)`, and checks: the remote code ran (not a local
   class); every tensor of model.safetensors is in the loaded model unchanged (a custom
   `_init_weights` that re-randomises loaded weights fails here); `AutoModelForTokenClassification`
   gives per-token logits over `config.id2label` (every family but SRU-NER, which has none); the
   pipeline gives the same entities as the reference, scores within 1e-4.

Exit status 1 when any cell fails; prints a version x family table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compat_venvs import cache_dir, transformers_venv, venv_python  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
#: 4.57.x, 5.0.x, 5.12.x; the latest 5.x is the one `make install` resolved (this environment's)
COMPAT_VERSIONS = ("4.57.6", "5.0.0", "5.12.1")
FAMILIES = ("sru_ner", "mrc_multitask", "layer_sliced_crf", "token_classification")
SCORE_TOLERANCE = 1e-4
#: per family: `biomtl train` overrides on top of the common ones (enough steps to predict entities)
TRAIN_OVERRIDES = {
    "sru_ner": ["epochs=12", "optim.head_lr=1e-2", "optim.encoder_lr=1e-3", "optim.encoder_warmup_epochs=0",
                "optim.head_warmup_epochs=0", "model.overrides.half_context=8", "model.overrides.dropout_latents=0",
                "model.overrides.dropout_positions=0", "model.overrides.dropout_mlp_input=0"],
    "mrc_multitask": ["epochs=2"],
    "layer_sliced_crf": ["epochs=2", "model.overrides.num_shared_layers=1"],
    "token_classification": ["epochs=6", "optim.encoder_lr=1e-3", "optim.head_lr=1e-2", "optim.encoder_warmup_epochs=0",
                             "optim.head_warmup_epochs=0", "model.overrides.classifier_dropout=0"],
}
TEXTS = [
    "The patient had severe asthma after long intake of aspirin .",
    "Cisplatin induced renal failure and diabetes were seen in the patient .",
    "Daily doses of ibuprofen were seen after breast cancer and acute signs .",
    "",
    "No entity here.\n\nbreast cancer , asthma and renal failure after cisplatin .",
]

# the same import blocker as the fresh-environment tests (one definition, tests/fresh_env.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fresh_env import _BLOCK_BIOMTL  # noqa: E402

_LOAD_AND_PREDICT = '''
import json, sys, warnings
warnings.simplefilter("ignore")
import torch, transformers
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForTokenClassification, AutoTokenizer, pipeline
torch.set_num_threads(1)
folders, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {"transformers": transformers.__version__, "torch": torch.__version__, "families": {}}
for family, folder in folders.items():
    cell = out["families"][family] = {}
    try:
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        cell["class_module"] = type(model).__module__
        state = model.state_dict()
        saved = load_file(folder + "/model.safetensors")
        cell["weights_missing"] = sorted(k for k in saved if k not in state)
        cell["weights_changed"] = sorted(k for k in saved if k in state and not torch.equal(saved[k], state[k]))
        if family != "sru_ner":  # per-token logits over config.id2label (SRU-NER has none, by design)
            tc = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True).eval()
            tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
            with torch.no_grad():
                logits = tc(**tok(texts[0], return_tensors="pt")).logits
            cell["token_logits_shape_ok"] = list(logits.shape[::2]) == [1, len(tc.config.id2label)]
        ner = pipeline(model=folder, trust_remote_code=True)
        cell["pipeline_class"] = type(ner).__name__
        cell["entities"] = [[{k: e[k] for k in ("entity_group", "start", "end", "word", "score")} for e in doc]
                            for doc in ner(texts, batch_size=4)]
    except Exception as err:  # reported per cell
        import traceback
        cell["error"] = f"{type(err).__name__}: {err}"
        cell["traceback"] = traceback.format_exc()[-4000:]
print("@@RESULT@@" + json.dumps(out))
'''

_REFERENCE = '''
import json, sys, warnings
warnings.simplefilter("ignore")
import torch
torch.set_num_threads(1)
from biomtl.trainer.predict_cli import load_ner_pipeline
folders, texts = json.loads(sys.argv[1]), json.loads(sys.argv[2])
out = {}
for family, folder in folders.items():
    ner = load_ner_pipeline(folder, device="cpu")
    assert type(ner.model).__module__.startswith("biomtl."), type(ner.model).__module__
    out[family] = [[{k: e[k] for k in ("entity_group", "start", "end", "word", "score")} for e in doc]
                   for doc in ner(texts, batch_size=4)]
print("@@RESULT@@" + json.dumps(out))
'''


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(home), "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
                "TRANSFORMERS_VERBOSITY": "error"})
    return env


#: processes run side by side (each single-threaded; CI machines have 2 cores)
JOBS = int(os.environ.get("BIOMTL_COMPAT_JOBS", "2"))


def _parallel(fn, items) -> None:
    """`fn(item)` for every item, JOBS at a time; the first failure is raised."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, JOBS)) as pool:
        for future in [pool.submit(fn, item) for item in items]:
            future.result()


def _run_json(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 900) -> dict:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    marker = [line for line in proc.stdout.splitlines() if line.startswith("@@RESULT@@")]
    if proc.returncode != 0 or not marker:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(marker[-1][len("@@RESULT@@"):])


def source_key() -> str:
    """Hash of what shapes the checkpoints and their references."""
    import torch
    import transformers

    h = hashlib.sha256(f"{torch.__version__} {transformers.__version__} {TRAIN_OVERRIDES} {TEXTS}".encode())
    for folder in ("modeling", "trainer", "data_scripts"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".json", ".yaml"):
                h.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    h.update(Path(__file__).read_bytes())
    h.update((REPO / "tests" / "corpus_fixtures.py").read_bytes())
    return h.hexdigest()[:16]


def _tiny_encoder(out: Path) -> Path:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from biomtl.encoders import embedded_encoder_path

    tok = AutoTokenizer.from_pretrained(embedded_encoder_path())
    tok.model_max_length = 128
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def build_checkpoints(log=print) -> tuple[dict[str, str], dict]:
    """`{family: checkpoint folder}` and the reference entities (built or from the cache)."""
    root = cache_dir() / "checkpoints" / source_key()
    ref_file = root / "reference.json"
    # each checkpoint in a folder named after its family: transformers < 5.x keeps a local folder's remote
    # code under the folder's base name, so four `best` folders would share (and mask) one module folder
    folders = {f: str(root / "models" / f) for f in FAMILIES}
    if ref_file.is_file() and all(Path(p, "config.json").is_file() for p in folders.values()):
        log(f"checkpoints: cached ({root})")
        return folders, json.loads(ref_file.read_text())
    sys.path.insert(0, str(REPO / "tests"))
    from corpus_fixtures import write_fake_corpora

    root.mkdir(parents=True, exist_ok=True)
    encoder = _tiny_encoder(root / "tiny_encoder")
    src = write_fake_corpora(root / "corpora", sizes=(48, 12, 8))
    # prepare the corpora once, then one single-threaded training per family, JOBS at a time
    env = _env(root / "hf_home") | {"BIOMTL_CACHE": str(root / "biomtl_cache")}

    def train(family: str) -> None:
        t0 = time.time()
        cmd = [sys.executable, "-m", "biomtl.cli", "train", "corpora=[ncbi_disease, bc5cdr]", f"source_dir={src}",
               f"model.encoder={encoder}", f"model.family={family}", "batch_size=8", "eval_batch_size=32",
               f"output_dir={root / family}", "progress=false", "log_with=null", "early_stopping_patience=null",
               "evaluate_test=false", *TRAIN_OVERRIDES[family]]
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"biomtl train ({family}) failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        shutil.rmtree(folders[family], ignore_errors=True)  # a partial earlier build
        Path(folders[family]).parent.mkdir(exist_ok=True)
        (root / family / "best").rename(folders[family])
        log(f"checkpoint {family}: trained in {time.time() - t0:.0f}s")

    first = "mrc_multitask"  # the quickest; also prepares the corpora cache the others read
    train(first)
    _parallel(train, [f for f in FAMILIES if f != first])
    reference = _run_json([sys.executable, "-c", _REFERENCE, json.dumps(folders), json.dumps(TEXTS)],
                          root, _env(root / "hf_home"))
    empty = [f for f, docs in reference.items() if not any(docs)]
    if empty:  # a comparison of empty outputs proves nothing
        raise RuntimeError(f"the small checkpoints of {empty} predict no entity on the matrix texts; "
                           "train them longer (TRAIN_OVERRIDES)")
    ref_file.write_text(json.dumps(reference, indent=1))
    return folders, reference


def compare(cell: dict, reference: list) -> list[str]:
    """Problems of one (version, family) cell; empty when it passes."""
    if "error" in cell:
        return [cell["error"]]
    problems = []
    if cell.get("token_logits_shape_ok") is False:
        problems.append("AutoModelForTokenClassification: logits are not (batch, sequence, num_labels)")
    if not cell["class_module"].startswith("transformers_modules"):
        problems.append(f"loaded {cell['class_module']}, not the checkpoint's remote code")
    if cell["weights_missing"]:
        problems.append(f"{len(cell['weights_missing'])} saved tensors not in the model: {cell['weights_missing'][:3]}")
    if cell["weights_changed"]:
        problems.append(f"{len(cell['weights_changed'])} loaded tensors differ from the file "
                        f"(re-initialised?): {cell['weights_changed'][:3]}")
    got = cell["entities"]
    key = ("entity_group", "start", "end", "word")
    for d, (a, b) in enumerate(zip(reference, got)):
        if [tuple(e[k] for k in key) for e in a] != [tuple(e[k] for k in key) for e in b]:
            problems.append(f"text {d}: entities differ: reference {len(a)}, got {len(b)}")
            continue
        worst = max((abs(x["score"] - y["score"]) for x, y in zip(a, b)), default=0.0)
        if worst > SCORE_TOLERANCE:
            problems.append(f"text {d}: score differs by {worst:.2e}")
    if len(got) != len(reference):
        problems.append(f"{len(got)} documents, expected {len(reference)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--versions", nargs="+", default=None,
                   help=f"transformers versions (default: {' '.join(COMPAT_VERSIONS)} and this environment's)")
    p.add_argument("--json", help="write every cell's result here")
    args = p.parse_args(argv)
    if args.versions is None:
        import transformers

        args.versions = list(dict.fromkeys([*COMPAT_VERSIONS, transformers.__version__]))
    t_start = time.time()
    folders, reference = build_checkpoints()
    n_ref = {f: sum(len(d) for d in docs) for f, docs in reference.items()}
    pythons = {v: venv_python(transformers_venv(v)) for v in args.versions}  # built one by one (pip)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="biomtl-compat-") as tmp:
        def check(version: str) -> None:
            t0 = time.time()
            work = Path(tmp) / version
            work.mkdir()
            (work / "script.py").write_text(_BLOCK_BIOMTL + textwrap.dedent(_LOAD_AND_PREDICT))
            res = _run_json([str(pythons[version]), str(work / "script.py"), json.dumps(folders), json.dumps(TEXTS)],
                            work, _env(work / "hf_home"))
            if res["transformers"] != version:
                raise RuntimeError(f"environment for {version} runs transformers {res['transformers']}")
            res["seconds"] = round(time.time() - t0, 1)
            for family, cell in res["families"].items():
                cell["problems"] = compare(cell, reference[family])
            results[version] = res

        _parallel(check, args.versions)
    results = {v: results[v] for v in args.versions}
    failed = any(cell["problems"] for res in results.values() for cell in res["families"].values())
    width = max(len(f) for f in FAMILIES)
    print(f"\nremote-code matrix (biomtl not importable; entities vs biomtl {_own_version()}, "
          f"scores within {SCORE_TOLERANCE:g}; reference entities: "
          + ", ".join(f"{f} {n}" for f, n in n_ref.items()) + ")")
    print(f"{'transformers':<14}" + "".join(f"{f:<{width + 2}}" for f in FAMILIES) + f"seconds ({JOBS} at a time)")
    for version, res in results.items():
        row = "".join(f"{'ok' if not res['families'][f]['problems'] else 'FAIL':<{width + 2}}" for f in FAMILIES)
        print(f"{version:<14}{row}{res['seconds']}")
    for version, res in results.items():
        for family, cell in res["families"].items():
            for problem in cell["problems"]:
                print(f"FAIL {version} {family}: {problem}")
            if cell.get("traceback") and cell["problems"]:
                print(textwrap.indent(cell["traceback"], "    "))
    print(f"matrix: {time.time() - t_start:.0f}s")
    if args.json:
        Path(args.json).write_text(json.dumps({"reference_entities": n_ref, "results": results}, indent=1))
    return 1 if failed else 0


def _own_version() -> str:
    import transformers

    return f"on transformers {transformers.__version__}"


if __name__ == "__main__":
    sys.exit(main())
