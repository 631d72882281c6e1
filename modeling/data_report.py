"""What a model family had to change to fit the data, counted once per sentence, in one vocabulary.

Shipped with every checkpoint as Hub remote code: stdlib only.

Every family's `collate` counts into a `DataReport` (`model.collate_stats`) and its `predict_spans`
into a `Counter` (`model.predict_stats`), using the names of `COLLATE_COUNTS` / `PREDICT_COUNTS`.
A `DataReport` remembers which sentence each count came from, so collating a sentence again (every
epoch, every evaluation) never counts it twice: its totals are per-sentence counts over the distinct
sentences seen. It is saved in training checkpoints (`state_dict`) and restored on resume. The
prediction counter counts one prediction call; the trainer reports the difference of two
snapshots, i.e. the sentences of one evaluation, each once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping

#: what `collate` may count: name -> what one count means (shown in the model card)
COLLATE_COUNTS: dict[str, str] = {
    "sentences_split": "training sentences longer than the sub-word budget, split at word boundaries",
    "mentions_cut": "gold mentions lost (not trained on) because no split point outside them fitted the budget",
    "overlong_words": "words with more sub-words than the whole budget, encoded as the unknown token",
    "overlapping_mentions_dropped": "overlapping gold mentions a flat tagger cannot represent (the earlier, "
                                    "longer one is kept)",
    "crossing_mentions_dropped": "gold mentions crossing a mention of the same type (not representable by "
                                 "the transition system)",
    "empty_sentences": "sentences without words (nothing to train on)",
    "mrc_examples": "MRC (query, sentence) training examples built",
    "mrc_mentions_dropped": "gold mentions lost from MRC examples because query plus sentence exceed the budget",
    "mrc_overlong_words": "words with more sub-words than the MRC budget (query included), encoded as the unknown "
                          "token in MRC examples only",
}
#: what `predict_spans` may count, once per sentence of a call
PREDICT_COUNTS: dict[str, str] = {
    "windowed_sentences": "sentences longer than the sub-word budget, predicted over overlapping windows",
    "overlong_words": "words with more sub-words than the whole budget, encoded as the unknown token",
    "seam_cut_spans": "spans ending at a window's edge that the next window did not confirm (a mention longer than "
                      "the window overlap may have been cut there)",
    "sentences_hit_step_cap": "sentences whose decoder reached its step cap (later mentions may be missing)",
}
#: collate counts of gold mentions the model never learnt from
UNREPRESENTED_MENTIONS = ("mentions_cut", "overlapping_mentions_dropped", "crossing_mentions_dropped",
                          "mrc_mentions_dropped")


def sentence_key(example: Mapping, position: int | None = None) -> str:
    """A stable key of a canonical example: its corpus and id, else a digest of corpus and words."""
    corpus = str(example.get("corpus"))
    if example.get("id") not in (None, ""):
        return f"{corpus}\x00{example['id']}"
    words = "\x1f".join(str(w) for w in example.get("tokens") or [])
    return f"{corpus}\x00#" + hashlib.sha1(words.encode("utf-8")).hexdigest()[:16]


class DataReport(Mapping):
    """Per-sentence counts: `report.record(name, sentence, n)` sets sentence's count for `name`
    (recording the same sentence again replaces, never adds). `report[name]` is the total over
    sentences (0 when nothing was recorded), `dict(report)` every non-zero total."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, int]] = {}

    def record(self, name: str, sentence: str, n: int = 1) -> None:
        if name not in COLLATE_COUNTS:
            raise KeyError(f"{name!r} is not a data report count; known: {sorted(COLLATE_COUNTS)}")
        if n:
            self._by_name.setdefault(name, {})[sentence] = int(n)
        else:
            self._by_name.get(name, {}).pop(sentence, None)

    def __getitem__(self, name: str) -> int:
        return sum(self._by_name.get(name, {}).values())

    def __contains__(self, name: object) -> bool:
        return bool(self._by_name.get(name))  # type: ignore[call-overload]

    def __iter__(self) -> Iterator[str]:
        return (name for name in COLLATE_COUNTS if self._by_name.get(name))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def clear(self) -> None:
        self._by_name.clear()

    def state_dict(self) -> dict[str, dict[str, int]]:
        """JSON-serialisable state (saved in training checkpoints)."""
        return {name: dict(per) for name, per in self._by_name.items() if per}

    def load_state_dict(self, state: Mapping[str, Mapping[str, int]]) -> None:
        self._by_name = {str(name): {str(k): int(v) for k, v in per.items()} for name, per in state.items()}
