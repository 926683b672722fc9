"""Recurrent cells and layers with torch.nn conventions.

Every layer is ``batch_first`` and runs whole sequences through PyTorch's fused kernels
(cuDNN on GPU); :meth:`step` and :meth:`cell` run one time step with the *same* parameter
tensors, which is what reverberation and free-running generation need.

Shapes (``B`` batch, ``T`` time, ``F`` input features, ``H`` hidden units, ``L`` layers):

* ``layer(x, state=None) -> (outputs, final_state)``: ``x`` (B, T, F), ``outputs`` (B, T, H),
  ``final_state`` (L, B, H), or a tuple ``(h, c)`` of two (L, B, H) for :class:`LSTM`.
* ``layer.step(x_t, state) -> (y_t, state)``: ``x_t`` (B, F), ``y_t`` (B, H).
* ``cell(x_t, state) -> state``: one layer, one step; ``state`` (B, H) or ``(h, c)``.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple, Union

import torch
from torch import Tensor, nn
from torch import _VF

from .._checks import check_tensor

State = Union[Tensor, Tuple[Tensor, Tensor]]

__all__ = [
    "SRN", "SRNCell", "RNN", "RNNCell", "GRU", "GRUCell", "LSTM", "LSTMCell",
    "make_layer", "CELL_TYPES",
]


def _check_input(x: Tensor, input_size: int, what: str, rank: int, dtype: Optional[torch.dtype] = None) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != rank:
        shape = "(batch, time, features)" if rank == 3 else "(batch, features)"
        raise ValueError(f"{what}: expected a {rank}-D input {shape}, got shape {tuple(x.shape)}")
    if x.shape[-1] != input_size:
        raise ValueError(f"{what}: expected {input_size} input features, got {x.shape[-1]} "
                         f"(input shape {tuple(x.shape)})")
    if rank == 3 and x.shape[1] == 0:
        raise ValueError(f"{what}: got a sequence with 0 time steps (input shape {tuple(x.shape)})")
    check_tensor(x, "input", what, dtype=dtype)


def _check_state_tensor(t, shape: tuple, what: str, name: str, dtype=None) -> None:
    if not isinstance(t, Tensor):
        raise TypeError(f"{what}: {name} must be a torch.Tensor, got {type(t).__name__}")
    if tuple(t.shape) != shape:
        raise ValueError(f"{what}: {name} must have shape {shape}, got {tuple(t.shape)}")
    if not t.is_floating_point() or (dtype is not None and t.dtype != dtype):
        raise TypeError(f"{what}: {name} must have dtype {dtype or 'float'}, got {t.dtype}")


def _check_state(state, shape: tuple, lstm: bool, what: str, dtype=None) -> None:
    """A recurrent state: a tensor of ``shape``, or for LSTM a pair (h, c) of such tensors."""
    if lstm:
        if not isinstance(state, (tuple, list)) or len(state) != 2:
            raise TypeError(f"{what}: an LSTM state must be a pair (h, c) of tensors of shape {shape}, "
                            f"got {type(state).__name__}")
        _check_state_tensor(state[0], shape, what, "state h", dtype)
        _check_state_tensor(state[1], shape, what, "state c", dtype)
    else:
        _check_state_tensor(state, shape, what, "state", dtype)


# ----------------------------------------------------------------------------------------------
# Step cells. A cell either owns its parameters (built directly) or borrows those of one layer
# of a multi-layer module (``layer.cell(i)``): the same Parameter objects, so training either
# trains both.
# ----------------------------------------------------------------------------------------------
class _Cell(nn.Module):
    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, _borrow=None):
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        if _borrow is not None:
            w_ih, w_hh, b_ih, b_hh = _borrow
            self.weight_ih, self.weight_hh = w_ih, w_hh
            self.bias_ih, self.bias_hh = b_ih, b_hh
        else:
            g = self.gates * hidden_size
            self.weight_ih = nn.Parameter(torch.empty(g, input_size))
            self.weight_hh = nn.Parameter(torch.empty(g, hidden_size))
            if bias:
                self.bias_ih = nn.Parameter(torch.empty(g))
                self.bias_hh = nn.Parameter(torch.empty(g))
            else:
                self.register_parameter("bias_ih", None)
                self.register_parameter("bias_hh", None)
            self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        return torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def _prepare(self, x: Tensor, state):
        what = type(self).__name__
        _check_input(x, self.input_size, what, 2, self.weight_ih.dtype)
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        else:
            _check_state(state, (x.shape[0], self.hidden_size), self.gates == 4, what, x.dtype)
        return state


class RNNCell(_Cell):
    """Elman-style tanh cell, ``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``. x (B, F), h (B, H)."""

    def forward(self, x: Tensor, state: Optional[Tensor] = None) -> Tensor:
        h = self._prepare(x, state)
        return _VF.rnn_tanh_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class SRNCell(_Cell):
    """Simple recurrent network (Elman 1990) cell: the context is the previous hidden state.

    ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with ``act`` = sigmoid (the units of Elman's and of
    Ans et al.'s SRNs, context starting at 0.5) or tanh (then identical to :class:`RNNCell`).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "sigmoid", *, _borrow=None):
        if nonlinearity not in ("sigmoid", "tanh"):
            raise ValueError(f"SRNCell: nonlinearity must be 'sigmoid' or 'tanh', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, _borrow=_borrow)

    def init_state(self, batch_size: int, device=None, dtype=None) -> Tensor:
        fill = 0.5 if self.nonlinearity == "sigmoid" else 0.0
        return torch.full((batch_size, self.hidden_size), fill, device=device, dtype=dtype)

    def forward(self, x: Tensor, state: Optional[Tensor] = None) -> Tensor:
        h = self._prepare(x, state)
        z = nn.functional.linear(x, self.weight_ih, self.bias_ih) + nn.functional.linear(
            h, self.weight_hh, self.bias_hh)
        return torch.sigmoid(z) if self.nonlinearity == "sigmoid" else torch.tanh(z)


class GRUCell(_Cell):
    """Gated recurrent unit cell (gate order r, z, n as torch.nn.GRUCell). x (B, F), h (B, H)."""
    gates = 3

    def forward(self, x: Tensor, state: Optional[Tensor] = None) -> Tensor:
        h = self._prepare(x, state)
        return _VF.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)


class LSTMCell(_Cell):
    """Long short-term memory cell (gate order i, f, g, o as torch.nn.LSTMCell).

    ``(h', c') = cell(x, (h, c))``; x (B, F), h and c (B, H).
    """
    gates = 4

    def init_state(self, batch_size: int, device=None, dtype=None):
        z = torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype)
        return (z, z.clone())

    def forward(self, x: Tensor, state=None):
        h, c = self._prepare(x, state)
        return tuple(_VF.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh))


