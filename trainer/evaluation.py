"""Predict a set of sentences (sharded across processes) and score it in merged and disjoint mode."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from ..metrics import ScoreReport, score_corpus_spans


def predict_examples(model, tokenizer, sentences: Sequence[list[str]], batch_size: int = 64,
                     accelerator=None, progress: bool = False, desc: str = "predict") -> list[list[dict]]:
    """`model.predict_spans` over all sentences, in length-sorted batches (much faster: little padding),
    returned in input order. With an `accelerator` of several processes, each process predicts an
    interleaved shard and the shards are gathered, so every sentence is predicted exactly once."""
    rank = accelerator.process_index if accelerator is not None else 0
    world = accelerator.num_processes if accelerator is not None else 1
    mine = list(range(rank, len(sentences), world))
    order = sorted(mine, key=lambda i: len(sentences[i]))
    out: dict[int, list[dict]] = {}
    was_training = model.training
    model.eval()
    bar = tqdm(total=len(order), desc=desc, disable=not progress or rank != 0, leave=False, unit="sent")
    with torch.inference_mode():
        for k in range(0, len(order), batch_size):
            idx = order[k:k + batch_size]
            preds = model.predict_spans([list(sentences[i]) for i in idx], tokenizer, batch_size=batch_size)
            out.update(zip(idx, preds))
            bar.update(len(idx))
    bar.close()
    if was_training:
        model.train()
    if world > 1:
        from accelerate.utils import gather_object

        gathered = gather_object([(i, out[i]) for i in mine])
        merged: dict[int, list[dict]] = {}
        for i, spans in gathered:
            if i in merged:
                raise RuntimeError(f"sentence {i} was predicted twice while gathering")
            merged[i] = spans
        out = merged
    missing = [i for i in range(len(sentences)) if i not in out]
    if missing:
        raise RuntimeError(f"{len(missing)} sentences were not predicted (e.g. {missing[:5]})")
    return [out[i] for i in range(len(sentences))]


def score_examples(examples: Sequence[dict], predictions: Sequence[list[dict]],
                   corpus_types: dict[str, list[str]], modes=("merged", "disjoint")) -> dict[str, ScoreReport]:
    """Score predictions of canonical examples (gold in `spans`, corpus in `corpus`) in each mode."""
    gold = [ex["spans"] for ex in examples]
    corpora = [ex["corpus"] for ex in examples]
    return {mode: score_corpus_spans(gold, predictions, corpora, corpus_types, mode=mode) for mode in modes}


def evaluate_examples(model, tokenizer, examples: Sequence[dict], corpus_types: dict[str, list[str]],
                      batch_size: int = 64, accelerator=None, progress: bool = False,
                      desc: str = "evaluate") -> tuple[dict[str, ScoreReport], list[list[dict]]]:
    preds = predict_examples(model, tokenizer, [ex["tokens"] for ex in examples], batch_size, accelerator,
                             progress, desc)
    return score_examples(examples, preds, corpus_types), preds
