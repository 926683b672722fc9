"""Chaotic and periodic dynamical systems: ODEs, RK4 integration, trajectories, Lyapunov exponents.

Each system (Lorenz, Rossler, Chen) is integrated finely with fourth-order Runge-Kutta and
observed at a coarse step ``dt`` (the Lorenz seed: dt = 0.1, 1000 series of length 1000), from
random initial conditions, with a burn-in discarded. Each has a chaotic and a periodic parameter
set; :func:`lyapunov_exponent` measures which is which. A bottom layer (numpy only): the stream
:func:`selfrefresh.streams.dynamical.dynamical_systems` and the metrics of
:mod:`selfrefresh.metrics.lyapunov` both build on it.
"""
from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Optional, Sequence

import numpy as np

__all__ = ["DynamicalSystem", "SYSTEMS", "rk4_integrate", "simulate", "lorenz_series", "lyapunov_exponent",
           "LORENZ_LYAPUNOV", "get_system"]

#: Largest Lyapunov exponent of Lorenz (sigma=10, rho=28, beta=8/3), as quoted by the seed.
LORENZ_LYAPUNOV = 0.9056


def _lorenz(s, sigma, rho, beta):
    x, y, z = s[..., 0], s[..., 1], s[..., 2]
    return np.stack([sigma * (y - x), x * (rho - z) - y, x * y - beta * z], axis=-1)


def _rossler(s, a, b, c):
    x, y, z = s[..., 0], s[..., 1], s[..., 2]
    return np.stack([-y - z, x + a * y, b + z * (x - c)], axis=-1)


def _chen(s, a, b, c):
    x, y, z = s[..., 0], s[..., 1], s[..., 2]
    return np.stack([a * (y - x), (c - a) * x - x * z + c * y, x * y - b * z], axis=-1)


class DynamicalSystem(NamedTuple):
    """An autonomous ODE ds/dt = f(s, **params) with its regimes.

    f maps states (..., d) to derivatives (..., d); ``regimes`` name parameter sets
    (``"chaotic"``, ``"periodic"``); ``dt`` is the default observation step; initial states are
    drawn as ``init_center + init_spread * N(0, 1)`` (per coordinate); a series leaving the box
    ``|s_i| < bound`` (escaping to infinity) is redrawn.
    """
    f: Callable
    regimes: Dict[str, dict]
    dt: float
    init_center: tuple
    init_spread: tuple
    bound: float


#: The systems, with a chaotic and a periodic regime each. Largest Lyapunov exponents from
#: ``lyapunov_exponent(name, regime, t_total=200)``: Lorenz 0.90 / 0.001 (rho=160),
#: Rossler 0.075 / -0.006 (c=2.5), Chen 2.05 / 0.009 (c=31).
SYSTEMS: Dict[str, DynamicalSystem] = {
    "lorenz": DynamicalSystem(_lorenz, {"chaotic": dict(sigma=10.0, rho=28.0, beta=8 / 3),
                                        "periodic": dict(sigma=10.0, rho=160.0, beta=8 / 3)},
                              0.1, (0.0, 0.0, 25.0), (8.0, 8.0, 8.0), 1000.0),
    "rossler": DynamicalSystem(_rossler, {"chaotic": dict(a=0.2, b=0.2, c=5.7),
                                          "periodic": dict(a=0.2, b=0.2, c=2.5)},
                               0.5, (0.0, 0.0, 0.0), (3.0, 3.0, 0.3), 100.0),
    "chen": DynamicalSystem(_chen, {"chaotic": dict(a=35.0, b=3.0, c=28.0),
                                    "periodic": dict(a=35.0, b=3.0, c=31.0)},
                            0.05, (0.0, 0.0, 20.0), (5.0, 5.0, 5.0), 500.0),
}


def _rk4(f, s, dt, n_steps, substeps, params, burn_in_steps):
    h = dt / substeps
    out = np.empty((s.shape[0], n_steps, s.shape[-1]))
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(burn_in_steps + n_steps):
            if k >= burn_in_steps:
                out[:, k - burn_in_steps] = s
            for _ in range(substeps):
                k1 = f(s, **params)
                k2 = f(s + 0.5 * h * k1, **params)
                k3 = f(s + 0.5 * h * k2, **params)
                k4 = f(s + h * k3, **params)
                s = s + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def rk4_integrate(f: Callable, x0: np.ndarray, dt: float, n_steps: int, substeps: int = 10,
                  params: Optional[dict] = None, burn_in_steps: int = 0) -> np.ndarray:
    """Integrate ds/dt = f(s, **params) by RK4 with step ``dt / substeps``, observing every ``dt``.

    Args:
        x0: initial states (N, d).
        n_steps: observations kept after ``burn_in_steps`` discarded ones.

    Returns:
        (N, n_steps, d) float64; the first row is the state ``burn_in_steps * dt`` after x0
        (x0 itself when there is no burn-in). Raises ``FloatingPointError`` if a series diverges.
    """
    if substeps < 1 or n_steps < 1 or burn_in_steps < 0 or dt <= 0:
        raise ValueError(f"need dt > 0, substeps >= 1, n_steps >= 1, burn_in_steps >= 0; got dt={dt}, "
                         f"substeps={substeps}, n_steps={n_steps}, burn_in_steps={burn_in_steps}")
    x0 = np.array(x0, dtype=np.float64)
    if x0.ndim != 2:
        raise ValueError(f"x0 must be (N, d), got shape {x0.shape}")
    out = _rk4(f, x0, dt, n_steps, substeps, params or {}, burn_in_steps)
    if not np.isfinite(out).all():
        raise FloatingPointError("integration diverged (NaN or inf): use a smaller step or other initial states")
    return out


