"""Model cards generated from `all_results.json`: metadata round trip, numbers equal to the results,
clean cards for partial results, and the usage snippet run in a fresh environment against a saved model."""

from __future__ import annotations

import ast
import copy
import json
import random
import re
import shutil
from pathlib import Path

import pytest
from huggingface_hub import ModelCard

from biomtl.metrics import score_corpus_spans
from biomtl.model_cards import GENERATED_MARKER, generate_model_card
from biomtl.model_cards.card import EXAMPLE_TEXT, EXAMPLE_WORDS

CORPUS_TYPES = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}
MODES = ("merged", "disjoint")


def _report_pair(seed: int) -> dict:
    """Real ScoreReport dicts (both modes) for random gold/predicted spans of 30 sentences."""
    rng = random.Random(seed)
    gold, pred, corpora = [], [], []
    labels = [t for types in CORPUS_TYPES.values() for t in types]
    for i in range(30):
        corpus = list(CORPUS_TYPES)[i % 2]
        g = {(s, s + rng.randint(1, 3), rng.choice(CORPUS_TYPES[corpus])) for s in rng.sample(range(20), 3)}
        p = {span for span in g if rng.random() < 0.7}
        p |= {(s, s + rng.randint(1, 2), rng.choice(labels)) for s in rng.sample(range(20), 2)}
        gold.append(sorted(g))
        pred.append(sorted(p))
        corpora.append(corpus)
    return {m: score_corpus_spans(gold, pred, corpora, CORPUS_TYPES, mode=m).to_dict() for m in MODES}


def make_results() -> dict:
    history = [{"epoch": e, "step": 10 * e, "train_loss": 1.0 / e, "seconds": 2.5 + e,
                "dev": _report_pair(e)} for e in (1, 2, 3)]
    return {
        "model_family": "sru_ner",
        "model_class": "SruNerForTokenActions",
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "corpora": {
            "NCBI-disease": {"registry_key": "ncbi_disease", "types": CORPUS_TYPES["NCBI-disease"],
                             "train_sentences": 500, "validation_sentences": 100, "test_sentences": 940,
                             "license": "CC-BY-4.0 (test)", "citation": None, "hub_dataset": None},
            "BC5CDR": {"registry_key": "bc5cdr", "types": CORPUS_TYPES["BC5CDR"], "train_sentences": 400,
                       "validation_sentences": 90, "test_sentences": 800, "hub_dataset": "bigbio/bc5cdr"},
        },
        "corpus_types": CORPUS_TYPES,
        "hyperparameters": {"learning_rate": 2e-4, "encoder_learning_rate": 5e-5, "epochs": 3, "batch_size": 16,
                            "seed": 13, "sampling": {"strategy": "inverse", "temperature": None}},
        "history": history,
        "best": {"epoch": 2, "metric": "dev/merged/average_f1", "value": history[1]["dev"]["merged"]["average"]["f1"]},
        "dev": history[1]["dev"],
        "test": _report_pair(99),
        "framework_versions": {"biomtl": "0.1.0", "transformers": "5.23.0", "torch": "2.13.0"},
        "train_runtime_s": 42.0,
        # as the trainer writes it (trainer/loop.py), in the vocabulary of biomtl.modeling.data_report
        "data_report": {"collate": {"sentences_split": 3, "mentions_cut": 2, "overlapping_mentions_dropped": 1},
                        "predict": {"windowed_sentences": 4}, "test_sentences": 99,
                        "dropped_mentions_by_config": {"NCBI-disease": 0, "BC5CDR": 0}},
    }


