"""AutoHeteroRNN: heads, contexts, growth, errors."""
import pytest
import torch

from selfrefresh.models import AutoHeteroRNN


@pytest.mark.parametrize("cell", ["srn", "rnn", "gru", "lstm"])
def test_run_shapes_and_context_targets(cell):
    torch.manual_seed(0)
    m = AutoHeteroRNN(5, 8, 3, cell=cell)
    x = torch.randn(4, 6, 5)
    out = m.run(x)
    s = m.state_size
    assert out.logits.shape == (4, 3) and out.step_logits.shape == (4, 6, 3)
    assert out.recon.shape == out.recon_target.shape == (4, 6, 5 + s)
    assert torch.allclose(m(x), out.logits, atol=1e-6)
    # context target at step t is the state before step t: replay it with step()
    ctx = out.recon_target[:, 0, 5:]
    for t in range(6):
        assert torch.allclose(out.recon_target[:, t, 5:], ctx, atol=1e-5)
        logits, recon, ctx = m.step(x[:, t], ctx)
        assert torch.allclose(logits, out.step_logits[:, t], atol=1e-5)
        assert torch.allclose(recon, out.recon[:, t], atol=1e-5)
    short = m.run(x, with_context=False)
    assert short.recon.shape == (4, 6, 5)
    assert torch.allclose(short.recon, m.reconstruct(x), atol=1e-6)


def test_grow_keeps_old_outputs_intact():
    torch.manual_seed(1)
    m = AutoHeteroRNN(3, 6, 2, cell="gru")
    x = torch.randn(5, 4, 3)
    before = m(x).detach()
    m.grow(5)
    after = m(x).detach()
    assert after.shape == (5, 5)
    # the grown head may take another matmul kernel path: equal up to float rounding, not bit-exact
    assert torch.allclose(after[:, :2], before, rtol=1e-5, atol=1e-6)
    m.grow(5)  # no-op
    assert m.num_classes == 5
    with pytest.raises(ValueError, match="cannot shrink"):
        m.grow(3)


def test_bad_inputs():
    m = AutoHeteroRNN(3, 6, 2)
    with pytest.raises(ValueError, match=r"shape \(batch, time, 3\)"):
        m(torch.randn(4, 3))
    with pytest.raises(ValueError, match="expected 3 features per step, got 4"):
        m(torch.randn(2, 4, 4))
    with pytest.raises(ValueError, match="0 time steps"):
        m(torch.randn(2, 0, 3))
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        AutoHeteroRNN(3, 6, 0)


def test_items_only_passes_match_the_full_auto_head_and_use_the_given_state():
    torch.manual_seed(0)
    m = AutoHeteroRNN(3, 6, 2, cell="gru")
    with torch.no_grad():
        m.auto_head.bias.fill_(0.5)                # a bias the item-only path must keep
    x = torch.randn(4, 5, 3)
    full = m.run(x, with_context=True)
    assert torch.allclose(m.run(x, with_context=False).recon, full.recon[..., :3], atol=1e-6)
    assert torch.allclose(m.reconstruct(x), full.recon[..., :3], atol=1e-6)
    assert torch.allclose(m.features(x), full.features.mean(1), atol=1e-6)  # the default readout: the mean
    assert not torch.allclose(m.features(x), full.features[:, 1], atol=1e-3)
    s0 = torch.randn(1, 4, 6)                     # a given initial state reaches both passes
    given = m.run(x, state=s0, with_context=False)
    assert torch.allclose(given.logits, m.run(x, state=s0, with_context=True).logits, atol=1e-6)
    assert not torch.allclose(given.logits, full.logits, atol=1e-4)


def test_step_and_constructor_name_their_arguments():
    m = AutoHeteroRNN(3, 6, 2, cell="gru")
    with pytest.raises(ValueError, match=r"^AutoHeteroRNN\.step: context"):
        m.step(torch.zeros(2, 3), torch.zeros(2, m.state_size, 1))
    with pytest.raises(ValueError, match="auto_activation must be None or 'sigmoid', got 'relu'"):
        AutoHeteroRNN(3, 6, 2, auto_activation="relu")


