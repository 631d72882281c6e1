"""`python -m benchmarks.run --profile full` passes `--profile full` to every profiled experiment: each one
must accept it. Also the pieces of the paper-size MRC profile and the device plumbing that need no corpus,
no encoder and no training: the epochs -> steps budget, argument resolution, moving batches to a device."""

from __future__ import annotations

import argparse
import importlib

import pytest
import torch

from benchmarks import common, family_speed, mrc_low_resource
from benchmarks import run as bench_run

PROFILED = [e.name for e in bench_run.EXPERIMENTS if e.profiles]


def test_the_runner_lists_the_two_fixed_entry_points_as_profiled():
    assert {"mrc_low_resource", "family_speed"} <= set(PROFILED)


@pytest.mark.parametrize("name", PROFILED)
def test_every_profiled_experiment_has_a_full_profile(name):
    module = importlib.import_module(f"benchmarks.{name}")
    assert "full" in module.PROFILES


@pytest.mark.parametrize("name", PROFILED)
def test_every_profiled_experiment_parses_profile_full(name, capsys):
    """argparse acts on options in order: an invalid `--profile` exits with 2 before `--help` exits with 0,
    so this parses the real command line of each entry point without running it."""
    module = importlib.import_module(f"benchmarks.{name}")
    with pytest.raises(SystemExit) as exc:
        module.main(["--profile", "full", "--help"])
    assert exc.value.code == 0, capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        module.main(["--profile", "no-such-profile", "--help"])
    assert exc.value.code == 2
    capsys.readouterr()


# ---------------------------------------------------------------------------------------------------
# MRC low-resource: the epochs budget
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("epochs", "n", "batch", "steps"), [
    (100, 542, 32, 1694),      # 10 % of NCBI-disease train at the full profile: 54,200 / 32 = 1693.75
    (100, 5424, 32, 16950),    # 100 %: exactly 16,950
    (1, 10, 4, 3),             # a partial last batch is a step
    (2.5, 8, 4, 5),
    (0.7, 10, 7, 1),           # 0.7 * 10 / 7 is 1.0000000000000002 in floats: still one step
    (0.01, 3, 32, 1),          # never zero
])
def test_steps_for_epochs(epochs, n, batch, steps):
    assert mrc_low_resource.steps_for_epochs(epochs, n, batch) == steps


def test_steps_for_epochs_rejects_empty_budgets():
    for bad in ((0, 10, 4), (1, 0, 4), (1, 10, 0)):
        with pytest.raises(ValueError):
            mrc_low_resource.steps_for_epochs(*bad)


def _mrc_args(*argv: str) -> argparse.Namespace:
    return mrc_low_resource.resolve_args(mrc_low_resource.build_parser().parse_args(list(argv)))


def test_mrc_full_profile_settings():
    args = _mrc_args("--profile", "full")
    assert (args.profile_name, args.steps, args.epochs) == ("full", None, 100)
    assert (args.batch_size, args.lr, args.max_seq_length) == (32, 1e-5, 256)
    prof = mrc_low_resource.PROFILES["full"]
    assert prof["seeds_low"] == prof["seeds_high"] == [13, 14, 15]
    assert prof["fractions"] == [0.1, 0.25, 0.5, 1.0]
    assert prof["test_limit"] is None and prof["train_limit"] is None
    assert [mrc_low_resource.run_steps(args, n) for n in (542, 1356, 2712, 5424)] == [1694, 4238, 8475, 16950]


def test_mrc_quick_and_smoke_keep_fixed_steps_and_their_defaults():
    quick = _mrc_args()
    assert (quick.profile_name, quick.steps, quick.epochs, quick.batch_size) == ("quick", 120, None, 16)
    assert (quick.lr, quick.max_seq_length) == (2e-4, 128)
    assert mrc_low_resource.run_steps(quick, 542) == mrc_low_resource.run_steps(quick, 5424) == 120
    smoke = _mrc_args("--smoke")
    assert (smoke.profile_name, smoke.steps, smoke.epochs, smoke.batch_size) == ("smoke", 3, None, 4)
    assert (smoke.lr, smoke.max_seq_length) == (2e-4, 128)


