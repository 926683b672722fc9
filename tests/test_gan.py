"""Recurrent conditional GAN, baselines, replay plugin and Avalanche GenerativeReplay factory."""
import math
import warnings

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from selfrefresh.generators import ARGenerativeRNN, SequenceVAE
from selfrefresh.strategies.generative_replay import avalanche_generative_replay
from selfrefresh.generators.base import PseudoBatch
from selfrefresh.generators.gan import DivergenceWarning, RecurrentGAN
from selfrefresh.generators.gan_nets import gradient_penalty
from selfrefresh.metrics.generative import coverage_density, modes_recovered

T, F, C = 8, 2, 3


def _data(n=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % C
    t = torch.linspace(0, 1, T)
    x = torch.stack([torch.sin(2 * math.pi * t), torch.cos(2 * math.pi * t)], -1)[None] * (1 + y[:, None, None])
    return x + 0.1 * torch.randn(n, T, F, generator=g), y


def _mixture(n=256, seed=0):
    """One class, four sequence modes (two frequencies x two phases), noise 0.05."""
    t = torch.linspace(0, 1, 16)
    centers = torch.stack([torch.sin(2 * math.pi * f * t + ph)
                           for f, ph in [(1, 0), (1, math.pi), (2, 0), (2, math.pi / 2)]])[:, :, None]
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(4, (n,), generator=g)
    return centers[k] + 0.05 * torch.randn(n, 16, 1, generator=g), torch.zeros(n, dtype=torch.long), centers


@pytest.mark.parametrize("kw", [
    dict(loss="ns"), dict(loss="hinge"), dict(loss="wgan-gp", n_critic=2),
    dict(loss="ns", spectral_norm=True), dict(loss="ns", label_smoothing=0.1), dict(loss="ns", instance_noise=0.5),
    dict(loss="ns", label_flip=0.2), dict(loss="hinge", pack=2), dict(loss="ns", minibatch_std=True),
    dict(loss="ns", moment_matching=1.0, critic_every=2), dict(loss="hinge", critic="rnn", spectral_norm=True),
    dict(loss="wgan-gp", critic="rnn", n_critic=1), dict(loss="ns", cell="lstm"),
])
def test_each_loss_and_stabiliser_runs(kw):
    torch.manual_seed(0)
    x, y = _data()
    gan = RecurrentGAN(T, F, C, hidden_size=8, latent_size=4, noise_size=2, num_layers=1, **kw)
    last = gan.fit(x, y, epochs=2, batch_size=16, eval_every=1, progress=False)
    assert all(math.isfinite(v) for v in last.values())
    assert "quality" in last and {"g_loss", "d_loss"} <= set(last) and gan.diverged is None
    if kw["loss"] == "wgan-gp":
        assert last["gp"] >= 0
    xg, yg = gan.generate(10, classes=torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0]))
    assert xg.shape == (10, T, F) and torch.isfinite(xg).all() and yg.tolist()[:3] == [0, 1, 2]


def test_bad_options_and_inputs_raise():
    with pytest.raises(ValueError, match="loss"):
        RecurrentGAN(T, F, C, loss="lsgan")
    with pytest.raises(ValueError, match="label_smoothing"):
        RecurrentGAN(T, F, C, loss="hinge", label_smoothing=0.1)
    gan = RecurrentGAN(T, F, C, hidden_size=8)
    with pytest.raises(ValueError, match="expected sequences"):
        gan.fit(torch.zeros(4, T + 1, F), torch.zeros(4, dtype=torch.long), epochs=1)
    with pytest.raises(ValueError, match=rf"^RecurrentGAN: labels must be in 0\.\.{C - 1}, got \[{C}\]"):
        gan.fit(torch.zeros(4, T, F), torch.full((4,), C), epochs=1)
    with pytest.raises(ValueError, match="no training sequences"):
        gan.fit(torch.zeros(0, T, F), torch.zeros(0, dtype=torch.long), epochs=1)
    with pytest.raises(ValueError, match="NaN"):
        gan.fit(torch.full((4, T, F), float("nan")), torch.zeros(4, dtype=torch.long), epochs=1)
    with pytest.raises(ValueError, match="unknown class"):
        gan.generate(2, classes=[0, C])


