"""End to end with REAL model families: export a Hub folder, load it where biomtl is not installed
(AutoModel + pipeline), re-save it, long documents (10,000 words, window seams), batch_size invariance.

The tiny random encoders make the random-init families predict arbitrary but deterministic spans: the
MRC family (BIO head) predicts many, SRU-NER predicts none until trained, so content checks use MRC
and SRU-NER is exercised for loading and export.
"""

from __future__ import annotations

import json
import random
import shutil

import pytest
import torch
from transformers import AutoModel, AutoTokenizer, pipeline

from biomtl.modeling.pipeline_ner import BiomedicalNerPipeline
from biomtl.modeling.text_split import split_sentences
from biomtl.trainer.export import check_config_round_trip, check_hub_folder, save_hub_folder
from tests.fresh_env import run_without_biomtl

CORPUS_TYPES = {"BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"], "NCBI-disease": ["NCBI-disease/Disease"]}
TEXT = ("Selegiline-induced postural hypotension in Parkinson's disease: a longitudinal study. "
        "Mutations in BRCA1 (17q21) cause 80% of familial breast cancer!\n\n"
        "Treatment with 10 mg lithium caused Wiskott-Aldrich syndrome-like symptoms in 3 of 20 patients.")
VOCAB = ("the of patients with disease cancer breast aspirin lithium induced hypotension mutations gene "
         "BRCA1 APC tumour - ( ) , : % 10 mg was in and treatment syndrome Wiskott Aldrich protein cells "
         "expression increased risk Parkinson ' s acute renal failure").split()


def _family(name: str):
    if name == "mrc":
        from biomtl.modeling import MrcMultiTaskForNER

        return MrcMultiTaskForNER
    if name == "crf":
        from biomtl.modeling import LayerSlicedXLNetCRF

        return LayerSlicedXLNetCRF
    if name == "tc":
        from biomtl.modeling import TokenClassificationForNER

        return TokenClassificationForNER
    from biomtl.modeling import SruNerForTokenActions

    return SruNerForTokenActions


@pytest.fixture(scope="module")
def tokenizer(tiny_encoder_dir):
    return AutoTokenizer.from_pretrained(tiny_encoder_dir)


@pytest.fixture(scope="module")
def mrc_model(tiny_encoder_dir):
    torch.manual_seed(0)
    return _family("mrc").from_encoder(str(tiny_encoder_dir), corpus_types=CORPUS_TYPES).eval()


def _words_document(n_words: int, seed: int, sentence_every: int | None = None) -> str:
    rng = random.Random(seed)
    words = []
    for i in range(n_words):
        words.append(rng.choice(VOCAB))
        if sentence_every and i % sentence_every == sentence_every - 1:
            words.append(".")
    return " ".join(words)


@pytest.mark.parametrize("family", ["sru", "mrc", "tc"])
def test_hub_folder_loads_without_biomtl_and_gives_the_same_entities(family, tiny_encoder_dir, tokenizer,
                                                                    tmp_path):
    torch.manual_seed(0)
    model = _family(family).from_encoder(str(tiny_encoder_dir), corpus_types=CORPUS_TYPES).eval()
    folder = save_hub_folder(model, tokenizer, tmp_path / "hub")
    check_hub_folder(folder)
    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) == {"AutoConfig", "AutoModel", "AutoModelForTokenClassification"}
    assert list(config["custom_pipelines"]) == ["token-classification"]  # one entry: the task-less call works
    assert config["custom_pipelines"]["token-classification"]["impl"] == "pipeline_ner.BiomedicalNerPipeline"
    assert str(tmp_path) not in (folder / "config.json").read_text()  # no local path leaks
    assert json.loads((folder / "tokenizer_config.json").read_text())["model_max_length"] == 128
    assert not list(folder.glob("*.bin")) and (folder / "model.safetensors").is_file()

    texts = [TEXT, "BRCA1 and APC.", ""]
    expected = BiomedicalNerPipeline(model=model, tokenizer=tokenizer)(texts, batch_size=2)
    if family in ("mrc", "tc"):
        assert sum(map(len, expected)) > 5  # the comparison below is not vacuous
    code = f"""
        import json, sys
        from transformers import AutoModel, AutoTokenizer, pipeline
        folder = {str(folder)!r}
        model = AutoModel.from_pretrained(folder, trust_remote_code=True)
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        pipe = pipeline(model=folder, trust_remote_code=True)
        texts = {texts!r}
        got = pipe(texts, batch_size=2)
        # re-saving a remote-loaded pipeline keeps pipeline_ner.py (hf-notes section 4 pitfall)
        pipe.save_pretrained({str(tmp_path / "resaved")!r})
        again = pipeline(model={str(tmp_path / "resaved")!r}, trust_remote_code=True)(texts, batch_size=2)
        tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        direct = type(pipe)(model=model, tokenizer=tok)(texts)
        print("RESULT" + json.dumps({{"got": got, "again": again, "direct": direct}}))
    """
    proc = run_without_biomtl(code, tmp_path / "fresh")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    result = json.loads(line[len("RESULT"):])
    for key in ("got", "again", "direct"):
        assert _rounded(result[key]) == _rounded(expected), key
    assert (tmp_path / "resaved" / "pipeline_ner.py").is_file()
    assert (tmp_path / "resaved" / "text_split.py").is_file()


