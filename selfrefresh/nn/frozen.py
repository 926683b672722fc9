"""A network used as a fixed function for a while (gradients flow to its inputs, not its weights)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

__all__ = ["frozen"]


@contextmanager
def frozen(network: nn.Module) -> Iterator[nn.Module]:
    """Within the block ``network`` is in eval mode and none of its parameters requires a gradient
    (so that a loss can be differentiated with respect to its inputs alone); on leaving, each
    parameter's ``requires_grad`` flag and the training mode are restored as they were."""
    flags = [p.requires_grad for p in network.parameters()]
    was_training = network.training
    network.eval()
    for p in network.parameters():
        p.requires_grad_(False)
    try:
        yield network
    finally:
        for p, f in zip(network.parameters(), flags):
            p.requires_grad_(f)
        network.train(was_training)
