"""biomtl: multi-task biomedical named entity recognition across partially annotated corpora.

Subpackages:
    biomtl.modeling      model families (shipped with every checkpoint as Hub remote code)
    biomtl.data_scripts  corpora -> `datasets`, readers/writers, registry, collections
    biomtl.trainer       accelerate training loop and configs
    biomtl.model_cards   model card generation
    biomtl.metrics       span metric (disjoint / merged multi-corpus scoring)
"""

__version__ = "0.1.0"
