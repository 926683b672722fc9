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
