"""Tests that fail when a mechanism of the self-refreshing memory is removed: steering,
reverberation, masking of unknown classes, the plugin's training, calibration."""
import copy

import pytest
import torch
from torch.nn import functional as F

from selfrefresh.generators import Reverberation
from selfrefresh.models import AutoHeteroRNN


@pytest.fixture(scope="module")
def trained():
    """A GRU AutoHeteroRNN trained (class + auto loss) on the 4-class toy sequences."""
    from conftest import toy_sequences
    torch.manual_seed(0)
    x, y = (torch.as_tensor(a) for a in toy_sequences(30, seed=0))
    m = AutoHeteroRNN(3, 16, 4, cell="gru")
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(150):
        out = m.run(x, with_context=False)
        loss = F.cross_entropy(out.logits, y) + F.mse_loss(out.recon, out.recon_target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return m.eval(), x


def _generator(net, x, **kw):
    g = Reverberation(seq_len=x.shape[1], **kw).manual_seed(0)
    return g.configure(net, classes=[0, 1, 2, 3], moments=(x.reshape(-1, 3).mean(0), x.reshape(-1, 3).std(0)))


def test_steering_raises_the_storage_networks_probability_of_the_target_class(trained):
    net, x = trained
    steered = _generator(net, x, reverberations=0, steer_steps=10).sample(64)
    plain = _generator(net, x, reverberations=0, steer_steps=0)
    plain.configure(net, classes=[0, 1, 2, 3])  # same targets drawn, no steering
    unsteered = plain.sample(64)

    def p_target(batch, target):
        return torch.softmax(batch.logits, 1).gather(1, target[:, None]).mean().item()
    target = steered.classes
    assert target is not None and len(target.unique()) > 1
    # steering toward a drawn class makes the network's probability of that class much higher
    # than on unsteered seeds (chance is 0.25); measured about 0.9 vs 0.3
    assert p_target(steered, target) > p_target(unsteered, target) + 0.3


def test_reverberation_moves_seeds_toward_fixed_points_of_the_auto_map(trained):
    net, x = trained
    g = _generator(net, x, reverberations=0, steer_steps=0)
    seeds = g.sample(64).x

    def residual(z):  # distance to being a fixed point: ||A(z) - z|| per step
        with torch.no_grad():
            return (net.reconstruct(z) - z).norm(dim=-1).mean().item()
    r0 = residual(seeds)
    r5 = residual(g.reverberate(seeds, 5))
    r10 = residual(g.reverberate(seeds, 10))
    assert r5 < 0.5 * r0, (r0, r5)
    assert r10 <= r5 + 1e-3, (r5, r10)


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 5.0])
def test_unknown_classes_get_zero_probability_at_any_temperature(temperature):
    from selfrefresh.strategies.losses import masked_teacher_probs
    logits = torch.tensor([[2.0, 1.0, 50.0, -3.0], [0.0, 0.0, 0.0, 9.0]])
    known = torch.tensor([True, False, False, True])
    p = masked_teacher_probs(logits, 6, known, temperature)
    assert p.shape == (2, 6)
    assert torch.all(p[:, [1, 2, 4, 5]] == 0)
    assert torch.allclose(p.sum(1), torch.ones(2))
    assert torch.allclose(p[:, [0, 3]], torch.softmax(logits[:, [0, 3]] / temperature, 1))


def _memory_with_storage(net, **options):
    from selfrefresh.strategies import DualMemory, SelfRefreshConfig
    mem = DualMemory(SelfRefreshConfig(generator_kwargs={"seq_len": 12, "steer_steps": 2}, **options))
    mem.storage = copy.deepcopy(net).eval()
    mem.known = torch.tensor([True, True, False, False])
    mem.current = torch.tensor([2, 3])
    mem.generator.configure(mem.storage, classes=[0, 1])
    mem.pool.fill(32, mem.sample)
    return mem


@pytest.mark.parametrize("options", [{}, {"real_loss": "current"}, {"real_distill_weight": 1.0}])
def test_plugin_loss_in_a_host_strategy_equals_the_strategys_loss(trained, options):
    """The host's cross-entropy + the plugin's part is exactly SelfRefresh's whole loss: the plugin
    trains what the strategy trains (it once left out the auto loss on real data)."""
    net, x = trained
    student = copy.deepcopy(net).train()
    xb, yb = x[:16], torch.tensor([2, 3] * 8)
    mem_a = _memory_with_storage(net, **options)
    mem_b, no_auto = copy.deepcopy(mem_a), copy.deepcopy(mem_a)    # the same pool and draws
    whole = mem_a.training_loss(student, xb, yb)
    host = F.cross_entropy(student(xb), yb)
    plugin = mem_b.training_loss(student, xb, yb, with_class_loss=False)
    assert torch.allclose(whole, host + plugin, atol=1e-5), (whole, host + plugin)
    # and the plugin's part includes the auto loss on real data
    no_auto.config.real_auto_weight = 0.0
    assert plugin.item() > no_auto.training_loss(student, xb, yb, with_class_loss=False).item() + 1e-4


