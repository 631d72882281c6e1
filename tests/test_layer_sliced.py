"""LayerSlicedXLNetCRF: compaction, slicing, MTL-LS initialisation, LR groups, frozen phase 2,
save/load (also without biomtl) for tiny BERT and XLNet encoders (spec §13), and the family contract."""

from __future__ import annotations

import io
import json
import random
import re

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, BertModel

from biomtl.modeling import LayerSlicedXLNetCRF
from biomtl.modeling.configuration_layer_sliced_crf import LayerSlicedCRFConfig
from biomtl.modeling.lscrf_recipe import TrainingRecipe, train_run
from biomtl.modeling.modeling_layer_sliced_crf import pack_rows
from biomtl.modeling.subwords import subword_counts
from biomtl.modeling.tag_schemes import tags_to_spans
from tests.fresh_env import run_without_biomtl

pytestmark = pytest.mark.usefixtures("one_thread")

CORPUS_TYPES = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}
DISEASE_TYPES = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Disease"]}
EXAMPLES = [
    {"id": "1", "corpus": "BC5CDR", "tokens": "Naloxone reverses clonidine induced hypertension .".split(),
     "spans": [{"start": 0, "end": 1, "label": "BC5CDR/Chemical"}, {"start": 2, "end": 3, "label": "Chemical"},
               {"start": 4, "end": 5, "label": "BC5CDR/Disease"}]},
    {"id": "2", "corpus": "NCBI-disease", "tokens": "BRCA1 mutations cause breast cancer".split(),
     "spans": [{"start": 3, "end": 5, "label": "NCBI-disease/Disease"}]},
    {"id": "3", "corpus": "BC5CDR", "tokens": ["Aspirin"], "spans": [{"start": 0, "end": 1, "label": "Chemical"}]},
]
XLNET_WORDS = ("naloxone reverses the antihypertensive effect of clonidine in patients with breast cancer and "
               "BRCA1 mutations . aspirin induced asthma hypertension Naloxone Aspirin BRCA1 cause").split()


@pytest.fixture(scope="module")
def xlnet_dir(tmp_path_factory):
    """A 2-layer XLNet with a unigram sentencepiece tokenizer trained here (left padding, <sep> <cls> at the end)."""
    spm = pytest.importorskip("sentencepiece")
    from transformers import XLNetConfig, XLNetModel, XLNetTokenizer

    rng = random.Random(0)
    lines = [" ".join(rng.choices(XLNET_WORDS, k=12)) for _ in range(300)]
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=proto, vocab_size=70, model_type="unigram",
        control_symbols=["<cls>", "<sep>", "<pad>", "<mask>", "<eod>", "<eop>"], unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, hard_vocab_limit=False, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=proto.getvalue())
    # the (piece, score) list builds the tokenizers-backed XLNetTokenizer directly (no protobuf needed)
    tok = XLNetTokenizer(vocab=[(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())])
    tok.model_max_length = 128
    out = tmp_path_factory.mktemp("tiny_xlnet")
    torch.manual_seed(0)
    cfg = XLNetConfig(vocab_size=len(tok), d_model=32, n_layer=2, n_head=2, d_inner=37, pad_token_id=tok.pad_token_id)
    XLNetModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(params=["bert", "xlnet"])
def encoder_dir(request, tiny_encoder_dir):
    return tiny_encoder_dir if request.param == "bert" else request.getfixturevalue("xlnet_dir")


def _perturb(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Give every parameter (incl. zero-initialised CRF scores) distinct values, as training would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * scale)


def _batch_for(model, tok, examples=EXAMPLES):
    batch = model.collate(examples, tok)
    return {k: v for k, v in batch.items() if k not in ("tags", "task_ids")}


def _logits(model, batch, task):
    model.eval()
    with torch.no_grad():
        return model(**batch, task=task).logits


