"""Check that the Lightning text training uses a GPU when the machine (or Ray worker) has one.

Runs the platform's own ``training.text.sentiment_lightning.fit_sentiment_network`` on seeded
synthetic 384-d "embeddings" (two separable classes plus neutral noise), once with
``HASTE_TORCH_DEVICE=cpu`` and once with the default ``auto``, and prints where each ran, the
epochs, the seconds and the validation accuracy; the GPU run must agree with the CPU run.
Only torch, Lightning and numpy are needed (the corpus module, which reads the datasets, is
replaced by its label list), so it runs on a bare GPU machine::

    python3 scripts/gpu_check.py
"""

from __future__ import annotations

import json
import os
import sys
import time
import types
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
corpora = types.ModuleType("training.text.corpora")
corpora.SENTIMENT_LABELS = ("negative", "neutral", "positive")
sys.modules.setdefault("training.text.corpora", corpora)


def synthetic(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return seeded embeddings whose class is a noisy linear direction."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    centres = np.random.default_rng(0).normal(size=(3, 384)).astype(np.float32)
    return (centres[labels] + 2.5 * rng.normal(size=(rows, 384))).astype(np.float32), labels


def fit_on(device: str) -> dict[str, float | str]:
    """Fit the head with ``HASTE_TORCH_DEVICE=device``; return where and how it ran."""
    import torch

    from training.text.sentiment_lightning import fit_sentiment_network
    from training.text.sentiment_model import SentimentConfig

    os.environ["HASTE_TORCH_DEVICE"] = device
    train_x, train_y = synthetic(40_000, 1)
    val_x, val_y = synthetic(5_000, 2)
    config = SentimentConfig(max_epochs=8, patience=3, batch_size=512, consistency_weight=0.0)
    started = time.perf_counter()
    network, facts = fit_sentiment_network(train_x, train_y, val_x, val_y, config)
    seconds = time.perf_counter() - started
    with torch.no_grad():
        predicted = network(torch.as_tensor(val_x)).argmax(1).numpy()
    return {
        "asked": device,
        "trained_on_gpu": facts["trained_on_gpu"],
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "epochs": facts["epochs_run"],
        "seconds": round(seconds, 2),
        "val_accuracy": round(float((predicted == val_y).mean()), 4),
        "returned_on": str(next(network.parameters()).device),
    }


def main() -> int:
    """Run on the CPU, then on the default device; exit 1 if a visible GPU went unused."""
    import torch

    runs = [fit_on("cpu"), fit_on("auto")]
    print(json.dumps(runs, indent=1))
    if torch.cuda.is_available() and runs[1]["trained_on_gpu"] != 1.0:
        print("a GPU is visible but the Lightning training did not use it")
        return 1
    if abs(runs[0]["val_accuracy"] - runs[1]["val_accuracy"]) > 0.02:
        print("the GPU and CPU runs disagree")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
