"""MLflow models deployed without code: the scoring script and batch driver the image serves them with."""
