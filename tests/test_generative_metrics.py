"""Generative measures and Lyapunov exponents against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from selfrefresh.metrics.generative import (coverage_density, discriminative_score, fit_embedding,
                                            frechet_distance, mmd2_rbf, modes_recovered,
                                            per_class_coverage_density, tstr)
from selfrefresh.metrics.lyapunov import (LORENZ_LYAPUNOV, benettin_lorenz, lorenz_trajectories,
                                          rosenstein_lyapunov)


def test_coverage_density_hand_computed():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [10.0]])
    fake = torch.tensor([[0.5], [20.0]])
    # k=1 radii: 1, 1, 1, 1, 7. fake 0.5 lies in the balls of 0 and 1; fake 20 in none.
    out = coverage_density(real, fake, k=1)
    assert out["density"] == pytest.approx(2 / (1 * 2))
    assert out["coverage"] == pytest.approx(2 / 5)


def test_coverage_exposes_collapse_and_per_class():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 2, generator=g)
    good = torch.randn(200, 2, generator=g)
    collapsed = 0.05 * torch.randn(200, 2, generator=g)       # all fakes near the mean
    c_good = coverage_density(real, good)["coverage"]
    c_bad = coverage_density(real, collapsed)["coverage"]
    assert c_good > 0.9 and c_bad < 0.3
    ry = torch.tensor([0] * 100 + [1] * 100)
    out = per_class_coverage_density(real, ry, good[:100], torch.zeros(100, dtype=torch.long))
    assert out["per_class"][1] == {"coverage": 0.0, "density": 0.0}   # class 1 never generated
    assert out["coverage"] == pytest.approx(out["per_class"][0]["coverage"] / 2)


def test_mmd_unbiased_hand_computed():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    k = lambda d: math.exp(-d * d / 2)
    expected = k(1) + k(2) - 2 * (k(0) + k(2) + k(1) + k(1)) / 4
    assert mmd2_rbf(x, y, bandwidth=1.0) == pytest.approx(expected, abs=1e-12)
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(300, 3, generator=g), torch.randn(300, 3, generator=g)
    assert abs(mmd2_rbf(a, b)) < 0.01                                  # same distribution: ~0, unbiased
    assert mmd2_rbf(a, b + 1.0) > 0.1


def test_frechet_hand_computed():
    assert frechet_distance(np.array([[0.0], [2.0]]), np.array([[3.0], [5.0]])) == pytest.approx(9.0)
    g = np.random.RandomState(0)
    x = g.randn(5000, 2) * [1.0, 2.0]
    y = g.randn(5000, 2) * [3.0, 1.0] + [1.0, 0.0]
    # diagonal covariances: |dmu|^2 + sum (sqrt(a) - sqrt(b))^2 = 1 + 4 + 1
    assert frechet_distance(x, y) == pytest.approx(6.0, rel=0.05)


def test_modes_recovered_hand_computed():
    centers = torch.tensor([[0.0, 0.0], [10.0, 10.0]])
    fake = torch.tensor([[0.1, 0.0], [0.0, 0.2], [10.0, 10.1], [50.0, 50.0]])
    out = modes_recovered(fake, centers, radius=1.0, min_count=2)
    assert out["recovered"] == 1 and list(out["counts"]) == [2, 1]
    assert out["high_quality"] == pytest.approx(0.75)


def _two_class_sequences(n, seed, shift=2.0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 8, 2, generator=g) * 0.5 + shift * y[:, None, None]
    return x, y


def test_discriminative_score_and_tstr():
    real, _ = _two_class_sequences(100, 0, shift=0.0)
    same, _ = _two_class_sequences(100, 1, shift=0.0)
    far = same + 3.0
    assert discriminative_score(real, far, epochs=10) > 0.4
    assert discriminative_score(real, same, epochs=10) < 0.15
    xtr, ytr = _two_class_sequences(80, 2)
    xte, yte = _two_class_sequences(80, 3)
    assert tstr(xtr, ytr, xte, yte, epochs=10) > 0.95
    assert tstr(xtr, 1 - ytr, xte, yte, epochs=10) < 0.05           # labels swapped: learns the opposite
    embed = fit_embedding(xtr, ytr, epochs=5)
    assert embed(xte).shape == (80, 32)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="NaN"):
        mmd2_rbf(torch.tensor([[float("nan")], [0.0]]), torch.zeros(2, 1))
    with pytest.raises(ValueError, match="dimensions"):
        coverage_density(torch.zeros(10, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="more than k"):
        coverage_density(torch.zeros(3, 2), torch.zeros(3, 2), k=5)


def test_benettin_lorenz_matches_known_exponent():
    assert benettin_lorenz(t_total=100.0) == pytest.approx(LORENZ_LYAPUNOV, abs=0.04)


def test_rosenstein_on_lorenz_and_on_a_limit_cycle():
    x = lorenz_trajectories(300, 64, dt=0.05, seed=0)
    lam = rosenstein_lyapunov(x, dt=0.05, horizon=40, fit=(10, 40))
    assert 0.75 < lam < 1.05                                           # true 0.906
    t = np.arange(0, 100, 0.05)
    cycle = np.stack([np.sin(t), np.cos(t), np.sin(2 * t)], -1)       # periodic: exponent ~0
    assert abs(rosenstein_lyapunov(cycle, dt=0.05, horizon=40, fit=(10, 40))) < 0.1
    with pytest.raises(ValueError, match="too short"):
        rosenstein_lyapunov(x[:, :10], dt=0.05, horizon=40)


def test_metric_defaults_and_small_samples():
    from selfrefresh.metrics import generative as G
    real, fake = torch.arange(6.0)[:, None], torch.tensor([[0.2], [9.0]])
    # default k = 5: six real points are enough, five are not
    assert coverage_density(real, fake) == coverage_density(real, fake, k=5)
    with pytest.raises(ValueError, match="more than k=5 real points"):
        coverage_density(real[:5], fake)
    # a class with fewer real points than k uses k = its size - 1
    ry = torch.tensor([0, 0, 0, 1, 1, 1])
    out = per_class_coverage_density(real, ry, fake, torch.tensor([0, 1]), k=5)
    assert out["per_class"][0] == coverage_density(real[:3], fake[:1], k=2)
    # median of the pooled pairwise distances (1, 3, 2 -> 2); a single point: unit bandwidth
    assert G.median_bandwidth(torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0]])) == pytest.approx(2.0)
    assert G.median_bandwidth(torch.tensor([[0.0]]), torch.zeros(0, 1)) == 1.0
    # a fake of the wrong rank is named as the fake
    with pytest.raises(ValueError, match="^fake: expected at least 3 dimensions"):
        discriminative_score(torch.zeros(4, 3, 1), torch.zeros(4, 3))
    # 3 per side with half of them held out leaves 1 to train on: refused
    with pytest.raises(ValueError, match="needs more samples, got 3 per side"):
        discriminative_score(torch.zeros(3, 4, 1), torch.ones(3, 4, 1), test_fraction=0.5)


def test_discriminative_score_trains_the_documented_default_classifier(monkeypatch):
    from selfrefresh.metrics import generative as G
    seen = {}

    def spy(x, y, num_classes=None, **kw):
        seen.update(kw, num_classes=num_classes, n_train=len(x))
        return lambda v: torch.zeros(len(v), 2)          # always "fake"

    monkeypatch.setattr(G, "train_classifier", spy)
    score = discriminative_score(torch.zeros(10, 4, 1), torch.ones(10, 4, 1))
    assert score == pytest.approx(0.0)                   # half the test set right: indistinguishable
    assert seen == {"hidden_size": 32, "epochs": 30, "seed": 0, "num_classes": 2, "n_train": 16}  # 2 of 10 held out


def test_mmd_with_a_bandwidth_other_than_one():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.0], [2.0]])
    k = lambda d: math.exp(-d * d / (2 * 2.0 ** 2))  # noqa: E731 - s = 2
    expected = k(1) + k(2) - 2 * (k(0) + k(2) + k(1) + k(1)) / 4
    assert mmd2_rbf(x, y, bandwidth=2.0) == pytest.approx(expected, abs=1e-12)
    assert mmd2_rbf(x, y, bandwidth=[1.0, 2.0]) == pytest.approx((mmd2_rbf(x, y, 1.0) + expected) / 2, abs=1e-12)


def test_tstr_sizes_the_classifier_for_the_labels_of_both_sets(monkeypatch):
    from selfrefresh.metrics import generative as G
    seen = {}

    def spy(x, y, num_classes=None, **kw):
        seen["num_classes"] = num_classes
        return lambda v: torch.zeros(len(v), num_classes)  # always predicts class 0

    monkeypatch.setattr(G, "train_classifier", spy)
    x = torch.zeros(4, 3, 1)
    assert tstr(x, [0, 1, 0, 1], x, [0, 2, 0, 0]) == pytest.approx(0.75)
    assert seen["num_classes"] == 3                        # real class 2 counts though no fake has it
    tstr(x, [0, 1, 0, 1], x, [0, 1, 0, 0], num_classes=5)
    assert seen["num_classes"] == 5


def test_rosenstein_edges_delay_embedding_and_seed_independence():
    from selfrefresh.metrics.lyapunov import _delay_embed
    with pytest.raises(ValueError, match="need n >= 1 and steps >= 1, got n=0"):
        lorenz_trajectories(0, 5)
    x = np.arange(10.0)[None, :, None]
    emb = _delay_embed(x, emb_dim=3, lag=2)                    # rows (t, t + 2, t + 4), t = 0..5
    assert emb.shape == (1, 6, 3) and emb[0, :, 0].tolist() == list(range(6)) and emb[0, 0].tolist() == [0, 2, 4]
    t = np.arange(0, 20, 0.05)
    cycle = np.stack([np.sin(t), np.cos(t)], -1)
    assert abs(rosenstein_lyapunov(cycle, dt=0.05, horizon=2, fit=(0, 2))) < 0.5   # horizon 2 is allowed
    # every point is a reference (max_points >= points): the seed no longer matters
    lorenz = lorenz_trajectories(30, 64, dt=0.05, seed=0)
    a = rosenstein_lyapunov(lorenz, dt=0.05, horizon=20, max_points=10_000, seed=0)
    assert rosenstein_lyapunov(lorenz, dt=0.05, horizon=20, max_points=10_000, seed=1) == pytest.approx(a, rel=1e-9)


def test_rosenstein_ignores_pairs_that_meet_exactly():
    """Trajectories that reach 0 and stay there have neighbours at distance exactly 0 later on:
    log 0 is left out of the mean divergence (not clamped to a huge negative number)."""
    steps = np.arange(60.0)
    amps = np.linspace(0.5, 1.5, 12)
    meet = amps[:, None] * np.maximum(0.0, 1 - steps / 15)[None]          # all 0 from step 15 on
    waves = np.stack([np.sin(0.3 * steps + p) for p in np.linspace(0, 3, 12)])
    x = np.concatenate([meet, waves])[:, :, None]
    _, _, curve = rosenstein_lyapunov(x, dt=1.0, horizon=20, min_tsep=5, return_curve=True)
    assert np.isfinite(curve).all() and curve.min() > -20


def test_lorenz_trajectories_follow_the_given_ode_with_the_given_step():
    """Each trajectory, from its first point, against an independent high-order integration
    (scipy's DOP853, tolerance 1e-11) of the Lorenz ODE with the parameters passed (not the
    defaults): RK4 with 4 substeps of 0.005 stays within 1e-6 over 25 steps (RK4 with one step
    of 0.02 is ~3e-5 off, the default parameters are off by whole units). One step is allowed."""
    from scipy.integrate import solve_ivp
    s, r, b, dt = 12.0, 20.0, 2.0, 0.02
    x = lorenz_trajectories(3, 26, dt=dt, sigma=s, rho=r, beta=b, transient=1.0, seed=0)
    assert x.shape == (3, 26, 3) and x.dtype == np.float64

    def f(t, v):
        return [s * (v[1] - v[0]), v[0] * (r - v[2]) - v[1], v[0] * v[1] - b * v[2]]

    for traj in x:
        ref = solve_ivp(f, (0, 25 * dt), traj[0], t_eval=np.arange(26) * dt, method="DOP853", rtol=1e-11, atol=1e-11)
        assert np.abs(ref.y.T - traj).max() < 1e-6
    assert lorenz_trajectories(2, 1, seed=3).shape == (2, 1, 3)


def test_rosenstein_excludes_same_trajectory_neighbours_up_to_min_tsep_steps():
    """A helix of period 8 climbing 0.001 per step: the nearest point to any other is exactly one
    turn (8 steps, distance 0.008) away; with min_tsep=8 pairs "more than min_tsep steps away" are
    two turns apart, so the divergence curve starts at log 0.016 and stays there (exponent 0)."""
    t = np.arange(80.0)
    helix = np.stack([np.cos(2 * np.pi * t / 8), np.sin(2 * np.pi * t / 8), 0.001 * t], -1)
    lam, _, curve = rosenstein_lyapunov(helix, dt=1.0, horizon=10, min_tsep=8, return_curve=True)
    assert curve[0] == pytest.approx(math.log(0.016), abs=1e-6) and abs(lam) < 1e-6
    _, _, curve = rosenstein_lyapunov(helix, dt=1.0, horizon=10, min_tsep=7, return_curve=True)
    assert curve[0] == pytest.approx(math.log(0.008), abs=1e-6)


def test_rosenstein_recovers_an_exact_exponent_from_the_shortest_allowed_sequences():
    """x_b(t) = a_b 2^t, a_b = 1 + 0.05 b: every neighbour pair separates as 2^t, so the exponent is
    log 2 per step exactly. T - horizon = 2 start points per sequence is the least allowed."""
    a = 1 + 0.05 * np.arange(12)
    x = (a[:, None] * 2.0 ** np.arange(4.0)[None])[:, :, None]          # (12, 4, 1)
    assert rosenstein_lyapunov(x, dt=1.0, horizon=2) == pytest.approx(math.log(2), rel=1e-9)
    with pytest.raises(ValueError, match="sequences of 4 steps are too short for horizon=3"):
        rosenstein_lyapunov(x, dt=1.0, horizon=3)


def test_train_classifier_standardises_by_the_training_statistics():
    """The returned model keeps the training data's per-feature mean and std (inputs of std 0.01
    and 100 both reach the GRU with unit spread); a constant feature gets a floor, not a division
    by zero."""
    from selfrefresh.metrics.generative import train_classifier
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, 3, generator=g) * torch.tensor([0.01, 100.0, 0.0]) + torch.tensor([2.0, -3.0, 7.0])
    y = torch.arange(16) % 2
    model = train_classifier(x, y, epochs=1, hidden_size=4)
    assert model.rnn.hidden_size == 4 and model.head.out_features == 2 and model(x).shape == (16, 2)
    assert torch.allclose(model.x_mean, x.mean((0, 1)))
    assert torch.allclose(model.x_std[:2], x.std((0, 1))[:2]) and model.x_std[2].item() == pytest.approx(1e-6)
    z = (x - model.x_mean) / model.x_std
    assert torch.allclose(z[..., :2].std((0, 1)), torch.ones(2), atol=1e-5) and torch.isfinite(z).all()


def test_median_bandwidth_is_the_median_distance_floored_at_1e_8():
    from selfrefresh.metrics.generative import median_bandwidth
    x, y = torch.tensor([[0.0], [0.1]]), torch.tensor([[0.2]])      # distances 0.1, 0.2, 0.1
    assert median_bandwidth(x, y) == pytest.approx(0.1)
    assert median_bandwidth(torch.zeros(2, 3), torch.zeros(1, 3)) == 1e-8  # identical points


def test_lorenz_trajectories_defaults_are_the_classic_attractor():
    """Without parameters the trajectories follow sigma=10, rho=28, beta=8/3 (checked against
    scipy's DOP853 at tolerance 1e-11, steps of the default dt=0.02): RK4 stays within 1e-5 over 25
    steps (seen: 8.5e-6), rho=29 is off by 2.8."""
    from scipy.integrate import solve_ivp
    x = lorenz_trajectories(2, 26, transient=1.0, seed=0)

    def f(t, v):
        return [10.0 * (v[1] - v[0]), v[0] * (28.0 - v[2]) - v[1], v[0] * v[1] - 8.0 / 3.0 * v[2]]

    for traj in x:
        ref = solve_ivp(f, (0, 0.5), traj[0], t_eval=np.arange(26) * 0.02, method="DOP853", rtol=1e-11, atol=1e-11)
        assert np.abs(ref.y.T - traj).max() < 1e-5


def test_rosenstein_default_horizon_is_a_third_of_the_sequence():
    """horizon defaults to min(T // 3, 50): 20 steps for T = 60 (the curve has horizon + 1 points);
    on x_b(t) = a_b 2^t the exponent is log 2 per step."""
    a = 1 + 0.05 * np.arange(12)
    x = (a[:, None] * 2.0 ** np.arange(60.0)[None])[:, :, None]
    lam, times, curve = rosenstein_lyapunov(x, dt=1.0, return_curve=True)
    assert len(curve) == 21 and times[-1] == 20.0 and lam == pytest.approx(math.log(2), rel=1e-9)


def test_train_classifier_uses_the_given_learning_rate():
    from selfrefresh.metrics.generative import train_classifier
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 5, 2)), np.arange(20) % 2
    untrained = train_classifier(x, y, epochs=0, seed=3).state_dict()
    still = train_classifier(x, y, epochs=2, lr=0.0, seed=3).state_dict()   # lr 0: Adam moves nothing
    assert all(torch.equal(untrained[k], still[k]) for k in untrained)
    moved = train_classifier(x, y, epochs=2, seed=3).state_dict()
    assert not all(torch.equal(untrained[k], moved[k]) for k in untrained)


def test_benettin_lorenz_passes_its_parameters_on():
    from selfrefresh.dynamics import lyapunov_exponent
    got = benettin_lorenz(t_total=5.0, sigma=9.0, rho=20.0, beta=2.0, seed=1)
    assert got == lyapunov_exponent("lorenz", params=dict(sigma=9.0, rho=20.0, beta=2.0), t_total=5.0, seed=1)
    assert got != benettin_lorenz(t_total=5.0, seed=1)
