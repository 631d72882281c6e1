"""Partial-annotation exposure (`biomtl data exposure`): n-gram counts against a brute-force count over
the joined text, the per-type report on hand-made corpora, and the command on the real corpora."""

from __future__ import annotations

import pytest
from datasets import DatasetDict
from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.cli import main as cli_main
from biomtl.data_scripts import make_example, write_iob2
from biomtl.data_scripts.exposure import exposure, ngram_counts
from biomtl.data_scripts.prepare import to_dataset_dict

WORDS = st.sampled_from(["Mice", "mice", "human", "cells", "of", "HIV"])


@settings(deadline=None, max_examples=80)
@given(st.lists(st.lists(WORDS, max_size=8), max_size=6),
       st.sets(st.lists(WORDS, min_size=1, max_size=3).map(lambda ws: tuple(w.lower() for w in ws)), max_size=5))
def test_ngram_counts_match_a_brute_force_count(sentences, texts):
    counts = ngram_counts(texts, sentences)
    for t in texts:
        needle = " " + " ".join(t) + " "
        expected = 0
        for words in sentences:
            hay = " " + " ".join(w.lower() for w in words) + " "
            expected += sum(hay.startswith(needle, i) for i in range(len(hay)))
        assert counts[t] == expected


def _corpus(name, train, test):
    def rows(sents):
        return [make_example(f"{name}{i}", name, "", toks, spans) for i, (toks, spans) in enumerate(sents)]
    return to_dataset_dict({"train": rows(train), "test": rows(test)})


def test_exposure_counts_only_corpora_that_do_not_annotate_the_type():
    species = [{"start": 0, "end": 1, "label": "Species"}]
    disease = [{"start": 2, "end": 3, "label": "Disease"}]
    corpora = {
        "Sp": _corpus("Sp", [(["mice", "were", "used"], species)], [(["Mice", "and", "yeast"], species + [
            {"start": 2, "end": 3, "label": "Species"}])]),
        "Dis": _corpus("Dis", [(["mice", "with", "cancer"], disease), (["patients", "and", "mice"], [])],
                       [(["mice", "had", "cancer"], disease)]),
        "Dis2": _corpus("Dis2", [(["cancer", "in", "cancer"], [{"start": 0, "end": 1, "label": "Disease"},
                                                              {"start": 2, "end": 3, "label": "Disease"}])],
                        [(["x", "y", "z"], [])]),
    }
    rows = {(r["corpus"], r["type"]): r for r in exposure(corpora)}
    sp = rows["Sp", "Species"]
    assert sp["mentions"] == 2 and sp["unannotated_in"] == ["Dis", "Dis2"]
    assert sp["share_by_occurrences"] == {"0": 50.0, "1-9": 50.0, "10-99": 0.0, "100+": 0.0}  # yeast 0, mice 2
    assert sp["top"] == [{"text": "mice", "mentions": 1, "occurrences": 2}]
    # Dis2 annotates Disease too, so its "cancer"s do not count; Sp's train has no "cancer"
    assert rows["Dis", "Disease"]["unannotated_in"] == ["Sp"]
    assert rows["Dis", "Disease"]["share_by_occurrences"]["0"] == 100.0
    assert ("Dis2", "Disease") in rows and rows["Dis2", "Disease"]["mentions"] == 0
    # declared types (the registry's) win over the spans: a corpus that annotates Species without a
    # single species mention is not one where species go unannotated
    declared = {(r["corpus"], r["type"]): r for r in exposure(corpora, types={"Dis2": ["Disease", "Species"]})}
    assert declared["Sp", "Species"]["unannotated_in"] == ["Dis"]
    assert ("Dis2", "Species") in declared and declared["Dis2", "Species"]["mentions"] == 0
    with pytest.raises(ValueError, match="corpus Sp has no split 'train'"):
        exposure({"Sp": DatasetDict({"test": corpora["Sp"]["test"]}), "Dis": corpora["Dis"]})


def test_exposure_command_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    gene = [{"start": 0, "end": 1, "label": "GENE"}]
    files = {"NCBI-disease-IOB": [["BRCA1", "carriers", "get", "cancer"]] * 3,
             "BC2GM-IOB": [["BRCA1", "binds", "RAD51"]] * 3}
    for folder, sents in files.items():
        (tmp_path / "src" / folder).mkdir(parents=True)
        for split in ("train", "devel", "test"):
            rows = [make_example(f"{split}{i}", "X", "", toks, gene if folder == "BC2GM-IOB" else
                                 [{"start": 3, "end": 4, "label": "Disease"}]) for i, toks in enumerate(sents)]
            write_iob2(tmp_path / "src" / folder / f"{split}.tsv", rows)
    assert cli_main(["data", "exposure", "bc2gm", "ncbi_disease", "--source-dir", str(tmp_path / "src")]) == 0
    table = capsys.readouterr().out
    assert "| BC2GM | Gene | 3 | NCBI-disease | 0.0 | 100.0 | 0.0 | 0.0 | brca1 (3; 3x) |" in table
    assert "| NCBI-disease | Disease | 3 | BC2GM | 100.0 | 0.0 | 0.0 | 0.0 |  |" in table
    assert cli_main(["data", "exposure", "bc2gm", "--source-dir", str(tmp_path / "src")]) == 2
    assert "two or more corpora" in capsys.readouterr().err
