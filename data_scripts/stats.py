"""Corpus statistics: sentences and mentions per type per split."""

from __future__ import annotations

from collections import Counter

from datasets import DatasetDict


def corpus_stats(dd: DatasetDict) -> dict[str, dict]:
    """split -> {"sentences", "tokens", "mentions", "per_type": {type: n}, "nested_pairs"}."""
    out = {}
    for split, ds in dd.items():
        per_type: Counter = Counter()
        tokens = nested = 0
        for toks, spans in zip(ds["tokens"], ds["spans"]):
            tokens += len(toks)
            per_type.update(s["label"] for s in spans)
            for i, a in enumerate(spans):
                for b in spans[i + 1:]:
                    if (a["start"] <= b["start"] and b["end"] <= a["end"]) or \
                       (b["start"] <= a["start"] and a["end"] <= b["end"]):
                        nested += 1
        out[split] = {"sentences": len(ds), "tokens": tokens, "mentions": sum(per_type.values()),
                      "per_type": dict(sorted(per_type.items())), "nested_pairs": nested}
    return out


def format_stats(name: str, stats: dict[str, dict]) -> str:
    types = sorted({t for s in stats.values() for t in s["per_type"]})
    header = ["split", "sentences", "tokens", "mentions", *types, "nested pairs"]
    rows = [[split, s["sentences"], s["tokens"], s["mentions"], *[s["per_type"].get(t, 0) for t in types],
             s["nested_pairs"]] for split, s in stats.items()]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def fmt(cells) -> str:
        return "  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}" for i, (c, w) in enumerate(zip(cells, widths)))

    lines = [name, fmt(header)] + [fmt([str(x) for x in r]) for r in rows]
    return "\n".join(lines)
