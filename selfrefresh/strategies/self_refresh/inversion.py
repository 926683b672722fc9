"""Old classes' feature statistics turned back into sequences through NET2 (model inversion).

After an experience the head's calibration and the drift of the old classes' statistics need
samples of the old classes under NET1, and there are no old sequences. The statistics
(:class:`~.calibration.ClassFeatureStats`) describe where each old class lies in NET2's feature
space. :func:`invert_features` steers real sequences of the current experience until NET2's final
features equal features drawn from those statistics; NET1's features of the steered sequences
then tell where each old class lies now.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...nn.frozen import frozen
from .calibration import head_input

__all__ = ["invert_features"]


def invert_features(network: nn.Module, seeds: Tensor, targets: Tensor, steps: int, lr: float,
                    grad_steps: Optional[int] = None, chunk: Optional[int] = 64) -> Tensor:
    """Sequences whose final top-layer features under ``network`` approach ``targets``.

    Args:
        network: a recurrent network with ``rnn`` (x (N, T, F) -> (outputs (N, T, H), state)),
            e.g. :class:`~selfrefresh.models.AutoHeteroRNN`; left unchanged.
        seeds: (N, T, F) the sequences to start from.
        targets: (N, H) the feature each sequence should reach.
        steps: Adam steps on the sequences (0: the seeds are returned).
        lr: Adam's learning rate.
        grad_steps: steer only the last k steps of each seed (its first T - k steps are kept and
            run once): about k / T of the cost. None (or k >= T): the whole sequence.
        chunk: sequences inverted together (None: all): the result of one batch up to float
            rounding (each chunk's loss weighted by its share), faster on a CPU above about 64 sequences.

    Returns:
        (N, T, F) the steered sequences (no graph).
    """
    if seeds.dim() != 3 or targets.dim() != 2 or len(seeds) != len(targets):
        raise ValueError(f"invert_features: seeds must be (N, T, F) and targets (N, H) with the same N, "
                         f"got {tuple(seeds.shape)} and {tuple(targets.shape)}")
    if steps == 0:
        return seeds.detach().clone()
    if chunk is not None and chunk < 1:
        raise ValueError(f"invert_features: chunk must be None or >= 1, got {chunk}")
    cut = 0 if grad_steps is None or grad_steps >= seeds.shape[1] else seeds.shape[1] - grad_steps
    size = chunk or len(seeds)
    with frozen(network):
        return torch.cat([_invert(network, s, t, steps, lr, cut, len(s) / len(seeds))
                          for s, t in zip(seeds.split(size), targets.detach().split(size))])


def _invert(network: nn.Module, seeds: Tensor, targets: Tensor, steps: int, lr: float, cut: int,
            share: float) -> Tensor:
    x = seeds[:, cut:].detach().clone().requires_grad_(True)
    state = before = None
    if cut:
        with torch.no_grad():
            before, state = network.rnn(seeds[:, :cut])
    opt = torch.optim.Adam([x], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            opt.zero_grad()
            out, _ = network.rnn(x, state)
            # the gradient of the whole batch's mean loss
            (share * F.mse_loss(head_input(network, out, before), targets)).backward()
            opt.step()
    return torch.cat([seeds[:, :cut].detach(), x.detach()], dim=1)