# -- §13.2 compaction ------------------------------------------------------------------------------
def test_word_emissions_are_first_subword_states_for_either_padding_side(encoder_dir):
    tok = AutoTokenizer.from_pretrained(encoder_dir)
    model = LayerSlicedXLNetCRF.from_encoder(str(encoder_dir), CORPUS_TYPES, num_shared_layers=1)
    _perturb(model)
    model.eval()
    batch = model.collate(EXAMPLES, tok)
    short = 2  # the one-word sentence
    if model.config.encoder_config.model_type == "xlnet":
        assert batch["attention_mask"][short, 0] == 0 and batch["attention_mask"][short, -1] == 1  # left padded
    else:
        assert batch["attention_mask"][short, 0] == 1 and batch["attention_mask"][short, -1] == 0  # right padded
    enc = tok([e["tokens"] for e in EXAMPLES], is_split_into_words=True, padding=True)
    with torch.no_grad():
        for task in model.config.tasks:
            hidden = model.encode(task, batch["input_ids"], batch["attention_mask"], batch.get("token_type_ids"))
            emissions = model(**_batch_for(model, tok), task=task).logits
            head = model.heads[model.config.task_keys[task]]
            for b, ex in enumerate(EXAMPLES):
                ids = enc.word_ids(b)
                for w in range(len(ex["tokens"])):
                    pos = ids.index(w)  # first sub-word of word w, found independently of the model
                    assert torch.allclose(emissions[b, w], head.emission(hidden[b, pos]), atol=1e-6)
                alone = model(**_batch_for(model, tok, [ex]), task=task).logits[0]
                assert torch.allclose(emissions[b, : len(ex["tokens"])], alone[: len(ex["tokens"])], atol=1e-5)


# -- §13.3 slicing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [0, 1, 2])
def test_slicing_layout_counts_and_task_independence(tiny_encoder_dir, k):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, num_shared_layers=k)
    assert model.config.num_shared_layers == k and model.config.slicing_rate == k / 2
    plain = BertModel.from_pretrained(tiny_encoder_dir, add_pooling_layer=False)
    per_layer = sum(p.numel() for p in plain.encoder.layer[0].parameters())
    emb = sum(p.numel() for p in plain.parameters()) - 2 * per_layer
    heads = sum(p.numel() for p in model.heads.parameters())
    assert heads == (32 * 5 + 5 + 5 * 5 + 2 * 5) + (32 * 9 + 9 + 9 * 9 + 2 * 9)
    assert sum(p.numel() for p in model.parameters()) == emb + k * per_layer + 2 * (2 - k) * per_layer + heads
    keys = set(model.config.task_keys.values())
    for name in model.state_dict():
        m = re.match(r"encoder\.encoder\.layer\.(\d+)\.(per_task\.([^.]+)\.)?", name)
        if m:
            assert (m.group(2) is None) == (int(m.group(1)) < k), name
            assert m.group(3) is None or m.group(3) in keys
        else:
            assert name.startswith(("encoder.embeddings.", "heads.")), name

    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    batch = _batch_for(model, tok)
    before = {t: _logits(model, batch, t) for t in model.config.tasks}
    if k < 2:
        with torch.no_grad():
            weight = model.encoder.encoder.layer[1].per_task["BC5CDR"].attention.self.query.weight
            weight.add_(torch.randn(weight.shape))
        after = {t: _logits(model, batch, t) for t in model.config.tasks}
        assert torch.equal(after["NCBI-disease"], before["NCBI-disease"])
        assert not torch.allclose(after["BC5CDR"], before["BC5CDR"])
        before = after
    with torch.no_grad():
        shared = model.encoder.encoder.layer[0].attention.self.query.weight if k > 0 else \
            model.encoder.embeddings.word_embeddings.weight
        shared.add_(torch.randn(shared.shape))  # random: a constant shift would vanish in LayerNorm
    after = {t: _logits(model, batch, t) for t in model.config.tasks}
    assert all(not torch.allclose(after[t], before[t]) for t in model.config.tasks)


def test_k_follows_rounded_slicing_rate(tiny_encoder_dir):
    for rate, k in [(0.0, 0), (0.25, 0), (0.5, 1), (0.75, 2), (1.0, 2)]:  # n = 2; round half to even
        model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES, slicing_rate=rate)
        assert model.config.num_shared_layers == round(rate * 2) == k
    with pytest.raises(ValueError, match="disagrees"):
        LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES, slicing_rate=1.0, num_shared_layers=0)