# ----------------------------------------------------------------------------------------------
# Layers
# ----------------------------------------------------------------------------------------------
class _LayerMixin:
    """What every selfrefresh layer adds to a torch.nn recurrent module."""
    cell_class = None
    is_lstm = False

    @property
    def state_size(self) -> int:
        """Size of the flattened recurrent state (all layers; h and c for LSTM)."""
        return self.num_layers * self.hidden_size * (2 if self.is_lstm else 1)

    def cell(self, layer: int = 0) -> _Cell:
        """The step cell of one layer, sharing this layer's parameter tensors."""
        if not 0 <= layer < self.num_layers:
            raise IndexError(f"layer index {layer} out of range for {self.num_layers} layer(s)")
        b = (getattr(self, f"bias_ih_l{layer}"), getattr(self, f"bias_hh_l{layer}")) if self.bias else (None, None)
        borrow = (getattr(self, f"weight_ih_l{layer}"), getattr(self, f"weight_hh_l{layer}"), *b)
        in_size = self.input_size if layer == 0 else self.hidden_size
        kw = {"nonlinearity": self.nonlinearity} if self.cell_class is SRNCell else {}
        return self.cell_class(in_size, self.hidden_size, self.bias, _borrow=borrow, **kw)

    def _cells(self):
        # built on demand: cheap (no new parameters), never stale after load_state_dict
        return [self.cell(i) for i in range(self.num_layers)]

    def init_state(self, batch_size: int, device=None, dtype=None) -> State:
        """The initial state: zeros, (h, c) for LSTM, 0.5 for sigmoid SRN units. Shape (L, B, H)."""
        p = next(self.parameters())
        device = device or p.device
        dtype = dtype or p.dtype
        z = torch.zeros(self.num_layers, batch_size, self.hidden_size, device=device, dtype=dtype)
        if self.is_lstm:
            return (z, z.clone())
        if getattr(self, "nonlinearity", "tanh") == "sigmoid":
            return z + 0.5
        return z

    def flatten_state(self, state: State) -> Tensor:
        """(L, B, H) state (or (h, c)) -> (B, state_size)."""
        parts = state if self.is_lstm else (state,)
        return torch.cat([p.transpose(0, 1).reshape(p.shape[1], -1) for p in parts], dim=1)

    def unflatten_state(self, flat: Tensor) -> State:
        """(B, state_size) -> the layer's state layout."""
        if not isinstance(flat, Tensor):
            raise TypeError(f"expected a flat state tensor of shape (batch, {self.state_size}), "
                            f"got {type(flat).__name__}")
        if flat.dim() != 2 or flat.shape[1] != self.state_size:
            raise ValueError(f"expected a flat state of shape (batch, {self.state_size}), got {tuple(flat.shape)}")
        b = flat.shape[0]
        parts = flat.split(self.num_layers * self.hidden_size, dim=1)
        parts = [p.reshape(b, self.num_layers, self.hidden_size).transpose(0, 1).contiguous() for p in parts]
        return tuple(parts) if self.is_lstm else parts[0]

    def step(self, x_t: Tensor, state: Optional[State] = None):
        """One time step through all layers with the shared parameters.

        x_t (B, F) -> (y_t (B, H), new state in the layer's layout).
        """
        what = f"{type(self).__name__}.step"
        _check_input(x_t, self.input_size, what, 2, self.weight_ih_l0.dtype)
        if state is None:
            state = self.init_state(x_t.shape[0], x_t.device, x_t.dtype)
        else:
            self._check_state(state, x_t.shape[0], what, x_t.dtype)
        new_h, new_c = [], []
        inp = x_t
        for i, cell in enumerate(self._cells()):
            if self.is_lstm:
                h, c = cell(inp, (state[0][i], state[1][i]))
                new_c.append(c)
            else:
                h = cell(inp, state[i])
            new_h.append(h)
            inp = h
            if self.dropout and self.training and i < self.num_layers - 1:
                inp = nn.functional.dropout(inp, self.dropout, True)
        h = torch.stack(new_h)
        return inp, ((h, torch.stack(new_c)) if self.is_lstm else h)

    def _check_state(self, state, batch: int, what: str, dtype=None) -> None:
        _check_state(state, (self.num_layers, batch, self.hidden_size), self.is_lstm, what, dtype)

    def _check_seq(self, x: Tensor, state=None) -> None:
        what = type(self).__name__
        _check_input(x, self.input_size, what, 3, self.weight_ih_l0.dtype)
        if state is not None:
            self._check_state(state, x.shape[0], what, x.dtype)