def _rounded(results):
    return [[dict(e, score=round(e["score"], 5)) for e in doc] for doc in results]


def test_batch_size_does_not_change_results_and_bounds_model_batches(mrc_model, tokenizer):
    pipe = BiomedicalNerPipeline(model=mrc_model, tokenizer=tokenizer)
    docs = [TEXT, _words_document(300, seed=1, sentence_every=17), "Aspirin.", _words_document(40, seed=2)]
    seen: list[int] = []
    hook = mrc_model.encoder.register_forward_pre_hook(
        lambda mod, args, kwargs: seen.append(kwargs["input_ids"].shape[0]) if "input_ids" in kwargs
        else seen.append(args[0].shape[0]), with_kwargs=True)
    try:
        results = {}
        for bs in (1, 3, 64):
            seen.clear()
            results[bs] = pipe(docs, batch_size=bs)
            assert seen and max(seen) <= bs
    finally:
        hook.remove()
    assert sum(map(len, results[1])) > 20
    assert _rounded(results[3]) == _rounded(results[1]) == _rounded(results[64])
    # one document at a time gives the same as all together
    assert _rounded([pipe(d) for d in docs]) == _rounded(results[3])


def _context_free(model) -> None:
    """Make a BERT encoder context- and position-free: attention adds nothing to the residual stream
    and position embeddings are zero, so each sub-word's vector depends only on its own token."""
    enc = model.encoder
    with torch.no_grad():
        enc.embeddings.position_embeddings.weight.zero_()
        for layer in enc.encoder.layer:
            layer.attention.output.dense.weight.zero_()
            layer.attention.output.dense.bias.zero_()


def test_ten_thousand_word_document_loses_no_entity_at_a_seam(tiny_encoder_dir, tokenizer):
    """A 10,000-word document without a sentence boundary: one sentence, predicted over ~100-word
    windows. With a context-free encoder every word's tag depends on the word only, so the entities must
    not depend on where the seams fall: windows of 128 and of 512 sub-words (seams elsewhere) must give
    the same entities, and so must the text cut into short sentences at arbitrary places that are not
    inside an entity."""
    torch.manual_seed(0)
    family = _family("mrc")
    # with the NER + MRC heads this seed's NER head predicts mentions longer than half the overlap: a
    # seam in the middle of the overlap used to cut them at the window's edge (subwords.seam_cuts).
    # Argmax decoding: each word's tag is then a function of the word alone, which is what makes the
    # entities seam-independent (Viterbi's choice near a window's edge also depends on the edge)
    kwargs = {"corpus_types": CORPUS_TYPES, "window_overlap": 48, "enabled_heads": ["ner", "mrc"],
              "bio_decoding": "argmax"}
    small = family.from_encoder(str(tiny_encoder_dir), max_seq_length=128, **kwargs).eval()
    _context_free(small)
    big = family.from_encoder(str(tiny_encoder_dir), max_seq_length=512, **kwargs).eval()
    big.load_state_dict(small.state_dict())
    text = _words_document(10_000, seed=3)  # no sentence boundary: one 10,000-word sentence
    (sentence,) = split_sentences(text)
    assert len(sentence.words) >= 10_000
    tok_small = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    got_small = BiomedicalNerPipeline(model=small, tokenizer=tok_small)(text, batch_size=16)
    # the big-window model needs a longer position table and tokenizer limit
    _extend_positions(big, 512)
    tok_big = AutoTokenizer.from_pretrained(tiny_encoder_dir)
    tok_big.model_max_length = 512
    got_big = BiomedicalNerPipeline(model=big, tokenizer=tok_big)(text, batch_size=16)
    assert len(got_small) > 300
    for e in got_small:
        assert e["word"] == text[e["start"]:e["end"]]
    assert _span_set(got_small) == _span_set(got_big)
    # cut the text into short "sentences" at word gaps outside every entity: same entities again
    covered = set()
    for e in got_small:
        covered.update(range(e["start"], e["end"]))
    pieces, last = [], 0
    for i, ch in enumerate(text):
        if ch == " " and i not in covered and i - last > 300:
            pieces.append((last, i))
            last = i + 1
    pieces.append((last, len(text)))
    per_piece = BiomedicalNerPipeline(model=small, tokenizer=tok_small)([text[a:b] for a, b in pieces])
    shifted = [dict(e, start=e["start"] + a, end=e["end"] + a) for (a, _), ents in zip(pieces, per_piece)
               for e in ents]
    assert _span_set(shifted) == _span_set(got_small)