# -- §13.4 MTL-LS initialisation ---------------------------------------------------------------------
def test_from_mtl_xc_takes_bottom_from_xc_top_from_pretrained_and_fresh_heads(tiny_encoder_dir):
    xc = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES, task_grouping="shared",
                                          category="Disease")
    assert xc.config.tasks == ["Disease"] and xc.config.num_shared_layers == 2
    _perturb(xc, seed=1)  # stands in for MTL-XC training
    ls = LayerSlicedXLNetCRF.from_mtl_xc(xc, str(tiny_encoder_dir), slicing_rate=0.5)
    assert ls.config.tasks == ["NCBI-disease", "BC5CDR"] and ls.config.num_shared_layers == 1
    assert ls.config.init_xc_checkpoint and ls.config.category == "Disease"
    pre = BertModel.from_pretrained(tiny_encoder_dir, add_pooling_layer=False).state_dict()
    xc_state = xc.encoder.state_dict()
    for name, val in ls.encoder.state_dict().items():
        if ".per_task." in name:
            plain = re.sub(r"\.per_task\.[^.]+\.", ".", name)
            assert torch.equal(val, pre[plain]) and not torch.equal(val, xc_state[plain]), name
        else:
            assert torch.equal(val, xc_state[name]), name
            assert name in pre and not torch.equal(val, pre[name]), name
    xc_head = xc.heads["Disease"]
    for key in ls.config.task_keys.values():
        head = ls.heads[key]
        assert not torch.equal(head.emission.weight, xc_head.emission.weight)
        assert not torch.equal(head.crf.transitions, xc_head.crf.transitions)
    assert not torch.equal(ls.heads["NCBI-disease"].emission.weight, ls.heads["BC5CDR"].emission.weight)


def test_shared_head_refuses_corpora_with_different_types(tiny_encoder_dir):
    with pytest.raises(ValueError, match="different types"):
        LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, task_grouping="shared")


# -- §13.5 save / load -----------------------------------------------------------------------------------
def test_save_load_round_trip_without_biomtl(tiny_encoder_dir, xlnet_dir, tmp_path):
    expected = {}
    for name, src in (("bert", tiny_encoder_dir), ("xlnet", xlnet_dir)):
        tok = AutoTokenizer.from_pretrained(src)
        model = LayerSlicedXLNetCRF.from_encoder(str(src), CORPUS_TYPES, num_shared_layers=1)
        _perturb(model, seed=3, scale=0.3)
        ckpt = tmp_path / name
        model.save_pretrained(ckpt)
        tok.save_pretrained(ckpt)
        assert (ckpt / "model.safetensors").exists() and not (ckpt / "pytorch_model.bin").exists()
        batch = _batch_for(model, tok)
        expected[name] = {
            "logits": {t: _logits(model, batch, t).tolist() for t in model.config.tasks},
            "spans": model.predict_spans([e["tokens"] for e in EXAMPLES], tok),
        }
        # in-process reload through the Auto classes
        again = AutoModel.from_pretrained(ckpt)
        for t in model.config.tasks:
            assert torch.equal(_logits(again, batch, t), _logits(model, batch, t))
        assert again.predict_spans([e["tokens"] for e in EXAMPLES], tok) == expected[name]["spans"]
    (tmp_path / "expected.json").write_text(json.dumps(expected))
    (tmp_path / "examples.json").write_text(json.dumps(EXAMPLES))
    run_without_biomtl("""
        import json, torch
        from transformers import AutoModel, AutoTokenizer
        expected = json.load(open("expected.json"))
        examples = json.load(open("examples.json"))
        for name in ("bert", "xlnet"):
            model = AutoModel.from_pretrained(name, trust_remote_code=True)
            tok = AutoTokenizer.from_pretrained(name, trust_remote_code=True)
            assert type(model).__name__ == "LayerSlicedXLNetCRF", type(model)
            assert not type(model).__module__.startswith("biomtl"), type(model).__module__
            model.eval()
            batch = {k: v for k, v in model.collate(examples, tok).items() if k not in ("tags", "task_ids")}
            with torch.no_grad():
                for task, want in expected[name]["logits"].items():
                    got = model(**batch, task=task).logits
                    assert torch.equal(got, torch.tensor(want)), (name, task)
            spans = model.predict_spans([e["tokens"] for e in examples], tok)
            assert spans == expected[name]["spans"], (name, spans)
        print("OK")
    """, tmp_path)


