"""MRC query sources for `MrcMultiTaskForNER` (spec mrc-multitask.md §3).

Sources: `definition` (what the type is), `guideline` (what annotators mark), `dictionary` (a template
listing k example mentions sampled once from the training data), and the ablations `none` (no query)
and `random` (one of the three real sources drawn per example).

The editable texts live in `mrc_queries.json` next to this file. They are read only when a model is
*created* (`build_query_table`); the chosen texts and sampled examples are stored in the model config,
so a saved checkpoint never needs the JSON file (it is not shipped as remote code).
Shipped as Hub remote code: stdlib only.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from .mrc_labels import base_type, prefixed_label

#: All selectable query sources.
QUERY_SOURCES = ("definition", "guideline", "dictionary", "none", "random")
#: The knowledge-carrying sources that `random` draws from.
REAL_SOURCES = ("definition", "guideline", "dictionary")

DEFAULT_QUERY_FILE = Path(__file__).with_name("mrc_queries.json")
_DEFAULT_DICTIONARY_TEMPLATE = "Find {type_phrase} mentions such as {examples}."
_DEFAULT_FALLBACK_TEMPLATE = "Find {type_phrase} mentions."
_ENTRY_FIELDS = ("type_phrase", "definition", "guideline", "dictionary_template")


def load_query_file(path: str | Path | None = None) -> dict:
    """Read a query JSON file (default: the shipped `mrc_queries.json`).

    Format: `{"dictionary_template": str, "fallback_template": str, "types": {name: {"aliases": [...],
    "type_phrase": str, "definition": str, "guideline": str}}}`. Missing file -> an empty table (every type
    then uses the fallback template), never a crash at checkpoint load.
    """
    path = Path(path) if path is not None else DEFAULT_QUERY_FILE
    if not path.is_file():
        if path == DEFAULT_QUERY_FILE:
            return {"types": {}}
        raise FileNotFoundError(f"query file {path} does not exist")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data.get("types", {}), dict):
        raise ValueError(f"{path}: 'types' must be an object mapping type names to query texts")
    return data


def normalize_type_name(name: str) -> str:
    """Case-, space-, '_'-, '-'- and '/'-insensitive key used to match type names and aliases."""
    return re.sub(r"[\s_\-/]+", "", name).lower()


def default_type_phrase(name: str) -> str:
    """`"cell_type"` -> `"cell type"` (the fallback wording for types without an entry)."""
    return name.replace("_", " ").lower()


def _find_entry(name: str, types: dict[str, dict]) -> dict | None:
    key = normalize_type_name(name)
    for canonical, entry in types.items():
        names = [canonical] + list(entry.get("aliases", []))
        if any(normalize_type_name(n) == key for n in names):
            return entry
    return None


def build_query_table(
    corpus_types: dict[str, list[str]],
    user_queries: dict[str, dict] | None = None,
    query_file: str | Path | None = None,
) -> dict[str, dict[str, str]]:
    """Query texts for every (prefixed) type of a model: `{type: {type_phrase, definition, guideline,
    dictionary_template}}`.

    Lookup order per field: `user_queries[prefixed type]`, then `user_queries[bare type]` (user-added
    types or overrides), then the query file entry matching the bare type or an alias, then the fallback
    template `Find {type_phrase} mentions.`.
    """
    data = load_query_file(query_file)
    types_table = data.get("types", {})
    dict_template = data.get("dictionary_template", _DEFAULT_DICTIONARY_TEMPLATE)
    fallback = data.get("fallback_template", _DEFAULT_FALLBACK_TEMPLATE)
    user_queries = dict(user_queries or {})
    for key, value in user_queries.items():
        if not isinstance(value, dict):
            raise ValueError(f"user_queries[{key!r}] must be a dict of query fields, got {type(value).__name__}")
        unknown = set(value) - set(_ENTRY_FIELDS) - {"aliases"}
        if unknown:
            raise ValueError(f"user_queries[{key!r}] has unknown fields {sorted(unknown)}; use {_ENTRY_FIELDS}")
    table: dict[str, dict[str, str]] = {}
    for corpus, types in corpus_types.items():
        for prefixed in types:
            bare = base_type(prefixed, corpus)
            layers = [user_queries.get(prefixed, {}), user_queries.get(bare, {}),
                      _find_entry(bare, types_table) or {}]
            entry: dict[str, str] = {}
            for field in _ENTRY_FIELDS:
                entry[field] = next((layer[field] for layer in layers if layer.get(field)), "")
            entry["type_phrase"] = entry["type_phrase"] or default_type_phrase(bare)
            generic = fallback.format(type_phrase=entry["type_phrase"])
            entry["definition"] = entry["definition"] or generic
            entry["guideline"] = entry["guideline"] or generic
            entry["dictionary_template"] = entry["dictionary_template"] or dict_template
            table[prefixed] = entry
    return table


def join_examples(examples: list[str]) -> str:
    """`["A", "B", "C"]` -> `"A, B and C"`."""
    if len(examples) <= 1:
        return "".join(examples)
    return ", ".join(examples[:-1]) + " and " + examples[-1]


def sample_dictionary_examples(
    examples: Iterable[dict],
    corpus_types: dict[str, list[str]],
    k: int = 3,
    seed: int = 2020,
    pool_size: int = 10,
) -> dict[str, list[str]]:
    """Sample k distinct frequent gold mentions per type from (training!) examples, once, reproducibly.

    Mentions are counted case-insensitively by surface text (words joined by spaces); the `pool_size`
    most frequent (ties: alphabetical) form the pool (independent of example order) and k are drawn with `random.Random(seed)`.
    Types with fewer than k distinct mentions get all of them. Returns `{prefixed type: [mention, ...]}`.
    """
    counts: dict[str, Counter] = {t: Counter() for ts in corpus_types.values() for t in ts}
    surface: dict[tuple[str, str], Counter] = {}
    for ex in examples:
        corpus = ex.get("corpus")
        if corpus not in corpus_types:
            continue
        for sp in ex.get("spans", []):
            label = prefixed_label(sp["label"], corpus, corpus_types)
            text = " ".join(ex["tokens"][sp["start"]:sp["end"]])
            key = text.lower()
            counts[label][key] += 1
            surface.setdefault((label, key), Counter())[text] += 1
    out: dict[str, list[str]] = {}
    for label, counter in counts.items():
        ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[: max(pool_size, k)]
        pool = [key for key, _ in ranked]
        rng = random.Random(f"{seed}:{label}")
        chosen = rng.sample(pool, min(k, len(pool)))
        # each mention is written in its most frequent spelling (ties: alphabetical)
        out[label] = [min(surface[(label, key)].items(), key=lambda kv: (-kv[1], kv[0]))[0] for key in chosen]
    return out


def render_query(entry: dict[str, str], source: str, examples: list[str] | None = None) -> str:
    """The query text of one type for a real source (`definition`, `guideline`, `dictionary`)."""
    if source in ("definition", "guideline"):
        return entry[source]
    if source == "dictionary":
        if not examples:
            raise ValueError(
                f"the dictionary query for '{entry.get('type_phrase')}' needs sampled mentions in "
                "config.dictionary_examples (pass train_examples= to from_encoder or call "
                "model.set_dictionary_examples(train_examples))"
            )
        return entry["dictionary_template"].format(type_phrase=entry["type_phrase"],
                                                   examples=join_examples(examples))
    raise ValueError(f"query source {source!r} has no text; expected one of {REAL_SOURCES}")
