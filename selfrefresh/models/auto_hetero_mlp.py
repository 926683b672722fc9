"""A feed-forward auto-hetero-associative network (Ans & Rousset 1997's static experiments)."""
from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["AutoHeteroMLP"]


class AutoHeteroMLP(nn.Module):
    """Feed-forward auto-hetero-associative network with sigmoid units (Ans & Rousset 1997).

    One sigmoid hidden layer feeds a sigmoid output layer of ``output_size + input_size``
    units: the hetero part (the targets) then the auto part (the input).

    Shape: ``forward(x)``: x (N, I) -> (N, O + I) output probabilities.
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size),
                        ("output_size", output_size)):
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"AutoHeteroMLP: {name} must be a positive int, got {v!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, output_size
        self.hidden = nn.Linear(input_size, hidden_size)
        self.out = nn.Linear(hidden_size, output_size + input_size)

    def logits(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(f"AutoHeteroMLP: expected input (N, {self.input_size}), got {tuple(x.shape)}")
        return self.out(torch.sigmoid(self.hidden(x)))

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.logits(x))

    def hetero(self, x: Tensor) -> Tensor:
        """The hetero part (N, O)."""
        return self(x)[:, : self.output_size]

    def reconstruct(self, x: Tensor) -> Tensor:
        """The auto part (N, I)."""
        return self(x)[:, self.output_size:]
