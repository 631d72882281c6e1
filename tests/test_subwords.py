from hypothesis import given
from hypothesis import strategies as st

from biomtl.modeling.subwords import encode_words, plan_windows, stitch_window_spans, window_cores


def test_encode_words_locates_first_and_last_subword(tiny_encoder_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    sents = [["Naloxone", "reverses", "hypertension", "."], ["BRCA1"]]
    enc = encode_words(tok, sents)
    ids = enc.inputs["input_ids"]
    for b, words in enumerate(sents):
        for w, word in enumerate(words):
            pieces = tok.convert_ids_to_tokens(ids[b, enc.first_subword[b, w] : enc.last_subword[b, w] + 1])
            assert "".join(p.removeprefix("##") for p in pieces) == word.lower()
    assert enc.word_mask.tolist() == [[True] * 4, [True, False, False, False]]


@given(st.lists(st.integers(1, 6), min_size=0, max_size=60), st.integers(6, 20), st.integers(0, 4))
def test_windows_cover_every_word_and_cores_partition(counts, budget, overlap):
    windows = plan_windows(counts, budget, overlap)
    for s, e in windows:
        assert e > s or len(counts) == 0
        assert sum(counts[s:e]) <= budget or e - s == 1
    covered = {i for s, e in windows for i in range(s, e)}
    assert covered == set(range(len(counts)))
    cores = window_cores(windows)
    owned = [i for s, e in cores for i in range(s, e)]
    assert owned == list(range(len(counts)))


def test_stitch_keeps_each_span_once():
    windows = [(0, 6), (4, 10)]
    spans = [
        [{"start": 1, "end": 2, "label": "A", "score": 0.9}, {"start": 4, "end": 6, "label": "B", "score": 0.5}],
        [{"start": 0, "end": 2, "label": "B", "score": 0.7}, {"start": 3, "end": 4, "label": "A", "score": 0.8}],
    ]
    out = stitch_window_spans(windows, spans)
    assert [(d["start"], d["end"], d["label"]) for d in out] == [(1, 2, "A"), (4, 6, "B"), (7, 8, "A")]
