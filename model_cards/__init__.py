"""biomtl.model_cards: Hub model cards generated from the trainer's `all_results.json`.

    from biomtl.model_cards import generate_model_card
    card = generate_model_card("runs/demo/best", repo_id="org/biomtl-sru-ner")   # writes README.md
"""

from .card import GENERATED_MARKER, TEMPLATE_PATH, generate_model_card, load_results

__all__ = ["GENERATED_MARKER", "TEMPLATE_PATH", "generate_model_card", "load_results"]
