"""mlendpoints policy pack."""
