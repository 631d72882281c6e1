"""Small synthetic corpora in the layout of ../shared/corpora (for trainer / CLI tests)."""

from __future__ import annotations

import random
from pathlib import Path

from biomtl.data_scripts import make_example, write_iob2

DISEASES = ["asthma", "diabetes", "breast cancer", "renal failure"]
CHEMICALS = ["aspirin", "ibuprofen", "cisplatin"]
FILLER = "the patient had severe acute signs and after long intake of daily doses were seen".split()


def _sentence(rng: random.Random, types: list[str], pieces: int | None = None) -> tuple[list[str], list[dict]]:
    toks: list[str] = []
    spans: list[dict] = []
    for _ in range(pieces or rng.randint(3, 8)):
        roll = rng.random()
        if roll < 0.2:
            words, label = rng.choice(DISEASES).split(), "Disease"
        elif roll < 0.35:
            words, label = rng.choice(CHEMICALS).split(), "Chemical"
        else:
            words, label = [rng.choice(FILLER)], None
        if label in types:
            spans.append({"start": len(toks), "end": len(toks) + len(words), "label": label})
        toks += words
    return toks, spans


def write_fake_corpora(root: Path, sizes=(24, 8, 8), seed: int = 0, long_every: int | None = None) -> Path:
    """NCBI-disease-IOB (Disease) and BC5CDR-IOB (Chemical + Disease) folders under `root`; with
    `long_every`, every such sentence has 40-60 pieces (for budgets, splits and windows)."""
    rng = random.Random(seed)
    for folder, types in [("NCBI-disease-IOB", ["Disease"]), ("BC5CDR-IOB", ["Chemical", "Disease"])]:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for fname, n in zip(("train.tsv", "devel.tsv", "test.tsv"), sizes):
            rows = [make_example(f"x{j}", "X", "", *_sentence(
                rng, types, rng.randint(40, 60) if long_every and j % long_every == 1 else None)) for j in range(n)]
            write_iob2(root / folder / fname, rows)
    return root