def test_calibration_removes_the_bias_toward_the_newest_classes(trained):
    """After calibration on balanced features, old classes are predicted again."""
    net, x = trained
    from conftest import toy_sequences
    student = copy.deepcopy(net)
    with torch.no_grad():  # a head biased toward the new classes 2 and 3
        student.classifier.bias[2:] += 20.0
    xs, ys = (torch.as_tensor(a) for a in toy_sequences(10, seed=3))
    old = ys < 2
    before = (student(xs[old]).argmax(1) == ys[old]).float().mean().item()
    mem = _memory_with_storage(net, calibrate_steps=200, calibrate_on="both")
    from selfrefresh.strategies.self_refresh.calibration import features_of
    mem.prototypes.record(features_of(net, xs[old]), ys[old])
    new = ys >= 2
    mem._calibrate_head(student, xs[new], ys[new])
    after_old = (student(xs[old]).argmax(1) == ys[old]).float().mean().item()
    after_new = (student(xs[new]).argmax(1) == ys[new]).float().mean().item()
    assert before < 0.1 and after_old > before + 0.5, (before, after_old)
    assert after_new > 0.6, after_new


def test_dual_memory_seeds_from_the_experience_and_restores_its_generator_state():
    from selfrefresh.strategies import DualMemory, SelfRefreshConfig
    torch.manual_seed(0)
    model = AutoHeteroRNN(3, 6, 2, cell="gru")
    mem = DualMemory(SelfRefreshConfig(seeds="current", generator_kwargs={"seq_len": 5}))
    with pytest.raises(ValueError, match="no training data"):
        mem.begin_experience(model, [0, 1], n_train=0, mb_size=4, epochs=1)
    mem.begin_experience(model, [0, 1], n_train=1, mb_size=4, epochs=1)      # one sequence is enough
    mem.storage, mem.known = copy.deepcopy(model).eval(), torch.tensor([True, True])
    real = torch.randn(3, 5, 3)
    mem.begin_experience(model, [2], n_train=3, mb_size=4, epochs=1, real_x=real)
    assert torch.equal(mem.generator.buffer, real)                         # seeds: this experience's data

    class UserGenerator:  # a generator with its own state and no seq_len attribute
        network, loaded = None, None

        def sample(self, n):
            raise NotImplementedError

        def load_state_dict(self, state):
            self.loaded = state

    old = DualMemory(SelfRefreshConfig(generator=UserGenerator()))
    rng = torch.Generator().get_state()
    old.load_state_dict({"generator_rng": rng, "seq_len": 7}, model)        # a checkpoint of an older version
    assert set(old.generator.loaded) == {"rng", "seq_len"} and old.generator.loaded["seq_len"] == 7
    fresh = DualMemory(SelfRefreshConfig(generator_kwargs={"seq_len": 5}))
    fresh.load_state_dict({"seq_len": 9}, model)
    assert fresh.generator.seq_len == 9