def test_loading_a_checkpoint_that_does_not_match_its_config_fails(tiny_encoder_dir, tmp_path):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, num_shared_layers=1)
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["num_shared_layers"] = 2  # the weights hold per-task copies of layer 1
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="does not match"):
        LayerSlicedXLNetCRF.from_pretrained(tmp_path)


# -- §13.6 layer-wise learning rates -----------------------------------------------------------------
def test_layerwise_lr_groups_follow_the_formula(encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(encoder_dir), CORPUS_TYPES, num_shared_layers=1)
    n, rho, base = 2, 0.8, 1e-3
    groups = model.layerwise_lr_groups(base, layer_decay=rho)
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert sum(len(g["params"]) for g in groups) == len(lr_of) == len(list(model.parameters()))
    seen_copy = False
    for name, p in model.named_parameters():
        m = re.search(r"layer\.(\d+)\.", name)
        if name.startswith("heads."):
            want = base
        elif m:
            want = base * rho ** (n - 1 - int(m.group(1)))
            seen_copy |= ".per_task." in name
        else:
            want = base * rho ** n  # embeddings (XLNet: word_embedding and mask_emb)
        assert lr_of[id(p)] == pytest.approx(want), name
    assert seen_copy
    opt = torch.optim.AdamW(groups, lr=base)
    assert sorted({round(g["lr"], 12) for g in opt.param_groups}) == sorted(
        {round(base * s, 12) for s in (rho ** 2, rho, 1.0)})
    parts = model.parameter_groups()
    assert set(parts) >= {"encoder", "head"}
    assert len(parts["encoder"]) + len(parts["head"]) == len(list(model.parameters()))


# -- §13.7 frozen phase 2 ----------------------------------------------------------------------------
def test_frozen_phase2_keeps_shared_block_bit_identical(tiny_encoder_dir):
    xc = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), DISEASE_TYPES, task_grouping="shared")
    _perturb(xc, seed=2)
    model = LayerSlicedXLNetCRF.from_mtl_xc(xc, str(tiny_encoder_dir), num_shared_layers=1, phase2_mode="frozen")
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    examples = [dict(e, spans=[s for s in e["spans"] if s["label"].endswith("Disease")]) for e in EXAMPLES]
    batch = model.collate(examples, tok)
    shared = set(model.shared_parameter_names())
    assert any(".layer.0." in n for n in shared) and not any(".layer.1." in n for n in shared)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_run(model, iter([batch] * 2), 2, TrainingRecipe(learning_rate=1e-2, save_steps=10))
    for name, p in model.named_parameters():
        if name in shared:
            assert torch.equal(p, before[name]), name
    changed = [n for n, p in model.named_parameters() if n not in shared and not torch.equal(p, before[n])]
    assert any(".per_task." in n for n in changed) and any(n.startswith("heads.") for n in changed)
    assert not any(p.requires_grad for n, p in model.named_parameters() if n in shared)


# -- family contract -------------------------------------------------------------------------------
def test_mixed_task_batch_loss_equals_per_task_losses(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, num_shared_layers=1)
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    model.eval()
    with torch.no_grad():
        mixed = model(**model.collate(EXAMPLES, tok))
        for i, ex in enumerate(EXAMPLES):
            alone = model(**model.collate([ex], tok))
            assert mixed.nll[i].item() == pytest.approx(alone.nll[0].item(), abs=1e-4)
    assert mixed.loss.item() == pytest.approx(mixed.nll.mean().item())
    assert mixed.logits is None and set(mixed.task_logits) == {"NCBI-disease", "BC5CDR"}


