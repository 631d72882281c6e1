"""The token-classification family: BIO over first sub-words, one shared label space, a multi-corpus
restricted softmax (a sentence's loss only over `O` + its own corpus's labels), per-corpus decoding.
Save/load/pipeline/card through the shared paths are in test_family_contract.py and test_pipeline_e2e.py."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from biomtl.modeling import TokenClassificationForNER

pytestmark = pytest.mark.usefixtures("one_thread")

TYPES = {"NCBI": ["NCBI/Disease"], "CDR": ["CDR/Chemical", "CDR/Disease"]}
TRAIN = [
    {"id": "n1", "corpus": "NCBI", "tokens": "the patient had breast cancer and asthma".split(),
     "spans": [{"start": 3, "end": 5, "label": "Disease"}, {"start": 6, "end": 7, "label": "Disease"}]},
    {"id": "c1", "corpus": "CDR", "tokens": "aspirin caused acute renal failure".split(),
     "spans": [{"start": 0, "end": 1, "label": "Chemical"}, {"start": 2, "end": 5, "label": "Disease"}]},
    {"id": "c2", "corpus": "CDR", "tokens": "cisplatin and ibuprofen were given".split(),
     "spans": [{"start": 0, "end": 1, "label": "CDR/Chemical"}, {"start": 2, "end": 3, "label": "Chemical"}]},
]


def make(encoder, **kwargs) -> TokenClassificationForNER:
    torch.manual_seed(0)
    return TokenClassificationForNER.from_encoder(str(encoder), TYPES, **kwargs)


def test_label_space_and_bio_targets_at_first_sub_words(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir)
    assert model.config.id2label == {0: "O", 1: "B-NCBI/Disease", 2: "I-NCBI/Disease", 3: "B-CDR/Chemical",
                                     4: "I-CDR/Chemical", 5: "B-CDR/Disease", 6: "I-CDR/Disease"}
    batch = model.collate(TRAIN, tok)
    assert batch["corpus_ids"].tolist() == [0, 1, 1]
    for b, ex in enumerate(TRAIN):
        word_ids = tok(ex["tokens"], is_split_into_words=True).word_ids()
        first = [i for i, w in enumerate(word_ids) if w is not None and (i == 0 or word_ids[i - 1] != w)]
        labelled = (batch["labels"][b] != -100).nonzero().flatten().tolist()
        assert labelled == first  # exactly the first sub-word of every word
        tags = [model.config.id2label[int(batch["labels"][b, i])] for i in first]
        corpus = ex["corpus"]
        gold = sorted((s["start"], s["end"], s["label"] if "/" in s["label"] else f"{corpus}/{s['label']}")
                      for s in ex["spans"])
        assert sorted((s, e + 1, t) for t, s, e in get_entities(tags)) == gold  # seqeval reads them back


def test_a_sentence_is_trained_only_on_o_and_its_own_corpus_labels(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir)
    batch = model.collate(TRAIN, tok)
    out = model(**batch)
    out.logits.retain_grad()
    out.loss.backward()
    g = out.logits.grad  # [B, T, C]
    ncbi, cdr = batch["corpus_ids"] == 0, batch["corpus_ids"] == 1
    assert torch.all(g[ncbi][..., 3:] == 0) and torch.all(g[cdr][..., 1:3] == 0)  # exactly zero, not small
    assert g[ncbi][..., :3].abs().sum() > 0 and g[cdr][..., 3:].abs().sum() > 0
    # the loss is the token mean of each sentence's restricted cross-entropy
    logits, labels = out.logits.detach(), batch["labels"]
    allowed = {0: [0, 1, 2], 1: [0, 3, 4, 5, 6]}
    terms = []
    for b in range(labels.shape[0]):
        keep = allowed[int(batch["corpus_ids"][b])]
        for t in (labels[b] != -100).nonzero().flatten().tolist():
            terms.append(-torch.log_softmax(logits[b, t, keep], -1)[keep.index(int(labels[b, t]))])
    assert out.loss.item() == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)
    # control: the plain softmax ("all") does push other corpora's labels
    plain = make(tiny_encoder_dir, loss_scope="all")
    out = plain(**batch)
    out.logits.retain_grad()
    out.loss.backward()
    assert out.logits.grad[ncbi][..., 3:].abs().sum() > 0


def test_a_few_steps_learn_the_training_mentions_and_decode_them_per_corpus(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = model.collate(TRAIN, tok)
    model.train()
    for _ in range(80):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    predicted = model.predict_spans([ex["tokens"] for ex in TRAIN], tok)
    for ex, spans in zip(TRAIN, predicted):
        own = {(s["start"], s["end"], s["label"]) for s in spans if s["label"].startswith(ex["corpus"] + "/")}
        gold = {(s["start"], s["end"], s["label"] if "/" in s["label"] else f"{ex['corpus']}/{s['label']}")
                for s in ex["spans"]}
        assert own == gold
        assert all(0.0 < s["score"] <= 1.0 for s in spans)
    # joint decoding: one argmax over all labels, flat output
    model.config.decoding = "joint"
    for spans in model.predict_spans([ex["tokens"] for ex in TRAIN], tok):
        assert all(a["end"] <= b["start"] for a, b in zip(spans, spans[1:]))


def test_long_sentences_are_split_for_training_and_windowed_for_prediction(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir, max_seq_length=10, window_overlap=3)
    words = ("the patient had breast cancer and asthma " * 6).split()
    spans = [{"start": s, "end": s + 2, "label": "Disease"} for s in range(3, len(words), 7)]
    batch = model.collate([{"id": "long", "corpus": "NCBI", "tokens": words, "spans": spans}], tok)
    assert batch["input_ids"].shape[0] > 1 and batch["input_ids"].shape[1] <= 10
    assert int((batch["labels"] == 1).sum()) == len(spans)  # every mention kept whole, once
    assert model.collate_stats["sentences_split"] == 1 and model.collate_stats["mentions_cut"] == 0
    (spans_pred,) = model.predict_spans([words], tok)
    assert model.predict_stats["windowed_sentences"] == 1
    assert all(0 <= s["start"] < s["end"] <= len(words) for s in spans_pred)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_bio_viterbi_is_the_best_well_formed_sequence(n_words, seed):
    """Oracle: brute force over every tag sequence, keeping the well-formed ones (no `I-t` unless
    after `B-t` / `I-t`), including labels a corpus mask forbids (-inf)."""
    import itertools

    from biomtl.modeling.bio_head import bio_viterbi

    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    g = torch.Generator().manual_seed(seed)
    lp = torch.randn(n_words, len(labels), generator=g, dtype=torch.float64).log_softmax(-1)
    if seed % 3 == 0:
        lp[:, 3:] = float("-inf")                  # a corpus without type B

    def legal(seq):
        return all(not labels[t].startswith("I-") or (i > 0 and labels[seq[i - 1]][2:] == labels[t][2:])
                   for i, t in enumerate(seq))

    best = max((seq for seq in itertools.product(range(len(labels)), repeat=n_words) if legal(seq)),
               key=lambda seq: float(sum(lp[i, t] for i, t in enumerate(seq))))
    got = bio_viterbi(lp, labels)
    assert legal(got)
    assert float(sum(lp[i, t] for i, t in enumerate(got))) == pytest.approx(
        float(sum(lp[i, t] for i, t in enumerate(best))))
