"""SRU-NER model pieces: word pooling (§4), SRU (§5), step (§6), multi-corpus targets and loss (§7),
lock-step inference (§8.4), long inputs (§9). Tiny random encoder only."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from biomtl.modeling.modeling_sru_ner import SruNerForTokenActions
from biomtl.modeling.sru_actions import EOA, SH, oracle_rows, reduce_action, transition_action
from biomtl.modeling.subwords import split_for_training

pytestmark = pytest.mark.usefixtures("one_thread")

MT_TYPES = {"BC4CHEMD": ["BC4CHEMD/Chemical"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}


def make_model(tiny_encoder_dir, corpus_types=None, seed=0, **kw):
    torch.manual_seed(seed)
    kw.setdefault("half_context", 6)
    return SruNerForTokenActions.from_encoder(str(tiny_encoder_dir), corpus_types or MT_TYPES, **kw)


def randomize_head(model, seed=1):
    """Non-trivial head weights (the default init has L = 0, i.e. uniform SRU attention)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in (model.sru.latents, model.sru.key_diagonal, model.sru.value_diagonal):
            p.copy_(torch.randn(p.shape, generator=g) * 0.7 + (1.0 if p.dim() == 1 else 0.0))
        model.action_mlp.hidden.weight.copy_(torch.randn(model.action_mlp.hidden.weight.shape, generator=g) * 0.3)
        model.action_mlp.out.weight.copy_(torch.randn(model.action_mlp.out.weight.shape, generator=g))
        model.begin_of_actions.copy_(torch.randn(model.begin_of_actions.shape, generator=g))


def example(i, corpus, text, spans):
    return {"id": str(i), "corpus": corpus, "doc_id": "d", "tokens": text.split(),
            "spans": [{"start": s, "end": e, "label": lab} for s, e, lab in spans]}


class ScriptedMlp(nn.Module):
    """Replaces the action MLP: returns scripted logits, step after step (keeps a graph to the input)."""

    def __init__(self, script: torch.Tensor):
        super().__init__()
        self.script = script  # (steps, B, n_actions)
        self.calls = 0

    def forward(self, x):
        out = self.script[min(self.calls, len(self.script) - 1)] + 0.0 * x[:, :1]
        self.calls += 1
        return out


# ----------------------------------------------------------------------------------------------
# §4 word pooling
# ----------------------------------------------------------------------------------------------


def test_word_pooling_slots_cls_sep_padding_and_max(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir).eval()
    sents = [["Naloxone", "reverses", "hypertension", "."], ["BRCA1"], ["a", "\u200b", "b"]]
    batch = model._encode(tok, sents, 128)
    wi, ids = batch["word_index"], batch["input_ids"]
    assert batch["slot_mask"].sum(1).tolist() == [6, 3, 5]
    for b, words in enumerate(sents):
        real = batch["attention_mask"][b].bool()
        assert wi[b, 0] == 0 and ids[b, 0] == tok.cls_token_id
        last = int(real.sum()) - 1
        assert ids[b, last] == tok.sep_token_id and wi[b, last] == len(words) + 1
        assert (wi[b, ~real] == -1).all()
        assert sorted(set(wi[b, real].tolist())) == list(range(len(words) + 2))  # no slot left empty
    # the zero-width word gets the UNK piece instead of shifting later slots
    assert tok.unk_token_id in ids[2].tolist()
    with torch.no_grad():
        hidden = model.encoder(input_ids=ids, attention_mask=batch["attention_mask"]).last_hidden_state
        slots = model.encode_slots(ids, batch["attention_mask"], wi, batch["slot_mask"].shape[1])
    for b in range(len(sents)):
        for q in range(batch["slot_mask"].shape[1]):
            sel = wi[b] == q
            expected = hidden[b, sel].amax(0) if sel.any() else torch.zeros(hidden.shape[-1])
            assert torch.equal(slots[b, q], expected)


