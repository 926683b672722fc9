"""Every everyday mistake at the Python API gets one clear exception naming the argument (issue 14)."""
import pytest
import torch
from torch import nn

from selfrefresh.models import AutoHeteroRNN


# --------------------------------------------------------------------------- AutoHeteroRNN

@pytest.fixture
def model():
    torch.manual_seed(0)
    return AutoHeteroRNN(3, 5, 2, cell="gru")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("method", ["forward", "run", "reconstruct", "features"])
def test_non_finite_input_refused(model, bad, method):
    x = torch.randn(2, 4, 3)
    x[1, 2, 0] = bad
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        getattr(model, method)(x) if method != "forward" else model(x)


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.bool, torch.uint8, torch.complex64])
def test_non_float_input_refused(model, dtype):
    with pytest.raises(TypeError, match=f"x must be a floating-point tensor, got dtype {dtype}"):
        model(torch.ones(2, 4, 3).to(dtype))


def test_other_float_dtype_names_the_conversion(model):
    with pytest.raises(TypeError, match=r"x has dtype torch.float64 but the model's parameters are "
                                        r"torch.float32; convert with x.to\(torch.float32\)"):
        model(torch.ones(2, 4, 3, dtype=torch.float64))


def test_wrong_shapes(model):
    with pytest.raises(ValueError, match=r"expected x of shape \(batch, time, 3\), got shape \(4,\)"):
        model(torch.ones(4))
    with pytest.raises(ValueError, match=r"expected 3 features per step, got 2"):
        model.run(torch.ones(2, 4, 2))
    with pytest.raises(TypeError, match="expected a torch.Tensor, got list"):
        model([[[1.0, 2.0, 3.0]]])


def test_step_checks_item_and_context(model):
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match=r"expected x_t of shape \(batch, 3\)"):
        model.step(torch.randn(2, 1, 3))
    with pytest.raises(ValueError, match="x_t contains NaN or inf"):
        model.step(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match=r"context must have shape \(2, 5\), got \(2, 4\)"):
        model.step(x, torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"^AutoHeteroRNN\.step: context contains NaN or inf"):
        model.step(x, torch.full((2, 5), float("inf")))
    with pytest.raises(TypeError, match="context must be a floating-point tensor"):
        model.step(x, torch.zeros(2, 5, dtype=torch.long))
    logits, recon, ctx = model.step(x, torch.zeros(2, 5))
    assert logits.shape == (2, 2) and recon.shape == (2, 8) and ctx.shape == (2, 5)


def test_run_checks_the_state():
    lstm = AutoHeteroRNN(3, 4, 2, cell="lstm")
    x = torch.randn(2, 5, 3)
    with pytest.raises(TypeError, match=r"AutoHeteroRNN.run: an LSTM state must be a pair \(h, c\)"):
        lstm.run(x, state=torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"state c must have shape \(1, 2, 4\), got \(1, 3, 4\)"):
        lstm.run(x, state=(torch.zeros(1, 2, 4), torch.zeros(1, 3, 4)))
    gru = AutoHeteroRNN(3, 4, 2, cell="gru")
    with pytest.raises(ValueError, match=r"state must have shape \(1, 2, 4\), got \(2, 4\)"):
        gru.run(x, state=torch.zeros(2, 4))


def test_overflowing_input_gives_an_error_not_nan():
    m = AutoHeteroRNN(3, 4, 2, cell="rnn")
    with torch.no_grad():
        m.rnn.weight_ih_l0.copy_(torch.tensor([[1.0, -1.0, 1.0]] * 4))
    # +3e38 and -3e38 both overflow float32 in the input projection: inf - inf = NaN
    x = torch.tensor([[[3e38, 3e38, 3e38]]]).expand(2, 3, 3).contiguous()
    x[..., 1] = -3e38
    out = None
    try:
        out = m(x)
    except ValueError as e:
        assert "too large" in str(e)
    if out is not None:
        assert torch.isfinite(out).all()


def test_broken_parameters_are_named(model):
    with torch.no_grad():
        model.classifier.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="parameters contain NaN or inf"):
        model(torch.randn(2, 4, 3))


@pytest.mark.parametrize("bad, kind", [(2.5, TypeError), ("3", TypeError), (True, TypeError), (None, TypeError),
                                       (0, ValueError), (-1, ValueError)])