def test_gradient_penalty_on_known_functions():
    w = torch.tensor([[3.0, 4.0], [0.0, 0.0]])          # |w| = 5 -> grad of a linear critic is w everywhere
    real, fake = torch.randn(6, 2, 2), torch.randn(6, 2, 2)
    gp = gradient_penalty(lambda v: (v * w).sum((1, 2)), real, fake)
    assert gp.item() == pytest.approx((5 - 1) ** 2)
    alpha = torch.linspace(0, 1, 6)                     # quadratic critic: grad = x_hat
    gp = gradient_penalty(lambda v: 0.5 * (v ** 2).sum((1, 2)), real, fake, alpha=alpha)
    x_hat = alpha[:, None, None] * real + (1 - alpha[:, None, None]) * fake
    assert gp.item() == pytest.approx(((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)
    # it is differentiable w.r.t. the critic's parameters (double backward)
    lin = nn.Linear(4, 1)
    gp = gradient_penalty(lambda v: lin(v.flatten(1)).squeeze(-1), real, fake)
    gp.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_divergence_stops_cleanly_and_keeps_last_good_generator():
    class Exploding(RecurrentGAN):
        def _train_epoch(self, xn, y, epoch, epochs, batch_size):
            out = super()._train_epoch(xn, y, epoch, epochs, batch_size)
            if epoch == 2:
                with torch.no_grad():
                    next(self.generator.parameters()).fill_(float("nan"))
                out["g_loss"] = float("nan")
            return out

    torch.manual_seed(0)
    x, y = _data()
    gan = Exploding(T, F, C, hidden_size=8, num_layers=1)
    with pytest.warns(DivergenceWarning, match="diverged at epoch 3"):
        gan.fit(x, y, epochs=10, batch_size=16, eval_every=1, progress=False)
    assert gan.diverged and "g_loss=nan" in gan.diverged
    assert len(gan.history) == 3 and gan.history[-1]["diverged"] == 1.0
    assert all(torch.isfinite(p).all() for p in gan.parameters())
    best = min(h["quality"] for h in gan.history[:2])
    assert gan.quality(x, y) == pytest.approx(best, rel=1e-4)   # the best checkpoint was restored
    # a loss blowing past max_loss stops as well
    gan2 = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1)
    with pytest.warns(DivergenceWarning):
        gan2.fit(x, y, epochs=3, batch_size=16, max_loss=1e-6, progress=False)
    assert len(gan2.history) == 1


def _mixture_gan(seed, noise_scale=1.0, epochs=100):
    """The default GAN (MMD term, TTUR 1e-2/5e-3) made small: GRU 32, one layer; 100 epochs x 4 steps of 64."""
    x, y, centers = _mixture(seed=seed)
    torch.manual_seed(seed)
    gan = RecurrentGAN(16, 1, 1, hidden_size=32, num_layers=1, noise_scale=noise_scale)
    gan.fit(x, y, epochs=epochs, batch_size=64, eval_every=25, progress=False, seed=seed)
    torch.manual_seed(1)
    g, _ = gan.generate(400)
    return modes_recovered(g, centers, radius=1.2, min_count=10)["recovered"], g, x


def _single_thread(fn):
    n = torch.get_num_threads()
    torch.set_num_threads(1)                            # results depend on the thread count
    try:
        return fn()
    finally:
        torch.set_num_threads(n)


def test_configured_gan_covers_more_modes_than_a_collapsed_one():
    # ~8 s. Measured with this seed: 4 of 4 modes (configured), 0 or 1 (collapsed: noise_scale=0,
    # a deterministic generator, can hit one mode at most). Margin: configured >= 3.
    found, cover = {}, {}
    for name, noise, epochs in (("configured", 1.0, 100), ("collapsed", 0.0, 10)):
        found[name], g, x = _single_thread(lambda: _mixture_gan(0, noise, epochs))
        cover[name] = coverage_density(x, g)["coverage"]
    assert found["collapsed"] <= 1, found
    assert found["configured"] >= 3, found
    assert found["configured"] - found["collapsed"] >= 2, found
    assert cover["configured"] >= cover["collapsed"], cover


@pytest.mark.slow
def test_mode_coverage_holds_over_seeds_and_needs_the_mmd_term():
    # ~50 s. Measured (1 thread): seeds 0-5 found 4, 4, 3, 3, 4, 3 modes with the MMD term;
    # without it seeds 0, 1, 3, 5 found 0, 2, 2, 0.
    found = [_single_thread(lambda: _mixture_gan(s))[0] for s in range(6)]
    assert min(found) >= 3, found
    x, y, centers = _mixture(seed=0)
    torch.manual_seed(0)
    plain = RecurrentGAN(16, 1, 1, hidden_size=32, num_layers=1, mmd_weight=0.0)
    _single_thread(lambda: plain.fit(x, y, epochs=100, batch_size=64, eval_every=25, progress=False, seed=0))
    torch.manual_seed(1)
    g, _ = plain.generate(400)
    assert modes_recovered(g, centers, radius=1.2, min_count=10)["recovered"] <= 2


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn, self.head = nn.GRU(F, 8, batch_first=True), nn.Linear(8, C)

    def forward(self, x):
        return self.head(self.rnn(x)[0][:, -1])


@pytest.mark.parametrize("cls", [RecurrentGAN, ARGenerativeRNN, SequenceVAE])
def test_protocol_sample_and_continual_update(cls):
    torch.manual_seed(0)
    x, y = _data(60)
    gen = cls(T, F, C, hidden_size=8, update_epochs=2)
    with pytest.raises(RuntimeError, match="network"):
        gen.sample(4)
    old = y < 2
    gen.update(TensorDataset(x[old], y[old], torch.zeros(int(old.sum()))), network=_Net())
    assert gen.seen_classes == [0, 1]
    pb = gen.sample(12)
    assert isinstance(pb, PseudoBatch) and pb.x.shape == (12, T, F) and pb.logits.shape == (12, C)
    assert set(pb.classes.tolist()) <= {0, 1}
    calls = []
    orig = gen.fit
    gen.fit = lambda xx, yy, **kw: (calls.append((xx.shape[0], sorted(set(yy.tolist())))), orig(xx, yy, **kw))[1]
    new = y == 2
    gen.update(TensorDataset(x[new], y[new], torch.zeros(int(new.sum()))))
    n_new = int(new.sum())
    assert calls == [(n_new + 2 * n_new, [0, 1, 2])]    # new data + replay of both old classes
    assert gen.seen_classes == [0, 1, 2]


def test_baselines_learn_the_class_means():
    torch.manual_seed(0)
    x, y = _data(90)
    for gen in (ARGenerativeRNN(T, F, C, hidden_size=16), SequenceVAE(T, F, C, hidden_size=16, lr=1e-2)):
        gen.fit(x, y, epochs=40, batch_size=30, eval_every=40, progress=False)
        xg, _ = gen.generate(90, classes=y)
        scale = [(xg[y == c].abs().mean() / x[y == c].abs().mean()).item() for c in range(C)]
        assert all(0.6 < s < 1.4 for s in scale), (type(gen).__name__, scale)
        assert gen.history[-1]["quality"] < 0.5


def _tiny_stream():
    from avalanche.benchmarks.scenarios.supervised import class_incremental_benchmark

    x, y = _data(60)
    xt, yt = _data(30, seed=1)
    return class_incremental_benchmark({"train": TensorDataset(x, y), "test": TensorDataset(xt, yt)},
                                       class_order=[0, 1, 2], num_classes_per_exp=[2, 1])


def test_gan_replay_plugin_with_an_avalanche_strategy():
    from avalanche.core import SupervisedPlugin
    from avalanche.training.plugins.evaluation import EvaluationPlugin
    from avalanche.training.supervised import Naive

    from selfrefresh.strategies.gan_replay import GANReplayPlugin

    class Spy(SupervisedPlugin):
        sizes = []

        def before_forward(self, strategy, **kw):
            self.sizes.append((strategy.experience.current_experience, len(strategy.mb_x),
                               sorted(set(strategy.mb_y.tolist()))))

    torch.manual_seed(0)
    bench = _tiny_stream()
    gan = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1, update_epochs=2)
    model = _Net()
    strategy = Naive(model=model, optimizer=torch.optim.Adam(model.parameters(), 1e-2), criterion=nn.CrossEntropyLoss(),
                     train_mb_size=10, train_epochs=1, eval_mb_size=30, evaluator=EvaluationPlugin(loggers=[]),
                     plugins=[GANReplayPlugin(gan, mem_ratio=0.5), Spy()])
    for exp in bench.train_stream:
        strategy.train(exp)
    first = [s for s in Spy.sizes if s[0] == 0]
    second = [s for s in Spy.sizes if s[0] == 1]
    assert all(n == 10 for _, n, _ in first)              # no replay before anything was learned
    assert all(n == 15 for _, n, _ in second)             # 10 real + 5 generated
    assert {0, 1} & set().union(*[set(c) for _, _, c in second])
    assert gan.seen_classes == [0, 1, 2]


