"""Training loop: config, sampling, checkpoints, exact resume, 2-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from corpus_fixtures import write_fake_corpora
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from biomtl.trainer.config import load_config
from biomtl.trainer.sampling import MultiCorpusBatchSampler


def test_config_overrides_and_errors(tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("corpora: [ncbi_disease, {name: bc5cdr, drops: [Chemical]}]\nepochs: 4\noptim: {head_lr: 0.001}\n")
    cfg = load_config(f, ["optim.encoder_lr=3e-5", "corpora.0.max_train_sentences=100", "model.family=sru_ner"])
    assert cfg.epochs == 4 and cfg.optim.encoder_lr == 3e-5 and cfg.optim.head_lr == 0.001
    assert cfg.corpora[0].name == "ncbi_disease" and cfg.corpora[0].max_train_sentences == 100
    assert cfg.corpora[1].drops == ["Chemical"]
    with pytest.raises(ValueError, match="unknown field"):
        load_config(f, ["optim.lr=1"])
    with pytest.raises(ValueError, match="config.epochs: expected float"):
        load_config(f, ["epochs=many"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        load_config(f, ["epochs"])
    with pytest.raises(ValueError, match="corpora"):
        load_config(None, [])


def test_inverse_sampling_gives_each_corpus_an_equal_share():
    corpus_of = ["big"] * 900 + ["small"] * 100
    s = MultiCorpusBatchSampler(corpus_of, [5] * 1000, batch_size=10, mode="inverse", seed=1)
    assert s.num_samples == 500  # mean corpus size
    drawn = Counter(corpus_of[i] for b in s.batches(0) for i in b)
    assert abs(drawn["small"] - 250) < 50
    assert s.batches(0) == s.batches(0) and s.batches(0) != s.batches(1)


def test_proportional_sampling_is_a_shuffled_epoch_and_batches_are_length_grouped():
    lengths = [i % 37 for i in range(400)]
    s = MultiCorpusBatchSampler(["a"] * 300 + ["b"] * 100, lengths, batch_size=8, mode="proportional", seed=2)
    batches = s.batches(3)
    assert sorted(i for b in batches for i in b) == list(range(400))
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 5


@settings(deadline=None)
@given(st.lists(st.integers(1, 60), min_size=1, max_size=40), st.integers(1, 200))
def test_split_to_budget_keeps_order_and_every_sentence_within_the_budget(lengths, budget):
    from biomtl.trainer.sampling import split_to_budget

    batch = list(range(len(lengths)))
    pieces = split_to_budget(batch, lengths, budget)
    assert [i for p in pieces for i in p] == batch  # nothing lost, duplicated or reordered
    for p in pieces:
        assert len(p) == 1 or len(p) * max(lengths[i] for i in p) <= budget
    # greedy is minimal for consecutive pieces: no piece could take the next one's first sentence
    for p, q in zip(pieces, pieces[1:]):
        assert (len(p) + 1) * max(lengths[i] for i in p + q[:1]) > budget


def test_batch_word_budget_cuts_only_the_long_batches_and_len_counts_them():
    lengths = [10] * 96 + [300] * 16  # 6 ordinary batches of 16 and one of 16 very long sentences
    s = MultiCorpusBatchSampler(["a"] * 112, lengths, batch_size=16, mode="proportional", seed=3,
                                max_batch_words=2600)
    batches = s.batches(0)
    assert sorted(i for b in batches for i in b) == list(range(112))
    assert all(len(b) * max(lengths[i] for i in b) <= 2600 for b in batches)
    assert sorted(len(b) for b in batches if lengths[b[0]] == 10) == [16] * 6
    assert sorted(len(b) for b in batches if lengths[b[0]] == 300) == [8, 8]
    assert len(s) == len(batches) == 8
    plain = MultiCorpusBatchSampler(["a"] * 112, lengths, batch_size=16, mode="proportional", seed=3)
    assert len(plain) == 7 and plain.batches(0) != batches


def test_temperature_sampling_interpolates():
    corpus_of = ["big"] * 900 + ["small"] * 100
    s = MultiCorpusBatchSampler(corpus_of, [1] * 1000, batch_size=10, mode="temperature", temperature=2.0)
    assert s.corpus_share["small"] == pytest.approx(100**0.5 / (100**0.5 + 900**0.5))


def _cfg(tmp_path, tiny_encoder_dir, out, *extra):
    src = write_fake_corpora(tmp_path / "src")
    return load_config(None, [
        "corpora=[ncbi_disease, bc5cdr]", f"source_dir={src}", f"model.encoder={tiny_encoder_dir}",
        "epochs=2", "batch_size=4", "eval_batch_size=16", f"output_dir={out}", "optim.head_lr=3e-3",
        "progress=false", "checkpoint_every_steps=2", "keep_checkpoints=10", "log_with=null", *extra])


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOMTL_CORPORA", raising=False)


def test_resume_after_kill_mid_epoch_gives_identical_results(tmp_path, tiny_encoder_dir, isolated_cache):
    from biomtl.trainer.loop import train

    full = train(_cfg(tmp_path, tiny_encoder_dir, tmp_path / "full"))
    # killed during epoch 2 (6 batches per epoch: inverse sampling, mean corpus size 24 / batch 4)
    killed = train(_cfg(tmp_path, tiny_encoder_dir, tmp_path / "resumed"), stop_after_steps=8)
    assert killed == {"stopped_at_step": 8}
    assert (tmp_path / "resumed" / "checkpoints" / "latest").read_text() == "step-0000008"
    resumed = train(_cfg(tmp_path, tiny_encoder_dir, tmp_path / "resumed", "resume_from=latest"))
    for key in ("best", "dev", "test"):
        assert resumed[key] == full[key], key
    assert [h["train_loss"] for h in resumed["history"]] == [h["train_loss"] for h in full["history"]]
    a = load_file(str(tmp_path / "full" / "best" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "best" / "model.safetensors"))
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    lines = (tmp_path / "full" / "eval_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_crash_during_checkpoint_save_keeps_previous_latest(tmp_path, tiny_encoder_dir, isolated_cache, monkeypatch):
    import biomtl.trainer.checkpoint as ck
    from biomtl.trainer.loop import train

    real = ck.optimizer_to_tensors
    calls = {"n": 0}

    def flaky(opt):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint (step 6) dies half-written
            raise KeyboardInterrupt("simulated crash")
        return real(opt)

    monkeypatch.setattr(ck, "optimizer_to_tensors", flaky)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path, tiny_encoder_dir, tmp_path / "run"))
    root = tmp_path / "run" / "checkpoints"
    assert (root / "latest").read_text() == "step-0000004"
    assert (root / "step-0000004" / "state.json").is_file()
    assert not (root / "step-0000006").exists()


@pytest.mark.slow
def test_two_process_training_gathers_every_dev_sentence_once(tmp_path, tiny_encoder_dir, isolated_cache):
    src = write_fake_corpora(tmp_path / "src", sizes=(16, 9, 7))
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"corpora: [ncbi_disease, bc5cdr]\nsource_dir: {src}\nmodel: {{encoder: {tiny_encoder_dir}}}\n"
                   f"epochs: 1\nbatch_size: 4\noutput_dir: {tmp_path / 'out'}\nprogress: false\nlog_with: null\n")
    env = dict(os.environ, BIOMTL_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    # accelerate 1.15: `--cpu --num_processes 2` starts ONE process (multi-CPU there needs mpirun);
    # `--multi_gpu --num_processes 2` on a machine without GPUs runs 2 CPU processes over gloo (MULTI_CPU)
    proc = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                           "-m", "biomtl.cli", "train", str(cfg)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "all_results.json").read_text())
    assert res["world_size"] == 2
    for mode in ("merged", "disjoint"):
        per = res["dev"][mode]["per_corpus"]
        assert {c: v["sentences"] for c, v in per.items()} == {"NCBI-disease": 9, "BC5CDR": 9}
        per = res["test"][mode]["per_corpus"]
        assert {c: v["sentences"] for c, v in per.items()} == {"NCBI-disease": 7, "BC5CDR": 7}
    assert Path(tmp_path / "out" / "best" / "config.json").is_file()


def test_eval_subsets_are_fixed_across_seeds_and_test_size_can_differ(tmp_path, isolated_cache):
    from biomtl.trainer.data import build_training_data

    src = write_fake_corpora(tmp_path / "src", sizes=(24, 20, 20))
    common = ["corpora=[ncbi_disease]", f"source_dir={src}", "corpora.0.max_train_sentences=10",
              "corpora.0.max_eval_sentences=5", "corpora.0.max_test_sentences=12"]
    a = build_training_data(load_config(None, [*common, "seed=1"]))
    b = build_training_data(load_config(None, [*common, "seed=2"]))
    assert len(a.dev) == 5 and len(a.test) == 12 and len(a.train) == 10
    # the training sample follows the seed; dev and test subsets do not (same sentences for every seed)
    assert [e["tokens"] for e in a.train] != [e["tokens"] for e in b.train]
    assert [e["tokens"] for e in a.dev] == [e["tokens"] for e in b.dev]
    assert [e["tokens"] for e in a.test] == [e["tokens"] for e in b.test]
    # without max_test_sentences the test split follows max_eval_sentences
    c = build_training_data(load_config(None, [*common[:-1], "seed=1"]))
    assert len(c.test) == 5


def test_config_from_dict_accepts_plain_corpus_names_and_validates():
    from biomtl.trainer.config import config_from_dict

    cfg = config_from_dict({"corpora": ["ncbi_disease", {"name": "bc5cdr", "max_test_sentences": 9}]})
    assert [c.name for c in cfg.corpora] == ["ncbi_disease", "bc5cdr"] and cfg.corpora[1].max_test_sentences == 9
    with pytest.raises(ValueError, match="sampling"):
        config_from_dict({"corpora": ["ncbi_disease"], "sampling": "random"})
