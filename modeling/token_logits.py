"""Per-token logits for `AutoModelForTokenClassification`, and the messages of what is not supported.

`AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True)` loads the CRF and
MRC families, whose `forward(input_ids, attention_mask, ...)` then returns per-token `logits` over
`config.id2label` (`O`, then `B-`/`I-` per corpus-prefixed type). The layer-sliced CRF has one head
per task: `joint_token_logits` combines them into one label space, the log-probability that
one head gives the token that label and every other head says `O` (so a plain softmax/argmax over
the result is meaningful). These are emissions only: no CRF transition scores, no nested spans.
SRU-NER is transition-based and has no per-token logits at all.

The checkpoint's own pipeline (`pipeline("token-classification", ...)`, see pipeline_ner.py) runs
each family's real decoder. `pipeline("ner", ...)` instead builds transformers' built-in pipeline,
which would silently argmax these logits: the configuration classes refuse that load with a clear
message (`refuse_builtin_pipeline`).

Shipped with every checkpoint as Hub remote code: torch only.
"""

from __future__ import annotations

from collections import defaultdict

import torch

#: the task aliases for which transformers builds its built-in pipeline on AutoModelForTokenClassification
BUILTIN_PIPELINE_TASKS = ("ner",)
OWN_PIPELINE_HINT = ("this checkpoint ships its own pipeline under the task name 'token-classification': use "
                     "pipeline('token-classification', model=..., trust_remote_code=True) or "
                     "pipeline(model=..., trust_remote_code=True)")


def refuse_builtin_pipeline(from_pipeline: str | None, family: str) -> None:
    """Raise ValueError when transformers' built-in `ner` pipeline is loading a `family` checkpoint.

    Called by the configuration classes' `from_pretrained`, which the pipeline factory calls first,
    with `_from_pipeline=<task>`, when given a folder or Hub id (in a process where biomtl is installed
    the local configuration class is built without that call, and the built-in pipeline then argmaxes
    the per-token logits).
    """
    if from_pipeline in BUILTIN_PIPELINE_TASKS:
        raise ValueError(
            f"pipeline({from_pipeline!r}) builds transformers' built-in token-classification pipeline, which "
            f"cannot run this {family} model's decoder (it would argmax per-token logits); {OWN_PIPELINE_HINT}")


class OwnPipelineConfigMixin:
    """For a family's configuration class: `from_pretrained` refuses transformers' built-in
    `pipeline("ner")` (see `refuse_builtin_pipeline`)."""

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """`PretrainedConfig.from_pretrained`, refusing transformers' built-in `pipeline("ner")`, which
        cannot run this family's decoder."""
        refuse_builtin_pipeline(kwargs.get("_from_pipeline"), cls.model_type)
        return super().from_pretrained(*args, **kwargs)


def no_token_logits_message(class_name: str, family: str, supported: dict[str, str]) -> str:
    """Why a family cannot be loaded as AutoModelForTokenClassification, naming what works."""
    listed = ", ".join(f"{auto} -> {cls}" for auto, cls in supported.items())
    return (f"{family} ({class_name}) has no per-token logits, so it cannot be loaded with "
            f"AutoModelForTokenClassification (which is also what pipeline('ner') does). Supported classes: "
            f"{listed} (from_pretrained(..., trust_remote_code=True)); for entities, {OWN_PIPELINE_HINT}")


def bio_tag_key(tag: str) -> str:
    """A head's tag -> its BIO label: S- counts as B-, E- as I-; O and X (continuation) as O."""
    prefix, _, kind = tag.partition("-")
    if tag in ("O", "X") or not kind:
        return "O"
    return ("B-" if prefix in ("B", "S") else "I-") + kind


def bio_log_probs(emissions: torch.Tensor, tags: list[str]) -> dict[str, torch.Tensor]:
    """One head's emissions `[B, L, len(tags)]` -> {BIO label: log-probability `[B, L]`} (softmax over
    the head's tags, IOBES tags folded into BIO with logsumexp)."""
    if emissions.shape[-1] != len(tags):
        raise ValueError(f"emissions have {emissions.shape[-1]} tags, expected {len(tags)}: {tags}")
    log_probs = emissions.float().log_softmax(-1)
    groups: dict[str, list[int]] = defaultdict(list)
    for i, tag in enumerate(tags):
        groups[bio_tag_key(tag)].append(i)
    return {key: log_probs[..., idx].logsumexp(-1) for key, idx in groups.items()}


def joint_token_logits(heads: list[dict[str, torch.Tensor]], columns: list[tuple[int, str]]) -> torch.Tensor:
    """Several heads' BIO log-probabilities -> logits `[B, L, len(columns)]` of one label space.

    `columns[k] = (head index, head BIO label)`; head index -1 is the global `O` (every head says O).
    A column of head h is log p_h(label) + sum over the other heads of log p(O).
    """
    if not heads:
        raise ValueError("joint_token_logits needs at least one head")
    all_o = torch.stack([h["O"] for h in heads]).sum(0)
    out = []
    for head, label in columns:
        if head < 0:
            out.append(all_o)
        else:
            out.append(heads[head][label] - heads[head]["O"] + all_o)
    return torch.stack(out, -1)
