"""Same-span type conflicts (issue 18): a trained NCBI-disease + BC5CDR model scored with global
predictions, keeping every corpus's prediction vs resolving conflicts (the default).

    python -m benchmarks.conflicts --model runs/demo/best --source-dir ../shared/corpora \
        --output benchmarks/results/conflicts.json

Global predictions: every head predicts on every test sentence, types are mapped by bare name and
each corpus is scored on the types it annotates (`biomtl evaluate --mode merged`, the shipped
`biomtl.trainer.train_cli.score_predictions`, i.e. `relabel_for_corpus` + `score_corpus_spans`).
Each test set is predicted once and scored with `conflicts="keep"` and `"resolve"`. Strict P/R/F1.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import RESULTS, corpora_dir, quiet_env

CORPORA = ("ncbi_disease", "bc5cdr")
MODES = ("keep", "resolve")


def score_corpus(model, tokenizer, corpus_key: str, source_dir: str, split: str = "test",
                 batch_size: int = 64, max_sentences: int | None = None) -> list[dict[str, Any]]:
    """One row per conflict mode: strict P/R/F1 and counts of `model` on one corpus's split."""
    from biomtl.trainer.evaluation import predict_examples
    from biomtl.trainer.train_cli import corpus_split, score_predictions

    corpus, types, examples = corpus_split(corpus_key, source_dir, split, max_sentences)
    preds = predict_examples(model, tokenizer, [ex["tokens"] for ex in examples], batch_size)
    model_types = dict(model.config.corpus_types)
    rows = []
    for mode in MODES:
        report = score_predictions(examples, preds, corpus, types, model_types, "merged", {}, mode)
        counts = report.strict.per_corpus[corpus]
        rows.append({"corpus": corpus, "conflicts": mode, "sentences": len(examples),
                     "precision": counts.precision, "recall": counts.recall, "f1": counts.f1,
                     "tp": counts.tp, "fp": counts.fp, "fn": counts.fn})
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'corpus':<14} {'conflicts':<9} {'P':>6} {'R':>6} {'F1':>6} {'TP':>6} {'FP':>6} {'FN':>6}"]
    for r in rows:
        lines.append(f"{r['corpus']:<14} {r['conflicts']:<9} {r['precision']:>6.2f} {r['recall']:>6.2f} "
                     f"{r['f1']:>6.2f} {r['tp']:>6} {r['fp']:>6} {r['fn']:>6}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="trained NCBI-disease + BC5CDR model folder (or Hub id)")
    ap.add_argument("--source-dir", default=str(corpora_dir()), help="folder with NCBI-disease-IOB/, BC5CDR-IOB/")
    ap.add_argument("--output", default=str(RESULTS / "conflicts.json"), help="JSON results file")
    ap.add_argument("--split", default="test")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--max-sentences", type=int, help="score only the first N sentences of each corpus")
    args = ap.parse_args(argv)
    quiet_env()
    from transformers import AutoModel, AutoTokenizer

    import biomtl.modeling  # noqa: F401  (registers the families with the Auto classes)

    model = AutoModel.from_pretrained(args.model, trust_remote_code=True)
    tokenizer = AutoTokenizer.from_pretrained(args.model, trust_remote_code=True)
    rows = [row for key in CORPORA for row in score_corpus(model, tokenizer, key, args.source_dir, args.split,
                                                           args.batch_size, args.max_sentences)]
    print(f"{args.model}: strict span scores on {args.split}, global predictions (types by bare name)")
    print(format_rows(rows))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"model": str(args.model), "split": args.split, "mode": "merged",
                               "rows": rows}, indent=2) + "\n")
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
