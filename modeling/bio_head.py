"""A BIO tagging head over one shared multi-corpus label space: the restricted-softmax loss and the
per-corpus decoding, shared by the token-classification family and the MRC family's NER head.

Shipped with every checkpoint as Hub remote code: torch only (plus the sibling tag_schemes).

Labels are `O`, then `B-t`, `I-t` for every corpus-prefixed type `t` (`tag_schemes.bio_labels`).
A sentence of corpus c must never be punished for types c does not annotate: its softmax runs over
`O` plus c's own labels only (`restrict_logits`: the other labels' logits are replaced by the dtype
minimum with `masked_fill`, whose backward is exactly zero there). The model never learns to compare
one corpus's labels with another's, so prediction decodes once per corpus with the same restricted
softmax and merges the spans (`decode_word_logits`), which may then overlap across corpora.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import torch
import torch.nn.functional as F

from .tag_schemes import allowed_transitions, tags_to_spans

IGNORE_INDEX = -100


def corpus_label_mask(corpus_types: Mapping[str, Sequence[str]], labels: Sequence[str]) -> torch.Tensor:
    """`[K, C]` bool: label j allowed for corpus k (`O` plus the corpus's own B-/I- labels)."""
    mask = torch.zeros(len(corpus_types), len(labels), dtype=torch.bool)
    for k, types in enumerate(corpus_types.values()):
        for j, lab in enumerate(labels):
            if lab == "O" or lab[2:] in types:
                mask[k, j] = True
    return mask


def restrict_logits(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """`logits [B, T, C]` with the labels not `allowed [B, C]` for each row set to the dtype minimum."""
    return logits.masked_fill(~allowed[:, None, :], torch.finfo(logits.dtype).min)


def token_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, reduction: str = "token_mean") -> torch.Tensor:
    """Cross-entropy of `[B, T, C]` logits against `[B, T]` labels (-100 ignored).

    `"token_mean"`: the mean over every labelled token of the batch; `"sentence_sum"`: each
    sentence's token losses summed, averaged over the B sentences (a per-sentence NLL).
    """
    if reduction not in ("token_mean", "sentence_sum"):
        raise ValueError(f"reduction must be 'token_mean' or 'sentence_sum', got {reduction!r}")
    flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX,
                           reduction="none" if reduction == "sentence_sum" else "mean")
    return flat.sum() / labels.shape[0] if reduction == "sentence_sum" else flat


def restricted_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, corpus_ids: torch.Tensor | None,
                             corpus_mask: torch.Tensor | None, reduction: str = "token_mean") -> torch.Tensor:
    """`token_cross_entropy` at labelled positions (`labels [B, T]`, -100 elsewhere); with a
    `corpus_mask [K, C]`, row b's softmax covers only the labels of corpus `corpus_ids[b]`."""
    if corpus_mask is not None:
        if corpus_ids is None:
            raise ValueError("corpus_ids is required for the restricted loss of a multi-corpus model")
        logits = restrict_logits(logits, corpus_mask.to(logits.device)[corpus_ids])
    return token_cross_entropy(logits, labels, reduction)


@lru_cache(maxsize=32)
def _bio_moves(labels: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """`(legal [C, C], opens [C])` of a BIO label list (`tag_schemes.allowed_transitions`), built once
    per label list rather than once per sentence."""
    trans, start, _end = allowed_transitions(list(labels), "BIO")
    return trans, start


def bio_viterbi(log_probs: torch.Tensor, labels: Sequence[str]) -> list[int]:
    """The best well-formed BIO tag sequence of one sentence: `log_probs [W, C]` (-inf = not allowed)
    -> label ids maximising the summed log-probabilities, where `I-t` may only follow `B-t` or `I-t`
    (never open a sentence). Exact dynamic programming over the C labels (O(W C^2))."""
    legal, opens = _bio_moves(tuple(labels))
    lp = log_probs.detach().double().cpu()
    neg = torch.tensor(float("-inf"), dtype=torch.float64)
    score = torch.where(opens, lp[0], neg)
    back = []
    for w in range(1, lp.shape[0]):
        best, arg = torch.where(legal, score[:, None], neg).max(0)  # over the previous tag
        score = best + lp[w]
        back.append(arg)
    path = [int(score.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1]


def decode_word_logits(word_logits: torch.Tensor, labels: Sequence[str], masks: torch.Tensor,
                       viterbi: bool = False) -> list[dict]:
    """One sentence's `[W, C]` word logits -> spans `{"start", "end", "label", "score"}` sorted by
    (start, -end, label), decoded once per row of `masks [K, C]` (restricted softmax) and merged;
    `score` is the mean probability of the chosen tags over the span's words.

    Per word, the most probable tag (`viterbi=False`; an `I-t` after `O` then opens a span), or the
    most probable well-formed sequence (`viterbi=True`, `bio_viterbi`: no stray `I-t`).
    """
    spans = []
    if word_logits.shape[0] == 0:
        return spans
    for allowed in masks:
        probs = word_logits.masked_fill(~allowed, float("-inf")).softmax(-1)
        if viterbi:
            ids = torch.tensor(bio_viterbi(probs.log(), labels), dtype=torch.long)
            best = probs.gather(1, ids[:, None]).squeeze(1)
        else:
            best, ids = probs.max(-1)
        tags = [labels[i] for i in ids.tolist()]
        spans += [{"start": s, "end": e, "label": t, "score": float(best[s:e].mean())}
                  for s, e, t in tags_to_spans(tags, "BIO")]
    return sorted(spans, key=lambda d: (d["start"], -d["end"], d["label"]))
