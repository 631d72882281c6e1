"""`biomtl push` / `push_to_hub` against a local stub of the Hub HTTP API (tests/hub_stub.py).

What these tests prove: the right files reach the Hub API through huggingface_hub's real upload code
(create repo, branch, preupload, NDJSON commit) and a fresh environment loads the model and the pipeline
back from the Hub by repo id. What they cannot prove: the stub takes every file as a regular (base64)
upload, so xet/LFS transfers, authentication and the Hub's server-side checks are not exercised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fresh_env import run_without_biomtl
from hub_stub import HubStub
from test_model_card import END_TO_END_SKIP, make_results, trained_model_dir  # noqa: F401 (fixture)

from biomtl.model_cards import generate_model_card
from biomtl.trainer.hub import ensure_card, push_to_hub

REPO_ROOT = Path(__file__).resolve().parents[1]

PUSH_SCRIPT = """
import argparse, sys
from biomtl.cli import build_parser
from biomtl.trainer.push_cli import add_push_command
parser = build_parser()
sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
if "push" not in sub.choices:  # until biomtl/cli.py wires the command
    add_push_command(sub)
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def hub_env(hub: HubStub, tmp_path: Path) -> dict[str, str]:
    """Environment of a process that talks to the stub: endpoint, dummy token, private HF_HOME, online."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "PYTHONPATH", "HF_TOKEN")}
    env.update(HF_ENDPOINT=hub.endpoint, HF_TOKEN="hf_dummy_token_for_the_stub", HF_HOME=str(tmp_path / "hf_push"),
               HF_HUB_DISABLE_PROGRESS_BARS="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1")
    return env


def biomtl_push(hub: HubStub, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", PUSH_SCRIPT, "push", *args], cwd=tmp_path, env=hub_env(hub, tmp_path),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"biomtl push failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def local_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture()
def plain_folder(tmp_path, tiny_encoder_dir) -> Path:
    """A folder shaped like a saved model (config, weights, tokenizer, a code file, results) plus files
    that must stay local (a pickle and a training checkpoint)."""
    folder = tmp_path / "model"
    folder.mkdir()
    for path in tiny_encoder_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "modeling_dummy.py").write_text("X = 1\n")
    (folder / "all_results.json").write_text(json.dumps({"corpus_types": {"A": ["A/Disease"]}}))
    (folder / "optimizer.bin").write_bytes(b"pickle")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "state.json").write_text("{}")
    return folder


def test_push_regular_files_to_hub_stub(tmp_path, plain_folder):
    """Stub test, regular-file uploads only (no xet/LFS, no auth checks): `biomtl push` to main, then to a
    new branch; the Hub copy equals the folder, minus pickles and checkpoints, plus the generated card."""
    with HubStub(lifetime_s=300) as hub:
        proc = biomtl_push(hub, tmp_path, str(plain_folder), "org/tiny", "--private")
        url = proc.stdout.strip().splitlines()[-1]
        assert url.startswith(f"{hub.endpoint}/org/tiny/commit/")
        assert hub.repos[("model", "org/tiny")]["private"] is True

        expected = {k: v for k, v in local_files(plain_folder).items()
                    if not (k.endswith(".bin") or k.startswith("checkpoints/"))}
        assert "README.md" in expected  # generated because it was missing
        assert '"org/tiny"' in expected["README.md"].decode()
        assert hub.files("org/tiny") == expected
        assert ("POST", "/api/validate-yaml") in hub.requests  # the card's metadata went through validation

        (plain_folder / "modeling_dummy.py").write_text("X = 2\n")
        proc = biomtl_push(hub, tmp_path, str(plain_folder), "org/tiny", "--revision", "v1",
                           "--commit-message", "second version")
        sha = proc.stdout.strip().splitlines()[-1].rsplit("/", 1)[1]
        assert hub.repos[("model", "org/tiny")]["refs"]["v1"] == sha
        assert hub.files("org/tiny", "v1")["modeling_dummy.py"] == b"X = 2\n"
        assert hub.files("org/tiny", "main")["modeling_dummy.py"] == b"X = 1\n"
        assert ("POST", "/api/models/org/tiny/branch/v1") in hub.requests
        assert ("POST", "/api/models/org/tiny/commit/v1") in hub.requests


def test_push_refuses_a_folder_that_is_not_a_saved_model(tmp_path, plain_folder):
    (plain_folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"not a saved model folder: missing model\.safetensors"):
        push_to_hub(plain_folder, "org/tiny")
    best = tmp_path / "run" / "best"
    best.mkdir(parents=True)
    (best / "config.json").write_text("{}")
    (best / "model.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"Did you mean .*run/best"):
        push_to_hub(tmp_path / "run", "org/tiny")
    with pytest.raises(ValueError, match="not a valid Hub repo id"):
        push_to_hub(best, "org/bad name")
    assert not (plain_folder / "README.md").exists()  # nothing generated for a refused folder


def test_hand_written_card_is_kept_and_generated_card_is_retargeted(plain_folder):
    readme = plain_folder / "README.md"
    readme.write_text("# My own card\n")
    ensure_card(plain_folder, "org/tiny")
    assert readme.read_text() == "# My own card\n"
    generate_model_card(plain_folder)  # generated for the local folder
    assert str(plain_folder.resolve()) in readme.read_text()
    ensure_card(plain_folder, "org/tiny")
    text = readme.read_text()
    assert '"org/tiny"' in text and str(plain_folder.resolve()) not in text


def test_push_command_reports_offline_mode(tmp_path, plain_folder):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"HF_HUB_OFFLINE": "1",
                                                                         "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run([sys.executable, "-c", PUSH_SCRIPT, "push", str(plain_folder), "org/tiny"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "HF_HUB_OFFLINE is set" in proc.stderr
    assert not (plain_folder / "README.md").exists()  # refused before anything was written


# --------------------------------------------------------------------------------------------------
# Round trip with a real model: push, then load by repo id where biomtl is not installed
# --------------------------------------------------------------------------------------------------

LOAD_BOTH = """
import json
from transformers import AutoModel, AutoTokenizer, pipeline
out = {}
for name, ref in (("hub", "org/repo"), ("local", LOCAL)):
    model = AutoModel.from_pretrained(ref, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(ref, trust_remote_code=True)
    ner = pipeline(model=ref, trust_remote_code=True)
    out[name] = {"module": type(model).__module__, "spans": model.predict_spans(SENTENCES, tokenizer),
                 "entities": ner(TEXTS, batch_size=2)}
print(json.dumps(out))
"""

TEXTS = ["Cisplatin-induced nephrotoxicity was reduced in BRCA1-deficient mice.",
         "Patients with nephrotoxicity received cisplatin.\n\nNo other findings."]
SENTENCES = [["Cisplatin", "-", "induced", "nephrotoxicity", "."], ["No", "findings", "."]]


@pytest.mark.skipif(END_TO_END_SKIP is not None, reason=str(END_TO_END_SKIP))
def test_pushed_model_loads_from_hub_stub_in_fresh_environment(tmp_path, trained_model_dir):  # noqa: F811
    model_dir = trained_model_dir
    (model_dir / "all_results.json").write_text(json.dumps(make_results()))
    generate_model_card(model_dir)  # a card for the local folder: the push retargets it to the repo
    with HubStub(lifetime_s=400) as hub:
        biomtl_push(hub, tmp_path, str(model_dir), "org/repo")
        pushed = hub.files("org/repo")
        for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                     "modeling_sru_ner.py", "pipeline_ner.py", "README.md", "all_results.json"):
            assert name in pushed, f"{name} was not pushed"
        assert '"org/repo"' in pushed["README.md"].decode()
        assert str(model_dir.resolve()) not in pushed["README.md"].decode()

        workdir = tmp_path / "fresh"
        workdir.mkdir()
        script = f"LOCAL = {str(model_dir)!r}\nTEXTS = {TEXTS!r}\nSENTENCES = {SENTENCES!r}\n" + LOAD_BOTH
        proc = run_without_biomtl(script, workdir, extra_env={"HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.endpoint,
                                                              "HF_TOKEN": "hf_dummy_token_for_the_stub",
                                                              "OMP_NUM_THREADS": "1"})
        fetched = {path.split("/resolve/main/", 1)[1] for method, path in hub.requests
                   if method == "GET" and path.startswith("/org/repo/resolve/main/")}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["hub"]["module"].startswith("transformers_modules.org.repo")  # code came from the stub
    assert {"modeling_sru_ner.py", "pipeline_ner.py", "model.safetensors"} <= fetched
    assert out["hub"]["spans"] == out["local"]["spans"]
    assert out["hub"]["entities"] == out["local"]["entities"]
    assert any(out["hub"]["entities"][0]), "the overfitted model should find the example's mentions"


def test_pushed_token_classification_model_loads_from_hub_stub_in_fresh_environment(tmp_path, tiny_encoder_dir):
    """The token-classification family pushes and loads from the Hub like the others (its code, the
    shared helper modules, the pipeline and a generated card travel with it)."""
    import torch
    from transformers import AutoTokenizer

    from biomtl.modeling import TokenClassificationForNER
    from biomtl.trainer.export import save_hub_folder

    torch.manual_seed(0)
    model = TokenClassificationForNER.from_encoder(str(tiny_encoder_dir), make_results()["corpus_types"])
    model_dir = save_hub_folder(model, AutoTokenizer.from_pretrained(tiny_encoder_dir), tmp_path / "tc")
    results = dict(make_results(), model_family="token_classification", model_class="TokenClassificationForNER")
    (model_dir / "all_results.json").write_text(json.dumps(results))
    with HubStub(lifetime_s=400) as hub:
        biomtl_push(hub, tmp_path, str(model_dir), "org/repo")
        pushed = hub.files("org/repo")
        for name in ("modeling_token_classification.py", "configuration_token_classification.py", "bio_head.py",
                     "subwords.py", "tag_schemes.py", "family_base.py", "pipeline_ner.py", "README.md"):
            assert name in pushed, f"{name} was not pushed"
        assert "token classification" in pushed["README.md"].decode().lower()
        script = f"LOCAL = {str(model_dir)!r}\nTEXTS = {TEXTS!r}\nSENTENCES = {SENTENCES!r}\n" + LOAD_BOTH
        proc = run_without_biomtl(script, tmp_path / "fresh", extra_env={
            "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.endpoint, "HF_TOKEN": "hf_dummy_token_for_the_stub",
            "OMP_NUM_THREADS": "1"})
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["hub"]["module"].startswith("transformers_modules.org.repo")
    assert out["hub"]["spans"] == out["local"]["spans"] and any(out["hub"]["spans"])
    assert out["hub"]["entities"] == out["local"]["entities"]