def test_auto_hetero_mlp_parts_and_argument_checks():
    from selfrefresh.models import AutoHeteroMLP
    torch.manual_seed(0)
    net = AutoHeteroMLP(1, 1, 1)                   # the smallest sizes are allowed
    x = torch.rand(3, 1)
    full = net(x)
    assert full.shape == (3, 2) and ((full > 0) & (full < 1)).all()
    assert torch.equal(net.hetero(x), full[:, :1]) and torch.equal(net.reconstruct(x), full[:, 1:])
    for args, bad in (((0, 4, 2), "input_size must be a positive int, got 0"),
                      ((3, 2.5, 2), "hidden_size must be a positive int, got 2.5"),
                      ((3, 4, 0), "output_size must be a positive int, got 0")):
        with pytest.raises(ValueError, match=rf"^AutoHeteroMLP: {bad}$"):
            AutoHeteroMLP(*args)


def test_srn_units_are_sigmoid_by_default_and_tanh_when_asked():
    """The Elman SRN of the papers has logistic units: features in (0, 1); tanh units go negative."""
    from selfrefresh.models import AutoHeteroRNN
    from selfrefresh.strategies.self_refresh.calibration import features_of
    torch.manual_seed(0)
    x = torch.randn(16, 5, 3) * 3
    sig = features_of(AutoHeteroRNN(3, 8, 2, cell="srn"), x)
    assert bool(((sig > 0) & (sig < 1)).all())
    torch.manual_seed(0)
    tanh = features_of(AutoHeteroRNN(3, 8, 2, cell="srn", srn_nonlinearity="tanh"), x)
    assert float(tanh.min()) < -0.1


def test_non_finite_input_is_named_by_the_model():
    from selfrefresh.models import AutoHeteroRNN
    m = AutoHeteroRNN(3, 4, 2, cell="rnn")
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"^AutoHeteroRNN: x contains NaN or inf"):
            m(torch.full((2, 3, 3), bad))


def test_sigmoid_auto_activation_keeps_reconstructions_in_the_unit_interval():
    from selfrefresh.models import AutoHeteroRNN
    torch.manual_seed(0)
    x = torch.randn(4, 5, 3) * 5
    a = AutoHeteroRNN(3, 8, 2, cell="gru")
    b = AutoHeteroRNN(3, 8, 2, cell="gru", auto_activation="sigmoid")
    b.load_state_dict(a.state_dict())
    plain, squashed = a.run(x).recon, b.run(x).recon
    assert bool(((squashed > 0) & (squashed < 1)).all())
    assert torch.allclose(squashed, torch.sigmoid(plain), atol=1e-6)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_mean_readout_reads_the_mean_over_steps_and_a_sequence_run_in_two_parts_gives_the_same(cell):
    """readout="mean": the head reads the top layer's outputs averaged over the steps, in forward,
    run and features alike; a sequence run in two parts (the second from the first's state, with
    the first's outputs as ``before``) gives the logits of one pass (the truncated pseudo loss and
    the truncated inversion rely on it). The default stays the last step."""
    torch.manual_seed(0)
    m = AutoHeteroRNN(3, 6, 4, cell=cell, readout="mean")
    assert AutoHeteroRNN(3, 6, 4, cell=cell).readout == "mean"  # the default
    x = torch.randn(5, 7, 3)
    out = m.run(x, with_context=False)
    assert torch.allclose(m.features(x), out.features.mean(1), atol=1e-6)
    assert torch.allclose(out.logits, m.classifier(out.features.mean(1)), atol=1e-6)
    assert torch.allclose(m(x), out.logits, atol=1e-6)
    assert not torch.allclose(out.logits, m.classifier(out.features[:, -1]), atol=1e-3)
    with torch.no_grad():
        before, state = m.rnn(x[:, :3])
    tail = m.run(x[:, 3:], state=state, with_context=False, before=before)
    assert torch.allclose(tail.logits, out.logits, atol=1e-5)
    assert not torch.allclose(m.run(x[:, 3:], state=state, with_context=False).logits, out.logits, atol=1e-3)
    last = AutoHeteroRNN(3, 6, 4, cell=cell)
    last.load_state_dict(m.state_dict())
    assert torch.allclose(last.run(x[:, 3:], state=state, with_context=False, before=before).logits,
                          last(x), atol=1e-5)  # "last" ignores before
    with pytest.raises(ValueError, match="readout must be 'mean' or 'last', got 'max'"):
        AutoHeteroRNN(3, 6, 2, readout="max")
