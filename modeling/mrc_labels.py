"""Pure label derivations for `MrcMultiTaskForNER` (spec mrc-multitask.md §2.4, §2.5).

Everything here works on word-level data: a sentence has `n` words, gold mentions are word spans
`(start, end, label)` with `end` **exclusive** (the project's canonical convention; the spec writes
inclusive ends, `we = end - 1`). Shipped as Hub remote code: stdlib only.

* `bio_to_spans` / `spans_to_bio`: BIO tags <-> spans (lenient: a stray `I-` starts a mention).
* `flatten_spans`: the largest set of non-overlapping mentions a BIO tagger can represent.
* `bcls_label`, `mcls_label`, `mtcls_tags`: the multi-granularity targets of [MG].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

Span = tuple[int, int, str]

#: mtCLS tag sets (spec §2.5): the 4-tag version of the authors' code (default) and the 3-class text version.
MTCLS_TAGS: dict[str, tuple[str, ...]] = {
    "4tag": ("O", "B-Single", "B-Multi", "I-Multi"),
    "3class": ("O", "Single", "Multi"),
}
#: mCLS classes: 0, 1, 2 and "3 or more" mentions.
MCLS_NUM_CLASSES = 4


def bio_labels(types: Sequence[str]) -> list[str]:
    """The BIO tag list of a NER head: `O`, then `B-t`, `I-t` for each type in order."""
    labels = ["O"]
    for t in types:
        labels += [f"B-{t}", f"I-{t}"]
    return labels


def bio_to_spans(tags: Sequence[str]) -> list[Span]:
    """Decode BIO/IOB2 tags into `(start, end_exclusive, type)` spans.

    Lenient like seqeval's default mode: an `I-t` after `O` or after a mention of another type
    starts a new mention. Tags other than `O`, `B-*`, `I-*` raise ValueError.
    """
    spans: list[Span] = []
    start, cur = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        if tag == "O":
            kind, typ = "O", None
        elif len(tag) > 2 and tag[1] == "-" and tag[0] in "BI":
            kind, typ = tag[0], tag[2:]
        else:
            raise ValueError(f"tags[{i}]={tag!r} is not a BIO tag (O, B-<type>, I-<type>)")
        continues = kind == "I" and cur == typ
        if cur is not None and not continues:
            spans.append((start, i, cur))
            start, cur = None, None
        if kind in "BI" and not continues:
            start, cur = i, typ
    return spans


def spans_to_bio(spans: Iterable[Span], n: int) -> list[str]:
    """Encode non-overlapping spans as BIO tags of length `n` (raises on overlap / out of range)."""
    tags = ["O"] * n
    for s, e, t in sorted(spans):
        if not 0 <= s < e <= n:
            raise ValueError(f"span ({s}, {e}, {t!r}) outside a sentence of {n} words")
        if any(tag != "O" for tag in tags[s:e]):
            raise ValueError(f"span ({s}, {e}, {t!r}) overlaps another span; BIO cannot encode it")
        tags[s] = f"B-{t}"
        for i in range(s + 1, e):
            tags[i] = f"I-{t}"
    return tags


def flatten_spans(spans: Iterable[Span]) -> tuple[list[Span], list[Span]]:
    """Split spans into (kept, dropped): keep a non-overlapping set, earliest start first, longer first.

    Duplicate spans are kept once (not counted as dropped). Flat corpora lose nothing.
    """
    kept: list[Span] = []
    dropped: list[Span] = []
    last_end = 0
    for sp in sorted(set(spans), key=lambda x: (x[0], -x[1], x[2])):
        if sp[0] >= last_end:
            kept.append(sp)
            last_end = sp[1]
        else:
            dropped.append(sp)
    return kept, dropped


def bcls_label(spans: Sequence[Span]) -> int:
    """bCLS: 1 when the sentence has at least one mention (of any type), else 0."""
    return 1 if len(spans) > 0 else 0


def mcls_label(spans: Sequence[Span]) -> int:
    """mCLS: number of mentions clipped to 3 (classes 0, 1, 2, 3+)."""
    return min(len(spans), MCLS_NUM_CLASSES - 1)


def mtcls_tags(spans: Sequence[Span], n: int, scheme: str = "4tag") -> list[str]:
    """mtCLS word tags: single-token vs multi-token mentions (all types pooled).

    "4tag": `O` / `B-Single` / `B-Multi` / `I-Multi`; "3class": `B-Multi` and `I-Multi` become `Multi`
    and `B-Single` becomes `Single`. `spans` must not overlap (see `flatten_spans`).
    """
    if scheme not in MTCLS_TAGS:
        raise ValueError(f"mtcls_scheme={scheme!r}; expected one of {sorted(MTCLS_TAGS)}")
    tags = ["O"] * n
    for s, e, _ in spans:
        if not 0 <= s < e <= n:
            raise ValueError(f"span ({s}, {e}) outside a sentence of {n} words")
        if e - s == 1:
            tags[s] = "B-Single"
        else:
            tags[s] = "B-Multi"
            for i in range(s + 1, e):
                tags[i] = "I-Multi"
    if scheme == "3class":
        tags = [t if t == "O" else ("Single" if t == "B-Single" else "Multi") for t in tags]
    return tags


def mtcls_ids(spans: Sequence[Span], n: int, scheme: str = "4tag") -> list[int]:
    """`mtcls_tags` as class indices into `MTCLS_TAGS[scheme]`."""
    index = {t: i for i, t in enumerate(MTCLS_TAGS[scheme])} if scheme in MTCLS_TAGS else {}
    return [index[t] for t in mtcls_tags(spans, n, scheme)]


def prefixed_label(label: str, corpus: str, corpus_types: dict[str, list[str]]) -> str:
    """The model's type name for a gold `label` of an example from `corpus`.

    Accepts the prefixed form (`"BC5CDR/Chemical"`) or the bare corpus type (`"Chemical"`). Raises
    ValueError naming the corpus and label when the corpus does not annotate that type.
    """
    if corpus not in corpus_types:
        raise ValueError(f"example corpus {corpus!r} is not in the model's corpus_types {sorted(corpus_types)}")
    allowed = corpus_types[corpus]
    if label in allowed:
        return label
    candidate = f"{corpus}/{label}"
    if candidate in allowed:
        return candidate
    raise ValueError(f"span label {label!r} of corpus {corpus!r} is not one of its types {allowed}")


def base_type(prefixed: str, corpus: str) -> str:
    """`"BC5CDR/Chemical"` -> `"Chemical"` (the corpus prefix removed when present)."""
    head = f"{corpus}/"
    return prefixed[len(head):] if prefixed.startswith(head) else prefixed
