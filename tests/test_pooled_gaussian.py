import numpy as np
import pytest
import torch

from conftest import FSDD, needs_fsdd, toy_sequences
from selfrefresh.strategies.pooled_gaussian import PooledGaussianClassifier, pooled_statistics


def _gaussian_sequences(means, n, t=10, f=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for c, m in enumerate(means):
        xs.append(torch.randn(n, t, f, generator=g) * 0.5 + torch.as_tensor(m, dtype=torch.float32))
        ys.append(torch.full((n,), c))
    return torch.cat(xs), torch.cat(ys)


def test_pooled_statistics_are_the_mean_and_spread_over_time():
    x = torch.tensor([[[1.0, 0.0], [3.0, 0.0]], [[2.0, 2.0], [2.0, 4.0]]])   # (2, 2, 2)
    s = pooled_statistics(x)
    assert torch.allclose(s, torch.tensor([[2.0, 0.0, 1.0, 0.0], [2.0, 3.0, 0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"expected sequences \(batch, time, features\), got shape \(2, 2\)"):
        pooled_statistics(x[0])


def test_classes_learned_one_experience_at_a_time_are_never_forgotten():
    x, y = _gaussian_sequences([[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]], 30)
    xt, yt = _gaussian_sequences([[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]], 20, seed=1)
    clf = PooledGaussianClassifier(4, 3, rank=2, shrinkage=0.1)
    first = y < 2
    clf.accumulate(x[first], y[first])
    clf.finish()
    assert clf.learned.tolist() == [True, True, False, False]
    before = clf(xt[yt < 2])
    assert (before[:, 2:] == -1e30).all()                      # classes not learned yet never win
    assert (before.argmax(1) == yt[yt < 2]).float().mean() > 0.95
    clf.accumulate(x[~first], y[~first])
    clf.finish()
    after = clf(xt)
    assert torch.equal(after[yt < 2][:, :2], before[:, :2])   # the old classes' scores are untouched
    assert (after.argmax(1) == yt).float().mean() > 0.95


def test_a_class_seen_in_two_experiences_merges_its_statistics():
    x, y = toy_sequences(40, n_classes=2, t=8, f=2)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    whole = PooledGaussianClassifier(2, 2, rank=4)
    whole.accumulate(x, y)
    whole.finish()
    halves = PooledGaussianClassifier(2, 2, rank=4)
    idx = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    for part in idx.chunk(2):
        halves.accumulate(x[part], y[part])
        halves.finish()
    assert torch.equal(halves.count, whole.count)
    assert torch.allclose(halves.mean, whole.mean, atol=1e-5)
    cov = lambda m, c: m.basis[c].T @ m.basis[c] + torch.diag(m.var[c])   # noqa: E731
    for c in range(2):   # rank 4 = the whole covariance of 2F = 4 coordinates: the merge is exact
        assert torch.allclose(cov(halves, c), cov(whole, c), atol=1e-4)


def test_the_state_dict_restores_the_predictions():
    x, y = _gaussian_sequences([[0, 0, 0], [2, 0, 0]], 20)
    clf = PooledGaussianClassifier(2, 3)
    clf.accumulate(x, y)
    clf.finish()
    copy = PooledGaussianClassifier(2, 3)
    copy.load_state_dict(clf.state_dict())
    assert torch.equal(copy(x), clf(x))
    assert clf.numel_per_class() == (16 + 2) * 6 + 1


def test_bad_input_is_refused_and_nothing_is_kept():
    clf = PooledGaussianClassifier(3, 2)
    x = torch.zeros(4, 5, 2)
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, time, 2\), got \(4, 5, 3\)"):
        clf.accumulate(torch.zeros(4, 5, 3), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN or infinite"):
        clf.accumulate(x.masked_fill(torch.ones_like(x, dtype=torch.bool), float("nan")),
                       torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\), got 0..3"):
        clf.accumulate(x, torch.tensor([0, 1, 2, 3]))
    clf.finish()
    assert not clf.learned.any()
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, time, 2\), got \(4, 5\)"):
        clf(x[:, :, 0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        clf(torch.full((1, 3, 2), float("inf")))
    for kw, msg in (({"rank": -1}, "rank"), ({"shrinkage": 1.0}, "shrinkage")):
        with pytest.raises(ValueError, match=msg):
            PooledGaussianClassifier(3, 2, **kw)


def test_the_strategy_learns_a_stream_in_one_pass_without_forgetting():
    from selfrefresh.models import AutoHeteroRNN
    from selfrefresh.runs.loop import accuracy_evaluator, train_stream
    from selfrefresh.strategies import make_strategy
    from selfrefresh.streams.base import class_incremental_stream
    means = [[0, 0, 0], [2, 0, 0], [0, 2, 0], [0, 0, 2]]
    tx, ty = _gaussian_sequences(means, 40)
    ex, ey = _gaussian_sequences(means, 30, seed=1)
    stream = class_incremental_stream(tx.numpy(), ty.numpy(), ex.numpy(), ey.numpy(), n_experiences=2, seed=0)
    model = AutoHeteroRNN(3, 8, 4)
    s = make_strategy("pooled-gaussian", model, torch.optim.Adam(model.parameters()), train_mb_size=16,
                      train_epochs=5, eval_mb_size=64, evaluator=accuracy_evaluator())
    rows, _ = train_stream(s, stream, eval_each=True)
    rows = np.asarray(rows)
    assert rows.shape == (2, 2) and rows[0, 1] == 0.0            # the second experience is not known yet
    assert rows[0, 0] > 0.95 and rows[1].min() > 0.95             # learned in one pass, the first one kept
    assert isinstance(s.model, PooledGaussianClassifier) and int(s.model.count.sum()) == 160



@needs_fsdd
def test_on_real_spoken_digits_it_keeps_every_experience():
    """FSDD as in benchmarks/real_audio.py (log-mel 40 x 48, 5 experiences x 2 digits): 0.815 there
    over ten class orders; here one order, with a margin."""
    from selfrefresh.streams import audio
    from selfrefresh.models import AutoHeteroRNN
    from selfrefresh.runs.loop import accuracy_evaluator, train_stream
    from selfrefresh.strategies import make_strategy
    bench = audio.fsdd(FSDD, clip_duration=0.47, n_mels=40, n_experiences=5)
    model = AutoHeteroRNN(bench.input_size, 8, bench.num_classes)
    s = make_strategy("pooled-gaussian", model, torch.optim.Adam(model.parameters()), train_mb_size=16,
                      eval_mb_size=256, evaluator=accuracy_evaluator())
    accs, _ = train_stream(s, bench)
    assert np.mean(accs) > 0.75 and min(accs) > 0.5