def test_avalanche_generative_replay_factory_on_sequences():
    from avalanche.training.plugins.evaluation import EvaluationPlugin

    torch.manual_seed(0)
    bench = _tiny_stream()
    model = _Net()
    strategy = avalanche_generative_replay(model, torch.optim.Adam(model.parameters(), 1e-2), seq_len=T,
                                           n_features=F, hidden_size=8, latent_size=4, train_mb_size=10,
                                           train_epochs=1, evaluator=EvaluationPlugin(loggers=[]))
    for exp in bench.train_stream:
        strategy.train(exp)
    res = strategy.eval(bench.test_stream)
    assert isinstance(res, dict)
    sample = strategy.generator_strategy.model.generate(5)
    assert sample.shape == (5, T, F) and torch.isfinite(sample).all()


def test_ar_rnn_nll_is_the_gaussian_nll_and_fit_reports_the_epoch_mean():
    """With a zero output head every step predicts N(0, 1) (or N(0, 2^2) with log std 2 in the bias):
    the NLL is then known in closed form; with lr 0 nothing moves and the epoch's reported NLL is the
    mean of equal minibatches, i.e. the NLL of the standardised training data."""
    torch.manual_seed(0)
    gen = ARGenerativeRNN(T, F, C, hidden_size=8, embed_size=4, lr=0.0)
    with torch.no_grad():
        gen.head.weight.zero_()
        gen.head.bias.zero_()
    x, y = _data(32)
    xn = (x - x.mean((0, 1))) / x.std((0, 1))
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    assert gen.nll(xn, y).item() == pytest.approx(0.5 * (xn ** 2).mean().item() + half_log_2pi, rel=1e-5)
    with torch.no_grad():
        gen.head.bias[F:] = math.log(2.0)                 # sigma = 2 on every feature
    assert gen.nll(xn, y).item() == pytest.approx(0.5 * (xn ** 2).mean().item() / 4 + math.log(2.0) + half_log_2pi,
                                                  rel=1e-5)
    with torch.no_grad():
        gen.head.bias.zero_()
    last = gen.fit(x, y, epochs=1, batch_size=8, eval_every=1, progress=False)   # 4 minibatches of 8
    n = x.shape[0] * T
    assert last["nll"] == pytest.approx(0.5 * (n - 1) / n + half_log_2pi, rel=1e-4)  # unbiased std: mean xn^2 = (n-1)/n