def test_grow_names_num_classes(model, bad, kind):
    with pytest.raises(kind, match="num_classes"):
        model.grow(bad)
    assert model.num_classes == 2


def test_grow_accepts_integer_likes(model):
    import numpy as np
    model.grow(np.int64(3))
    model.grow(torch.tensor(4))
    assert model.num_classes == 4


@pytest.mark.parametrize("kwargs, kind, fragment", [
    (dict(input_size=2.0), TypeError, "input_size must be a positive int"),
    (dict(hidden_size=True), TypeError, "hidden_size must be a positive int"),
    (dict(num_layers=0), ValueError, "num_layers must be a positive int"),
    (dict(cell=3), TypeError, "cell must be a str"),
    (dict(cell="transformer"), ValueError, "unknown cell type"),
])
def test_constructor_arguments(kwargs, kind, fragment):
    args = dict(input_size=3, hidden_size=4, num_classes=2)
    args.update(kwargs)
    with pytest.raises(kind, match=fragment):
        AutoHeteroRNN(**args)


# --------------------------------------------------------------------------- selfrefresh.nn

@pytest.mark.parametrize("kind", ["SRN", "RNN", "GRU", "LSTM"])
def test_layers_check_inputs_and_states(kind):
    import selfrefresh.nn as snn
    layer = getattr(snn, kind)(3, 4)
    x = torch.randn(2, 5, 3)
    with pytest.raises(TypeError, match=f"{kind}: input must be a floating-point tensor"):
        layer(x.long())
    with pytest.raises(TypeError, match=f"{kind}: input has dtype torch.float64"):
        layer(x.double())
    with pytest.raises(ValueError, match=f"{kind}: got a sequence with 0 time steps"):
        layer(torch.randn(2, 0, 3))
    with pytest.raises(ValueError, match=f"{kind}: expected a 3-D input"):
        layer(torch.randn(5, 3))
    with pytest.raises(ValueError, match=f"{kind}.step: expected 3 input features, got 2"):
        layer.step(torch.randn(2, 2))
    bad_state = torch.zeros(1, 3, 4)
    if kind == "LSTM":
        bad_state = (bad_state, bad_state)
    with pytest.raises(ValueError, match=r"state( h)? must have shape \(1, 2, 4\), got \(1, 3, 4\)"):
        layer(x, bad_state)
    with pytest.raises(ValueError, match=r"state( h)? must have shape \(1, 2, 4\)"):
        layer.step(x[:, 0], bad_state)
    with pytest.raises(TypeError, match="flat state tensor"):
        layer.unflatten_state([1.0])
    not_a_tensor = [[0.0] * 4] * 2
    with pytest.raises(TypeError, match=rf"^{kind}: state( h)? must be a torch\.Tensor, got list$"):
        layer(x, (not_a_tensor, not_a_tensor) if kind == "LSTM" else not_a_tensor)


@pytest.mark.parametrize("kind", ["SRNCell", "RNNCell", "GRUCell", "LSTMCell"])
def test_cells_check_inputs_and_states(kind):
    import selfrefresh.nn as snn
    cell = getattr(snn, kind)(3, 4)
    with pytest.raises(TypeError, match=f"{kind}: input must be a floating-point tensor"):
        cell(torch.ones(2, 3, dtype=torch.int32))
    with pytest.raises(ValueError, match=f"{kind}: expected a 2-D input"):
        cell(torch.ones(2, 1, 3))
    state = torch.zeros(3, 4)
    if kind == "LSTMCell":
        with pytest.raises(TypeError, match=r"an LSTM state must be a pair \(h, c\)"):
            cell(torch.ones(2, 3), state)
        state = (state, state)
    with pytest.raises(ValueError, match=r"must have shape \(2, 4\), got \(3, 4\)"):
        cell(torch.ones(2, 3), state)


# --------------------------------------------------------------------------- models that are not AutoHeteroRNN

def _sequential():
    return nn.Sequential(nn.Flatten(), nn.Linear(12, 2))


def _model_for_sampling():
    return AutoHeteroRNN(3, 8, 4, cell="gru")


