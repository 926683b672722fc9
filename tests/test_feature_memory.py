"""The feature statistics of old classes (low-rank Gaussians moved by the drift) and the slow
encoder: exact behaviour on tiny tensors whose right answer is known."""
import copy

import pytest
import torch
from torch.nn import functional as F

from selfrefresh.models import AutoHeteroRNN
from selfrefresh.strategies.self_refresh import SelfRefreshConfig
from selfrefresh.strategies.self_refresh.calibration import ClassFeatureStats
from selfrefresh.strategies.self_refresh.method import DualMemory


def _low_rank_class(n=4000, h=6, seed=0):
    """Features (n, h) of one class: mean 3, variance 4 along one direction, 0.01 elsewhere."""
    g = torch.Generator().manual_seed(seed)
    u = torch.zeros(h)
    u[:2] = torch.tensor([0.6, 0.8])
    f = 3.0 + 2.0 * torch.randn(n, 1, generator=g) * u + 0.1 * torch.randn(n, h, generator=g)
    return f, u


@pytest.mark.parametrize("rank", [0, 1, 3])
def test_stats_keep_the_mean_and_the_per_feature_variance(rank):
    f, _ = _low_rank_class()
    stats = ClassFeatureStats(rank)
    stats.record(f, torch.zeros(len(f), dtype=torch.long))
    torch.manual_seed(1)
    s, labels = stats.sample([0], 20000, "cpu")
    assert s.shape == (20000, 6) and labels.tolist() == [0] * 20000
    assert torch.allclose(s.mean(0), f.mean(0), atol=0.05)
    assert torch.allclose(s.var(0), f.var(0), rtol=0.05, atol=0.005)
    mean, var, basis = stats.stats[0]
    assert basis.shape == (min(rank, len(f) - 1), 6)
    assert stats.numel() == 12 + basis.numel()


def test_rank_keeps_the_correlation_that_a_diagonal_loses():
    f, u = _low_rank_class()
    y = torch.zeros(len(f), dtype=torch.long)
    torch.manual_seed(1)
    corr = {}
    for rank in (0, 1):
        stats = ClassFeatureStats(rank)
        stats.record(f, y)
        s, _ = stats.sample([0], 20000, "cpu")
        corr[rank] = torch.corrcoef(s[:, :2].T)[0, 1].item()
    true = torch.corrcoef(f[:, :2].T)[0, 1].item()
    assert true > 0.9
    assert abs(corr[0]) < 0.05 and abs(corr[1] - true) < 0.03, (corr, true)


def test_rank_is_capped_by_the_samples_of_a_class_and_checked():
    stats = ClassFeatureStats(8)
    stats.record(torch.randn(4, 5), torch.zeros(4, dtype=torch.long))
    assert stats.stats[0][2].shape == (3, 5)  # 4 samples span 3 directions around their mean
    with pytest.raises(ValueError, match="rank"):
        ClassFeatureStats(-1)
    with pytest.raises(ValueError, match="prototype_rank"):
        SelfRefreshConfig(prototype_rank=-2)


def test_stats_survive_a_state_dict_round_trip_and_read_old_two_field_states():
    f, _ = _low_rank_class(200)
    stats = ClassFeatureStats(2)
    stats.record(f, torch.tensor([0, 1] * 100))
    back = ClassFeatureStats(2)
    back.load_state_dict(stats.state_dict())
    for c in (0, 1):
        for a, b in zip(stats.stats[c], back.stats[c]):
            assert torch.equal(a, b)
    old = ClassFeatureStats()
    old.load_state_dict({"3": [torch.ones(6), torch.full((6,), 2.0)]})  # written before the rank existed
    mean, var, basis = old.stats[3]
    assert mean.tolist() == [1.0] * 6 and var.tolist() == [2.0] * 6 and basis.shape == (0, 6)


def test_per_class_drift_moves_each_class_by_its_own_samples():
    stats = ClassFeatureStats()
    stats.record(torch.tensor([[0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0], [1.0, 1.0]]),
                 torch.tensor([0, 0, 1, 1, 2]))
    drift = torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, -1.0]])
    stats.move_per_class(drift, torch.tensor([0, 0, 1]))
    assert stats.stats[0][0].tolist() == [2.0, 0.0]      # mean of its two drifts
    assert stats.stats[1][0].tolist() == [5.0, 4.0]      # its one drift
    assert torch.allclose(stats.stats[2][0], torch.tensor([1 + 4 / 3, 1 - 1 / 3]))  # no sample: overall drift
    stats.move(torch.tensor([[1.0, 1.0], [3.0, 3.0]]))
    assert stats.stats[1][0].tolist() == [7.0, 6.0]