def test_ar_rnn_stacks_its_layers_and_bounds_the_predicted_log_std():
    """num_layers reaches the GRU (the class sets one initial state per layer), and the predicted log
    std is clamped to [min_log_std, 3]: with a zero head and a log-std bias of 5 (or -9) every step
    predicts N(0, e^3) (or N(0, e^-5)), whose NLL is known in closed form."""
    torch.manual_seed(0)
    x, y = _data(16)
    xn = (x - x.mean((0, 1))) / x.std((0, 1))
    deep = ARGenerativeRNN(T, F, C, hidden_size=8, embed_size=4, num_layers=2)
    assert deep.rnn.num_layers == 2 and math.isfinite(deep.nll(xn, y).item())
    assert deep.generate(3, classes=torch.tensor([0, 1, 2]))[0].shape == (3, T, F)
    gen = _frozen_ar_rnn()
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    for bias, log_std in ((5.0, 3.0), (-9.0, -5.0)):
        with torch.no_grad():
            gen.head.bias[F:] = bias
        expected = 0.5 * (xn ** 2).mean().item() * math.exp(-2 * log_std) + log_std + half_log_2pi
        assert gen.nll(xn, y).item() == pytest.approx(expected, rel=1e-5)


def test_gan_defaults_judge_each_sequence_alone_and_each_probability_is_checked():
    """The critic has no minibatch-std feature unless asked (the documented default): a sequence's
    score does not depend on the rest of its batch. label_flip and label_smoothing are checked each
    on its own."""
    torch.manual_seed(0)
    x, y = _data(8)
    gan = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1)
    with torch.no_grad():
        assert torch.allclose(gan.critic(x[:2], y[:2]), gan.critic(x, y)[:2], atol=1e-6)
        with_std = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1, minibatch_std=True)
        assert not torch.allclose(with_std.critic(x[:2], y[:2]), with_std.critic(x, y)[:2], atol=1e-6)
    for kw in (dict(label_flip=0.5), dict(label_flip=-0.1), dict(label_smoothing=1.0)):
        with pytest.raises(ValueError, match=r"need 0 <= label_smoothing < 1 and 0 <= label_flip < 0\.5"):
            RecurrentGAN(T, F, C, hidden_size=8, **kw)


def test_gan_options_reach_the_networks_and_are_checked():
    gan = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1, instance_noise=0.6)
    assert gan.generator.rnn.num_layers == 1
    assert RecurrentGAN(T, F, C, hidden_size=8, num_layers=3).generator.rnn.num_layers == 3
    with pytest.raises(ValueError, match="mmd_bandwidths positive"):
        RecurrentGAN(T, F, C, mmd_bandwidths=(0.5, 0.0))
    # instance noise: full at the first epoch, linear decay to 0 at the last
    assert [gan.instance_noise_std(e, 4) for e in range(4)] == pytest.approx([0.6, 0.4, 0.2, 0.0])
    assert [gan.instance_noise_std(e, 2) for e in range(2)] == pytest.approx([0.6, 0.0])
    assert gan.instance_noise_std(0, 1) == pytest.approx(0.6)
    assert RecurrentGAN(T, F, C, hidden_size=8).instance_noise_std(0, 4) == 0.0


def test_gan_real_batches_are_groups_of_one_class():
    torch.manual_seed(0)
    gan = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1, pack=3)
    y = torch.tensor([2, 0, 1, 2, 2, 0, 1, 1, 0, 2, 1, 0])
    xn = y[:, None, None].float().expand(-1, T, F)       # each sequence holds its class
    gan._start_fit(xn, y)
    for _ in range(20):
        real, cls = gan._real_batch(xn, y, groups=5)
        assert real.shape == (15, T, F)
        assert torch.equal(real[:, 0, 0].view(5, 3), cls[:, None].float().expand(5, 3))