def _span_set(ents):
    return {(e["start"], e["end"], e["entity_group"], round(e["score"], 4)) for e in ents}


def _extend_positions(model, length: int) -> None:
    emb = model.encoder.embeddings
    old = emb.position_embeddings
    new = torch.nn.Embedding(length, old.embedding_dim)
    with torch.no_grad():
        new.weight.zero_()
    emb.position_embeddings = new
    emb.register_buffer("position_ids", torch.arange(length).expand((1, -1)), persistent=False)
    if hasattr(emb, "token_type_ids"):
        emb.register_buffer("token_type_ids", torch.zeros(1, length, dtype=torch.long), persistent=False)
    model.config.encoder_config.max_position_embeddings = length
    model.encoder.config.max_position_embeddings = length


def test_automodel_loads_saved_folder_in_process(mrc_model, tokenizer, tmp_path):
    folder = save_hub_folder(mrc_model, tokenizer, tmp_path / "hub")
    loaded = AutoModel.from_pretrained(folder, trust_remote_code=True)
    pipe = pipeline(model=str(folder), trust_remote_code=True)
    direct = BiomedicalNerPipeline(model=mrc_model, tokenizer=tokenizer)(TEXT)
    assert _rounded([pipe(TEXT)]) == _rounded([direct])
    assert type(loaded).__name__ == type(mrc_model).__name__


def test_export_checks_catch_incomplete_or_inconsistent_folders(mrc_model, tokenizer, tmp_path):
    folder = save_hub_folder(mrc_model, tokenizer, tmp_path / "hub")
    (folder / "text_split.py").unlink()  # imported by pipeline_ner.py
    with pytest.raises(ValueError, match=r"missing: .*text_split.py"):
        check_hub_folder(folder)
    config = json.loads((folder / "config.json").read_text())
    config["window_overlap"] = config.get("window_overlap", 16) + 1
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="window_overlap"):
        check_config_round_trip(mrc_model, folder)


def test_sru_export_keeps_corpus_insertion_order(tiny_encoder_dir, tokenizer, tmp_path, recwarn):
    unsorted = {"NCBI-disease": ["NCBI-disease/Disease"], "BC5CDR": ["BC5CDR/Chemical", "BC5CDR/Disease"]}
    model = _family("sru").from_encoder(str(tiny_encoder_dir), corpus_types=unsorted)
    folder = save_hub_folder(model, tokenizer, tmp_path / "hub")
    assert not [w for w in recwarn if "corpus order" in str(w.message)]
    loaded = AutoModel.from_pretrained(folder, trust_remote_code=True)
    assert list(loaded.config.corpus_types) == list(unsorted)


TOKEN_TASK_CHECKS = """
import json
from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline
folders, texts, out = {folders!r}, {texts!r}, {{}}


def error(fn):
    try:
        fn()
    except Exception as err:  # noqa: BLE001
        return type(err).__name__ + ": " + str(err)
    return None


for family, folder in folders.items():
    r = out[family] = {{}}
    tc = pipeline("token-classification", model=folder, trust_remote_code=True)
    r["task"] = tc(texts)
    r["taskless"] = pipeline(model=folder, trust_remote_code=True)(texts)
    r["agg"] = {{a: tc(texts, aggregation_strategy=a) for a in ("simple", "first", "max", "average", "none")}}
    r["agg_constructed"] = pipeline("token-classification", model=folder, trust_remote_code=True,
                                    aggregation_strategy="none")(texts)
    r["bad_agg"] = error(lambda: tc(texts, aggregation_strategy="mean"))
    r["ner"] = error(lambda: pipeline("ner", model=folder, trust_remote_code=True))
    r["keep"] = tc(texts, conflicts="keep")

    def token_model():
        model = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True)
        tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        enc = tok(texts, return_tensors="pt", padding=True)
        r["logits"] = [list(model(**enc).logits.shape), list(enc["input_ids"].shape), len(model.config.id2label),
                       type(model).__name__]

    r["token_model_error"] = error(token_model)
print("RESULT" + json.dumps(out))
"""


