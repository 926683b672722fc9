"""Paper figures for the analysis results.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state,
no display needed: rendering goes through the Agg canvas); save it with :func:`save_figure`.

``kind`` chooses how input windows are drawn: ``"curves"`` (one line per feature: time series),
``"spectrogram"`` (features x time image: audio), ``"frames"`` (a strip of frames: video, needs
``frame_shape`` (H, W) or (C, H, W)); ``"auto"`` picks frames when ``frame_shape`` is given,
spectrogram from 20 features up, curves otherwise.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np
from matplotlib.figure import Figure

from .._files import atomic_file
from .attractors import AttractorSummary
from .gates import GateSaturation
from .memory import MemoryCurve
from .units import Motif

__all__ = ["save_figure", "window_kind", "plot_unit_traces", "plot_motifs", "plot_gates",
           "plot_memory_curves", "plot_attractors", "plot_attractor_evolution"]

_CMAP = "tab10"


def save_figure(fig: Figure, path: Union[str, Path], dpi: int = 150) -> Path:
    """Write a figure (format from the suffix, e.g. .png or .pdf); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight")
    return path


def window_kind(num_features: int, kind: str = "auto", frame_shape=None) -> str:
    """Resolve ``kind`` (see the module docstring)."""
    if kind == "auto":
        return "frames" if frame_shape is not None else ("spectrogram" if num_features >= 20 else "curves")
    if kind not in ("curves", "spectrogram", "frames"):
        raise ValueError(f"kind must be 'auto', 'curves', 'spectrogram' or 'frames', got {kind!r}")
    if kind == "frames" and frame_shape is None:
        raise ValueError("kind='frames' needs frame_shape=(H, W) or (C, H, W)")
    return kind


def _frames_strip(w: np.ndarray, frame_shape) -> np.ndarray:
    """(W, F) window -> (H, W * width[, C]) image of its frames side by side."""
    shape = tuple(frame_shape)
    if int(np.prod(shape)) != w.shape[1]:
        raise ValueError(f"frame_shape {shape} does not hold {w.shape[1]} features")
    frames = w.reshape((w.shape[0],) + shape)
    if len(shape) == 3:  # (C, H, W) -> (H, W, C)
        frames = frames.transpose(0, 2, 3, 1)
        if shape[0] == 1:
            frames = frames[..., 0]
    strip = np.concatenate(list(frames), axis=1)
    lo, hi = strip.min(), strip.max()
    return (strip - lo) / (hi - lo) if hi > lo and strip.ndim == 3 else strip


def _draw_window(ax, w: np.ndarray, kind: str, frame_shape=None, vlim=None) -> None:
    """Draw one (W, F) input window on an axis."""
    if kind == "curves":
        ax.plot(np.arange(w.shape[0]), w, lw=1)
        if vlim is not None:
            ax.set_ylim(*vlim)
    elif kind == "spectrogram":
        ax.imshow(w.T, aspect="auto", origin="lower", cmap="magma",
                  vmin=None if vlim is None else vlim[0], vmax=None if vlim is None else vlim[1])
    else:
        ax.imshow(_frames_strip(w, frame_shape), cmap="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_unit_traces(x: np.ndarray, acts: np.ndarray, units: Sequence[int], seq: int = 0,
                     length: Optional[int] = None, kind: str = "auto", frame_shape=None,
                     title: str = "") -> Figure:
    """One input sequence and the activity of selected units over it (Karpathy et al. style).

    x (B, T, F) or (T, F); acts (B, T, H) or (T, H); ``seq`` picks the sequence; ``length`` cuts padding.
    """
    x, acts = np.asarray(x), np.asarray(acts)
    if x.ndim == 3:
        x, acts = x[seq], acts[seq]
    t = length or x.shape[0]
    x, acts = x[:t], acts[:t]
    kind = window_kind(x.shape[1], kind, frame_shape)
    n = len(units)
    fig = Figure(figsize=(8, 1.6 + 0.7 * n))
    axes = fig.subplots(n + 1, 1, sharex=kind != "frames", squeeze=False,
                        gridspec_kw={"height_ratios": [2.2] + [1] * n})[:, 0]
    if kind == "frames":
        _draw_window(axes[0], x, kind, frame_shape)
    elif kind == "spectrogram":
        axes[0].imshow(x.T, aspect="auto", origin="lower", cmap="magma", extent=[-0.5, t - 0.5, 0, x.shape[1]])
        axes[0].set_ylabel("feature")
    else:
        axes[0].plot(np.arange(t), x, lw=1)
        axes[0].set_ylabel("input")
    m = max(1e-6, float(np.abs(acts[:, list(units)]).max()))
    for ax, u in zip(axes[1:], units):
        a = acts[:, u]
        ax.imshow(a[None], aspect="auto", cmap="RdBu_r", vmin=-m, vmax=m,
                  extent=[-0.5, t - 0.5, -m, m], alpha=0.8)
        ax.plot(np.arange(t), a, color="k", lw=1)
        ax.set_ylim(-m, m)
        ax.set_yticks([])
        ax.set_ylabel(f"unit {u}", rotation=0, ha="right", va="center", fontsize=8)
    axes[-1].set_xlabel("time step")
    fig.suptitle(title or f"unit activity over sequence {seq}")
    return fig


