"""biomtl.trainer."""
