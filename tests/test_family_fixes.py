"""Defects of the model families found in review (issue 15), each pinned by a test that failed before
the fix. The trainer-level ones (exact resume with the MRC query draws, restored data report, no
local path through `biomtl train`) are also checked for every family in test_family_contract.py."""

from __future__ import annotations

import json

import pytest
import torch
from corpus_fixtures import write_fake_corpora
from transformers import AutoTokenizer

from biomtl.modeling import (
    FAMILIES,
    LayerSlicedXLNetCRF,
    MrcMultiTaskForNER,
    SruNerForTokenActions,
    TokenClassificationForNER,
)
from biomtl.modeling.data_report import COLLATE_COUNTS, DataReport
from biomtl.modeling.encoder_loading import EMBEDDED_ENCODER_HUB_ID
from biomtl.modeling.subwords import plan_windows, subword_counts
from biomtl.trainer.export import save_hub_folder

pytestmark = pytest.mark.usefixtures("one_thread")

TYPES = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}
#: not in sorted order: config.json sorts dict keys
UNSORTED = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}
LONG = ("the patient had severe acute renal failure after daily long intake of aspirin and then breast "
        "cancer was seen in the patient").split()
EXAMPLES = [
    {"id": "a", "corpus": "NCBI-disease", "tokens": LONG, "spans": [{"start": 15, "end": 17, "label": "Disease"}]},
    {"id": "b", "corpus": "BC5CDR", "tokens": "aspirin caused renal failure".split(),
     "spans": [{"start": 0, "end": 1, "label": "Chemical"}, {"start": 2, "end": 4, "label": "Disease"}]},
]
#: a small sequence limit for each family (field name differs)
LIMIT = {"sru_ner": "max_tokens", "mrc_multitask": "max_seq_length", "layer_sliced_crf": "max_seq_length",
         "token_classification": "max_seq_length"}


def _model(family: str, encoder, **kwargs):
    torch.manual_seed(0)
    return FAMILIES[family].from_encoder(str(encoder), TYPES, **kwargs)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_predict_spans_leaves_the_train_eval_mode_as_it_was(family, tiny_encoder_dir, tok):
    """SRU-NER's predict_spans left the model in eval mode (dropout off for the rest of training)."""
    model = _model(family, tiny_encoder_dir)
    model.train()
    model.predict_spans([LONG, ["aspirin"]], tok)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    model.predict_spans([LONG], tok)
    assert not model.training


@pytest.mark.parametrize("family", list(FAMILIES))
def test_no_local_encoder_path_reaches_a_saved_config(family, tiny_encoder_dir, tok, tmp_path):
    """MRC and the layer-sliced CRF wrote the absolute local encoder path into config.json."""
    model = _model(family, tiny_encoder_dir)
    folder = save_hub_folder(model, tok, tmp_path / "hub")
    text = (folder / "config.json").read_text()
    assert str(tiny_encoder_dir) not in text and str(tmp_path) not in text
    assert json.loads(text)["encoder_config"]["_name_or_path"] == tiny_encoder_dir.name
    assert model.encoder_name == tiny_encoder_dir.name


@pytest.mark.parametrize("family", list(FAMILIES))
def test_every_family_accepts_the_embedded_encoder_name(family):
    """`SruNerForTokenActions.from_encoder("embedded-minilm")` failed; the other families accepted it."""
    model = FAMILIES[family].from_encoder("embedded-minilm", {"NCBI-disease": ["NCBI-disease/Disease"]})
    assert model.encoder_name == EMBEDDED_ENCODER_HUB_ID
    assert model.config.encoder_config.hidden_size == 384


def test_mrc_keeps_its_corpus_order_and_its_loss_across_save_and_load(tiny_encoder_dir, tok, tmp_path):
    """MRC lost its corpus order on save/load (config.json sorts keys, no corpus_order): a reload changed
    the corpus ids, hence the loss of the same batch."""
    model = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), UNSORTED)
    assert list(model.config.corpus_types) != sorted(UNSORTED)
    model.save_pretrained(tmp_path / "ckpt")
    loaded = MrcMultiTaskForNER.from_pretrained(tmp_path / "ckpt")
    assert list(loaded.config.corpus_types) == list(UNSORTED)
    batch = model.collate(EXAMPLES, tok)
    model.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).loss, loaded(**batch).loss)


