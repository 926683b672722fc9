"""Exact behaviour of the dual network's losses and of the pseudo-pattern pool, on tiny tensors
whose right answer is known (written to kill the survivors of ``benchmarks/mutation.py``)."""
import math

import pytest
import torch
from torch.nn import functional as F

from selfrefresh.generators.base import PseudoBatch
from selfrefresh.strategies.losses import (PaddedCrossEntropyLoss, check_temperature, current_classes_ce,
                                           masked_teacher_probs, soft_target_loss)
from selfrefresh.strategies.self_refresh.pool import PseudoPool, cat_batches, index_batch


def _batch(n, start=0):
    """Row i of x and logits holds the number start + i, so a row says where it came from."""
    ids = torch.arange(start, start + n, dtype=torch.float32)
    return PseudoBatch(x=ids[:, None, None].expand(n, 2, 1).clone(), logits=ids[:, None].repeat(1, 3))


def _ids(b):
    return b.x[:, 0, 0].long().tolist()


# ---------------------------------------------------------------- pool

def test_pool_fills_in_chunks_of_512_and_keeps_every_pattern():
    asked = []

    def sample(k):
        b = _batch(k, start=sum(asked))
        asked.append(k)
        return b
    pool = PseudoPool()
    assert len(pool) == 0
    pool.fill(1100, sample)
    assert asked == [512, 512, 76] and len(pool) == 1100
    assert _ids(pool.batch) == list(range(1100)) and pool.batch.logits.shape == (1100, 3)
    pool.clear()
    assert len(pool) == 0 and pool.batch is None


def test_pool_takes_in_order_without_replacement_then_reshuffles():
    torch.manual_seed(0)
    pool = PseudoPool()
    pool.fill(10, lambda k: _batch(k))
    assert _ids(pool.take(4)) == [0, 1, 2, 3]  # fill starts at the first pattern
    assert _ids(pool.take(4)) == [4, 5, 6, 7]
    third = pool.take(4)  # 2 left: a fresh permutation of all 10, from its start
    assert len(third) == 4 and len(set(_ids(third))) == 4
    assert sorted(_ids(pool.batch)) == list(range(10))  # the pool keeps every pattern
    assert _ids(third) == _ids(pool.batch)[:4]
    assert _ids(pool.take(6)) == _ids(pool.batch)[4:10]  # exactly used up: no reshuffle
    pool.fill(10, lambda k: _batch(k))
    assert _ids(pool.take(3)) == [0, 1, 2]  # a refill starts over


@pytest.mark.parametrize("n", [10, 25])
def test_pool_draws_with_replacement_when_asked_for_the_whole_pool_or_more(n):
    torch.manual_seed(0)
    pool = PseudoPool()
    pool.fill(10, lambda k: _batch(k))
    before = _ids(pool.batch)
    b = pool.take(n)
    assert len(b) == n and b.logits.shape == (n, 3)
    assert set(_ids(b)) <= set(range(10)) and len(set(_ids(b))) < 10  # duplicates: with replacement
    assert _ids(pool.batch) == before and _ids(pool.take(2)) == [0, 1]  # the pool is left as it was


def test_index_and_cat_keep_none_fields():
    b = _batch(5)
    sub = index_batch(b, torch.tensor([4, 0]))
    assert _ids(sub) == [4, 0] and sub.context is None and sub.logits[:, 0].tolist() == [4.0, 0.0]
    both = cat_batches([_batch(2), _batch(3, start=2)])
    assert _ids(both) == [0, 1, 2, 3, 4] and both.recon is None


# ---------------------------------------------------------------- losses

@pytest.mark.parametrize("t", [0.5, 1.0, 3.0])
def test_soft_target_loss_is_tempered_cross_entropy_times_t_squared(t):
    torch.manual_seed(0)
    s, q = torch.randn(4, 3), torch.softmax(torch.randn(4, 3), 1)
    expected = -(q * F.log_softmax(s / t, 1)).sum(1).mean() * t ** 2
    assert torch.allclose(soft_target_loss(s, q, t), expected)
    # per-sample sum over classes, then the mean over the batch (not a sum over everything)
    q1 = torch.tensor([[1.0, 0.0, 0.0]] * 4)
    assert torch.allclose(soft_target_loss(s, q1), -F.log_softmax(s, 1)[:, 0].mean())


