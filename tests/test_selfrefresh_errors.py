"""SelfRefresh's own argument checks: at construction, or at the first minibatch for labels."""
import math

import pytest
import torch

from selfrefresh.models import AutoHeteroRNN


def _strategy(**kwargs):
    from selfrefresh.strategies import SelfRefresh
    model = AutoHeteroRNN(3, 4, 2, cell="gru")
    return SelfRefresh(model=model, optimizer=torch.optim.SGD(model.parameters(), 0.1), **kwargs)


@pytest.mark.parametrize("t", [0, 0.0, -1.0, math.nan, math.inf])
def test_temperature_must_be_positive_and_finite(t):
    with pytest.raises(ValueError, match="temperature"):
        _strategy(temperature=t)


@pytest.mark.parametrize("epochs, kind", [(0, ValueError), (-3, ValueError), (1.5, TypeError)])
def test_train_epochs_at_least_one(epochs, kind):
    with pytest.raises(kind, match="train_epochs"):
        _strategy(train_epochs=epochs)


@pytest.mark.parametrize("name", ["train_mb_size", "train_epochs", "eval_mb_size"])
def test_each_size_is_named_in_its_error(name):
    with pytest.raises(ValueError, match=rf"^{name} must be an int >= 1, got 0$"):
        _strategy(**{name: 0})
    with pytest.raises(TypeError, match=rf"^{name} must be an int >= 1, got float 2\.0$"):
        _strategy(**{name: 2.0})


def test_float_labels_are_refused_by_name():
    """Checked where SelfRefresh checks each minibatch (its plugin's before_forward)."""
    strategy = _strategy(train_mb_size=4)
    x, y = torch.randn(4, 5, 3), torch.tensor([0.0, 1.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="label"):
        strategy.refresh.before_forward(_FakeStrategy(strategy.model, x, y))


class _FakeStrategy:
    def __init__(self, model, x, y):
        self.model, self.mb_x, self.mb_y = model, x, y
        self.clock = type("C", (), {"train_exp_epochs": 0})()


def test_quick_start_pattern_evaluates_before_the_head_grows():
    """Default criterion: evaluation of a head smaller than the test labels works (PaddedCrossEntropyLoss)."""
    from selfrefresh.streams.base import class_incremental_stream
    g = torch.Generator().manual_seed(0)
    tx = torch.randn(32, 5, 3, generator=g)
    ty = torch.arange(4).repeat_interleave(8)
    bench = class_incremental_stream(tx, ty, tx, ty, n_experiences=2)
    strategy = _strategy(train_mb_size=8)
    strategy.train(bench.train_stream[0])
    strategy.eval(bench.test_stream)


def test_minibatch_checks_and_head_growth_on_tiny_models():
    from selfrefresh.strategies.self_refresh.checks import check_batch, grow_head
    model = AutoHeteroRNN(3, 4, 4, cell="gru")
    x, y = torch.zeros(2, 5, 3), torch.tensor([0, 3])
    check_batch(model, x, y)                                   # fine
    with pytest.raises(ValueError, match=r"^SelfRefresh: the training data contains NaN or inf values$"):
        check_batch(model, torch.full((2, 5, 3), float("nan")), y)
    with pytest.raises(ValueError, match=r"^SelfRefresh: label 4 is out of range for 4 outputs$"):
        check_batch(model, x, torch.tensor([0, 4]))
    plain = torch.nn.GRU(3, 4)                                 # no num_classes: no label range, no head
    check_batch(plain, x, torch.tensor([0, 99]))
    grow_head(plain, [0, 99])
    grow_head(model, [1, 6])
    assert model.num_classes == 7
    fixed = torch.nn.Linear(4, 4)
    fixed.num_classes = 4                                      # a fixed head: cannot grow
    with pytest.raises(ValueError, match=r"^label 6 is out of range for a model with 4 outputs, and the model "
                                         r"cannot grow its class head$"):
        grow_head(fixed, [2, 6])


def test_config_checks_name_the_field_and_its_choices():
    from selfrefresh.generators import Reverberation
    from selfrefresh.strategies import SelfRefreshConfig
    with pytest.raises(ValueError, match=r"^seeds must be 'noise' or 'current', got 'x'$"):
        SelfRefreshConfig(seeds="x")
    with pytest.raises(ValueError, match=r"^calibrate_on must be 'pseudo' or 'prototypes' or 'both', got 'x'$"):
        SelfRefreshConfig(calibrate_on="x")
    assert [SelfRefreshConfig(calibrate_on=v).calibrate_on for v in ("pseudo", "prototypes", "both")] == \
        ["pseudo", "prototypes", "both"]
    with pytest.raises(ValueError, match=r"^pool_per_class must be an int >= 0, got 1\.5$"):
        SelfRefreshConfig(pool_per_class=1.5)
    assert SelfRefreshConfig(pseudo_grad_steps=1).pseudo_grad_steps == 1
    for bad in (0, 2.0, True):
        with pytest.raises(ValueError, match="pseudo_grad_steps must be None or an int >= 1"):
            SelfRefreshConfig(pseudo_grad_steps=bad)
    for bad in (0, 1.5, True, float("nan")):
        with pytest.raises(ValueError, match=r"^pseudo_grad_tail must be a number in \(0, 1\]"):
            SelfRefreshConfig(pseudo_grad_tail=bad)
    with pytest.raises(ValueError, match="needs pseudo-sequences"):
        SelfRefreshConfig(pseudo_learning="transitions", generator=Reverberation(mode="static"))
    assert SelfRefreshConfig(pseudo_learning="transitions", generator=Reverberation()).generator.mode == "sequence"


def test_strategy_defaults_unknown_options_and_signature():
    import inspect

    from selfrefresh.strategies import SelfRefreshConfig
    from selfrefresh.strategies.self_refresh.strategy import _signature_with_config_fields
    s = _strategy()
    assert (s.train_mb_size, s.train_epochs, s.eval_mb_size) == (32, 1, 256)   # the documented defaults
    with pytest.raises(TypeError, match="unexpected keyword argument: bogus"):   # Avalanche's check, on our signature
        _strategy(bogus=1)

    def init(self, *, model, **options):
        pass

    params = _signature_with_config_fields(init).parameters
    assert list(params)[:2] == ["self", "model"] and "options" not in params
    assert list(params)[2:] == list(SelfRefreshConfig.names())
    assert params["temperature"].default == SelfRefreshConfig().temperature
    assert params["temperature"].kind is inspect.Parameter.KEYWORD_ONLY


def test_strategy_passes_its_arguments_on():
    from avalanche.training.plugins.evaluation import EvaluationPlugin

    from selfrefresh.strategies import PaddedCrossEntropyLoss, SelfRefreshConfig
    ev, crit = EvaluationPlugin(loggers=[]), torch.nn.CrossEntropyLoss()
    s = _strategy(config=SelfRefreshConfig(pseudo_ratio=2.0), temperature=3.0, train_mb_size=8, evaluator=ev,
                  criterion=crit)
    assert (s.config.pseudo_ratio, s.config.temperature) == (2.0, 3.0)      # the config, with the keywords on top
    assert s.train_mb_size == 8 and s.evaluator is ev and s._criterion is crit
    assert isinstance(_strategy()._criterion, PaddedCrossEntropyLoss)


def test_config_weights_that_are_not_numbers_get_the_fields_value_error():
    from selfrefresh.strategies import SelfRefreshConfig
    for name in ("pseudo_ratio", "teacher_cache_mb"):
        with pytest.raises(ValueError, match=rf"^{name} must be a finite number >= 0, got '0\.5'$"):
            SelfRefreshConfig(**{name: "0.5"})
