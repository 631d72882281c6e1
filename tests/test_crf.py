"""Linear-chain CRF and tag schemes against brute-force enumeration (spec §3, §13.1)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.modeling.crf import LinearChainCRF, compact
from biomtl.modeling.tag_schemes import (
    allowed_transitions,
    bio_to_iobes,
    iobes_to_bio,
    spans_to_tags,
    tag_names,
    tags_to_spans,
)


def _random_crf(num_tags: int, gen: torch.Generator, allowed=None) -> LinearChainCRF:
    crf = LinearChainCRF(num_tags, allowed)
    with torch.no_grad():  # zero-initialised by design: give them values
        for p in crf.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    return crf


def _brute(crf: LinearChainCRF, emissions: torch.Tensor, mask: torch.Tensor):
    """Per row: (log Z, best path, best score, {path: score}) by enumerating every tag path of the valid steps."""
    trans, start, end = (x.detach().double() for x in crf.effective_scores())
    emissions = emissions.detach()
    out = []
    for b in range(emissions.shape[0]):
        steps = [t for t in range(emissions.shape[1]) if mask[b, t]]
        em = emissions[b, steps].double()
        scores = {}
        for path in itertools.product(range(crf.num_tags), repeat=len(steps)):
            s = start[path[0]] + end[path[-1]] + sum(em[i, y] for i, y in enumerate(path))
            s = s + sum(trans[path[i - 1], path[i]] for i in range(1, len(path)))
            scores[path] = float(s)
        best = max(scores, key=scores.get)
        out.append((math.log(sum(math.exp(v) for v in scores.values())), list(best), scores[best], scores))
    return out


def _mask(gen: torch.Generator, batch: int, width: int, holes: bool) -> torch.Tensor:
    if holes:
        mask = torch.rand(batch, width, generator=gen) < 0.6
    else:
        lengths = torch.randint(1, width + 1, (batch,), generator=gen)
        mask = torch.arange(width)[None, :] < lengths[:, None]
    mask[:, 0] |= ~mask.any(dim=1)  # at least one step per row
    return mask


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), num_tags=st.integers(1, 3), width=st.integers(1, 4), holes=st.booleans())
def test_log_partition_nll_and_viterbi_equal_brute_force(seed, num_tags, width, holes):
    gen = torch.Generator().manual_seed(seed)
    crf = _random_crf(num_tags, gen)
    batch = 3
    emissions = torch.randn(batch, width, num_tags, generator=gen)
    mask = _mask(gen, batch, width, holes)
    tags = torch.randint(0, num_tags, (batch, width), generator=gen)
    brute = _brute(crf, emissions, mask)

    log_z = crf.log_partition(emissions, mask)
    assert torch.allclose(log_z.double(), torch.tensor([b[0] for b in brute], dtype=torch.double), atol=1e-4)
    nll = crf.nll(emissions, tags, mask)
    for b in range(batch):
        gold = tuple(tags[b, mask[b]].tolist())
        assert nll[b].item() == pytest.approx(brute[b][0] - brute[b][3][gold], abs=1e-4)
    paths, scores = crf.viterbi(emissions, mask)
    decoded = crf.decode(emissions, mask)
    for b in range(batch):
        assert scores[b].item() == pytest.approx(brute[b][2], abs=1e-4)
        # ties are measure-zero with random floats: the argmax path itself must match
        assert decoded[b] == brute[b][1]
        assert paths[b, : len(decoded[b])].tolist() == decoded[b]
        assert (paths[b, len(decoded[b]):] == -1).all()


def test_length_one_and_full_masks():
    gen = torch.Generator().manual_seed(1)
    crf = _random_crf(3, gen)
    emissions = torch.randn(2, 4, 3, generator=gen)
    mask = torch.tensor([[True, False, False, False], [True, True, True, True]])
    brute = _brute(crf, emissions, mask)
    assert crf.decode(emissions, mask) == [brute[0][1], brute[1][1]]
    assert len(crf.decode(emissions, mask)[0]) == 1
    full = crf.log_partition(emissions)  # mask=None: every step valid
    assert full[1].item() == pytest.approx(brute[1][0], abs=1e-4)


def test_holey_mask_equals_compaction():
    gen = torch.Generator().manual_seed(2)
    crf = _random_crf(3, gen)
    emissions = torch.randn(4, 6, 3, generator=gen)
    mask = _mask(gen, 4, 6, holes=True)
    tags = torch.randint(0, 3, (4, 6), generator=gen)
    packed, prefix = compact(emissions, mask)
    packed_tags, _ = compact(tags, mask)
    assert torch.allclose(crf.nll(emissions, tags, mask), crf.nll(packed, packed_tags, prefix))
    assert crf.decode(emissions, mask) == crf.decode(packed, prefix)


def test_runs_in_float32_under_autocast():
    gen = torch.Generator().manual_seed(3)
    crf = _random_crf(3, gen)
    emissions = torch.randn(2, 4, 3, generator=gen).to(torch.bfloat16)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    tags = torch.randint(0, 3, (2, 4), generator=gen)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        nll = crf.nll(emissions, tags, mask)
        log_z = crf.log_partition(emissions, mask)
        decoded = crf.decode(emissions, mask)
    assert nll.dtype == torch.float32 and log_z.dtype == torch.float32
    brute = _brute(crf, emissions.float(), mask)
    assert log_z.tolist() == pytest.approx([b[0] for b in brute], abs=1e-4)
    assert decoded == [b[1] for b in brute]


def test_loss_reductions_and_gradients():
    gen = torch.Generator().manual_seed(4)
    crf = _random_crf(3, gen)
    emissions = torch.randn(2, 3, 3, generator=gen, requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    tags = torch.randint(0, 3, (2, 3), generator=gen)
    per_seq = crf.nll(emissions, tags, mask)
    assert (per_seq > 0).all()  # -log p of one path among several
    assert crf.loss(emissions, tags, mask, "mean").item() == pytest.approx(per_seq.mean().item())
    assert crf.loss(emissions, tags, mask, "sum").item() == pytest.approx(per_seq.sum().item())
    assert crf.loss(emissions, tags, mask, "token_mean").item() == pytest.approx(per_seq.sum().item() / 5)
    crf.loss(emissions, tags, mask).backward()
    assert crf.transitions.grad is not None and emissions.grad is not None
    assert emissions.grad[0, 2].abs().sum() == 0  # masked step receives no gradient


def test_marginal_segment_probabilities_match_brute_force():
    gen = torch.Generator().manual_seed(5)
    crf = _random_crf(3, gen)
    emissions = torch.randn(1, 4, 3, generator=gen)
    mask = torch.tensor([[True, True, True, False]])
    alpha, beta, log_z = crf.forward_backward(emissions, mask)
    brute = _brute(crf, emissions, mask)[0]
    z = math.exp(brute[0])
    for start, seg in [(0, [1]), (1, [2, 0]), (0, [0, 1, 2]), (2, [1])]:
        want = sum(math.exp(s) for p, s in brute[3].items() if list(p[start: start + len(seg)]) == seg) / z
        got = math.exp(crf.segment_log_prob(emissions, alpha, beta, log_z, 0, start, seg))
        assert got == pytest.approx(want, rel=1e-4)


def test_constrained_transitions_decode_only_legal_paths():
    tags = tag_names(["A", "B"], "IOBES")
    allowed = allowed_transitions(tags, "IOBES")
    gen = torch.Generator().manual_seed(6)
    crf = _random_crf(len(tags), gen, allowed)
    emissions = torch.randn(5, 4, len(tags), generator=gen) * 5
    for path in crf.decode(emissions):
        words = [tags[i] for i in path]
        assert spans_to_tags(tags_to_spans(words, "IOBES"), len(words), "IOBES") == words


def test_bad_inputs_raise_clear_errors():
    crf = LinearChainCRF(3)
    with pytest.raises(ValueError, match="at least one unmasked step"):
        crf.nll(torch.zeros(1, 2, 3), torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="tags must lie"):
        crf.nll(torch.zeros(1, 2, 3), torch.full((1, 2), 7), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="emissions must have shape"):
        crf.decode(torch.zeros(1, 2, 4))


# -- tag schemes -------------------------------------------------------------------------------------
@st.composite
def _spans(draw):
    n = draw(st.integers(0, 12))
    spans, pos = [], 0
    while pos < n:
        pos += draw(st.integers(0, 2))
        if pos >= n:
            break
        end = min(n, pos + draw(st.integers(1, 4)))
        spans.append((pos, end, draw(st.sampled_from(["Disease", "Chem-ical", "B"]))))
        pos = end
    return n, spans


@given(_spans(), st.sampled_from(["IOBES", "BIO"]))
def test_spans_tags_round_trip(case, scheme):
    n, spans = case
    tags = spans_to_tags(spans, n, scheme)
    assert tags_to_spans(tags, scheme) == spans
    legal, start, end = allowed_transitions(tag_names(["Disease", "Chem-ical", "B"], scheme), scheme)
    index = {t: i for i, t in enumerate(tag_names(["Disease", "Chem-ical", "B"], scheme))}
    ids = [index[t] for t in tags]
    if ids:
        assert start[ids[0]] and end[ids[-1]]
        assert all(legal[a, b] for a, b in zip(ids, ids[1:]))


@given(_spans())
def test_bio_iobes_conversions_are_lossless(case):
    n, spans = case
    bio, iobes = spans_to_tags(spans, n, "BIO"), spans_to_tags(spans, n, "IOBES")
    assert bio_to_iobes(bio) == iobes
    assert iobes_to_bio(iobes) == bio


def test_illegal_sequences_decode_conlleval_style():
    assert tags_to_spans(["I-A", "I-A", "O", "E-A", "B-B", "I-A"], "IOBES") == [(0, 2, "A"), (3, 4, "A"), (4, 5, "B"),
                                                                             (5, 6, "A")]
    assert tags_to_spans(["B-A", "B-A", "I-B"], "BIO") == [(0, 1, "A"), (1, 2, "A"), (2, 3, "B")]
    with pytest.raises(ValueError, match="overlaps"):
        spans_to_tags([(0, 2, "A"), (1, 3, "B")], 3, "BIO")
