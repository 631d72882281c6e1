"""SRU-NER input helpers: long-sentence splitting for training (spec §9) and the sub-word -> slot map
used by word pooling (spec §4). Pure functions.

Shipped with SRU-NER checkpoints as Hub remote code: stdlib and torch only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Span = tuple[int, int, int]


def split_for_training(
    counts: Sequence[int], spans: Sequence[Span], budget: int
) -> tuple[list[tuple[int, int]], list[list[Span]], list[Span]]:
    """Cut a sentence at word boundaries into chunks of at most `budget` sub-words.

    A boundary inside a gold mention is never chosen while another boundary fits; only when a block
    of mutually overlapping mentions is itself longer than the budget is it cut (greedily, as late
    as fits) and the mentions crossing that cut are returned as `cut` (the caller counts them).

    Args:
        counts: sub-words per word; each must be `<= budget` (the caller replaces longer words).
        spans: `(start, end, type)` word spans, end exclusive.
        budget: sub-words allowed per chunk (max length minus special tokens).

    Returns:
        `(chunks, chunk_spans, cut)`: word ranges `(start, end)` covering the sentence in order,
        the spans of each chunk re-indexed to the chunk, and the spans lost to a forced cut.
    """
    n = len(counts)
    if any(c > budget for c in counts):
        raise ValueError(f"a word has more than budget={budget} sub-words; replace it before splitting")
    if sum(counts) <= budget:
        return [(0, n)], [sorted(spans)], []
    blocked = [False] * (n + 1)  # blocked[i]: cutting before word i would cut a mention
    for start, end, _ in spans:
        for i in range(start + 1, end):
            blocked[i] = True
    chunks: list[tuple[int, int]] = []
    start = 0
    while start < n:
        used, end, last_free = 0, start, None
        while end < n and used + counts[end] <= budget:
            used += counts[end]
            end += 1
            if end == n or not blocked[end]:
                last_free = end
        if end == n:
            chunks.append((start, n))
            break
        cut = last_free if last_free is not None else end
        chunks.append((start, cut))
        start = cut
    chunk_spans: list[list[Span]] = [[] for _ in chunks]
    lost: list[Span] = []
    for span in sorted(spans):
        for k, (cs, ce) in enumerate(chunks):
            if cs <= span[0] and span[1] <= ce:
                chunk_spans[k].append((span[0] - cs, span[1] - cs, span[2]))
                break
        else:
            lost.append(span)
    return chunks, chunk_spans, lost


def slot_index(
    first_subword: torch.Tensor, last_subword: torch.Tensor, attention_mask: torch.Tensor, num_words: Sequence[int]
) -> torch.Tensor:
    """Slot of every sub-word token for max-pooling words (spec §4).

    Slot 0 = the special token(s) before the first word (CLS), slot `i+1` = every piece of word `i`,
    slot `N+1` = the special token(s) after the last word (SEP); padding tokens get -1 (ignored; the
    reference pooled them into the last slot, which corrupts a shorter sentence's SEP state).

    Args:
        first_subword, last_subword: (B, W) token positions of each word's first/last piece.
        attention_mask: (B, T) 1 for real tokens.
        num_words: words per sentence.

    Returns: (B, T) long.
    """
    batch, length = attention_mask.shape
    out = torch.full((batch, length), -1, dtype=torch.long)
    pos = torch.arange(length)
    for b, n in enumerate(num_words):
        real = attention_mask[b].bool()
        if n == 0:
            first_real = int(real.nonzero()[0, 0]) if real.any() else 0
            out[b] = torch.where(real, torch.ones_like(pos), out[b])
            out[b, first_real] = 0
            continue
        lo, hi = int(first_subword[b, 0]), int(last_subword[b, n - 1])
        out[b] = torch.where(real & (pos < lo), 0, torch.where(real & (pos > hi), n + 1, -1))
        for i in range(n):
            out[b, int(first_subword[b, i]) : int(last_subword[b, i]) + 1] = i + 1
    return out
