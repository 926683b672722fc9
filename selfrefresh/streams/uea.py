"""Class-incremental streams from two real UEA multivariate time-series sets (local ``.npz`` files).

The files (``<root>/JapaneseVowels.npz``, ``<root>/BasicMotions.npz``) hold ``X_train``/``X_test``
(n, channels, max_len) padded with NaN past each series' end, string labels ``y_train``/``y_test`` and
true lengths ``len_train``/``len_test``. Each series becomes x of shape (T, F) = (seq_len, channels):
transposed, standardised per channel with the mean and standard deviation of the FIRST experience's
training data (valid steps only), then cut or padded to ``seq_len`` (default: the longest series in
train and test) with zeros (``pad="zero"``; 0 is the first experience's mean) or with the last valid
step (``pad="edge"``). Class labels are the sorted string labels' positions (``benchmark.class_names``).

The benchmarks also carry ``input_size``, ``seq_len``, ``num_classes``, ``class_names``,
``class_order``, ``standardizer`` and ``train_lengths`` / ``test_lengths`` (true lengths, capped at
``seq_len``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .._files import load_npz
from .base import class_incremental_stream, default_data_root, first_experience_classes
from .features import Standardizer, pad_sequences

__all__ = ["load_uea", "uea_stream", "japanese_vowels", "basic_motions"]

_KEYS = ("X_train", "y_train", "len_train", "X_test", "y_test", "len_test")


def load_uea(name: str, root=None) -> dict:
    """The arrays of ``<root>/<name>.npz`` (root default ``<data root>/uea``), checked."""
    root = default_data_root() / "uea" if root is None else Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"UEA data folder not found: {root}")
    path = root / f"{name}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"UEA data file not found: {path}")
    arrays = load_npz(path, _KEYS, what="UEA data file")
    for split in ("train", "test"):
        x, y, n = arrays[f"X_{split}"], arrays[f"y_{split}"], arrays[f"len_{split}"]
        if x.ndim != 3 or len(x) != len(y) or len(x) != len(n) or len(x) == 0:
            raise ValueError(f"{path}: X_{split} {x.shape}, y_{split} {y.shape}, len_{split} {n.shape} do not agree")
    return arrays


def uea_stream(name: str, root=None, *, seq_len: Optional[int] = None, pad: str = "zero",
               n_experiences: int, class_order: Optional[Sequence[int]] = None, seed: int = 0):
    """Any UEA ``.npz`` set as a class-incremental stream (see the module docstring)."""
    data = load_uea(name, root)
    class_names = sorted(set(data["y_train"].tolist()))
    unknown = set(data["y_test"].tolist()) - set(class_names)
    if unknown:
        raise ValueError(f"{name}: test labels {sorted(unknown)} never occur in training")
    index = {c: i for i, c in enumerate(class_names)}
    ys = {s: np.array([index[c] for c in data[f"y_{s}"].tolist()], dtype=np.int64) for s in ("train", "test")}
    xs = {s: np.transpose(data[f"X_{s}"], (0, 2, 1)).astype(np.float32) for s in ("train", "test")}
    lengths = {s: data[f"len_{s}"].astype(np.int64) for s in ("train", "test")}
    for s in ("train", "test"):
        if (lengths[s] < 1).any() or (lengths[s] > xs[s].shape[1]).any():
            raise ValueError(f"{name}: len_{s} outside 1..{xs[s].shape[1]}")
        steps = np.arange(xs[s].shape[1])[None, :] < lengths[s][:, None]
        if not np.isfinite(xs[s][steps]).all():
            raise ValueError(f"{name}: NaN or inf inside the valid steps of X_{s}")
        xs[s][~steps] = np.nan  # everything past the end is padding
    if seq_len is None:
        seq_len = int(max(lengths["train"].max(), lengths["test"].max()))
    if seq_len < 1:
        raise ValueError(f"seq_len must be positive, got {seq_len}")
    first = first_experience_classes(len(class_names), n_experiences, class_order, seed)
    standardizer = Standardizer().fit(xs["train"][np.isin(ys["train"], first)])
    out = {s: pad_sequences(standardizer(xs[s]), lengths[s], seq_len, pad=pad) for s in ("train", "test")}
    benchmark = class_incremental_stream(out["train"], ys["train"], out["test"], ys["test"],
                                         n_experiences=n_experiences, class_order=class_order, seed=seed,
                                         class_names=class_names)
    benchmark.standardizer = standardizer
    benchmark.train_lengths = np.minimum(lengths["train"], seq_len)
    benchmark.test_lengths = np.minimum(lengths["test"], seq_len)
    return benchmark


def japanese_vowels(root=None, seq_len: Optional[int] = None, pad: str = "zero", n_experiences: int = 3,
                    class_order: Optional[Sequence[int]] = None, seed: int = 0):
    """JapaneseVowels: 9 speakers (classes "1".."9"), 12 LPC cepstrum coefficients per frame.

    270 train / 370 test series of 7-29 frames; x is (T, F) = (29, 12) by default.
    ``root``: folder of ``JapaneseVowels.npz`` (default ``<data root>/uea``, see
    :func:`~selfrefresh.streams.base.default_data_root`).
    """
    return uea_stream("JapaneseVowels", root, seq_len=seq_len, pad=pad, n_experiences=n_experiences,
                      class_order=class_order, seed=seed)


def basic_motions(root=None, seq_len: Optional[int] = None, pad: str = "zero", n_experiences: int = 2,
                  class_order: Optional[Sequence[int]] = None, seed: int = 0):
    """BasicMotions: smartwatch accelerometer + gyroscope, 4 activities
    ("Badminton", "Running", "Standing", "Walking").

    40 train / 40 test series of 100 steps; x is (T, F) = (100, 6).
    """
    return uea_stream("BasicMotions", root, seq_len=seq_len, pad=pad, n_experiences=n_experiences,
                      class_order=class_order, seed=seed)
