"""The `token-classification` pipeline: raw text in, entities with character offsets out.

Shipped with every checkpoint as Hub remote code, so that

    from transformers import pipeline
    ner = pipeline("token-classification", model="org/repo-or-folder", trust_remote_code=True)
    # or pipeline(model=..., trust_remote_code=True): the checkpoint lists exactly this one task
    ner("Mutations in BRCA1 cause breast cancer.", batch_size=32)
    # [{"entity_group": "Gene", "score": 0.97, "word": "BRCA1", "start": 13, "end": 18}, ...]

works where biomtl is not installed. Steps: text -> sentences -> words with character offsets
(`text_split.py`, split like the training corpora) -> `model.predict_spans(sentences, tokenizer,
batch_size)` (the family contract: every family windows its own over-long sentences) -> same-span
type conflicts between corpora resolved (`span_conflicts.py`) -> entities whose
`word == text[start:end]`. Nested entities are kept. `score` is a plain Python float.

The checkpoint's `config.custom_pipelines` has one entry, keyed `token-classification` (the task
users type). In-process the class is registered as `biomedical-ner` only (the name checkpoints saved
before used), so that importing it never replaces transformers' built-in `token-classification`
pipeline for other models. `pipeline("ner", ...)` builds the built-in pipeline, which cannot run
these models' decoders: the configuration classes refuse that load with a message naming the task to use.

Parameters (at construction or per call):
    batch_size: sentences per model batch (default 32); documents of one call are batched together.
    label_mode: "merged" (default): `entity_group` is the unprefixed type ("Disease"); the same
        (start, end, type) predicted for several corpora is reported once with its highest score.
        "prefixed": the model's corpus-prefixed label ("NCBI-disease/Disease") plus a `corpus` key.
    return_corpus: True is the same as label_mode="prefixed".
    conflicts: "resolve" (default): one type per (start, end) span when heads of different corpora
        disagree (see span_conflicts.py); "keep": every corpus's prediction.
    aggregation_strategy: "simple", "first", "max", "average" (the built-in pipeline's names) all give
        the same entities (the model predicts whole spans already); "none" gives one record per word
        of each entity in the BIO style, `{"entity": "B-Disease" | "I-Disease", "score", "index",
        "word", "start", "end"}`, where `index` is the word's position among the text's words
        (0-based) and a word inside several (nested) entities has one record per entity.
    threshold: drop entities whose score is below it (default: keep all the model predicts); applied
        after conflict resolution.
    newline_is_boundary: also end a sentence at every line break (default: only blank lines).
"""

from __future__ import annotations

from typing import Any

from transformers import AutoModel, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .span_conflicts import DEFAULT_CONFLICTS, check_conflict_mode, label_parts, resolve_conflicts
from .text_split import Sentence, Word, split_sentences

#: the task name in `config.custom_pipelines` (what users type)
TASK = "token-classification"
#: the in-process registry name, and the task of checkpoints saved before the rename
LEGACY_TASK = "biomedical-ner"
LABEL_MODES = ("merged", "prefixed")
#: the built-in pipeline's aggregation strategies; all but "none" give whole entities
AGGREGATION_STRATEGIES = ("none", "simple", "first", "average", "max")
DEFAULT_BATCH_SIZE = 32
ACCEPTED_PARAMETERS = ("batch_size", "label_mode", "return_corpus", "conflicts", "aggregation_strategy",
                       "threshold", "newline_is_boundary")


def check_aggregation_strategy(value: Any) -> str:
    """The lower-cased strategy name (a string or the built-in `AggregationStrategy` enum member)."""
    name = str(getattr(value, "value", value)).lower()
    if name not in AGGREGATION_STRATEGIES:
        raise ValueError(f"aggregation_strategy must be one of {AGGREGATION_STRATEGIES} (all but 'none' give "
                         f"the same whole entities), got {value!r}")
    return name