def test_collate_splits_long_sentences_between_mentions(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, max_seq_length=16)
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    words = ("the patient had severe breast cancer and then aspirin was given " * 4).split()
    spans = [{"start": s, "end": s + 2, "label": "Disease"} for s in range(4, len(words), 11)]
    spans += [{"start": s, "end": s + 1, "label": "Chemical"} for s in range(8, len(words), 11)]
    batch = model.collate([{"id": "x", "corpus": "BC5CDR", "tokens": words, "spans": spans}], tok)
    assert batch["input_ids"].shape[1] <= 16 and batch["input_ids"].shape[0] > 1
    assert model.collate_stats["sentences_split"] == 1 and model.collate_stats["mentions_cut"] == 0
    labels = model.config.task_labels["BC5CDR"]
    offset, got = 0, []
    for row in range(batch["word_index"].shape[0]):
        n = int(batch["word_mask"][row].sum())
        tags = [labels[t] for t in batch["tags"][row, :n].tolist()]
        got += [(s + offset, e + offset, t) for s, e, t in tags_to_spans(tags, "IOBES")]
        offset += n
    assert offset == len(words)
    assert sorted(got) == sorted((s["start"], s["end"], s["label"]) for s in spans)


def test_pack_sentences_joins_consecutive_sentences_of_a_task(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, pack_sentences=True)
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    batch = model.collate([EXAMPLES[0], EXAMPLES[2], EXAMPLES[1]], tok)
    assert batch["task_ids"].tolist() == [1, 0]  # BC5CDR x2 packed, then NCBI-disease
    labels = model.config.task_labels["BC5CDR"]
    tags = [labels[t] for t in batch["tags"][0, : int(batch["word_mask"][0].sum())]]
    assert tags_to_spans(tags, "IOBES") == [(0, 1, "Chemical"), (2, 3, "Chemical"), (4, 5, "Disease"),
                                            (6, 7, "Chemical")]
    assert torch.isfinite(model(**batch).loss)


def test_a_mention_longer_than_the_budget_is_dropped_once_never_clipped_into_fake_mentions(tiny_encoder_dir):
    """Issue 15 defect: the split used to clip such a mention into a piece per chunk (fake mentions)
    and to count cuts, not mentions."""
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, max_seq_length=8)
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    words = "the patient had severe acute renal failure after daily long intake and then was seen".split()
    assert subword_counts(tok, words) == [1] * 15
    spans = [{"start": 0, "end": 1, "label": "Chemical"}, {"start": 2, "end": 15, "label": "Disease"}]
    batch = model.collate([{"id": "x", "corpus": "BC5CDR", "tokens": words, "spans": spans}], tok)
    assert batch["input_ids"].shape[0] == 4  # budget 6: [0, 2) [2, 8) [8, 14) [14, 15), two cuts in the mention
    labels = model.config.task_labels["BC5CDR"]
    found = []
    for row in range(batch["tags"].shape[0]):
        n = int(batch["word_mask"][row].sum())
        found += tags_to_spans([labels[t] for t in batch["tags"][row, :n].tolist()], "IOBES")
    assert found == [(0, 1, "Chemical")]  # the long disease is not trained on at all
    assert model.collate_stats["mentions_cut"] == 1 and model.collate_stats["sentences_split"] == 1


def test_pack_rows_respects_budget_and_task():
    rows = [(["a"], ["O"], 0), (["b", "c"], ["O", "O"], 0), (["d"], ["O"], 1), (["e"], ["O"], 1)]
    assert pack_rows(rows, [2, 3, 1, 1], budget=4) == [(["a"], ["O"], 0), (["b", "c"], ["O", "O"], 0),
                                                       (["d", "e"], ["O", "O"], 1)]