def test_token_classification_task_for_every_family_without_biomtl(tiny_encoder_dir, tokenizer, tmp_path):
    """Where biomtl is not installed: `pipeline("token-classification", ...)` and the task-less call give the
    pipeline's entities for every family; aggregation strategies; `pipeline("ner")` and SRU-NER's
    AutoModelForTokenClassification fail with messages naming what works; CRF and MRC give per-token logits.
    A checkpoint saved before the rename (custom pipeline `biomedical-ner`) still loads by that name."""
    folders, expected = {}, {}
    texts = [TEXT, "Aspirin and cancer."]
    for family in ("sru", "mrc", "crf", "tc"):
        torch.manual_seed(0)
        model = _family(family).from_encoder(str(tiny_encoder_dir), corpus_types=CORPUS_TYPES).eval()
        folders[family] = str(save_hub_folder(model, tokenizer, tmp_path / family))
        pipe = BiomedicalNerPipeline(model=model, tokenizer=tokenizer)
        expected[family] = {"spans": pipe(texts), "words": pipe(texts, aggregation_strategy="none"),
                            "keep": pipe(texts, conflicts="keep")}
    assert sum(map(len, expected["crf"]["spans"])) > 5 and sum(map(len, expected["mrc"]["spans"])) > 5
    legacy = tmp_path / "legacy"
    shutil.copytree(folders["mrc"], legacy)
    config = json.loads((legacy / "config.json").read_text())
    config["custom_pipelines"] = {"biomedical-ner": config["custom_pipelines"]["token-classification"]}
    (legacy / "config.json").write_text(json.dumps(config))

    proc = run_without_biomtl(TOKEN_TASK_CHECKS.format(folders=folders, texts=texts), tmp_path / "fresh")
    result = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))[len("RESULT"):])
    for family, r in result.items():
        want = _rounded(expected[family]["spans"])
        assert _rounded(r["task"]) == _rounded(r["taskless"]) == want, family
        for name in ("simple", "first", "max", "average"):
            assert _rounded(r["agg"][name]) == want, (family, name)
        assert _rounded(r["agg"]["none"]) == _rounded(r["agg_constructed"]) == _rounded(expected[family]["words"])
        assert _rounded(r["keep"]) == _rounded(expected[family]["keep"])
        assert "aggregation_strategy must be one of ('none', 'simple', 'first', 'average', 'max')" in r["bad_agg"]
        assert r["ner"].startswith("ValueError: pipeline('ner') builds transformers' built-in")
        assert "pipeline('token-classification', model=..., trust_remote_code=True)" in r["ner"]
    for family in ("mrc", "crf", "tc"):
        assert result[family]["token_model_error"] is None
        (batch, length, labels), ids_shape, n_labels, _ = result[family]["logits"]
        assert [batch, length] == ids_shape and labels == n_labels == 7  # O + B/I of 3 prefixed types
    assert "Supported classes: AutoModel -> SruNerForTokenActions" in result["sru"]["token_model_error"]
    words = [w for doc in result["mrc"]["agg"]["none"] for w in doc]
    assert words and all(w["entity"][:2] in ("B-", "I-") and set(w) == {"entity", "score", "index", "word",
                                                                        "start", "end"} for w in words)

    code = f"""
        import json
        from transformers import pipeline
        texts = {texts!r}
        a = pipeline("biomedical-ner", model={str(legacy)!r}, trust_remote_code=True)(texts)
        b = pipeline(model={str(legacy)!r}, trust_remote_code=True)(texts)
        print("RESULT" + json.dumps([a, b]))
    """
    proc = run_without_biomtl(code, tmp_path / "fresh_legacy")
    a, b = json.loads(next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))[len("RESULT"):])
    assert _rounded(a) == _rounded(b) == _rounded(expected["mrc"]["spans"])
