"""prepare / stats / collections / derived sets, on small fixtures and (when present) the real corpora."""

from __future__ import annotations

import pytest
from conftest import corpus_path

from biomtl.cli import main as cli_main
from biomtl.data_scripts import (
    FEATURES,
    MultiCorpusCollection,
    corpus_stats,
    document_split,
    make_example,
    partial_annotation_split,
    prepare_corpus,
    subsample,
    write_iob2,
    write_jsonlines,
)
from biomtl.data_scripts.prepare import to_dataset_dict

README_COUNTS = {  # ../shared/corpora/README.md
    "ncbi_disease": (5424, 923, 940),
    "bc5cdr": (4560, 4581, 4797),
    "bc2gm": (12574, 2519, 5038),
    "linnaeus": (11935, 4078, 7142),
}


def _fake_corpus(root, folder, n=6, label="Disease", doc=""):
    (root / folder).mkdir(parents=True)
    for i, fname in enumerate(["train.tsv", "devel.tsv", "test.tsv"]):
        rows = [make_example(f"x{j}", "X", doc, ["w", f"s{i}{j}", "."], [{"start": 1, "end": 2, "label": label}])
                for j in range(n + i)]
        write_iob2(root / folder / fname, rows)


def test_prepare_saves_and_reloads_without_reparsing(tmp_path, monkeypatch):
    _fake_corpus(tmp_path / "src", "BC2GM-IOB", label="GENE")
    out = tmp_path / "prepared"
    first = prepare_corpus("bc2gm", source_dir=tmp_path / "src", output_dir=out)
    assert not first.reloaded
    assert first.dataset["train"].features == FEATURES
    assert {s: len(d) for s, d in first.dataset.items()} == {"train": 6, "validation": 7, "test": 8}
    assert first.dataset["train"][0]["spans"] == [{"start": 1, "end": 2, "label": "Gene"}]  # renamed GENE -> Gene
    assert first.dataset["train"][0]["corpus"] == "BC2GM"

    import biomtl.data_scripts.prepare as prep

    def no_parse(*a, **k):
        raise AssertionError("re-parsed")

    monkeypatch.setattr(prep, "read_corpus", no_parse)
    again = prepare_corpus("bc2gm", source_dir=tmp_path / "src", output_dir=out)
    assert again.reloaded and again.dataset["test"].to_list() == first.dataset["test"].to_list()