@pytest.mark.parametrize("scale", [0.0, 0.25, 1.0])
def test_slow_encoder_scales_the_encoder_step_and_leaves_the_head_step(scale):
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    x, y = torch.randn(8, 5, 3), torch.tensor([0, 1, 2, 3] * 2)

    def step(model, mem):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        mem.before_update(model)
        opt.step()
        mem.after_update(model)

    mem = DualMemory(SelfRefreshConfig(encoder_lr_scale=scale))
    mem.storage = copy.deepcopy(net)  # the scale applies once NET2 exists
    start, full, slow = copy.deepcopy(net), copy.deepcopy(net), copy.deepcopy(net)
    step(full, DualMemory(SelfRefreshConfig()))
    step(slow, mem)
    for (name, p0), p1, ps in zip(start.named_parameters(), full.parameters(), slow.parameters()):
        want = p1 if name.startswith("classifier") else p0 + scale * (p1 - p0)
        assert torch.allclose(ps, want, atol=1e-6), name
    first = DualMemory(SelfRefreshConfig(encoder_lr_scale=scale))  # no NET2 yet: a full step
    before = copy.deepcopy(net)
    step(before, first)
    for p1, pb in zip(full.parameters(), before.parameters()):
        assert torch.allclose(p1, pb, atol=1e-6)
    with pytest.raises(ValueError, match="encoder_lr_scale"):
        SelfRefreshConfig(encoder_lr_scale=1.5)


def test_slow_encoder_scales_every_step_of_a_model_without_a_class_head():
    """A model with no ``classifier`` attribute: once NET2 exists, every parameter's step is scaled."""
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    mem = DualMemory(SelfRefreshConfig(encoder_lr_scale=0.25))
    mem.storage = copy.deepcopy(net)
    start, full = copy.deepcopy(net), copy.deepcopy(net)
    for model, m in ((full, DualMemory(SelfRefreshConfig())), (net, mem)):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        F.cross_entropy(model(x), y).backward()
        m.before_update(model)
        opt.step()
        m.after_update(model)
    for p0, p1, ps in zip(start.parameters(), full.parameters(), net.parameters()):
        assert not torch.allclose(p1, p0) and torch.allclose(ps, p0 + 0.25 * (p1 - p0), atol=1e-6)


def test_linear_drift_maps_means_directions_and_variances_through_the_fitted_map():
    g = torch.Generator().manual_seed(0)
    f, _ = _low_rank_class(500)
    stats = ClassFeatureStats(1)
    stats.record(f, torch.zeros(len(f), dtype=torch.long))
    mean, var, basis = stats.stats[0]
    a = torch.randn(6, 6, generator=g) * 0.5 + torch.eye(6)
    c = torch.randn(6, generator=g)
    old = torch.randn(300, 6, generator=g)
    stats.move_linear(old, old @ a + c, ridge=1e-9)  # an exact affine drift is recovered
    m2, v2, b2 = stats.stats[0]
    assert torch.allclose(m2, mean @ a + c, atol=1e-4)
    assert torch.allclose(b2, basis @ a, atol=1e-4)
    assert torch.allclose(v2, (a * a).T @ var, atol=1e-4)
    identity = ClassFeatureStats()
    identity.record(f, torch.zeros(len(f), dtype=torch.long))
    before = identity.stats[0][0].clone()
    identity.move_linear(old, old.clone())  # no drift: (almost) nothing moves, ridge shrinks a little
    assert torch.allclose(identity.stats[0][0], before, atol=0.35)
    with pytest.raises(ValueError, match="drift"):
        SelfRefreshConfig(drift="sideways")


@pytest.mark.parametrize("host", ["plugin", "strategy"])
def test_a_frozen_encoder_keeps_its_weights_after_the_first_experience(toy_stream, host):
    """encoder_lr_scale=0 through Avalanche (the plugin in Naive, and SelfRefresh): once NET2 exists,
    the layers below the class head do not move while the head still learns."""
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    from selfrefresh.strategies import SelfRefresh, SelfRefreshPlugin
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    kw = dict(train_mb_size=16, train_epochs=2, evaluator=EvaluationPlugin(accuracy_metrics(epoch=True), loggers=[]))
    options = dict(encoder_lr_scale=0.0, calibrate_steps=0, seed=0)
    if host == "plugin":
        s = Naive(model=net, optimizer=opt, plugins=[SelfRefreshPlugin(**options)], **kw)
    else:
        s = SelfRefresh(model=net, optimizer=opt, **options, **kw)
    s.train(toy_stream.train_stream[0])
    first = {n: p.detach().clone() for n, p in net.named_parameters()}
    s.train(toy_stream.train_stream[1])
    for n, p in net.named_parameters():
        moved = (p - first[n]).abs().max().item()
        if n.startswith("classifier"):
            assert moved > 1e-3, n
        else:
            assert moved == 0.0, (n, moved)


