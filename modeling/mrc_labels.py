"""Pure label derivations for `MrcMultiTaskForNER` (spec mrc-multitask.md §2.4, §2.5).

Everything here works on word-level data: a sentence has `n` words, gold mentions are word spans
`(start, end, label)` with `end` **exclusive** (the project's canonical convention; the spec writes
inclusive ends, `we = end - 1`). Shipped as Hub remote code: stdlib only.

* `bio_to_spans` / `spans_to_bio`: BIO tags <-> spans (lenient: a stray `I-` starts a mention), the
  repository's one BIO code (tag_schemes.py); `flatten_spans` (canonical.py): the non-overlapping
  mentions a BIO tagger can represent.
* `bcls_label`, `mcls_label`, `mtcls_tags`: the multi-granularity targets of [MG].
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from .canonical import base_type, flatten_spans, resolve_label
from .tag_schemes import bio_labels, spans_to_tags, tags_to_spans

__all__ = ["MCLS_NUM_CLASSES", "MTCLS_TAGS", "base_type", "bcls_label", "bio_labels", "bio_to_spans", "flatten_spans",
           "mcls_label", "mtcls_ids", "mtcls_tags", "prefixed_label", "spans_to_bio"]

Span = tuple[int, int, str]

#: mtCLS tag sets (spec §2.5): the 4-tag version of the authors' code (default) and the 3-class text version.
MTCLS_TAGS: dict[str, tuple[str, ...]] = {
    "4tag": ("O", "B-Single", "B-Multi", "I-Multi"),
    "3class": ("O", "Single", "Multi"),
}
#: mCLS classes: 0, 1, 2 and "3 or more" mentions.
MCLS_NUM_CLASSES = 4


def bio_to_spans(tags: Sequence[str]) -> list[Span]:
    """BIO tags -> `(start, end_exclusive, type)` spans, lenient (`tag_schemes.tags_to_spans`)."""
    return tags_to_spans(tags, "BIO")


def spans_to_bio(spans: Iterable[Span], n: int) -> list[str]:
    """Non-overlapping spans -> BIO tags of length `n` (`tag_schemes.spans_to_tags`)."""
    return spans_to_tags(spans, n, "BIO")


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
    """The model's type name for a gold `label` of an example from `corpus` (prefixed or bare;
    `canonical.resolve_label`). Raises ValueError naming the corpus and label when the corpus is
    unknown or does not annotate that type."""
    if corpus not in corpus_types:
        raise ValueError(f"example corpus {corpus!r} is not in the model's corpus_types {sorted(corpus_types)}")
    return resolve_label(label, corpus, corpus_types)