def spans_to_entities(
    text: str,
    sentence: Sentence,
    spans: list[dict],
    corpus_types: dict[str, list[str]] | None = None,
    separator: str = "/",
    label_mode: str = "merged",
    threshold: float | None = None,
) -> list[dict[str, Any]]:
    """Word-index spans of one sentence -> entities with character offsets into `text`.

    Raises ValueError for a span outside the sentence (a model bug, never silently dropped).
    """
    out = []
    n = len(sentence.words)
    for sp in spans:
        start, end = int(sp["start"]), int(sp["end"])
        if not 0 <= start < end <= n:
            raise ValueError(f"model returned span {sp} outside a sentence of {n} words")
        score = float(sp.get("score", 1.0))
        if threshold is not None and score < threshold:
            continue
        c_start, c_end = sentence.words[start].start, sentence.words[end - 1].end
        corpus, kind = label_parts(str(sp["label"]), corpus_types, separator)
        ent: dict[str, Any] = {
            "entity_group": kind if label_mode == "merged" else str(sp["label"]),
            "score": score,
            "word": text[c_start:c_end],
            "start": c_start,
            "end": c_end,
        }
        if label_mode == "prefixed":
            ent["corpus"] = corpus
        out.append(ent)
    return out


def merge_entities(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep one entity per (start, end, entity_group) (the highest score); sort by (start, -end, group)."""
    best: dict[tuple[int, int, str], dict[str, Any]] = {}
    for ent in entities:
        key = (ent["start"], ent["end"], ent["entity_group"])
        if key not in best or ent["score"] > best[key]["score"]:
            best[key] = ent
    return sorted(best.values(), key=lambda e: (e["start"], -e["end"], e["entity_group"], -e["score"]))


def word_records(entities: list[dict[str, Any]], words: list[Word]) -> list[dict[str, Any]]:
    """Entities -> one BIO record per word they cover (`aggregation_strategy="none"`).

    `words` are the text's words in order; `index` is a word's position among them. Records of the
    same (index, entity) keep the highest score; sorted by (index, entity).
    """
    first_word = {w.start: i for i, w in enumerate(words)}
    best: dict[tuple[int, str], dict[str, Any]] = {}
    for ent in entities:
        i = first_word[ent["start"]]
        while i < len(words) and words[i].end <= ent["end"]:
            tag = ("B-" if words[i].start == ent["start"] else "I-") + ent["entity_group"]
            rec = {"entity": tag, "score": ent["score"], "index": i, "word": words[i].text,
                   "start": words[i].start, "end": words[i].end}
            if "corpus" in ent:
                rec["corpus"] = ent["corpus"]
            if (i, tag) not in best or rec["score"] > best[i, tag]["score"]:
                best[i, tag] = rec
            i += 1
    return [best[k] for k in sorted(best)]


class BiomedicalNerPipeline(Pipeline):
    """Named entities of raw biomedical text with any model implementing `predict_spans`."""

    _load_processor = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False
    _load_tokenizer = True

    def _sanitize_parameters(
        self,
        label_mode: str | None = None,
        return_corpus: bool | None = None,
        threshold: float | None = None,
        newline_is_boundary: bool | None = None,
        conflicts: str | None = None,
        aggregation_strategy: Any = None,
        **unknown: Any,
    ):
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected parameter(s) {sorted(unknown)}; accepted: "
                            f"{', '.join(ACCEPTED_PARAMETERS)}")
        pre: dict[str, Any] = {}
        post: dict[str, Any] = {}
        if newline_is_boundary is not None:
            pre["newline_is_boundary"] = bool(newline_is_boundary)
        if return_corpus is not None:
            mode = "prefixed" if return_corpus else "merged"
            if label_mode is not None and label_mode != mode:
                raise ValueError(f"return_corpus={return_corpus} contradicts label_mode={label_mode!r}")
            label_mode = mode
        if label_mode is not None:
            if label_mode not in LABEL_MODES:
                raise ValueError(f"label_mode must be one of {LABEL_MODES}, got {label_mode!r}")
            post["label_mode"] = label_mode
        if threshold is not None:
            threshold = float(threshold)
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"threshold must be in [0, 1], got {threshold}")
            post["threshold"] = threshold
        if conflicts is not None:
            post["conflicts"] = check_conflict_mode(conflicts)
        if aggregation_strategy is not None:
            post["aggregation_strategy"] = check_aggregation_strategy(aggregation_strategy)
        return pre, {}, post

    # ---- the three pipeline stages -------------------------------------------------------
    def preprocess(self, text: str, newline_is_boundary: bool = False) -> dict[str, Any]:
        if not isinstance(text, str):
            raise TypeError(f"{TASK} expects a string (or a list of strings), got {type(text).__name__}")
        return {"text": text, "sentences": split_sentences(text, newline_is_boundary=newline_is_boundary)}

    def _forward(self, inputs: dict[str, Any], batch_size: int = DEFAULT_BATCH_SIZE) -> dict[str, Any]:
        sentences = inputs["sentences"]
        spans = self._predict([s.tokens for s in sentences], batch_size)
        return {"text": inputs["text"], "sentences": sentences, "spans": spans}

    def postprocess(
        self,
        outputs: dict[str, Any],
        label_mode: str = "merged",
        threshold: float | None = None,
        conflicts: str = DEFAULT_CONFLICTS,
        aggregation_strategy: str = "simple",
    ) -> list[dict[str, Any]]:
        corpus_types = self.model.config.corpus_types
        separator = self.model.label_separator
        entities: list[dict[str, Any]] = []
        for sentence, spans in zip(outputs["sentences"], outputs["spans"]):
            spans = resolve_conflicts(spans, corpus_types, conflicts, separator)
            entities.extend(
                spans_to_entities(outputs["text"], sentence, spans, corpus_types, separator, label_mode, threshold)
            )
        entities = merge_entities(entities)
        if aggregation_strategy == "none":
            return word_records(entities, [w for s in outputs["sentences"] for w in s.words])
        return entities

    # ---- batching: every sentence of every document of one call in shared batches ---------------
    def _predict(self, word_lists: list[list[str]], batch_size: int) -> list[list[dict]]:
        if not word_lists:
            return []
        spans = self.model.predict_spans(word_lists, self.tokenizer, batch_size=batch_size)
        if len(spans) != len(word_lists):
            raise ValueError(f"predict_spans returned {len(spans)} results for {len(word_lists)} sentences")
        return spans

    def __call__(self, inputs, *args, batch_size: int | None = None, num_workers=None, **kwargs):
        """Entities of one text (a list of dicts) or of each text of a list (a list of lists).

        Generators and other iterables are consumed lazily, `batch_size` documents at a time, and
        give an iterator of per-document results.
        """
        if args:
            raise TypeError(f"unexpected positional arguments {args!r}")
        size = batch_size if batch_size is not None else (self._batch_size or DEFAULT_BATCH_SIZE)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {size!r}")
        pre, _, post = self._sanitize_parameters(**kwargs)
        pre = {**self._preprocess_params, **pre}
        post = {**self._postprocess_params, **post}
        if isinstance(inputs, str):
            return self._run_documents([inputs], size, pre, post)[0]
        if isinstance(inputs, (list, tuple)):
            return self._run_documents(list(inputs), size, pre, post)
        return self._iterate(inputs, size, pre, post)

    def save_pretrained(self, save_directory, **kwargs: Any) -> None:
        """`Pipeline.save_pretrained` with exactly one `config.custom_pipelines` entry, keyed TASK, and
        this file copied next to the model (also when re-saving a remote-loaded pipeline), whatever
        name the class was registered under in this process."""
        self._registered_impl = {TASK: {"impl": type(self), "pt": (AutoModel,), "type": "text"}}
        super().save_pretrained(save_directory, **kwargs)

    def _iterate(self, inputs, size, pre, post):
        chunk: list[str] = []
        for text in inputs:
            chunk.append(text)
            if len(chunk) >= size:
                yield from self._run_documents(chunk, size, pre, post)
                chunk = []
        if chunk:
            yield from self._run_documents(chunk, size, pre, post)

    def _run_documents(self, texts: list[str], size: int, pre: dict, post: dict) -> list[list[dict]]:
        prepared = [self.preprocess(t, **pre) for t in texts]
        flat = [s.tokens for p in prepared for s in p["sentences"]]
        spans = self._predict(flat, size)
        results, k = [], 0
        for p in prepared:
            m = len(p["sentences"])
            out = {"text": p["text"], "sentences": p["sentences"], "spans": spans[k:k + m]}
            k += m
            results.append(self.postprocess(out, **post))
        return results


# In-process name: `pipeline("biomedical-ner", model=<model object>, tokenizer=...)`. Registering
# TASK itself would replace the built-in token-classification pipeline for every model.
PIPELINE_REGISTRY.register_pipeline(LEGACY_TASK, pipeline_class=BiomedicalNerPipeline, pt_model=AutoModel,
                                    type="text")