def test_generators_name_the_model_they_need():
    from selfrefresh.generators import Noise, Reverberation
    from selfrefresh.generators.base import PseudoBatch, label_transitions
    seq = _sequential()
    with pytest.raises(TypeError, match=r"Reverberation needs an AutoHeteroRNN-like model with "
                                        r"\.input_size/\.run/\.reconstruct; got Sequential"):
        Reverberation(seq, seq_len=4).sample(2)
    with pytest.raises(TypeError, match=r"Reverberation needs .*\.step; got Sequential"):
        Reverberation(seq, seq_len=4, mode="static").sample(2)
    with pytest.raises(TypeError, match=r"Noise needs an AutoHeteroRNN-like model with \.input_size; got Sequential"):
        Noise(seq, seq_len=4).sample(2)
    with pytest.raises(TypeError, match=r"Reverberation\.sample: n must be an int"):
        Reverberation(_model_for_sampling(), seq_len=4).sample(2.5)
    for kwargs, kind, message in (({"noise_std": "1"}, TypeError, r"^Noise: noise_std must be a number, got str$"),
                                  ({"seq_len": 2.5}, TypeError, r"^Noise: seq_len must be an int"),
                                  ({"steer_steps": 1.5}, TypeError, r"^Reverberation: steer_steps must be an int")):
        with pytest.raises(kind, match=message):
            (Reverberation if "steer_steps" in kwargs else Noise)(**kwargs)
    with pytest.raises(RuntimeError, match=r"Noise has no network .*call \.configure\(network\) \(the strategy"):
        Noise(seq_len=4).sample(2)
    # seeds from a buffer: any classifier labels them
    assert len(Noise(seq, seeds=torch.randn(3, 4, 3)).sample(2)) == 2
    with pytest.raises(TypeError, match=r"label_transitions needs .*\.run/\.rnn; got Sequential"):
        label_transitions(seq, PseudoBatch(x=torch.randn(2, 4, 3), logits=torch.randn(2, 2)))


def test_generator_arguments_are_named():
    from selfrefresh.generators import Noise, Reverberation
    m = AutoHeteroRNN(3, 4, 2)
    for bad, kind in ((2.5, TypeError), ("3", TypeError), (0, ValueError), (-4, ValueError)):
        with pytest.raises(kind, match=r"sample|\bn\b"):
            Reverberation(m, seq_len=4).sample(bad)
    with pytest.raises(ValueError, match="^Reverberation: the seed buffer has 5 features per step, the network takes 3"):
        Reverberation(m, seeds=torch.randn(2, 4, 5)).sample(2)
    with pytest.raises(ValueError, match="the seed buffer contains NaN or inf"):
        Reverberation(m, seeds=torch.full((2, 4, 3), float("nan")))
    with pytest.raises(TypeError, match="seeds must be 'noise' or a tensor"):
        Reverberation(m, seeds=[["a"]])
    with pytest.raises(TypeError, match="reverberations must be an int"):
        Reverberation(m, reverberations=2.5)
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0"):
        Noise(m, noise_std=float("nan"))
    with pytest.raises(TypeError, match="seq_len must be an int"):
        Noise(m, seq_len="4")


def test_make_strategy_names_the_model_it_needs():
    from selfrefresh.strategies import make_strategy
    seq = _sequential()
    opt = torch.optim.SGD(seq.parameters(), 0.1)
    for name in ("selfrefresh", "selfrefresh-plain", "selfrefresh-gan", "generative-replay"):
        with pytest.raises(TypeError, match=f"the {name} strategy needs an AutoHeteroRNN-like model with "
                                            r"\.input_size.*; got Sequential"):
            make_strategy(name, seq, opt, seq_len=4)
    make_strategy("naive", seq, opt)  # any classifier


def test_analysis_names_the_model_it_needs():
    from selfrefresh.analysis import analyse, attractor_evolution, find_attractors
    seq = _sequential()
    with pytest.raises(TypeError, match=r"find_attractors .*needs an AutoHeteroRNN-like model with \.input_size; "
                                        r"got Sequential"):
        find_attractors(seq, seq_len=4)
    with pytest.raises(TypeError, match=r"attractor_evolution .*needs an AutoHeteroRNN-like model"):
        attractor_evolution([seq], seq_len=4)
    with pytest.raises(TypeError, match="got Sequential"):
        analyse(seq, torch.randn(2, 4, 3), "unused")


# --------------------------------------------------------------------------- losses and the criterion

