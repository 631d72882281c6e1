"""The benchmark plumbing that turns runs into BENCHMARKS.md: nested-mention scoring, summaries,
verdicts, plots and the report assembly (no model is trained here)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import layer_sliced as lsb
from benchmarks import mtl_vs_stl, nested_genia, partial_annotation
from benchmarks import run as bench_run
from benchmarks.common import mean_sd, steps_line


def test_nested_flags_and_scores_on_a_hand_built_example():
    # sentence 1: "IL-2 receptor alpha" (protein) contains "IL-2" (protein); "T cells" is flat
    gold = [[(0, 3, "protein"), (0, 1, "protein"), (5, 7, "cell_type")]]
    assert nested_genia.nested_flags(gold[0]) == [True, True, False]
    # the prediction finds the outer mention and the flat one, misses the inner one, adds a wrong flat one
    pred = [[(0, 3, "protein"), (5, 7, "cell_type"), (8, 9, "DNA")]]
    s = nested_genia.nested_scores(gold, pred)
    assert (s["overall"]["gold"], s["overall"]["pred"]) == (3, 3)
    assert s["overall"]["precision"] == pytest.approx(200 / 3) and s["overall"]["recall"] == pytest.approx(200 / 3)
    # nested: gold {outer, inner} -> recall 1/2; no predicted mention is nested -> precision 0
    assert (s["nested"]["gold"], s["nested"]["pred"]) == (2, 0)
    assert s["nested"]["recall"] == pytest.approx(50.0) and s["nested"]["precision"] == 0.0
    # flat: gold {T cells} found; predicted flat: the outer mention (nothing nests in the prediction), T cells, DNA
    assert (s["flat"]["gold"], s["flat"]["pred"]) == (1, 3)
    assert s["flat"]["recall"] == 100.0 and s["flat"]["precision"] == pytest.approx(200 / 3)


def test_nested_scores_overall_matches_a_plain_set_count():
    rng = random.Random(0)
    gold, pred = [], []
    for _ in range(30):
        spans = {(s, s + rng.randint(1, 4), rng.choice("ab")) for s in (rng.randrange(10) for _ in range(4))}
        gold.append(sorted(spans))
        pred.append(sorted(x for x in spans if rng.random() < 0.7) + [(11, 12, "a")])
    tp = sum(len(set(g) & set(p)) for g, p in zip(gold, pred))
    s = nested_genia.nested_scores(gold, pred)["overall"]
    assert s["recall"] == pytest.approx(100 * tp / sum(map(len, gold)))
    assert s["precision"] == pytest.approx(100 * tp / sum(map(len, pred)))


def test_mean_sd_and_steps_line():
    assert mean_sd([1.0, 3.0]) == {"mean": 2.0, "sd": pytest.approx(2**0.5), "n": 2, "min": 1.0, "max": 3.0}
    assert mean_sd([])["n"] == 0
    line = steps_line([{"row": "a", "steps": 10}, {"row": "a", "steps": 12}, {"row": "b", "steps": 5}])
    assert line == "Optimiser steps per run: a 10–12; b 5."


def _mtl_report() -> dict:
    """Synthetic experiment-1 records (MTL better than STL on every corpus) through the real summary."""
    records = []
    for seed in (13, 14):
        for i, corpus in enumerate(["NCBI-disease", "BC5CDR"]):
            for row, f1 in (("SRU-NER MTL", 70), ("SRU-NER STL", 65), ("Token classification STL", 68)):
                records.append({"row": row, "seed": seed, "corpus": corpus, "merged_f1": f1 - 1 + seed - 13,
                                "disjoint_f1": f1 + i + seed - 13, "wall_s": 10.0})
    summary = mtl_vs_stl.summarise(records)
    runs = [{"run": f"r{i}", "row": r["row"], "seed": r["seed"], "wall_s": 10.0, "steps": 40 + i}
            for i, r in enumerate(records)]
    meta = {"seeds": [13, 14], "train_sentences": 50, "epochs": 2, "batch_size": 8, "dev_sentences": 10,
            "test_sentences": 20, "encoder": "tiny", "machine": "test", "wall_s": 60.0,
            "command": "python -m benchmarks.mtl_vs_stl"}
    return {"benchmark": "mtl_vs_stl", "meta": meta, "records": records, "runs": runs, "summary": summary,
            "findings": mtl_vs_stl.findings(summary)}


def test_experiment_summary_and_verdict_follow_the_numbers():
    report = _mtl_report()
    cell = report["summary"]["cells"]["SRU-NER MTL|Average|disjoint"]
    # per seed, the average over corpora: seed 13 (70 + 71) / 2, seed 14 (71 + 72) / 2
    assert cell["mean"] == pytest.approx(71.0) and cell["n"] == 2
    assert "on 2 of the 2 corpora" in report["findings"][0] and "is reproduced" in report["findings"][0]
    md = mtl_vs_stl.markdown(report)
    assert "| Average | 69.50 ± 0.71 | 71.00 ± 0.71 | 66.00 ± 0.71 | 69.00 ± 0.71 |" in md


def test_mtl_verdict_judges_a_corpus_where_a_row_learned_nothing_apart():
    report = _mtl_report()
    records = [dict(r) for r in report["records"]]
    for r in records:  # STL learns nothing on BC5CDR; MTL is worse on NCBI-disease
        if r["row"] == "SRU-NER STL" and r["corpus"] == "BC5CDR":
            r["disjoint_f1"] = 0.0
        if r["row"] == "SRU-NER MTL" and r["corpus"] == "NCBI-disease":
            r["disjoint_f1"] = 50.0
    found = mtl_vs_stl.findings(mtl_vs_stl.summarise(records))
    assert "on 0 of the 1 corpora" in found[0] and "NOT reproduced" in found[0]
    assert found[1].startswith("Judged apart") and "BC5CDR" in found[1]


def test_partial_annotation_verdict_says_not_reproduced_when_far_below_full():
    records = []
    for seed in (13, 14):
        for row, micro in (("chemical half only", 40), ("disease half only", 35),
                           ("both halves (multi-task)", 60), ("full annotation (reference)", 70)):
            records.append({"row": row, "seed": seed, "test": {"micro": {"f1": micro}, "Chemical": {"f1": micro + 5},
                                                               "Disease": {"f1": micro - 5}}})
    findings = partial_annotation.findings(partial_annotation.summarise(records))
    assert "NOT reproduced" in findings[-1]
    assert "-10.00" in findings[0]


def test_report_assembles_sections_verdicts_and_plots(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(bench_run, "RESULTS", tmp_path)
    monkeypatch.setattr(bench_run, "ANALYSIS", tmp_path / "analysis.md")
    (tmp_path / "analysis.md").write_text("# notes\n\n## mtl_vs_stl\n\nWhy: a reason.\n\n## other\n\nno.\n")
    report = _mtl_report()
    (tmp_path / "mtl_vs_stl.json").write_text(json.dumps(report))
    (tmp_path / "mtl_vs_stl.md").write_text(mtl_vs_stl.markdown(report))
    text = bench_run.write_report("quick", {}, out_dir=tmp_path)
    assert (tmp_path / "mtl_vs_stl.png").stat().st_size > 1000  # the plot was drawn from the JSON
    assert "![mtl_vs_stl](mtl_vs_stl.png)" in text
    assert "## Do the seed papers' claims reproduce?" in text
    assert report["findings"][0] in text  # the verdict row quotes the experiment's own finding
    assert "#### Experiment 1" in text  # section headings nested under the report's
    assert "Not run yet for this profile:" in text and "nested_genia" in text
    assert "Why: a reason." in text and "no." not in text.split("## Experiment 1")[1]


# --- layer-sliced benchmark: GENIA flattening, seeds, merging ---------------------------------------


def test_outermost_keeps_the_flat_top_level_of_nested_mentions():
    spans = [{"start": 0, "end": 3, "label": "P"}, {"start": 1, "end": 2, "label": "P"},
             {"start": 0, "end": 3, "label": "P"}, {"start": 2, "end": 5, "label": "P"},
             {"start": 6, "end": 7, "label": "P"}]
    assert [(s["start"], s["end"]) for s in lsb.outermost(spans)] == [(0, 3), (6, 7)]
    assert lsb.outermost([]) == []


@given(st.lists(st.tuples(st.integers(0, 12), st.integers(1, 5)), max_size=12))
def test_outermost_is_a_non_overlapping_cover(pairs):
    spans = [{"start": a, "end": a + n, "label": "P"} for a, n in pairs]
    kept = lsb.outermost(spans)
    keys = [(s["start"], s["end"]) for s in kept]
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(keys, keys[1:]))  # sorted, no overlap
    assert set(keys) <= {(s["start"], s["end"]) for s in spans}
    for s in spans:  # nothing is lost silently: every dropped span overlaps a kept one
        assert any(a < s["end"] and s["start"] < b for a, b in keys)


def _ls_rows(category: str, seed: int, f1: dict[str, float], chosen_rate: float) -> list[dict]:
    """Minimal result rows of one (category, seed) run: MTL-XC, XC +budget, two LS rates, chosen."""
    corpora = ["A", "B"]

    def row(name, value, **extra):
        return {"category": category, "row": name, "seed": seed, "corpora": corpora, "k": 6, "n": 6, "steps": 4,
                "steps_incl_init": 8, "epochs": 1.0, "train_wall_s": 1.0, "eval_wall_s": 1.0,
                "test_f1": {c: value for c in corpora}, "dev_f1": {c: value for c in corpora}, **extra}

    rows = [row("MTL-XC", f1["xc"]), row("MTL-XC +budget", f1["ctrl"]),
            row("MTL-LS r=0.5", f1["0.5"], slicing_rate=0.5), row("MTL-LS r=1", f1["1"], slicing_rate=1.0)]
    chosen = {c: {"slicing_rate": chosen_rate, "k": 6, "test_f1": f1[f"{chosen_rate:g}"], "dev_f1": 0.0}
              for c in corpora}
    rows.append({"category": category, "row": "MTL-LS (r chosen on dev)", "seed": seed, "corpora": corpora,
                 "chosen": chosen, "test_f1": {c: f1[f"{chosen_rate:g}"] for c in corpora},
                 "dev_f1": {c: 0.0 for c in corpora}})
    return rows


def test_layer_sliced_findings_average_seeds_and_count_paired_wins():
    rows = (_ls_rows("disease", 13, {"xc": 70, "ctrl": 74, "0.5": 75, "1": 73}, 0.5)
            + _ls_rows("disease", 14, {"xc": 70, "ctrl": 76, "0.5": 72, "1": 75}, 1.0))
    lines = lsb.findings(rows)
    assert len(lines) == 2 and lines[0].startswith("disease/A:")
    # chosen: 75 (seed 13) and 75 (seed 14) -> 75.00 ± 0.00; control 74 and 76 -> mean 75: not beaten
    assert "(per seed: 0.5, 1) 75.00 ± 0.00 does not beat" in lines[0]
    assert "MTL-XC +budget 75.00 ± 1.41, beaten in 1 of 2 seed(s)" in lines[0]
    assert "r=0.5: 73.50, r=1: 74.00" in lines[0]
    agg = {a["row"]: a for a in lsb.aggregate(rows)}
    assert agg["MTL-LS (r chosen on dev)"]["chosen_rates"] == {"A": [0.5, 1.0], "B": [0.5, 1.0]}
    assert agg["MTL-XC"]["test_f1"]["A"]["n"] == 2


def test_layer_sliced_merge_replaces_only_the_rerun_category_and_seed():
    old_rows = (_ls_rows("disease", 13, {"xc": 70, "ctrl": 74, "0.5": 75, "1": 73}, 0.5)
                + _ls_rows("gene", 13, {"xc": 50, "ctrl": 51, "0.5": 52, "1": 53}, 1.0))
    for r in old_rows:
        del r["seed"]  # files written before seeds were recorded per row: the file-level seed applies
    old = {"seed": 13, "rows": old_rows, "command": "c0", "wall_s": 60.0, "threads": 2,
           "parts": [{"command": "c1", "wall_s": 60.0, "threads": 2, "categories": ["disease", "gene"]}]}
    new = _ls_rows("gene", 13, {"xc": 60, "ctrl": 61, "0.5": 62, "1": 63}, 1.0)
    new += _ls_rows("gene", 14, {"xc": 60, "ctrl": 61, "0.5": 62, "1": 63}, 1.0)
    part = {"command": "c2", "wall_s": 30.0, "threads": 2, "runs": ["gene@13", "gene@14"]}
    rows, parts = lsb.merge_runs(old, new, part)
    assert sorted({(r["category"], r["seed"]) for r in rows}) == [("disease", 13), ("gene", 13), ("gene", 14)]
    assert all(r["test_f1"]["A"] >= 60 for r in rows if r["category"] == "gene")  # old gene@13 rows replaced
    assert len(rows) == 15
    assert [p["runs"] for p in parts] == [["disease@13"], ["gene@13", "gene@14"]]


def test_layer_sliced_results_of_two_seeds_written_one_after_the_other_are_merged(tmp_path, monkeypatch):
    monkeypatch.setattr(lsb, "RESULTS", tmp_path)
    monkeypatch.setattr(lsb, "plot", lambda report, path: None)
    crf = [{"tags": 5, "what": "1 type", "batch": 4, "max_words": 8, "mean_words": 5.0, "viterbi_sent_per_s": 1.0,
            "forward_backward_sent_per_s": 1.0, "nll_backward_sent_per_s": 1.0}]
    for seed, xc in ((13, 50), (14, 60)):
        rows = _ls_rows("gene", seed, {"xc": xc, "ctrl": xc + 1, "0.5": xc + 2, "1": xc + 3}, 1.0)
        part = {"command": f"c{seed}", "wall_s": 60.0, "threads": 1, "runs": [f"gene@{seed}"]}
        report = {"profile": "quick", "machine": "m", "threads": 1, "settings": {"batch_size": 16, "steps": 4},
                  "rows": rows, "data": [], "parts": [part], "crf_throughput": crf, "wall_s": 60.0}
        with lsb.results_lock(tmp_path / "x.lock"):
            lsb.write_results(report, "x", rows, [], part, merge=True)
    saved = json.loads((tmp_path / "x.json").read_text())
    assert saved["seeds"] == [13, 14] and saved["wall_s"] == 120.0
    assert [p["runs"] for p in saved["parts"]] == [["gene@13"], ["gene@14"]]
    assert "gene/A: MTL-LS with r chosen on dev (per seed: 1, 1) 58.00 ± 7.07" in saved["findings"][0]
    assert "| gene | MTL-XC | 6/6 | 2 | A 55.00 ± 7.07, B 55.00 ± 7.07 |" in (tmp_path / "x.md").read_text()
