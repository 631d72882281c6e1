"""Tag schemes for the layer-sliced CRF family: spans <-> BIO / IOBES tags, scheme conversion and
the legal-transition masks used by `constrain_transitions`.

Shipped with checkpoints as Hub remote code: stdlib and torch only.

Conventions: a span is `(start, end, type)` with `end` exclusive (word indices); tags are strings
`"O"`, `"B-T"`, `"I-T"` (BIO) plus `"E-T"`, `"S-T"` (IOBES); `"X"` marks non-first sub-words in
`subword_mode="x_label"`. Types may contain any character (including `-`): the prefix is the first
two characters.
"""

from __future__ import annotations

import torch

SCHEMES = ("IOBES", "BIO")
X_TAG = "X"


def check_scheme(scheme: str) -> str:
    """Validate a tag-scheme name (case-insensitive); returns the canonical spelling."""
    canon = str(scheme).upper()
    if canon not in SCHEMES:
        raise ValueError(f"tag_scheme must be one of {SCHEMES}, got {scheme!r}")
    return canon


def tag_names(types: list[str], scheme: str, x_label: bool = False) -> list[str]:
    """The CRF tag inventory of one task: `O`, then per type B/I(/E/S), then `X` if requested."""
    prefixes = "BIES" if check_scheme(scheme) == "IOBES" else "BI"
    tags = ["O"] + [f"{p}-{t}" for t in types for p in prefixes]
    return tags + [X_TAG] if x_label else tags


def split_tag(tag: str) -> tuple[str, str | None]:
    """`"B-Disease"` -> `("B", "Disease")`; `"O"` -> `("O", None)`; `"X"` -> `("X", None)`."""
    if tag in ("O", X_TAG):
        return tag, None
    if len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES":
        raise ValueError(f"malformed tag {tag!r}")
    return tag[0], tag[2:]


def spans_to_tags(spans: list[tuple[int, int, str]], length: int, scheme: str) -> list[str]:
    """Encode non-overlapping spans as a tag sequence of `length` words.

    Raises ValueError for spans out of range, empty spans, or overlapping spans.
    """
    scheme = check_scheme(scheme)
    tags = ["O"] * length
    for start, end, typ in sorted(spans):
        if not 0 <= start < end <= length:
            raise ValueError(f"span ({start}, {end}, {typ!r}) is outside a sentence of {length} words")
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"span ({start}, {end}, {typ!r}) overlaps another span")
        if scheme == "IOBES" and end - start == 1:
            tags[start] = f"S-{typ}"
            continue
        tags[start] = f"B-{typ}"
        for i in range(start + 1, end):
            tags[i] = f"I-{typ}"
        if scheme == "IOBES":
            tags[end - 1] = f"E-{typ}"
    return tags


def tags_to_spans(tags: list[str], scheme: str) -> list[tuple[int, int, str]]:
    """Decode a tag sequence into spans, conlleval style (robust to illegal sequences).

    A mention starts at `B`/`S`, or at `I`/`E` whose type differs from the open mention (or when
    none is open); it ends after `E`/`S`, before `O`/`B`/`S`, or at a type change. Under BIO, `E`/`S`
    never occur. `X` entries must have been removed first.
    """
    check_scheme(scheme)
    spans: list[tuple[int, int, str]] = []
    open_start: int | None = None
    open_type: str | None = None
    for i, tag in enumerate(tags):
        prefix, typ = split_tag(tag)
        if prefix == X_TAG:
            raise ValueError("remove X tags before decoding spans")
        continues = open_type is not None and typ == open_type and prefix in ("I", "E")
        if open_type is not None and not continues:
            spans.append((open_start, i, open_type))
            open_start, open_type = None, None
        if prefix == "O":
            continue
        if open_type is None:
            open_start, open_type = i, typ
        if prefix in ("E", "S"):
            spans.append((open_start, i + 1, open_type))
            open_start, open_type = None, None
    if open_type is not None:
        spans.append((open_start, len(tags), open_type))
    return spans


def bio_to_iobes(tags: list[str]) -> list[str]:
    """Lossless BIO -> IOBES (the input is first normalised to the spans it denotes)."""
    return spans_to_tags(tags_to_spans(tags, "BIO"), len(tags), "IOBES")


def iobes_to_bio(tags: list[str]) -> list[str]:
    """Lossless IOBES -> BIO."""
    return spans_to_tags(tags_to_spans(tags, "IOBES"), len(tags), "BIO")


def allowed_transitions(tags: list[str], scheme: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Legal moves between tags: `(trans [T, T], start [T], end [T])` boolean tensors.

    IOBES: after `O`, `E-*`, `S-*` (or at the start) only `O`, `B-*`, `S-*` may follow; after `B-x` or
    `I-x` only `I-x` or `E-x`; a sentence may end only after `O`, `E-*`, `S-*`.
    BIO: `I-x` may follow only `B-x` or `I-x`; any tag may end a sentence.
    `X` (sub-word filler) may follow and precede anything (its legality is enforced by position).
    """
    scheme = check_scheme(scheme)
    n = len(tags)
    parts = [split_tag(t) for t in tags]

    def may_follow(prev: tuple[str, str | None] | None, cur: tuple[str, str | None]) -> bool:
        if cur[0] == X_TAG or (prev is not None and prev[0] == X_TAG):
            return True
        closed = prev is None or prev[0] in ("O", "E", "S")
        if scheme == "BIO":
            if cur[0] == "I":
                return prev is not None and prev[0] in ("B", "I") and prev[1] == cur[1]
            return True
        if closed:
            return cur[0] in ("O", "B", "S")
        return cur[0] in ("I", "E") and cur[1] == prev[1]

    trans = torch.tensor([[may_follow(parts[i], parts[j]) for j in range(n)] for i in range(n)], dtype=torch.bool)
    start = torch.tensor([may_follow(None, p) for p in parts], dtype=torch.bool)
    if scheme == "BIO":
        end = torch.ones(n, dtype=torch.bool)
    else:
        end = torch.tensor([p[0] in ("O", "E", "S", X_TAG) for p in parts], dtype=torch.bool)
    return trans, start, end