def test_losses_name_their_arguments():
    from selfrefresh.strategies.losses import current_classes_ce, masked_teacher_probs, soft_target_loss
    logits = torch.randn(3, 4)
    probs = torch.softmax(torch.randn(3, 4), 1)
    for t in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            soft_target_loss(logits, probs, t)
        with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
            masked_teacher_probs(logits, 4, None, t)
    with pytest.raises(TypeError, match="temperature must be a number"):
        soft_target_loss(logits, probs, "2")
    with pytest.raises(ValueError, match=r"target_probs has shape \(3, 5\)"):
        soft_target_loss(logits, torch.rand(3, 5))
    with pytest.raises(ValueError, match="student_logits contains NaN or inf"):
        soft_target_loss(torch.full((3, 4), float("nan")), probs)
    with pytest.raises(ValueError, match="known marks none"):
        masked_teacher_probs(logits, 4, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(TypeError, match="known must be a 1-D bool tensor"):
        masked_teacher_probs(logits, 4, torch.ones(4))
    with pytest.raises(TypeError, match="num_outputs must be an int"):
        masked_teacher_probs(logits, 4.0, None)
    y = torch.tensor([0, 1, 1])
    with pytest.raises(TypeError, match="y must hold integer class indices, got dtype torch.float32"):
        current_classes_ce(logits, y.float(), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"labels \[2\] are not among classes \[0, 1\]"):
        current_classes_ce(logits, torch.tensor([0, 2, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="negative class label -1"):
        current_classes_ce(logits, torch.tensor([0, -1, 1]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="classes must be a non-empty set of outputs in 0..3"):
        current_classes_ce(logits, y, torch.tensor([0, 7]))
    with pytest.raises(TypeError, match=r"^current_classes_ce: classes must be a 1-D tensor of class indices, got list$"):
        current_classes_ce(logits, y, [0, 1])
    with pytest.raises(TypeError, match=r"classes must be a 1-D tensor of class indices, got \(1, 2\)$"):
        current_classes_ce(logits, y, torch.tensor([[0, 1]]))
    assert torch.isfinite(current_classes_ce(logits, y, torch.tensor([0, 1])))


def test_soft_target_loss_is_finite_for_extreme_logits():
    from selfrefresh.strategies.losses import masked_teacher_probs, soft_target_loss
    student = torch.tensor([[3e38, -3e38, 0.0]])
    target = masked_teacher_probs(torch.tensor([[1.0, 2.0, 3.0]]), 3, torch.tensor([True, False, False]))
    assert torch.isfinite(soft_target_loss(student, target))


def test_padded_criterion_pads_at_evaluation_and_refuses_in_training():
    from selfrefresh.strategies import PaddedCrossEntropyLoss
    crit = PaddedCrossEntropyLoss()
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0]])
    y = torch.tensor([0, 3])
    with torch.no_grad():
        loss = crit(logits, y)
    assert torch.isfinite(loss) and loss > 100  # the unseen class counts as an error
    assert torch.allclose(crit(logits, torch.tensor([0, 1])), nn.functional.cross_entropy(logits, torch.tensor([0, 1])))
    train_logits = logits.clone().requires_grad_(True)
    with pytest.raises(ValueError, match=r"label 3 is out of range for a model with 2 outputs; build the model "
                                         r"with num_classes >= 4 or grow its head"):
        crit(train_logits, y)
    with pytest.raises(TypeError, match="labels must hold integer class indices"):
        crit(logits, y.float())
    with pytest.raises(ValueError, match="negative class label"):
        crit(logits, torch.tensor([0, -2]))
    with pytest.raises(ValueError, match="logits contains NaN or inf"):
        crit(torch.full((2, 2), float("nan")), torch.tensor([0, 1]))


def _tiny_stream(n_classes=4, nan_test=False):
    from selfrefresh.benchmarks.base import class_incremental_stream
    g = torch.Generator().manual_seed(0)
    tx = torch.randn(8 * n_classes, 5, 3, generator=g)
    ty = torch.arange(n_classes).repeat_interleave(8)
    return class_incremental_stream(tx, ty, tx.clone(), ty.clone(), n_experiences=2, seed=0)


def test_evaluating_a_head_smaller_than_the_test_labels_works():
    """The Quick start pattern: a head sized for the first experience, evaluated on the whole stream."""
    from avalanche.training.plugins import EvaluationPlugin
    from avalanche.evaluation.metrics import accuracy_metrics
    from selfrefresh.strategies import make_strategy
    bench = _tiny_stream()
    torch.manual_seed(0)
    model = AutoHeteroRNN(3, 6, 2, cell="gru")
    ev = EvaluationPlugin(accuracy_metrics(experience=True), loggers=[])
    strategy = make_strategy("naive", model, torch.optim.Adam(model.parameters(), 1e-2), train_mb_size=8,
                             train_epochs=1, eval_mb_size=64, evaluator=ev)
    strategy.train(bench.train_stream[0])
    res = strategy.eval(bench.test_stream)
    acc_later = [v for k, v in res.items() if k.startswith("Top1_Acc_Exp") and k.endswith("Exp001")]
    assert acc_later == [0.0]  # classes the head does not have are never predicted
    with pytest.raises(ValueError, match="label 3 is out of range for a model with 2 outputs"):
        strategy.train(bench.train_stream[1])  # a plain strategy does not grow the head: said so


def test_selfrefresh_evaluates_a_small_head_with_the_padded_criterion():
    from selfrefresh.strategies import PaddedCrossEntropyLoss, SelfRefresh
    bench = _tiny_stream()
    torch.manual_seed(0)
    model = AutoHeteroRNN(3, 6, 2, cell="gru")
    strategy = SelfRefresh(model=model, optimizer=torch.optim.Adam(model.parameters(), 1e-2),
                           criterion=PaddedCrossEntropyLoss(), train_mb_size=8, train_epochs=1, eval_mb_size=64,
                           evaluator=_quiet_evaluator())
    strategy.train(bench.train_stream[0])
    strategy.eval(bench.test_stream)


def _quiet_evaluator():
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training.plugins import EvaluationPlugin
    return EvaluationPlugin(accuracy_metrics(experience=True), loggers=[])


def test_nan_in_test_data_is_refused():
    """At stream building (selfrefresh's streams) and at evaluation (any other benchmark)."""
    from avalanche.benchmarks.scenarios.supervised import class_incremental_benchmark
    from torch.utils.data import TensorDataset
    from selfrefresh.benchmarks.base import class_incremental_stream
    from selfrefresh.strategies import make_strategy
    tx = torch.randn(16, 5, 3)
    ty = torch.arange(2).repeat_interleave(8)
    ex = tx.clone()
    ex[3, 2, 1] = float("nan")
    with pytest.raises(ValueError, match="test sequences contain NaN or inf"):
        class_incremental_stream(tx, ty, ex, ty, n_experiences=1)
    bench = class_incremental_benchmark({"train": TensorDataset(tx, ty), "test": TensorDataset(ex, ty)},
                                        class_order=[0, 1], num_classes_per_exp=[2])
    model = AutoHeteroRNN(3, 4, 2)
    strategy = make_strategy("naive", model, torch.optim.SGD(model.parameters(), 0.1), train_mb_size=8,
                             eval_mb_size=8, evaluator=_quiet_evaluator())
    strategy.train(bench.train_stream[0])
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        strategy.eval(bench.test_stream)
    # a model that does not check its input: the criterion refuses NaN outputs
    seq = nn.Sequential(nn.Flatten(), nn.Linear(15, 2))
    strategy = make_strategy("naive", seq, torch.optim.SGD(seq.parameters(), 0.1), eval_mb_size=8,
                             evaluator=_quiet_evaluator())
    with pytest.raises(ValueError, match="logits contains NaN or inf"):
        strategy.eval(bench.test_stream)


def test_stream_labels_must_be_integers():
    import numpy as np
    from selfrefresh.benchmarks.base import class_incremental_stream
    x = np.zeros((4, 3, 2), np.float32)
    with pytest.raises(TypeError, match=r"train labels must be integer class indices, got float values such as \[0.5"):
        class_incremental_stream(x, np.array([0.5, 1.0, 0.0, 1.0]), x, np.array([0, 1, 0, 1]), n_experiences=1)
    with pytest.raises(TypeError, match="test labels must be integer class indices, got dtype <U1"):
        class_incremental_stream(x, np.array([0, 1, 0, 1]), x, np.array(list("abab")), n_experiences=1)
    with pytest.raises(ValueError, match="train sequences must be an array"):
        class_incremental_stream([np.zeros((2, 2)), np.zeros((3, 2))], [0, 1], x, [0, 1, 0, 1], n_experiences=1)
    bench = class_incremental_stream(x, np.array([0.0, 1.0, 0.0, 1.0]), x, np.array([0, 1, 0, 1]), n_experiences=1)
    assert bench.num_classes == 2  # whole-number floats are fine