class _PlainClassifier(torch.nn.Module):
    """The same network seen as a plain classifier (no .run, no auto head)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)


def test_plugin_adds_its_loss_in_the_host_strategys_backward(trained):
    from types import SimpleNamespace

    from selfrefresh.strategies import SelfRefreshPlugin
    net, x = trained
    student = copy.deepcopy(net).train()
    xb, yb = x[:16], torch.tensor([2, 3] * 8)
    host = F.cross_entropy(student(xb), yb).detach()
    mem = _memory_with_storage(net)
    ref = copy.deepcopy(mem)
    plugin = SelfRefreshPlugin()
    plugin.method = mem
    s = SimpleNamespace(model=student, mb_x=xb, mb_y=yb, loss=host, device="cpu")
    plugin.before_backward(s)
    assert torch.allclose(s.loss, host + ref.training_loss(student, xb, yb, with_class_loss=False), atol=1e-5)
    # a plain classifier: the pseudo-pattern loss on NET2's patterns only
    plain = _PlainClassifier(student)
    s = SimpleNamespace(model=plain, mb_x=xb, mb_y=yb, loss=host, device="cpu")
    plugin.before_backward(s)
    expected = host + ref.pseudo_loss(plain, ref.next_pseudo(16, "cpu"))
    assert torch.allclose(s.loss, expected, atol=1e-5) and s.loss.item() > host.item()
    # before NET2 exists a plain classifier's loss is left as it is
    s = SimpleNamespace(model=plain, mb_x=xb, mb_y=yb, loss=host, device="cpu")
    SelfRefreshPlugin().before_backward(s)
    assert s.loss is host
    # an AutoHeteroRNN gets the auto loss on real data from the first experience on
    s = SimpleNamespace(model=student, mb_x=xb, mb_y=yb, loss=host, device="cpu")
    SelfRefreshPlugin().before_backward(s)
    assert s.loss.item() > host.item() + 1e-4


def _host(current_experience):
    """A model, its experience's data and a stand-in for the host strategy at that experience."""
    from types import SimpleNamespace

    from torch.utils.data import TensorDataset
    torch.manual_seed(0)
    model = AutoHeteroRNN(3, 6, 2, cell="gru")
    data = TensorDataset(torch.randn(10, 5, 3), torch.tensor([0, 1] * 5))
    exp = SimpleNamespace(dataset=data, current_experience=current_experience, classes_in_this_experience=[0, 1])
    return model, data, SimpleNamespace(experience=exp, model=model, train_mb_size=4, train_epochs=1, device="cpu")


def test_plugin_passes_the_experiences_sample_and_sizes_to_the_memory():
    from selfrefresh.strategies import SelfRefreshPlugin
    from selfrefresh.strategies.self_refresh.plugin import experience_sample
    model, data, s = _host(1)
    plugin = SelfRefreshPlugin(seed=3, transfer="pseudo", transfer_steps=1, generator_kwargs={"seq_len": 5})
    plugin.method.storage, plugin.method.known = copy.deepcopy(model).eval(), torch.tensor([True, True])
    plugin.before_training_exp(s)
    x4, _ = experience_sample(data, 512, 3 + 1)                  # seeded by the config's seed + experience
    assert torch.equal(plugin._real[0], x4) and not torch.equal(x4, experience_sample(data, 512, 3 - 1)[0])
    assert torch.equal(plugin.method.generator.buffer, x4)       # seeds: this experience's sequences
    plugin.method.storage = None                                 # NET2 learns NET1's pseudo-patterns from scratch
    plugin.after_training_exp(s)
    assert plugin.storage is not None and plugin.storage is not model
    assert sorted(plugin.method.prototypes.stats) == [0, 1]      # features recorded from the real sample


def test_pseudo_loss_is_the_weighted_sum_of_its_terms():
    """Distinct weights for every term: the loss of each kind of pseudo-pattern is the documented sum."""
    from selfrefresh.generators import label_transitions, label_with
    from selfrefresh.strategies import SelfRefreshConfig
    from selfrefresh.strategies.losses import masked_teacher_probs, soft_target_loss
    from selfrefresh.strategies.self_refresh.pseudo_loss import pseudo_loss
    torch.manual_seed(0)
    teacher, student = AutoHeteroRNN(3, 6, 4, cell="gru").eval(), AutoHeteroRNN(3, 6, 4, cell="gru")
    known = torch.tensor([True, True, False, False])
    w = dict(distill_weight=0.5, auto_weight=2.0, feature_weight=3.0, context_weight=5.0, temperature=2.0)
    cfg = SelfRefreshConfig(pseudo_grad_tail=1.0, **w)  # the whole sequence
    distill = lambda logits, teacher_logits: soft_target_loss(  # noqa: E731
        logits, masked_teacher_probs(teacher_logits, 4, known, 2.0), 2.0)
    seq = label_with(teacher, torch.randn(4, 5, 3))
    out = student.run(seq.x, with_context=False)
    expected = (0.5 * distill(out.logits, seq.logits) + 2.0 * F.mse_loss(out.recon, seq.recon)
                + 3.0 * F.mse_loss(out.features, seq.features))
    assert pseudo_loss(cfg, known, student, seq).item() == pytest.approx(expected.item(), rel=1e-5)
    # the default's gradient through the last half (ceil(5 / 2) = 3 steps): the same final logits,
    # the auto and feature terms over those steps only
    tail = (0.5 * distill(out.logits, seq.logits) + 2.0 * F.mse_loss(out.recon[:, 2:], seq.recon[:, 2:])
            + 3.0 * F.mse_loss(out.features[:, 2:], seq.features[:, 2:]))
    assert pseudo_loss(SelfRefreshConfig(**w), known, student, seq).item() == pytest.approx(tail.item(), rel=1e-5)
    static = Reverberation(teacher, reverberations=1, mode="static").manual_seed(0).sample(4)
    logits, recon, nxt = student.step(static.x, static.context)
    expected = (0.5 * distill(logits, static.logits) + 2.0 * F.mse_loss(recon, static.recon)
                + 5.0 * F.mse_loss(nxt, static.next_context))
    assert pseudo_loss(cfg, known, student, static).item() == pytest.approx(expected.item(), rel=1e-5)
    # transitions: all N * T rows, or a random half of them
    tr = label_transitions(teacher, seq)
    logits, recon, nxt = student.step(tr.x.reshape(20, 3), tr.context.reshape(20, -1))
    expected = (0.5 * distill(logits, tr.step_logits.reshape(20, -1)) + 2.0 * F.mse_loss(recon, tr.recon.reshape(20, -1))
                + 5.0 * F.mse_loss(nxt, tr.next_context.reshape(20, -1)))
    assert pseudo_loss(cfg, known, student, tr).item() == pytest.approx(expected.item(), rel=1e-5)
    half = pseudo_loss(SelfRefreshConfig(transition_fraction=0.5, **w), known, student, tr)
    assert half.dim() == 0 and torch.isfinite(half)


