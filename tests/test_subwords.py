from collections import Counter

from hypothesis import assume, given
from hypothesis import strategies as st

from biomtl.modeling.subwords import encode_words, plan_windows, seam_cuts, stitch_window_spans, window_cores


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


def _bio_spans(tags: list[str], offset: int = 0) -> list[dict]:
    """Reference BIO decoding: a span starts at B-x, or at I-x not continuing an x span."""
    spans, cur = [], None
    for i, t in enumerate([*tags, "O"]):
        kind, _, label = t.partition("-")
        if cur and (kind != "I" or label != cur["label"]):
            spans.append(cur)
            cur = None
        if kind in ("B", "I") and cur is None:
            cur = {"start": i + offset, "end": i + offset + 1, "label": label, "score": 1.0}
        elif cur:
            cur["end"] = i + offset + 1
    return spans


@given(st.lists(st.sampled_from(["O", "O", "B-A", "I-A", "B-B", "I-B"]), min_size=1, max_size=80),
       st.integers(8, 30), st.integers(0, 8))
def test_stitching_a_tag_local_decoder_matches_the_whole_sentence(tags, budget, overlap):
    """Oracle: a decoder whose spans depend only on each word's tag (a context-free model). Whenever
    every seam's overlap has, for every label, a word that no whole-sentence span of that label
    straddles, the stitched windows give exactly the whole-sentence spans: a mention that crosses
    the middle of an overlap is no longer cut at the window's edge."""
    windows = plan_windows([1] * len(tags), budget, overlap)
    per_window = [_bio_spans(tags[s:e]) for s, e in windows]
    whole = _bio_spans(tags)
    for i in range(len(windows) - 1):
        assume(i == 0 or windows[i - 1][1] <= windows[i + 1][0])       # overlaps do not touch each other
        for label in ("A", "B"):
            assume(any(not any(sp["start"] < c < sp["end"] for sp in whole if sp["label"] == label)
                       for c in range(windows[i + 1][0] + 1, windows[i][1])))
    stats = Counter()
    got = stitch_window_spans(windows, per_window, stats)
    key = [(d["start"], d["end"], d["label"]) for d in got]
    assert key == sorted({(d["start"], d["end"], d["label"]) for d in whole}, key=lambda k: (k[0], -k[1], k[2]))
    assert stats["seam_cut_spans"] == 0


def test_a_mention_longer_than_the_overlap_is_cut_and_counted():
    tags = ["O"] * 3 + ["B-A"] + ["I-A"] * 10 + ["O"] * 6
    windows = plan_windows([1] * len(tags), 10, 2)       # (0, 10), (8, 18), (16, 20)
    per_window = [_bio_spans(tags[s:e]) for s, e in windows]
    stats = Counter()
    got = stitch_window_spans(windows, per_window, stats)
    assert (3, 10, "A") in {(d["start"], d["end"], d["label"]) for d in got}
    assert stats["seam_cut_spans"] == 1
    assert len(seam_cuts(windows, per_window)) == len(windows) - 1
