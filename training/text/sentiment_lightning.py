"""Lightning training of the sentiment MLP head: module, best-epoch keeper, training loop.

Lightning is imported lazily (inside the functions): inference
(:mod:`training.text.sentiment_model`) never needs it.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import numpy as np
import torch
from torch import nn

from training.text.corpora import SENTIMENT_LABELS
from training.text.sentiment_model import SentimentConfig, build_network


@cache
def _lightning_module_class() -> type:
    """Define the LightningModule lazily, so that inference never imports Lightning."""
    import pytorch_lightning as pl

    class SentimentClassifierModule(pl.LightningModule):
        """The MLP head with its loss and optimiser, for the Lightning trainer."""

        def __init__(
            self,
            network: nn.Module,
            learning_rate: float,
            weight_decay: float,
            name_groups: torch.Tensor | None = None,
            consistency_weight: float = 0.0,
            consistency_groups: int = 16,
        ):
            super().__init__()
            self.network = network
            self.learning_rate = learning_rate
            self.weight_decay = weight_decay
            self.loss = nn.CrossEntropyLoss()
            self.name_groups = name_groups
            self.consistency_weight = consistency_weight
            self.consistency_groups = consistency_groups

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            return self.network(inputs)

        def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
            inputs, targets = batch
            loss = self.loss(self(inputs), targets)
            self.log("train_loss", loss, on_step=False, on_epoch=True)
            if self.name_groups is not None and self.consistency_weight > 0:
                penalty = self._name_consistency_penalty()
                self.log("name_consistency", penalty, on_step=False, on_epoch=True)
                loss = loss + self.consistency_weight * penalty
            return loss

        def _name_consistency_penalty(self) -> torch.Tensor:
            """Variance of the log-probabilities across names, over sampled templates.

            Log-probabilities rather than probabilities: a probability variance can also be
            lowered by saturating every prediction, which pushes neutral text to the extremes.
            """
            assert self.name_groups is not None
            picked = torch.randint(0, len(self.name_groups), (self.consistency_groups,))
            log_probabilities = torch.log_softmax(self(self.name_groups[picked]), dim=-1)
            spread = log_probabilities - log_probabilities.mean(dim=1, keepdim=True)
            return spread.pow(2).sum(dim=-1).mean()

        def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
            inputs, targets = batch
            logits = self(inputs)
            self.log("val_loss", self.loss(logits, targets), on_epoch=True, prog_bar=False)
            accuracy = (logits.argmax(dim=-1) == targets).float().mean()
            self.log("val_accuracy", accuracy, on_epoch=True)

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(
                self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )

    return SentimentClassifierModule


@cache
def _best_state_callback_class() -> type:
    """Define a callback keeping the weights of the best validation epoch (in memory)."""
    import pytorch_lightning as pl

    class BestStateKeeper(pl.Callback):
        """Copy the network's state dict whenever ``val_loss`` improves."""

        def __init__(self) -> None:
            self.best_loss = float("inf")
            self.best_epoch = -1
            self.best_state: dict[str, torch.Tensor] | None = None

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            loss = float(trainer.callback_metrics["val_loss"])
            if loss < self.best_loss:
                self.best_loss = loss
                self.best_epoch = trainer.current_epoch
                self.best_state = copy.deepcopy(pl_module.network.state_dict())

    return BestStateKeeper


def _loader(
    features: np.ndarray, targets: np.ndarray, batch_size: int, *, shuffle: bool, seed: int
) -> torch.utils.data.DataLoader:
    dataset = torch.utils.data.TensorDataset(
        torch.as_tensor(features, dtype=torch.float32), torch.as_tensor(targets, dtype=torch.long)
    )
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0
    )


def fit_sentiment_network(
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    config: SentimentConfig,
    name_groups: np.ndarray | None = None,
) -> tuple[nn.Module, dict[str, float]]:
    """Train the MLP head with Lightning, early stopping on the validation loss.

    Args:
        train_x: Training embeddings.
        train_y: Training class indices.
        val_x: Validation embeddings.
        val_y: Validation class indices.
        config: Hyper-parameters.
        name_groups: Embeddings of name-swapped sentences, shape ``(templates, names, 384)``,
            for the name-consistency penalty; ``None`` disables it.

    Returns:
        The network holding the weights of the best validation epoch, and training facts
        (``best_epoch``, ``best_val_loss``, ``epochs_run``).
    """
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping

    pl.seed_everything(config.seed, workers=True, verbose=False)
    network = build_network(
        train_x.shape[1], config.hidden_dim, len(SENTIMENT_LABELS), config.dropout
    )
    groups = None if name_groups is None else torch.as_tensor(name_groups, dtype=torch.float32)
    module = _lightning_module_class()(
        network,
        config.learning_rate,
        config.weight_decay,
        groups,
        config.consistency_weight,
        config.consistency_groups,
    )
    keeper = _best_state_callback_class()()
    from haste.runtime import torch_device

    device = torch_device()  # a GPU when the worker was given one (num_gpus), else the CPU
    trainer = pl.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu",
        devices=1,
        max_epochs=config.max_epochs,
        deterministic=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[EarlyStopping("val_loss", patience=config.patience, mode="min"), keeper],
    )
    # One intra-op thread: the head is tiny, and on a shared 2-core machine a second thread
    # mostly waits on the first (measured: 15x slower per epoch under load).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer.fit(
            module,
            _loader(train_x, train_y, config.batch_size, shuffle=True, seed=config.seed),
            _loader(val_x, val_y, 1024, shuffle=False, seed=config.seed),
        )
    finally:
        torch.set_num_threads(threads)
    network = network.cpu()  # served on CPU replicas; the best state may live on the GPU
    if keeper.best_state is not None:
        network.load_state_dict({k: v.cpu() for k, v in keeper.best_state.items()})
    facts = {
        "best_epoch": float(keeper.best_epoch),
        "best_val_loss": float(keeper.best_loss),
        "epochs_run": float(trainer.current_epoch),
        "trained_on_gpu": float(device == "cuda"),
    }
    return network.eval(), facts