def test_gan_moment_and_mmd_terms_on_hand_made_batches():
    gan = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1, mmd_bandwidths=(1.0,))
    # one sequence per class: the moment term is the squared mean difference (no std term)
    real = torch.zeros(2, T, F)
    fake = torch.stack([torch.full((T, F), -1.0), torch.full((T, F), 3.0)])
    assert gan._moment_loss(real, fake, torch.tensor([0, 1])).item() == pytest.approx((1 + 9) / 2)
    # RBF-MMD^2 (biased), sigma^2 = b^2 * median squared real-fake distance
    r = torch.tensor([[0.0], [1.0]]).expand(2, T * F).reshape(2, T, F)
    f = torch.tensor([[2.0], [4.0]]).expand(2, T * F).reshape(2, T, F)
    flat_r, flat_f = r.flatten(1), f.flatten(1)
    d2 = lambda a, b: float(((a - b) ** 2).sum())  # noqa: E731
    rf = [d2(a, b) for a in flat_r for b in flat_f]
    s2 = 2 * sorted(rf)[(len(rf) - 1) // 2]           # torch's median: the lower of the two middle values
    k = lambda xs, ys: sum(math.exp(-d2(a, b) / s2) for a in xs for b in ys) / (len(xs) * len(ys))  # noqa: E731
    expected = k(flat_r, flat_r) + k(flat_f, flat_f) - 2 * k(flat_r, flat_f)
    assert gan._mmd_loss(r, f, torch.tensor([0, 0])).item() == pytest.approx(expected, rel=1e-5)


def test_gan_losses_match_their_definitions():
    from selfrefresh.generators.gan_nets import discriminator_loss, generator_loss
    d_real, d_fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([-3.0, 0.0, 1.0])
    log_sig = lambda v: torch.log(torch.sigmoid(v))  # noqa: E731
    assert generator_loss("ns", d_fake).item() == pytest.approx(-log_sig(d_fake).mean().item(), rel=1e-5)
    for loss in ("wgan-gp", "hinge"):
        assert generator_loss(loss, d_fake).item() == pytest.approx(2 / 3)  # -E[D(fake)]
    assert generator_loss("hinge", d_real).item() == pytest.approx(-0.5)
    ns = -(log_sig(d_real).mean() + torch.log(1 - torch.sigmoid(d_fake)).mean())
    assert discriminator_loss("ns", d_real, d_fake).item() == pytest.approx(ns.item(), rel=1e-5)
    assert discriminator_loss("wgan-gp", d_real, d_fake).item() == pytest.approx(-2 / 3 - 0.5, rel=1e-5)
    assert discriminator_loss("hinge", d_real, d_fake).item() == pytest.approx((0 + 2 + 0.5) / 3 + (0 + 1 + 2) / 3)


def test_gan_networks_defaults_and_given_noise():
    from selfrefresh.generators.gan_nets import ConvCritic, SequenceGenerator
    torch.manual_seed(0)
    g = SequenceGenerator(T, F, C, hidden_size=8, latent_size=4, noise_size=2, num_layers=1)
    classes, z, noise = torch.tensor([0, 2]), torch.randn(2, 4), torch.randn(2, T, 2)
    assert torch.equal(g(classes, z, noise), g(classes, z, noise))  # given z and noise: deterministic
    assert g(classes).shape == (2, T, F)
    assert g.embed.embedding_dim == 16                              # the signature's default class embedding
    has_sn = lambda m: any(hasattr(mod, "weight_orig") for mod in m.modules())  # noqa: E731
    assert not has_sn(ConvCritic(F, C, channels=4)) and has_sn(ConvCritic(F, C, channels=4, spectral_norm=True))


def _frozen_ar_rnn(**kw):
    """An AR-RNN that learns nothing (lr 0) and predicts N(0, 1) at every step: its NLL is known."""
    gen = ARGenerativeRNN(T, F, C, hidden_size=8, embed_size=4, lr=0.0, **kw)
    with torch.no_grad():
        gen.head.weight.zero_()
        gen.head.bias.zero_()
    return gen


def test_learned_generator_keeps_its_first_standardisation_and_stops_over_max_loss():
    torch.manual_seed(0)
    x, y = _data(32)
    gen = _frozen_ar_rnn()
    gen.fit(x, y, epochs=1, batch_size=8, progress=False)
    mean = x.mean((0, 1))
    assert torch.allclose(gen.x_mean, mean, atol=1e-6)
    gen.fit(10 * x + 5, y, epochs=1, batch_size=8, progress=False)   # later data: same units as the first
    assert torch.allclose(gen.x_mean, mean, atol=1e-6)
    # mean of xn is 0 and mean of xn^2 is (n-1)/n: a mu bias b gives NLL 0.5 ((n-1)/n + b^2) + log(2 pi) / 2
    n = x.shape[0] * T
    base = 0.5 * (n - 1) / n + 0.5 * math.log(2 * math.pi)
    for target, diverges in ((1e4 - 0.5, False), (1e4 + 0.5, True)):
        gen = _frozen_ar_rnn()
        with torch.no_grad():
            gen.head.bias[:F] = math.sqrt(2 * (target - base))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DivergenceWarning)
            last = gen.fit(x, y, epochs=1, batch_size=8, progress=False)     # default max_loss 1e4
        assert last["nll"] == pytest.approx(target, abs=0.05)
        assert (gen.diverged is not None) == diverges
    assert gen.diverged.startswith("ARGenerativeRNN diverged at epoch 1 (nll=1e+04)")


def test_fit_evaluates_every_eval_every_epochs_and_at_the_end_keeping_the_first_best():
    torch.manual_seed(0)
    x, y = _data(24)
    gen = _frozen_ar_rnn()                        # nothing changes: every evaluation gives the same quality
    gen.fit(x, y, epochs=5, batch_size=8, eval_every=2, progress=False)
    assert [e["epoch"] for e in gen.history] == [1, 2, 3, 4, 5]
    assert [e["epoch"] for e in gen.history if "quality" in e] == [2, 4, 5]
    assert len({e["quality"] for e in gen.history if "quality" in e}) == 1
    assert [e["epoch"] for e in gen.history if e.get("best")] == [2]   # later equal scores are not better


