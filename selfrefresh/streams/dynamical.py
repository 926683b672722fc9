"""A class-incremental stream of dynamical-system trajectories (the Lorenz seed, generalised).

:func:`dynamical_systems` makes a stream whose classes are (system, regime) pairs of
:mod:`selfrefresh.dynamics` (Lorenz, Rossler, Chen; a chaotic and a periodic parameter set each),
integrated by RK4. The systems, the integrator and :func:`lyapunov_exponent` live in
:mod:`selfrefresh.dynamics` and are re-exported here.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..dynamics import (LORENZ_LYAPUNOV, SYSTEMS, DynamicalSystem, lorenz_series, lyapunov_exponent, rk4_integrate,
                        simulate, get_system)
from .base import class_incremental_stream

__all__ = ["DynamicalSystem", "SYSTEMS", "rk4_integrate", "simulate", "lorenz_series", "lyapunov_exponent",
           "dynamical_systems", "LORENZ_LYAPUNOV"]


def dynamical_systems(systems: Sequence[str] = ("lorenz", "rossler", "chen"),
                      regimes: Sequence[str] = ("chaotic", "periodic"), *, n_train_per_class: int = 100,
                      n_test_per_class: int = 50, length: int = 100, dt: Optional[float] = None,
                      max_step: float = 0.01, burn_in: float = 20.0, standardize: Optional[str] = "series",
                      observe: Sequence[int] = (0, 1, 2), noise: float = 0.0, n_experiences: int = 3,
                      class_order: Optional[Sequence[int]] = None, seed: int = 0):
    """Class-incremental stream: which system, in which regime, produced a trajectory?

    Classes are (system, regime) pairs in the order ``systems x regimes`` (names like
    ``"lorenz-chaotic"``). Each series starts from a random initial state, runs ``burn_in`` time
    units unobserved, then ``length`` observations every ``dt`` (default: each system's own step,
    Lorenz 0.1 as in the seed) of the coordinates ``observe``, integrated by RK4 with steps of at
    most ``max_step``.

    Args:
        standardize: ``"series"`` (each series and coordinate to zero mean, unit variance: the
            class must be read from the dynamics, not the scale), ``"global"`` (statistics of the
            first experience's training series) or ``None``.
        noise: std of Gaussian observation noise added after standardisation.

    Returns:
        An Avalanche benchmark, items ``(x, y, t)`` with x (length, len(observe)); attributes
        ``input_size``, ``seq_len``, ``num_classes``, ``class_order``, ``class_names``.
    """
    if standardize not in (None, "series", "global"):
        raise ValueError(f"standardize must be 'series', 'global' or None, got {standardize!r}")
    observe = list(observe)
    if not observe or any(c not in (0, 1, 2) for c in observe):
        raise ValueError(f"observe must list coordinates among 0, 1, 2, got {observe}")
    names, xs_tr, xs_te = [], [], []
    n_cls = n_train_per_class + n_test_per_class
    for i, name in enumerate(systems):
        sys_ = get_system(name)
        for r in regimes:
            if r not in sys_.regimes:
                raise ValueError(f"{name} has no regime {r!r}; choose from {', '.join(sys_.regimes)}")
        # all regimes of a system in one batch: parameters as per-series arrays (N,)
        params = {k: np.repeat([sys_.regimes[r][k] for r in regimes], n_cls) for k in sys_.regimes[regimes[0]]}
        x = simulate(name, n_cls * len(regimes), length, params=params, dt=dt, max_step=max_step,
                     burn_in=burn_in, seed=seed * 1000 + i)[..., observe]
        for j, r in enumerate(regimes):
            names.append(f"{name}-{r}")
            xs_tr.append(x[j * n_cls: j * n_cls + n_train_per_class])
            xs_te.append(x[j * n_cls + n_train_per_class: (j + 1) * n_cls])
    tx, ex = np.concatenate(xs_tr), np.concatenate(xs_te)
    ty = np.repeat(np.arange(len(names)), n_train_per_class)
    ey = np.repeat(np.arange(len(names)), n_test_per_class)
    if standardize == "series":
        tx, ex = ((a - a.mean(1, keepdims=True)) / (a.std(1, keepdims=True) + 1e-8) for a in (tx, ex))
    elif standardize == "global":
        from .base import first_experience_classes
        first = np.isin(ty, first_experience_classes(len(names), n_experiences, class_order, seed))
        mu, sd = tx[first].mean((0, 1)), tx[first].std((0, 1)) + 1e-8
        tx, ex = (tx - mu) / sd, (ex - mu) / sd
    if noise:
        rng = np.random.RandomState(seed + 99991)
        tx, ex = tx + noise * rng.randn(*tx.shape), ex + noise * rng.randn(*ex.shape)
    return class_incremental_stream(tx.astype(np.float32), ty, ex.astype(np.float32), ey,
                                    n_experiences=n_experiences, class_order=class_order, seed=seed,
                                    class_names=names)