def test_mrc_command_line_overrides_the_profile():
    args = _mrc_args("--profile", "full", "--steps", "50", "--lr", "3e-5", "--max-seq-length", "192")
    assert (args.steps, args.epochs, args.lr) == (50, None, 3e-5)
    assert (args.max_seq_length, args.batch_size) == (192, 32)
    assert mrc_low_resource.run_steps(args, 5424) == 50
    args = _mrc_args("--epochs", "2", "--batch-size", "8")
    assert (args.steps, args.epochs) == (None, 2)
    assert mrc_low_resource.run_steps(args, 20) == 5
    with pytest.raises(SystemExit):
        _mrc_args("--steps", "5", "--epochs", "2")


def _mrc_result(meta: dict) -> dict:
    runs = [{"row": row, "fraction": f, "seed": 13, "f1": 50.0, "train_s": 1.0, "epochs": 100.01,
             "steps": {0.1: 1694, 1.0: 16950}[f]} for row in "abcd" for f in (0.1, 1.0)]
    fractions = [0.1, 1.0]
    table = mrc_low_resource.summarise(runs, fractions)
    base = {"profile": "full", "batch_size": 32, "lr": 1e-5, "max_seq_length": 256, "encoder": "enc",
            "test_sentences": 940, "fractions": fractions, "machine": "x86_64", "cpus": 16, "threads": 2,
            "wall_s": 60.0, "command": "python -m benchmarks.mrc_low_resource --profile full",
            "steps_per_fraction": mrc_low_resource.steps_per_fraction(runs, fractions)}
    return {"meta": {**base, **meta}, "runs": runs, "summary": table,
            "trend": mrc_low_resource.trend_statement(table, fractions)}


def test_mrc_markdown_states_the_epochs_budget_and_the_device():
    meta = {"steps": None, "epochs": 100, "device": "cuda (NVIDIA H200)"}
    md = mrc_low_resource.to_markdown(_mrc_result(meta))
    assert ("Budget per run: 100 epochs over the sampled sentences (steps per fraction: 10%: 1694, "
            "100%: 16950) × 32 sentences, lr 1e-05, max_seq_length 256") in md
    assert "Machine: x86_64, 16 CPUs, device cuda (NVIDIA H200), 1 job(s)" in md


def test_mrc_markdown_keeps_the_fixed_steps_wording():
    md = mrc_low_resource.to_markdown(_mrc_result({"steps": 120, "epochs": None}))
    assert "Budget per run: 120 steps × 32 sentences, lr 1e-05" in md
    assert "Machine: x86_64, 16 CPUs, 1 job(s)" in md


# ---------------------------------------------------------------------------------------------------
# devices
# ---------------------------------------------------------------------------------------------------
def test_to_device_moves_tensors_and_keeps_everything_else():
    ids = torch.arange(6).reshape(2, 3)
    mask = torch.ones(2, 3, dtype=torch.bool)
    batch = {"input_ids": ids, "labels": None, "num": 3, "name": "x", "mask": mask}
    out = common.to_device(batch, "meta")
    assert out["input_ids"].device.type == "meta" and out["mask"].device.type == "meta"
    assert out["input_ids"].shape == (2, 3) and out["mask"].dtype == torch.bool
    assert out["labels"] is None and out["num"] == 3 and out["name"] == "x"
    assert batch["input_ids"] is ids and ids.device.type == "cpu"  # the input is left as it was
    same = common.to_device(batch, "cpu")
    assert same["input_ids"] is ids  # already there: no copy
    assert family_speed.to_device is common.to_device is mrc_low_resource.to_device


def test_default_device_follows_cuda_availability():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert common.default_device() == expected
    assert common.device_label("cpu") == "cpu"


def test_family_speed_full_profile():
    full = family_speed.PROFILES["full"]
    assert full.sentences is None and full.threads is None
    assert (full.warmup_steps, full.train_batch_size, full.repeats, full.batch_size) == (1000, 32, 5, 64)
    assert family_speed.PROFILES["quick"].warmup_lr_scale == 3.0


