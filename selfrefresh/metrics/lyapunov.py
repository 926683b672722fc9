"""Largest Lyapunov exponent: from observed trajectories (Rosenstein) and exactly for Lorenz (Benettin).

A positive exponent means nearby trajectories separate exponentially, |d(t)| ~ |d(0)| e^(lambda t):
the signature of chaos a generator of chaotic trajectories should keep. Lorenz (sigma=10, rho=28,
beta=8/3) has lambda about 0.9056 per time unit.

* :func:`rosenstein_lyapunov` works on any set of observed trajectories (real or generated): it
  pools nearest-neighbour pairs over all of them, so many short generated sequences can be
  measured together, and fits the slope of the mean log-divergence curve.
* :func:`benettin_lorenz` integrates the Lorenz ODE twice from nearby points and renormalises
  (Benettin), giving the reference exponent: the check for the estimator above.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import numpy as np
import torch

from ..dynamics import LORENZ_LYAPUNOV, lyapunov_exponent, simulate

__all__ = ["rosenstein_lyapunov", "benettin_lorenz", "lorenz_trajectories", "LORENZ_LYAPUNOV"]

def lorenz_trajectories(n: int, steps: int, dt: float = 0.02, substeps: int = 4, transient: float = 10.0,
                        sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0,
                        seed: int = 0) -> np.ndarray:
    """n Lorenz trajectories of ``steps`` points spaced ``dt`` (RK4 with ``substeps`` per dt).

    Random initial points, integrated for ``transient`` time units to reach the attractor
    (:func:`selfrefresh.dynamics.simulate`). Returns float64 (n, steps, 3).
    """
    if n < 1 or steps < 1:
        raise ValueError(f"lorenz_trajectories: need n >= 1 and steps >= 1, got n={n}, steps={steps}")
    return simulate("lorenz", n, steps, params=dict(sigma=sigma, rho=rho, beta=beta), dt=dt,
                    max_step=dt / substeps, burn_in=transient, seed=seed)


def benettin_lorenz(t_total: float = 200.0, sigma: float = 10.0, rho: float = 28.0, beta: float = 8.0 / 3.0,
                    seed: int = 0) -> float:
    """Largest Lyapunov exponent of the Lorenz ODE by Benettin's method (the reference a generated
    trajectory's :func:`rosenstein_lyapunov` is compared with; about 0.9056 for the defaults).

    A thin alias of :func:`selfrefresh.dynamics.lyapunov_exponent` for Lorenz.
    """
    return lyapunov_exponent("lorenz", params=dict(sigma=sigma, rho=rho, beta=beta), t_total=t_total,
                             seed=seed)


def _delay_embed(x: np.ndarray, emb_dim: int, lag: int) -> np.ndarray:
    """(B, T, D) -> (B, T - (emb_dim-1) lag, D * emb_dim)."""
    if emb_dim == 1:
        return x
    T = x.shape[1] - (emb_dim - 1) * lag
    if T < 2:
        raise ValueError(f"sequences too short ({x.shape[1]} steps) for emb_dim={emb_dim}, lag={lag}")
    return np.concatenate([x[:, i * lag:i * lag + T] for i in range(emb_dim)], axis=-1)


def rosenstein_lyapunov(trajectories: Union[np.ndarray, torch.Tensor], dt: float, horizon: Optional[int] = None,
                        fit: Optional[Tuple[int, int]] = None, min_tsep: Optional[int] = None,
                        emb_dim: int = 1, lag: int = 1, max_points: int = 2000, seed: int = 0,
                        return_curve: bool = False):
    """Largest Lyapunov exponent from observed trajectories (Rosenstein et al. 1993), per time unit.

    For reference points p, take the nearest other point q (on another trajectory, or on the
    same one more than ``min_tsep`` steps away), follow both for k = 0..horizon steps and average
    log |x_(p+k) - x_(q+k)| over p. The exponent is the slope of that curve against k * dt over
    the steps ``fit = (k0, k1)``.

    Args:
        trajectories: (T,), (T, D) one trajectory, or (B, T, D) a batch; pooled together.
        dt: time between steps.
        horizon: steps followed (default min(T // 3, 50)); fit: slope range (default (1, horizon)).
        min_tsep: temporal separation on the same trajectory (default horizon).
        emb_dim, lag: delay embedding (use emb_dim > 1 for scalar observations).
        max_points: reference points sampled (seeded) to bound the cost.
        return_curve: also return (times (K,), mean log-divergence (K,)).
    """
    x = np.asarray(trajectories.detach().cpu() if isinstance(trajectories, torch.Tensor) else trajectories,
                   dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :, None]
    elif x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError(f"trajectories must be (T,), (T, D) or (B, T, D), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("trajectories contain NaN or inf")
    x = _delay_embed(x, emb_dim, lag)
    B, T, D = x.shape
    horizon = int(horizon or min(T // 3, 50))
    if horizon < 2 or T - horizon < 2:
        raise ValueError(f"sequences of {T} steps are too short for horizon={horizon}")
    fit = fit or (1, horizon)
    if not 0 <= fit[0] < fit[1] <= horizon:
        raise ValueError(f"fit range {fit} must satisfy 0 <= k0 < k1 <= horizon={horizon}")
    min_tsep = horizon if min_tsep is None else int(min_tsep)
    n_start = T - horizon
    pts = torch.from_numpy(x[:, :n_start].reshape(-1, D))           # candidate starts
    traj = torch.arange(B).repeat_interleave(n_start)
    time = torch.arange(n_start).repeat(B)
    rng = np.random.RandomState(seed)
    ref = torch.from_numpy(rng.choice(len(pts), size=min(max_points, len(pts)), replace=False))
    nn_idx = torch.empty(len(ref), dtype=torch.long)
    nn_dist = torch.empty(len(ref), dtype=torch.float64)
    for i in range(0, len(ref), 256):
        r = ref[i:i + 256]
        d = torch.cdist(pts[r], pts)
        close = (traj[r, None] == traj[None]) & ((time[r, None] - time[None]).abs() <= min_tsep)
        d[close] = float("inf")
        nn_dist[i:i + 256], nn_idx[i:i + 256] = d.min(dim=1)
    ok = torch.isfinite(nn_dist) & (nn_dist > 0)
    if ok.sum() < 10:
        raise ValueError("rosenstein_lyapunov: too few valid neighbour pairs (sequences too short or identical?)")
    ref, nn_idx = ref[ok], nn_idx[ok]
    xt = torch.from_numpy(x)
    ks = torch.arange(horizon + 1)
    a = xt[traj[ref, None], time[ref, None] + ks]                   # (P, K, D)
    b = xt[traj[nn_idx, None], time[nn_idx, None] + ks]
    dist = (a - b).norm(dim=-1)
    logd = torch.where(dist > 0, dist.clamp_min(1e-300).log(), torch.tensor(float("nan"), dtype=dist.dtype))
    curve = torch.nanmean(logd, dim=0).numpy()
    times = ks.numpy() * dt
    sl = slice(fit[0], fit[1] + 1)
    slope = float(np.polyfit(times[sl], curve[sl], 1)[0])
    return (slope, times, curve) if return_curve else slope
