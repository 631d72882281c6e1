"""The standard profile's report logic: the verdict rule of issue 16 and the experiment-1 table built
from stored run summaries (synthetic ones here; no model is trained)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import report, standard


@pytest.mark.parametrize("paper, diffs, expected", [
    (-1.0, [-0.8, -0.7], "reproduced"),  # same sign, |mean| 0.75 > max(2 x 0.07, 0.5)
    (-1.0, [-0.4, -0.45], "inconclusive"),  # below the 0.5 floor
    (-1.0, [0.2, 1.8], "inconclusive"),  # mean 1.0 but 2 x SD = 2.26
    (-1.0, [0.9, 1.0], "not reproduced"),  # opposite sign with the margin
    (+0.5, [1.5], "inconclusive (1 seed)"),  # one seed needs > 2 F1
    (+0.5, [2.5], "reproduced"),
    (+0.5, [-2.5], "not reproduced"),
    (+0.5, [], "not run"),
])
def test_verdict_rule(paper, diffs, expected):
    assert report.verdict(paper, diffs) == expected


@settings(deadline=None)
@given(st.floats(-5, 5).filter(lambda x: x != 0), st.lists(st.floats(-10, 10), min_size=1, max_size=4))
def test_verdict_flips_with_the_sign_of_our_differences(paper, diffs):
    """Negating our differences swaps reproduced and not reproduced and keeps the inconclusive ones."""
    swap = {"reproduced": "not reproduced", "not reproduced": "reproduced"}
    v = report.verdict(paper, diffs)
    assert report.verdict(paper, [-d for d in diffs]) == swap.get(v, v)


def _summary(run: str, per_corpus: dict[str, float], disjoint: dict[str, float] | None = None) -> dict:
    disjoint = disjoint or per_corpus
    return {"run": run, "best": {"epoch": 3}, "epochs_run": 3, "last_epoch_dev_change": 0.3, "wall_s": 600.0,
            "machine": "test box",
            "dev_curve": [{"epoch": e, "merged_average_f1": 70.0 + e} for e in (1, 2, 3)],
            "test": {"merged": {**per_corpus, "average": sum(per_corpus.values()) / len(per_corpus)},
                     "disjoint": {**disjoint, "average": sum(disjoint.values()) / len(disjoint)}}}


def test_exp1_table_from_stored_runs(tmp_path, monkeypatch):
    """MTL 1 F1 above STL on NCBI-disease in both seeds -> the difference, the paper's, the verdict;
    the baseline check reads the token-classification NCBI-disease runs; missing runs show as dashes."""
    folder = tmp_path / "exp1"
    folder.mkdir()
    stl = {"NCBI-disease": 80.0, "BC5CDR": 85.0, "BC2GM": 75.0, "Linnaeus": 88.0}
    for seed, shift in ((13, 0.0), (14, 0.2)):
        mtl = {c: v + 1.0 + shift for c, v in stl.items()}
        runs = {f"sru_mtl4_s{seed}": _summary("", {c: v - 2 for c, v in mtl.items()}, disjoint=mtl),
                f"tc_ncbi_disease_s{seed}": _summary("", {"NCBI-disease": 83.5})}
        for key, corpus in standard.EXP1_CORPORA.items():
            runs[f"sru_{key}_s{seed}"] = _summary("", {corpus: stl[corpus] + shift})
        for name, r in runs.items():
            (folder / f"{name}.json").write_text(json.dumps(r))
    monkeypatch.setattr(standard, "RESULTS", tmp_path)
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    lines = report.exp1_markdown()
    text = "\n".join(lines)
    ncbi = next(line for line in lines if line.startswith("| NCBI-disease |"))
    cells = [c.strip() for c in ncbi.strip("|").split("|")]
    assert cells[1] == "80.10 ± 0.14"  # SRU STL over the two seeds
    assert cells[2] == "81.10 ± 0.14 / 79.10 ± 0.14"  # SRU MTL disjoint / merged
    assert cells[3] == "83.50 ± 0.00" and cells[4] == "– / –"  # TC STL; TC MTL not run
    assert cells[5] == "89.25 / 88.71 / 87.32"
    # disjoint: +1.00 in both seeds against the paper's -0.54 -> opposite sign beyond max(0, 0.5)
    assert cells[6] == "1.00 ± 0.00 (-0.54)" and cells[7] == "not reproduced"
    # merged: -1.00 against the paper's -1.93 -> same sign -> reproduced
    assert cells[8] == "-1.00 ± 0.00 (-1.93)" and cells[9] == "reproduced"
    assert cells[10] == "–"
    # the average row: STL mean over the four corpora per seed, MTL its own average
    avg = [c.strip() for c in next(x for x in lines if x.startswith("| **Average**")).strip("|").split("|")]
    assert avg[1] == "82.10 ± 0.14" and avg[6].startswith("1.00 ± 0.00")
    assert "**Baseline check**" in text and "83.50 ± 0.00: met" in text
    assert "| sru_mtl4_s13 | 71.00, 72.00, 73.00 | 3 / 3 | 0.30 |" in text
    assert (tmp_path / "exp1_dev_curves.png").is_file()


def test_exp1_runs_train_on_full_splits_with_the_equal_budget_sampler():
    runs = standard.exp1_runs()
    for name, cfg in runs.items():
        standard._no_subsampling(name, cfg)  # raises on any subsampled corpus
        assert cfg["epochs"] == 3
    assert runs["sru_mtl4_s13"]["sampling"] == "proportional"
    assert runs["sru_mtl4_s13"]["corpora"] == list(standard.EXP1_CORPORA)
    assert runs["tc_bc2gm_s14"]["corpora"] == ["bc2gm"] and runs["tc_bc2gm_s14"]["seed"] == 14
