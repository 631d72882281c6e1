"""One type per span in global predictions of a multi-corpus model (a pure function).

A model trained on several corpora predicts every corpus's types on every sentence, so heads of
different corpora can give the *identical* (start, end) span different types (the NCBI-disease head,
which never saw chemical annotations, calls a drug `Disease` while the BC5CDR head calls it
`Chemical`). `resolve_conflicts` keeps one type for such a span:

1. a corpus that annotates every rival type and predicted the span is the arbiter: its
   (highest-scoring) type wins (BC5CDR annotates Chemical and Disease, so its decision beats
   NCBI-disease's Disease head);
2. otherwise the highest score wins (ties: the alphabetically first type);
3. `mode="keep"` returns the predictions unchanged.

Types are compared by bare name (`BC5CDR/Disease` and `NCBI-disease/Disease` agree). Every
prediction of the winning type is kept (the corpora agree on it; merging duplicates is the
caller's business). Only identical (start, end) spans can conflict: nested spans and crossing spans
of different types are left alone, and so are spans that only one corpus's head predicted (that
head's own decision).

Shipped with every checkpoint as Hub remote code (standard library only).
"""

from __future__ import annotations

from collections import defaultdict

CONFLICT_MODES = ("resolve", "keep")
DEFAULT_CONFLICTS = "resolve"


def check_conflict_mode(mode: str) -> str:
    """`mode` if it is one of CONFLICT_MODES, else a ValueError naming them."""
    if mode not in CONFLICT_MODES:
        raise ValueError(f"conflicts must be one of {CONFLICT_MODES}, got {mode!r}")
    return mode


def label_parts(label: str, corpus_types: dict[str, list[str]] | None, separator: str = "/") -> tuple[str, str]:
    """`"BC5CDR/Chemical"` -> ("BC5CDR", "Chemical"); ("", label) when it has no corpus prefix.

    Known corpus names are tried first, so a corpus name may contain the separator.
    """
    for corpus in corpus_types or {}:
        head = corpus + separator
        if label.startswith(head):
            return corpus, label[len(head):]
    if separator in label:
        corpus, kind = label.split(separator, 1)
        return corpus, kind
    return "", label


def bare_types(corpus_types: dict[str, list[str]] | None, separator: str = "/") -> dict[str, set[str]]:
    """corpus -> the bare type names it annotates."""
    return {c: {label_parts(lab, corpus_types, separator)[1] for lab in labels}
            for c, labels in (corpus_types or {}).items()}


def _winning_type(group: list[tuple[str, str, float]], annotated: dict[str, set[str]]) -> str:
    """The type kept for one span: group = [(corpus, bare type, score), ...] with rival types."""
    rivals = {kind for _, kind, _ in group}
    arbiters = {c for c, _, _ in group if rivals <= annotated.get(c, set())}
    voters = [g for g in group if g[0] in arbiters] or group
    return min(voters, key=lambda g: (-g[2], g[1]))[1]


def resolve_conflicts(
    spans: list[dict],
    corpus_types: dict[str, list[str]] | None,
    mode: str = DEFAULT_CONFLICTS,
    separator: str = "/",
) -> list[dict]:
    """Predictions of one sentence (`{"start", "end", "label", "score"}`, corpus-prefixed labels) with
    same-span type conflicts between corpora resolved (see the module docstring).

    Returns a new list holding the input dicts that survive, in input order; `mode="keep"` returns a
    copy of the input. A missing `score` counts as 1.0. Raises ValueError for an unknown mode.
    """
    check_conflict_mode(mode)
    if mode == "keep":
        return list(spans)
    annotated = bare_types(corpus_types, separator)
    groups: dict[tuple[int, int], list[tuple[str, str, float]]] = defaultdict(list)
    parts = []
    for sp in spans:
        corpus, kind = label_parts(str(sp["label"]), corpus_types, separator)
        parts.append((corpus, kind))
        groups[int(sp["start"]), int(sp["end"])].append((corpus, kind, float(sp.get("score", 1.0))))
    winners = {}
    for key, group in groups.items():
        if len({k for _, k, _ in group}) > 1 and len({c for c, _, _ in group}) > 1:
            winners[key] = _winning_type(group, annotated)
    return [sp for sp, (_, kind) in zip(spans, parts)
            if winners.get((int(sp["start"]), int(sp["end"])), kind) == kind]
