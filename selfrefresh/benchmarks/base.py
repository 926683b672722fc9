"""Turning arrays of sequences into class-incremental Avalanche benchmarks."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["class_incremental_stream", "resolve_class_order"]


def resolve_class_order(num_classes: int, class_order: Optional[Sequence[int]], seed: int,
                        shuffle: bool = False) -> list:
    """The class order: given, else 0..C-1 (or a seeded permutation when ``shuffle``)."""
    if class_order is None:
        order = list(range(num_classes))
        if shuffle:
            order = list(np.random.RandomState(seed).permutation(num_classes))
        return [int(c) for c in order]
    order = [int(c) for c in class_order]
    if sorted(order) != list(range(num_classes)):
        raise ValueError(f"class_order must be a permutation of 0..{num_classes - 1}, got {order}")
    return order


def class_incremental_stream(train_x, train_y, test_x, test_y, *, n_experiences: int,
                             class_order: Optional[Sequence[int]] = None, seed: int = 0):
    """Build an Avalanche class-incremental benchmark from tensors.

    Args:
        train_x, test_x: float sequences (N, T, F).
        train_y, test_y: int labels (N,), contiguous from 0.
        n_experiences: number of experiences; the classes must divide evenly.
        class_order: permutation of the classes (default 0..C-1).

    Returns:
        An Avalanche benchmark with ``train_stream`` and ``test_stream`` whose experiences
        yield ``(x, y, t)`` with x float32 (T, F), y int64, task label 0.
    """
    from avalanche.benchmarks.scenarios.supervised import class_incremental_benchmark

    tx = torch.as_tensor(np.asarray(train_x), dtype=torch.float32)
    ex = torch.as_tensor(np.asarray(test_x), dtype=torch.float32)
    ty = torch.as_tensor(np.asarray(train_y), dtype=torch.long)
    ey = torch.as_tensor(np.asarray(test_y), dtype=torch.long)
    for name, x, y in (("train", tx, ty), ("test", ex, ey)):
        if x.dim() != 3:
            raise ValueError(f"{name} sequences must have shape (N, T, F), got {tuple(x.shape)}")
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{name}: {x.shape[0]} sequences but {y.shape[0]} labels")
        if x.shape[0] == 0:
            raise ValueError(f"{name}: no sequences")
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} sequences contain NaN or inf")
    num_classes = int(ty.max()) + 1
    if sorted(torch.unique(ty).tolist()) != list(range(num_classes)):
        raise ValueError(f"training labels must be contiguous 0..{num_classes - 1}, got "
                         f"{sorted(torch.unique(ty).tolist())}")
    if n_experiences < 1 or num_classes % n_experiences:
        raise ValueError(f"{num_classes} classes cannot be split evenly into {n_experiences} experiences")
    order = resolve_class_order(num_classes, class_order, seed)
    return class_incremental_benchmark(
        {"train": TensorDataset(tx, ty), "test": TensorDataset(ex, ey)},
        class_order=order, num_classes_per_exp=[num_classes // n_experiences] * n_experiences)
