"""Turning arrays of sequences into class-incremental Avalanche benchmarks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
from torch.utils.data import TensorDataset

__all__ = ["class_incremental_stream", "resolve_class_order", "first_experience_classes",
           "default_data_root", "experience_tensors"]


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


def first_experience_classes(num_classes: int, n_experiences: int,
                             class_order: Optional[Sequence[int]] = None, seed: int = 0) -> list:
    """The classes of the first experience, as :func:`class_incremental_stream` will split them.

    Streams fit their standardisation on these classes' training data only.
    """
    _check_split(num_classes, n_experiences)
    order = resolve_class_order(num_classes, class_order, seed)
    return order[:num_classes // n_experiences]


def _check_split(num_classes: int, n_experiences: int) -> None:
    if n_experiences < 1 or num_classes % n_experiences:
        raise ValueError(f"{num_classes} classes cannot be split evenly into {n_experiences} experiences")


def experience_tensors(experience):
    """An experience's data as tensors: x (N, T, F) float32 and y (N,) int64, in dataset order."""
    dataset = experience.dataset
    if len(dataset) == 0:
        raise ValueError("empty experience")
    items = [dataset[i] for i in range(len(dataset))]
    return torch.stack([item[0] for item in items]), torch.tensor([int(item[1]) for item in items])


def default_data_root() -> Path:
    """The folder holding the offline data sets (``fsdd/``, ``uea/``).

    ``$SELFREFRESH_DATA`` when set (an error if it is not a folder: never a silent fallback);
    else the first that exists of ``../shared/data`` relative to the current directory and
    ``../shared/data`` relative to the repository holding this package.
    """
    if os.environ.get("SELFREFRESH_DATA"):
        path = Path(os.environ["SELFREFRESH_DATA"]).expanduser()
        if not path.is_dir():
            raise FileNotFoundError(f"SELFREFRESH_DATA={os.environ['SELFREFRESH_DATA']} is not a folder; "
                                    "point it at the data folder or unset it")
        return path
    candidates = [Path.cwd().parent / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    for path in candidates:
        if path.is_dir():
            return path
    raise FileNotFoundError("no data folder found; set SELFREFRESH_DATA or pass root=. Looked in: "
                            + ", ".join(str(p) for p in candidates))


def _as_sequences(x, name: str) -> torch.Tensor:
    try:
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    except (ValueError, TypeError):
        raise ValueError(f"{name} sequences must be an array (N, T, F) of equal-length sequences") from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} sequences must be a numeric array (N, T, F), got dtype {arr.dtype}")
    return torch.as_tensor(arr, dtype=torch.float32)


def _as_labels(y, name: str) -> torch.Tensor:
    """Integer class labels (N,); float labels only when every value is a whole number."""
    try:
        arr = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    except (ValueError, TypeError):
        raise ValueError(f"{name} labels must be a flat array (N,) of class indices") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} labels must have shape (N,), got {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            bad = arr[~np.isfinite(arr) | (arr != np.round(arr))][:3].tolist()
            raise TypeError(f"{name} labels must be integer class indices, got float values such as {bad}")
    elif arr.dtype.kind not in "iub":
        raise TypeError(f"{name} labels must be integer class indices, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} labels must be >= 0, got {arr.min()}")
    return torch.as_tensor(arr.astype(np.int64))


def class_incremental_stream(train_x, train_y, test_x, test_y, *, n_experiences: int,
                             class_order: Optional[Sequence[int]] = None, seed: int = 0,
                             class_names: Optional[Sequence[str]] = None):
    """Build an Avalanche class-incremental benchmark from tensors.

    Args:
        train_x, test_x: float sequences (N, T, F).
        train_y, test_y: int labels (N,), contiguous from 0.
        n_experiences: number of experiences; the classes must divide evenly.
        class_order: permutation of the classes (default 0..C-1).
        class_names: optional name of each class label (length C).

    Returns:
        An Avalanche benchmark with ``train_stream`` and ``test_stream`` whose experiences
        yield ``(x, y, t)`` with x float32 (T, F), y int64, task label 0. It also carries
        ``input_size`` (F), ``seq_len`` (T), ``num_classes`` (C), ``class_order`` and
        ``class_names`` (``None`` when not given).
    """
    from avalanche.benchmarks.scenarios.supervised import class_incremental_benchmark

    tx, ex = _as_sequences(train_x, "train"), _as_sequences(test_x, "test")
    ty, ey = _as_labels(train_y, "train"), _as_labels(test_y, "test")
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
    if tx.shape[1:] != ex.shape[1:]:
        raise ValueError(f"train sequences have shape (T, F) = {tuple(tx.shape[1:])} but test "
                         f"sequences {tuple(ex.shape[1:])}")
    if int(ey.min()) < 0 or int(ey.max()) >= num_classes:
        raise ValueError(f"test labels must lie in 0..{num_classes - 1}, got {sorted(torch.unique(ey).tolist())}")
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
    _check_split(num_classes, n_experiences)
    order = resolve_class_order(num_classes, class_order, seed)
    benchmark = class_incremental_benchmark(
        {"train": TensorDataset(tx, ty), "test": TensorDataset(ex, ey)},
        class_order=order, num_classes_per_exp=[num_classes // n_experiences] * n_experiences)
    benchmark.input_size = int(tx.shape[2])
    benchmark.seq_len = int(tx.shape[1])
    benchmark.num_classes = num_classes
    benchmark.class_order = order
    benchmark.class_names = None if class_names is None else [str(c) for c in class_names]
    return benchmark
