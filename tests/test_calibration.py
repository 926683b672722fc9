"""The class head's calibration after an experience: class-balanced head training and the per-class
feature statistics (hidden-state replay), on hand-made features whose right answer is known."""
import pytest
import torch
from torch import nn

from selfrefresh.strategies.self_refresh.calibration import ClassFeatureStats, calibrate_head


def test_feature_stats_record_move_sample_and_round_trip():
    stats = ClassFeatureStats()
    feats = torch.tensor([[0.0, 2.0], [2.0, 2.0], [5.0, -1.0]])
    stats.record(feats, torch.tensor([0, 0, 1]))
    mean0, var0, basis0 = stats.stats[0]
    assert mean0.tolist() == [1.0, 2.0] and var0.tolist() == [1.0, 0.0]      # population variance
    assert basis0.shape == (0, 2)                                             # rank 0: diagonal only
    assert stats.stats[1][0].tolist() == [5.0, -1.0] and stats.stats[1][1].tolist() == [0.0, 0.0]  # one sample
    stats.move(torch.tensor([[1.0, 0.0], [3.0, 2.0]]))                       # mean drift (2, 1)
    assert stats.stats[0][0].tolist() == [3.0, 3.0] and stats.stats[0][1].tolist() == [1.0, 0.0]
    f, y = stats.sample([1, 7], 4, "cpu")                                    # 7 is unknown: skipped
    assert y.tolist() == [1] * 4 and torch.equal(f, torch.tensor([[7.0, 0.0]] * 4))   # zero variance
    f, y = stats.sample([7], 4, "cpu")
    assert len(f) == len(y) == 0 and y.dtype == torch.long
    back = ClassFeatureStats()
    back.load_state_dict(stats.state_dict())
    assert sorted(back.stats) == [0, 1] and all(torch.equal(a, b) for c in (0, 1)
                                                  for a, b in zip(back.stats[c], stats.stats[c]))


def test_calibration_weighs_every_class_the_same():
    """Identical features for 9 samples of class 0 and 1 of class 1: balanced, the best head gives
    each class 1/2 (unweighted it would give class 1 about 1/10)."""
    head = nn.Linear(2, 2)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    feats, labels = torch.ones(10, 2), torch.tensor([0] * 9 + [1])
    calibrate_head(head, feats, labels, steps=200, lr=0.05)
    p = torch.softmax(head(feats[:1]), 1)[0]
    assert p[1].item() == pytest.approx(0.5, abs=0.05)



def test_discriminant_head_separates_gaussian_classes_and_keeps_unseen_rows_below():
    """Classes with a shared, strongly correlated covariance: the closed-form discriminant classifies
    them far better than the nearest class mean; the rows of classes absent from the labels never win;
    the fitted scale is a minimum of the class-balanced cross-entropy (halving or doubling it is worse)."""
    from torch.nn import functional as F
    from selfrefresh.strategies.self_refresh.calibration import fit_discriminant_head
    g = torch.Generator().manual_seed(0)
    h, k = 8, 3
    mix = torch.eye(h) + 0.9 * torch.ones(h, h)                 # one strong shared direction
    means = torch.zeros(k, h)
    means[1, 0], means[2, 1] = 3.0, -3.0
    y = torch.tensor([0] * 300 + [1] * 60 + [2] * 60)           # unbalanced counts
    x = means[y] + torch.randn(len(y), h, generator=g) @ mix
    head = nn.Linear(h, 5)
    fit_discriminant_head(head, x, y, shrinkage=0.0)
    with torch.no_grad():
        logits = head(x)

    def balanced_acc(pred):
        return sum((pred[y == c] == c).float().mean().item() for c in range(k)) / k
    centres = torch.stack([x[y == c].mean(0) for c in range(k)])
    lda, nearest = balanced_acc(logits.argmax(1)), balanced_acc(torch.cdist(x, centres).argmin(1))
    assert lda > 0.85 and lda > nearest + 0.1, (lda, nearest)   # measured 0.92 against 0.54
    assert int((logits.argmax(1) >= k).sum()) == 0                   # rows 3 and 4: no class of the data
    assert torch.all(head.weight[k:] == 0)
    w = torch.bincount(y).float().reciprocal()[y]

    def balanced_ce(z):
        return float((F.cross_entropy(z[:, :k], y, reduction="none") * w).sum() / w.sum())
    assert balanced_ce(logits) < min(balanced_ce(logits / 2), balanced_ce(logits * 2))
