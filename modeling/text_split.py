"""Raw text -> sentences -> words with character offsets, split the way the corpora are tokenised.

Shipped with every checkpoint as Hub remote code (used by `pipeline_ner.py`): stdlib only.

The benchmark corpora (NCBI-disease, BC5CDR, BC2GM, Linnaeus in the Crichton et al. 2017 split)
are tokenised so that every punctuation character is a token of its own and letters and digits
stay together: "Wiskott-Aldrich" -> "Wiskott", "-", "Aldrich"; "Parkinson's" -> "Parkinson", "'",
"s"; "17q21", "3beta" and "APC2" stay whole; "2.5" -> "2", ".", "5". `tokenize_words` reproduces
that: a word is a maximal run of letters and digits (with any combining marks that follow them);
every other non-whitespace character is a word by itself. Whitespace is the only thing dropped.

`split_sentences` cuts at sentence-final punctuation followed by whitespace and a plausible
sentence start (not after common abbreviations such as "e.g.", "et al.", "Fig." or an initial), and
always at blank lines. A text without such a boundary stays one (possibly very long) sentence:
the model families window long sentences themselves, so nothing is cut inside a mention here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# letters/digits (\w without "_") followed by combining marks, repeated; or any other visible char
_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_WORD_RE = re.compile(rf"(?:[^\W_][{_MARKS}]*)+|[^\s]")
_BLANK_LINE_RE = re.compile(r"\n[^\S\n]*\n")

_TERMINALS = frozenset(".?!\u2026")
_CLOSERS = frozenset(")]}\"'\u201d\u2019\u00bb")
_OPENERS = frozenset("([{\"'\u201c\u2018\u00ab")
#: words that, followed by ".", do not end a sentence (compared lower-cased)
ABBREVIATIONS = frozenset(
    """
    al approx ca cf cit co corp dr e eds eg et etc eq eqs fig figs g gen i ie inc jr ltd mr mrs ms
    no nos nr pp prof ref refs resp sp spp st subsp suppl tab var vol vs viz
    jan feb mar apr jun jul aug sep sept oct nov dec
    """.split()
)


@dataclass(frozen=True)
class Word:
    """One word: `text == source[start:end]`."""

    text: str
    start: int
    end: int


@dataclass
class Sentence:
    """A sentence: its character range in the source and its words (offsets into the source)."""

    start: int
    end: int
    words: list[Word] = field(default_factory=list)

    @property
    def tokens(self) -> list[str]:
        return [w.text for w in self.words]


def tokenize_words(text: str, start: int = 0, end: int | None = None) -> list[Word]:
    """Words of `text[start:end]` with offsets into `text` (corpus tokenisation, see module doc)."""
    end = len(text) if end is None else end
    return [Word(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(text, start, end)]


def _starts_sentence(word: str) -> bool:
    first = word[0]
    return first.isupper() or first.isdigit() or first in _OPENERS


def _is_abbreviation(words: list[Word], i: int, text: str) -> bool:
    """True when the "." at index i follows an abbreviation or an initial written right before it."""
    if i == 0:
        return False
    prev = words[i - 1]
    if prev.end != words[i].start:  # "word ." with a space: a real full stop
        return False
    low = prev.text.lower()
    if low in ABBREVIATIONS:
        return True
    # single letters: initials ("J. Smith") and genus abbreviations ("E. coli", "S. cerevisiae")
    return len(prev.text) == 1 and prev.text.isalpha()


def _boundary_after(words: list[Word], i: int, text: str) -> int | None:
    """If a sentence can end after words[i] (a terminal), the index of its last word, else None."""
    j = i
    while j + 1 < len(words) and words[j + 1].text in _CLOSERS and words[j + 1].start == words[j].end:
        j += 1
    if j + 1 >= len(words):
        return None
    nxt = words[j + 1]
    if nxt.start == words[j].end:  # no whitespace: "2.5", "e.g.", "Fig.1"
        return None
    if not _starts_sentence(nxt.text):
        return None
    if words[i].text == "." and _is_abbreviation(words, i, text):
        return None
    return j


def split_sentences(text: str, newline_is_boundary: bool = False) -> list[Sentence]:
    """Sentences of `text`, each with its words; every non-whitespace character is in exactly one word.

    Args:
        text: raw text of any length.
        newline_is_boundary: also end a sentence at every line break (one sentence per line input);
            blank lines always end a sentence.
    """
    words = tokenize_words(text)
    sentences: list[Sentence] = []
    begin = 0
    i = 0
    n = len(words)
    while i < n:
        cut: int | None = None
        if words[i].text in _TERMINALS:
            cut = _boundary_after(words, i, text)
        if cut is None and i + 1 < n:
            gap = text[words[i].end:words[i + 1].start]
            if "\n" in gap and (newline_is_boundary or _BLANK_LINE_RE.search(gap)):
                cut = i
        if cut is not None:
            sentences.append(Sentence(words[begin].start, words[cut].end, words[begin:cut + 1]))
            begin = cut + 1
            i = cut + 1
            continue
        i += 1
    if begin < n:
        sentences.append(Sentence(words[begin].start, words[-1].end, words[begin:]))
    return sentences