def plot_motifs(motifs: Sequence[Motif], kind: str = "auto", frame_shape=None, max_windows: int = 6,
                title: str = "") -> Figure:
    """One row per unit: its top input windows (best first, activation above each) and their mean."""
    if not motifs:
        raise ValueError("plot_motifs: no motif to draw")
    kind = window_kind(motifs[0].windows.shape[-1], kind, frame_shape)
    cols = min(max_windows, max(len(m.windows) for m in motifs)) + 1
    allw = np.concatenate([m.windows for m in motifs])
    vlim = (float(allw.min()), float(allw.max()))
    width = 1.4 if kind != "frames" else 0.9 * motifs[0].window
    fig = Figure(figsize=(width * cols, 1.3 * len(motifs) + 0.6))
    axes = fig.subplots(len(motifs), cols, squeeze=False)
    for r, m in enumerate(motifs):
        for c in range(cols):
            ax = axes[r, c]
            if c == cols - 1:
                _draw_window(ax, m.mean, kind, frame_shape, vlim)
                ax.set_title("mean", fontsize=7)
            elif c < len(m.windows):
                _draw_window(ax, m.windows[c], kind, frame_shape, vlim)
                ax.set_title(f"{m.scores[c]:.2f}", fontsize=7)
            else:
                ax.axis("off")
        axes[r, 0].set_ylabel(f"unit {m.unit}", fontsize=8)
    fig.suptitle(title or f"top-activating input windows ({motifs[0].window} steps) per unit")
    return fig


def plot_gates(sat: GateSaturation, title: str = "") -> Figure:
    """Top: histogram of each gate's values; bottom: per unit, the fraction of steps left- vs
    right-saturated (Karpathy et al. 2015, Fig. 5)."""
    names = list(sat.left)
    fig = Figure(figsize=(3.2 * len(names), 6))
    axes = fig.subplots(2, len(names), squeeze=False)
    for j, g in enumerate(names):
        ax = axes[0, j]
        ax.hist(sat.values[g], bins=50, range=(0, 1), color=f"C{j}")
        ax.set_yscale("log")
        for v in (sat.low, sat.high):
            ax.axvline(v, color="k", ls=":", lw=1)
        ax.set_title(f"{g} gate")
        ax.set_xlabel("gate value")
        ax = axes[1, j]
        ax.plot([0, 1], [1, 0], color="0.7", lw=1)
        ax.scatter(sat.left[g], sat.right[g], s=12, color=f"C{j}", alpha=0.8)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(f"fraction < {sat.low:g}")
        ax.set_ylabel(f"fraction > {sat.high:g}")
        ax.set_aspect("equal")
    axes[0, 0].set_ylabel("steps x units")
    fig.suptitle(title or "gate saturation")
    fig.tight_layout()
    return fig


