"""`biomtl data ...` subcommands."""

from __future__ import annotations

import argparse
import json
import time


def add_data_commands(subparsers) -> None:
    data = subparsers.add_parser("data", help="prepare corpora as datasets, show statistics")
    sub = data.add_subparsers(dest="data_command", required=True)

    p = sub.add_parser("prepare", help="build a corpus DatasetDict (train/validation/test) and save it")
    p.add_argument("name", help="registry name, e.g. ncbi_disease, bc5cdr, bc2gm, linnaeus, genia_nested")
    p.add_argument("--source-dir", help="local folder with the corpus files (e.g. ../shared/corpora); "
                                        "default: download the public files")
    p.add_argument("--output", help="where to save (default ~/.cache/biomtl/datasets/NAME or $BIOMTL_CACHE)")
    p.add_argument("--force", action="store_true", help="parse again even if a matching prepared copy exists")
    p.add_argument("--push-to-hub", metavar="REPO", help="also upload with DatasetDict.push_to_hub")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: private dataset repo")
    p.set_defaults(func=_prepare)

    s = sub.add_parser("stats", help="sentences and mentions per type per split")
    s.add_argument("name")
    s.add_argument("--source-dir")
    s.add_argument("--output", help="prepared copy location (as for prepare)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=_stats)

    e = sub.add_parser("exposure", help="how often each corpus's test mentions occur unannotated in the other "
                                        "corpora's train splits (what multi-task training sees as non-mentions)")
    e.add_argument("names", nargs="+", metavar="NAME", help="two or more registry names")
    e.add_argument("--source-dir")
    e.add_argument("--split", default="test", help="whose mentions are counted (default test)")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    e.set_defaults(func=_exposure)

    lst = sub.add_parser("list", help="list the registry")
    lst.set_defaults(func=_list)


def _prepare(args: argparse.Namespace) -> int:
    from .prepare import prepare_corpus
    from .stats import corpus_stats, format_stats

    t0 = time.perf_counter()
    pc = prepare_corpus(args.name, source_dir=args.source_dir, output_dir=args.output, force=args.force)
    took = time.perf_counter() - t0
    how = "reloaded (no re-parse)" if pc.reloaded else "prepared"
    print(f"{how} {pc.spec.key} -> {pc.path} in {took:.1f}s")
    print(format_stats(pc.spec.corpus, corpus_stats(pc.dataset)))
    print(pc.repairs.format())
    if pc.filtered_mentions:
        print(f"mentions of other types removed by the registry entry (keeps {list(pc.spec.keep_types)}): "
              f"{pc.filtered_mentions}")
    if args.push_to_hub:
        pc.dataset.push_to_hub(args.push_to_hub, private=args.private)
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    from .prepare import prepare_corpus
    from .stats import corpus_stats, format_stats

    pc = prepare_corpus(args.name, source_dir=args.source_dir, output_dir=args.output)
    stats = corpus_stats(pc.dataset)
    if args.json:
        print(json.dumps({"corpus": pc.spec.corpus, "splits": stats, "repairs": pc.repairs.to_dict(),
                          "filtered_mentions": pc.filtered_mentions}, indent=2))
    else:
        print(format_stats(pc.spec.corpus, stats))
        print(pc.repairs.format())
    return 0


def _exposure(args: argparse.Namespace) -> int:
    from .exposure import exposure, format_exposure
    from .prepare import prepare_corpus

    if len(args.names) < 2:
        raise ValueError("biomtl data exposure needs two or more corpora")
    corpora, types = {}, {}
    for name in args.names:
        pc = prepare_corpus(name, source_dir=args.source_dir)
        corpora[pc.spec.corpus] = pc.dataset
        types[pc.spec.corpus] = pc.spec.keep_types or pc.spec.types  # what the registry says it annotates
    rows = exposure(corpora, args.split, types)
    print(json.dumps(rows, indent=2) if args.json else format_exposure(rows, args.split))
    return 0


def _list(args: argparse.Namespace) -> int:
    from .registry import REGISTRY

    for spec in REGISTRY.values():
        print(f"{spec.key:<16} {spec.corpus:<16} types={','.join(spec.types)}  source={spec.base_url}")
    return 0