def test_family_speed_markdown_names_a_gpu_and_keeps_cpu_wording():
    def result(device: str | None) -> dict:
        mach = {"cpu": "Xeon", "cpu_count": 16, "torch": "2", "load_average_start": [0.1],
                "load_average_end": [0.2]}
        if device:
            mach["device"] = device
        return {"meta": {"profile": "full", "sentences": 2, "words": 9, "batch_size": 64, "repeats": 5,
                         "encoder": "enc", "machine": mach, "threads": 16, "wall_s": 3.0, "command": "c"},
                "settings": {"warmup_steps": 1000, "train_batch_size": 32}, "rows": [], "notes": []}

    assert "16 torch thread(s), device cuda (NVIDIA H200); load average" in family_speed.markdown(
        result("cuda (NVIDIA H200)"))
    assert "16 torch thread(s), CPU; load average" in family_speed.markdown(result("cpu"))
    assert "16 torch thread(s), CPU; load average" in family_speed.markdown(result(None))


def test_token_classification_helpers_follow_the_model_device(tiny_encoder_dir):
    """The baseline's collate and predict helpers put their tensors where the model is (CPU here; the
    same code moves them to CUDA on a GPU machine)."""
    from benchmarks.sru_speed import length_sorted_batches, load_tokenizer, tc_collate, tc_model, tc_predict

    model = tc_model(str(tiny_encoder_dir), seed=0)
    tok = load_tokenizer(str(tiny_encoder_dir))
    examples = [{"tokens": ["Familial", "breast", "cancer", "."], "corpus": "NCBI-disease",
                 "spans": [{"start": 1, "end": 3, "label": "NCBI-disease/Disease"}]},
                {"tokens": ["No", "disease"], "spans": [], "corpus": "NCBI-disease"}]
    batch = common.to_device(tc_collate(tok, examples), model.device)  # what warm_up does
    assert all(v.device == model.device for v in batch.values())
    spans = family_speed.tc_predict_spans(model, tok, [e["tokens"] for e in examples], batch_size=1)
    assert len(spans) == 2 and all(isinstance(s, list) for s in spans)
    # the baseline's spans are sru_speed.tc_predict's tags (one implementation, device-aware) as spans
    sentences = [e["tokens"] for e in examples]
    batches = length_sorted_batches(tok, sentences, 1)
    expected = tc_predict(model, tok, sentences, batches)
    assert spans == [family_speed.bio_ids_to_spans(t) for t in expected]


def test_family_speed_full_resolves_its_settings_without_running(tmp_path, monkeypatch):
    """`--profile full` fills threads / batches / repeats / warm-up from the profile (run() is stubbed)."""
    (tmp_path / "NCBI-disease-IOB").mkdir()
    (tmp_path / "NCBI-disease-IOB" / "test.tsv").write_text("")
    monkeypatch.setattr(family_speed, "CORPORA", tmp_path)
    threads = torch.get_num_threads()
    seen = {}

    class Stop(Exception):
        pass

    def fake_run(args, prof, argv):
        seen.update(vars(args), prof=prof)
        raise Stop

    monkeypatch.setattr(family_speed, "run", fake_run)
    with pytest.raises(Stop):
        family_speed.main(["--profile", "full", "--device", "cpu"])
    assert seen["profile_name"] == "full" and seen["prof"] is family_speed.PROFILES["full"]
    assert (seen["warmup_steps"], seen["train_batch_size"]) == (1000, 32)
    assert (seen["repeats"], seen["batch_size"]) == (5, 64)
    assert seen["threads"] is None and torch.get_num_threads() == threads  # torch's default left alone
    assert seen["warmup_lr_scale"] == 1.0 and seen["device"] == "cpu"
    with pytest.raises(Stop):
        family_speed.main(["--smoke", "--threads", str(threads), "--warmup-lr-scale", "2"])
    assert (seen["profile_name"], seen["threads"], seen["warmup_lr_scale"]) == ("smoke", threads, 2.0)
    assert seen["device"] == common.default_device()


def test_family_speed_verdict_judges_the_sru_ratio_and_the_report_uses_it():
    rows = [{"model": "SRU-NER", "ratio_vs_token_classification": 0.81},
            {"model": "token classification", "ratio_vs_token_classification": 1.0}]
    lines = family_speed.verdict({"rows": rows})
    assert lines[0] == "SRU-NER: 0.81x token classification; token classification: 1.00x token classification"
    assert lines[1].startswith("SRU-NER at 0.81x: reproduced")
    rows[0]["ratio_vs_token_classification"] = 0.4
    assert "NOT reproduced" in family_speed.verdict({"rows": rows})[1]
    assert bench_run.verdict_lines(bench_run.BY_NAME["family_speed"], {"rows": rows}) == family_speed.verdict(
        {"rows": rows})
