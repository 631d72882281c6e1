"""SRU-NER input helpers: the sub-word -> slot map used by word pooling (spec §4) and sentence
merging (spec §9; long sentences are split by the shared `subwords.split_for_training`). Pure functions.

Shipped with SRU-NER checkpoints as Hub remote code: stdlib and torch only.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


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


# ------------------------------------------------------------------------------------------------
# Sentence merging ("maximize", spec §9): packing consecutive sentences of one document
# ------------------------------------------------------------------------------------------------


def pack_cost(sizes: Sequence[int], group: Sequence[int]) -> int:
    """Sub-words of `[CLS] s1 [SEP] s2 [SEP] ... sK [SEP]` for the sentences `group` of `sizes`."""
    return 1 + sum(sizes[i] for i in group) + len(group)


def plan_merges(sizes: Sequence[int], doc_ids: Sequence[str | None], max_tokens: int) -> list[list[int]]:
    """Group consecutive sentences of the same document into packs of at most `max_tokens` sub-words.

    Greedy packing first (each join saves one token: the inner CLS becomes a separator and the inner
    SEP disappears), then sentences move between neighbouring packs of the same document while that
    lowers the variance of pack sizes and both packs still fit. Sentences without a document id, or
    too long to share a pack, stay alone.

    Args:
        sizes: sub-words (words only, no special tokens) per sentence, in corpus order.
        doc_ids: document of each sentence (None/"" = never merged).
        max_tokens: limit per packed sequence, special tokens included.

    Returns: packs as lists of consecutive sentence indices, covering every sentence in order.
    """
    packs: list[list[int]] = []
    for i in range(len(sizes)):
        last = packs[-1] if packs else None
        if (last is not None and doc_ids[i] and doc_ids[last[-1]] == doc_ids[i]
                and pack_cost(sizes, last + [i]) <= max_tokens):
            last.append(i)
        else:
            packs.append([i])
    improved = True
    while improved:
        improved = False
        for k in range(len(packs) - 1):
            a, b = packs[k], packs[k + 1]
            if not doc_ids[a[0]] or doc_ids[a[0]] != doc_ids[b[0]]:
                continue
            ca, cb = pack_cost(sizes, a), pack_cost(sizes, b)
            # equal number of packs, so lower variance == lower sum of squared sizes
            for new_a, new_b in ((a[:-1], [a[-1]] + b), (a + [b[0]], b[1:])):
                if not new_a or not new_b:
                    continue
                na, nb = pack_cost(sizes, new_a), pack_cost(sizes, new_b)
                if na <= max_tokens and nb <= max_tokens and na * na + nb * nb < ca * ca + cb * cb:
                    packs[k], packs[k + 1] = new_a, new_b
                    improved = True
                    break
    return packs


def merge_examples(examples: Sequence[dict], tokenizer, max_tokens: int) -> list[dict]:
    """Pack consecutive same-document canonical examples into merged examples (spec §9 "maximize").

    Each inner separator is a word of its own (the tokenizer's SEP token: it gets a slot and a gold
    SH; no mention crosses it). A merged example keeps `corpus` and `doc_id`, gets `id` =
    "+"-joined ids and `merged_from` = `[[id, word_offset, n_words], ...]` for `unmerge_spans`.
    Sentences of different corpora are never merged.
    """
    sep = tokenizer.sep_token
    if not sep:
        raise ValueError("sentence merging needs a tokenizer with a sep_token")
    sizes = [len(tokenizer(list(e["tokens"]), is_split_into_words=True, add_special_tokens=False)["input_ids"])
             if e["tokens"] else 0 for e in examples]
    docs = [f"{e.get('corpus')}\x00{e['doc_id']}" if e.get("doc_id") else None for e in examples]
    merged = []
    for pack in plan_merges(sizes, docs, max_tokens):
        tokens: list[str] = []
        spans: list[dict] = []
        origin = []
        for j, i in enumerate(pack):
            if j:
                tokens.append(sep)
            off = len(tokens)
            ex = examples[i]
            origin.append([ex["id"], off, len(ex["tokens"])])
            tokens.extend(ex["tokens"])
            spans.extend(dict(s, start=s["start"] + off, end=s["end"] + off) for s in ex["spans"])
        first = examples[pack[0]]
        merged.append({"id": "+".join(str(examples[i]["id"]) for i in pack), "corpus": first.get("corpus"),
                       "doc_id": first.get("doc_id"), "tokens": tokens, "spans": spans, "merged_from": origin})
    return merged


def unmerge_spans(merged_from: Sequence[Sequence], spans: Sequence[dict]) -> dict[str, list[dict]]:
    """Spans predicted on a merged example -> `{original id: spans re-indexed to that sentence}`.

    A span that covers a separator word (or crosses sentences) belongs to no sentence and is dropped.
    """
    out: dict[str, list[dict]] = {str(i): [] for i, _, _ in merged_from}
    for sp in spans:
        for ex_id, off, n in merged_from:
            if off <= sp["start"] and sp["end"] <= off + n:
                out[str(ex_id)].append(dict(sp, start=sp["start"] - off, end=sp["end"] - off))
                break
    return out
