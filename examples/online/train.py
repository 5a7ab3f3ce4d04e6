"""Regenerate model-blue/model/model.json and model-green/model/model.json (deterministic, numpy only)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FEATURES = 10
SAMPLES = 500
SEED = 20240601


def training_data() -> tuple[np.ndarray, np.ndarray]:
    """A linear signal with noise: y = X @ w + b + e, the same shape as azureml-examples' model-1 input."""
    rng = np.random.default_rng(SEED)
    weights = rng.normal(0.0, 50.0, FEATURES)
    features = rng.uniform(0.0, 10.0, (SAMPLES, FEATURES))
    target = features @ weights + 100.0 + rng.normal(0.0, 5.0, SAMPLES)
    return features, target


def fit_linear(features: np.ndarray, target: np.ndarray, ridge: float) -> tuple[np.ndarray, float]:
    """Least squares with an unpenalized intercept; ridge > 0 shrinks the coefficients."""
    mean_x, mean_y = features.mean(axis=0), target.mean()
    centered = features - mean_x
    gram = centered.T @ centered + ridge * np.eye(features.shape[1])
    coef = np.linalg.solve(gram, centered.T @ (target - mean_y))
    return coef, float(mean_y - mean_x @ coef)


def save(name: str, kind: str, coef: np.ndarray, intercept: float) -> Path:
    path = HERE / f"model-{name}" / "model" / "model.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "name": name,
        "kind": kind,
        "features": FEATURES,
        "coef": [round(float(value), 10) for value in coef],
        "intercept": round(intercept, 10),
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def main() -> None:
    features, target = training_data()
    print(save("blue", "linear_regression", *fit_linear(features, target, ridge=0.0)))
    # green: a strongly regularized ridge model, so its answers differ visibly from blue's
    print(save("green", "ridge_regression(alpha=100000)", *fit_linear(features, target, ridge=100000.0)))


if __name__ == "__main__":
    main()
