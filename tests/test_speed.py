"""benchmarks/speed.py: its pure helpers (span differences, length-sorted batching, pass order, ratios,
the training config, the table), the tc-forward reference, and one end-to-end run on a tiny trained
checkpoint (inference, both references, training step time and peak memory in a subprocess)."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks import speed
from tests.corpus_fixtures import write_fake_corpora

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.filterwarnings("ignore:.*step cap:UserWarning")]
TYPES = {"NCBI-disease": ["NCBI-disease/Disease"]}


def _span(start: int, end: int, label: str = "A", score: float = 0.9) -> dict:
    return {"start": start, "end": end, "label": label, "score": score}


def test_span_differences_counts_spans_in_one_output_only_and_ignores_scores():
    eager = [[_span(0, 2), _span(3, 4)], [], [_span(1, 2, "B")]]
    other = [[_span(0, 2, score=0.1), _span(3, 5)], [_span(0, 1)], [_span(1, 2, "A")]]
    got = speed.span_differences(eager, other)
    assert (got["eager_spans"], got["only_eager"], got["only_onnx"], got["differing"]) == (3, 2, 3, 5)
    assert got["sentences_differing"] == 3 and got["differing_pct"] == pytest.approx(500 / 3)
    assert got["first_differences"][0] == {"sentence": 0, "only_eager": [(3, 4, "A")], "only_onnx": [(3, 5, "A")]}
    same = speed.span_differences(eager, eager)
    assert same["differing"] == same["sentences_differing"] == 0 and same["first_differences"] == []
    assert speed.span_differences([[]], [[]])["differing_pct"] == 0.0  # no eager span: no division
    many = speed.span_differences([[]] * 30, [[_span(0, 1)]] * 30)
    assert many["sentences_differing"] == 30 and len(many["first_differences"]) == 20
    with pytest.raises(ValueError):
        speed.span_differences([[]], [[], []])


def test_length_sorted_batches_sort_stably_and_keep_every_sentence_once():
    assert speed.length_sorted_batches([5, 1, 3, 1, 4], 2) == [[1, 3], [2, 4], [0]]
    assert speed.length_sorted_batches([2, 2, 2], 32) == [[0, 1, 2]]
    assert speed.length_sorted_batches([], 4) == []
    batches = speed.length_sorted_batches([7, 3, 9, 1, 3, 8, 2], 3)
    assert sorted(i for b in batches for i in b) == list(range(7)) and [len(b) for b in batches] == [3, 3, 1]


def test_pass_order_rotates_the_first_runner():
    assert [speed.pass_order(3, rep) for rep in range(4)] == [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]
    assert speed.pass_order(1, 5) == [0]


def test_ratio_needs_a_reference():
    assert speed.ratio(30.0, 20.0) == 1.5
    assert speed.ratio(30.0, None) is None and speed.ratio(30.0, 0.0) is None


def test_peak_rss_is_at_least_the_current_resident_set():
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * 4096 / 2**20
    assert speed.peak_rss_mib() >= rss * 0.9 > 0


def test_arguments_always_run_eager_first_and_refuse_unknown_backends():
    args = speed.parse_args(["--model", "a=x", "--backend", "onnx-int8,onnx-fp32"])
    assert args.backends == ["eager", "onnx-fp32", "onnx-int8"] and args.threads == 1 and args.batch_size == 32
    for bad in (["--model", "a=x", "--backend", "onnx"], ["--model", "ax"], [], ["--model", "a=x", "--warmup-steps", "0"]):
        with pytest.raises(SystemExit):
            speed.parse_args(bad)


def test_train_config_uses_the_checkpoint_recipe_in_one_epoch(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "all_results.json").write_text(json.dumps({"config": {
        "recipe": "mtl_ls", "batch_size": 4, "model": {"overrides": {"task_grouping": "shared"}}}}))
    cfg = speed.train_config({"folder": str(folder), "family": "layer_sliced_crf"}, tmp_path / "enc",
                             tmp_path / "corpora", 7, tmp_path / "run")
    assert (cfg["recipe"], cfg["phases"], cfg["max_steps"]) == ("mtl_ls", [], 7)  # phases as one phase
    assert cfg["samples_per_epoch"] == 7 * 16  # the recipe's batch, not the run's
    assert cfg["model"] == {"family": "layer_sliced_crf", "encoder": str(tmp_path / "enc"),
                            "overrides": {"task_grouping": "shared"}}
    assert cfg["evaluate_test"] is False and cfg["corpora"][0]["max_eval_sentences"] == 8
    bare = speed.train_config({"folder": str(tmp_path), "family": "token_classification"}, tmp_path / "enc",
                              tmp_path / "corpora", 3, tmp_path / "run")
    assert (bare["recipe"], bare["samples_per_epoch"], bare["model"]["overrides"]) == ("default", 96, {})


def test_tc_forward_spans_are_the_argmax_tags_of_each_sentence_alone(tiny_encoder_dir, tok):
    from biomtl.modeling import TokenClassificationForNER
    from biomtl.modeling.subwords import encode_words
    from biomtl.modeling.tag_schemes import bio_labels, tags_to_spans

    model = TokenClassificationForNER.from_encoder(str(tiny_encoder_dir), TYPES).eval()
    labels = bio_labels(TYPES["NCBI-disease"])
    tc = speed.tc_forward_model(model, labels)
    assert torch.equal(tc.base_model.embeddings.word_embeddings.weight, model.encoder.embeddings.word_embeddings.weight)
    sentences = [["familial", "breast", "cancer"], ["no"], ["the", "patient", "had", "renal", "failure", "."] * 3]
    with torch.inference_mode():
        got = speed.tc_forward_spans(tc, labels, tok, sentences, batch_size=2)
        for words, spans in zip(sentences, got):
            enc = encode_words(tok, [words])
            tags = tc(**enc.inputs).logits.argmax(-1)[0, enc.first_subword[0]].tolist()
            assert spans == [{"start": s, "end": e, "label": t} for s, e, t in
                             tags_to_spans([labels[t] for t in tags], "BIO")]


def _report(hf: dict | None) -> dict:
    row = {"backend": "eager", "sentences_per_s": 50.0, "x_tc_forward": 0.5, "x_hf_pipeline": hf and 2.0,
           "strict_f1": 80.0}
    onnx = {**row, "backend": "onnx-int8", "vs_eager": {"differing": 2, "eager_spans": 40, "differing_pct": 5.0}}
    return {"settings": {"batch_size": 32, "threads": 1, "repeats": 3, "train_steps": 20, "warmup_steps": 3},
            "data": {"sentences": 940}, "machine": "x86_64", "command": "python -m benchmarks.speed",
            "references": {"hf-pipeline": hf},
            "models": [{"name": "sru", "family": "sru_ner", "rows": [row, onnx], "tc_forward": {"sentences_per_s": 100.0},
                        "train": {"step_s": 1.2345, "peak_rss_mib": 900.4}}]}


def test_markdown_labels_each_ratio_with_its_reference():
    lines = speed.markdown(_report({"model": "tc", "sentences_per_s": 25.0}))
    assert "| model | family | backend | sentences/s | x tc-forward | x hf-pipeline | train step s |" in lines[2]
    assert "| sru | sru_ner | eager | 50.0 | 0.50 | 2.00 | 1.234 | 900 | 80.00 |  |" in lines
    assert "| sru | sru_ner | onnx-int8 | 50.0 | 0.50 | 2.00 |  |  | 80.00 | 2 / 40 (5.00 %) |" in lines
    assert "| sru | reference | tc-forward | 100.0 | 1.00 | 4.00 | | | | |" in lines
    assert "| tc | reference | hf-pipeline | 25.0 | | 1.00 | | | | |" in lines
    assert lines[-1] == "Command: `python -m benchmarks.speed`"
    alone = speed.markdown(_report(None))
    assert "| sru | sru_ner | eager | 50.0 | 0.50 |  | 1.234 | 900 | 80.00 |  |" in alone
    assert not any("hf-pipeline |" in line for line in alone[3:])


def test_end_to_end_on_a_tiny_trained_checkpoint(tiny_encoder_dir, tmp_path, monkeypatch, capsys):
    from biomtl.trainer.config import load_config
    from biomtl.trainer.loop import train

    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))  # also the training subprocess's
    corpora = write_fake_corpora(tmp_path / "corpora")
    train(load_config(None, ["corpora=[ncbi_disease]", f"source_dir={corpora}", f"model.encoder={tiny_encoder_dir}",
                             "model.family=token_classification", "max_steps=3", "batch_size=8", "progress=false",
                             f"output_dir={tmp_path / 'run'}", "log_with=null", "evaluate_test=false"]))
    out = tmp_path / "speed.json"
    assert speed.main(["--model", f"tc={tmp_path / 'run' / 'best'}", "--corpora", str(corpora), "--max-sentences", "8",
                       "--repeats", "1", "--train-steps", "2", "--warmup-steps", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["data"]["sentences"] == 8 and report["settings"]["threads"] == 1
    (model,) = report["models"]
    (eager,) = model["rows"]
    assert model["family"] == "token_classification" and eager["backend"] == "eager"
    assert eager["sentences_per_s"] > 0 and model["tc_forward"]["sentences_per_s"] > 0
    assert report["references"]["hf-pipeline"]["sentences_per_s"] > 0
    assert eager["x_tc_forward"] > 0 and eager["x_hf_pipeline"] > 0 and 0 <= eager["strict_f1"] <= 100
    train_row = model["train"]
    assert "error" not in train_row, train_row.get("error")
    assert train_row["step_s"] > 0 and train_row["steps_timed"] == 2 and train_row["peak_rss_mib"] > 0
    assert (train_row["recipe"], train_row["batch_size"]) == ("default", 32)  # the recipe's full batch
    assert "| tc | token_classification | eager |" in capsys.readouterr().out
