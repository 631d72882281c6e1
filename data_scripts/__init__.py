"""Corpora -> `datasets`: canonical schema, readers/writers, registry, collections, derived sets."""

from .collections import MultiCorpusCollection, corpus_of, prefixed, strip_prefix
from .derived import document_split, partial_annotation_split, subsample
from .prepare import PreparedCorpus, load_prepared, prepare_corpus
from .readers import RepairReport, read_conll, read_iob, read_jsonlines, tags_to_spans
from .registry import REGISTRY, CorpusSpec, get_spec
from .schema import FEATURES, PREFIX_SEP, CorpusFormatError, make_example
from .stats import corpus_stats, format_stats
from .writers import spans_to_iob2, write_iob2, write_jsonlines

__all__ = [
    "FEATURES", "PREFIX_SEP", "REGISTRY", "CorpusFormatError", "CorpusSpec", "MultiCorpusCollection",
    "PreparedCorpus", "RepairReport", "corpus_of", "corpus_stats", "document_split", "format_stats", "get_spec",
    "load_prepared", "make_example", "partial_annotation_split", "prefixed", "prepare_corpus", "read_conll",
    "read_iob", "read_jsonlines", "spans_to_iob2", "strip_prefix", "subsample", "tags_to_spans", "write_iob2",
    "write_jsonlines",
]
