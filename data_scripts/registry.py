"""The corpus registry: where each corpus comes from, how its types are named, license, citation.

Sources are the public GitHub files used by the multi-task BioNER literature:
cambridgeltl/MTL-Bioinformatics-2016 `data/` (Crichton et al. 2017 splits) and
yhcc/CNN_Nested_NER `preprocess/outputs/genia/` (nested GENIA). The SHA-256 digests were computed
from the benchmark copies in ../shared/corpora, which are those files; a file whose digest is not
known (None) is accepted on first download and its digest printed and stored beside it in the cache.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MTL_2016 = "https://raw.githubusercontent.com/cambridgeltl/MTL-Bioinformatics-2016/master/data"
CNN_NESTED = "https://raw.githubusercontent.com/yhcc/CNN_Nested_NER/master/preprocess/outputs/genia"

CRICHTON_2017 = (
    "@article{crichton2017neural, title={A neural network multi-task learning approach to biomedical named "
    "entity recognition}, author={Crichton, Gamal and Pyysalo, Sampo and Chiu, Billy and Korhonen, Anna}, "
    "journal={BMC Bioinformatics}, volume={18}, number={1}, pages={368}, year={2017}}"
)

#: canonical split name -> file stem used by the sources
SPLIT_FILES_IOB = {"train": "train.tsv", "validation": "devel.tsv", "test": "test.tsv"}
SPLIT_FILES_GENIA = {"train": "train.jsonlines", "validation": "dev.jsonlines", "test": "test.jsonlines"}


@dataclass(frozen=True)
class CorpusSpec:
    """One registry entry.

    Attributes:
        key: registry name (`ncbi_disease`).
        corpus: display name stored in examples and used as the multi-corpus type prefix.
        folder: folder name under a local source dir (and in the source repository).
        fmt: 'iob' or 'jsonlines'.
        files: split -> file name.
        base_url: URL of the folder in the public source.
        sha256: file name -> expected digest (None: not known in advance).
        renames: source type -> canonical type.
        keep_types: only these (canonical) types are kept (None: all).
        types: canonical types the corpus annotates.
        license, citation, description: for dataset and model cards.
        required_splits: splits that must exist locally.
    """

    key: str
    corpus: str
    folder: str
    fmt: str
    files: dict[str, str]
    base_url: str
    types: tuple[str, ...]
    license: str
    citation: str
    description: str
    sha256: dict[str, str | None] = field(default_factory=dict)
    renames: dict[str, str] = field(default_factory=dict)
    keep_types: tuple[str, ...] | None = None
    required_splits: tuple[str, ...] = ("train", "validation", "test")

    def url(self, split: str) -> str:
        return f"{self.base_url}/{self.files[split]}"


_BC5CDR_SHA = {
    "train.tsv": "b731361c0ed73afd04cc5fdad39afcdfd8f325d6e46c282339185a91d1af4c14",
    "devel.tsv": "b909de65c4f7e3c23bb09ad52d654cdc92e96db941abe1a5dcf6f6010c03cff5",
    "test.tsv": "e41a2843a5fff0cd8d1a88cb147968d61ae29336ca70cddc3d7fb8ff21dfa1e8",
}
_BC5CDR_CITE = (
    "@article{li2016biocreative, title={BioCreative V CDR task corpus: a resource for chemical disease relation "
    "extraction}, author={Li, Jiao and Sun, Yueping and Johnson, Robin J and others}, journal={Database}, "
    "volume={2016}, year={2016}}"
)
_CC_BY = "CC-BY-4.0 (Crichton et al. 2017 redistribution; see the original corpus terms)"


def _iob(key, corpus, folder, types, citation, description, sha=None, renames=None, keep=None):
    return CorpusSpec(key=key, corpus=corpus, folder=folder, fmt="iob", files=dict(SPLIT_FILES_IOB),
                      base_url=f"{MTL_2016}/{folder}", types=tuple(types), license=_CC_BY,
                      citation=citation + "\n" + CRICHTON_2017, description=description,
                      sha256=dict(sha or {}), renames=dict(renames or {}),
                      keep_types=tuple(keep) if keep else None)


REGISTRY: dict[str, CorpusSpec] = {
    s.key: s
    for s in [
        _iob("ncbi_disease", "NCBI-disease", "NCBI-disease-IOB", ["Disease"],
             "@article{dogan2014ncbi, title={NCBI disease corpus: a resource for disease name recognition and "
             "concept normalization}, author={Do{\\u{g}}an, Rezarta Islamaj and Leaman, Robert and Lu, Zhiyong}, "
             "journal={Journal of Biomedical Informatics}, volume={47}, pages={1--10}, year={2014}}",
             "Disease mentions in 793 PubMed abstracts.",
             sha={"train.tsv": "58379baf4614b8d757d93dd7a21b202849ca99f9b9d71b49185523ff5443300c",
                  "devel.tsv": "b4e1e7efcc2a35047bf2f3d281648357470e674f555d4a26a0049ac37d59cc61",
                  "test.tsv": "8f088ce45dc4746592188f9e69de3d89d87f3bb8f0ed8c4a287d018123fa148d"}),
        _iob("bc5cdr", "BC5CDR", "BC5CDR-IOB", ["Chemical", "Disease"], _BC5CDR_CITE,
             "Chemical and disease mentions in 1,500 PubMed abstracts (BioCreative V CDR).", sha=_BC5CDR_SHA),
        _iob("bc5cdr_chem", "BC5CDR-chem", "BC5CDR-IOB", ["Chemical"], _BC5CDR_CITE,
             "BC5CDR restricted to its Chemical mentions.", sha=_BC5CDR_SHA, keep=["Chemical"]),
        _iob("bc5cdr_disease", "BC5CDR-disease", "BC5CDR-IOB", ["Disease"], _BC5CDR_CITE,
             "BC5CDR restricted to its Disease mentions.", sha=_BC5CDR_SHA, keep=["Disease"]),
        _iob("bc2gm", "BC2GM", "BC2GM-IOB", ["Gene"],
             "@article{smith2008overview, title={Overview of BioCreative II gene mention recognition}, "
             "author={Smith, Larry and Tanabe, Lorraine K and others}, journal={Genome Biology}, volume={9}, "
             "number={2}, pages={S2}, year={2008}}",
             "Gene and gene-product mentions (BioCreative II gene mention task).",
             sha={"train.tsv": "46e17f4e1509483b82c03f27d6f0214020f738fb71704356fb3445eb824ab38d",
                  "devel.tsv": "33a94577aa22f1e70ec9e02781a05baa4e1390e866d28bf2b344888e4e3d4103",
                  "test.tsv": "30d7a4f571ca8ed22a044528063ba5d0388d666d8b8b329733d6927e5fb30764"},
             renames={"GENE": "Gene"}),
        _iob("linnaeus", "Linnaeus", "linnaeus-IOB", ["Species"],
             "@article{gerner2010linnaeus, title={LINNAEUS: a species name identification system for biomedical "
             "literature}, author={Gerner, Martin and Nenadic, Goran and Bergman, Casey M}, "
             "journal={BMC Bioinformatics}, volume={11}, number={1}, pages={85}, year={2010}}",
             "Species mentions in 100 full-text articles.",
             sha={"train.tsv": "74c8612944a4de87665680989a3d589c843562d3ec175e3b512295691b221d9a",
                  "devel.tsv": "042b5676d4f541995d617f43e2926afdf6653ed60ad9010c2f45b78ae869f2b6",
                  "test.tsv": "1792b82f7cf9159fd71de38b139a457dbc5ca126c13ac9e355a5fad3e65930ad"}),
        _iob("jnlpba", "JNLPBA", "JNLPBA", ["protein", "DNA", "RNA", "cell_type", "cell_line"],
             "@inproceedings{kim2004introduction, title={Introduction to the bio-entity recognition task at "
             "JNLPBA}, author={Kim, Jin-Dong and Ohta, Tomoko and Tsuruoka, Yoshimasa and Tateisi, Yuka and "
             "Collier, Nigel}, booktitle={JNLPBA}, pages={70--75}, year={2004}}",
             "Protein, DNA, RNA, cell type and cell line mentions (GENIA-derived, flat)."),
        CorpusSpec(
            key="genia_nested", corpus="GENIA", folder="GENIA-nested", fmt="jsonlines",
            files=dict(SPLIT_FILES_GENIA), base_url=CNN_NESTED,
            types=("protein", "DNA", "RNA", "cell_type", "cell_line"),
            license="GENIA Project License (CC-BY-3.0)",
            citation="@article{kim2003genia, title={GENIA corpus--a semantically annotated corpus for "
                     "bio-textmining}, author={Kim, J-D and Ohta, Tomoko and Tateisi, Yuka and Tsujii, Jun'ichi}, "
                     "journal={Bioinformatics}, volume={19}, number={suppl_1}, pages={i180--i182}, year={2003}}",
            description="Nested protein/DNA/RNA/cell type/cell line mentions (split of Yan et al. 2023).",
            sha256={"dev.jsonlines": "18deb63b0f86623c2881b1c91297b3cb86d60414b2b1acc60e0a97cc573cc8b1"},
            required_splits=("validation",),
        ),
    ]
}


def get_spec(name: str) -> CorpusSpec:
    """Registry entry by key (`ncbi_disease`) or display name (`NCBI-disease`), case-insensitive."""
    low = name.lower().replace("-", "_")
    for spec in REGISTRY.values():
        if low in (spec.key, spec.corpus.lower().replace("-", "_")):
            return spec
    raise KeyError(f"unknown corpus {name!r}; known: {', '.join(sorted(REGISTRY))}")
