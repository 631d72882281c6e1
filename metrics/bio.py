"""IOB2 tags -> spans for scoring, with the repository's one decoder (biomtl.modeling.tag_schemes)."""

from __future__ import annotations

from collections.abc import Sequence

from ..modeling.tag_schemes import Span, tags_to_spans


def spans_from_bio(tags: Sequence[str], lenient: bool = False) -> list[Span]:
    """IOB2 tags of one sentence -> spans `(start, end, label)` in order.

    Strict (default, as seqeval `mode="strict", scheme=IOB2`): a mention starts at `B-X` and extends
    over the following `I-X`; an `I-X` that does not continue a mention of type X is ignored.
    `lenient=True` is conlleval's reading: such an `I-X` starts a new mention.
    """
    return tags_to_spans(tags, "BIO", lenient=lenient)
