"""`biomtl evaluate` (incl. cross-corpus type maps) and `biomtl demo` end to end on tiny models."""

from __future__ import annotations

import json

import pytest
from corpus_fixtures import write_fake_corpora

from biomtl.cli import main as cli_main
from biomtl.trainer.train_cli import relabel_for_corpus


def test_relabel_for_corpus_strips_maps_prefixes_and_dedupes():
    pred = [{"start": 0, "end": 1, "label": "BC2GM/Gene", "score": 0.9},
            {"start": 0, "end": 1, "label": "JNLPBA/Gene", "score": 0.8},
            {"start": 2, "end": 4, "label": "NCBI-disease/Disease", "score": 0.7}]
    out = relabel_for_corpus(pred, "JNLPBA", {"Gene": "protein"})
    assert [(s["start"], s["end"], s["label"]) for s in out] == [(0, 1, "JNLPBA/protein"), (2, 4, "JNLPBA/Disease")]
    out = relabel_for_corpus(pred, "X", {"NCBI-disease/Disease": "Illness"})
    assert out[-1]["label"] == "X/Illness"


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOMTL_CORPORA", raising=False)
    return tmp_path


def test_demo_then_cross_corpus_evaluate(isolated, tiny_encoder_dir, capsys, monkeypatch):
    src = write_fake_corpora(isolated / "src", sizes=(16, 6, 6))
    rc = cli_main(["demo", "--corpora-dir", str(src), "--output-dir", str(isolated / "demo"), "--encoder",
                   str(tiny_encoder_dir), "--train-sentences", "16", "--dev-sentences", "6", "--epochs", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "dev scores of the best epoch" in out and "Average" in out
    assert out.count("Cisplatin-induced") == 1  # the pipeline ran on the example sentences
    best = isolated / "demo" / "run" / "best"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "README.md", "all_results.json"):
        assert (best / name).is_file(), name

    # cross-corpus: the model knows NCBI-disease/Disease and BC5CDR/{Chemical,Disease};
    # score it on BC5CDR's disease-only view, in merged mode, mapping Disease -> Disease explicitly
    report = isolated / "eval.json"
    rc = cli_main(["evaluate", str(best), "--corpus", "bc5cdr_disease", "--source-dir", str(src), "--split", "test",
                   "--type-map", "Disease=Disease", "--output", str(report)])
    assert rc == 0
    rep = json.loads(report.read_text())
    assert rep["mode"] == "merged" and rep["conflicts"] == "resolve"
    assert list(rep["per_corpus"]) == ["BC5CDR-disease"] and rep["per_corpus"]["BC5CDR-disease"]["sentences"] == 6
    gold_mentions = sum(1 for line in (src / "BC5CDR-IOB" / "test.tsv").read_text().splitlines()
                        if line.endswith("B-Disease"))
    assert rep["micro"]["tp"] + rep["micro"]["fn"] == gold_mentions
    assert cli_main(["evaluate", str(best), "--corpus", "bc5cdr_disease", "--source-dir", str(src),
                     "--conflicts", "keep", "--output", str(report)]) == 0
    assert json.loads(report.read_text())["conflicts"] == "keep" and "conflicts=keep" in capsys.readouterr().out

    # the issue-18 measurement (the conflicts experiment's scoring of its run) on the same tiny model:
    # both corpora, keep vs resolve, through `biomtl evaluate` in a subprocess
    from benchmarks import standard

    monkeypatch.setenv("BIOMTL_CORPORA", str(src))
    rows = standard.score_conflicts(best, isolated / "conflicts.json")["rows"]
    assert json.loads((isolated / "conflicts.json").read_text())["rows"] == rows
    assert [(r["corpus"], r["conflicts"]) for r in rows] == [
        ("NCBI-disease", "keep"), ("NCBI-disease", "resolve"), ("BC5CDR", "keep"), ("BC5CDR", "resolve")]
    for keep, resolve in (rows[:2], rows[2:]):
        assert keep["tp"] + keep["fn"] == resolve["tp"] + resolve["fn"] > 0  # same gold
        assert resolve["tp"] + resolve["fp"] <= keep["tp"] + keep["fp"]  # resolving only removes predictions
    # disjoint mode on a corpus the model never saw is refused with a clear message
    assert cli_main(["evaluate", str(best), "--corpus", "bc5cdr_disease", "--source-dir", str(src),
                     "--mode", "disjoint"]) == 2
    assert "use --mode merged" in capsys.readouterr().err


def test_demo_without_corpora_folder_says_what_to_do(isolated, capsys):
    assert cli_main(["demo", "--corpora-dir", str(isolated / "missing")]) == 2
    assert "--corpora-dir" in capsys.readouterr().err
