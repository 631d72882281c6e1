"""Per-token logits for AutoModelForTokenClassification (token_logits.py, the CRF's token mode)."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForTokenClassification

from biomtl.modeling import LayerSlicedXLNetCRF, SruNerForTokenActions
from biomtl.modeling.token_logits import (
    bio_log_probs,
    bio_tag_key,
    joint_token_logits,
    refuse_builtin_pipeline,
)

pytestmark = pytest.mark.usefixtures("one_thread")
CORPUS_TYPES = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}


def test_iobes_tags_fold_into_bio_probabilities():
    assert [bio_tag_key(t) for t in ("O", "X", "B-Gene", "S-Gene", "I-Gene", "E-Gene")] == \
        ["O", "O", "B-Gene", "B-Gene", "I-Gene", "I-Gene"]
    tags = ["O", "B-Gene", "I-Gene", "E-Gene", "S-Gene"]
    emissions = torch.randn(2, 3, len(tags))
    folded = bio_log_probs(emissions, tags)
    probs = emissions.softmax(-1)
    assert torch.allclose(folded["B-Gene"].exp(), probs[..., 1] + probs[..., 4], atol=1e-6)
    assert torch.allclose(sum(v.exp() for v in folded.values()), torch.ones(2, 3), atol=1e-6)
    with pytest.raises(ValueError, match="expected 5"):
        bio_log_probs(torch.zeros(1, 1, 3), tags)


def test_joint_logits_are_one_head_fires_the_others_say_o():
    a = bio_log_probs(torch.tensor([[[2.0, 0.0, -1.0]]]), ["O", "B-Disease", "I-Disease"])
    b = bio_log_probs(torch.tensor([[[0.5, 1.0, 0.0]]]), ["O", "B-Chemical", "I-Chemical"])
    cols = [(-1, "O"), (0, "B-Disease"), (0, "I-Disease"), (1, "B-Chemical"), (1, "I-Chemical")]
    logits = joint_token_logits([a, b], cols)
    assert logits.shape == (1, 1, 5)
    assert torch.allclose(logits[..., 0], a["O"] + b["O"])
    assert torch.allclose(logits[..., 3], a["O"] + b["B-Chemical"])
    with pytest.raises(ValueError, match="at least one head"):
        joint_token_logits([], cols)


def test_crf_returns_per_token_logits_over_id2label(tiny_encoder_dir, tok):
    torch.manual_seed(0)
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), CORPUS_TYPES, num_shared_layers=1).eval()
    assert list(model.config.id2label.values()) == [
        "O", "B-NCBI-disease/Disease", "I-NCBI-disease/Disease", "B-BC5CDR/Chemical", "I-BC5CDR/Chemical",
        "B-BC5CDR/Disease", "I-BC5CDR/Disease"]
    enc = tok(["aspirin causes asthma", "no"], return_tensors="pt", padding=True)
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (*enc["input_ids"].shape, 7) and torch.isfinite(logits).all()
    # the NCBI-disease column = that head's B-Disease with BC5CDR saying O (its own upper layers)
    with torch.no_grad():
        heads = {}
        for task in model.config.tasks:
            hidden = model.encode(task, enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))
            heads[task] = bio_log_probs(model.heads[model.config.task_keys[task]](hidden), model.config.task_labels[task])
    want = heads["NCBI-disease"]["B-Disease"] + heads["BC5CDR"]["O"]
    assert torch.allclose(logits[..., 1], want, atol=1e-5)
    with pytest.raises(ValueError, match="or input_ids alone"):
        model(input_ids=enc["input_ids"], word_index=enc["input_ids"][:, :1])


def test_sru_ner_token_classification_names_the_supported_classes(tiny_encoder_dir, tmp_path):
    model = SruNerForTokenActions.from_encoder(str(tiny_encoder_dir), corpus_types=CORPUS_TYPES)
    model.save_pretrained(tmp_path / "sru")
    with pytest.raises(ValueError, match="no per-token logits.*AutoModel -> SruNerForTokenActions"):
        AutoModelForTokenClassification.from_pretrained(tmp_path / "sru")
    with pytest.raises(ValueError, match="pipeline\\('token-classification'"):
        refuse_builtin_pipeline("ner", "sru_ner")
    refuse_builtin_pipeline("token-classification", "sru_ner")  # our own task: allowed
    refuse_builtin_pipeline(None, "sru_ner")