# ----------------------------------------------------------------------------------------------
# §5 SRU
# ----------------------------------------------------------------------------------------------


def test_position_index_layout_and_legacy_quirks(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir, half_context=2)
    mask = torch.tensor([[True] * 7 + [False] * 2])
    idx = model.sru.position_index(torch.tensor([3]), mask)[0].tolist()
    hc = 2
    # slots: CLS, rel -2..+2, rel +3 is outside hc=2, two padding slots
    assert idx == [2 * hc + 1, 0, 1, 2, 3, 4, 2 * hc + 2, 2 * hc + 3, 2 * hc + 3]
    idx = model.sru.position_index(torch.tensor([1]), mask)[0].tolist()
    assert idx[4] == 2 * hc + 2  # rel +3 = hc+1: out of context (fixed)
    legacy = make_model(tiny_encoder_dir, half_context=2, legacy_position_quirks=True)
    assert legacy.sru.position_index(torch.tensor([1]), mask)[0].tolist()[4] == 2 * hc + 1
    assert torch.count_nonzero(legacy.sru.positions.weight[hc + 3]) == 0  # frozen zero row


def test_sru_masks_padding_and_reads_unpositioned_state(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir).eval()
    randomize_head(model)
    d = model.config.encoder_config.hidden_size
    state = torch.randn(1, 6, d)
    mask = torch.tensor([[True, True, True, True, False, False]])
    h = model.sru(state, torch.tensor([2]), mask)
    changed = state.clone()
    changed[0, 4:] = torch.randn(2, d) * 100  # padding content must not matter
    assert torch.allclose(model.sru(changed, torch.tensor([2]), mask), h, atol=1e-6)
    # h is a convex combination of D1 * C rows (no position vectors inside)
    with torch.no_grad():
        model.sru.value_diagonal.fill_(1.0)
    h = model.sru(state, torch.tensor([2]), mask)[0]
    lo, hi = state[0, :4].min(0).values, state[0, :4].max(0).values
    assert ((h >= lo - 1e-5) & (h <= hi + 1e-5)).all()


def _check_incremental_against_naive(seed: int, dtype: torch.dtype, scale: float, tol: float):
    from transformers import BertConfig

    from biomtl.modeling.configuration_sru_ner import SruNerConfig
    from biomtl.modeling.modeling_sru_ner import SlotRecurrentUnit

    g = torch.Generator().manual_seed(seed)
    d = 16
    cfg = SruNerConfig(corpus_types=MT_TYPES, half_context=3, alpha_init=1.7,
                       encoder_config=BertConfig(hidden_size=d, num_hidden_layers=1, num_attention_heads=2,
                                                 intermediate_size=8).to_dict())
    sru = SlotRecurrentUnit(cfg, d).eval().to(dtype)

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)

    with torch.no_grad():
        sru.latents.copy_(rand(*sru.latents.shape) * scale)
        sru.key_diagonal.copy_(1 + rand(d) * scale)
        sru.value_diagonal.copy_(1 + rand(d) * scale)
        sru.positions.weight.copy_(rand(*sru.positions.weight.shape))
        sru.alpha.fill_(1.7)
    batch, q = 3, 11
    lengths = torch.tensor([11, 5, 8])
    mask = torch.arange(q)[None] < lengths[:, None]
    state = rand(batch, q, d) * mask[..., None]
    cache = sru.start_cache(state)
    naive = state.clone()
    for _ in range(12):
        slot = torch.randint(0, q, (batch,), generator=g)
        omega = rand(batch, d)
        write = mask[torch.arange(batch), slot] & (torch.rand(batch, generator=g) > 0.2)
        sru.cache_write(cache, slot, omega, write)
        naive = naive + torch.nn.functional.one_hot(slot, q)[..., None].to(dtype) * (omega * write[:, None])[:, None]
        expected = sru(naive, slot, mask)
        assert torch.allclose(sru.cache_read(cache, slot, mask), expected, atol=tol, rtol=tol)
        assert torch.allclose(cache.state, naive, atol=tol, rtol=0)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000))
