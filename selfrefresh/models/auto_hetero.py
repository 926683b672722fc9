"""Auto-hetero-associative recurrent networks (Ans & Rousset).

One recurrent core feeds two heads:

* the **hetero** head maps the hidden state to class logits (the task);
* the **auto** head reconstructs, at every step, the step's whole input: the item ``x_t`` *and*
  the context (the previous recurrent state, flattened). Training the auto head makes learned
  (item, context) pairs near-fixed points of the auto map, which reverberation exploits.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import Tensor, nn

from .._checks import check_finite, check_int, check_tensor
from ..nn import make_layer

__all__ = ["AutoHeteroRNN", "AutoHeteroOutput", "READOUTS"]

#: what the class head can read: the mean of the top layer's outputs over the steps, or the last step
READOUTS = ("mean", "last")


class AutoHeteroOutput(NamedTuple):
    """Everything one pass over a sequence produces.

    logits (B, C) class logits from the steps' mean (or the final step, ``readout="last"``);
    step_logits (B, T, C) the hetero head at every step; features (B, T, H) top-layer outputs;
    recon (B, T, F + S) auto head output (B, T, F without context); recon_target, same shape, the
    detached [x_t, context_(t-1)] it should reconstruct; final_state the layer's final state.
    """
    logits: Tensor
    step_logits: Tensor
    features: Tensor
    recon: Tensor
    recon_target: Tensor
    final_state: object


def _check_finite_input(x: Tensor, input_size: int, dtype: Optional[torch.dtype] = None, name: str = "x",
                        rank: int = 3) -> None:
    """x (batch, time, F) (or (batch, F) with ``rank=2``): a finite float tensor of the model's dtype."""
    if not isinstance(x, Tensor):
        raise TypeError(f"AutoHeteroRNN: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != rank:
        shape = f"(batch, time, {input_size})" if rank == 3 else f"(batch, {input_size})"
        raise ValueError(f"AutoHeteroRNN: expected {name} of shape {shape}, got shape {tuple(x.shape)}")
    if x.shape[-1] != input_size:
        raise ValueError(f"AutoHeteroRNN: expected {input_size} features per step, got {x.shape[-1]} "
                         f"({name} shape {tuple(x.shape)})")
    if rank == 3 and x.shape[1] == 0:
        raise ValueError("AutoHeteroRNN: got a sequence with 0 time steps")
    check_tensor(x, name, "AutoHeteroRNN", dtype=dtype)
    check_finite(x, name, "AutoHeteroRNN")


class AutoHeteroRNN(nn.Module):
    """Recurrent classifier with a hetero (class) head and an auto (reconstruction) head.

    Args:
        input_size: features per step ``F``.
        hidden_size: recurrent units per layer ``H``.
        num_classes: initial number of outputs ``C`` (grows with :meth:`grow`).
        cell: ``"lstm" | "gru" | "rnn" | "srn"``.
        num_layers: stacked recurrent layers.
        dropout: dropout between recurrent layers.
        auto_activation: ``None`` (linear reconstruction, real-valued data) or ``"sigmoid"``
            (binary items and sigmoid SRN contexts, as in the original papers).
        srn_nonlinearity: ``"sigmoid"`` or ``"tanh"`` units when ``cell="srn"``.
        readout: what the class head reads: ``"mean"`` (default: the mean of the top-layer
            outputs over the steps, a time-pooled embedding, as speech classifiers pool frames) or
            ``"last"`` (the final step's top-layer output, as in the papers). With ``"last"`` the
            old classes of a class-incremental stream stay apart in NET1's time average but not
            at its final step (docs/memory.md, sixteenth pass).

    Shape:
        ``forward(x)``: x (B, T, F) -> logits (B, C), so Avalanche uses it as any classifier.
    """

    def __init__(self, input_size: int, hidden_size: int, num_classes: int, cell: str = "lstm",
                 num_layers: int = 1, dropout: float = 0.0, auto_activation: Optional[str] = None,
                 srn_nonlinearity: str = "sigmoid", readout: str = "mean"):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("num_classes", num_classes), ("num_layers", num_layers)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"AutoHeteroRNN: {name} must be a positive int, got {type(v).__name__} {v!r}")
            if v < 1:
                raise ValueError(f"AutoHeteroRNN: {name} must be a positive int, got {v!r}")
        if not isinstance(cell, str):
            raise TypeError(f"AutoHeteroRNN: cell must be a str ('srn', 'rnn', 'gru' or 'lstm'), got "
                            f"{type(cell).__name__}")
        if auto_activation not in (None, "sigmoid"):
            raise ValueError(f"auto_activation must be None or 'sigmoid', got {auto_activation!r}")
        if readout not in READOUTS:
            raise ValueError(f"AutoHeteroRNN: readout must be 'mean' or 'last', got {readout!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.cell_type = cell.lower()
        self.num_layers = num_layers
        self.auto_activation = auto_activation
        kw = {"nonlinearity": srn_nonlinearity} if self.cell_type == "srn" else {}
        self.rnn = make_layer(self.cell_type, input_size, hidden_size, num_layers, dropout=dropout, **kw)
        self.classifier = nn.Linear(hidden_size, num_classes)
        self.auto_head = nn.Linear(hidden_size, input_size + self.rnn.state_size)
        self.readout = readout

    def readout_of(self, out: Tensor, before: Optional[Tensor] = None) -> Tensor:
        """The class head's input (B, H) from the top layer's outputs ``out`` (B, T, H).

        ``before`` (B, T0, H): the outputs of the steps that came before ``out`` when a sequence
        runs in two parts (the second from the first's final state); the mean readout averages
        over both, so the two parts give what one pass gives.
        """
        if self.readout == "last":
            return out[:, -1]
        if before is None:
            return out.mean(1)
        return (before.sum(1) + out.sum(1)) / (before.shape[1] + out.shape[1])

    # -- sizes --------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self.classifier.out_features

    @property
    def state_size(self) -> int:
        """Size ``S`` of the flattened context (all layers, h and c for LSTM)."""
        return self.rnn.state_size

    def grow(self, num_classes: int) -> None:
        """Enlarge the class head to ``num_classes`` outputs; old rows are kept unchanged.

        ``num_classes`` must be an int (TypeError otherwise) no smaller than the current head.
        """
        num_classes = check_int(num_classes, "num_classes", "AutoHeteroRNN.grow", minimum=1)
        old = self.classifier
        if num_classes < old.out_features:
            raise ValueError(f"cannot shrink the class head from {old.out_features} to {num_classes}")
        if num_classes == old.out_features:
            return
        new = nn.Linear(self.hidden_size, num_classes).to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            new.weight[: old.out_features] = old.weight
            new.bias[: old.out_features] = old.bias
        self.classifier = new

    # -- passes -------------------------------------------------------------------------------
    @property
    def _dtype(self) -> torch.dtype:
        return self.classifier.weight.dtype

    def _check_logits(self, logits: Tensor, x: Tensor) -> Tensor:
        """No NaN leaves the model: non-finite logits from finite input mean overflow or broken weights."""
        if not bool(torch.isfinite(logits).all()):
            if not all(bool(torch.isfinite(p).all()) for p in self.parameters()):
                raise ValueError("AutoHeteroRNN: the model's parameters contain NaN or inf (training diverged?)")
            raise ValueError(f"AutoHeteroRNN: x has values too large for the network (max |x| = "
                             f"{float(x.detach().abs().max()):.3g}) and gave NaN or inf outputs; scale the input")
        return logits

    def _auto(self, features: Tensor, items_only: bool = False) -> Tensor:
        """The auto head on features (..., H): (..., F + S), or only its item part (..., F)
        (the first F rows of the head: the context rows are not computed)."""
        if items_only:
            f = self.input_size
            r = nn.functional.linear(features, self.auto_head.weight[:f], self.auto_head.bias[:f])
        else:
            r = self.auto_head(features)
        return torch.sigmoid(r) if self.auto_activation == "sigmoid" else r

    def forward(self, x: Tensor) -> Tensor:
        """x (B, T, F) -> class logits (B, C) from the final step (or the mean over steps)."""
        _check_finite_input(x, self.input_size, self._dtype)
        out, _ = self.rnn(x)
        return self._check_logits(self.classifier(self.readout_of(out)), x)

    def run(self, x: Tensor, state=None, with_context: bool = True,
            before: Optional[Tensor] = None) -> AutoHeteroOutput:
        """Full pass: logits, per-step logits, features, reconstructions and their targets.

        With ``with_context`` the auto part reconstructs [x_t, context_(t-1)] (B, T, F + S), the
        context being the flattened state *before* each step; without it only x_t (B, T, F),
        which keeps the whole pass on the fused kernel. A one-layer SRN/RNN/GRU gets its contexts
        from the fused outputs; LSTM (whose cell state the fused kernel does not return) and
        stacked layers step the shared cells. ``state`` and ``before`` continue a sequence: the
        state after its earlier steps and their top-layer outputs (B, T0, H) (see :meth:`readout_of`).
        """
        _check_finite_input(x, self.input_size, self._dtype)
        b, t, _ = x.shape
        if state is None:
            state = self.rnn.init_state(b, x.device, x.dtype)
        else:
            self.rnn._check_state(state, b, "AutoHeteroRNN.run", x.dtype)
        if not with_context:
            out, final = self.rnn(x, state)
            recon, recon_target = self._auto(out, items_only=True), x.detach()
        else:
            if self.num_layers == 1 and not self.rnn.is_lstm:
                out, final = self.rnn(x, state)
                contexts = torch.cat([state.transpose(0, 1), out[:, :-1]], dim=1)  # (B, T, H)
            else:
                outs, ctx = [], []
                s = state
                for i in range(t):
                    ctx.append(self.rnn.flatten_state(s))
                    y, s = self.rnn.step(x[:, i], s)
                    outs.append(y)
                out, final = torch.stack(outs, 1), s
                contexts = torch.stack(ctx, 1)
            recon = self._auto(out)
            recon_target = torch.cat([x, contexts], dim=-1).detach()
        return AutoHeteroOutput(self._check_logits(self.classifier(self.readout_of(out, before)), x),
                                self.classifier(out), out,
                                recon, recon_target, final)

    def step(self, x_t: Tensor, context: Optional[Tensor] = None):
        """One static step on a flat (item, context) pair, as in Ans et al. (2004).

        x_t (B, F), context (B, S) or None (initial state) ->
        (logits (B, C), recon (B, F + S), next context (B, S)).
        """
        _check_finite_input(x_t, self.input_size, self._dtype, "x_t", rank=2)
        if context is None:
            state = self.rnn.init_state(x_t.shape[0], x_t.device, x_t.dtype)
        else:
            check_tensor(context, "context", "AutoHeteroRNN.step", 2, f"(batch, {self.state_size})", x_t.dtype)
            if tuple(context.shape) != (x_t.shape[0], self.state_size):
                raise ValueError(f"AutoHeteroRNN.step: context must have shape ({x_t.shape[0]}, {self.state_size}), "
                                 f"got {tuple(context.shape)}")
            check_finite(context, "context", "AutoHeteroRNN.step")
            state = self.rnn.unflatten_state(context)
        y, new_state = self.rnn.step(x_t, state)
        return self._check_logits(self.classifier(y), x_t), self._auto(y), self.rnn.flatten_state(new_state)

    def reconstruct(self, x: Tensor) -> Tensor:
        """The item part of the auto output for a whole sequence: x (B, T, F) -> (B, T, F)."""
        _check_finite_input(x, self.input_size, self._dtype)
        out, _ = self.rnn(x)
        return self._auto(out, items_only=True)

    def features(self, x: Tensor) -> Tensor:
        """The embedding the class head reads (B, H): the final top-layer output, or their mean
        over the steps (``readout="mean"``)."""
        _check_finite_input(x, self.input_size, self._dtype)
        out, _ = self.rnn(x)
        return self.readout_of(out)