def test_mrc_training_state_restores_the_query_draws(tiny_encoder_dir, tok):
    """MRC resume was not exact: the generator of its per-batch query draws was not checkpointed."""
    kwargs = {"enabled_heads": ["ner", "mrc"], "query_source": "random", "mrc_max_queries_per_sentence": 1}
    model = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), TYPES, train_examples=EXAMPLES, **kwargs)
    for _ in range(3):
        model.collate(EXAMPLES, tok)
    state = json.loads(json.dumps(model.training_state()))  # what a checkpoint stores (JSON)
    expected = [model.collate(EXAMPLES, tok) for _ in range(4)]
    resumed = MrcMultiTaskForNER.from_encoder(str(tiny_encoder_dir), TYPES, train_examples=EXAMPLES, **kwargs)
    resumed.load_training_state(state)
    for want in expected:
        got = resumed.collate(EXAMPLES, tok)
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_collate_counts_each_sentence_once_in_one_vocabulary(family, tiny_encoder_dir, tok):
    """The data report counted events (x epochs x evaluations) under three names for one event; it is
    now a per-sentence count in one vocabulary, saved and restored with the training state."""
    model = _model(family, tiny_encoder_dir, **{LIMIT[family]: 12 if family != "mrc_multitask" else 64})
    examples = EXAMPLES if family != "mrc_multitask" else [dict(EXAMPLES[0], tokens=LONG * 4, spans=[])]
    for _ in range(3):  # three epochs over the same sentences
        model.collate(examples, tok)
    assert model.collate_stats["sentences_split"] == 1
    assert set(model.collate_stats) <= set(COLLATE_COUNTS)
    again = DataReport()
    again.load_state_dict(json.loads(json.dumps(model.training_state()["collate_stats"])))
    assert dict(again) == dict(model.collate_stats)


def test_layer_sliced_prediction_counts_overlong_words_and_keeps_the_window_overlap(tiny_encoder_dir, tok):
    """The layer-sliced CRF replaced over-long words at inference without counting them, and silently
    replaced the configured window overlap by `min(window_overlap, budget // 4)`."""
    model = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), TYPES, max_seq_length=12, window_overlap=6)
    long_word = "pneumonoultramicroscopicsilicovolcanoconiosis" * 2
    words = LONG + [long_word] + LONG
    counts = subword_counts(tok, words)
    assert counts[len(LONG)] > 10 and sum(c > 10 for c in counts) == 1
    fitted = [1 if c > 10 else c for c in counts]  # the long word becomes one UNK; budget 12 - [CLS] - [SEP]
    rows = []
    hook = model.encoder.register_forward_pre_hook(lambda _m, args, kwargs: rows.append(kwargs["input_ids"].shape[0]),
                                                   with_kwargs=True)
    try:
        model.predict_spans([words], tok, batch_size=1000)
    finally:
        hook.remove()
    windows = plan_windows(fitted, 10, 6)
    assert not model._routed_layers()  # all layers shared: one encoder pass per batch for every head
    assert sum(rows) == len(windows) > len(plan_windows(fitted, 10, 2))  # not min(6, 10 // 4)
    assert model.predict_stats["overlong_words"] == 1 and model.predict_stats["windowed_sentences"] == 1


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOMTL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BIOMTL_CORPORA", raising=False)


def _documents_corpus(root):
    """The fake corpora with every sentence in one of four documents (-DOCSTART- lines)."""
    from biomtl.data_scripts import read_iob, write_iob2

    src = write_fake_corpora(root, sizes=(16, 6, 6))
    for path in src.glob("*/*.tsv"):
        rows = read_iob(path, "X")
        write_iob2(path, [dict(r, doc_id=f"d{i * 4 // len(rows)}") for i, r in enumerate(rows)])
    return src


def test_sentence_merging_reaches_training_and_evaluation(tmp_path, tiny_encoder_dir, isolated_cache):
    """`sentence_merging` was dead config: nothing called the merge."""
    from biomtl.trainer.config import load_config
    from biomtl.trainer.loop import train

    src = _documents_corpus(tmp_path / "src")
    seen = []
    real = SruNerForTokenActions.collate

    def spy(self, examples, tokenizer):
        seen.extend(len(ex["tokens"]) for ex in examples)
        return real(self, examples, tokenizer)

    results = {}
    for merging in (False, True):
        seen.clear()
        SruNerForTokenActions.collate = spy
        try:
            results[merging] = train(load_config(None, [
                "corpora=[ncbi_disease]", f"source_dir={src}", f"model.encoder={tiny_encoder_dir}",
                f"model.overrides.sentence_merging={str(merging).lower()}", "epochs=1", "batch_size=4",
                "sampling=proportional", f"output_dir={tmp_path / str(merging)}", "progress=false", "log_with=null"]))
        finally:
            SruNerForTokenActions.collate = real
        results[merging]["units"] = len(seen)
    assert results[False]["units"] == 16 and results[True]["units"] < 16  # packs of whole documents
    assert results[True]["history"][0]["step"] < results[False]["history"][0]["step"]
    assert results[True]["data_report"]["test_sentences"] == results[False]["data_report"]["test_sentences"] == 6


def _roberta_tokenizer(tmp_path):
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([" ".join(LONG)] * 5, vocab_size=400, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    tok = RobertaTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                               cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
                               add_prefix_space=True, model_max_length=64)
    tok.save_pretrained(tmp_path / "roberta")
    return tok


