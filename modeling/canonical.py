"""Canonical examples (the rows of `biomtl.data_scripts` datasets): validation and label-prefix
resolution, shared by every model family's `collate`.

Shipped with every checkpoint as Hub remote code: stdlib only.

    {"id": str, "corpus": str, "doc_id": str, "tokens": list[str],
     "spans": [{"start": int, "end": int, "label": str}, ...]}      # end exclusive, word indices

A model's label space is `corpus_types = {corpus: [prefixed types it annotates]}`. A gold label is
accepted prefixed (`"BC5CDR/Chemical"`) or bare (`"Chemical"`, read as the example's corpus's type).
"""

from __future__ import annotations

from collections.abc import Mapping

Span = tuple[int, int, str]


def resolve_label(label: str, corpus: str, corpus_types: Mapping[str, list[str]], separator: str = "/") -> str:
    """The model's (prefixed) type of a gold `label` of corpus `corpus`; ValueError naming both when
    the corpus does not annotate that type."""
    allowed = corpus_types[corpus]
    if label in allowed:
        return label
    prefixed = f"{corpus}{separator}{label}"
    if prefixed in allowed:
        return prefixed
    raise ValueError(f"{label!r} is not a type of corpus {corpus!r} ({list(allowed)})")


def base_type(label: str, corpus: str, separator: str = "/") -> str:
    """`"BC5CDR/Chemical"` -> `"Chemical"` for corpus BC5CDR; labels without that prefix unchanged."""
    head = f"{corpus}{separator}"
    return label[len(head):] if label.startswith(head) else label


def example_where(example, i: int) -> str:
    """How error messages name an example: `examples[3] (id='x12')`."""
    return f"examples[{i}] (id={example.get('id')!r})" if isinstance(example, Mapping) else f"examples[{i}]"


def validate_example(example, i: int, corpus_types: Mapping[str, list[str]],
                     separator: str = "/") -> tuple[str, list[str], list[Span]]:
    """`(corpus, tokens, spans)` of canonical example number `i`, spans as `(start, end, prefixed
    type)` in the given order.

    Raises ValueError naming the example and the field: unknown corpus (an example without a corpus
    belongs to a single-corpus model's only corpus), tokens that are not a list of strings, a span
    without start/end/label, outside the sentence or of a type its corpus does not annotate.
    """
    where = example_where(example, i)
    if not isinstance(example, Mapping):
        raise ValueError(f"{where}: expected a dict with 'corpus', 'tokens' and 'spans'")
    corpus = example.get("corpus")
    if corpus is None and len(corpus_types) == 1:
        corpus = next(iter(corpus_types))
    if corpus not in corpus_types:
        raise ValueError(f"{where}: field 'corpus'={corpus!r} is not one of the model's corpora {list(corpus_types)}")
    tokens = example.get("tokens")
    if not isinstance(tokens, (list, tuple)) or not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"{where}: field 'tokens' must be a list of strings")
    spans: list[Span] = []
    for j, sp in enumerate(example.get("spans") or []):
        try:
            start, end, label = int(sp["start"]), int(sp["end"]), sp["label"]
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{where}.spans[{j}] needs start, end and label, got {sp!r}") from err
        if not 0 <= start < end <= len(tokens):
            raise ValueError(f"{where}.spans[{j}]: span {sp!r} is outside its {len(tokens)} tokens")
        try:
            spans.append((start, end, resolve_label(str(label), corpus, corpus_types, separator)))
        except ValueError as err:
            raise ValueError(f"{where}.spans[{j}].label: {err}") from err
    return corpus, list(tokens), spans


def flatten_spans(spans) -> tuple[list, list]:
    """Split spans into (kept, dropped): a non-overlapping set for a flat (BIO) tagger, earliest
    start first, then longer first. Duplicate spans are kept once (not counted as dropped)."""
    kept: list = []
    dropped: list = []
    last_end = 0
    for sp in sorted(set(spans), key=lambda x: (x[0], -x[1], x[2:])):
        if sp[0] >= last_end:
            kept.append(sp)
            last_end = sp[1]
        else:
            dropped.append(sp)
    return kept, dropped


def ordered_corpus_types(corpus_types: Mapping[str, list[str]] | None, corpus_order: list[str] | None = None,
                         unique: bool = True) -> dict[str, list[str]]:
    """`corpus_types` (types as strings) in `corpus_order`, the order a config saves as a list because
    config.json sorts dict keys (the order decides label ids). ValueError when the order names other
    corpora or (`unique`) a type name is listed twice (prefix types with their corpus)."""
    types = {str(c): [str(t) for t in ts] for c, ts in (corpus_types or {}).items()}
    if corpus_order is not None:
        if sorted(corpus_order) != sorted(types):
            raise ValueError(f"corpus_order {list(corpus_order)} disagrees with corpus_types {list(types)}")
        types = {c: types[c] for c in corpus_order}
    names = [t for ts in types.values() for t in ts]
    if unique and len(set(names)) != len(names):
        dup = sorted({t for t in names if names.count(t) > 1})
        raise ValueError(f"corpus_types: type names must be unique across corpora (prefix them), got {dup}")
    return types