def test_update_replays_exactly_the_old_classes_not_in_the_new_data():
    torch.manual_seed(0)
    x, y = _data(60)
    gen = _frozen_ar_rnn(update_epochs=1)
    first = y < 2
    gen.update(TensorDataset(x[first], y[first]), network=_Net())
    labels = []
    orig = gen.fit
    gen.fit = lambda xx, yy, **kw: (labels.append(yy.clone()), orig(xx, yy, **kw))[1]
    second = y >= 1                                       # classes 1 (known) and 2 (new)
    gen.update(TensorDataset(x[second], y[second]))
    n_new = int(second.sum())
    per = math.ceil(n_new / 2)
    assert torch.equal(labels[0][:n_new], y[second])
    assert labels[0][n_new:].tolist() == [0] * per        # replay of class 0 only (1 has real data)


def test_collect_dataset_uses_the_datasets_collate_fn():
    from selfrefresh.generators.learned import collect_dataset

    class Item:
        def __init__(self, i):
            self.x, self.y = torch.full((T, F), float(i)), i % C

    class Objects(torch.utils.data.Dataset):       # items the default collate cannot stack
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return Item(i)

        @staticmethod
        def collate_fn(items):
            return torch.stack([it.x for it in items]), torch.tensor([it.y for it in items])

    x, y = collect_dataset(Objects(), batch_size=2)
    assert x.shape == (5, T, F) and torch.equal(x[:, 0, 0], torch.arange(5.0)) and y.tolist() == [0, 1, 2, 0, 1]


def test_vae_loss_is_the_gaussian_reconstruction_plus_beta_kl():
    """Encoder stats fixed by the bias (mean m, log variance v for every latent) and a zero read-out
    (x_hat = 0): rec = |xn|^2 / (2 obs_std^2) per sequence, KL = L (m^2 + e^v - 1 - v) / 2."""
    torch.manual_seed(0)
    L, m, v = 4, 0.5, -1.0
    vae = SequenceVAE(T, F, C, hidden_size=8, latent_size=L, embed_size=4, obs_std=0.5, beta=2.0, lr=0.0)
    with torch.no_grad():
        vae.to_stats.weight.zero_()
        vae.to_stats.bias.copy_(torch.tensor([m] * L + [v] * L))
        vae.out.weight.zero_()
        vae.out.bias.zero_()
    xn = torch.randn(6, T, F)
    parts = vae.loss(xn, torch.tensor([0, 1, 2, 0, 1, 2]))
    rec = (xn ** 2).sum((1, 2)).mean().item() / (2 * 0.5 ** 2)
    kl = L * (m ** 2 + math.exp(v) - 1 - v) / 2
    assert parts["recon"].item() == pytest.approx(rec, rel=1e-5)
    assert parts["kl"].item() == pytest.approx(kl, rel=1e-5)
    assert parts["loss"].item() == pytest.approx(rec + 2.0 * kl, rel=1e-5)
    # lr 0: nothing moves, and each reported epoch value is the mean of its (equal) minibatches
    x, y = _data(24)
    last = vae.fit(x, y, epochs=1, batch_size=8, progress=False)
    xs = (x - x.mean((0, 1))) / x.std((0, 1))
    assert last["kl"] == pytest.approx(kl, rel=1e-5)
    assert last["recon"] == pytest.approx((xs ** 2).sum((1, 2)).mean().item() / (2 * 0.5 ** 2), rel=1e-4)
    assert last["loss"] == pytest.approx(last["recon"] + 2.0 * kl, rel=1e-5)


def test_vae_latent_reaches_the_decoder_and_its_spread_follows_the_encoder_variance():
    torch.manual_seed(0)
    L = 4
    vae = SequenceVAE(T, F, C, hidden_size=8, latent_size=L, embed_size=4)
    with torch.no_grad():
        vae.decoder.weight_ih_l0.zero_()              # z can reach the decoder only through its initial state
    c = torch.zeros(2, dtype=torch.long)
    assert not torch.allclose(vae.decode(torch.stack([torch.zeros(L), torch.ones(L)]), c)[0],
                              vae.decode(torch.stack([torch.zeros(L), torch.ones(L)]), c)[1], atol=1e-4)

    def spread(logvar):
        with torch.no_grad():
            vae.to_stats.weight.zero_()
            vae.to_stats.bias.copy_(torch.tensor([0.0] * L + [logvar] * L))
        x_hat, mean, lv = vae(torch.zeros(64, T, F))            # the same sequence 64 times
        assert torch.allclose(mean, torch.zeros(64, L)) and torch.allclose(lv, torch.full((64, L), logvar))
        return x_hat.std(0).mean().item()
    assert spread(math.log(9.0)) > 2 * spread(math.log(1 / 9.0))   # z ~ N(0, 9) vs N(0, 1/9)


class _StubGenerator:
    """Generates n sequences of ones labelled 1 (float64 x, int32 y) and records its updates."""

    def __init__(self):
        self.seen = torch.tensor([True, False, False])
        self.updates = []

    def generate(self, n):
        return torch.ones(n, T, F, dtype=torch.float64), torch.ones(n, dtype=torch.int32)

    def update(self, dataset, network=None, epochs=None):
        self.updates.append((dataset, network, epochs))