def test_soft_target_loss_errors_name_the_function_and_argument():
    with pytest.raises(ValueError, match=r"^soft_target_loss: target_probs must have shape \(N, C\)"):
        soft_target_loss(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(ValueError, match=r"^soft_target_loss: empty batch"):
        soft_target_loss(torch.zeros(0, 3), torch.zeros(0, 3))
    with pytest.raises(ValueError, match=r"^soft_target_loss: student_logits must have shape \(N, C\)"):
        soft_target_loss(torch.zeros(3), torch.zeros(3))


def test_check_temperature():
    assert check_temperature(2, "f") == 2.0 and isinstance(check_temperature(2, "f"), float)
    with pytest.raises(TypeError, match="^f: temperature must be a number, got str"):
        check_temperature("2", "f")
    with pytest.raises(ValueError, match="^f: temperature must be a finite number > 0"):
        check_temperature(math.inf, "f")
    with pytest.raises(ValueError, match="^f: temperature must be a finite number > 0"):
        check_temperature(-1.0, "f")


def test_masked_teacher_probs_pads_and_refuses_bad_arguments():
    logits = torch.tensor([[1.0, 2.0]])
    p = masked_teacher_probs(logits, 1, None)  # one output: the teacher's first class only
    assert p.tolist() == [[1.0]]
    p = masked_teacher_probs(logits, 4, None)  # outputs the teacher never had get 0
    assert torch.allclose(p[0, :2], torch.softmax(logits[0], 0)) and p[0, 2:].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="^masked_teacher_probs: num_outputs must be >= 1"):
        masked_teacher_probs(logits, 0, None)
    with pytest.raises(TypeError, match=r"^masked_teacher_probs: known must be a 1-D bool tensor .*got list"):
        masked_teacher_probs(logits, 2, [True, True])
    with pytest.raises(ValueError, match="known marks none"):
        masked_teacher_probs(logits, 2, torch.tensor([False, False]))


def test_current_classes_ce_is_the_cross_entropy_of_the_selected_outputs():
    logits = torch.tensor([[1.0, 5.0, 2.0, 0.0], [0.5, -1.0, 3.0, 1.0]])
    y, classes = torch.tensor([2, 3]), torch.tensor([2, 3])
    assert torch.allclose(current_classes_ce(logits, y, classes), F.cross_entropy(logits[:, 2:], torch.tensor([0, 1])))
    # the last output is a legal class; one past it is not
    assert torch.isfinite(current_classes_ce(logits, torch.tensor([3, 3]), torch.tensor([3])))
    with pytest.raises(ValueError, match=r"^current_classes_ce: classes must be a non-empty set of outputs in 0\.\.3"):
        current_classes_ce(logits, y, torch.tensor([2, 4]))
    with pytest.raises(ValueError, match="^current_classes_ce: label 4 is out of range for 4 outputs"):
        current_classes_ce(logits, torch.tensor([2, 4]), classes)


def test_padded_cross_entropy_pads_missing_outputs_in_evaluation_only():
    crit = PaddedCrossEntropyLoss()
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([0, 3])  # class 3 is two outputs beyond the head
    padded = torch.cat([logits, torch.full((2, 2), -1000.0)], 1)
    with torch.no_grad():
        assert torch.allclose(crit(logits, y), F.cross_entropy(padded, y))
    assert torch.allclose(crit(logits, torch.tensor([0, 1])), F.cross_entropy(logits, torch.tensor([0, 1])))
    w = logits.clone().requires_grad_()
    with pytest.raises(ValueError, match=r"^criterion: label 3 is out of range for a model with 2 outputs; "
                                         r"build the model with num_classes >= 4"):
        crit(w, y)
    with pytest.raises(ValueError, match=r"^criterion: logits must have shape \(batch, classes\)"):
        crit(torch.zeros(3), torch.tensor([0, 0, 0]))
    with pytest.raises(TypeError, match="^criterion: labels must hold integer class indices"):
        crit(logits, torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"^criterion: labels must hold integer class indices, got dtype torch\.bool"):
        crit(logits, torch.tensor([True, False]))


def test_labels_of_the_right_length_but_not_1d_are_refused():
    logits = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"y must have shape \(4,\), got \(4, 1\)"):
        current_classes_ce(logits, torch.zeros(4, 1, dtype=torch.long), torch.tensor([0, 1]))
