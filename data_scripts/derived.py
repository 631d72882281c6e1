"""Derived data sets of the papers' experiments, seeded and reproducible."""

from __future__ import annotations

import random

from datasets import Dataset, DatasetDict


def _keep_only(ds: Dataset, keep: set[str], corpus: str) -> Dataset:
    return ds.map(lambda ex: {"corpus": corpus, "spans": [s for s in ex["spans"] if s["label"] in keep]},
                  keep_in_memory=True, load_from_cache_file=False)


def partial_annotation_split(bc5cdr: DatasetDict, seed: int = 13,
                             chemical: str = "Chemical", disease: str = "Disease") -> dict[str, DatasetDict]:
    """SRU-NER's partial-annotation experiment: BC5CDR train and validation are each split into two
    disjoint random halves of the sentences; one half keeps only Chemical mentions (corpus
    `BC5CDR-chem-half`), the other only Disease (`BC5CDR-disease-half`). The full test split (both
    types) is attached to both, for global scoring against the complete annotation.
    """
    rng = random.Random(seed)
    halves: dict[str, dict[str, Dataset]] = {"BC5CDR-chem-half": {}, "BC5CDR-disease-half": {}}
    for split in ("train", "validation"):
        ds = bc5cdr[split]
        order = list(range(len(ds)))
        rng.shuffle(order)
        cut = len(order) // 2
        chem_idx, dis_idx = sorted(order[:cut]), sorted(order[cut:])
        halves["BC5CDR-chem-half"][split] = _keep_only(ds.select(chem_idx), {chemical}, "BC5CDR-chem-half")
        halves["BC5CDR-disease-half"][split] = _keep_only(ds.select(dis_idx), {disease}, "BC5CDR-disease-half")
    for name in halves:
        halves[name]["test"] = bc5cdr["test"]
    return {name: DatasetDict(parts) for name, parts in halves.items()}


def subsample(ds: Dataset, fraction: float, seed: int = 13) -> Dataset:
    """A random `fraction` of the sentences (rounded, at least 1), kept in corpus order.

    One seeded permutation serves every fraction, so smaller subsets are nested in larger ones
    (10% ⊂ 25% ⊂ 50%), which keeps low-resource curves comparable.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    order = list(range(len(ds)))
    random.Random(seed).shuffle(order)
    n = max(1, round(fraction * len(ds)))
    return ds.select(sorted(order[:n]))


def document_split(ds: Dataset, test_fraction: float = 0.2, seed: int = 13) -> DatasetDict:
    """Split by document (`doc_id`): about `test_fraction` of the documents go to test, so no document
    is in both splits. Used for GENIA-nested, of which only the dev split is available here."""
    docs = sorted(set(ds["doc_id"]))
    if len(docs) < 2:
        raise ValueError("document_split needs at least two distinct doc_id values")
    random.Random(seed).shuffle(docs)
    n_test = max(1, round(test_fraction * len(docs)))
    test_docs = set(docs[:n_test])
    is_test = [d in test_docs for d in ds["doc_id"]]
    return DatasetDict({
        "train": ds.select([i for i, t in enumerate(is_test) if not t]),
        "test": ds.select([i for i, t in enumerate(is_test) if t]),
    })