def test_prepare_missing_source_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("BIOMTL_CORPORA", raising=False)
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    assert cli_main(["data", "prepare", "ncbi_disease"]) == 2
    err = capsys.readouterr().err
    assert "--source-dir" in err and "offline" in err and "Traceback" not in err
    assert cli_main(["data", "prepare", "ncbi_disease", "--source-dir", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_reports_bad_line(tmp_path, capsys):
    _fake_corpus(tmp_path / "src", "NCBI-disease-IOB")
    bad = tmp_path / "src" / "NCBI-disease-IOB" / "devel.tsv"
    bad.write_text("a\tO\nb\n")
    rc = cli_main(["data", "stats", "ncbi_disease", "--source-dir", str(tmp_path / "src"),
                   "--output", str(tmp_path / "out")])
    assert rc == 2
    assert f"{bad}:2: no tag column" in capsys.readouterr().err


def test_collection_prefixes_types_and_knows_corpus_type_sets():
    a = to_dataset_dict({"train": [make_example("a0", "A", "", ["x", "y"], [{"start": 0, "end": 1, "label": "Disease"}])]})
    b = to_dataset_dict({"train": [make_example("b0", "B", "", ["x", "y"], [{"start": 0, "end": 1, "label": "Chemical"},
                                                                          {"start": 1, "end": 2, "label": "Disease"},
                                                                          {"start": 1, "end": 2, "label": "Junk"}])]})
    col = MultiCorpusCollection({"NCBI": a, "CDR": b}, drops={"CDR": ["Junk"]})
    assert col.corpus_types == {"NCBI": ["NCBI/Disease"], "CDR": ["CDR/Chemical", "CDR/Disease"]}
    assert col.merged_type_map == {"NCBI/Disease": "Disease", "CDR/Chemical": "Chemical", "CDR/Disease": "Disease"}
    train = col.split("train")
    assert train["corpus"] == ["NCBI", "CDR"]
    assert train[1]["spans"] == [{"start": 0, "end": 1, "label": "CDR/Chemical"},
                                 {"start": 1, "end": 2, "label": "CDR/Disease"}]
    assert col.dropped_mentions == {"NCBI": 0, "CDR": 1}
    with pytest.raises(ValueError, match="must not contain"):
        MultiCorpusCollection({"A/B": a})


def _toy(n, doc_every=3):
    rows = [make_example(f"t{i}", "BC5CDR", f"d{i // doc_every}", ["a", "b"],
                         [{"start": 0, "end": 1, "label": "Chemical"}, {"start": 1, "end": 2, "label": "Disease"}])
            for i in range(n)]
    return to_dataset_dict({"train": rows, "validation": rows[: n // 2], "test": rows[:4]})


def test_partial_annotation_split_is_disjoint_seeded_and_typed():
    dd = _toy(40)
    halves = partial_annotation_split(dd, seed=3)
    chem, dis = halves["BC5CDR-chem-half"], halves["BC5CDR-disease-half"]
    for split in ("train", "validation"):
        ids_c, ids_d = set(chem[split]["id"]), set(dis[split]["id"])
        assert not ids_c & ids_d and ids_c | ids_d == set(dd[split]["id"])
        assert abs(len(ids_c) - len(ids_d)) <= 1
        assert {s["label"] for sp in chem[split]["spans"] for s in sp} == {"Chemical"}
        assert {s["label"] for sp in dis[split]["spans"] for s in sp} == {"Disease"}
    assert chem["test"].to_list() == dd["test"].to_list()
    assert partial_annotation_split(dd, seed=3)["BC5CDR-chem-half"]["train"]["id"] == chem["train"]["id"]
    assert partial_annotation_split(dd, seed=4)["BC5CDR-chem-half"]["train"]["id"] != chem["train"]["id"]


def test_subsamples_are_seeded_nested_and_sized():
    ds = _toy(200)["train"]
    s10, s25, s50 = (subsample(ds, f, seed=7) for f in (0.1, 0.25, 0.5))
    assert (len(s10), len(s25), len(s50)) == (20, 50, 100)
    assert set(s10["id"]) <= set(s25["id"]) <= set(s50["id"])
    assert subsample(ds, 0.1, seed=7)["id"] == s10["id"]
    with pytest.raises(ValueError):
        subsample(ds, 0)


def test_document_split_keeps_documents_whole():
    ds = _toy(100, doc_every=4)["train"]
    dd = document_split(ds, 0.2, seed=1)
    assert not set(dd["train"]["doc_id"]) & set(dd["test"]["doc_id"])
    assert len(dd["train"]) + len(dd["test"]) == 100
    assert len(set(dd["test"]["doc_id"])) == 5  # 20% of 25 documents


def test_jsonlines_corpus_prepares_with_nesting(tmp_path):
    rows = [make_example("g0", "GENIA", "MEDLINE:1", ["IL-2", "gene", "expression"],
                         [{"start": 0, "end": 1, "label": "protein"}, {"start": 0, "end": 2, "label": "DNA"}])]
    (tmp_path / "GENIA-nested").mkdir()
    write_jsonlines(tmp_path / "GENIA-nested" / "dev.jsonlines", rows)
    pc = prepare_corpus("genia_nested", source_dir=tmp_path, output_dir=tmp_path / "out")
    assert list(pc.dataset) == ["validation"]
    assert corpus_stats(pc.dataset)["validation"]["nested_pairs"] == 1


@pytest.mark.corpora
@pytest.mark.parametrize("name", sorted(README_COUNTS))
def test_stats_reproduce_readme_sentence_counts(name, tmp_path, capsys):
    src = corpus_path("NCBI-disease-IOB").parent
    assert cli_main(["data", "stats", name, "--source-dir", str(src), "--output", str(tmp_path / name),
                     "--json"]) == 0
    import json

    out = json.loads(capsys.readouterr().out)
    got = tuple(out["splits"][s]["sentences"] for s in ("train", "validation", "test"))
    assert got == README_COUNTS[name]
    assert out["repairs"]["total"] == 0


@pytest.mark.corpora
def test_genia_nested_dev_counts_and_document_split(tmp_path):
    src = corpus_path("GENIA-nested").parent
    pc = prepare_corpus("genia_nested", source_dir=src, output_dir=tmp_path / "g")
    dev = pc.dataset["validation"]
    assert len(dev) == 1765 and sum(len(s) for s in dev["spans"]) == 4714
    dd = document_split(dev, 0.2, seed=13)
    assert not set(dd["train"]["doc_id"]) & set(dd["test"]["doc_id"])


def test_download_verifies_checksums_into_the_cache(tmp_path, monkeypatch):
    """Online path, against a local HTTP server standing in for the public source."""
    import dataclasses
    import functools
    import hashlib
    import http.server
    import threading

    import biomtl.data_scripts.prepare as prep
    from biomtl.data_scripts import get_spec

    src = tmp_path / "served"
    _fake_corpus(src, "NCBI-disease-IOB")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(src))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/NCBI-disease-IOB"
        digests = {f: hashlib.sha256((src / "NCBI-disease-IOB" / f).read_bytes()).hexdigest()
                   for f in ("train.tsv", "devel.tsv", "test.tsv")}
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.delenv("BIOMTL_OFFLINE", raising=False)
        monkeypatch.delenv("BIOMTL_CORPORA", raising=False)
        monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
        spec = dataclasses.replace(get_spec("ncbi_disease"), base_url=base, sha256=digests)
        files = prep.locate_sources(spec)
        assert files["train"] == tmp_path / "cache" / "raw" / "NCBI-disease-IOB" / "train.tsv"
        assert files["train"].read_bytes() == (src / "NCBI-disease-IOB" / "train.tsv").read_bytes()

        bad = dataclasses.replace(spec, sha256=dict(digests, **{"test.tsv": "0" * 64}))
        monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache2"))
        with pytest.raises(FileNotFoundError, match="checksum mismatch"):
            prep.locate_sources(bad)
        assert not (tmp_path / "cache2" / "raw" / "NCBI-disease-IOB" / "test.tsv").exists()
    finally:
        server.shutdown()
