"""Gate activity of LSTM and GRU layers, and how saturated each unit's gates are.

The fused kernels do not return gates, so they are recomputed from the layer's own parameters
(``layer.cell(i)``) on the inputs and previous states of a step-by-step replay. Gate order follows
torch: LSTM (i, f, g, o), GRU (r, z, n).

A gate value is *left-saturated* below ``low`` (0.1) and *right-saturated* above ``high`` (0.9);
Karpathy et al. (2015) plot, per unit, the fraction of steps spent in each.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ._common import check_lengths, length_mask, recurrent_layer, step_trace

__all__ = ["GATE_NAMES", "GateSaturation", "gate_activations", "gate_saturation"]

# The sigmoid gates of each cell (the LSTM candidate g and GRU candidate n are tanh, not gates).
GATE_NAMES = {"lstm": ("input", "forget", "output"), "gru": ("reset", "update")}


def _kind(rnn) -> str:
    name = type(rnn).__name__.lower()
    if name in GATE_NAMES:
        return name
    raise ValueError(f"gate analysis needs an LSTM or GRU layer; {type(rnn).__name__} has no gates")


@torch.no_grad()
def gate_activations(model: nn.Module, x: Tensor, layer: int = 0) -> Dict[str, Tensor]:
    """Sigmoid gate values of one layer at every step: name -> (B, T, H).

    LSTM: ``input``, ``forget``, ``output``; GRU: ``reset``, ``update``. x (B, T, F).
    """
    rnn = recurrent_layer(model)
    kind = _kind(rnn)
    if not -rnn.num_layers <= layer < rnn.num_layers:
        raise IndexError(f"layer {layer} out of range for {rnn.num_layers} layer(s)")
    layer %= rnn.num_layers
    tr = step_trace(rnn, x)[layer]
    cell = rnn.cell(layer)
    pre = F.linear(tr.inputs, cell.weight_ih, cell.bias_ih) + F.linear(tr.h_prev, cell.weight_hh, cell.bias_hh)
    if kind == "lstm":
        i, f, _, o = pre.chunk(4, dim=-1)
        return {"input": torch.sigmoid(i), "forget": torch.sigmoid(f), "output": torch.sigmoid(o)}
    r, z, _ = pre.chunk(3, dim=-1)  # the r and z pre-activations are plain sums, as in torch's GRU
    return {"reset": torch.sigmoid(r), "update": torch.sigmoid(z)}


@dataclass
class GateSaturation:
    """Per-gate, per-unit saturation fractions.

    left[name], right[name]: (H,) fraction of valid steps with the gate below ``low`` / above ``high``;
    values[name]: the flat valid gate values (for histograms).
    """
    left: Dict[str, np.ndarray]
    right: Dict[str, np.ndarray]
    values: Dict[str, np.ndarray]
    low: float = 0.1
    high: float = 0.9

    def summary(self) -> Dict[str, Dict[str, float]]:
        """Mean left/right saturation and the share of units saturated more than half the time."""
        out = {}
        for g in self.left:
            out[g] = {"left": float(self.left[g].mean()), "right": float(self.right[g].mean()),
                      "units_mostly_saturated": float(((self.left[g] + self.right[g]) > 0.5).mean())}
        return out


def gate_saturation(gates, lengths=None, low: float = 0.1, high: float = 0.9,
                    model: Optional[nn.Module] = None, layer: int = 0) -> GateSaturation:
    """Saturation statistics of gates (name -> (B, T, H)), or of ``gate_activations(model, gates)``
    when ``model`` is given and ``gates`` is the data x (B, T, F). Padding past ``lengths`` is ignored.
    """
    if not 0.0 <= low < high <= 1.0:
        raise ValueError(f"need 0 <= low < high <= 1, got low={low}, high={high}")
    if model is not None:
        gates = gate_activations(model, gates, layer)
    if not isinstance(gates, dict) or not gates:
        raise ValueError("gates: expected a non-empty dict name -> (batch, time, units) tensor")
    left, right, values = {}, {}, {}
    for name, g in gates.items():
        if g.dim() != 3:
            raise ValueError(f"gate {name!r}: expected (batch, time, units), got {tuple(g.shape)}")
        b, t, _ = g.shape
        mask = length_mask(check_lengths(lengths, b, t), b, t, g.device)
        v = g[mask]  # (N, H)
        left[name] = (v < low).double().mean(0).cpu().numpy()
        right[name] = (v > high).double().mean(0).cpu().numpy()
        values[name] = v.reshape(-1).cpu().numpy()
    return GateSaturation(left, right, values, low, high)