def plot_memory_curves(curves: Mapping, title: str = "") -> Figure:
    """Normalised sensitivity against lag, log scale, with each curve's horizon marked.

    ``curves``: name -> :class:`MemoryCurve`, or panel title -> (name -> MemoryCurve) for several panels
    (e.g. ``{"gradient": {...}, "perturbation": {...}}``).
    """
    if not curves:
        raise ValueError("plot_memory_curves: no curve")
    groups = curves if isinstance(next(iter(curves.values())), Mapping) else {"": curves}
    fig = Figure(figsize=(4.6 * len(groups), 3.6))
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (panel, group) in zip(axes, groups.items()):
        thr = 0.01
        for i, (name, c) in enumerate(group.items()):
            v = np.clip(c.normalised, 1e-8, None)
            h = f"≥{c.horizon}" if c.censored else str(c.horizon)
            ax.semilogy(c.lags, v, "-o", ms=2.5, lw=1.3, color=f"C{i}", label=f"{name} (horizon {h})")
            if not c.censored and c.horizon < len(c.lags):
                ax.axvline(c.horizon, color=f"C{i}", ls=":", lw=1)
            thr = c.threshold
        ax.axhline(thr, color="k", ls="--", lw=0.8)
        ax.set_ylim(max(1e-6, thr / 100), 1.5)
        ax.set_xlabel("lag k (steps)")
        ax.set_ylabel("sensitivity / peak")
        ax.set_title(panel)
        ax.legend(fontsize=7)
    fig.suptitle(title or "memory horizon: |d out_t / d x_(t-k)| against k")
    fig.tight_layout()
    return fig


def _pca2(points: np.ndarray, fit_on: np.ndarray):
    mu = fit_on.mean(0)
    _, _, vt = np.linalg.svd(fit_on - mu, full_matrices=False)
    comp = vt[:2] if vt.shape[0] >= 2 else np.vstack([vt, np.zeros_like(vt)])[:2]
    return lambda p: (p - mu) @ comp.T


