"""Model inversion of the old classes' statistics (selfrefresh/strategies/self_refresh/inversion.py)
and its use after an experience: seeded, with stated margins."""
import copy

import pytest
import torch
from torch.nn import functional as F

from selfrefresh.generators.base import PseudoBatch
from selfrefresh.models import AutoHeteroRNN
from selfrefresh.strategies.self_refresh import SelfRefreshConfig
from selfrefresh.strategies.self_refresh.inversion import invert_features
from selfrefresh.strategies.self_refresh import method as mem_module
from selfrefresh.strategies.self_refresh.method import DualMemory


def _net(seed=0):
    torch.manual_seed(seed)
    return AutoHeteroRNN(3, 8, 4, cell="gru").eval()


def test_inversion_brings_the_features_to_their_targets_and_leaves_the_network_alone():
    net = _net()
    g = torch.Generator().manual_seed(1)
    seeds, other = torch.randn(12, 6, 3, generator=g), torch.randn(12, 6, 3, generator=g)
    targets = net.features(other).detach()         # reachable targets: features of other sequences
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    flags = [p.requires_grad for p in net.parameters()]
    err0 = F.mse_loss(net.features(seeds), targets).item()
    x = invert_features(net, seeds, targets, steps=100, lr=0.05)
    err = F.mse_loss(net.features(x), targets).item()
    assert x.shape == seeds.shape and not x.requires_grad
    assert err < 0.2 * err0, (err0, err)           # the distance falls by more than 5x
    assert not torch.equal(x, seeds)
    for n, p in net.named_parameters():
        assert torch.equal(p, before[n]), n
    assert [p.requires_grad for p in net.parameters()] == flags
    assert not net.training


def test_inversion_with_no_step_returns_the_seeds_and_checks_shapes():
    net = _net()
    seeds = torch.randn(4, 6, 3)
    assert torch.equal(invert_features(net, seeds, torch.zeros(4, 8), steps=0, lr=0.1), seeds)
    with pytest.raises(ValueError, match="seeds must be"):
        invert_features(net, seeds, torch.zeros(3, 8), steps=1, lr=0.1)
    with pytest.raises(ValueError, match="seeds must be"):
        invert_features(net, seeds[0], torch.zeros(4, 8), steps=1, lr=0.1)


def _memory(invert_steps, per_class=5):
    net = _net()
    mem = DualMemory(SelfRefreshConfig(invert_steps=invert_steps, invert_per_class=per_class, invert_lr=0.05))
    mem.storage = copy.deepcopy(net).eval()
    mem.known = torch.tensor([True, True, False, False])
    mem.current = torch.tensor([2, 3])
    g = torch.Generator().manual_seed(2)
    old_x = torch.randn(40, 6, 3, generator=g)
    mem.prototypes.record(net.features(old_x).detach(), torch.arange(40) % 2)   # classes 0 and 1
    mem.pool.batch = PseudoBatch(x=torch.randn(6, 6, 3, generator=g), logits=torch.randn(6, 4, generator=g))
    return net, mem, torch.randn(10, 6, 3, generator=g)


def test_inverted_sequences_join_the_pool_labelled_by_their_target_class():
    net, mem, real_x = _memory(invert_steps=30)
    pool_x, pool_labels = mem.pool.batch.x.clone(), mem.pool.batch.logits[:, :2].argmax(1)
    drawn = []
    sample = mem.prototypes.sample
    mem.prototypes.sample = lambda *a: drawn.append(sample(*a)) or drawn[-1]
    seeds = []
    invert = mem_module.invert_features
    mem_module.invert_features = lambda net_, s, *a: seeds.append(s) or invert(net_, s, *a)
    try:
        torch.manual_seed(3)
        mem._add_inverted(real_x)
    finally:
        mem_module.invert_features = invert
    batch = mem.pool.batch
    assert batch.x.shape == (6 + 2 * 5, 6, 3)
    assert torch.equal(batch.x[:6], pool_x)                           # the pool is kept, first
    labels = batch.logits.argmax(1)
    assert torch.equal(labels[:6], pool_labels)                       # with its teacher labels
    assert labels[6:].tolist() == [0] * 5 + [1] * 5                   # then 5 per old class
    targets, target_labels = drawn[0]
    assert target_labels.tolist() == labels[6:].tolist()
    # NET2's features of the inverted sequences are far nearer their targets than the seeds' were
    err = F.mse_loss(net.features(batch.x[6:]), targets).item()
    err0 = F.mse_loss(net.features(seeds[0]), targets).item()
    assert err < 0.5 * err0, (err0, err)
    assert all(any(torch.equal(s, r) for r in real_x) for s in seeds[0])   # seeds are real sequences
    # invert_tail=0.5 (the default): the first half of each inverted sequence is its seed's, the rest steered
    assert mem.config.invert_tail == 0.5
    assert torch.equal(batch.x[6:, :3], seeds[0][:, :3])
    assert not torch.equal(batch.x[6:, 3:], seeds[0][:, 3:])


