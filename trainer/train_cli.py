"""`biomtl train`, `biomtl evaluate` and `biomtl demo`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def add_train_commands(subparsers) -> None:
    t = subparsers.add_parser("train", help="train a model from a YAML/JSON config (+ KEY=VALUE overrides)")
    t.add_argument("config", nargs="?", help="YAML/JSON training config (optional when overrides give corpora)")
    t.add_argument("overrides", nargs="*", help="dotted overrides, e.g. epochs=3 optim.encoder_lr=5e-5")
    t.add_argument("--print-config", action="store_true",
                   help="print the resolved config (the family's recipe + your file + overrides) as YAML and exit")
    t.set_defaults(func=_train)

    e = subparsers.add_parser("evaluate", help="score a saved model on a corpus (merged or disjoint mode)")
    e.add_argument("model", help="saved model folder or Hub repo id")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--corpus", help="registry corpus (ncbi_disease, bc5cdr, bc2gm, ...)")
    src.add_argument("--data", help="prepared DatasetDict folder (biomtl data prepare --output)")
    e.add_argument("--source-dir", help="local corpus files for --corpus (default: download)")
    e.add_argument("--split", default="test")
    e.add_argument("--type-map", nargs="*", default=[], metavar="SRC=DST",
                   help="rename predicted types to the corpus's names, e.g. Gene=protein")
    e.add_argument("--mode", choices=["merged", "disjoint"], default="merged")
    e.add_argument("--conflicts", choices=["resolve", "keep"], default="resolve",
                   help="same span typed differently by heads of different corpora: keep one type (resolve, "
                        "default) or every prediction (keep)")
    e.add_argument("--batch-size", type=int, default=64)
    e.add_argument("--max-sentences", type=int, help="score only the first N sentences")
    e.add_argument("--output", help="write the full report as JSON here")
    e.add_argument("--nested", action="store_true",
                   help="also score overall / nested-only / flat-only mentions (bare types; metrics.nesting_breakdown)")
    e.set_defaults(func=_evaluate)

    d = subparsers.add_parser("demo", help="small multi-corpus SRU-NER training + prediction demo (minutes, CPU)")
    d.add_argument("--corpora-dir", default=os.environ.get("BIOMTL_CORPORA"),
                   help="folder with NCBI-disease-IOB/ and BC5CDR-IOB/ (default: download when online)")
    d.add_argument("--output-dir", default="demo_output")
    d.add_argument("--encoder", default="embedded-minilm")
    d.add_argument("--train-sentences", type=int, default=1200, help="per corpus")
    d.add_argument("--dev-sentences", type=int, default=200, help="per corpus")
    d.add_argument("--epochs", type=int, default=4)
    d.set_defaults(func=_demo)


def _train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .loop import train

    config = args.config
    overrides = list(args.overrides)
    if config and "=" in config and not Path(config).exists():
        overrides.insert(0, config)
        config = None
    cfg = load_config(config, overrides)
    if args.print_config:
        print(cfg.to_yaml(), end="")
        return 0
    train(cfg)
    return 0


def _parse_type_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--type-map {item!r} is not SRC=DST")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def relabel_for_corpus(pred: list[dict], corpus: str, type_map: dict[str, str]) -> list[dict]:
    """Predictions (prefixed with the model's corpora) -> labels of an evaluation corpus: strip the
    prefix, apply the type map (full prefixed names are looked up first), prefix with `corpus`."""
    from ..data_scripts import prefixed, strip_prefix

    out, seen = [], set()
    for sp in pred:
        bare = type_map.get(sp["label"], type_map.get(strip_prefix(sp["label"]), strip_prefix(sp["label"])))
        key = (sp["start"], sp["end"], bare)
        if key not in seen:
            seen.add(key)
            out.append(dict(sp, label=prefixed(corpus, bare)))
    return out


def score_predictions(examples: list[dict], preds: list[list[dict]], corpus: str, types: list[str],
                      model_types: dict[str, list[str]], mode: str = "merged",
                      type_map: dict[str, str] | None = None, conflicts: str = "resolve"):
    """Score a model's predictions (corpus-prefixed labels, one list per example) on one corpus.

    Same-span conflicts between the model's corpora are resolved first (`conflicts`, see
    modeling/span_conflicts.py). merged: prefixes stripped, `type_map` applied, only `types` scored;
    disjoint: the corpus's own prefixed types (ValueError when the model was not trained on it).
    Returns the `ScoreReport`.
    """
    from ..data_scripts import prefixed
    from ..metrics import score_corpus_spans
    from ..modeling.span_conflicts import resolve_conflicts

    preds = [resolve_conflicts(p, model_types, conflicts) for p in preds]
    gold = [[dict(s, label=prefixed(corpus, s["label"])) for s in ex["spans"]] for ex in examples]
    if mode == "disjoint":
        if corpus not in model_types:
            raise ValueError(f"disjoint mode scores a corpus's own prefixed types, but the model was not trained "
                             f"on {corpus} (it knows {list(model_types)}); use --mode merged")
        corpus_types = model_types
    else:
        preds = [relabel_for_corpus(p, corpus, type_map or {}) for p in preds]
        corpus_types = {corpus: [prefixed(corpus, t) for t in types]}
    return score_corpus_spans(gold, preds, [corpus] * len(examples), corpus_types, mode=mode)


def corpus_split(corpus_key: str, source_dir: str | None, split: str = "test",
                 max_sentences: int | None = None) -> tuple[str, list[str], list[dict]]:
    """(corpus name, the types it annotates, examples of `split`) of a registry corpus."""
    from ..data_scripts import get_spec, prepare_corpus

    spec = get_spec(corpus_key)
    dd = prepare_corpus(spec.key, source_dir=source_dir).dataset
    return spec.corpus, list(spec.keep_types or spec.types), _split_examples(dd, split, max_sentences)


def _split_examples(dd, split: str, max_sentences: int | None) -> list[dict]:
    if split not in dd:
        raise ValueError(f"no split {split!r} (has {list(dd)})")
    ds = dd[split]
    if max_sentences:
        ds = ds.select(range(min(max_sentences, len(ds))))
    return ds.to_list()


def _evaluate(args: argparse.Namespace) -> int:
    from transformers import AutoModel, AutoTokenizer

    from .. import modeling  # noqa: F401  (registers the families with the Auto classes)
    from ..data_scripts import load_prepared
    from ..metrics import format_table
    from .evaluation import predict_examples

    type_map = _parse_type_map(args.type_map)
    if args.corpus:
        corpus, types, examples = corpus_split(args.corpus, args.source_dir, args.split, args.max_sentences)
    else:
        dd = load_prepared(args.data)
        first = next(iter(dd.values()))
        corpus = first[0]["corpus"]
        types = sorted({s["label"] for ds in dd.values() for sp in ds["spans"] for s in sp})
        examples = _split_examples(dd, args.split, args.max_sentences)
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    model_types: dict[str, list[str]] = dict(model.config.corpus_types)
    preds = predict_examples(model, tokenizer, [ex["tokens"] for ex in examples], args.batch_size,
                             progress=True, desc=f"{corpus} {args.split}")
    report = score_predictions(examples, preds, corpus, types, model_types, args.mode, type_map, args.conflicts)
    print(f"{args.model} on {corpus} ({args.split}, {len(examples)} sentences), {args.mode} mode, "
          f"conflicts={args.conflicts}")
    print(format_table(report))
    extra: dict = {"conflicts": args.conflicts}
    if args.nested:
        from ..data_scripts import strip_prefix
        from ..metrics import nesting_breakdown

        bare = [[dict(sp, label=strip_prefix(sp["label"])) for sp in p] for p in preds]
        extra["nesting"] = nesting_breakdown([ex["spans"] for ex in examples], bare)
        print("nesting: " + "; ".join(f"{k} P/R/F1 {v['precision']:.2f} / {v['recall']:.2f} / {v['f1']:.2f} "
                                      f"({v['gold']} gold)" for k, v in extra["nesting"].items()))
    if args.output:
        Path(args.output).write_text(json.dumps({**report.to_dict(), **extra}, indent=2))
    return 0


DEMO_SENTENCES = [
    "Cisplatin-induced nephrotoxicity was reduced by amifostine in patients with ovarian cancer.",
    "Germline mutations in BRCA1 predispose women to breast and ovarian cancer.",
    "Naloxone reversed the hypotension caused by clonidine in two patients with chronic renal failure.",
]


def _demo(args: argparse.Namespace) -> int:
    from .config import config_from_dict
    from .loop import train

    if args.corpora_dir and not Path(args.corpora_dir).is_dir():
        print(f"biomtl demo: corpora folder {args.corpora_dir} does not exist; pass --corpora-dir pointing to a "
              f"folder with NCBI-disease-IOB/ and BC5CDR-IOB/, or leave it out to download when online",
              file=sys.stderr)
        return 2
    out = Path(args.output_dir)
    # the family's default recipe decides the optimisation; the demo sets only its data and budget
    cfg = config_from_dict({
        "corpora": [{"name": n, "max_train_sentences": args.train_sentences, "max_eval_sentences": args.dev_sentences}
                    for n in ("ncbi_disease", "bc5cdr")],
        "model": {"family": "sru_ner", "encoder": args.encoder},
        "source_dir": args.corpora_dir, "epochs": args.epochs, "early_stopping_patience": None,
        "output_dir": str(out / "run"), "evaluate_test": False, "log_with": None, "seed": 13,
    })
    print(f"biomtl demo: SRU-NER on NCBI-disease + BC5CDR ({args.train_sentences} train sentences each), "
          f"encoder {args.encoder}, {args.epochs} epochs")
    results = train(cfg)
    best = out / "run" / "best"
    dev = results["dev"]
    print("\ndev scores of the best epoch (strict span F1, %):")
    print(f"{'corpus':<14} {'merged':>8} {'disjoint':>9}")
    for corpus in dev["merged"]["per_corpus"]:
        print(f"{corpus:<14} {dev['merged']['per_corpus'][corpus]['f1']:>8.2f} "
              f"{dev['disjoint']['per_corpus'][corpus]['f1']:>9.2f}")
    print(f"{'Average':<14} {dev['merged']['average']['f1']:>8.2f} {dev['disjoint']['average']['f1']:>9.2f}")
    print(f"\nHub-ready model folder (weights, tokenizer, code, pipeline, card): {best}")

    from transformers import pipeline

    ner = pipeline("token-classification", model=str(best), trust_remote_code=True)
    print("\npipeline(\"token-classification\", model=..., trust_remote_code=True) on three sentences:")
    for text, ents in zip(DEMO_SENTENCES, ner(DEMO_SENTENCES)):
        print(f"  {text}")
        for e in ents:
            print(f"    {e['entity_group']:<9} {e['word']!r} [{e['start']}:{e['end']}] score={e['score']:.2f}")
        if not ents:
            print("    (no entities)")
    return 0
