"""biomtl.model_cards."""
