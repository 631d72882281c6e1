"""Span <-> tag encodings (BIO / IOB2 and IOBES): the one definition used by every model family, the
corpus readers and writers, the span metric and the benchmarks.

Shipped with every checkpoint as Hub remote code: stdlib and torch only.

Conventions: a span is `(start, end, type)` with `end` exclusive (word indices); tags are strings
`"O"`, `"B-T"`, `"I-T"` (BIO, also called IOB2) plus `"E-T"`, `"S-T"` (IOBES); `"X"` marks non-first
sub-words in the layer-sliced CRF's `subword_mode="x_label"`. Types may contain any character
(including `-`): the prefix is the first two characters.

Decoding (`tags_to_spans`) is conlleval's reading by default (`lenient=True`): an `I-X`/`E-X` that
does not continue an open mention of type X starts a new one. `lenient=False` is seqeval's strict
IOB2 mode: such a tag is ignored. Ill-formed sequences can be reported through `on_repair`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

SCHEMES = ("IOBES", "BIO")
#: accepted spellings of the scheme names
_ALIASES = {"IOB2": "BIO", "IOB": "BIO"}
X_TAG = "X"

Span = tuple[int, int, str]


#: how a BIO head's per-word tag distributions become spans (bio_head.decode_word_logits)
BIO_DECODINGS = ("argmax", "viterbi")


def check_scheme(scheme: str) -> str:
    """Validate a tag-scheme name (case-insensitive; "IOB2" means "BIO"); returns the canonical spelling."""
    canon = str(scheme).upper()
    canon = _ALIASES.get(canon, canon)
    if canon not in SCHEMES:
        raise ValueError(f"tag_scheme must be one of {SCHEMES}, got {scheme!r}")
    return canon


def bio_labels(types: Sequence[str]) -> list[str]:
    """The BIO label list of a tagging head: `O`, then `B-t`, `I-t` for each type in order."""
    return tag_names(list(types), "BIO")


def tag_names(types: list[str], scheme: str, x_label: bool = False) -> list[str]:
    """The tag inventory of one head: `O`, then per type B/I(/E/S), then `X` if requested."""
    prefixes = "BIES" if check_scheme(scheme) == "IOBES" else "BI"
    tags = ["O"] + [f"{p}-{t}" for t in types for p in prefixes]
    return tags + [X_TAG] if x_label else tags


def split_tag(tag: str) -> tuple[str, str | None]:
    """`"B-Disease"` -> `("B", "Disease")`; `"O"` -> `("O", None)`; `"X"` -> `("X", None)`."""
    if tag in ("O", X_TAG):
        return tag, None
    if not isinstance(tag, str) or len(tag) < 3 or tag[1] != "-" or tag[0] not in "BIES":
        raise ValueError(f"malformed tag {tag!r}")
    return tag[0], tag[2:]


def _parse(tag, i: int, scheme: str) -> tuple[str, str | None]:
    allowed = "BIES" if scheme == "IOBES" else "BI"
    if tag == "O":
        return "O", None
    if isinstance(tag, str) and len(tag) > 2 and tag[1] == "-" and tag[0] in allowed:
        return tag[0], tag[2:]
    name = "IOB2" if scheme == "BIO" else scheme
    expected = "'O', 'B-<type>' or 'I-<type>'" if scheme == "BIO" else "'O' or B-/I-/E-/S-<type>"
    hint = "; remove X tags before decoding spans" if tag == X_TAG else ""
    raise ValueError(f"tags[{i}]: invalid {name} tag {tag!r} (expected {expected}){hint}")


def spans_to_tags(spans: Iterable[Span], length: int, scheme: str = "BIO") -> list[str]:
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


def tags_to_spans(tags: Sequence[str], scheme: str = "BIO", lenient: bool = True,
                  on_repair: Callable[[str, int], None] | None = None) -> list[Span]:
    """Decode a tag sequence into spans `(start, end, type)` in order of their start.

    A mention starts at `B`/`S`, or (`lenient`) at an `I`/`E` that does not continue the open
    mention; it ends after `E`/`S`, before `O`/`B`/`S`, or at a type change. Without `lenient` an
    orphan `I`/`E` is ignored (seqeval strict IOB2). `on_repair(message, position)` is called for
    every ill-formed place (an orphan I-/E-, an IOBES mention not closed by E-). Tags outside the
    scheme raise ValueError naming the position.
    """
    scheme = check_scheme(scheme)
    iobes = scheme == "IOBES"
    spans: list[Span] = []
    open_start: int | None = None
    open_type: str | None = None

    def repair(message: str, i: int) -> None:
        if on_repair is not None:
            on_repair(message, i)

    for i, tag in enumerate(tags):
        prefix, typ = _parse(tag, i, scheme)
        continues = open_type is not None and typ == open_type and prefix in ("I", "E")
        if prefix in ("I", "E") and not continues:
            repair(f"{prefix}-{typ} after {'O' if open_type is None else open_type} starts a new mention", i)
        elif iobes and open_type is not None and prefix in ("O", "B", "S"):
            repair(f"mention not closed by E- before {'O' if prefix == 'O' else prefix + '-'}", i)
        if open_type is not None and not continues:
            spans.append((open_start, i, open_type))
            open_start, open_type = None, None
        if prefix == "O" or (prefix in ("I", "E") and not continues and not lenient):
            continue
        if open_type is None:
            open_start, open_type = i, typ
        if prefix in ("E", "S"):
            spans.append((open_start, i + 1, open_type))
            open_start, open_type = None, None
    if open_type is not None:
        if iobes:
            repair("mention not closed by E- at sentence end", len(tags) - 1)
        spans.append((open_start, len(tags), open_type))
    return spans


def convert_scheme(tags: list[str], source: str, target: str) -> list[str]:
    """Lossless conversion between schemes (the input is first normalised to the spans it denotes)."""
    return spans_to_tags(tags_to_spans(tags, source), len(tags), target)


def bio_to_iobes(tags: list[str]) -> list[str]:
    """Lossless BIO -> IOBES."""
    return convert_scheme(tags, "BIO", "IOBES")


def iobes_to_bio(tags: list[str]) -> list[str]:
    """Lossless IOBES -> BIO."""
    return convert_scheme(tags, "IOBES", "BIO")


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

    # on the CPU whatever the default device: `from_pretrained` builds models under the meta device,
    # where a tensor made here would hold no data for the CRF to read
    cpu = {"dtype": torch.bool, "device": "cpu"}
    trans = torch.tensor([[may_follow(parts[i], parts[j]) for j in range(n)] for i in range(n)], **cpu)
    start = torch.tensor([may_follow(None, p) for p in parts], **cpu)
    if scheme == "BIO":
        end = torch.ones(n, **cpu)
    else:
        end = torch.tensor([p[0] in ("O", "E", "S", X_TAG) for p in parts], **cpu)
    return trans, start, end