class RNN(_LayerMixin, nn.RNN):
    """Multi-layer tanh RNN, batch first; fused kernel for sequences, :meth:`step` for one step."""
    cell_class = RNNCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers, nonlinearity="tanh", bias=bias,
                         batch_first=True, dropout=dropout)

    def forward(self, x: Tensor, state: Optional[Tensor] = None):
        self._check_seq(x, state)
        return super().forward(x, state)


class GRU(_LayerMixin, nn.GRU):
    """Multi-layer GRU, batch first; fused kernel for sequences, :meth:`step` for one step."""
    cell_class = GRUCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=True, dropout=dropout)

    def forward(self, x: Tensor, state: Optional[Tensor] = None):
        self._check_seq(x, state)
        return super().forward(x, state)


class LSTM(_LayerMixin, nn.LSTM):
    """Multi-layer LSTM, batch first; state is ``(h, c)``, each (L, B, H)."""
    cell_class = LSTMCell
    is_lstm = True

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0):
        super().__init__(input_size, hidden_size, num_layers, bias=bias, batch_first=True, dropout=dropout)

    def forward(self, x: Tensor, state=None):
        self._check_seq(x, state)
        return super().forward(x, state)


class SRN(_LayerMixin, nn.RNN):
    """Elman simple recurrent network, batch first, sigmoid (default) or tanh units.

    The sigmoid SRN also runs on the fused tanh kernel, exactly: with ``g = 2h - 1``,
    ``sigmoid(z) = (tanh(z / 2) + 1) / 2``, so the fused kernel is called with rescaled
    weights and its output mapped back. Parameters keep their plain SRN meaning
    (``h' = sigmoid(W_ih x + b_ih + W_hh h + b_hh)``), as in :class:`SRNCell`.
    """
    cell_class = SRNCell

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0, nonlinearity: str = "sigmoid"):
        if nonlinearity not in ("sigmoid", "tanh"):
            raise ValueError(f"SRN: nonlinearity must be 'sigmoid' or 'tanh', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, nonlinearity="tanh", bias=bias,
                         batch_first=True, dropout=dropout)
        self.nonlinearity = nonlinearity  # set after nn.RNN's own checks

    def forward(self, x: Tensor, state: Optional[Tensor] = None):
        self._check_seq(x, state)
        if self.nonlinearity == "tanh":
            return nn.RNN.forward(self, x, state)
        if state is None:
            state = self.init_state(x.shape[0], x.device, x.dtype)
        weights = []
        for i in range(self.num_layers):
            w_ih = getattr(self, f"weight_ih_l{i}")
            w_hh = getattr(self, f"weight_hh_l{i}")
            b = (getattr(self, f"bias_ih_l{i}") + getattr(self, f"bias_hh_l{i}")) if self.bias \
                else w_ih.new_zeros(self.hidden_size)
            # z/2 = (W_ih/2) x + (W_hh/4) g + W_hh.1/4 + b/2 for layer 0 (x raw);
            # deeper layers receive h = (g + 1)/2 too: W_ih/4 and W_ih.1/4.
            s_in = 0.5 if i == 0 else 0.25
            b2 = 0.5 * b + 0.25 * w_hh.sum(1) + (0.25 * w_ih.sum(1) if i > 0 else 0.0)
            weights += [w_ih * s_in, w_hh * 0.25, b2, torch.zeros_like(b2)]
        g0 = 2.0 * state - 1.0
        out, g = _VF.rnn_tanh(x, g0, weights, True, self.num_layers, float(self.dropout),
                              self.training, False, True)
        return (out + 1.0) * 0.5, (g + 1.0) * 0.5


CELL_TYPES = {"srn": SRN, "rnn": RNN, "gru": GRU, "lstm": LSTM}


def make_layer(kind: str, input_size: int, hidden_size: int, num_layers: int = 1, **kwargs) -> nn.Module:
    """Build a layer by name: ``"srn" | "rnn" | "gru" | "lstm"``."""
    try:
        cls = CELL_TYPES[kind.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown cell type {kind!r}; choose one of {sorted(CELL_TYPES)}") from None
    return cls(input_size, hidden_size, num_layers, **kwargs)