def test_mrc_pair_budget_counts_the_tokenizers_own_special_tokens(tmp_path):
    """Pair special-token arithmetic assumed BERT (`total - 3`); a RoBERTa pair has 4, so a sentence at
    the old budget made an MRC input one sub-word longer than max_seq_length."""
    from transformers import RobertaConfig, RobertaModel

    tok = _roberta_tokenizer(tmp_path)
    assert tok.num_special_tokens_to_add(pair=True) == 4
    RobertaModel(RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=80, pad_token_id=tok.pad_token_id,
                               bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)).save_pretrained(
        tmp_path / "roberta")
    query = {"NCBI-disease/Disease": {"guideline": "the disease"}}
    model = MrcMultiTaskForNER.from_encoder(str(tmp_path / "roberta"), {"NCBI-disease": ["NCBI-disease/Disease"]},
                                            enabled_heads=["ner", "mrc"], max_seq_length=32, mrc_queries=query)
    q = len(tok("the disease".split(), is_split_into_words=True, add_special_tokens=False)["input_ids"])
    assert model._passage_budget(tok, with_query=True) == 32 - 4 - q
    words, n = [], 0
    for w in LONG * 3:  # a sentence of exactly the old budget, 32 - 3 - q sub-words
        c = subword_counts(tok, [w])[0]
        if n + c <= 32 - 3 - q:
            words.append(w)
            n += c
    assert n == 32 - 3 - q
    batch = model.collate([{"id": "r", "corpus": "NCBI-disease", "tokens": words,
                            "spans": [{"start": 0, "end": 1, "label": "Disease"}]}], tok)
    assert batch["mrc_input_ids"].shape[1] <= 32
    assert int(batch["mrc_start_labels"].sum()) == 1 and model.collate_stats["mrc_mentions_dropped"] == 0


def test_parameters_the_config_freezes_stay_frozen_after_from_pretrained(tiny_encoder_dir, tmp_path):
    """Loading made every parameter trainable: SRU-NER's fixed `alpha` and the frozen shared block of a
    `phase2_mode="frozen"` layer-sliced model trained after `from_pretrained` (found by the contract test)."""
    sru = SruNerForTokenActions.from_encoder(str(tiny_encoder_dir), TYPES)
    sru.save_pretrained(tmp_path / "sru")
    assert not SruNerForTokenActions.from_pretrained(tmp_path / "sru").sru.alpha.requires_grad
    crf = LayerSlicedXLNetCRF.from_encoder(str(tiny_encoder_dir), TYPES, num_shared_layers=1, phase2_mode="frozen")
    frozen = {n for n, p in crf.named_parameters() if not p.requires_grad}
    assert frozen and frozen == set(crf.shared_parameter_names())
    crf.save_pretrained(tmp_path / "crf")
    loaded = LayerSlicedXLNetCRF.from_pretrained(tmp_path / "crf")
    assert {n for n, p in loaded.named_parameters() if not p.requires_grad} == frozen


@pytest.mark.parametrize("family", list(FAMILIES))
def test_forward_rejects_unknown_arguments_and_accepts_the_standard_ones(family, tiny_encoder_dir, tok):
    """`forward(**kwargs)` swallowed misspelt arguments; transformers' standard ones still work."""
    model = _model(family, tiny_encoder_dir).eval()
    batch = model.collate(EXAMPLES, tok)
    with torch.no_grad():
        out = model(**batch, output_attentions=False, output_hidden_states=False, return_dict=True)
        assert out.loss is not None
        assert isinstance(model(**batch, return_dict=False), tuple)
        with pytest.raises(TypeError, match="labelz"):
            model(**batch, labelz=batch["input_ids"])


def test_token_classification_family_is_registered_everywhere(tiny_encoder_dir, tok, tmp_path):
    """The new family goes through the same registry as the others (trainer, Auto classes, card)."""
    from transformers import AutoModel, AutoModelForTokenClassification

    from biomtl.model_cards.card import family_card
    from biomtl.trainer.config import load_config

    cfg = load_config(None, ["corpora=[ncbi_disease]", "model.family=token_classification"])
    assert (cfg.batch_size, cfg.optim.encoder_lr, cfg.optim.encoder_warmup_epochs, cfg.epochs) == (32, 2e-4, 0.3, 3)
    assert cfg.optim.schedule == "linear" and cfg.early_stopping_patience is None
    model = TokenClassificationForNER.from_encoder(str(tiny_encoder_dir), TYPES)
    model.save_pretrained(tmp_path / "tc")
    assert type(AutoModel.from_pretrained(tmp_path / "tc")) is TokenClassificationForNER
    assert type(AutoModelForTokenClassification.from_pretrained(tmp_path / "tc")) is TokenClassificationForNER
    assert "restricted softmax" in family_card("token_classification")["title"]
    tok.save_pretrained(tmp_path / "tc")
    assert AutoTokenizer.from_pretrained(tmp_path / "tc").vocab_size == tok.vocab_size
