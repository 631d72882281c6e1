"""Query sources of the MRC multi-task family (spec mrc-multitask.md §3)."""

from __future__ import annotations

import json
import random

import pytest

from biomtl.modeling.mrc_queries import (
    DEFAULT_QUERY_FILE,
    build_query_table,
    join_examples,
    render_query,
    sample_dictionary_examples,
)

CT = {"NCBI-disease": ["NCBI-disease/Disease"], "BC2GM": ["BC2GM/GENE"], "X": ["X/cell_component"]}


def test_shipped_query_file_is_complete():
    data = json.loads(DEFAULT_QUERY_FILE.read_text())
    assert {"Gene/Protein", "Chemical", "Disease", "Species", "CellLine", "CellType", "DNA", "RNA"} <= set(
        data["types"])
    for name, entry in data["types"].items():
        for field in ("type_phrase", "definition", "guideline"):
            assert entry[field].strip(), (name, field)
    assert "{examples}" in data["dictionary_template"]


def test_table_resolves_prefixed_types_aliases_and_fallback():
    table = build_query_table(CT)
    assert table["NCBI-disease/Disease"]["guideline"].startswith("Tag specific disease")
    assert table["NCBI-disease/Disease"]["definition"].startswith("A disease is")
    assert table["BC2GM/GENE"]["type_phrase"] == "gene or protein"          # alias GENE -> Gene/Protein
    assert table["X/cell_component"]["guideline"] == "Find cell component mentions."
    assert table["X/cell_component"]["definition"] == "Find cell component mentions."


def test_user_queries_override_and_add_types(tmp_path):
    user = {"cell_component": {"type_phrase": "cellular component", "guideline": "Tag organelles."},
            "NCBI-disease/Disease": {"definition": "My own definition."}}
    table = build_query_table(CT, user)
    assert table["X/cell_component"]["guideline"] == "Tag organelles."
    assert table["X/cell_component"]["definition"] == "Find cellular component mentions."
    assert table["NCBI-disease/Disease"]["definition"] == "My own definition."
    assert table["NCBI-disease/Disease"]["guideline"].startswith("Tag specific disease")  # untouched
    with pytest.raises(ValueError, match="user_queries\\['Disease'\\].*unknown fields"):
        build_query_table(CT, {"Disease": {"guidline": "typo"}})
    # a user's own query file replaces the shipped one
    own = tmp_path / "q.json"
    own.write_text(json.dumps({"types": {"Disease": {"guideline": "Only this."}}}))
    assert build_query_table(CT, query_file=own)["NCBI-disease/Disease"]["guideline"] == "Only this."
    with pytest.raises(FileNotFoundError):
        build_query_table(CT, query_file=tmp_path / "missing.json")


def _ex(corpus, tokens, spans):
    return {"corpus": corpus, "tokens": tokens, "spans": [{"start": s, "end": e, "label": lab}
                                                           for s, e, lab in spans]}


def test_dictionary_examples_are_frequent_distinct_and_reproducible():
    train = [_ex("NCBI-disease", ["breast", "cancer"], [(0, 2, "Disease")]) for _ in range(5)]
    train += [_ex("NCBI-disease", ["Breast", "Cancer", "and", "ataxia"], [(0, 2, "Disease"), (3, 4, "Disease")])]
    train += [_ex("NCBI-disease", [f"rare{i}"], [(0, 1, "NCBI-disease/Disease")]) for i in range(30)]
    train += [_ex("NCBI-disease", ["ataxia"], [(0, 1, "Disease")]) for _ in range(3)]
    a = sample_dictionary_examples(train, CT, k=2, seed=1, pool_size=2)
    assert sorted(a["NCBI-disease/Disease"]) == ["ataxia", "breast cancer"]   # the two most frequent
    assert a["BC2GM/GENE"] == []                                                # no mention seen
    for seed in range(5):
        b = sample_dictionary_examples(train, CT, k=3, seed=seed)
        assert b == sample_dictionary_examples(list(reversed(train)), CT, k=3, seed=seed)
        assert len(set(x.lower() for x in b["NCBI-disease/Disease"])) == 3


def test_render_all_real_sources():
    entry = build_query_table(CT)["NCBI-disease/Disease"]
    assert render_query(entry, "guideline") == entry["guideline"]
    assert render_query(entry, "definition") == entry["definition"]
    text = render_query(entry, "dictionary", ["A", "B", "C"])
    assert text == "Find disease mentions such as A, B and C."
    assert join_examples(["A"]) == "A" and join_examples(["A", "B"]) == "A and B"
    with pytest.raises(ValueError, match="dictionary_examples"):
        render_query(entry, "dictionary", [])
    with pytest.raises(ValueError, match="query source"):
        render_query(entry, "none")


def test_model_query_sources(tiny_encoder_dir):
    from biomtl.modeling import MrcMultiTaskForNER

    ct = {"NCBI-disease": ["NCBI-disease/Disease"]}
    train = [_ex("NCBI-disease", ["colon", "cancer"], [(0, 2, "Disease")])]
    model = MrcMultiTaskForNER.from_encoder(tiny_encoder_dir, ct, train_examples=train, query_source="none",
                                            enabled_heads=["ner", "mrc"])
    t = "NCBI-disease/Disease"
    assert model.config.dictionary_examples == {t: ["colon cancer"]}
    assert model.query_text(t) is None
    assert model.query_text(t, "dictionary") == "Find disease mentions such as colon cancer."
    texts = {model.query_text(t, s) for s in ("definition", "guideline", "dictionary")}
    drawn = {model.query_text(t, "random", rng=random.Random(i)) for i in range(40)}
    assert drawn == texts
    with pytest.raises(ValueError, match="query_source='none'"):
        MrcMultiTaskForNER.from_encoder(tiny_encoder_dir, {"A": ["A/x", "A/y"]}, query_source="none",
                                        enabled_heads=["ner", "mrc"])


def test_collate_uses_the_selected_source(tiny_encoder_dir):
    from transformers import AutoTokenizer

    from biomtl.modeling import MrcMultiTaskForNER

    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    ct = {"NCBI-disease": ["NCBI-disease/Disease"]}
    train = [_ex("NCBI-disease", ["colon", "cancer", "risk"], [(0, 2, "Disease")])]

    def query_of(model):
        ids = model.collate(train, tok)["mrc_input_ids"][0].tolist()
        toks = tok.convert_ids_to_tokens(ids)
        return tok.convert_tokens_to_string(toks[1:toks.index("[SEP]")])

    dic = MrcMultiTaskForNER.from_encoder(tiny_encoder_dir, ct, train_examples=train, query_source="dictionary",
                                          enabled_heads=["ner", "mrc"])
    assert query_of(dic) == "find disease mentions such as colon cancer."
    over = MrcMultiTaskForNER.from_encoder(tiny_encoder_dir, ct, query_source="dictionary", enabled_heads=["ner", "mrc"],
                                           query_source_overrides={"NCBI-disease/Disease": "definition"})
    assert query_of(over).startswith("a disease is an abnormal state")
    missing = MrcMultiTaskForNER.from_encoder(tiny_encoder_dir, ct, query_source="dictionary",
                                              enabled_heads=["ner", "mrc"])
    with pytest.raises(ValueError, match="dictionary_examples"):
        missing.collate(train, tok)
    none = MrcMultiTaskForNER.from_encoder(tiny_encoder_dir, ct, query_source="none", enabled_heads=["ner", "mrc"])
    ids = tok.convert_ids_to_tokens(none.collate(train, tok)["mrc_input_ids"][0].tolist())
    assert ids[:3] == ["[CLS]", "colon", "cancer"]
