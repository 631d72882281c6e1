"""biomtl.data_scripts."""