class _ConstantClassifier(nn.Module):
    """Always predicts class 2."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.0, 0.0, 1.0]))

    def forward(self, x):
        return self.w.expand(len(x), 3)


def test_gan_replay_plugin_extends_each_minibatch():
    from types import SimpleNamespace

    from selfrefresh.strategies.gan_replay import GANReplayPlugin

    def strategy():
        mb = [torch.zeros(4, T, F), torch.zeros(4, dtype=torch.long), torch.full((4,), 7, dtype=torch.long)]
        return SimpleNamespace(mbatch=mb, device="cpu", model=_ConstantClassifier(),
                               experience=SimpleNamespace(dataset="exp-data"))

    gen = _StubGenerator()
    plugin = GANReplayPlugin(gen, mem_ratio=0.5, update_epochs=3)
    assert plugin.old_model is None
    s = strategy()
    plugin.before_training_exp(s)
    assert plugin.old_model is None            # labels="generator": no copy of the model is kept
    plugin.before_training_iteration(s)
    x, y, t = s.mbatch
    assert x.shape == (6, T, F) and x.dtype == torch.float32 and x[4:].eq(1).all()
    assert y.dtype == torch.long and y.tolist() == [0, 0, 0, 0, 1, 1]          # the generator's labels
    assert t.tolist() == [7] * 6                                                # the first task label
    plugin.after_training_exp(s)
    assert gen.updates == [("exp-data", None, 3)]
    # labels="model": a frozen copy of the model taken before the experience labels the replays
    by_model = GANReplayPlugin(gen, mem_ratio=0.5, labels="model")
    s = strategy()
    by_model.before_training_exp(s)
    assert by_model.old_model is not s.model and not by_model.old_model.training
    by_model.before_training_iteration(s)
    assert s.mbatch[1].tolist() == [0, 0, 0, 0, 2, 2]


def test_avalanche_generative_replay_factory_wires_its_arguments():
    from avalanche.training.plugins.evaluation import EvaluationPlugin

    from selfrefresh.strategies.spec import find_plugin
    model = _Net()
    s = avalanche_generative_replay(model, torch.optim.Adam(model.parameters(), 1e-2), seq_len=T, n_features=F,
                                    latent_size=4, generator_lr=0.004, replay_size=7, increasing_replay_size=True,
                                    eval_mb_size=9, train_mb_size=5, evaluator=EvaluationPlugin(loggers=[]))
    g = s.generator_strategy
    assert s.train_epochs == g.train_epochs == 1 and s.eval_mb_size == g.eval_mb_size == 9
    assert s.train_mb_size == g.train_mb_size == 5                  # the solver's and the VAE's minibatches
    assert g.model.vae.encoder.hidden_size == 64                     # the documented default width
    assert g.optimizer.param_groups[0]["lr"] == 0.004
    assert g.evaluator.loggers == []                                 # the generator's training prints nothing
    for plugin in (find_plugin(g, "GenerativeReplayPlugin"), find_plugin(s, "GenerativeReplayPlugin")):
        assert (plugin.replay_size, plugin.increasing_replay_size) == (7, True)


def test_wgan_critic_loss_and_penalty_with_a_constant_critic():
    """A critic that ignores its input and scores 10: E[D(fake)] - E[D(real)] = 0, its input gradient is 0 so
    the penalty is (0 - 1)^2 = 1, and the drift term is 1e-3 * 10^2; lr 0 keeps it so for the epoch."""
    torch.manual_seed(0)
    gan = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1, loss="wgan-gp", n_critic=1, ttur=(0.0, 0.0),
                       gp_weight=10.0)
    with torch.no_grad():
        for p in gan.critic.parameters():
            p.zero_()
        gan.critic.head.linear.bias.fill_(10.0)
    x, y = _data(48)
    last = gan.fit(x, y, epochs=1, batch_size=48, progress=False)   # one critic step
    assert last["gp"] == pytest.approx(1.0)
    assert last["d_loss"] == pytest.approx(10.0 * 1.0 + 1e-3 * 10.0 ** 2, rel=1e-5)


def test_gan_replay_plugin_checks_mem_ratio_and_extends_minibatches_without_task_labels():
    from types import SimpleNamespace

    from selfrefresh.strategies.gan_replay import GANReplayPlugin
    for bad in (0, -0.5):
        with pytest.raises(ValueError, match=rf"^mem_ratio must be > 0, got {bad}$"):
            GANReplayPlugin(_StubGenerator(), mem_ratio=bad)
    # a minibatch of (x, y) only: the replays extend x and y, nothing else is appended
    s = SimpleNamespace(mbatch=[torch.zeros(4, T, F), torch.zeros(4, dtype=torch.long)], device="cpu")
    GANReplayPlugin(_StubGenerator(), mem_ratio=0.5).before_training_iteration(s)
    assert len(s.mbatch) == 2 and s.mbatch[0].shape == (6, T, F)
    assert s.mbatch[1].tolist() == [0, 0, 0, 0, 1, 1]


def test_gan_label_flip_swaps_a_pair_when_its_draw_is_below_the_probability(monkeypatch):
    """label_flip=p swaps a real and a fake sample when a uniform draw u in [0, 1) is < p, so
    that the swap probability is p exactly (torch.rand draws multiples of 2^-24). Draws are
    pinned at p and at the draw just below it; the critic's first input of the step is the real
    (all zero) batch unless swapped."""
    xn, y = torch.zeros(6, T, F), torch.arange(6) % C
    p = 0.25
    for draw, swapped in ((p, False), (p - 2.0 ** -24, True)):
        torch.manual_seed(0)
        gan = RecurrentGAN(T, F, C, hidden_size=8, num_layers=1, label_flip=p, mmd_weight=0.0)
        seen = []
        critic = gan.critic
        gan.critic = _SpyCritic(critic, seen)
        rand = torch.rand
        monkeypatch.setattr(torch, "rand", lambda *size, **kw: torch.full(
            size[0] if len(size) == 1 and isinstance(size[0], tuple) else size, draw, device=kw.get("device")))
        gan._start_fit(xn, y)
        gan._train_epoch(xn, y, 0, 1, batch_size=6)
        monkeypatch.setattr(torch, "rand", rand)
        assert bool(seen[0].eq(0).all()) is not swapped and bool(seen[1].eq(0).all()) is swapped


class _SpyCritic(nn.Module):
    """Records the inputs of a critic."""

    def __init__(self, critic, seen):
        super().__init__()
        self.critic, self.seen = critic, seen

    def forward(self, x, classes):
        self.seen.append(x.detach().clone())
        return self.critic(x, classes)


def test_conv_critic_slope_and_minibatch_std_feature():
    """The conv critic's activations are LeakyReLU(0.2) (DCGAN's slope); the minibatch-std feature
    is the mean over features of the batch's population std (h rows (0, 0), (2, 4): std (1, 2),
    feature 1.5; the sample std would give 2.12)."""
    from selfrefresh.generators.gan_nets import ConvCritic, _ProjectionHead
    critic = ConvCritic(F, C, channels=4, n_layers=3)
    assert [m.negative_slope for m in critic.body if isinstance(m, nn.LeakyReLU)] == [0.2] * 3
    with torch.no_grad():
        v = critic.body(torch.full((1, F, T), -1.0))          # the slope shows on the output too
        pre = critic.body[:-1](torch.full((1, F, T), -1.0))
        assert torch.allclose(v, torch.where(pre > 0, pre, 0.2 * pre))
    head = _ProjectionHead(2, C, spectral_norm=False, minibatch_std=True)
    with torch.no_grad():
        head.linear.weight.copy_(torch.tensor([[0.0, 0.0, 1.0]]))
        head.linear.bias.zero_()
        head.embed.weight.zero_()
        out = head(torch.tensor([[0.0, 0.0], [2.0, 4.0]]), torch.tensor([0, 1]))
    assert out.tolist() == pytest.approx([1.5, 1.5])


def test_learned_generator_progress_bar_is_cleared_at_the_end_of_fit(capsys):
    """With progress=True fit draws a bar on stderr and clears it when it ends (leave=False): the
    generator is fitted after every experience, and its bars would otherwise pile up in the log."""
    x, y = _data(12)
    ARGenerativeRNN(T, F, C, hidden_size=4).fit(x, y, epochs=2, batch_size=12, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "ARGenerativeRNN" in err and "\n" not in err and err.endswith("\r")


def test_avalanche_sequence_vae_lives_on_the_cpu_by_default():
    from selfrefresh.generators.vae import AvalancheSequenceVAE
    vae = AvalancheSequenceVAE(T, F, hidden_size=4, latent_size=2)
    assert vae.device == torch.device("cpu")
    assert vae.generate(3).shape == (3, T, F) and vae.generate().shape == (T, F)


def test_documented_sizes_reach_the_networks_and_an_unlearned_generator_says_so():
    from selfrefresh.generators.vae import AvalancheSequenceVAE
    torch.manual_seed(0)
    # the default hidden_size (64) is the recurrent layers' width
    assert ARGenerativeRNN(5, 3, 2).rnn.hidden_size == 64
    assert RecurrentGAN(5, 3, 2).generator.rnn.hidden_size == 64
    assert AvalancheSequenceVAE(5, 3).vae.encoder.hidden_size == 64
    # hidden, latent and noise sizes go to the GAN's generator as given
    gen = RecurrentGAN(5, 3, 2, hidden_size=12, latent_size=6, noise_size=4).generator
    assert (gen.hidden_size, gen.latent_size, gen.noise_size) == (12, 6, 4)
    g = ARGenerativeRNN(5, 3, 2, hidden_size=4)
    g.network = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="ARGenerativeRNN.sample: the generator has not learned any class yet"):
        g.sample(2)


def test_gan_replay_adds_one_generated_sequence_per_real_one_by_default():
    from types import SimpleNamespace

    from selfrefresh.strategies.gan_replay import GANReplayPlugin
    torch.manual_seed(0)
    g = ARGenerativeRNN(5, 3, 2, hidden_size=4)
    g.seen[0] = True
    mb = [torch.randn(6, 5, 3), torch.zeros(6, dtype=torch.long), torch.zeros(6, dtype=torch.long)]
    GANReplayPlugin(g).before_training_iteration(SimpleNamespace(mbatch=mb, device="cpu"))
    assert [len(t) for t in mb] == [12, 12, 12]