def markdown_tables(text: str) -> dict[str, list[list[str]]]:
    """Every Markdown table, keyed by the chain of headings above it ("Evaluation > Test sets > Disjoint mode")."""
    tables: dict[str, list[list[str]]] = {}
    headings: dict[int, str] = {}
    current: list[list[str]] | None = None
    for line in text.splitlines():
        if m := re.match(r"^(#{2,4}) (.+)$", line):
            level = len(m[1])
            headings = {k: v for k, v in headings.items() if k < level} | {level: m[2].strip()}
            current = None
        elif line.startswith("|"):
            cells = [c.strip().strip("*").strip() for c in line.strip().strip("|").split(" | ")]
            if current is None:
                current = tables.setdefault(" > ".join(headings[k] for k in sorted(headings)), [])
            if not set("".join(cells)) <= set("-:| "):
                current.append(cells)
        else:
            current = None
    return tables


def _two(x: float) -> str:
    return f"{x:.2f}"


# --------------------------------------------------------------------------------------------------


def test_metadata_round_trips_through_model_card_load(tmp_path):
    results = make_results()
    card = generate_model_card(tmp_path, results=results, repo_id="org/biomtl-test")
    back = ModelCard.load(tmp_path / "README.md")
    assert back.data.to_dict() == card.data.to_dict()

    meta = back.data
    assert meta.license == "cc-by-4.0" and meta.language == "en"
    assert meta.library_name == "transformers" and meta.pipeline_tag == "token-classification"
    assert {"biomedical", "ner", "custom_code", "sru_ner"} <= set(meta.tags)
    assert meta.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta.datasets == ["NCBI-disease", "bigbio/bc5cdr"]
    # model-index: strict P/R/F1 per corpus, mode and split, equal to the results
    got = {(r.dataset_name, r.dataset_split, r.metric_name): r.metric_value for r in meta.eval_results}
    expected = {}
    for key, split in (("dev", "validation"), ("test", "test")):
        for mode in MODES:
            for corpus in CORPUS_TYPES:
                scores = results[key][mode]["per_corpus"][corpus]
                for metric, name in (("precision", "Precision"), ("recall", "Recall"), ("f1", "F1")):
                    expected[(corpus, split, f"{name} ({mode})")] = round(scores[metric], 4)
    assert got == expected
    assert got[("BC5CDR", "test", "F1 (merged)")] != got[("BC5CDR", "test", "F1 (disjoint)")]


def test_metrics_tables_equal_the_results(tmp_path):
    results = make_results()
    generate_model_card(tmp_path, results=results)
    tables = markdown_tables((tmp_path / "README.md").read_text())
    for key, title in (("dev", "Development sets"), ("test", "Test sets")):
        for mode, label in (("merged", "Merged mode (headline)"), ("disjoint", "Disjoint mode")):
            rows = tables[f"Evaluation > {title} > {label}"]
            assert rows[0][:4] == ["Corpus", "P", "R", "F1"] and rows[0][4].startswith("Relaxed")
            body = {r[0]: r[1:] for r in rows[1:]}
            report = results[key][mode]
            scopes = {c: report["per_corpus"][c] for c in CORPUS_TYPES}
            scopes["Micro (all corpora)"] = report["micro"]
            scopes["Average (papers')"] = report["average"]
            relaxed = {c: report["relaxed"]["per_corpus"][c] for c in CORPUS_TYPES}
            relaxed["Micro (all corpora)"] = report["relaxed"]["micro"]
            relaxed["Average (papers')"] = report["relaxed"]["average"]
            assert list(body) == list(scopes)
            for name, strict in scopes.items():
                loose = relaxed[name]
                assert body[name][:6] == [_two(strict["precision"]), _two(strict["recall"]), _two(strict["f1"]),
                                          _two(loose["precision"]), _two(loose["recall"]), _two(loose["f1"])]
            for corpus in CORPUS_TYPES:
                assert body[corpus][6] == str(report["per_corpus"][corpus]["sentences"])