def test_incremental_sru_equals_naive_fp32(seed):
    """Trained-scale parameters (latent entries ~0.3), fp32, tolerance 1e-5 (§8.4 / §16.3)."""
    _check_incremental_against_naive(seed, torch.float32, 0.3, 1e-5)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10_000))
def test_incremental_sru_equals_naive_fp64_sharp_attention(seed):
    """Large latents (very sharp attention) in fp64: the two forms agree to rounding (1e-9)."""
    _check_incremental_against_naive(seed, torch.float64, 1.5, 1e-9)


# ----------------------------------------------------------------------------------------------
# §6 step
# ----------------------------------------------------------------------------------------------


def test_step_write_gate_includes_sh_and_uses_full_softmax(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir)
    logits = torch.tensor([[0.5, 1.0, 2.0, -1.0, 1.0, 0.0, -3.0, 3.0]])
    weights = torch.softmax(logits, -1) * torch.tensor([[0, 1, 1, 0, 1, 0, 0, 1.0]])
    expected = weights @ model.action_embeddings
    assert torch.allclose(model.step_write(logits), expected)


# ----------------------------------------------------------------------------------------------
# §7 training targets and loss
# ----------------------------------------------------------------------------------------------


def _bc5_batch(model, tok):
    ex = example(0, "BC5CDR", "cisplatin induced nephrotoxicity .",
                 [(0, 1, "BC5CDR/Chemical"), (2, 3, "BC5CDR/Disease")])
    return model.collate([ex], tok)


def test_collate_targets_and_other_mask(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir)
    batch = _bc5_batch(model, tok)
    c5, d5 = 1, 2  # type ids: BC4CHEMD/Chemical=0, BC5CDR/Chemical=1, BC5CDR/Disease=2
    rows = [[transition_action(c5)], [SH], [reduce_action(c5)], [SH], [transition_action(d5)], [SH],
            [reduce_action(d5)], [SH], [EOA]]
    assert [r.nonzero().flatten().tolist() for r in batch["gold_rows"][0]] == rows
    assert batch["gold_len"].tolist() == [9]
    assert batch["other_mask"][0].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]


def test_postponement_trace_of_spec(tiny_encoder_dir, tok):
    """§7.3 worked trace: at k=1 sigma(TR BC4CHEMD/Chemical)=0.8 > sigma(SH)=0.55: SH postponed."""
    model = make_model(tiny_encoder_dir)
    batch = _bc5_batch(model, tok)
    n_act = model.config.num_actions
    script = torch.full((12, 1, n_act), -4.0)
    script[:, 0, SH] = math.log(0.55 / 0.45)
    tr_bc4 = transition_action(0)
    script[1, 0, tr_bc4] = math.log(0.8 / 0.2)
    model.action_mlp = ScriptedMlp(script)
    out = model(**batch)
    assert out.gold_row_index[0].tolist() == [0, 1, 1, 2, 3, 4, 5, 6, 7, 8]  # T_final = 10
    assert out.pointer[0].tolist() == [1, 1, 1, 2, 2, 3, 3, 4, 4, 5]
    tgt = out.targets[0]
    assert tgt[1, SH].item() == pytest.approx(0.55) and tgt[1, tr_bc4].item() == pytest.approx(0.8)
    assert tgt[2, SH].item() == 1.0  # repeated row, SH forced to 1
    assert tgt[2, tr_bc4].item() == pytest.approx(1 / (1 + math.exp(4.0)))  # soft target kept
    assert tgt[0, transition_action(1)].item() == 1.0
    assert tgt[9].tolist() == [1.0] + [0.0] * (n_act - 1)  # EOA row: other-corpus targets are 0
    assert out.step_mask[0].all()