@pytest.mark.parametrize("drift,called", [("mean", "move"), ("pseudo", "move_per_class"), ("linear", "move_linear")])
def test_the_drift_option_picks_how_the_statistics_move(drift, called, monkeypatch):
    from selfrefresh.generators.base import PseudoBatch
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    mem = DualMemory(SelfRefreshConfig(drift=drift))
    mem.storage = copy.deepcopy(net).eval()
    mem.known = torch.tensor([True, True, False, False])
    mem.pool.batch = PseudoBatch(x=torch.randn(6, 5, 3), logits=torch.randn(6, 4))
    calls = []
    for name in ("move", "move_per_class", "move_linear"):
        monkeypatch.setattr(mem.prototypes, name, lambda *a, _n=name, **k: calls.append((_n, a)))
    real_x = torch.randn(4, 5, 3)
    mem._move_prototypes(net, real_x)
    assert [c[0] for c in calls] == [called]
    args = calls[0][1]
    if called == "move":             # drift (N, H) of the real sequences
        assert args[0].shape == (4, 8)
    elif called == "move_per_class":  # drift of the 6 pseudo-sequences, their teacher labels among the known classes
        assert args[0].shape == (6, 8) and set(args[1].tolist()) <= {0, 1}
    else:                             # old and new features of the real and pseudo sequences
        assert args[0].shape == args[1].shape == (10, 8)
        # NET1's features already computed by end_experience are used as given, not computed again
        real_feats, pool_feats = torch.zeros(4, 8), torch.ones(6, 8)
        mem._move_prototypes(net, real_x, real_feats, pool_feats)
        assert torch.equal(calls[1][1][1], torch.cat([real_feats, pool_feats]))
        assert torch.equal(calls[1][1][0], args[0])  # NET2's side unchanged


@pytest.mark.parametrize("bad", [{"distill_weight": float("inf")}, {"real_feature_weight": float("nan")},
                                 {"temperature": float("inf")}, {"calibrate_lr": float("nan")}, {"pool_factor": -1.0}])
