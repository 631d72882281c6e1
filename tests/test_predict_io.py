"""`biomtl predict` formats (trainer/predict_io.py) and the command (trainer/predict_cli.py)."""

from __future__ import annotations

import argparse
import json

import bioc
import pytest
from bioc import biocjson

from biomtl.modeling.text_split import tokenize_words
from biomtl.trainer.predict_cli import add_predict_command, predict_file
from biomtl.trainer.predict_io import PredictInputError, detect_format, read_input


def fake_ner(texts, batch_size=32):
    """Capitalised words are "Disease", numbers "Chemical"; "Big Cat" style pairs nest a 2-word span."""
    out = []
    for text in texts:
        words = tokenize_words(text)
        ents = []
        for i, w in enumerate(words):
            if w.text[:1].isupper():
                ents.append({"entity_group": "Disease", "score": 0.5, "word": w.text, "start": w.start,
                             "end": w.end})
                if i + 1 < len(words) and words[i + 1].text[:1].isupper():
                    nxt = words[i + 1]
                    ents.append({"entity_group": "Disease", "score": 0.25, "word": text[w.start:nxt.end],
                                 "start": w.start, "end": nxt.end})
            elif w.text.isdigit():
                ents.append({"entity_group": "Chemical", "score": 0.75, "word": w.text, "start": w.start,
                             "end": w.end})
        out.append(ents)
    return out


def _expected(text):
    return {(e["start"], e["end"], e["entity_group"]) for e in fake_ner([text])[0]}


PUBTATOR = """111|t|Aspirin and Reye syndrome.
111|a|We saw 12 cases in Boston.\tTab here.
111\t0\t7\tAspirin\tChemical\tD001241
111\tCID\tD001241\tD012202

222|t|No abstract here
"""