def test_multi_corpus_gradient_zero_on_other_corpus_actions(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir).train()
    randomize_head(model)
    exs = [example(0, "BC5CDR", "cisplatin induced nephrotoxicity in rats .",
                   [(0, 1, "BC5CDR/Chemical"), (2, 3, "BC5CDR/Disease")]),
           example(1, "BC4CHEMD", "aspirin and ibuprofen", [(0, 1, "BC4CHEMD/Chemical"), (2, 3, "Chemical")])]
    batch = model.collate(exs, tok)
    out = model(**batch)
    out.logits.retain_grad()
    out.loss.backward()
    grad = out.logits.grad
    other = batch["other_mask"].bool()  # (B, n_act)
    eoa_row = out.targets[..., EOA] == 1
    in_loss = out.step_mask
    for b in range(2):
        for t in range(grad.shape[1]):
            g_other = grad[b, t][other[b]]
            if in_loss[b, t] and eoa_row[b, t]:
                assert (g_other != 0).all()  # EOA row: other-corpus actions are penalised
            else:
                assert (g_other == 0).all(), (b, t)
            if not in_loss[b, t]:
                assert (grad[b, t] == 0).all()
    assert grad[in_loss][:, [SH, EOA]].abs().sum() > 0


def test_detach_sh_soft_target_flag(tiny_encoder_dir, tok):
    grads = {}
    for detach in (True, False):
        model = make_model(tiny_encoder_dir, detach_sh_soft_target=detach)
        batch = _bc5_batch(model, tok)
        script = torch.full((12, 1, model.config.num_actions), -4.0)
        script[:, 0, SH] = 0.2
        script[1, 0, transition_action(0)] = 1.4
        script.requires_grad_(True)
        model.action_mlp = ScriptedMlp(script)
        out = model(**batch)
        out.loss.backward()  # total gradient on the step-1 logits, through the target too
        grads[detach] = script.grad[1, 0, SH].item()
    assert grads[True] == 0.0  # target == sigma(u_SH), detached: no gradient
    # reference: d/du BCE(u, sigma(u)) = -sigma'(u) * u  (entropy gradient), / n_actions / n_rows
    expected = -(torch.sigmoid(torch.tensor(0.2)) * (1 - torch.sigmoid(torch.tensor(0.2))) * 0.2).item() / 8 / 10
    assert grads[False] == pytest.approx(expected, rel=1e-4)


def test_post_eoa_rows_masked_by_default_reference_flag_includes_them(tiny_encoder_dir, tok):
    exs = [example(0, "BC5CDR", "cisplatin induced nephrotoxicity in rats treated twice .",
                   [(0, 1, "BC5CDR/Chemical")]),
           example(1, "BC4CHEMD", "aspirin", [(0, 1, "BC4CHEMD/Chemical")])]
    masks = {}
    for flag in (True, False):
        model = make_model(tiny_encoder_dir, mask_post_eoa_rows=flag).eval()
        batch = model.collate(exs, tok)
        out = model(**batch)
        short_len = int(batch["gold_len"][1])
        row = out.gold_row_index[1]
        first_post = int((row == short_len - 1).nonzero()[0, 0]) + 1  # step after the short one's EOA row
        masks[flag] = out.step_mask[1, first_post:]
    assert not masks[True].any()
    assert masks[False].all()


def test_single_corpus_runs_exactly_a_steps_and_loss_is_mean_over_nonempty_rows(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir, {"NCBI": ["NCBI/Disease"]}).eval()
    randomize_head(model)
    exs = [example(0, "NCBI", "breast cancer and colon cancer", [(0, 2, "Disease"), (3, 5, "Disease")]),
           example(1, "NCBI", "no mention", [])]
    batch = model.collate(exs, tok)
    out = model(**batch)
    n_rows = batch["gold_rows"].shape[1]
    assert out.logits.shape[1] == n_rows
    assert out.step_mask.sum(1).tolist() == batch["gold_len"].tolist()
    assert torch.equal(out.targets, batch["gold_rows"])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    rows = [bce(out.logits[b, t], out.targets[b, t]) for b in range(2) for t in range(int(batch["gold_len"][b]))]
    assert out.loss.item() == pytest.approx(torch.stack(rows).mean().item(), rel=1e-6)