def test_config_rejects_non_finite_or_negative_numbers(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        SelfRefreshConfig(**bad)


def test_config_accepts_every_documented_choice():
    for regenerate in ("step", "epoch", "experience"):
        assert SelfRefreshConfig(regenerate=regenerate).regenerate == regenerate
    for drift in ("mean", "pseudo", "linear"):
        assert SelfRefreshConfig(drift=drift).drift == drift
    with pytest.raises(ValueError, match="already makes \\(item, context\\) patterns"):
        SelfRefreshConfig(generator="static", pseudo_learning="transitions")


def test_head_warm_up_trains_only_the_new_classes_rows_on_frozen_features():
    """warmup_steps: before the experience's training, the new classes' head rows learn to separate
    the experience's real sequences on NET1's features; the old rows and the encoder stay as they are."""
    from selfrefresh.strategies.losses import current_classes_ce
    from selfrefresh.strategies.self_refresh.calibration import features_of
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    mem = DualMemory(SelfRefreshConfig(warmup_steps=50, regenerate="step", seed=0))  # no pool to fill here
    mem.storage = copy.deepcopy(net).eval()
    mem.known = torch.tensor([True, True, False, False])
    x = torch.randn(40, 5, 3)
    y = torch.tensor([2, 3] * 20)
    x[y == 2] += 1.0  # two separable new classes
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    cur = torch.tensor([2, 3])
    loss0 = current_classes_ce(net.classifier(features_of(net, x)), y, cur).item()
    mem.begin_experience(net, [2, 3], n_train=40, mb_size=16, epochs=1, real_x=x, real_y=y)
    loss1 = current_classes_ce(net.classifier(features_of(net, x)), y, cur).item()
    assert loss1 < 0.7 * loss0, (loss0, loss1)
    w, b = net.classifier.weight, net.classifier.bias
    assert torch.equal(w[:2], before["classifier.weight"][:2]) and torch.equal(b[:2], before["classifier.bias"][:2])
    assert not torch.allclose(w[2:], before["classifier.weight"][2:])
    for n, p in net.named_parameters():
        if not n.startswith("classifier"):
            assert torch.equal(p, before[n]), n
    # no warm-up before the first experience (nothing to protect) nor when it is off
    fresh = AutoHeteroRNN(3, 8, 4, cell="gru")
    w0 = fresh.classifier.weight.detach().clone()
    DualMemory(SelfRefreshConfig(warmup_steps=50)).begin_experience(fresh, [0, 1], 40, 16, 1, real_x=x, real_y=y - 2)
    assert torch.equal(fresh.classifier.weight, w0)
    with pytest.raises(ValueError, match="warmup_steps"):
        SelfRefreshConfig(warmup_steps=-1)


def test_the_method_draws_from_its_own_generator_not_torchs_global_one():
    """The pool's order, the statistics' samples and the inversion's seeds come from the method's
    generator (seeded by the config): the global RNG is left as it was, and the same seed draws the same."""
    from selfrefresh.generators.base import PseudoBatch

    def run(seed):
        torch.manual_seed(123)
        net = AutoHeteroRNN(3, 8, 4, cell="gru")
        mem = DualMemory(SelfRefreshConfig(seed=seed, invert_steps=2, invert_per_class=3))
        mem.storage = copy.deepcopy(net).eval()
        mem.known = torch.tensor([True, True, False, False])
        mem.current = torch.tensor([2, 3])
        mem.prototypes.record(torch.randn(20, 8), torch.tensor([0, 1] * 10))
        mem.pool.batch = PseudoBatch(x=torch.randn(6, 5, 3), logits=torch.randn(6, 4))
        real_x, real_y = torch.randn(8, 5, 3), torch.tensor([2, 3] * 4)
        state = torch.random.get_rng_state()
        mem._add_inverted(real_x)
        taken = [mem.pool.take(4).x for _ in range(3)] + [mem.pool.take(40).x]
        mem._calibrate_head(net, real_x, real_y)
        assert torch.equal(torch.random.get_rng_state(), state)
        return torch.cat([t.reshape(-1) for t in taken]), net.classifier.weight.detach().clone()

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("new_side", ["real", "both"])
def test_calibration_sees_the_new_classes_through_their_statistics_only_when_asked(new_side, monkeypatch):
    """calibrate_new_on="both": the head's calibration gets, besides NET1's features of the new
    classes' real sequences, as many features per new class drawn from their Gaussian statistics
    (near each class's real mean, not copies of the real rows); "real": the real features alone."""
    import selfrefresh.strategies.self_refresh.method as method
    seen = {}
    monkeypatch.setattr(method, "calibrate_head", lambda head, f, y, steps, lr: seen.update(f=f, y=y, steps=steps))
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    mem = DualMemory(SelfRefreshConfig(calibrate_new_on=new_side, calibrate_on="prototypes", seed=0))
    mem.storage = copy.deepcopy(net).eval()
    mem.known = torch.tensor([True, True, False, False])
    mem.current = torch.tensor([2, 3])
    mem.prototypes.record(torch.randn(20, 8), torch.tensor([0, 1] * 10))
    real_x, real_y = torch.randn(40, 5, 3), torch.tensor([2, 3] * 20)
    real_feats = torch.randn(40, 8) + 5.0 * (real_y == 3).float()[:, None]  # class 3 far from class 2
    mem._calibrate_head(net, real_x, real_y, real_feats=real_feats)
    assert seen["steps"] == SelfRefreshConfig().calibrate_steps
    f, y = seen["f"], seen["y"]
    counts = torch.bincount(y, minlength=4).tolist()
    assert counts[:2] == [20, 20]                                  # old classes: per-class samples of their statistics
    assert counts[2:] == ([20, 20] if new_side == "real" else [40, 40])
    if new_side == "both":
        drawn, drawn_y = f[40:80], y[40:80]
        assert sorted(drawn_y.unique().tolist()) == [2, 3]
        for c in (2, 3):
            assert torch.allclose(drawn[drawn_y == c].mean(0), real_feats[real_y == c].mean(0), atol=0.8)
        assert not any(torch.equal(row, r) for row in drawn for r in real_feats)   # drawn, not copied


def test_the_default_calibration_is_200_steps_with_both_sides_through_statistics():
    cfg = SelfRefreshConfig()
    assert (cfg.calibrate_steps, cfg.calibrate_on, cfg.calibrate_new_on) == (200, "both", "both")
    with pytest.raises(ValueError, match="calibrate_new_on"):
        SelfRefreshConfig(calibrate_new_on="prototypes")