def get_system(name: str) -> DynamicalSystem:
    """The :class:`DynamicalSystem` registered under ``name`` in :data:`SYSTEMS`."""
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ValueError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}") from None


def simulate(system: str, n: int, length: int, *, regime: str = "chaotic", params: Optional[dict] = None,
             dt: Optional[float] = None, max_step: float = 0.005, burn_in: float = 50.0,
             seed: int = 0) -> np.ndarray:
    """n series of ``length`` observations of a system: (n, length, 3) float64.

    Args:
        regime: a key of the system's ``regimes`` (ignored when ``params`` is given).
        params: the ODE's parameters; each a scalar or a per-series array (n,).
        dt: observation step (default: the system's); integration step at most ``max_step``.
        burn_in: time discarded before the first observation.
        seed: random initial conditions.
    """
    sys_ = get_system(system)
    if params is None:
        if regime not in sys_.regimes:
            raise ValueError(f"{system} has no regime {regime!r}; choose from {', '.join(sys_.regimes)}")
        params = sys_.regimes[regime]
    dt = float(dt or sys_.dt)
    substeps = max(1, int(np.ceil(dt / max_step - 1e-9)))
    rng = np.random.RandomState(seed)
    out = np.full((n, length, 3), np.nan)
    todo = np.arange(n)
    for _ in range(20):  # redraw the initial states that escape to infinity
        x0 = np.asarray(sys_.init_center) + np.asarray(sys_.init_spread) * rng.randn(len(todo), 3)
        sub = {k: (v[todo] if np.ndim(v) else v) for k, v in params.items()}
        out[todo] = _rk4(sys_.f, x0, dt, length, substeps, sub, int(round(burn_in / dt)))
        todo = todo[~(np.isfinite(out[todo]).all((1, 2)) & (np.abs(out[todo]).max((1, 2)) < sys_.bound))]
        if not len(todo):
            return out
    raise FloatingPointError(f"{system} with {params}: {len(todo)} of {n} series diverge from every initial state "
                             f"tried (a smaller max_step may help)")


def lorenz_series(n: int = 1000, length: int = 1000, dt: float = 0.1, *, sigma: float = 10.0, rho: float = 28.0,
                  beta: float = 8 / 3, max_step: float = 0.005, burn_in: float = 50.0, seed: int = 0) -> np.ndarray:
    """Lorenz trajectories as in the seed (dt = 0.1, 1000 series of length 1000): (n, length, 3) float64."""
    return simulate("lorenz", n, length, params=dict(sigma=sigma, rho=rho, beta=beta), dt=dt, max_step=max_step,
                    burn_in=burn_in, seed=seed)


def lyapunov_exponent(system: str, regime: str = "chaotic", *, params: Optional[dict] = None, n: int = 4,
                      t_total: float = 200.0, renorm_every: float = 0.1, step: float = 0.005,
                      d0: float = 1e-8, seed: int = 0) -> float:
    """Largest Lyapunov exponent by Benettin's two-trajectory method (mean over ``n`` starts).

    A reference trajectory and a neighbour at distance ``d0`` are integrated by RK4 (step
    ``step``); every ``renorm_every`` time units the log growth of their distance is accumulated
    and the neighbour pulled back to ``d0``. Positive: chaotic; about 0: periodic.
    Lorenz (10, 28, 8/3) gives about 0.9 (:data:`LORENZ_LYAPUNOV`).
    """
    sys_ = get_system(system)
    params = params if params is not None else sys_.regimes[regime]
    sub = max(1, int(round(renorm_every / step)))
    x = simulate(system, n, 1, params=params, max_step=step, burn_in=50.0, seed=seed)[:, 0]
    rng = np.random.RandomState(seed + 1)
    u = rng.randn(*x.shape)
    y = x + d0 * u / np.linalg.norm(u, axis=1, keepdims=True)
    both = np.concatenate([x, y])
    total, rounds = 0.0, int(round(t_total / (sub * step)))
    for _ in range(rounds):
        both = rk4_integrate(sys_.f, both, sub * step, 1, sub, params, burn_in_steps=1)[:, 0]
        x, y = both[:n], both[n:]
        d = np.linalg.norm(y - x, axis=1, keepdims=True)
        total += np.log(d / d0).mean()
        both = np.concatenate([x, x + (y - x) * (d0 / d)])
    return float(total / (rounds * sub * step))
