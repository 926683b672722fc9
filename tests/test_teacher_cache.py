"""NET2's outputs on real sequences are computed once per sequence within an experience."""
import copy

import pytest
import torch

from selfrefresh.models import AutoHeteroRNN
from selfrefresh.strategies.self_refresh import SelfRefreshConfig
from selfrefresh.strategies.self_refresh.method import DualMemory
from selfrefresh.strategies.self_refresh.teacher_cache import TeacherCache


def _counting(net):
    seen = []

    def compute(x):
        seen.append(len(x))
        f, _ = net.rnn(x)
        return f, net.classifier(f[:, -1])
    return compute, seen


def test_cache_serves_each_sequence_once_in_any_order_and_composition():
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="lstm").eval()
    x = torch.randn(10, 6, 3)
    compute, seen = _counting(net)
    cache = TeacherCache(16)
    with torch.no_grad():
        want_f, _ = net.rnn(x)
        want_l = net.classifier(want_f[:, -1])
        f1, l1 = cache(net, x[:6], compute)
        f2, l2 = cache(net, x[[9, 2, 7, 0, 5, 8]], compute)   # 4, 2, 0, 5 seen; 9, 7, 8 new
    assert seen == [6, 3] and cache.hits == 3 and cache.misses == 9 and len(cache) == 9
    assert torch.allclose(f1, want_f[:6], atol=1e-6) and torch.allclose(l1, want_l[:6], atol=1e-6)
    assert torch.allclose(f2, want_f[[9, 2, 7, 0, 5, 8]], atol=1e-6)
    assert torch.allclose(l2, want_l[[9, 2, 7, 0, 5, 8]], atol=1e-6)
    other = copy.deepcopy(net)                                 # a new NET2: nothing of the old one is reused
    with torch.no_grad():
        cache(other, x[:6], compute)
    assert seen[-1] == 6 and len(cache) == 6


def test_cache_keeps_no_more_than_its_budget_and_zero_turns_it_off():
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru").eval()
    x = torch.randn(10, 6, 3)
    row_bytes = (6 * 8 + 4) * 4                                # features (T, H) + logits (C,), float32
    compute, seen = _counting(net)
    small = TeacherCache(3.5 * row_bytes / 2 ** 20)            # room for 3 rows
    with torch.no_grad():
        small(net, x, compute)
        small(net, x, compute)
    assert len(small) == 3 and small.bytes == 3 * row_bytes and seen == [10, 7]
    compute, seen = _counting(net)
    off = TeacherCache(0)
    with torch.no_grad():
        off(net, x, compute)
        off(net, x, compute)
    assert seen == [10, 10] and len(off) == 0
    with pytest.raises(ValueError, match="teacher_cache_mb"):
        SelfRefreshConfig(teacher_cache_mb=-1)


def test_cached_loss_equals_the_recomputed_one_and_passes_net2_once_per_sequence():
    """Two epochs of the same minibatches: the loss with the memo equals the loss without it, and
    the second epoch runs NET2 on no real sequence; the memo is emptied when the experience ends."""
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    x, y = torch.randn(12, 5, 3), torch.tensor([2, 3] * 6)
    losses = {}
    for mb in (0, 64):
        mem = DualMemory(SelfRefreshConfig(teacher_cache_mb=mb, pseudo_ratio=0.0, generator_kwargs={"seq_len": 5}))
        mem.begin_experience(net, [0, 1], n_train=12, mb_size=4, epochs=1)
        mem.end_experience(net, [0, 1], mb_size=4, device="cpu")
        mem.begin_experience(net, [2, 3], n_train=12, mb_size=4, epochs=2)
        student = copy.deepcopy(net).train()
        out = []
        for epoch in range(2):
            for i in (8, 0, 4):
                out.append(mem.training_loss(student, x[i:i + 4], y[i:i + 4]).item())
        losses[mb] = out
        if mb:
            assert mem.teacher.misses == 12 and mem.teacher.hits == 12
            mem.end_experience(net, [2, 3], mb_size=4, device="cpu")
            assert len(mem.teacher) == 0
    assert losses[64] == pytest.approx(losses[0], rel=1e-6, abs=1e-7)


def test_cache_keys_are_128_bit_digests_and_a_zero_budget_never_consults_the_memo():
    torch.manual_seed(0)
    x = torch.randn(5, 6, 3)
    keys = TeacherCache.keys(x)
    assert len(set(keys)) == 5 and all(len(k) == 16 for k in keys)    # 128-bit BLAKE2, as documented
    net = AutoHeteroRNN(3, 8, 4, cell="gru").eval()
    compute, seen = _counting(net)
    off = TeacherCache(0)
    with torch.no_grad():
        off(net, x, compute)
    assert seen == [5] and off.hits == off.misses == 0 and off.owner is None
