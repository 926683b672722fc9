"""Old classes' feature statistics turned back into sequences through NET2 (model inversion).

After an experience the head's calibration and the drift of the old classes' statistics need
samples of the old classes under NET1, and there are no old sequences. The statistics
(:class:`~.calibration.ClassFeatureStats`) describe where each old class lies in NET2's feature
space. :func:`invert_features` steers real sequences of the current experience until NET2's final
features equal features drawn from those statistics; NET1's features of the steered sequences
then tell where each old class lies now.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["invert_features"]


def invert_features(network: nn.Module, seeds: Tensor, targets: Tensor, steps: int, lr: float) -> Tensor:
    """Sequences whose final top-layer features under ``network`` approach ``targets``.

    Args:
        network: a recurrent network with ``rnn`` (x (N, T, F) -> (outputs (N, T, H), state)),
            e.g. :class:`~selfrefresh.models.AutoHeteroRNN`; left unchanged.
        seeds: (N, T, F) the sequences to start from.
        targets: (N, H) the feature each sequence should reach.
        steps: Adam steps on the sequences (0: the seeds are returned).
        lr: Adam's learning rate.

    Returns:
        (N, T, F) the steered sequences (no graph).
    """
    if seeds.dim() != 3 or targets.dim() != 2 or len(seeds) != len(targets):
        raise ValueError(f"invert_features: seeds must be (N, T, F) and targets (N, H) with the same N, "
                         f"got {tuple(seeds.shape)} and {tuple(targets.shape)}")
    x = seeds.detach().clone().requires_grad_(True)
    if steps == 0:
        return x.detach()
    flags = [p.requires_grad for p in network.parameters()]
    was_training = network.training
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
    try:
        opt = torch.optim.Adam([x], lr=lr)
        with torch.enable_grad():
            for _ in range(steps):
                opt.zero_grad()
                out, _ = network.rnn(x)
                F.mse_loss(out[:, -1], targets.detach()).backward()
                opt.step()
    finally:
        for p, f in zip(network.parameters(), flags):
            p.requires_grad_(f)
        network.train(was_training)
    return x.detach()