def test_per_epoch_table_hyperparameters_versions(tmp_path):
    results = make_results()
    generate_model_card(tmp_path, results=results)
    text = (tmp_path / "README.md").read_text()
    rows = markdown_tables(text)["Training > Per-epoch dev scores"]
    header, body = rows[0], rows[1:]
    assert header[:7] == ["Epoch", "Step", "Train loss", "Merged Average F1", "Merged Micro F1",
                          "Disjoint Average F1", "Disjoint Micro F1"]
    assert len(body) == len(results["history"])
    for row, entry in zip(body, results["history"]):
        assert row[0].split()[0] == str(entry["epoch"]) and row[1] == str(entry["step"])
        assert row[2] == f"{entry['train_loss']:.4f}"
        assert row[3] == _two(entry["dev"]["merged"]["average"]["f1"])
        assert row[6] == _two(entry["dev"]["disjoint"]["micro"]["f1"])
        assert row[7] == _two(entry["dev"]["merged"]["per_corpus"]["NCBI-disease"]["f1"])
        assert row[0].endswith("✓") == (entry["epoch"] == results["best"]["epoch"])
    hyper = dict(markdown_tables(text)["Training > Hyperparameters"][1:])
    assert hyper["learning_rate"] == "0.0002" and hyper["seed"] == "13"
    assert json.loads(hyper["sampling"].replace("\\|", "|")) == results["hyperparameters"]["sampling"]
    for name, version in results["framework_versions"].items():
        assert f"- {name} {version}" in text


def test_types_limitations_citations_and_snippet_reference(tmp_path):
    results = make_results()
    generate_model_card(tmp_path, results=results, repo_id="org/biomtl-test")
    text = (tmp_path / "README.md").read_text()
    assert GENERATED_MARKER in text
    types = {r[0]: r[1] for r in markdown_tables(text)["Entity types per corpus"][1:]}
    assert types == {"NCBI-disease": "`NCBI-disease/Disease`", "BC5CDR": "`BC5CDR/Chemical`, `BC5CDR/Disease`"}
    # limitations name the types a corpus does not annotate and the encoder
    assert "NCBI-disease does not annotate `BC5CDR/Chemical`, `BC5CDR/Disease`" in text
    assert "`sentence-transformers/all-MiniLM-L6-v2`" in text.split("## Limitations")[1]
    # seed paper of the family first; the corpora's citations, from the registry when results lack them
    citation = text.split("## Citation")[1]
    assert citation.index("ruano2025effective") < citation.index("tong2021multitask")
    for key in ("dogan2014ncbi", "li2016biocreative", "crichton2017neural"):
        assert citation.count("{" + key + ",") == 1
    snippet = re.search(r"```python\n(.*?)```", text, re.DOTALL)[1]
    assert snippet.count('"org/biomtl-test"') == 3 and "trust_remote_code=True" in snippet


def test_card_shows_the_trainers_data_report(tmp_path):
    """Issue 15 defect: the card read a data-report key nothing writes (`unrepresentable_mentions`) and
    printed raw counter names; it now reads what the trainer writes, with the vocabulary's meanings."""
    generate_model_card(tmp_path, results=make_results())
    text = (tmp_path / "README.md").read_text()
    limitations = text.split("## Limitations")[1]
    assert "3 training mentions could not be represented by the model" in limitations
    assert "mentions cut: 2" in limitations and "overlapping mentions dropped: 1" in limitations
    assert ("Data report (training sentences) — training sentences longer than the sub-word budget, split at "
            "word boundaries: 3.") in text
    assert "Data report (test sentences) — sentences longer than the sub-word budget, predicted over " in text


def test_card_never_shows_local_paths(tmp_path):
    results = make_results()
    results["base_model"] = "/home/me/encoders/minilm"
    results["hyperparameters"].update({"output_dir": "/home/me/runs/demo", "source_dir": "~/corpora",
                                       "corpora": json.dumps([{"name": "x", "data_dir": "/data/me/x"}]),
                                       "selection_metric": "dev/merged/average_f1"})
    card = generate_model_card(tmp_path, results=results, repo_id="org/biomtl-test")
    text = (tmp_path / "README.md").read_text()
    for leak in ("/home/me", "~/corpora", "/data/me", str(tmp_path)):
        assert leak not in text
    assert card.data.base_model is None and "The encoder is a local encoder" in text
    hyper = dict(markdown_tables(text)["Training > Hyperparameters"][1:])
    assert hyper["output_dir"] == "<local path>" and hyper["selection_metric"] == "dev/merged/average_f1"


