"""The `evaluate` module of the span metric: offline `evaluate.load(METRIC_PATH)` gives the numbers of the
pure core, in this process and in a fresh interpreter (another cwd) where biomtl cannot be imported."""

from __future__ import annotations

import json
import random

import pytest
from fresh_env import run_without_biomtl  # tests/ is on sys.path (pytest prepends the conftest folder)

from biomtl.metrics import METRIC_PATH, score_corpus_spans, score_spans, summary

evaluate = pytest.importorskip("evaluate")

CORPUS_TYPES = {
    "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"],
    "NCBI-disease": ["NCBI-disease/Disease"],
    "BC2GM": ["BC2GM/Gene"],
    "Linnaeus": ["Linnaeus/Species"],
}


def random_data(seed: int, n: int = 40):
    """Random multi-corpus gold/predictions (nested, overlapping, duplicated, other corpora's types,
    bare and prefixed gold labels, unaligned gold, prediction scores)."""
    rng = random.Random(seed)
    all_types = [t for types in CORPUS_TYPES.values() for t in types]
    corpora, gold, pred = [], [], []
    for _ in range(n):
        corpus = rng.choice(list(CORPUS_TYPES))
        spans = []
        for _ in range(rng.randint(0, 4)):
            start = rng.randint(0, 8)
            label = rng.choice(CORPUS_TYPES[corpus])
            span = {"start": start, "end": rng.randint(start + 1, 10),
                    "label": label if rng.random() < 0.5 else label.split("/", 1)[1]}
            if rng.random() < 0.1:
                span = {"label": span["label"], "start": None, "end": None, "unaligned": True}
            spans.append(span)
        guesses = [{"start": s["start"], "end": s["end"], "label": rng.choice(all_types), "score": rng.random()}
                   for s in spans if s.get("start") is not None and rng.random() < 0.8]
        for _ in range(rng.randint(0, 3)):
            start = rng.randint(0, 8)
            guesses.append({"start": start, "end": rng.randint(start + 1, 10), "label": rng.choice(all_types),
                            "score": rng.random()})
        corpora.append(corpus)
        gold.append(spans)
        pred.append(guesses)
    return gold, pred, corpora


def normalised(obj):
    """Round floats so that JSON-serialised results compare exactly."""
    return json.loads(json.dumps(obj), parse_float=lambda x: round(float(x), 9))


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(METRIC_PATH, keep_in_memory=True)


@pytest.mark.parametrize("mode", ["merged", "disjoint"])
def test_evaluate_module_equals_pure_core(metric, mode):
    gold, pred, corpora = random_data(seed=1)
    expected = summary(score_corpus_spans(gold, pred, corpora, CORPUS_TYPES, mode=mode))
    got = metric.compute(predictions=pred, references=gold, corpus=corpora, corpus_types=CORPUS_TYPES, mode=mode)
    assert normalised(got) == normalised(expected)
    assert got["mode"] == mode and got["per_corpus"].keys() == expected["per_corpus"].keys()
    assert sum(v["sentences"] for v in got["per_corpus"].values()) == len(gold)


def test_evaluate_module_add_batch_and_tuples(metric):
    gold, pred, corpora = random_data(seed=2)
    for lo in range(0, len(gold), 16):
        metric.add_batch(predictions=[[(s["start"], s["end"], s["label"]) for s in p] for p in pred[lo:lo + 16]],
                         references=gold[lo:lo + 16], corpus=corpora[lo:lo + 16])
    got = metric.compute(corpus_types=CORPUS_TYPES)
    expected = summary(score_corpus_spans(gold, pred, corpora, CORPUS_TYPES))
    assert normalised(got) == normalised(expected)


def test_evaluate_module_single_corpus_config():
    metric = evaluate.load(METRIC_PATH, "single_corpus", keep_in_memory=True)
    gold = [[{"start": 0, "end": 2, "label": "Disease"}], [{"start": 1, "end": 3, "label": "Chemical"}]]
    pred = [[{"start": 0, "end": 2, "label": "Disease", "score": 0.9}], [{"start": 1, "end": 2, "label": "Chemical"}]]
    got = metric.compute(predictions=pred, references=gold)
    assert got["overall_f1"] == pytest.approx(50.0)
    assert got["relaxed_overall_f1"] == pytest.approx(100.0)
    assert normalised(got) == normalised(summary(score_spans(gold, pred)))


def test_evaluate_module_errors_are_clear(metric):
    with pytest.raises(ValueError, match="pass corpus_types"):
        metric.compute(predictions=[[]], references=[[]], corpus=["BC5CDR"])
    with pytest.raises(ValueError, match=r"sentence 0: references\[0\]: field 'end' must be > start"):
        metric.compute(predictions=[[]], references=[[{"start": 2, "end": 1, "label": "Disease"}]],
                       corpus=["BC5CDR"], corpus_types=CORPUS_TYPES)
    with pytest.raises(ValueError, match=r"sentence 0: field 'corpus' = 'GENIA' is not in corpus_types"):
        metric.compute(predictions=[[]], references=[[]], corpus=["GENIA"], corpus_types=CORPUS_TYPES)


def test_evaluate_module_in_fresh_environment_without_biomtl(tmp_path):
    gold, pred, corpora = random_data(seed=3)
    code = f"""
    import json
    import evaluate
    metric = evaluate.load({METRIC_PATH!r})
    args = json.loads({json.dumps(json.dumps({"gold": gold, "pred": pred, "corpora": corpora}))})
    out = {{}}
    for mode in ("merged", "disjoint"):
        out[mode] = metric.compute(predictions=args["pred"], references=args["gold"], corpus=args["corpora"],
                                   corpus_types={CORPUS_TYPES!r}, mode=mode)
    print("RESULT" + json.dumps(out))
    """
    proc = run_without_biomtl(code, tmp_path / "elsewhere")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    got = json.loads(line[len("RESULT"):])
    for mode in ("merged", "disjoint"):
        expected = summary(score_corpus_spans(gold, pred, corpora, CORPUS_TYPES, mode=mode))
        assert normalised(got[mode]) == normalised(expected)
    # evaluate copied the module and its scoring core into the private HF_HOME of the subprocess
    copied = list((tmp_path / "elsewhere" / "hf_home").rglob("scoring.py"))
    assert copied, "scoring.py was not copied next to span_ner.py"
