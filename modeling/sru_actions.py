"""SRU-NER transition system: the gold oracle (spans -> action rows) and the decoder (step
probabilities -> spans). Pure functions, no model state.

Shipped with SRU-NER checkpoints as Hub remote code: stdlib and torch only.

Action ids (spec §2), for `M` entity types with ids `0..M-1`:

    EOA = 0      end of actions
    SH  = 1      shift: consume one word
    TR(i) = 2+2i open a mention of type i at the current word
    RE(i) = 3+2i close the most recently opened, still open mention of type i

Spans are `(start, end, type_id)` over words, `end` exclusive.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

EOA = 0
SH = 1

Span = tuple[int, int, int]


def num_actions(num_types: int) -> int:
    """Size of the action vocabulary, `2M + 2`."""
    return 2 * num_types + 2


def transition_action(type_id: int) -> int:
    """Id of `TR(type_id)`."""
    return 2 + 2 * type_id


def reduce_action(type_id: int) -> int:
    """Id of `RE(type_id)`."""
    return 3 + 2 * type_id


def action_type(action: int) -> int:
    """Type id of a `TR`/`RE` action."""
    if action < 2:
        raise ValueError(f"action {action} (EOA/SH) has no entity type")
    return (action - 2) // 2


def is_transition(action: int) -> bool:
    return action >= 2 and action % 2 == 0


def is_reduce(action: int) -> bool:
    return action >= 3 and action % 2 == 1


def action_name(action: int, type_names: Sequence[str] | None = None) -> str:
    """Readable name, e.g. `TR(Disease)`; for debugging and error messages."""
    if action == EOA:
        return "EOA"
    if action == SH:
        return "SH"
    t = action_type(action)
    name = type_names[t] if type_names is not None else str(t)
    return f"{'TR' if is_transition(action) else 'RE'}({name})"


# --------------------------------------------------------------------------------------------
# Gold spans: validation and the crossing rule
# --------------------------------------------------------------------------------------------


def validate_spans(spans: Iterable[Span], num_words: int, num_types: int) -> list[Span]:
    """Check bounds and deduplicate on (start, end, type); returns spans sorted by (start, -end, type).

    Raises ValueError naming the offending span (empty, reversed or out-of-range spans, unknown type).
    """
    out = set()
    for span in spans:
        start, end, t = (int(x) for x in span)
        if not 0 <= start < end <= num_words:
            raise ValueError(
                f"span {span!r}: need 0 <= start < end <= number of words ({num_words}); end is exclusive"
            )
        if not 0 <= t < num_types:
            raise ValueError(f"span {span!r}: type id {t} outside 0..{num_types - 1}")
        out.add((start, end, t))
    return sorted(out, key=lambda s: (s[0], -s[1], s[2]))


def _crosses(a: Span, b: Span) -> bool:
    """True when the two spans overlap without one containing the other."""
    return (a[0] < b[0] < a[1] < b[1]) or (b[0] < a[0] < b[1] < a[1])


def drop_same_type_crossings(spans: Iterable[Span]) -> tuple[list[Span], list[Span]]:
    """Split spans into (kept, dropped): mentions that cross an already kept mention of the same type.

    Per-type stacks cannot represent crossing mentions of one type (decoding would pair them
    wrongly, spec §3.1), so they are removed at data build time; the caller counts them. Spans are
    scanned in (start, -end, type) order, so the earlier-starting mention wins.
    """
    kept: list[Span] = []
    dropped: list[Span] = []
    for span in sorted(set(spans), key=lambda s: (s[0], -s[1], s[2])):
        if any(k[2] == span[2] and _crosses(k, span) for k in kept):
            dropped.append(span)
        else:
            kept.append(span)
    return kept, dropped


# --------------------------------------------------------------------------------------------
# The oracle (spec §3)
# --------------------------------------------------------------------------------------------


def oracle_actions(spans: Iterable[Span], num_words: int) -> list[int]:
    """The linear gold action sequence of one sentence (spec §3.1).

    Spans are deduplicated and ordered by (start, -end, type), then stably by length (longest
    first). Each span appends `TR` to the list of its start word and inserts `RE` at the front of
    the list of its end boundary; words emit their list then `SH`; the boundary after the last word
    emits its list; `EOA` ends the sequence. Length: `num_words + 2 * #spans + 1`.
    """
    ordered = sorted(set(spans), key=lambda s: (s[0], -s[1], s[2]))
    ordered.sort(key=lambda s: -(s[1] - s[0]))  # stable: longest first
    lists: list[list[int]] = [[] for _ in range(num_words + 1)]
    for start, end, t in ordered:
        if not 0 <= start < end <= num_words:
            raise ValueError(f"span {(start, end, t)!r} outside a sentence of {num_words} words")
        lists[start].append(transition_action(t))
        lists[end].insert(0, reduce_action(t))
    seq: list[int] = []
    for i in range(num_words):
        seq.extend(lists[i])
        seq.append(SH)
    seq.extend(lists[num_words])
    seq.append(EOA)
    return seq


def pack_rows(actions: Sequence[int]) -> list[list[int]]:
    """Pack a linear action sequence into multi-hot rows (spec §3.2), each row a sorted id list.

    `SH` and `EOA` are alone in their rows. A `TR`/`RE` joins the current row when the previous
    action was a `TR`/`RE` and its id is not yet in the row; otherwise it opens a new row.
    """
    rows: list[list[int]] = []
    prev_was_tr_re = False
    for a in actions:
        if a in (SH, EOA):
            rows.append([a])
            prev_was_tr_re = False
        elif prev_was_tr_re and a not in rows[-1]:
            rows[-1].append(a)
        else:
            rows.append([a])
            prev_was_tr_re = True
    return [sorted(r) for r in rows]


def oracle_rows(spans: Iterable[Span], num_words: int) -> list[list[int]]:
    """Spans -> packed gold rows (lists of action ids); `oracle_actions` followed by `pack_rows`."""
    return pack_rows(oracle_actions(spans, num_words))


def rows_to_multihot(rows: Sequence[Sequence[int]], n_actions: int, length: int | None = None) -> torch.Tensor:
    """Rows of action ids -> `(length, n_actions)` float 0/1 tensor, zero rows as padding."""
    length = len(rows) if length is None else length
    if length < len(rows):
        raise ValueError(f"length {length} is shorter than the {len(rows)} rows")
    out = torch.zeros(length, n_actions)
    for i, row in enumerate(rows):
        out[i, list(row)] = 1.0
    return out


# --------------------------------------------------------------------------------------------
# Decoding (spec §8.2)
# --------------------------------------------------------------------------------------------


def decode_step_probabilities(
    probs: torch.Tensor,
    num_words: int,
    threshold: float = 0.5,
    strict_last_word_bound: bool = False,
) -> list[tuple[int, int, int, float]]:
    """Decode one sentence from its per-step action probabilities.

    Args:
        probs: `(T, 2M+2)` sigmoid probabilities of the steps the sentence ran (after its stop, rows
            are ignored anyway: decoding ends at the first step whose argmax is `EOA`).
        num_words: words of the sentence (`N`).
        threshold: a `TR`/`RE` of a non-shift step fires when its probability exceeds this.
        strict_last_word_bound: reference bug (spec §8.2): accept a span only if its end `< N`,
            losing every mention that ends at the last word. Default False (`end <= N`).

    Returns:
        `[(start, end, type_id, score), ...]` sorted by (start, -end, type). The score is the
        geometric mean of the probability of the `TR` that opened the mention and of the `RE`
        that closed it. Unclosed mentions, empty mentions (`RE` right after `TR`) and duplicates
        are discarded.

    Rules: step argmax `EOA` stops; argmax `SH` moves the word counter (other actions of that step
    are ignored); otherwise every `RE` above the threshold (ascending id) pops its type's stack,
    then every `TR` above the threshold (ascending id) pushes the current word.
    """
    probs = probs.detach().to("cpu", torch.float32)
    if probs.dim() != 2:
        raise ValueError(f"probs must be (steps, actions), got shape {tuple(probs.shape)}")
    n_steps = probs.shape[0]
    if n_steps == 0:
        return []
    top = probs.argmax(dim=1)
    stops = (top == EOA).nonzero()
    end_step = int(stops[0, 0]) if len(stops) else n_steps
    top = top[:end_step]
    words_before = torch.cumsum(top == SH, 0) - (top == SH).long()  # SH count before each step
    fires = probs[:end_step, 2:] > threshold
    fires &= (top >= 2)[:, None]
    events = fires.nonzero().tolist()  # (step, action-2), ascending step then id
    if not events:
        return []
    wc_of = words_before.tolist()
    stacks: dict[int, list[tuple[int, float]]] = {}
    found: dict[tuple[int, int, int], float] = {}
    i = 0
    limit_ok = (lambda wc: wc < num_words) if strict_last_word_bound else (lambda wc: wc <= num_words)
    while i < len(events):
        step = events[i][0]
        acts = []
        while i < len(events) and events[i][0] == step:
            acts.append(events[i][1] + 2)
            i += 1
        wc = wc_of[step]
        for a in acts:
            if is_reduce(a):
                stack = stacks.get(action_type(a))
                if stack:
                    start, p_open = stack.pop()
                    if start < wc and limit_ok(wc):
                        key = (start, wc, action_type(a))
                        score = (p_open * float(probs[step, a])) ** 0.5
                        if key not in found:
                            found[key] = score
        for a in acts:
            if is_transition(a):
                stacks.setdefault(action_type(a), []).append((wc, float(probs[step, a])))
    return sorted(((s, e, t, sc) for (s, e, t), sc in found.items()), key=lambda x: (x[0], -x[1], x[2]))
