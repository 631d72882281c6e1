"""Turn a TrainConfig's corpora into the training / dev / test examples of one multi-corpus run."""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset, DatasetDict

from ..data_scripts import MultiCorpusCollection, get_spec, load_prepared, prepare_corpus, subsample
from .config import CorpusConfig, TrainConfig


@dataclass
class TrainingData:
    """Examples are canonical dicts with corpus-prefixed labels."""

    collection: MultiCorpusCollection
    train: list[dict]
    dev: list[dict]
    test: list[dict]
    corpora: dict[str, dict] = field(default_factory=dict)  # corpus -> info for results / model card

    @property
    def corpus_types(self) -> dict[str, list[str]]:
        return self.collection.corpus_types


def _limit(ds: Dataset, n: int | None, seed: int) -> Dataset:
    if n is None or n >= len(ds):
        return ds
    return subsample(ds, n / len(ds), seed=seed).select(range(min(n, len(ds))))


def load_corpus(cc: CorpusConfig, default_source: str | None) -> tuple[str, DatasetDict, dict]:
    """(corpus display name, DatasetDict, info) for one configured corpus."""
    if cc.data_dir:
        dd = load_prepared(cc.data_dir)
        first = next(iter(dd.values()))
        name = first[0]["corpus"] if len(first) else cc.name
        types = sorted({s["label"] for ds in dd.values() for sp in ds["spans"] for s in sp})
        info = {"registry_key": None, "data_dir": cc.data_dir, "types": types, "license": None, "citation": None}
        return name, dd, info
    spec = get_spec(cc.name)
    pc = prepare_corpus(spec.key, source_dir=cc.source_dir or default_source)
    types = list(spec.keep_types or spec.types)
    info = {"registry_key": spec.key, "types": types, "license": spec.license, "citation": spec.citation,
            "source": spec.base_url, "repairs": pc.repairs.total, "filtered_mentions": pc.filtered_mentions,
            "hub_dataset": None}
    return spec.corpus, pc.dataset, info


def build_training_data(cfg: TrainConfig) -> TrainingData:
    corpora: dict[str, DatasetDict] = {}
    infos: dict[str, dict] = {}
    types: dict[str, list[str]] = {}
    renames: dict[str, dict[str, str]] = {}
    drops: dict[str, list[str]] = {}
    for cc in cfg.corpora:
        name, dd, info = load_corpus(cc, cfg.source_dir)
        if name in corpora:
            raise ValueError(f"corpus {name!r} is listed twice in the config")
        for split in (cc.train_split, cc.dev_split):
            if split not in dd:
                raise ValueError(f"corpus {name}: no {split!r} split (has {list(dd)})")
        parts = {"train": dd[cc.train_split], "validation": dd[cc.dev_split]}
        if cc.train_fraction < 1.0:
            parts["train"] = subsample(parts["train"], cc.train_fraction, seed=cfg.seed)
        parts["train"] = _limit(parts["train"], cc.max_train_sentences, cfg.seed)
        parts["validation"] = _limit(parts["validation"], cc.max_eval_sentences, cfg.eval_subset_seed)
        if cc.test_split in dd:
            n_test = cc.max_test_sentences if cc.max_test_sentences is not None else cc.max_eval_sentences
            parts["test"] = _limit(dd[cc.test_split], n_test, cfg.eval_subset_seed)
        corpora[name] = DatasetDict(parts)
        types[name] = info["types"]
        renames[name], drops[name] = dict(cc.renames), list(cc.drops)
        info.update({f"{s}_sentences": len(d) for s, d in parts.items()})
        infos[name] = info
    collection = MultiCorpusCollection(corpora, types=types, renames=renames, drops=drops)
    for name, info in infos.items():
        info["types"] = collection.corpus_types[name]
        info["dropped_mentions"] = collection.dropped_mentions[name]
    return TrainingData(
        collection=collection,
        train=collection.split("train").to_list(),
        dev=collection.split("validation").to_list(),
        test=collection.split("test").to_list() if any("test" in dd for dd in collection.corpora.values()) else [],
        corpora=infos,
    )
