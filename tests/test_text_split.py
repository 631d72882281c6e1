"""Raw text -> sentences -> words with offsets (modeling/text_split.py)."""

from __future__ import annotations

import re
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from biomtl.modeling.text_split import split_sentences, tokenize_words
from tests.conftest import corpus_path

# text with letters (incl. non-ASCII and combining marks), digits, punctuation, all kinds of whitespace
_ALPHABET = st.characters(
    codec="utf-8", categories=("L", "N", "P", "S", "Z", "M", "Cc", "Cf"), exclude_characters="\x00"
)
TEXTS = st.text(alphabet=_ALPHABET, max_size=300) | st.text(alphabet="aZ9 .-'()\n\t?!", max_size=300)


def _check_cover(text: str, words) -> None:
    """Words are in order, `text[start:end]`, and everything between them is whitespace."""
    pos = 0
    for w in words:
        assert w.text == text[w.start:w.end] and w.start < w.end
        assert text[pos:w.start].strip() == "", (text[pos:w.start], w)
        assert not any(ch.isspace() for ch in w.text)
        pos = w.end
    assert text[pos:].strip() == ""


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_words_map_back_to_the_text_and_lose_only_whitespace(text):
    words = tokenize_words(text)
    _check_cover(text, words)
    assert "".join(w.text for w in words) == "".join(ch for ch in text if not ch.isspace())


@settings(max_examples=300, deadline=None)
@given(TEXTS, st.booleans())
def test_sentences_partition_the_words(text, newline_is_boundary):
    sentences = split_sentences(text, newline_is_boundary=newline_is_boundary)
    flat = [w for s in sentences for w in s.words]
    assert flat == tokenize_words(text)
    for s in sentences:
        assert s.words and s.start == s.words[0].start and s.end == s.words[-1].end
    for a, b in zip(sentences, sentences[1:]):
        assert a.end <= b.start


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_words_are_letter_digit_runs_or_single_symbols(text):
    for w in tokenize_words(text):
        if len(w.text) > 1:
            assert w.text[0].isalnum() and all(ch.isalnum() or _is_mark(ch) for ch in w.text), w


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M")


def test_corpus_style_tokenisation():
    text = "Wiskott-Aldrich syndrome (WAS) maps to 17q21; Parkinson's disease in 2.5% of 3beta-HSD cases."
    assert [w.text for w in tokenize_words(text)] == [
        "Wiskott", "-", "Aldrich", "syndrome", "(", "WAS", ")", "maps", "to", "17q21", ";", "Parkinson",
        "'", "s", "disease", "in", "2", ".", "5", "%", "of", "3beta", "-", "HSD", "cases", ".",
    ]
    assert [w.text for w in tokenize_words("a_b +/- é α-synuclein")] == [
        "a", "_", "b", "+", "/", "-", "é", "α", "-", "synuclein"]


def test_sentence_boundaries_and_abbreviations():
    text = ("Mutations in BRCA1 cause cancer (see Fig. 2). E. coli and S. cerevisiae were used, e.g. in "
            "yeast. The dose was 2.5 mg! Was it? \"Yes.\" Smith et al. (2003) agree.\n\nTitle without stop\n"
            "next line  continues here")
    got = [" ".join(s.tokens) for s in split_sentences(text)]
    assert got == [
        "Mutations in BRCA1 cause cancer ( see Fig . 2 ) .",
        "E . coli and S . cerevisiae were used , e . g . in yeast .",
        "The dose was 2 . 5 mg !",
        "Was it ?",
        "\" Yes . \"",
        "Smith et al . ( 2003 ) agree .",
        "Title without stop next line continues here",
    ]
    by_line = [" ".join(s.tokens) for s in split_sentences("one\ntwo three\n\nfour", newline_is_boundary=True)]
    assert by_line == ["one", "two three", "four"]


def test_no_boundary_means_one_long_sentence():
    text = " ".join(["word"] * 5000)
    (sentence,) = split_sentences(text)
    assert len(sentence.words) == 5000 and sentence.end == len(text)


def _read_iob(path):
    sentences, cur = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if cur:
                sentences.append(cur)
            cur = []
            continue
        cur.append(line.split("\t")[0])
    if cur:
        sentences.append(cur)
    return sentences


def test_reproduces_the_corpus_tokenisation():
    """Re-tokenising a corpus sentence (tokens joined by spaces) gives back its tokens."""
    for name in ("NCBI-disease-IOB", "BC5CDR-IOB", "BC2GM-IOB"):
        sentences = _read_iob(corpus_path(name) / "devel.tsv")
        bad = [s for s in sentences if [w.text for w in tokenize_words(" ".join(s))] != s]
        assert not bad, (name, len(bad), bad[:2])


def _detokenise(tokens: list[str]) -> str:
    """Approximate raw text of a corpus sentence: "2 . 5" -> "2.5", "( a )" -> "(a)", "a - b" -> "a-b"."""
    s = " ".join(tokens)
    s = re.sub(r" ([,;:)\]%])", r"\1", s)
    s = re.sub(r"([(\[]) ", r"\1", s)
    s = re.sub(r" ([-/]) ", r"\1", s)
    s = re.sub(r"(\d) \. (\d)", r"\1.\2", s)
    s = re.sub(r"(\S) \.$", r"\1.", s)
    return s


def test_sentence_split_recovers_corpus_sentences():
    """Joined NCBI-disease abstracts split back into the corpus sentences (>= 95% exact)."""
    sentences = [s for s in _read_iob(corpus_path("NCBI-disease-IOB") / "devel.tsv") if s[-1] in ".?!"]
    text = " ".join(_detokenise(s) for s in sentences)
    got = {tuple(s.tokens) for s in split_sentences(text)}
    recovered = sum(tuple(s) in got for s in sentences)
    assert recovered / len(sentences) >= 0.95, recovered / len(sentences)