def test_partial_results_give_a_clean_card(tmp_path):
    results = make_results()
    for key in ("test", "history", "hyperparameters", "framework_versions", "corpora", "best",
                "train_runtime_s", "data_report"):
        del results[key]
    del results["dev"]["disjoint"]["relaxed"]
    card = generate_model_card(tmp_path, results=results)
    text = (tmp_path / "README.md").read_text()
    assert ModelCard.load(tmp_path / "README.md").data.to_dict() == card.data.to_dict()
    assert "### Test sets" not in text and "No per-epoch history was recorded." in text
    assert "No hyperparameters were recorded." in text
    assert {r.dataset_split for r in card.data.eval_results} == {"validation"}
    rows = markdown_tables(text)["Evaluation > Development sets > Disjoint mode"]
    assert rows[1][4:7] == ["–", "–", "–"]  # no relaxed block: dashes, not zeros
    # nothing at all measured: still a valid card, without model-index
    card = generate_model_card(tmp_path, results={})
    assert card.data.eval_results is None
    assert "No evaluation scores were recorded" in (tmp_path / "README.md").read_text()


def test_card_from_config_when_no_results_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "layer_sliced_crf", "architectures": ["LayerSlicedXLNetCRF"],
        "corpus_types": {"BC2GM": ["BC2GM/Gene"]}, "encoder_config": {"_name_or_path": "/home/me/enc"}}))
    card = generate_model_card(tmp_path)
    assert card.data.base_model is None  # a local path is never put in the metadata
    assert "layer_sliced_crf" in card.data.tags
    text = (tmp_path / "README.md").read_text()
    assert "`BC2GM/Gene`" in text and "chai2022hierarchical" in text.split("## Citation")[1].split("Other")[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no all_results.json and no config.json"):
        generate_model_card(empty)


def test_malformed_score_names_the_field(tmp_path):
    results = make_results()
    bad = copy.deepcopy(results)
    bad["test"]["disjoint"]["per_corpus"]["BC5CDR"]["f1"] = "high"
    with pytest.raises(ValueError, match=r"test\.disjoint\.per_corpus\.BC5CDR\.f1"):
        generate_model_card(tmp_path, results=bad)
    bad = copy.deepcopy(results)
    bad["history"][1]["train_loss"] = [1]
    with pytest.raises(ValueError, match=r"history\[1\]\.train_loss"):
        generate_model_card(tmp_path, results=bad)
    with pytest.raises(TypeError, match="results must be a dict"):
        generate_model_card(tmp_path, results=[1, 2])
    (tmp_path / "all_results.json").write_text("{not json")
    with pytest.raises(ValueError, match="all_results.json: not valid JSON"):
        generate_model_card(tmp_path)


# --------------------------------------------------------------------------------------------------
# End to end: the usage snippet of a real saved model, in a fresh environment
# --------------------------------------------------------------------------------------------------


def _end_to_end_unavailable() -> str | None:
    try:
        from biomtl.modeling import SruNerForTokenActions  # noqa: F401
        from biomtl.trainer.export import save_hub_folder  # noqa: F401
    except ImportError as err:
        return f"SRU-NER family or trainer.export.save_hub_folder not importable yet: {err}"
    return None


END_TO_END_SKIP = _end_to_end_unavailable()


_TRAINED: dict[str, Path] = {}


def train_tiny_model(encoder_dir: Path, out_dir: Path, steps: int = 150) -> Path:
    """A tiny SRU-NER overfitted on the card's example sentence (so that the snippet has entities to
    print: `B/Chemical` Cisplatin, `A/Disease` nephrotoxicity), saved as a Hub folder."""
    import torch
    from transformers import AutoTokenizer

    from biomtl.modeling import SruNerForTokenActions
    from biomtl.trainer.export import save_hub_folder

    torch.manual_seed(0)
    model = SruNerForTokenActions.from_encoder(str(encoder_dir), corpus_types={"A": ["A/Disease"], "B": ["B/Chemical"]})
    tokenizer = AutoTokenizer.from_pretrained(encoder_dir)
    examples = [
        {"id": "a0", "corpus": "A", "doc_id": "a", "tokens": EXAMPLE_WORDS,
         "spans": [{"start": 3, "end": 4, "label": "A/Disease"}]},
        {"id": "b0", "corpus": "B", "doc_id": "b", "tokens": EXAMPLE_WORDS,
         "spans": [{"start": 0, "end": 1, "label": "B/Chemical"}]},
    ]
    groups = model.parameter_groups()
    optimizer = torch.optim.Adam([{"params": groups["encoder"], "lr": 1e-3}, {"params": groups["head"], "lr": 1e-2}])
    model.eval()  # no dropout: a quick, deterministic overfit
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 32-wide model: thread hand-offs cost more than they give on a busy machine
    try:
        for _ in range(steps):
            loss = model(**model.collate(examples, tokenizer)).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    save_hub_folder(model, tokenizer, out_dir)
    return out_dir


@pytest.fixture()
def trained_model_dir(tmp_path, tmp_path_factory, tiny_encoder_dir) -> Path:
    """A private copy (tests write cards into it) of the tiny overfitted model, trained once per session."""
    key = str(tiny_encoder_dir)
    if key not in _TRAINED:
        _TRAINED[key] = train_tiny_model(tiny_encoder_dir, tmp_path_factory.mktemp("tiny_sru_ner") / "model")
    return Path(shutil.copytree(_TRAINED[key], tmp_path / "model"))


@pytest.mark.skipif(END_TO_END_SKIP is not None, reason=str(END_TO_END_SKIP))
def test_usage_snippet_runs_in_fresh_environment(tmp_path, trained_model_dir):
    from fresh_env import run_without_biomtl
    from transformers import AutoTokenizer, pipeline

    model_dir = trained_model_dir
    generate_model_card(model_dir, results=make_results())
    text = (model_dir / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", text, re.DOTALL)[1]
    assert json.dumps(str(model_dir.resolve())) in snippet

    proc = run_without_biomtl(snippet, tmp_path / "fresh", extra_env={"OMP_NUM_THREADS": "1"})
    printed = [ast.literal_eval(line) for line in proc.stdout.strip().splitlines()]
    assert len(printed) == 2
    entities, spans = printed

    # the same calls with biomtl installed give the same output
    ner = pipeline(model=str(model_dir), trust_remote_code=True)
    expected_entities = ner(EXAMPLE_TEXT)
    from biomtl.modeling import SruNerForTokenActions

    model = SruNerForTokenActions.from_pretrained(model_dir)
    expected_spans = model.predict_spans([EXAMPLE_WORDS], AutoTokenizer.from_pretrained(model_dir))
    assert _same(entities, expected_entities)
    assert _same(spans, expected_spans)
    # the overfitted model finds the example's mentions, with offsets into the text
    assert {(e["word"], e["entity_group"]) for e in entities} >= {("nephrotoxicity", "Disease"),
                                                                   ("Cisplatin", "Chemical")}
    for e in entities:
        assert EXAMPLE_TEXT[e["start"]:e["end"]] == e["word"]


def _same(a, b) -> bool:
    """Equal structures, floats within 1e-5."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) or isinstance(b, float):
        return abs(float(a) - float(b)) < 1e-5
    return a == b
