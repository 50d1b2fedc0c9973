"""Training: fitting, evaluation, explanation, fairness audit and model registry."""
