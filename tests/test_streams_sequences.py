"""Symbolic sequences and dynamical-system streams (small sizes)."""
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from selfrefresh.streams import get_stream
from selfrefresh.streams.dynamical import (LORENZ_LYAPUNOV, SYSTEMS, dynamical_systems, lorenz_series,
                                              lyapunov_exponent, rk4_integrate, simulate)
from selfrefresh.streams.symbolic import (item_codes, make_sequences, next_item_pairs, sample_fragments,
                                             symbolic_sequences)


def _all_xy(stream):
    xs, ys = [], []
    for exp in stream:
        for x, y, t in DataLoader(exp.dataset, batch_size=1024):
            xs.append(x), ys.append(y)
    return torch.cat(xs), torch.cat(ys)


# ---- symbolic ------------------------------------------------------------------------------------
def test_make_sequences_distinct_shared_items_and_deterministic():
    s = make_sequences(8, 6, 10, seed=1)
    assert s.shape == (8, 6) and s.dtype == np.int64 and s.min() >= 0 and s.max() < 10
    assert len({tuple(r) for r in s}) == 8
    assert all(len(set(r)) == 6 for r in s)  # no repeat inside a sequence
    assert len(set(s.ravel())) < 8 * 6  # items are shared across sequences
    assert np.array_equal(s, make_sequences(8, 6, 10, seed=1))
    assert not np.array_equal(s, make_sequences(8, 6, 10, seed=2))
    r = make_sequences(5, 20, 4, seed=0, repeats=True)
    assert r.shape == (5, 20) and (np.diff(r, axis=1) != 0).all()
    with pytest.raises(ValueError, match="repeats=True"):
        make_sequences(3, 12, 5)


def test_next_item_pairs_and_codes():
    s = make_sequences(4, 5, 7, seed=0)
    d = next_item_pairs(s, 7)
    assert d.inputs.shape == (4, 4, 7) and d.targets.shape == (4, 4) and d.target_codes.shape == (4, 4, 7)
    assert np.array_equal(d.inputs.argmax(-1), s[:, :-1]) and np.array_equal(d.targets, s[:, 1:])
    b = item_codes(20, "binary", seed=0)
    assert b.shape == (20, 10) and len({tuple(r) for r in b}) == 20 and set(np.unique(b)) == {0.0, 1.0}
    assert (b.sum(1) == 5).all()
    with pytest.raises(ValueError, match="coding"):
        item_codes(4, "gray")


def test_fragments_are_windows_with_the_requested_noise():
    s = make_sequences(3, 10, 12, seed=0)
    f, y = sample_fragments(s, 50, 4, 12, noise=0.0, seed=0)
    assert f.shape == (150, 4) and np.array_equal(y, np.repeat(np.arange(3), 50))
    for frag, k in zip(f, y):
        assert any(np.array_equal(frag, s[k, i:i + 4]) for i in range(7))
    g, _ = sample_fragments(s, 2000, 10, 12, noise=0.2, seed=0)  # full-length windows: differences = noise
    rate = (g != np.repeat(s, 2000, axis=0)).mean()
    assert abs(rate - 0.2) < 0.01


def test_symbolic_stream():
    bm = get_stream("symbolic")(n_sequences=6, length=8, n_items=10, fragment_length=5, n_train_per_class=7,
                                n_test_per_class=3, n_experiences=3, seed=2)
    assert (bm.input_size, bm.seq_len, bm.num_classes) == (10, 5, 6)
    assert bm.class_names[0] == "sequence-0" and bm.sequences.shape == (6, 8)
    x, y = _all_xy(bm.train_stream)
    assert x.shape == (42, 5, 10) and torch.all(x.sum(-1) == 1)  # one-hot items
    assert [sorted(e.classes_in_this_experience) for e in bm.train_stream] == [[0, 1], [2, 3], [4, 5]]
    x2, _ = _all_xy(symbolic_sequences(n_sequences=6, length=8, n_items=10, fragment_length=5, n_train_per_class=7,
                                       n_test_per_class=3, n_experiences=3, seed=2).train_stream)
    assert torch.equal(x, x2)
    xt, _ = _all_xy(bm.test_stream)
    assert len(xt) == 18 and not torch.equal(xt, x[:18])
    b = symbolic_sequences(n_sequences=4, n_train_per_class=2, n_test_per_class=1, n_experiences=2, coding="binary")
    assert b.input_size == 8


