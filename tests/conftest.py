import os

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(min(2, torch.get_num_threads()))


def _fsdd_recordings():
    """The FSDD recordings folder under the data root (None when there is no data root)."""
    from selfrefresh.streams import base
    try:
        return base.default_data_root() / "fsdd" / "recordings"
    except FileNotFoundError:
        return None


FSDD = _fsdd_recordings()
needs_fsdd = pytest.mark.skipif(FSDD is None or not FSDD.is_dir(), reason="no FSDD folder")


def toy_sequences(n_per_class: int, n_classes: int = 4, t: int = 12, f: int = 3, seed: int = 0):
    """Class c: a sinusoid of its own frequency on every feature, random phase, noise. (N, T, F)."""
    rng = np.random.RandomState(seed)
    xs, ys = [], []
    steps = np.arange(t)
    for c in range(n_classes):
        freq = 0.3 + 0.45 * c
        for _ in range(n_per_class):
            phase = rng.uniform(0, 2 * np.pi)
            base = np.sin(freq * steps + phase)[:, None] * (1 + 0.3 * np.arange(f))[None]
            xs.append(base + 0.2 * rng.randn(t, f))
            ys.append(c)
    return np.asarray(xs, np.float32), np.asarray(ys, np.int64)


@pytest.fixture
def toy_stream():
    from selfrefresh.streams.base import class_incremental_stream
    tx, ty = toy_sequences(40, seed=0)
    ex, ey = toy_sequences(30, seed=1)
    return class_incremental_stream(tx, ty, ex, ey, n_experiences=2, seed=0)