def test_collate_errors_name_the_field(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir)
    with pytest.raises(ValueError, match=r"examples\[0\].*corpus"):
        model.collate([example(0, "GENIA", "a b", [])], tok)
    with pytest.raises(ValueError, match=r"spans\[0\].label"):
        model.collate([example(0, "BC5CDR", "a b", [(0, 1, "Gene")])], tok)
    with pytest.raises(ValueError, match=r"examples\[0\].*spans"):
        model.collate([example(0, "BC5CDR", "a b", [(1, 5, "Chemical")])], tok)


def test_same_type_crossing_mentions_are_counted(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir)
    ex = example(0, "BC5CDR", "a b c d", [(0, 2, "Chemical"), (1, 3, "Chemical"), (1, 3, "Disease")])
    with pytest.warns(UserWarning, match="cross"):
        batch = model.collate([ex], tok)
    assert model.collate_stats["crossing_mentions_dropped"] == 1
    assert batch["gold_rows"][0].sum() == 4 + 4 + 1  # 2 mentions (TR+RE) + 4 SH + EOA


# ----------------------------------------------------------------------------------------------
# §9 long inputs
# ----------------------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=40), st.integers(4, 12), st.data())
def test_split_for_training_never_cuts_a_mention_when_avoidable(counts, budget, data):
    n = len(counts)
    spans = set()
    for _ in range(data.draw(st.integers(0, 6))):
        s = data.draw(st.integers(0, n - 1))
        spans.add((s, data.draw(st.integers(s + 1, min(n, s + 4))), data.draw(st.integers(0, 1))))
    spans = sorted(spans)
    chunks, chunk_spans, lost = split_for_training(counts, spans, budget)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    assert all(sum(counts[s:e]) <= budget for s, e in chunks)
    rebuilt = sorted((s + cs, e + cs, t) for (cs, _), sp in zip(chunks, chunk_spans) for s, e, t in sp)
    assert sorted(rebuilt + lost) == spans
    cuts = [ce for _, ce in chunks[:-1]]
    assert lost == [x for x in spans if any(x[0] < c < x[1] for c in cuts)]

    def free(i):
        return not any(s < i < e for s, e, _ in spans)

    for cs, ce in chunks[:-1]:
        assert sum(counts[cs : ce + 1]) > budget or free(ce)  # never stops early except at a free boundary
        if not free(ce):  # a forced cut: no free boundary fitted in this chunk
            assert not any(free(i) for i in range(cs + 1, ce + 1))


def test_long_sentence_split_in_collate_and_windowed_in_predict(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir).eval()
    randomize_head(model)
    words = [f"word{i}" for i in range(150)]  # several sub-words each: far over 128
    spans = [(i, i + 3, "BC5CDR/Chemical") for i in range(0, 147, 10)]
    batch = model.collate([example(0, "BC5CDR", " ".join(words), spans)], tok)
    assert model.collate_stats["sentences_split"] == 1
    assert batch["input_ids"].shape[0] > 1 and batch["input_ids"].shape[1] <= 128
    kept = sum(int(r[:, 2::2].sum()) for r in batch["gold_rows"])  # TR count over chunks
    assert kept == len(spans) and model.collate_stats["mentions_cut"] == 0
    out = model(**batch)
    assert torch.isfinite(out.loss)
    pred = model.predict_spans([words, words[:5]], tok)
    assert model.predict_stats["windowed_sentences"] == 1
    assert all(0 <= s["start"] < s["end"] <= 150 for s in pred[0])


