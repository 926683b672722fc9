"""What the dual network checks before learning from a minibatch, and growing the class head."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

__all__ = ["check_batch", "grow_head"]


def check_batch(model: nn.Module, x: Tensor, y: Tensor) -> None:
    """Clear errors for minibatches the method cannot learn from."""
    size = getattr(model, "input_size", None)
    if x.dim() != 3:
        raise ValueError(f"SelfRefresh: expected minibatches of sequences (batch, time, features), "
                         f"got shape {tuple(x.shape)}")
    if size is not None and x.shape[-1] != size:
        raise ValueError(f"SelfRefresh: the model takes {size} features per step, the data has "
                         f"{x.shape[-1]}")
    if not torch.isfinite(x).all():
        raise ValueError("SelfRefresh: the training data contains NaN or inf values")
    if y.is_floating_point():
        raise TypeError(f"SelfRefresh: class labels must be integers, got {y.dtype}")
    if y.numel() and int(y.min()) < 0:
        raise ValueError(f"SelfRefresh: negative class label {int(y.min())}")
    nc = getattr(model, "num_classes", None)
    if nc is not None and y.numel() and int(y.max()) >= nc:
        raise ValueError(f"SelfRefresh: label {int(y.max())} is out of range for {nc} outputs")


def grow_head(model: nn.Module, classes: Sequence[int]) -> None:
    """Enlarge the model's class head to cover ``classes``."""
    need = max(classes) + 1
    have = getattr(model, "num_classes", None)
    if have is None or have >= need:
        return
    if not hasattr(model, "grow"):
        raise ValueError(f"label {need - 1} is out of range for a model with {have} outputs, and the "
                         "model cannot grow its class head")
    model.grow(need)
