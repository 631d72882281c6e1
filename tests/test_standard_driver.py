"""The standard profile's driver end to end on a tiny model: derived corpus written by the shipped
`data_scripts`, a stored config trained by `biomtl train` in a subprocess, the best checkpoint
scored by `biomtl evaluate --nested`, the summary stored and rendered (experiment 3, GENIA)."""

from __future__ import annotations

import json

import yaml

from benchmarks import report, standard
from tests.conftest import corpus_path


def test_experiment3_run_is_a_stored_config_trained_evaluated_and_reported(tmp_path, monkeypatch, tiny_encoder_dir):
    monkeypatch.setenv("BIOMTL_CORPORA", str(corpus_path("GENIA-nested").parent))
    monkeypatch.setattr(standard, "DATA", tmp_path / "data")
    monkeypatch.setattr(report, "RESULTS", tmp_path / "results")
    standard.prepare_genia()
    name, cfg = next(iter(standard.exp3_runs().items()))
    assert name == "sru_genia_s13" and cfg["epochs"] == 10
    corpus = {**cfg["corpora"][0], "max_train_sentences": 16, "max_eval_sentences": 8}
    cfg = {**cfg, "corpora": [corpus], "epochs": 1, "model": {"family": "sru_ner", "encoder": str(tiny_encoder_dir)}}

    summary = standard.run_one("exp3", name, cfg, tmp_path / "results", tmp_path / "runs")

    stored = yaml.safe_load((tmp_path / "results" / "exp3" / f"{name}.yaml").read_text())
    assert stored["corpora"] == [corpus] and stored["output_dir"].endswith(f"exp3/{name}")
    assert json.loads((tmp_path / "results" / "exp3" / f"{name}.json").read_text()) == summary
    assert summary["command"] == f"biomtl train {summary['config']}" and summary["epochs_run"] == 1
    nesting = summary["evaluate"]["nesting"]
    test_docs = standard.load_results("exp3", tmp_path / "results")[name]["evaluate"]
    assert test_docs["nesting"] == nesting
    # the test documents have nested mentions, and the split into nested and flat adds up
    assert nesting["nested"]["gold"] > 0
    assert nesting["nested"]["gold"] + nesting["flat"]["gold"] == nesting["overall"]["gold"]
    monkeypatch.setattr(report, "load_results", lambda exp: standard.load_results(exp, tmp_path / "results"))
    text = "\n".join(report.exp3_markdown())
    assert f"| {name} | nested |" in text and f"| {name} | flat |" in text
    assert (tmp_path / "results" / "exp3_dev_curves.png").is_file()