# ---- dynamical -----------------------------------------------------------------------------------
def test_rk4_integrator_is_fourth_order_on_exponential_decay():
    f = lambda s, k: -k * s  # noqa: E731
    exact = np.exp(-1.0)
    errs = [abs(rk4_integrate(f, np.ones((1, 1)), 1.0, 1, substeps=n, params={"k": 1.0},
                              burn_in_steps=1)[0, 0, 0] - exact) for n in (4, 8)]
    assert errs[0] < 1e-4 and 12 < errs[0] / errs[1] < 20  # halving the step divides the error by ~16
    with pytest.raises(FloatingPointError):
        rk4_integrate(lambda s: s ** 3, np.full((1, 1), 10.0), 1.0, 5, substeps=2)


def test_lorenz_series_seed_setting_and_determinism():
    x = lorenz_series(5, 200, dt=0.1, seed=0)
    assert x.shape == (5, 200, 3) and np.isfinite(x).all()
    assert np.array_equal(x, lorenz_series(5, 200, dt=0.1, seed=0))
    assert 5 < x[..., 0].std() < 11 and 15 < x[..., 2].mean() < 30  # on the butterfly attractor
    assert x[..., 0].max() > 5 and x[..., 0].min() < -5  # visits both wings
    # independent series from different initial states
    assert np.abs(x[0] - x[1]).mean() > 1.0


def test_lyapunov_exponent_separates_lorenz_regimes():
    lam = lyapunov_exponent("lorenz", "chaotic", t_total=60, n=2)
    assert abs(lam - LORENZ_LYAPUNOV) < 0.15
    assert abs(lyapunov_exponent("lorenz", "periodic", t_total=60, n=2)) < 0.05


@pytest.mark.slow
def test_every_periodic_regime_is_periodic_and_every_chaotic_one_chaotic():
    for name, sys_ in SYSTEMS.items():
        assert lyapunov_exponent(name, "chaotic", t_total=200) > 0.05, name
        assert abs(lyapunov_exponent(name, "periodic", t_total=200)) < 0.02, name


def test_simulate_redraws_escaping_initial_states():
    x = simulate("rossler", 200, 20, regime="periodic", seed=0)  # some N(0, spread) starts escape
    assert np.isfinite(x).all() and np.abs(x).max() < 50


def test_dynamical_stream():
    bm = get_stream("dynamical")(n_train_per_class=6, n_test_per_class=3, length=40, n_experiences=3)
    assert (bm.input_size, bm.seq_len, bm.num_classes) == (3, 40, 6)
    assert bm.class_names == ["lorenz-chaotic", "lorenz-periodic", "rossler-chaotic", "rossler-periodic",
                              "chen-chaotic", "chen-periodic"]
    x, y = _all_xy(bm.train_stream)
    assert x.shape == (36, 40, 3) and x.dtype == torch.float32
    assert torch.allclose(x.mean(1), torch.zeros(36, 3), atol=1e-4)  # per-series standardisation
    assert torch.allclose(x.std(1, unbiased=False), torch.ones(36, 3), atol=1e-3)
    one = dynamical_systems(systems=("lorenz",), n_train_per_class=4, n_test_per_class=2, length=30,
                            observe=(0,), standardize=None, n_experiences=1, seed=5)
    xo, yo = _all_xy(one.train_stream)
    assert one.input_size == 1 and one.num_classes == 2
    # unstandardised: the periodic regime (rho = 160) has a far larger amplitude than rho = 28
    assert xo[yo == 1].abs().max() > 2 * xo[yo == 0].abs().max()
    g = dynamical_systems(systems=("lorenz",), n_train_per_class=4, n_test_per_class=2, length=30,
                          standardize="global", n_experiences=2)
    assert g.input_size == 3
    with pytest.raises(ValueError, match="unknown system"):
        dynamical_systems(systems=("duffing",))
    with pytest.raises(ValueError, match="no regime"):
        dynamical_systems(regimes=("chaotic", "quasi"))