def test_bad_examples_give_clear_errors(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES)
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    with pytest.raises(ValueError, match="'corpus'"):
        model.collate([dict(EXAMPLES[0], corpus="BC2GM")], tok)
    with pytest.raises(ValueError, match="not a type of corpus"):
        model.collate([dict(EXAMPLES[1], spans=[{"start": 0, "end": 1, "label": "Chemical"}])], tok)
    with pytest.raises(ValueError, match="outside"):
        model.collate([dict(EXAMPLES[1], spans=[{"start": 3, "end": 9, "label": "Disease"}])], tok)
    with pytest.raises(ValueError, match="'tokens'"):
        model.collate([{"corpus": "BC5CDR", "tokens": "a b"}], tok)
    batch = _batch_for(model, tok)
    with pytest.raises(ValueError, match="pass task"):
        model(**batch)
    with pytest.raises(ValueError, match="unknown task"):
        model(**batch, task="BC2GM")
    with pytest.raises(ValueError, match="unknown corpus"):
        model.predict_spans([["a"]], tok, corpus="BC2GM")
    empty = model.collate([{"corpus": "BC5CDR", "tokens": [], "spans": []}], tok)
    assert model.collate_stats["empty_sentences"] == 1
    assert model(**empty).loss.item() == 0.0


def _synthetic(n: int, seed: int) -> list[dict]:
    """Sentences where 'cancer'/'asthma' are diseases and 'aspirin'/'naloxone' chemicals."""
    rng = random.Random(seed)
    filler = "the patient was given a dose after surgery with no sign of".split()
    out = []
    for i in range(n):
        words = rng.choices(filler, k=rng.randint(3, 8))
        spans = []
        for _ in range(2):
            pos = rng.randint(0, len(words))
            ent, label = rng.choice([("cancer", "Disease"), ("asthma", "Disease"), ("aspirin", "Chemical"),
                                     ("naloxone", "Chemical")])
            words.insert(pos, ent)
            spans = [dict(s, start=s["start"] + (s["start"] >= pos), end=s["end"] + (s["start"] >= pos))
                     for s in spans]
            spans.append({"start": pos, "end": pos + 1, "label": label})
        corpus = "BC5CDR" if i % 2 else "NCBI-disease"
        spans = [s for s in spans if corpus == "BC5CDR" or s["label"] == "Disease"]
        out.append({"id": str(i), "corpus": corpus, "tokens": words, "spans": spans})
    return out


@pytest.mark.parametrize("subword_mode", ["first", "x_label"])
def test_learns_and_predicts_long_sentences_through_windows(tiny_encoder_dir, subword_mode):
    torch.manual_seed(0)
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, num_shared_layers=1,
                                             subword_mode=subword_mode, emission_dropout=0.0)
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)  # model_max_length 128
    data = _synthetic(64, seed=0)
    if subword_mode == "x_label":
        batch = model.collate([{"corpus": "BC5CDR", "tokens": ["naloxone"], "spans": []}], tok)
        labels = model.config.task_labels["BC5CDR"]
        pieces = int(batch["word_mask"][0].sum())
        assert pieces > 1 and [labels[t] for t in batch["tags"][0, 1:pieces]] == ["X"] * (pieces - 1)
    batches = [model.collate(data[i: i + 8], tok) for i in range(0, 64, 8)]
    recipe = TrainingRecipe(learning_rate=3e-3, layer_decay=1.0, save_steps=1000)
    losses = train_run(model, iter(batches * 10), 60, recipe)
    assert sum(losses[-8:]) < 0.2 * sum(losses[:8])
    long = ("the patient was given a dose " * 30).split() + ["cancer", "and", "aspirin"]
    n = len(long)
    assert sum(len(tok.tokenize(w)) for w in long) > 128  # needs windows
    short = ["no", "sign", "of", "asthma"]
    preds = model.predict_spans([long, short, []], tok, batch_size=2)
    assert preds[2] == []
    found = {(s["start"], s["end"], s["label"]) for s in preds[0]}
    assert {(n - 3, n - 2, "NCBI-disease/Disease"), (n - 3, n - 2, "BC5CDR/Disease"),
            (n - 1, n, "BC5CDR/Chemical")} <= found
    assert {(3, 4, "NCBI-disease/Disease"), (3, 4, "BC5CDR/Disease")} <= {(s["start"], s["end"], s["label"])
                                                                       for s in preds[1]}
    for spans in preds:
        assert spans == sorted(spans, key=lambda d: (d["start"], -d["end"], d["label"]))
        assert all(0.0 <= s["score"] <= 1.0 and isinstance(s["score"], float) for s in spans)
    alone = model.predict_spans([short], tok)[0]
    assert [(s["start"], s["end"], s["label"]) for s in alone] == [(s["start"], s["end"], s["label"])
                                                                    for s in preds[1]]
    assert [s["score"] for s in alone] == pytest.approx([s["score"] for s in preds[1]], abs=1e-4)
    only = model.predict_spans([short], tok, corpus="BC5CDR")[0]
    assert {s["label"] for s in only} <= {"BC5CDR/Chemical", "BC5CDR/Disease"} and only
    assert model.training  # predict_spans restores the mode it found
    if subword_mode == "first":  # the shared `biomedical-ner` pipeline runs on this family's predict_spans
        from transformers import pipeline

        import biomtl.modeling.pipeline_ner  # noqa: F401  (registers the task)

        ner = pipeline("biomedical-ner", model=model, tokenizer=tok)
        text = "There was no sign of asthma after aspirin ."
        ents = ner(text, label_mode="prefixed")
        got = {(e["word"], e["entity_group"]) for e in ents}
        assert {("asthma", "NCBI-disease/Disease"), ("asthma", "BC5CDR/Disease"),
                ("aspirin", "BC5CDR/Chemical")} <= got, ents
        assert all(text[e["start"]: e["end"]] == e["word"] for e in ents)


