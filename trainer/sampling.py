"""Multi-corpus batch sampling and length-grouped batches.

`MultiCorpusBatchSampler` draws the sentences of one epoch from several corpora:

* `inverse` (SRU-NER): sampling with replacement, per-sentence weight 1/|D|, so each corpus gets an
  equal share; samples per epoch = mean corpus size.
* `proportional`: every sentence once per epoch (an ordinary shuffled epoch over the union).
* `temperature`: corpus D drawn with probability ∝ |D|^(1/T) (T=1 proportional, T→∞ equal), with
  replacement; samples per epoch = mean corpus size.

With one corpus every mode is an ordinary shuffled epoch. Batches are then formed from length-sorted
chunks (`length_grouping`) so that padding stays small, and the batch order is shuffled. With
`max_batch_words`, a batch whose size x longest sentence (in words) would exceed that budget is cut
into consecutive smaller batches (a single longer sentence forms a batch alone): a family whose
memory grows faster than the padded batch (SRU-NER's action loop: about sentences x length^2) then
trains on corpora with very long sentences without running out of memory, while ordinary batches
stay as they are. The draw depends only on (seed, epoch): resuming a run reproduces the same batches.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


class MultiCorpusBatchSampler:
    """Yields lists of example indices (into the concatenated training set).

    Args:
        corpus_of: corpus name of each example.
        lengths: length (words) of each example, for length grouping.
        batch_size: sentences per batch.
        mode: inverse | proportional | temperature.
        temperature: for `temperature` mode.
        samples_per_epoch: override of the epoch size.
        length_grouping: sort chunks of 50 batches by length before cutting batches.
        seed: run seed.
        max_batch_words: budget of padded words per batch (batch size x longest sentence); None = none.
    """

    def __init__(self, corpus_of: list[str], lengths: list[int], batch_size: int, mode: str = "inverse",
                 temperature: float = 2.0, samples_per_epoch: int | None = None, length_grouping: bool = True,
                 seed: int = 13, max_batch_words: int | None = None):
        if len(corpus_of) != len(lengths):
            raise ValueError("corpus_of and lengths differ in length")
        if not corpus_of:
            raise ValueError("no training examples")
        self.lengths = lengths
        self.batch_size = batch_size
        self.mode = mode
        self.length_grouping = length_grouping
        self.seed = seed
        self.max_batch_words = max_batch_words
        self.epoch = 0
        self.by_corpus: dict[str, list[int]] = {}
        for i, c in enumerate(corpus_of):
            self.by_corpus.setdefault(c, []).append(i)
        sizes = {c: len(ix) for c, ix in self.by_corpus.items()}
        if len(sizes) == 1 or mode == "proportional":
            self.weights = None
            self.num_samples = samples_per_epoch or len(corpus_of)
        else:
            power = 0.0 if mode == "inverse" else 1.0 / temperature
            raw = {c: n ** power for c, n in sizes.items()}
            total = sum(raw.values())
            self.weights = {c: w / total for c, w in raw.items()}
            self.num_samples = samples_per_epoch or int(sum(sizes.values()) / len(sizes))
        self.corpus_share = self.weights or {c: n / len(corpus_of) for c, n in sizes.items()}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _draw(self, rng: random.Random) -> list[int]:
        if self.weights is None:
            pool = [i for ix in self.by_corpus.values() for i in ix]
            if self.num_samples <= len(pool):
                rng.shuffle(pool)
                return pool[: self.num_samples]
            return [rng.choice(pool) for _ in range(self.num_samples)]
        names = list(self.weights)
        picks = rng.choices(names, weights=[self.weights[c] for c in names], k=self.num_samples)
        return [rng.choice(self.by_corpus[c]) for c in picks]

    def batches(self, epoch: int) -> list[list[int]]:
        rng = random.Random(f"{self.seed}-{epoch}")
        drawn = self._draw(rng)
        if self.length_grouping:
            chunk = self.batch_size * 50
            grouped: list[int] = []
            for k in range(0, len(drawn), chunk):
                grouped += sorted(drawn[k:k + chunk], key=lambda i: self.lengths[i])
            drawn = grouped
        batches = [drawn[k:k + self.batch_size] for k in range(0, len(drawn), self.batch_size)]
        if self.max_batch_words:
            batches = [piece for b in batches for piece in split_to_budget(b, self.lengths, self.max_batch_words)]
        rng.shuffle(batches)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self.batches(self.epoch)

    def __len__(self) -> int:
        """Batches of the current epoch (with `max_batch_words`, epochs may differ by a few)."""
        if self.max_batch_words:
            return len(self.batches(self.epoch))
        return (self.num_samples + self.batch_size - 1) // self.batch_size


def split_to_budget(batch: list[int], lengths: list[int], budget: int) -> list[list[int]]:
    """`batch` cut, in order, into the fewest consecutive pieces whose size x longest length is at
    most `budget` (greedy; a sentence longer than the budget forms a piece alone)."""
    pieces: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in batch:
        if current and (len(current) + 1) * max(longest, lengths[i]) > budget:
            pieces.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, lengths[i])
    return pieces + [current] if current else pieces
