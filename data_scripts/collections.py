"""Multi-corpus collections: several corpora as one training set with corpus-prefixed types.

Every type is prefixed with its corpus (`BC5CDR/Chemical`), each example keeps its corpus, and the
collection knows which types each corpus annotates (so no corpus is punished for the others' types)
and how prefixed types merge (`BC5CDR/Disease` and `NCBI-disease/Disease` -> `Disease`).
"""

from __future__ import annotations

from collections.abc import Iterable

from datasets import Dataset, DatasetDict, concatenate_datasets

from .schema import FEATURES, PREFIX_SEP


def prefixed(corpus: str, label: str) -> str:
    return f"{corpus}{PREFIX_SEP}{label}"


def strip_prefix(label: str) -> str:
    return label.split(PREFIX_SEP, 1)[1] if PREFIX_SEP in label else label


def corpus_of(label: str) -> str | None:
    return label.split(PREFIX_SEP, 1)[0] if PREFIX_SEP in label else None


class MultiCorpusCollection:
    """Corpora combined with prefixed types.

    Args:
        corpora: corpus name -> DatasetDict in the canonical schema (unprefixed labels).
        types: optional corpus name -> the (unprefixed) types it annotates; by default the types
            seen in its splits. Give it when a split may miss a rare type.
        renames: optional corpus -> {type: new type} applied before prefixing.
        drops: optional corpus -> types to drop (their mentions are removed and counted).
    """

    def __init__(self, corpora: dict[str, DatasetDict], types: dict[str, Iterable[str]] | None = None,
                 renames: dict[str, dict[str, str]] | None = None, drops: dict[str, Iterable[str]] | None = None):
        if not corpora:
            raise ValueError("a collection needs at least one corpus")
        renames = renames or {}
        drops = {c: set(v) for c, v in (drops or {}).items()}
        self.dropped_mentions: dict[str, int] = {}
        self.corpora: dict[str, DatasetDict] = {}
        self.corpus_types: dict[str, list[str]] = {}
        for name, dd in corpora.items():
            if PREFIX_SEP in name:
                raise ValueError(f"corpus name {name!r} must not contain {PREFIX_SEP!r}")
            ren, drop = renames.get(name, {}), drops.get(name, set())
            dropped = 0
            converted = {}
            for split, ds in dd.items():
                rows = ds.to_list()
                for row in rows:
                    spans = []
                    for s in row["spans"]:
                        label = ren.get(s["label"], s["label"])
                        if label in drop:
                            dropped += 1
                            continue
                        spans.append({"start": s["start"], "end": s["end"], "label": prefixed(name, label)})
                    row["corpus"], row["spans"] = name, spans
                converted[split] = Dataset.from_list(rows, features=FEATURES)
            self.corpora[name] = DatasetDict(converted)
            self.dropped_mentions[name] = dropped
            if types and name in types:
                seen = [prefixed(name, ren.get(t, t)) for t in types[name] if ren.get(t, t) not in drop]
            else:
                seen = sorted({s["label"] for ds in self.corpora[name].values() for sp in ds["spans"] for s in sp})
            self.corpus_types[name] = list(dict.fromkeys(seen))

    @property
    def types(self) -> list[str]:
        """All prefixed types, corpus by corpus."""
        return [t for ts in self.corpus_types.values() for t in ts]

    @property
    def merged_type_map(self) -> dict[str, str]:
        """Prefixed type -> merged (unprefixed) type."""
        return {t: strip_prefix(t) for t in self.types}

    def split(self, name: str, corpora: Iterable[str] | None = None) -> Dataset:
        """One split of the chosen corpora (default all) concatenated; corpora lacking it are skipped."""
        parts = [self.corpora[c][name] for c in (corpora or self.corpora) if name in self.corpora[c]]
        if not parts:
            raise KeyError(f"no corpus of the collection has a {name!r} split")
        return concatenate_datasets(parts)

    def per_corpus(self, name: str) -> dict[str, Dataset]:
        """corpus -> its `name` split (corpora lacking the split are left out)."""
        return {c: dd[name] for c, dd in self.corpora.items() if name in dd}

    def describe(self) -> dict:
        return {"corpus_types": self.corpus_types, "merged_type_map": self.merged_type_map,
                "sizes": {c: {s: len(ds) for s, ds in dd.items()} for c, dd in self.corpora.items()},
                "dropped_mentions": self.dropped_mentions}