def test_export_select_and_add_task_keep_each_tasks_function(tiny_encoder_dir):
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, num_shared_layers=1)
    _perturb(model, seed=4)
    tok = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    batch = _batch_for(model, tok)
    exported = model.export_task("BC5CDR")
    assert exported.config.num_shared_layers == 2 and exported.config.tasks == ["BC5CDR"]
    assert torch.equal(_logits(exported, batch, "BC5CDR"), _logits(model, batch, "BC5CDR"))
    selected = model.select_tasks(["NCBI-disease"])
    assert selected.config.corpora == ["NCBI-disease"] and len(selected.heads) == 1
    assert torch.equal(_logits(selected, batch, "NCBI-disease"), _logits(model, batch, "NCBI-disease"))
    grown = model.add_task({"BC2GM": ["BC2GM/GENE"]}, init="copy:BC5CDR")
    assert grown.config.corpora == ["NCBI-disease", "BC5CDR", "BC2GM"]
    for t in ("NCBI-disease", "BC5CDR"):
        assert torch.equal(_logits(grown, batch, t), _logits(model, batch, t))
    assert torch.equal(grown.encoder.encoder.layer[1].per_task["BC2GM"].output.dense.weight,
                       model.encoder.encoder.layer[1].per_task["BC5CDR"].output.dense.weight)
    with pytest.raises(ValueError, match="already exists"):
        grown.add_task({"BC2GM": ["BC2GM/GENE"]}, init="copy:BC5CDR")


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="subword_mode"):
        LayerSlicedCRFConfig(subword_mode="last")
    with pytest.raises(ValueError, match="num_shared_layers"):
        LayerSlicedCRFConfig(num_shared_layers=13)
    with pytest.raises(ValueError, match="no dots"):
        LayerSlicedCRFConfig(tasks=["a"], task_keys={"a": "a.b"}, task_types={"a": ["T"]},
                             task_corpora={"a": {"c": ["c/T"]}})


def test_trainer_optimizer_uses_the_familys_layer_scales(tiny_encoder_dir):
    """The trainer's layer-wise decay defers to the model's own §8 factors (per-task layer copies
    included), so `biomtl train` with `optim.layerwise_lr_decay` matches `layerwise_lr_groups`."""
    from biomtl.trainer.config import OptimConfig
    from biomtl.trainer.loop import build_optimizer

    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, num_shared_layers=1)
    opt = build_optimizer(model, OptimConfig(encoder_lr=1e-3, head_lr=5e-3, layerwise_lr_decay=0.8))
    got = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    want = {id(p): g["lr"] for g in model.layerwise_lr_groups(1e-3, layer_decay=0.8) for p in g["params"]}
    assert len(got) == len(list(model.parameters()))
    for name, p in model.named_parameters():
        expected = 5e-3 if name.startswith("heads.") else want[id(p)]
        assert got[id(p)] == pytest.approx(expected), name
