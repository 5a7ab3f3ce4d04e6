"""Target modules: turn validated specs into provider resources."""
