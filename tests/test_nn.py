"""Cells and layers: parity with torch's fused kernels, shared parameters, clear errors."""
import pytest
import torch
from torch import nn

import selfrefresh.nn as snn

KINDS = ["srn", "rnn", "gru", "lstm"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layers", [1, 2])
def test_step_matches_fused_sequence(kind, layers):
    torch.manual_seed(0)
    layer = snn.make_layer(kind, 5, 7, layers)
    x = torch.randn(3, 9, 5)
    out, final = layer(x)
    state, steps = None, []
    for t in range(9):
        y, state = layer.step(x[:, t], state)
        steps.append(y)
    assert torch.allclose(out, torch.stack(steps, 1), atol=1e-5)
    finals = final if isinstance(final, tuple) else (final,)
    states = state if isinstance(state, tuple) else (state,)
    for a, b in zip(finals, states):
        assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("ours,theirs", [(snn.RNN, nn.RNN), (snn.GRU, nn.GRU), (snn.LSTM, nn.LSTM)])
def test_layers_equal_torch_modules_with_same_weights(ours, theirs):
    torch.manual_seed(1)
    a = ours(4, 6, 2)
    b = theirs(4, 6, 2, batch_first=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 5, 4)
    assert torch.allclose(a(x)[0], b(x)[0], atol=1e-6)


@pytest.mark.parametrize("ours,theirs", [(snn.RNNCell, nn.RNNCell), (snn.GRUCell, nn.GRUCell),
                                         (snn.LSTMCell, nn.LSTMCell)])
def test_standalone_cells_equal_torch_cells(ours, theirs):
    torch.manual_seed(2)
    a, b = ours(4, 6), theirs(4, 6)
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, 4)
    ra, rb = a(x), b(x)
    ra = ra if isinstance(ra, tuple) else (ra,)
    rb = rb if isinstance(rb, tuple) else (rb,)
    for u, v in zip(ra, rb):
        assert torch.allclose(u, v, atol=1e-6)


def test_sigmoid_srn_is_an_elman_network():
    torch.manual_seed(3)
    srn = snn.SRN(3, 4)
    x = torch.randn(2, 6, 3)
    h = torch.full((2, 4), 0.5)  # Elman's context starts at 0.5
    for t in range(6):
        h = torch.sigmoid(x[:, t] @ srn.weight_ih_l0.T + srn.bias_ih_l0 + h @ srn.weight_hh_l0.T + srn.bias_hh_l0)
    out, final = srn(x)
    assert torch.allclose(out[:, -1], h, atol=1e-6)
    assert out.min() > 0 and out.max() < 1


def test_cell_shares_parameters_with_layer():
    layer = snn.LSTM(3, 4)
    cell = layer.cell(0)
    assert cell.weight_ih is layer.weight_ih_l0
    with torch.no_grad():
        layer.weight_hh_l0.add_(1.0)
    assert torch.equal(cell.weight_hh, layer.weight_hh_l0)
    # gradients through the cell reach the layer's parameters
    h, c = cell(torch.randn(2, 3))
    h.sum().backward()
    assert layer.weight_ih_l0.grad is not None and layer.weight_ih_l0.grad.abs().sum() > 0
    # the layer's parameters are not duplicated by the cell
    assert len(list(layer.parameters())) == 4


def test_state_flatten_roundtrip():
    layer = snn.LSTM(3, 4, num_layers=2)
    _, state = layer(torch.randn(5, 2, 3))
    flat = layer.flatten_state(state)
    assert flat.shape == (5, layer.state_size) == (5, 16)
    back = layer.unflatten_state(flat)
    assert all(torch.equal(a, b) for a, b in zip(state, back))


def test_bad_inputs_raise_clear_errors():
    layer = snn.GRU(3, 4)
    with pytest.raises(ValueError, match="3-D input"):
        layer(torch.randn(5, 3))
    with pytest.raises(ValueError, match="expected 3 input features, got 2"):
        layer(torch.randn(1, 5, 2))
    with pytest.raises(ValueError, match="unknown cell type"):
        snn.make_layer("transformer", 3, 4)
    with pytest.raises(IndexError):
        layer.cell(1)


def test_tanh_srn_is_torchs_rnn_and_bias_free_sigmoid_srn_is_elmans():
    torch.manual_seed(4)
    x, h0 = torch.randn(2, 5, 3), torch.randn(1, 2, 4)
    srn, ref = snn.SRN(3, 4, nonlinearity="tanh"), nn.RNN(3, 4, batch_first=True)
    ref.load_state_dict(srn.state_dict())
    assert torch.allclose(srn(x, h0)[0], ref(x, h0)[0], atol=1e-6)
    cell, ref_cell = snn.SRNCell(3, 4, nonlinearity="tanh"), nn.RNNCell(3, 4)
    ref_cell.load_state_dict(cell.state_dict())
    assert torch.allclose(cell(x[:, 0], h0[0]), ref_cell(x[:, 0], h0[0]), atol=1e-6)
    plain = snn.SRN(3, 4, bias=False)
    h = torch.full((2, 4), 0.5)
    for t in range(5):
        h = torch.sigmoid(x[:, t] @ plain.weight_ih_l0.T + h @ plain.weight_hh_l0.T)
    assert torch.allclose(plain(x)[0][:, -1], h, atol=1e-6)
    wide = snn.SRN(3, 4).double()                  # the default initial state follows the input's dtype
    assert wide(x.double())[0].dtype == torch.float64


def test_gru_layer_starts_from_the_given_state_and_checks_flat_states():
    torch.manual_seed(5)
    ours, theirs = snn.GRU(3, 4), nn.GRU(3, 4, batch_first=True)
    theirs.load_state_dict(ours.state_dict())
    x, h0 = torch.randn(2, 5, 3), torch.randn(1, 2, 4)
    assert torch.allclose(ours(x, h0)[0], theirs(x, h0)[0], atol=1e-6)
    assert not torch.allclose(ours(x, h0)[0], ours(x)[0], atol=1e-4)
    with pytest.raises(ValueError, match=r"expected a flat state of shape \(batch, 4\), got \(2, 5\)"):
        ours.unflatten_state(torch.zeros(2, 5))


def test_a_cell_names_the_2d_shape_it_takes():
    cell = snn.SRNCell(3, 4)
    with pytest.raises(ValueError, match=r"expected a 2-D input \(batch, features\), got shape \(2, 5, 3\)"):
        cell(torch.randn(2, 5, 3))
