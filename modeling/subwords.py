"""Sub-words and long sentences, shared by every model family: alignment, the sub-word budget,
over-long words, the one training split of long sentences, and windowed prediction.

Shipped with every checkpoint as Hub remote code: only torch/transformers imports here.

Terminology: a *sentence* is a list of words (the corpus tokens); the tokenizer splits each
word into sub-words. Word-level heads read the first sub-word of each word. The *budget* is the
number of sub-words left for the words of one sequence once the special tokens (and, for a pair,
the query) are counted.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

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


def sequence_limit(tokenizer, configured: int, encoder_config=None) -> int:
    """Sub-words one sequence may hold, special tokens included: the smallest of the configured
    limit, the tokenizer's `model_max_length` (when set) and the encoder's position table."""
    limit = int(configured)
    tok_max = getattr(tokenizer, "model_max_length", None)
    if tok_max and tok_max < 100_000:
        limit = min(limit, int(tok_max))
    positions = getattr(encoder_config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limit = min(limit, positions)
    return limit


def word_budget(tokenizer, limit: int, pair: bool = False, reserved: int = 0) -> int:
    """Sub-words left for the words of one sequence of `limit` sub-words: minus the tokenizer's own
    special tokens (`num_special_tokens_to_add`: 2 for a BERT sentence, 3 for a BERT pair, 4 for a
    RoBERTa pair) and `reserved` (e.g. a query's sub-words). ValueError when nothing is left."""
    specials = tokenizer.num_special_tokens_to_add(pair=pair)
    budget = int(limit) - specials - int(reserved)
    if budget < 1:
        raise ValueError(f"a sequence of {limit} sub-words leaves no room for words after {specials} special "
                         f"tokens" + (f" and {reserved} reserved sub-words" if reserved else ""))
    return budget


def fit_words(tokenizer, words: list[str], counts: list[int], budget: int) -> tuple[list[str], list[int], int]:
    """Words with more sub-words than the whole `budget` become the unknown token.

    Returns `(words, sub-word counts, number of words replaced)`; the input lists are not changed.
    """
    over = [i for i, c in enumerate(counts) if c > budget]
    if not over:
        return list(words), list(counts), 0
    unk = tokenizer.unk_token or "[UNK]"
    fixed = [unk if c > budget else w for w, c in zip(words, counts)]
    return fixed, subword_counts(tokenizer, fixed), len(over)


def split_for_training(counts: Sequence[int], spans: Sequence[tuple], budget: int
                       ) -> tuple[list[tuple[int, int]], list[list[tuple]], list[tuple]]:
    """Cut a sentence at word boundaries into chunks of at most `budget` sub-words (every family's
    one training split).

    A boundary inside a gold mention is never chosen while another boundary fits; only when a block
    of mutually overlapping mentions is itself longer than the budget is it cut (greedily, as late
    as fits). A mention crossing such a cut is dropped from training, never clipped into fake
    mentions: it is returned in `lost` for the caller to count.

    Args:
        counts: sub-words per word; each must be `<= budget` (replace longer words first, `fit_words`).
        spans: `(start, end, *rest)` word spans, end exclusive (`rest`: the type, kept as is).
        budget: sub-words allowed per chunk.

    Returns:
        `(chunks, chunk_spans, lost)`: word ranges `(start, end)` covering the sentence in order,
        the spans of each chunk re-indexed to the chunk, and the spans lost to a forced cut.
    """
    n = len(counts)
    if any(c > budget for c in counts):
        raise ValueError(f"a word has more than budget={budget} sub-words; replace it before splitting")
    if sum(counts) <= budget:
        return [(0, n)], [sorted(spans)], []
    blocked = [False] * (n + 1)  # blocked[i]: cutting before word i would cut a mention
    for span in spans:
        for i in range(span[0] + 1, span[1]):
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
    chunk_spans: list[list[tuple]] = [[] for _ in chunks]
    lost: list[tuple] = []
    for span in sorted(spans):
        for k, (cs, ce) in enumerate(chunks):
            if cs <= span[0] and span[1] <= ce:
                chunk_spans[k].append((span[0] - cs, span[1] - cs, *span[2:]))
                break
        else:
            lost.append(span)
    return chunks, chunk_spans, lost


def sequence_budget(tokenizer, configured: int, encoder_config=None) -> tuple[int, int]:
    """`(sub-words per sequence, sub-words left for the words of one sentence)`: `sequence_limit`,
    then `word_budget` of a single sequence."""
    limit = sequence_limit(tokenizer, configured, encoder_config)
    return limit, word_budget(tokenizer, limit)


class TrainingSplit(NamedTuple):
    """A training sentence fitted to the budget (`fit_and_split`)."""

    words: list[str]  # over-long words replaced by the unknown token
    counts: list[int]  # their sub-words
    chunks: list[tuple[int, int]]  # word ranges of the pieces, in order
    chunk_spans: list[list[tuple]]  # each piece's spans, re-indexed to the piece
    lost: list[tuple]  # spans a forced cut dropped
    replaced: int  # over-long words replaced

    def pieces(self) -> list[tuple[list[str], list[tuple]]]:
        """`(words, spans)` of every piece."""
        return [(self.words[s:e], spans) for (s, e), spans in zip(self.chunks, self.chunk_spans)]

    def sizes(self) -> list[int]:
        """Sub-words of every piece."""
        return [sum(self.counts[s:e]) for s, e in self.chunks]


def fit_and_split(tokenizer, words: list[str], spans: Sequence[tuple], budget: int) -> TrainingSplit:
    """`fit_words` then `split_for_training`: a training sentence as pieces of at most `budget` sub-words."""
    words, counts, replaced = fit_words(tokenizer, list(words), subword_counts(tokenizer, list(words)), budget)
    chunks, chunk_spans, lost = split_for_training(counts, spans, budget)
    return TrainingSplit(words, counts, chunks, chunk_spans, lost, replaced)


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


def _inside(span: tuple[int, int], cut: int) -> bool:
    return span[0] < cut < span[1]


def seam_cuts(windows: list[tuple[int, int]], window_spans: list[list[dict]]) -> list[int]:
    """Where each seam between consecutive windows falls, given what the windows predicted.

    The seam between windows i and i+1 is a word c strictly inside their overlap (both windows see
    words c - 1 and c, so neither decoded c's tag at its own edge) that no span of either window
    straddles; of those, the one nearest the middle of the overlap (most context on both sides).
    Window i then owns the words before c and window i+1 the words from c on, and a mention that
    crosses the middle of the overlap is taken whole from window i instead of cut at its edge. When
    no such word exists (an overlap of 0, or a mention longer than the overlap) the seam is the middle
    of the overlap, as in `window_cores`.

    Returns one cut per seam (`len(windows) - 1` of them), non-decreasing.
    """
    cuts: list[int] = []
    for i in range(len(windows) - 1):
        prev = cuts[-1] if cuts else 0
        lo = max(windows[i + 1][0] + 1, prev)
        hi = windows[i][1]  # exclusive
        mid = (windows[i + 1][0] + windows[i][1]) // 2
        spans = [(sp["start"] + ws, sp["end"] + ws) for ws, part in ((windows[i][0], window_spans[i]),
                                                                       (windows[i + 1][0], window_spans[i + 1]))
                 for sp in part]
        clean = [c for c in range(lo, hi) if not any(_inside(sp, c) for sp in spans)]
        cut = min(clean, key=lambda c: (abs(c - mid), c)) if clean else max(mid, prev)
        cuts.append(cut)
    return cuts


def stitch_window_spans(windows: list[tuple[int, int]], window_spans: list[list[dict]],
                        stats: Counter | None = None) -> list[dict]:
    """Merge per-window span predictions (window-relative word indices) into sentence spans.

    Label by label (spans of different labels, e.g. of two corpora, may overlap), each window owns the
    words between that label's seams (`seam_cuts`) and a span is kept from the window that owns its
    start; identical (start, end, label) spans coming from two windows are kept once (highest score).
    A kept span that ends at its window's right edge, where the next window does not predict the same
    span, may have been cut by the window: it is counted in `stats["seam_cut_spans"]`.
    """
    labels = sorted({sp["label"] for spans in window_spans for sp in spans})
    best: dict[tuple[int, int, str], dict] = {}
    for label in labels:
        mine = [[sp for sp in spans if sp["label"] == label] for spans in window_spans]
        bounds = [0, *seam_cuts(windows, mine), windows[-1][1]]
        seen = [{(sp["start"] + ws, sp["end"] + ws) for sp in spans} for (ws, _we), spans in zip(windows, mine)]
        for w, ((ws, we), spans) in enumerate(zip(windows, mine)):
            for sp in spans:
                start, end = sp["start"] + ws, sp["end"] + ws
                if not bounds[w] <= start < bounds[w + 1]:
                    continue
                if stats is not None and end == we and w + 1 < len(windows) and (start, end) not in seen[w + 1]:
                    stats["seam_cut_spans"] += 1
                key = (start, end, label)
                item = dict(sp, start=start, end=end)
                if key not in best or item.get("score", 0.0) > best[key].get("score", 0.0):
                    best[key] = item
    return sorted(best.values(), key=lambda d: (d["start"], -d["end"], d["label"]))


def predict_in_windows(
    sentences: Sequence[Sequence[str]],
    tokenizer,
    budget: int,
    overlap: int,
    batch_size: int,
    predict_batch: Callable[[list[list[str]], list[int]], list[list[dict]]],
    stats: Counter | None = None,
) -> list[list[dict]]:
    """Every family's prediction loop over sentences of any length.

    Over-long words become the unknown token (`fit_words`, counted in `stats["overlong_words"]`); a
    sentence longer than `budget` sub-words is covered by windows of `overlap` words of shared
    context (`plan_windows`, counted once in `stats["windowed_sentences"]`); every window of every
    sentence is length-sorted into batches of `batch_size`, `predict_batch(words, sentence_ids)`
    returns window-relative span dicts per window, and each sentence's windows are stitched
    (`stitch_window_spans`). Returns one sorted span list per sentence, in input order (`[]` for an
    empty sentence).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i, words in enumerate(sentences):
        if isinstance(words, (str, bytes)) or not isinstance(words, (list, tuple)) or \
                not all(isinstance(w, str) for w in words):
            raise ValueError(f"sentences[{i}] must be a list of word strings")
    stats = stats if stats is not None else Counter()
    units: list[tuple[int, list[str], int]] = []  # (sentence, window words, sub-words)
    windows_of: dict[int, list[tuple[int, int]]] = {}
    replaced = 0
    for i, words in enumerate(sentences):
        if not words:
            continue
        words, counts, n_over = fit_words(tokenizer, list(words), subword_counts(tokenizer, list(words)), budget)
        replaced += n_over
        windows = plan_windows(counts, budget, overlap) if sum(counts) > budget else [(0, len(words))]
        if len(windows) > 1:
            stats["windowed_sentences"] += 1
        windows_of[i] = windows
        units.extend((i, words[s:e], sum(counts[s:e])) for s, e in windows)
    if replaced:
        stats["overlong_words"] += replaced
        warnings.warn(f"{replaced} word(s) longer than the {budget}-sub-word budget were encoded as the unknown "
                      "token", stacklevel=3)
    order = sorted(range(len(units)), key=lambda u: units[u][2])
    found: list[list[dict]] = [[] for _ in units]
    for lo in range(0, len(order), batch_size):
        idx = order[lo:lo + batch_size]
        for u, spans in zip(idx, predict_batch([units[u][1] for u in idx], [units[u][0] for u in idx])):
            found[u] = spans
    results: list[list[dict]] = [[] for _ in sentences]
    k = 0
    for i in range(len(sentences)):
        if i in windows_of:
            n = len(windows_of[i])
            results[i] = stitch_window_spans(windows_of[i], found[k:k + n], stats)
            k += n
    return results