def plot_attractors(s: AttractorSummary, data=None, data_labels=None, kind: str = "auto", frame_shape=None,
                    max_examples: int = 6, title: str = "") -> Figure:
    """Reverberation end points: PCA map (coloured by class, real items in grey), basin sizes,
    convergence, distance to the data, and the most visited attractors drawn as inputs."""
    end = s.end_points.detach().cpu().numpy().reshape(s.end_points.shape[0], -1)
    cen = s.centers.detach().cpu().numpy().reshape(s.centers.shape[0], -1)
    fig = Figure(figsize=(13, 6.2))
    gs = fig.add_gridspec(2, max(4, max_examples))
    ax = fig.add_subplot(gs[0, 0])
    d = None if data is None else np.asarray(data).reshape(len(data), -1)
    proj = _pca2(end, d if d is not None and len(d) > 2 else end)
    if d is not None:
        pd = proj(d)
        lab = None if data_labels is None else np.asarray(data_labels)
        ax.scatter(pd[:, 0], pd[:, 1], s=4, c="0.75" if lab is None else lab, cmap=_CMAP, vmin=0, vmax=9,
                   alpha=0.35, label="real items")
    pe, pc = proj(end), proj(cen)
    ax.scatter(pe[:, 0], pe[:, 1], s=8, c=s.seed_classes, cmap=_CMAP, vmin=0, vmax=9, marker="x")
    ax.scatter(pc[:, 0], pc[:, 1], s=30 + 300 * s.counts / s.counts.sum(), c=s.classes, cmap=_CMAP,
               vmin=0, vmax=9, edgecolors="k")
    ax.set_title("end points (PCA), colour = class", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    shown = min(s.n_attractors, 40)  # the largest basins
    ax = fig.add_subplot(gs[0, 1])
    ax.bar(np.arange(shown), s.counts[:shown], color=[f"C{c % 10}" for c in s.classes[:shown]])
    ax.set_xticks(np.arange(shown) if shown <= 12 else [])
    ax.set_xlabel("attractor (by basin size)" + (f", largest {shown}" if shown < s.n_attractors else ""))
    ax.set_ylabel("seeds")
    ax.set_title(f"{s.n_attractors} attractors, tol {s.tol:.3g}", fontsize=9)
    ax = fig.add_subplot(gs[0, 2])
    ax.semilogy(np.arange(1, len(s.moves) + 1), np.clip(s.moves, 1e-12, None), "-o", ms=2)
    ax.set_xlabel("re-injection r")
    ax.set_ylabel("RMS ||x(r) - x(r-1)||")
    ax.set_title(f"convergence ({100 * s.converged.mean():.0f}% converged)", fontsize=9)
    ax = fig.add_subplot(gs[0, 3])
    if s.nearest_distance is not None:
        ax.bar(np.arange(shown), s.nearest_distance[:shown], color=[f"C{c % 10}" for c in s.classes[:shown]])
        if s.data_spacing is not None:
            ax.axhline(s.data_spacing, color="k", ls="--", lw=1, label="median NN spacing of data")
            ax.legend(fontsize=7)
        ax.set_xticks(np.arange(shown) if shown <= 12 else [])
        ax.set_xlabel("attractor")
        ax.set_ylabel("RMS distance to nearest real item")
    else:
        ax.text(0.5, 0.5, "no data given", ha="center", va="center")
        ax.axis("off")
    wins = s.centers.detach().cpu().numpy()
    k = window_kind(wins.shape[-1], kind, frame_shape)
    n_ex = min(max_examples, s.n_attractors)
    for i in range(n_ex):
        ax = fig.add_subplot(gs[1, i])
        _draw_window(ax, wins[i], k, frame_shape)
        ax.set_title(f"#{i}: class {s.classes[i]}, {s.counts[i]} seeds", fontsize=8)
    fig.suptitle(title or f"reverberation attractors {s.name}".strip())
    fig.tight_layout()
    return fig


def plot_attractor_evolution(summaries: Sequence[AttractorSummary], num_classes: Optional[int] = None,
                             title: str = "") -> Figure:
    """Across checkpoints (same seeds): which classes the reverberated seeds fall into (stacked
    bars), the number of attractors and the distance to the data."""
    if not summaries:
        raise ValueError("plot_attractor_evolution: no summary")
    c = num_classes or max(int(s.seed_classes.max()) + 1 for s in summaries)
    cov = np.stack([s.class_coverage(c) for s in summaries])  # (K, C)
    names = [s.name or str(i) for i, s in enumerate(summaries)]
    fig = Figure(figsize=(10, 3.6))
    ax1, ax2 = fig.subplots(1, 2)
    bottom = np.zeros(len(summaries))
    for j in range(c):
        ax1.bar(names, cov[:, j], bottom=bottom, color=f"C{j % 10}", label=f"class {j}")
        bottom += cov[:, j]
    ax1.set_ylabel("fraction of seeds")
    ax1.set_title("class of the reverberated end points")
    ax1.legend(fontsize=6, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax2.plot(names, [s.n_attractors for s in summaries], "-o", color="C0")
    ax2.set_ylabel("distinct attractors", color="C0")
    if all(s.nearest_distance is not None for s in summaries):
        ax3 = ax2.twinx()
        ax3.plot(names, [s.summary()["mean_distance_to_data"] for s in summaries], "-s", color="C3")
        ax3.set_ylabel("mean distance to data", color="C3")
    ax2.set_title("attractor landscape")
    fig.suptitle(title or "reverberation across checkpoints")
    fig.tight_layout()
    return fig
