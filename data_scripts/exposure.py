"""Partial-annotation exposure: how often a corpus's mentions occur, as plain text, in the training
sentences of other corpora that do not annotate their type.

A multi-task model trained on those corpora sees every such occurrence as "not a mention" (`O` for a
tagger, `SH` for SRU-NER), so a type whose mention texts are common elsewhere ("patients", "human"
for Linnaeus's Species) is pulled towards being missed. `biomtl data exposure` prints it per type.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from datasets import DatasetDict

#: occurrence buckets (inclusive bounds) of the report
BUCKETS: tuple[tuple[int, int | None], ...] = ((0, 0), (1, 9), (10, 99), (100, None))


def ngram_counts(texts: set[tuple[str, ...]], sentences: Iterable[Sequence[str]]) -> Counter:
    """How often each text (a tuple of lower-cased words) occurs as a word n-gram of `sentences`
    (matched case-insensitively, overlapping occurrences counted)."""
    longest = max((len(t) for t in texts), default=0)
    counts: Counter = Counter()
    for words in sentences:
        low = [w.lower() for w in words]
        counts.update(g for n in range(1, longest + 1) for i in range(len(low) - n + 1)
                      if (g := tuple(low[i:i + n])) in texts)
    return counts


def bucket_label(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else str(lo) if lo == hi else f"{lo}-{hi}"


def exposure(corpora: Mapping[str, DatasetDict], split: str = "test", types: Mapping[str, Iterable[str]] | None = None,
             top: int = 8) -> list[dict]:
    """One row per (corpus, type): the `split` mentions of that type, the share of them (%) whose text
    occurs 0 / 1-9 / 10-99 / 100+ times in the train splits of the other corpora that do not annotate
    the type, and the texts of the most mentions among those that occur there.

    `corpora`: name -> prepared DatasetDict; `types`: name -> the types it annotates (the registry's;
    a corpus left out gets the types its spans carry, as `MultiCorpusCollection` does)."""
    for name, dd in corpora.items():
        missing = [s for s in dict.fromkeys(("train", split)) if s not in dd]
        if missing:
            raise ValueError(f"corpus {name} has no split {missing[0]!r} (has {list(dd)})")
    annotated = {name: set(types[name]) if types and name in types else
                 {s["label"] for part in dd.values() for spans in part["spans"] for s in spans}
                 for name, dd in corpora.items()}
    train = {name: dd["train"]["tokens"] for name, dd in corpora.items()}  # read from Arrow once
    rows = []
    for name, dd in corpora.items():
        test = dd[split].to_dict()
        for label in sorted(annotated[name]):
            others = [o for o in corpora if o != name and label not in annotated[o]]
            mentions = [tuple(w.lower() for w in toks[s["start"]:s["end"]])
                        for toks, spans in zip(test["tokens"], test["spans"]) for s in spans if s["label"] == label]
            counts = ngram_counts(set(mentions), (t for o in others for t in train[o]))
            shares = {bucket_label(lo, hi): round(100 * sum(lo <= counts[m] and (hi is None or counts[m] <= hi)
                                                            for m in mentions) / max(len(mentions), 1), 1)
                      for lo, hi in BUCKETS}
            frequent = Counter(m for m in mentions if counts[m])
            rows.append({"corpus": name, "type": label, "mentions": len(mentions), "unannotated_in": others,
                         "share_by_occurrences": shares,
                         "top": [{"text": " ".join(m), "mentions": n, "occurrences": counts[m]}
                                 for m, n in frequent.most_common(top)]})
    return rows


def format_exposure(rows: list[dict], split: str = "test") -> str:
    heads = [bucket_label(lo, hi) for lo, hi in BUCKETS]
    lines = [f"| corpus | type | {split} mentions | unannotated in (train) | "
             + " | ".join(f"% text seen {h}x" for h in heads) + " | commonest such mentions (mentions; times seen) |",
             "|---|---|---|---|" + "---|" * len(heads) + "---|"]
    for r in rows:
        top = ", ".join(f"{t['text']} ({t['mentions']}; {t['occurrences']}x)" for t in r["top"][:4])
        lines.append(f"| {r['corpus']} | {r['type']} | {r['mentions']} | {', '.join(r['unannotated_in']) or '–'} | "
                     + " | ".join(f"{r['share_by_occurrences'][h]:.1f}" for h in heads) + f" | {top} |")
    return "\n".join(lines)
