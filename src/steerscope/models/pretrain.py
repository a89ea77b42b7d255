"""Pre-train a feature extractor without labels, on every candidate's patch.

The overview is known in full before the first spectrum: all ``M`` candidate
patches are there to learn from, while the targets come one by one. An
autoencoder whose encoder has the DKL network's shape learns to compress the
patches to the latent space; a DKL fit then starts from that encoder instead
of random weights, so its first fits, on a handful of targets, already see
the patches' main variations rather than a random projection of them.
"""

from __future__ import annotations

import numpy as np
import torch
from numpy.typing import ArrayLike

from steerscope.errors import ModelError

__all__ = ["PRETRAIN_STEPS", "pretrain_encoder"]

PRETRAIN_STEPS = 300
"""Adam steps of the autoencoder (minibatches of 256 patches): about a second at 16k patches."""


def pretrain_encoder(
    encoder: torch.nn.Module,
    decoder: torch.nn.Module,
    X: ArrayLike,
    *,
    steps: int = PRETRAIN_STEPS,
    batch: int = 256,
    learning_rate: float = 1e-3,
    seed: int = 0,
) -> float:
    """Train ``encoder`` and ``decoder`` in place as an autoencoder of ``X``.

    Parameters
    ----------
    encoder : torch.nn.Module
        Maps ``(b, d)`` scaled patches to ``(b, latent_dim)``, float64.
    decoder : torch.nn.Module
        Maps ``(b, latent_dim)`` back to ``(b, d)``, float64; discarded afterwards.
    X : array_like of shape (M, d)
        Every candidate's descriptors, already scaled as the encoder expects.
    steps, batch, learning_rate : int, int, float
        Adam steps on random minibatches, their size, the step size.
    seed : int
        Seed of the minibatches.

    Returns
    -------
    float
        The last minibatch's mean squared reconstruction error (scaled units).

    Raises
    ------
    ModelError
        When ``X`` is not a finite 2-D array with at least two rows.
    """
    X_t = torch.as_tensor(np.asarray(X, dtype=np.float64))
    if X_t.ndim != 2 or X_t.shape[0] < 2 or not bool(torch.isfinite(X_t).all()):
        raise ModelError(
            "pre-training needs every candidate's descriptors as a finite (M, d) array with "
            f"M >= 2; got shape {tuple(X_t.shape)}"
        )
    generator = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=learning_rate)
    encoder.train()
    loss_value = float("nan")
    for _ in range(int(steps)):
        rows = torch.randint(0, X_t.shape[0], (min(batch, X_t.shape[0]),), generator=generator)
        x = X_t[rows]
        optimizer.zero_grad()
        loss = torch.mean((decoder(encoder(x)) - x) ** 2)
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
    encoder.eval()
    return loss_value
