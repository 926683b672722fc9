"""Forgetting curves from run summaries (``summary.json`` of :mod:`selfrefresh.runs`).

A run's accuracy matrix ``A[i, j]`` is the accuracy on experience ``j``'s test set after
training experience ``i``. Curves are averaged over the seeds of a (stream, strategy).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .io import atomic_file

__all__ = ["mean_matrices", "plot_forgetting_curves", "plot_stream_average"]


def _pyplot():
    import matplotlib
    if os.environ.get("MPLBACKEND") is None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def mean_matrices(runs: Sequence[dict]) -> dict:
    """strategy -> mean accuracy matrix (rows: after training exp, cols: test exp) over seeds."""
    by: dict = {}
    for r in runs:
        by.setdefault(r["strategy"], []).append(np.asarray(r["accuracy_matrix"], dtype=float))
    out = {}
    rank = {"naive": 0, "cumulative": 2, "joint": 3}
    for name, mats in sorted(by.items(), key=lambda kv: (rank.get(kv[0], 1), kv[0])):
        rows = min(m.shape[0] for m in mats)
        out[name] = np.mean([m[:rows] for m in mats], axis=0)
    return out


def _xs(mat: np.ndarray, n_exp: int) -> np.ndarray:
    # joint training has a single row: place it after the last experience
    return np.arange(1, mat.shape[0] + 1) if mat.shape[0] == n_exp else np.array([n_exp])


def plot_forgetting_curves(runs: Sequence[dict], path: os.PathLike) -> Path:
    """One panel per strategy, one line per experience's test set (from when it is learned)."""
    plt = _pyplot()
    mats = mean_matrices(runs)
    n = len(mats)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, sharey=True)
    for ax, (name, mat) in zip(axes.flat, mats.items()):
        n_exp = mat.shape[1]
        xs = _xs(mat, n_exp)
        for j in range(n_exp):
            keep = xs >= j + 1
            ax.plot(xs[keep], mat[keep, j], marker="o", ms=3, label=f"exp {j}")
        ax.set_title(name)
        ax.set_xlabel("after training experience")
        ax.set_xticks(range(1, n_exp + 1))
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("test accuracy")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.suptitle(f"{_stream(runs)}: accuracy on each experience's test set")
    return _save(plt, fig, path)


def plot_stream_average(runs: Sequence[dict], path: os.PathLike) -> Path:
    """One line per strategy: accuracy averaged over the experiences learned so far."""
    plt = _pyplot()
    mats = mean_matrices(runs)
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for name, mat in mats.items():
        n_exp = mat.shape[1]
        xs = _xs(mat, n_exp)
        ys = [mat[r, : int(x)].mean() for r, x in enumerate(xs)]
        style = "--" if name in ("cumulative", "joint") else "-"
        ax.plot(xs, ys, style, marker="o", ms=4, label=name)
    n_exp = max(m.shape[1] for m in mats.values()) if mats else 1
    ax.set_xticks(range(1, n_exp + 1))
    ax.set_xlabel("after training experience")
    ax.set_ylabel("mean accuracy over experiences seen")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{_stream(runs)}: stream average")
    return _save(plt, fig, path)


def _stream(runs) -> str:
    return runs[0]["stream"] if runs else ""


def _save(plt, fig, path) -> Path:
    fig.tight_layout()
    path = Path(path)
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=110)
    plt.close(fig)
    return path
