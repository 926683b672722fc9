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