def test_plain_text_whole_file_and_lines(tmp_path):
    src = tmp_path / "doc.txt"
    text = "Mutations in BRCA1 cause Breast Cancer.\n\nAbout 10 percent.\n"
    src.write_text(text, encoding="utf-8")
    stats = predict_file(fake_ner, src, tmp_path / "out.jsonl", progress=False)
    assert stats["input_format"] == "text" and stats["output_format"] == "jsonl"
    (rec,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rec["id"] == "doc" and rec["text"] == text
    assert {(e["start"], e["end"], e["entity_group"]) for e in rec["entities"]} == _expected(text)
    for e in rec["entities"]:
        assert text[e["start"]:e["end"]] == e["word"]

    predict_file(fake_ner, src, tmp_path / "lines.jsonl", lines=True, progress=False)
    recs = [json.loads(x) for x in (tmp_path / "lines.jsonl").read_text().splitlines()]
    assert [(r["id"], r["text"]) for r in recs] == [("1", "Mutations in BRCA1 cause Breast Cancer."),
                                                     ("3", "About 10 percent.")]


def test_jsonl_keeps_fields_and_reports_bad_lines(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "Big Cat 7", "meta": {"x": 1}}\n\n{"text": "Nothing here"}\n')
    predict_file(fake_ner, src, tmp_path / "out.jsonl", progress=False)
    recs = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert recs[0]["meta"] == {"x": 1} and recs[1]["id"] == "3"
    assert [e["word"] for e in recs[0]["entities"]] == ["Big Cat", "Big", "Cat", "7"]
    for content, message in [('{"id": 1}\n', r"in.jsonl:1: missing field \"text\""),
                             ('{"text": "ok"}\n{"text": 5}\n', r"in.jsonl:2: field \"text\" must be a string"),
                             ('{"text": "ok"}\n{oops\n', r"in.jsonl:2: invalid JSON"),
                             ('[1, 2]\n', r"in.jsonl:1: expected a JSON object")]:
        src.write_text(content)
        out = tmp_path / "bad.jsonl"
        with pytest.raises(PredictInputError, match=message):
            predict_file(fake_ner, src, out, progress=False)
        assert not out.exists() and not list(tmp_path.glob(".bad.jsonl.*"))  # nothing half-written


def test_pubtator_round_trip_offsets(tmp_path):
    src = tmp_path / "in.pubtator"
    src.write_text(PUBTATOR)
    stats = predict_file(fake_ner, src, tmp_path / "out.pubtator", progress=False)
    assert stats["dropped_input_annotations"] == 2 and stats["documents"] == 2
    lines = (tmp_path / "out.pubtator").read_text().split("\n")
    docs = {}
    for line in lines:
        if "|t|" in line:
            pmid, title = line.split("|t|")
            docs[pmid] = {"title": title, "anns": []}
        elif "|a|" in line:
            pmid, abstract = line.split("|a|")
            docs[pmid]["abstract"] = abstract
        elif line:
            pmid, start, end, mention, kind = line.split("\t")
            docs[pmid]["anns"].append((int(start), int(end), mention, kind))
    assert docs["111"]["abstract"] == "We saw 12 cases in Boston. Tab here."  # tab written as a space
    for d in docs.values():
        full = d["title"] + " " + d["abstract"]
        assert d["anns"]
        for start, end, mention, _ in d["anns"]:
            assert full[start:end] == mention
    original_full = "Aspirin and Reye syndrome. We saw 12 cases in Boston.\tTab here."
    got = {(s, e, k) for s, e, _, k in docs["111"]["anns"]}
    assert got == _expected("Aspirin and Reye syndrome.") | {
        (s + 27, e + 27, k) for s, e, k in _expected("We saw 12 cases in Boston.\tTab here.")}
    assert all(original_full[s:e] for s, e, _ in got)
    assert docs["222"]["abstract"] == ""


@pytest.mark.parametrize("content, message", [
    ("1|a|abstract only\n", r"in.pubtator:1: document '1' has an abstract but no title"),
    ("1|t|title\nrandom words\n", r"in.pubtator:2: not a PubTator line"),
    ("1|t|title\n2\t0\t1\tx\tT\n", r"in.pubtator:2: line for document '2' inside document '1'"),
    ("1\t0\t1\tx\tT\n", r"in.pubtator:1: annotation line outside a document"),
])
def test_pubtator_errors_name_the_line(tmp_path, content, message):
    src = tmp_path / "in.pubtator"
    src.write_text(content)
    with pytest.raises(PredictInputError, match=message):
        predict_file(fake_ner, src, tmp_path / "out.txt", progress=False)


def _bioc_collection():
    coll = bioc.BioCCollection()
    coll.source = "test"
    doc = bioc.BioCDocument()
    doc.id = "d1"
    title = bioc.BioCPassage()
    title.offset, title.text, title.infons = 0, "Lithium and Bipolar Disorder", {"type": "title"}
    gold = bioc.BioCAnnotation()
    gold.id, gold.infons, gold.text = "biomtl0", {"type": "Chemical"}, "Lithium"  # id a prediction could take
    gold.add_location(bioc.BioCLocation(0, 7))
    title.add_annotation(gold)
    abstract = bioc.BioCPassage()
    abstract.offset, abstract.text = 100, "In 2020 we treated Ten patients."
    by_sentence = bioc.BioCPassage()
    by_sentence.offset = 200
    sent = bioc.BioCSentence()
    sent.offset, sent.text = 205, "Only Sentences 3."
    by_sentence.add_sentence(sent)
    for p in (title, abstract, by_sentence):
        doc.add_passage(p)
    coll.add_document(doc)
    return coll


def _check_bioc_output(coll):
    (doc,) = coll.documents
    found = []
    for p in doc.passages:
        for node in [p, *p.sentences]:
            for a in node.annotations:
                loc = a.locations[0]
                assert node.text[loc.offset - node.offset:loc.end - node.offset] == a.text
                found.append((a.id, a.text, a.infons.get("annotator")))
    ids = [f[0] for f in found]
    assert len(ids) == len(set(ids))
    assert ("biomtl0", "Lithium", None) in found  # the input annotation is kept
    predicted = {(t, who) for _, t, who in found if who == "biomtl"}
    assert {t for t, _ in predicted} >= {"Lithium", "Bipolar Disorder", "2020", "Ten", "Sentences", "3"}
    return found


@pytest.mark.parametrize("flavour", ["xml", "json"])
def test_bioc_round_trip(tmp_path, flavour):
    coll = _bioc_collection()
    src = tmp_path / f"in.{flavour}"
    if flavour == "xml":
        src.write_text(bioc.biocxml.dumps(coll), encoding="utf-8")
    else:
        src.write_text(biocjson.dumps(coll), encoding="utf-8")
    out = tmp_path / f"out.{flavour}"
    stats = predict_file(fake_ner, src, out, input_format="bioc", progress=False)
    assert stats["output_format"] == f"bioc-{flavour}"
    with out.open("rb" if flavour == "xml" else "r") as fh:
        back = bioc.biocxml.load(fh) if flavour == "xml" else biocjson.load(fh)
    assert back.source == "test"
    _check_bioc_output(back)
    # BioC -> JSON-lines: text laid out at the passage offsets
    predict_file(fake_ner, src, tmp_path / "out.jsonl", output_format="jsonl", progress=False)
    (rec,) = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rec["text"][100:132] == "In 2020 we treated Ten patients." and rec["text"][205:] == "Only Sentences 3."
    for e in rec["entities"]:
        assert rec["text"][e["start"]:e["end"]] == e["word"]


def test_pubtator_to_bioc(tmp_path):
    src = tmp_path / "in.pubtator"
    src.write_text(PUBTATOR)
    predict_file(fake_ner, src, tmp_path / "out.xml", output_format="bioc-xml", progress=False)
    with (tmp_path / "out.xml").open("rb") as fh:
        coll = bioc.biocxml.load(fh)
    doc = coll.documents[0]
    assert [(p.offset, p.infons.get("type")) for p in doc.passages] == [(0, "title"), (27, "abstract")]
    for p in doc.passages:
        assert p.annotations
        for a in p.annotations:
            assert p.text[a.locations[0].offset - p.offset:][:a.locations[0].length] == a.text


def test_bad_bioc_is_a_clear_error(tmp_path):
    src = tmp_path / "in.xml"
    src.write_text("<collection><source>x</source>\n<document><id>1</id>\n<passage><text>t</text>")
    with pytest.raises(PredictInputError, match=r"in.xml:\d+: invalid BioC XML"):
        read_input(src)
    src.write_text("<collection><document><id>1</id><passage><text>no offset</text></passage></document>"
                   "</collection>")
    with pytest.raises(PredictInputError, match="in.xml: not a valid BioC XML"):
        read_input(src)
    src = tmp_path / "in.json"
    src.write_text('{"documents": []}')
    with pytest.raises(PredictInputError, match="missing field 'source'"):
        read_input(src, "bioc")


def test_detect_format(tmp_path):
    cases = {"a.txt": ("Plain text.", "text"), "a.jsonl": ('{"text": "x"}', "jsonl"),
             "b.data": ('{"text": "x"}\n{"text": "y"}', "jsonl"), "c.data": ('{"documents": []}', "bioc-json"),
             "d.data": ("<collection/>", "bioc-xml"), "e.data": ("12|t|Title", "pubtator"),
             "f.data": ("Just | words", "text")}
    for name, (content, fmt) in cases.items():
        (tmp_path / name).write_text(content)
        assert detect_format(tmp_path / name) == fmt, name
    (tmp_path / "latin1.txt").write_bytes("ok\nfa\xe7ade".encode("latin-1"))
    with pytest.raises(PredictInputError, match=r"latin1.txt:2: not valid UTF-8"):
        read_input(tmp_path / "latin1.txt")
    with pytest.raises(PredictInputError, match="--lines applies to plain text"):
        read_input(tmp_path / "a.jsonl", "jsonl", lines=True)


def test_output_may_not_overwrite_input(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text("X")
    with pytest.raises(ValueError, match="is the input file"):
        predict_file(fake_ner, src, src, progress=False)


def test_predict_command_with_a_saved_model(tmp_path, tiny_encoder_dir, capsys):
    """The command end to end: a real family saved as a Hub folder, every format in and out."""
    import torch
    from transformers import AutoTokenizer

    from biomtl.modeling import MrcMultiTaskForNER
    from biomtl.modeling.pipeline_ner import BiomedicalNerPipeline
    from biomtl.trainer.export import save_hub_folder

    torch.manual_seed(0)
    ct = {"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"], "NCBI-disease": ["NCBI-disease/Disease"]}
    model = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), corpus_types=ct).eval()
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    folder = save_hub_folder(model, tok, tmp_path / "model")
    parser = argparse.ArgumentParser(prog="biomtl")
    add_predict_command(parser.add_subparsers(dest="command", required=True))

    src = tmp_path / "in.pubtator"
    src.write_text(PUBTATOR)
    out = tmp_path / "out.jsonl"
    args = parser.parse_args(["predict", str(folder), "--input", str(src), "--output", str(out),
                              "--output-format", "jsonl", "--batch-size", "2", "--no-progress"])
    assert args.func(args) == 0
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    pipe = BiomedicalNerPipeline(model=model, tokenizer=tok)
    title, abstract = "Aspirin and Reye syndrome.", "We saw 12 cases in Boston.\tTab here."
    t_ents, a_ents = pipe([title, abstract])
    expected = t_ents + [dict(e, start=e["start"] + len(title) + 1, end=e["end"] + len(title) + 1)
                         for e in a_ents]
    key = lambda e: (e["start"], e["end"], e["entity_group"], round(e["score"], 5))  # noqa: E731
    assert recs[0]["id"] == "111" and sorted(map(key, recs[0]["entities"])) == sorted(map(key, expected))
    assert expected  # the random model does tag something
    assert recs[0]["biomtl"] == {"conflicts": "resolve"}  # the choice is recorded
    assert "2 documents" in capsys.readouterr().err
    args = parser.parse_args(["predict", str(folder), "--input", str(src), "--output", str(out),
                              "--output-format", "jsonl", "--conflicts", "keep", "--no-progress"])
    assert args.func(args) == 0
    kept = [json.loads(x) for x in out.read_text().splitlines()]
    assert kept[0]["biomtl"] == {"conflicts": "keep"} and "conflicts=keep" in capsys.readouterr().err
    t_keep = pipe(title, conflicts="keep")
    assert sorted(map(key, [e for e in kept[0]["entities"] if e["end"] <= len(title)])) == sorted(map(key, t_keep))

    args = parser.parse_args(["predict", str(folder), "-i", str(src), "-o", str(tmp_path / "p.xml"),
                              "--output-format", "bioc-xml", "--label-mode", "prefixed", "--threshold", "0.3",
                              "--no-progress"])
    args.func(args)
    with (tmp_path / "p.xml").open("rb") as fh:
        coll = bioc.biocxml.load(fh)
    anns = [a for p in coll.documents[0].passages for a in p.annotations]
    assert coll.infons["biomtl.conflicts"] == "resolve"
    assert anns and all("/" in a.infons["type"] and float(a.infons["score"]) >= 0.3 for a in anns)

    with pytest.raises(FileNotFoundError, match="has no config.json"):
        args = parser.parse_args(["predict", str(tmp_path), "-i", str(src), "-o", str(out)])
        args.func(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["predict", str(folder), "-i", str(src), "-o", str(out), "--batch-size", "0"])
