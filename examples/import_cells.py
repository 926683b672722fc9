"""The library's recurrent layers and cells inside your own model.

``selfrefresh.nn.SRN`` (Elman's simple recurrent network, sigmoid units) and ``LSTM`` take
sequences (B, T, F) batch first and run the fused kernel; ``layer.cell(i)`` is a step cell that
shares the layer's parameters, for step-by-step use (e.g. generation, reverberation).

    python examples/import_cells.py
    SELFREFRESH_EXAMPLE_SMALL=1 python examples/import_cells.py
"""
import os

import torch
from torch import nn

from selfrefresh.nn import LSTM, SRN

SMALL = os.environ.get("SELFREFRESH_EXAMPLE_SMALL") == "1"
torch.manual_seed(0)


class NextStepPredictor(nn.Module):
    """An SRN front end feeding an LSTM, predicting the next item of a sequence."""

    def __init__(self, n_items: int, hidden: int = 32):
        super().__init__()
        self.srn = SRN(n_items, hidden)               # sigmoid units, context starts at 0.5
        self.lstm = LSTM(hidden, hidden)
        self.out = nn.Linear(hidden, n_items)

    def forward(self, x):                              # x (B, T, n_items) -> logits (B, T, n_items)
        h, _ = self.srn(x)
        h, _ = self.lstm(h)
        return self.out(h)

    @torch.no_grad()
    def generate(self, first, steps: int):
        """Free-running generation, one step at a time with the layers' step functions."""
        s1 = s2 = None
        item, items = first, [int(first.argmax())]
        for _ in range(steps):
            h, s1 = self.srn.step(item[None], s1)
            h, s2 = self.lstm.step(h, s2)
            item = nn.functional.one_hot(self.out(h).argmax(-1), item.shape[-1]).float()[0]
            items.append(int(item.argmax()))
        return items


# A cyclic sequence of 6 one-hot items: 0 1 2 3 4 5 0 1 ...
n_items, length = 6, 12
seq = torch.arange(length + 1) % n_items
x = nn.functional.one_hot(seq[:-1], n_items).float()[None].repeat(8, 1, 1)
target = seq[1:][None].repeat(8, 1)

model = NextStepPredictor(n_items)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(30 if SMALL else 300):
    loss = nn.functional.cross_entropy(model(x).reshape(-1, n_items), target.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
print(f"final loss {loss.item():.3f}")
print("generated:", model.generate(x[0, 0], steps=length))

# A single cell, sharing the SRN layer's weights (no copy): same output as the layer's first step.
cell = model.srn.cell(0)
h_layer, _ = model.srn(x[:1, :1])
h_cell = cell(x[0, :1])
print("cell matches layer:", torch.allclose(h_layer[0, 0], h_cell[0], atol=1e-6))
