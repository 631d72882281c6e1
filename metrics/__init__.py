"""biomtl.metrics."""
