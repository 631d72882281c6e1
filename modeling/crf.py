"""Linear-chain conditional random field, vectorised over the batch.

Shipped with checkpoints as Hub remote code: torch only.

Notation (spec layer-sliced-crf.md §3): `B` batch, `W` steps, `T` tags; emissions `E [B, W, T]`;
`mask [B, W]` (True = real step); transitions `A[i, j]` score moving from tag i to tag j; start
vector `pi [T]`, end vector `eta [T]`. The score of a tag path y of length l is

    pi[y_0] + sum_t E_t[y_t] + sum_{t>=1} A[y_{t-1}, y_t] + eta[y_{l-1}]

Masks may have holes (e.g. non-first sub-words): each row's valid steps are compacted to the left
first (stable), which is the same model as carrying the forward variables over masked steps.
Every row needs at least one valid step. All computation runs in float32, also under autocast.
"""

from __future__ import annotations

import torch
from torch import nn

#: Score added to illegal moves when transitions are constrained.
ILLEGAL_SCORE = -1.0e4


def compact(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's valid steps to the left, keeping their order.

    Args:
        values: `[B, W, ...]` tensor.
        mask: `[B, W]` bool.
    Returns: `(compacted values [B, W, ...], prefix mask [B, W])`; steps past each row's length hold
    the (ignored) masked values.
    """
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    index = order.view(order.shape + (1,) * (values.dim() - 2)).expand_as(values)
    lengths = mask.sum(dim=1)
    prefix = torch.arange(mask.shape[1], device=mask.device)[None, :] < lengths[:, None]
    return values.gather(1, index), prefix


def is_prefix_mask(mask: torch.Tensor) -> bool:
    """True when every row's valid steps come first."""
    return bool((mask.long().cumprod(dim=1).bool() == mask).all())


class LinearChainCRF(nn.Module):
    """CRF over `num_tags` tags with start/end transitions (all zero-initialised).

    Args:
        num_tags: T.
        allowed: optional `(trans [T, T], start [T], end [T])` boolean masks of legal moves
            (`lscrf_tags.allowed_transitions`); illegal moves get `ILLEGAL_SCORE` added, in training
            and decoding alike.
    """

    def __init__(self, num_tags: int, allowed: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None):
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"num_tags must be >= 1, got {num_tags}")
        self.num_tags = num_tags
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))
        self.start_transitions = nn.Parameter(torch.zeros(num_tags))
        self.end_transitions = nn.Parameter(torch.zeros(num_tags))
        if allowed is None:
            allowed = ([[True] * num_tags] * num_tags, [True] * num_tags, [True] * num_tags)
        trans_ok, start_ok, end_ok = (torch.as_tensor(a, dtype=torch.bool, device="cpu") for a in allowed)
        if trans_ok.shape != (num_tags, num_tags) or start_ok.shape != (num_tags,) or end_ok.shape != (num_tags,):
            raise ValueError("allowed masks must have shapes [T, T], [T], [T]")
        # plain Python lists, not buffers: they derive from the config, and buffers created on the meta
        # device by from_pretrained would never be filled in
        self._allowed = (trans_ok.tolist(), start_ok.tolist(), end_ok.tolist())
        self._penalties: dict = {}

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    # -- parameters and inputs -------------------------------------------------------------------
    def effective_scores(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(A [T, T], pi [T], eta [T])` in float32, constraint penalties included."""
        trans_pen, start_pen, end_pen = self._penalty_tensors(self.transitions.device)
        return (self.transitions.float() + trans_pen, self.start_transitions.float() + start_pen,
                self.end_transitions.float() + end_pen)

    def _penalty_tensors(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        key = str(device)
        if key not in self._penalties:
            self._penalties[key] = tuple((~torch.tensor(a, dtype=torch.bool, device=device)).float() * ILLEGAL_SCORE
                                         for a in self._allowed)
        return self._penalties[key]

    def _prepare(self, emissions: torch.Tensor, mask: torch.Tensor | None,
                 tags: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if emissions.dim() != 3 or emissions.shape[-1] != self.num_tags:
            raise ValueError(f"emissions must have shape [B, W, {self.num_tags}], got {tuple(emissions.shape)}")
        batch, width, _ = emissions.shape
        if mask is None:
            mask = torch.ones(batch, width, dtype=torch.bool, device=emissions.device)
        mask = mask.bool()
        if mask.shape != (batch, width):
            raise ValueError(f"mask must have shape {(batch, width)}, got {tuple(mask.shape)}")
        if width == 0 or bool((mask.sum(dim=1) == 0).any()):
            raise ValueError("every sequence needs at least one unmasked step (a CRF path has length >= 1)")
        if tags is not None:
            if tags.shape != (batch, width):
                raise ValueError(f"tags must have shape {(batch, width)}, got {tuple(tags.shape)}")
            bad = mask & ((tags < 0) | (tags >= self.num_tags))
            if bool(bad.any()):
                raise ValueError(f"tags must lie in [0, {self.num_tags}) at unmasked steps")
            tags = tags.clamp(0, self.num_tags - 1)
        emissions = emissions.float()
        if not is_prefix_mask(mask):
            if tags is not None:
                tags, _ = compact(tags, mask)
            emissions, mask = compact(emissions, mask)
        return emissions, mask, tags

    # -- likelihood ----------------------------------------------------------------------------------
    def _forward_alphas(self, emissions: torch.Tensor, mask: torch.Tensor, keep_all: bool = False):
        trans, start, _ = self.effective_scores()
        alpha = start[None, :] + emissions[:, 0]
        alphas = [alpha]
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha[:, :, None] + trans[None], dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], nxt, alpha)
            if keep_all:
                alphas.append(alpha)
        return alpha, alphas

    def log_partition(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """log Z per sequence, `[B]` float32 (forward algorithm)."""
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            emissions, mask, _ = self._prepare(emissions, mask)
            alpha, _ = self._forward_alphas(emissions, mask)
            return torch.logsumexp(alpha + self.effective_scores()[2][None], dim=1)

    def path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Score `s(y)` of the given tag paths, `[B]` float32."""
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            emissions, mask, tags = self._prepare(emissions, mask, tags)
            return self._path_score(emissions, tags, mask)

    def _path_score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        trans, start, end = self.effective_scores()
        maskf = mask.float()
        emit = (emissions.gather(2, tags[:, :, None]).squeeze(2) * maskf).sum(dim=1)
        moves = (trans[tags[:, :-1], tags[:, 1:]] * maskf[:, 1:]).sum(dim=1)
        last = (mask.sum(dim=1) - 1)[:, None]
        return emit + moves + start[tags[:, 0]] + end[tags.gather(1, last).squeeze(1)]

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Negative log-likelihood of the gold paths, per sequence `[B]` (float32)."""
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            emissions, mask, tags = self._prepare(emissions, mask, tags)
            alpha, _ = self._forward_alphas(emissions, mask)
            log_z = torch.logsumexp(alpha + self.effective_scores()[2][None], dim=1)
            return log_z - self._path_score(emissions, tags, mask)

    def loss(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor | None = None,
             reduction: str = "mean") -> torch.Tensor:
        """Reduced NLL: `"mean"` over sequences (reference), `"sum"`, `"token_mean"` (/ total steps), `"none"`."""
        per_seq = self.nll(emissions, tags, mask)
        if reduction == "none":
            return per_seq
        if reduction == "mean":
            return per_seq.mean()
        if reduction == "sum":
            return per_seq.sum()
        if reduction == "token_mean":
            steps = mask.sum() if mask is not None else emissions.shape[0] * emissions.shape[1]
            return per_seq.sum() / steps
        raise ValueError(f"crf reduction must be 'mean', 'sum', 'token_mean' or 'none', got {reduction!r}")

    # -- decoding ---------------------------------------------------------------------------------
    def viterbi(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Best paths: `(tags [B, W] long, left-aligned, -1 past each length; scores [B])`."""
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            emissions, mask, _ = self._prepare(emissions, mask)
            trans, start, end = self.effective_scores()
            batch, width, num_tags = emissions.shape
            identity = torch.arange(num_tags, device=emissions.device)[None, :].expand(batch, num_tags)
            delta = start[None, :] + emissions[:, 0]
            pointers = []
            for t in range(1, width):
                best, arg = (delta[:, :, None] + trans[None]).max(dim=1)
                delta = torch.where(mask[:, t, None], best + emissions[:, t], delta)
                pointers.append(torch.where(mask[:, t, None], arg, identity))
            final = delta + end[None, :]
            scores, tag = final.max(dim=1)
            path = [tag]
            for ptr in reversed(pointers):
                tag = ptr.gather(1, tag[:, None]).squeeze(1)
                path.append(tag)
            out = torch.stack(path[::-1], dim=1)
            return out.masked_fill(~mask, -1), scores

    def decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None) -> list[list[int]]:
        """Best tag path of each sequence, as a list of its valid steps' tags."""
        tags, _ = self.viterbi(emissions, mask)
        lengths = (tags >= 0).sum(dim=1).tolist()
        return [row[:n] for row, n in zip(tags.tolist(), lengths)]

    def forward_backward(self, emissions: torch.Tensor, mask: torch.Tensor | None = None):
        """Forward and backward log-variables of the (compacted) sequences.

        Returns `(alpha [B, W, T], beta [B, W, T], log_z [B])`: `alpha[b, t, j]` is the log-sum of the
        scores of prefixes ending at step t in tag j (emission at t included), `beta[b, t, j]` the
        log-sum of the scores of continuations after step t from tag j (end transition included).
        Steps past a row's length repeat its last values.
        """
        with torch.autocast(device_type=emissions.device.type, enabled=False):
            emissions, mask, _ = self._prepare(emissions, mask)
            trans, _, end = self.effective_scores()
            alpha, alphas = self._forward_alphas(emissions, mask, keep_all=True)
            log_z = torch.logsumexp(alpha + end[None], dim=1)
            beta = end[None, :].expand_as(alpha)
            betas = [beta]
            for t in range(emissions.shape[1] - 2, -1, -1):
                nxt = torch.logsumexp(trans[None] + (emissions[:, t + 1] + beta)[:, None, :], dim=2)
                beta = torch.where(mask[:, t + 1, None], nxt, beta)
                betas.append(beta)
            return torch.stack(alphas, dim=1), torch.stack(betas[::-1], dim=1), log_z

    def segment_log_prob(self, emissions: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor,
                         log_z: torch.Tensor, row: int, start: int, tags: list[int]) -> float:
        """log P(y[start : start+len(tags)] = tags) for one (compacted) row, from `forward_backward`."""
        trans, _, _ = self.effective_scores()
        score = alpha[row, start, tags[0]]
        for i in range(1, len(tags)):
            t = start + i
            score = score + trans[tags[i - 1], tags[i]] + emissions[row, t, tags[i]].float()
        score = score + beta[row, start + len(tags) - 1, tags[-1]]
        return float((score - log_z[row]).detach())
