"""Sub-word alignment and long-sentence windows shared by every model family.

Shipped with every checkpoint as Hub remote code: only torch/transformers imports here.

Terminology: a *sentence* is a list of words (the corpus tokens); the tokenizer splits each
word into sub-words. Word-level heads read the first sub-word of each word.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class WordEncoding:
    """A padded batch of word-split sentences.

    Attributes:
        inputs: tokenizer tensors (`input_ids`, `attention_mask`, maybe `token_type_ids`), shape (B, T).
        first_subword: (B, W) long, position of each word's first sub-word (0 at padding words).
        last_subword: (B, W) long, position of each word's last sub-word (0 at padding words).
        word_mask: (B, W) bool, True for real words.
        num_words: per-sentence word counts.
    """

    inputs: dict[str, torch.Tensor]
    first_subword: torch.Tensor
    last_subword: torch.Tensor
    word_mask: torch.Tensor
    num_words: list[int]


def _clean_words(tokenizer, words: list[str]) -> list[str]:
    """Words the tokenizer maps to no sub-word at all (e.g. a lone control character) become UNK."""
    unk = tokenizer.unk_token or "[UNK]"
    out = []
    for w in words:
        out.append(w if w.strip() and tokenizer.tokenize(w) else unk)
    return out


def subword_counts(tokenizer, words: list[str]) -> list[int]:
    """Number of sub-words of each word (at least 1; see `_clean_words`)."""
    enc = tokenizer(words, is_split_into_words=True, add_special_tokens=False)
    counts = [0] * len(words)
    for w in enc.word_ids():
        if w is not None:
            counts[w] += 1
    return [max(c, 1) for c in counts]


def encode_words(tokenizer, sentences: list[list[str]], max_length: int | None = None) -> WordEncoding:
    """Tokenize word lists and locate each word's sub-words.

    Raises ValueError when a sentence needs more than `max_length` sub-words: callers split long
    sentences into windows first (`plan_windows`), so nothing is ever truncated silently.
    """
    if not sentences:
        raise ValueError("encode_words needs at least one sentence")
    max_length = max_length or _model_max_length(tokenizer)
    enc = tokenizer(
        sentences, is_split_into_words=True, padding=True, truncation=False, return_tensors="pt"
    )
    if enc["input_ids"].shape[1] > max_length:
        raise ValueError(
            f"a sentence needs {enc['input_ids'].shape[1]} sub-words, more than max_length={max_length}; "
            "split it with plan_windows first"
        )
    batch = len(sentences)
    width = max(1, max(len(s) for s in sentences))
    first = torch.zeros(batch, width, dtype=torch.long)
    last = torch.zeros(batch, width, dtype=torch.long)
    seen = torch.zeros(batch, width, dtype=torch.bool)
    for b in range(batch):
        for pos, w in enumerate(enc.word_ids(b)):
            if w is None:
                continue
            if not seen[b, w]:
                first[b, w] = pos
                seen[b, w] = True
            last[b, w] = pos
    num_words = [len(s) for s in sentences]
    mask = torch.arange(width)[None, :] < torch.tensor(num_words)[:, None]
    if bool((mask & ~seen).any()):
        # a word without sub-words: re-encode those sentences with UNK in its place
        fixed = [_clean_words(tokenizer, s) for s in sentences]
        if fixed == sentences:
            raise ValueError("tokenizer produced no sub-word for a word even after UNK replacement")
        return encode_words(tokenizer, fixed, max_length)
    inputs = {k: v for k, v in enc.items() if isinstance(v, torch.Tensor)}
    return WordEncoding(inputs, first, last, mask, num_words)


def _model_max_length(tokenizer) -> int:
    n = getattr(tokenizer, "model_max_length", None)
    return int(n) if n and n < 100_000 else 512


def plan_windows(counts: list[int], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Cover the words of one sentence with windows of at most `budget` sub-words.

    Args:
        counts: sub-words per word.
        budget: sub-words allowed in a window (model max length minus special tokens).
        overlap: words shared by consecutive windows (context at the seams).

    Returns: word ranges `[(start, end), ...]`, end exclusive, in order, covering every word. A single
    word longer than `budget` gets a window of its own (the caller truncates that word's sub-words).
    """
    n = len(counts)
    if n == 0:
        return [(0, 0)]
    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and (used + counts[end] <= budget or end == start):
            used += counts[end]
            end += 1
        windows.append((start, end))
        if end >= n:
            return windows
        nxt = max(end - overlap, start + 1)
        start = nxt


def window_cores(windows: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split the sentence between overlapping windows: each word belongs to exactly one *core*.

    The seam between windows i and i+1 sits in the middle of their overlap, so each core keeps
    as much context on both sides as possible.
    """
    cores = []
    for i, (s, e) in enumerate(windows):
        lo = s if i == 0 else (s + windows[i - 1][1]) // 2
        hi = e if i == len(windows) - 1 else (windows[i + 1][0] + e) // 2
        cores.append((lo, max(lo, hi)))
    return cores


def stitch_window_spans(windows: list[tuple[int, int]], window_spans: list[list[dict]]) -> list[dict]:
    """Merge per-window span predictions (window-relative word indices) into sentence spans.

    A span is kept from the window whose core contains its start; identical (start, end, label)
    spans coming from two windows are kept once (highest score).
    """
    cores = window_cores(windows)
    best: dict[tuple[int, int, str], dict] = {}
    for (ws, _we), (cs, ce), spans in zip(windows, cores, window_spans):
        for sp in spans:
            start, end = sp["start"] + ws, sp["end"] + ws
            if not cs <= start < ce:
                continue
            key = (start, end, sp["label"])
            item = dict(sp, start=start, end=end)
            if key not in best or item.get("score", 0.0) > best[key].get("score", 0.0):
                best[key] = item
    return sorted(best.values(), key=lambda d: (d["start"], -d["end"], d["label"]))