def test_real_class_loss_covers_all_outputs_until_net2_exists():
    from selfrefresh.strategies import DualMemory, SelfRefreshConfig
    mem = DualMemory(SelfRefreshConfig(real_loss="current"))
    mem.current = torch.tensor([2, 3])
    logits, y = torch.tensor([[2.0, 1.0, 0.5, -1.0], [0.0, 3.0, 1.0, 2.0]]), torch.tensor([2, 3])
    assert mem.real_class_loss(logits, y).item() == pytest.approx(F.cross_entropy(logits, y).item())
    mem.storage = torch.nn.Identity()                     # once NET2 exists: the current classes' outputs only
    assert mem.real_class_loss(logits, y).item() == pytest.approx(F.cross_entropy(logits[:, 2:], y - 2).item())


def test_pool_per_class_sets_a_floor_on_the_pool_of_each_experience(trained):
    """pool_per_class: however short the experience, the pool holds that many pseudo-sequences per
    class NET2 knows (the budget-independent memory); without it the pool follows the epochs."""
    net, _ = trained
    sizes = {}
    for per_class in (0, 40):
        mem = _memory_with_storage(net, pool_per_class=per_class, pool_factor=0.05)
        mem.begin_experience(copy.deepcopy(net), [2, 3], n_train=16, mb_size=8, epochs=1)
        sizes[per_class] = len(mem.pool.batch.x)
    assert sizes[0] == 4                     # one minibatch's worth: max(per_batch = 0.5 x 8, 5 % of 2 x 8)
    assert sizes[40] == 40 * 2               # 40 per known class (classes 0 and 1)


def test_real_and_pseudo_sequences_of_one_shape_share_one_pass(trained):
    """forward_train runs NET1 once over real + pseudo sequences when their (T, F) agree and the
    gradient goes through whole pseudo-sequences (the fused pass), and its real logits are those of a
    pass over the real sequences alone. With the default gradient through the last half, the real
    sequences run alone and the pseudo loss makes its own (truncated) pass."""
    net, x = trained
    student = copy.deepcopy(net).train()
    calls = []
    run = student.run

    def counting_run(inp, **kw):
        calls.append(tuple(inp.shape))
        return run(inp, **kw)

    student.run = counting_run
    mem = _memory_with_storage(net, pseudo_grad_tail=1.0)
    logits = mem.forward_train(student, x[:8])
    assert calls == [(12, 12, 3)]            # 8 real + 4 pseudo (pseudo_ratio 0.5) in one pass
    assert torch.allclose(logits, run(x[:8], with_context=False).logits, atol=1e-5)
    assert mem._cache[3] is not None         # the pseudo outputs are kept for the loss
    calls.clear()
    mem, xb = _memory_with_storage(net), x[:8]
    logits = mem.forward_train(student, xb)
    assert calls == [(8, 12, 3)] and mem._cache[3] is None
    assert torch.allclose(logits, run(xb, with_context=False).logits, atol=1e-5)
    mem.training_loss(student, xb, torch.tensor([2, 3] * 4))  # reuses the pass on the same xb
    assert calls == [(8, 12, 3), (4, 6, 3)]  # the 4 pseudo-sequences' last 6 of 12 steps, with a graph