def test_no_inversion_leaves_the_pool_and_end_experience_uses_it(monkeypatch):
    _, mem, real_x = _memory(invert_steps=0)
    called = []
    monkeypatch.setattr(mem, "_add_inverted", lambda x: called.append(len(x)))
    net = _net()
    mem.end_experience(net, [2, 3], 4, "cpu", real_x=real_x, real_y=torch.tensor([2, 3] * 5))
    assert called == []
    _, mem, real_x = _memory(invert_steps=3)
    monkeypatch.setattr(mem, "_add_inverted", lambda x: called.append(len(x)))
    mem.end_experience(_net(), [2, 3], 4, "cpu", real_x=real_x, real_y=torch.tensor([2, 3] * 5))
    assert called == [10]


@pytest.mark.parametrize("bad", [{"invert_steps": -1}, {"invert_per_class": 1.5}, {"invert_lr": 0.0},
                                 {"invert_lr": float("nan")}])
def test_config_checks_the_inversion_options(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SelfRefreshConfig(**bad)


def test_truncated_inversion_keeps_the_beginning_and_steers_the_end_toward_the_targets():
    net = _net()
    g = torch.Generator().manual_seed(4)
    seeds, other = torch.randn(12, 6, 3, generator=g), torch.randn(12, 6, 3, generator=g)
    targets = net.features(other).detach()
    err0 = F.mse_loss(net.features(seeds), targets).item()
    x = invert_features(net, seeds, targets, steps=100, lr=0.05, grad_steps=2)
    assert x.shape == seeds.shape and not x.requires_grad
    assert torch.equal(x[:, :4], seeds[:, :4])                       # the first T - k steps are the seeds'
    assert not torch.equal(x[:, 4:], seeds[:, 4:])
    assert F.mse_loss(net.features(x), targets).item() < 0.5 * err0  # the distance at least halves
    # k >= T is the whole-sequence inversion, value for value
    full = invert_features(net, seeds, targets, steps=5, lr=0.05)
    assert torch.equal(invert_features(net, seeds, targets, steps=5, lr=0.05, grad_steps=6), full)
    for bad in (0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="invert_tail"):
            SelfRefreshConfig(invert_tail=bad)


def test_truncated_inversion_with_the_mean_readout_steers_the_mean_over_every_step():
    """With readout="mean" the target is the mean over all steps: the kept beginning's outputs count."""
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 6, 2, cell="gru", readout="mean").eval()
    g = torch.Generator().manual_seed(4)
    seeds, other = torch.randn(12, 6, 3, generator=g), torch.randn(12, 6, 3, generator=g)
    targets = net.features(other).detach()
    err0 = F.mse_loss(net.features(seeds), targets).item()
    x = invert_features(net, seeds, targets, steps=100, lr=0.05, grad_steps=2)
    assert torch.equal(x[:, :4], seeds[:, :4])
    # about 0.11 of the first distance (0.46 when the beginning's outputs are left out of the mean)
    assert F.mse_loss(net.features(x), targets).item() < 0.25 * err0


def test_frozen_restores_each_flag_and_the_mode_even_after_an_error():
    from selfrefresh.nn import frozen
    net = _net()
    net.train()
    params = list(net.parameters())
    params[0].requires_grad_(False)                                  # a flag the user set stays set
    flags = [p.requires_grad for p in params]
    with pytest.raises(RuntimeError, match="inside"):
        with frozen(net):
            assert not net.training and not any(p.requires_grad for p in net.parameters())
            raise RuntimeError("inside")
    assert net.training and [p.requires_grad for p in params] == flags


def test_inversion_by_chunks_gives_the_result_of_one_batch():
    """Each sequence's inversion depends on it alone and each chunk's loss is weighted by its
    share: chunks of 5 over 12 sequences give the one-batch result (to float rounding)."""
    net = _net()
    g = torch.Generator().manual_seed(3)
    seeds, targets = torch.randn(12, 6, 3, generator=g), torch.randn(12, 8, generator=g)
    whole = invert_features(net, seeds, targets, steps=10, lr=0.05, grad_steps=3, chunk=None)
    chunked = invert_features(net, seeds, targets, steps=10, lr=0.05, grad_steps=3, chunk=5)
    assert not torch.equal(whole, seeds)
    torch.testing.assert_close(chunked, whole, atol=1e-6, rtol=1e-5)
    with pytest.raises(ValueError, match="chunk must be None or >= 1"):
        invert_features(net, seeds, targets, steps=1, lr=0.05, chunk=0)
