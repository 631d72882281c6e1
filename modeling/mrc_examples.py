"""MRC example builder for `MrcMultiTaskForNER` (spec mrc-multitask.md §2.4, §7).

One MRC example = (query for type t, passage = one sentence): `[CLS] query [SEP] passage [SEP]` with
token_type_ids 0 for the query segment and 1 for the passage (as the tokenizer builds pairs), per-token
start/end labels (several mentions -> several 1s), start/end masks that allow only passage sub-words
beginning / ending a word, and the gold (start, end) sub-word pairs of the optional match head.
Negative examples (no mention of t) have all-zero labels and are kept.

Word spans use exclusive ends (project convention); sub-word spans are inclusive `(start_pos, end_pos)`.
Shipped as Hub remote code: stdlib only (the tokenizer is passed in).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class MrcFeature:
    """One encoded (query, passage) pair with its targets. All lists have the unpadded length T.

    Attributes:
        input_ids, token_type_ids, attention_mask: encoder inputs (token_type_ids None when the
            tokenizer does not produce them).
        start_labels / end_labels: 1 at the first sub-word of a gold mention's first word / the last
            sub-word of its last word.
        start_mask / end_mask: 1 at passage sub-words that begin / end a (complete) word.
        gold_pairs: gold `(start_pos, end_pos)` sub-word pairs (match-head targets).
        word_first / word_last: per passage word, its first / last sub-word position; -1 when the word
            was cut by truncation.
        passage_positions: sorted positions of the passage sub-words.
        dropped_spans: gold mentions lost to truncation (counted, never silent).
    """

    input_ids: list[int]
    token_type_ids: list[int] | None
    attention_mask: list[int]
    start_labels: list[int]
    end_labels: list[int]
    start_mask: list[int]
    end_mask: list[int]
    gold_pairs: list[tuple[int, int]]
    word_first: list[int]
    word_last: list[int]
    passage_positions: list[int] = field(default_factory=list)
    dropped_spans: int = 0

    def span_to_words(self, start_pos: int, end_pos: int) -> tuple[int, int] | None:
        """Map an inclusive sub-word span back to a word span `(start, end_exclusive)`; None when the
        positions do not begin / end a word of the passage."""
        try:
            ws = self.word_first.index(start_pos)
            we = self.word_last.index(end_pos)
        except ValueError:
            return None
        return (ws, we + 1) if ws <= we else None


def _encode(tokenizer, query: str | None, words: list[str], max_length: int | None):
    kwargs = {"is_split_into_words": True, "add_special_tokens": True}
    if max_length is not None:
        kwargs.update(truncation="only_second" if query else True, max_length=max_length)
    if query:
        return tokenizer(query.split(), words, **kwargs)
    return tokenizer(words, **kwargs)


def build_mrc_feature(
    tokenizer,
    query: str | None,
    words: list[str],
    spans: list[tuple[int, int]],
    max_length: int | None = None,
) -> MrcFeature:
    """Encode `(query, words)` and build the start/end/match targets of the given mentions.

    Args:
        tokenizer: a fast HF tokenizer (needs `word_ids()` / `sequence_ids()`).
        query: the query text; None or "" for the `none` source (input `[CLS] passage [SEP]`).
        words: the passage words (at least one).
        spans: gold word spans `(start, end_exclusive)` of ONE entity type.
        max_length: total sub-word budget (query included). Past it the passage is truncated (the
            tokenizer keeps the final [SEP]); words cut off are masked out and their mentions are
            counted in `dropped_spans`.
    """
    if not words:
        raise ValueError("build_mrc_feature needs a passage with at least one word")
    for s, e in spans:
        if not 0 <= s < e <= len(words):
            raise ValueError(f"span ({s}, {e}) outside a passage of {len(words)} words")
    full = _encode(tokenizer, query, words, None)
    try:
        enc = _encode(tokenizer, query, words, max_length) if max_length is not None else full
    except Exception as err:  # the query alone does not fit
        raise ValueError(f"query of {len(query.split()) if query else 0} words does not fit "
                         f"max_length={max_length}: {err}") from err
    if max_length is not None and len(enc["input_ids"]) > max_length:
        raise ValueError(f"query does not leave room for the passage within max_length={max_length}")
    passage_seq = 1 if query else 0

    def word_positions(e) -> dict[int, list[int]]:
        pos: dict[int, list[int]] = {}
        for i, (seq, w) in enumerate(zip(e.sequence_ids(), e.word_ids())):
            if seq == passage_seq and w is not None:
                pos.setdefault(w, []).append(i)
        return pos

    full_pos = word_positions(full)
    pos = word_positions(enc)
    n = len(words)
    word_first = [-1] * n
    word_last = [-1] * n
    for w in range(n):
        if w in pos and len(pos[w]) == len(full_pos.get(w, [])):
            word_first[w], word_last[w] = pos[w][0], pos[w][-1]
    length = len(enc["input_ids"])
    start_mask = [0] * length
    end_mask = [0] * length
    for w in range(n):
        if word_first[w] >= 0:
            start_mask[word_first[w]] = 1
            end_mask[word_last[w]] = 1
    start_labels = [0] * length
    end_labels = [0] * length
    gold: list[tuple[int, int]] = []
    dropped = 0
    for s, e in sorted(set(spans)):
        i, j = word_first[s], word_last[e - 1]
        if i < 0 or j < 0:
            dropped += 1
            continue
        start_labels[i] = 1
        end_labels[j] = 1
        gold.append((i, j))
    ttype = list(enc["token_type_ids"]) if "token_type_ids" in enc else None
    passage_positions = sorted(p for ps in pos.values() for p in ps)
    return MrcFeature(
        input_ids=list(enc["input_ids"]), token_type_ids=ttype, attention_mask=[1] * length,
        start_labels=start_labels, end_labels=end_labels, start_mask=start_mask, end_mask=end_mask,
        gold_pairs=gold, word_first=word_first, word_last=word_last, passage_positions=passage_positions,
        dropped_spans=dropped,
    )


def select_query_types(
    types: list[str], positive: set[str], cap: int | None, rng: random.Random
) -> list[str]:
    """The types to build MRC examples for in one sentence (spec §6 `mrc_max_queries_per_sentence`).

    No cap: every type (negatives kept, as in both papers). With a cap: every type with a gold mention,
    then negatives drawn with `rng` until `cap` examples; returned in the order of `types`.
    """
    if cap is None or len(types) <= cap:
        return list(types)
    chosen = [t for t in types if t in positive]
    negatives = [t for t in types if t not in positive]
    room = max(0, cap - len(chosen))
    picked = set(chosen) | set(rng.sample(negatives, min(room, len(negatives))))
    return [t for t in types if t in picked]


def pair_nearest_end(starts: list[int], ends: list[int]) -> list[tuple[int, int]]:
    """Flat MRC decoding: pair each start with the nearest end at or after it (spec §7 step 4)."""
    ends = sorted(ends)
    pairs = []
    for s in sorted(starts):
        nxt = next((e for e in ends if e >= s), None)
        if nxt is not None:
            pairs.append((s, nxt))
    return pairs


def resolve_overlaps(spans: list[dict]) -> list[dict]:
    """Keep a non-overlapping subset greedily by descending score (spec §7, across types); sorted output."""
    kept: list[dict] = []
    for sp in sorted(spans, key=lambda d: (-d["score"], d["start"], -d["end"], d["label"])):
        if all(sp["end"] <= k["start"] or sp["start"] >= k["end"] for k in kept):
            kept.append(sp)
    return sorted(kept, key=lambda d: (d["start"], -d["end"], d["label"]))