def test_parameter_groups_partition_trainable_parameters(tiny_encoder_dir):
    model = make_model(tiny_encoder_dir, alpha_trainable=True)
    groups = model.parameter_groups()
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len([p for p in model.parameters() if p.requires_grad])
    assert {id(p) for p in model.encoder.parameters()} == {id(p) for p in groups["encoder"]}
    assert id(model.sru.alpha) in {id(p) for p in groups["head"]}
    frozen = make_model(tiny_encoder_dir)
    assert id(frozen.sru.alpha) not in {id(p) for p in frozen.parameter_groups()["head"]}


def test_oracle_rows_reach_model_unchanged_for_nested_gold(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir, {"GENIA": ["GENIA/DNA", "GENIA/protein"]})
    ex = example(0, "GENIA", "Binding to the IL-2 gene promoter region .",
                 [(3, 7, "DNA"), (3, 5, "DNA"), (3, 4, "protein")])
    batch = model.collate([ex], tok)
    rows = [r.nonzero().flatten().tolist() for r in batch["gold_rows"][0]]
    assert rows == oracle_rows([(3, 7, 0), (3, 5, 0), (3, 4, 1)], 8)


def test_soft_target_coefficient_other_than_one_keeps_a_gradient(tiny_encoder_dir, tok):
    model = make_model(tiny_encoder_dir, soft_target_coef=0.5).train()
    randomize_head(model)
    batch = _bc5_batch(model, tok)
    out = model(**batch)
    out.logits.retain_grad()
    out.loss.backward()
    other = batch["other_mask"][0].bool()
    rows = out.step_mask[0] & (out.targets[0, :, EOA] == 0)
    g = out.logits.grad[0][rows][:, other]
    expected = (torch.sigmoid(out.logits[0][rows][:, other]) * 0.5).detach()  # sigma - min(1, 0.5 sigma)
    assert torch.allclose(g * 8 * out.step_mask.sum(), expected, atol=1e-6)


def test_save_load_keeps_corpus_and_type_order(tiny_encoder_dir, tok, tmp_path):
    """config.json sorts dict keys: the corpus order (hence the type ids) must survive a round trip."""
    from transformers import AutoModel

    order = {"BC5CDR": ["BC5CDR/Disease", "BC5CDR/Chemical"], "BC4CHEMD": ["BC4CHEMD/Chemical"]}
    model = make_model(tiny_encoder_dir, order).eval()
    randomize_head(model)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert list(loaded.config.corpus_types) == ["BC5CDR", "BC4CHEMD"]
    assert loaded.config.type_names == ["BC5CDR/Disease", "BC5CDR/Chemical", "BC4CHEMD/Chemical"]
    assert loaded.config.type_dataset == ["BC5CDR", "BC5CDR", "BC4CHEMD"]
    batch = model.collate([example(0, "BC5CDR", "aspirin causes headache", [(0, 1, "Chemical"), (2, 3, "Disease")])],
                          tok)
    assert batch["other_mask"][0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, loaded(**batch).logits)


def test_sru_checkpointing_gives_the_same_loss_and_gradients(tiny_encoder_dir, tok):
    exs = [example(0, "BC5CDR", "cisplatin induced nephrotoxicity in rats .", [(0, 1, "BC5CDR/Chemical")]),
           example(1, "BC4CHEMD", "aspirin and ibuprofen", [(0, 1, "BC4CHEMD/Chemical")])]
    results = []
    for flag in (False, True):
        model = make_model(tiny_encoder_dir, sru_checkpointing=flag).train()
        randomize_head(model)
        batch = model.collate(exs, tok)
        torch.manual_seed(3)  # same dropout masks
        out = model(**batch)
        out.loss.backward()
        results.append((out.loss.detach(), model.sru.latents.grad.clone(), model.action_embeddings.grad.clone()))
    for a, b in zip(*results):
        assert torch.allclose(a, b, atol=1e-6)