def test_observe_records_the_sequence_length_only_when_the_generator_lacks_one():
    """A generator's unknown seq_len is set from the first real minibatch; a given one is kept, and a
    user's generator without the attribute is left alone."""
    from selfrefresh.strategies import DualMemory, SelfRefreshConfig
    model = AutoHeteroRNN(3, 6, 2, cell="gru")
    x, y = torch.randn(4, 8, 3), torch.tensor([0, 1, 0, 1])
    unknown, given = DualMemory(SelfRefreshConfig()), DualMemory(SelfRefreshConfig(generator_kwargs={"seq_len": 5}))
    for mem in (unknown, given):
        mem.observe(model, x, y, first_epoch=True)
    assert (unknown.generator.seq_len, given.generator.seq_len) == (8, 5)

    class UserGenerator:
        network = None

        def sample(self, n):
            raise NotImplementedError

    user = DualMemory(SelfRefreshConfig(generator=UserGenerator()))
    user.observe(model, x, y, first_epoch=True)
    assert not hasattr(user.generator, "seq_len")


def test_plugin_samples_the_experience_for_current_seeds_even_without_calibration_or_warm_up():
    from selfrefresh.strategies import SelfRefreshPlugin
    _, _, s = _host(0)
    for seeds, sampled in (("current", True), ("noise", False)):
        plugin = SelfRefreshPlugin(seeds=seeds, calibrate_steps=0, warmup_steps=0, generator_kwargs={"seq_len": 5})
        plugin.before_training_exp(s)
        assert (plugin._real is not None) is sampled


def test_dual_memory_checkpoints_its_moments_and_leaves_a_headless_model_alone():
    from selfrefresh.strategies import DualMemory, SelfRefreshConfig
    torch.manual_seed(0)
    model = AutoHeteroRNN(3, 6, 2, cell="gru")
    mem = DualMemory(SelfRefreshConfig(generator_kwargs={"seq_len": 5}))
    mem.moments = [4.0, torch.zeros(3), torch.ones(3)]
    fresh = DualMemory(SelfRefreshConfig(generator_kwargs={"seq_len": 5}))
    fresh.load_state_dict(mem.state_dict(), model)
    assert fresh.moments[0] == 4.0 and torch.equal(fresh.moments[2], torch.ones(3))
    plain = _PlainClassifier(model)
    before = copy.deepcopy(plain.state_dict())
    assert fresh._calibrate_head(plain, torch.randn(4, 5, 3), torch.tensor([0, 1, 0, 1])) is None
    assert all(torch.equal(v, plain.state_dict()[k]) for k, v in before.items())


def test_a_kept_net2_grows_to_net1s_head_before_learning_its_pseudo_patterns():
    from selfrefresh.strategies import DualMemory, SelfRefreshConfig
    torch.manual_seed(0)
    model = AutoHeteroRNN(3, 6, 2, cell="gru")
    mem = DualMemory(SelfRefreshConfig(reset_storage=False, transfer_steps=1, generator_kwargs={"seq_len": 5}))
    mem.storage, mem.known = copy.deepcopy(model).eval(), torch.tensor([True, True])
    model.grow(4)
    kept = mem.storage
    mem._transfer_pseudo(model, torch.tensor([True, True, True, True]), 4, "cpu")
    assert mem.storage is kept and mem.storage.num_classes == 4
    assert mem.storage.classifier.out_features == 4


def test_truncated_pseudo_loss_with_the_mean_readout_distills_the_whole_sequences_logits():
    """readout="mean": the pseudo loss through the last half still distills the logits of the whole
    pseudo-sequence (the beginning's outputs, run without a graph, count in the mean)."""
    from selfrefresh.generators import label_with
    from selfrefresh.strategies import SelfRefreshConfig
    from selfrefresh.strategies.losses import masked_teacher_probs, soft_target_loss
    from selfrefresh.strategies.self_refresh.pseudo_loss import pseudo_loss
    torch.manual_seed(0)
    teacher = AutoHeteroRNN(3, 6, 4, cell="lstm", readout="mean").eval()
    student = AutoHeteroRNN(3, 6, 4, cell="lstm", readout="mean")
    known = torch.tensor([True, True, False, False])
    seq = label_with(teacher, torch.randn(4, 6, 3))
    out = student.run(seq.x, with_context=False)
    distill = soft_target_loss(out.logits, masked_teacher_probs(seq.logits, 4, known, 2.0), 2.0)
    expected = 2.0 * (distill + F.mse_loss(out.recon[:, 3:], seq.recon[:, 3:])   # the default weights 2
                      + F.mse_loss(out.features[:, 3:], seq.features[:, 3:]))
    got = pseudo_loss(SelfRefreshConfig(pseudo_grad_tail=0.5), known, student, seq)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
