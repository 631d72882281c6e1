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
    assert "**Baseline check**" in text and "83.50 ± 0.00: **met**" in text
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


def _write(folder, runs: dict[str, dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, r in runs.items():
        (folder / f"{name}.json").write_text(json.dumps(r))


def _use(tmp_path, monkeypatch):
    monkeypatch.setattr(standard, "RESULTS", tmp_path)
    monkeypatch.setattr(report, "RESULTS", tmp_path)


def _cells(lines: list[str], first: str) -> list[str]:
    return [c.strip() for c in next(x for x in lines if x.startswith(f"| {first} |")).strip("|").split("|")]


def test_exp2_scores_each_row_on_the_full_test_and_judges_both_halves(tmp_path, monkeypatch):
    def run(chem: float, dis: float) -> dict:
        per = {"BC5CDR/Chemical": {"f1": chem}, "BC5CDR/Disease": {"f1": dis}}
        return {**_summary("", {"BC5CDR": 0.0}), "evaluate": {"per_type": per, "micro": {"f1": (chem + dis) / 2}}}

    runs = {}
    for seed, shift in ((13, 0.0), (14, 0.4)):
        runs |= {f"sru_chem_half_s{seed}": run(88.0 + shift, 0.0), f"sru_disease_half_s{seed}": run(0.0, 80.0),
                 f"sru_both_halves_s{seed}": run(87.0 + shift, 81.0 + shift), f"sru_full_s{seed}": run(90.0, 84.0)}
    _write(tmp_path / "exp2", runs)
    _use(tmp_path, monkeypatch)
    lines = report.exp2_markdown()
    assert _cells(lines, "both halves")[1:3] == ["87.20 ± 0.28", "81.20 ± 0.28"]
    assert _cells(lines, "chem half")[4] == "91.27 / –"
    text = "\n".join(lines)
    # Chemical: -1.00 in both seeds against the paper's +0.54 -> not reproduced; Disease +1.0 / +1.4 -> reproduced
    assert "- Chemical: both halves − chem half -1.00 ± 0.00 (paper +0.54): **not reproduced**." in text
    assert "- Disease: both halves − disease half 1.20 ± 0.28 (paper +0.69): **reproduced**." in text


def test_exp4_compares_each_method_with_token_classification_per_fraction(tmp_path, monkeypatch):
    runs = {}
    for pct in standard.EXP4_EPOCHS:
        for seed in (13, 14) if pct <= 25 else (13,):
            for i, tag in enumerate(standard.EXP4_METHODS):
                runs[f"{tag}_frac{pct}_s{seed}"] = _summary("", {"NCBI-disease": 70.0 + pct / 10 + i})
    _write(tmp_path / "exp4", runs)
    _use(tmp_path, monkeypatch)
    lines = report.exp4_markdown()
    ten = _cells(lines, "10 %")
    assert ten[1:5] == ["71.00 ± 0.00", "72.00 ± 0.00", "73.00 ± 0.00", "74.00 ± 0.00"]
    # ner_mrc 2 above tc in both seeds against the paper's +1.98; ner_mg +3 against +3.29
    assert ten[5:9] == ["2.00 ± 0.00 (+1.98)", "reproduced", "3.00 ± 0.00 (+3.29)", "reproduced"]
    hundred = _cells(lines, "100 %")
    assert hundred[5:7] == ["2.00 (1 seed) (–)", "no paper number"]
    assert hundred[8] == "reproduced"  # +3.00 against +0.55 with one seed: beyond the 2 F1 one-seed margin


def test_exp5_chooses_the_rate_on_dev_and_judges_it_against_mtl_xc(tmp_path, monkeypatch):
    both = ("NCBI-disease", "BC5CDR-disease")

    def run(test: float, dev: float = 80.0, corpora=both) -> dict:
        r = _summary("", {c: test for c in corpora})
        r["dev"] = {"merged": {"average": dev}}
        return r

    runs = {}
    for seed in (13, 14):
        runs[f"stl_ncbi_disease_s{seed}"] = run(84.0, corpora=("NCBI-disease",))
        runs[f"stl_bc5cdr_disease_s{seed}"] = run(78.0, corpora=("BC5CDR-disease",))
        runs[f"xc_s{seed}"] = run(83.0)
        for rate, dev in zip(standard.EXP5_RATES, (79.0, 82.0, 81.0, 80.0)):
            runs[f"ls{int(rate * 100)}_s{seed}"] = run(83.0 + dev - 80.0, dev)
    _write(tmp_path / "exp5", runs)
    _use(tmp_path, monkeypatch)
    lines = report.exp5_markdown()
    assert "**r = 0.5**" in "\n".join(lines)
    ncbi = _cells(lines, "NCBI-disease")
    assert ncbi[1:3] == ["84.00 ± 0.00", "83.00 ± 0.00"]
    # XC - STL: -1 against the paper's +0.49 -> not reproduced; LS(0.5) - XC: +2 against -1.96 -> not reproduced
    assert ncbi[8:12] == ["-1.00 ± 0.00 (+0.49)", "not reproduced", "2.00 ± 0.00 (-1.96)", "not reproduced"]
    bc5 = _cells(lines, "BC5CDR-disease")
    assert bc5[8:10] == ["5.00 ± 0.00 (+0.43)", "reproduced"]
