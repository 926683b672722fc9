"""An autoregressive class-conditional sequence generator (the "generative RNN" of seed 000).

:class:`ARGenerativeRNN`: a GRU trained by maximum likelihood with Gaussian outputs,
p(x) = prod_t N(x_t; mu_t, sigma_t^2), (mu_t, sigma_t) read from the state after x_(<t). Sampling
feeds its own samples back. Same interface as :class:`~selfrefresh.generators.gan.RecurrentGAN`
(:class:`~selfrefresh.generators.learned.LearnedSequenceGenerator`).
"""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from .learned import LearnedSequenceGenerator, minibatches

__all__ = ["ARGenerativeRNN"]


class ARGenerativeRNN(LearnedSequenceGenerator):
    """Autoregressive class-conditional GRU with Gaussian outputs, trained by maximum likelihood.

    Args:
        seq_len, n_features, num_classes: data shape and classes.
        hidden_size, num_layers, embed_size: network size.
        lr: Adam learning rate.  temperature: scale of the sampling std.
        min_log_std: floor of the predicted log std (standardised units).
    """

    def __init__(self, seq_len: int, n_features: int, num_classes: int, hidden_size: int = 64,
                 num_layers: int = 1, embed_size: int = 16, lr: float = 2e-3, temperature: float = 1.0,
                 min_log_std: float = -5.0, device="cpu", update_epochs: int = 50,
                 replay_per_class: Optional[int] = None):
        super().__init__(seq_len, n_features, num_classes, device, update_epochs, replay_per_class)
        self.lr, self.temperature, self.min_log_std = lr, temperature, min_log_std
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.embed = nn.Embedding(num_classes, embed_size)
        self.init = nn.Sequential(nn.Linear(embed_size, num_layers * hidden_size), nn.Tanh())
        self.rnn = nn.GRU(n_features + embed_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 2 * n_features)
        self.to(self.device)

    def _h0(self, e: Tensor) -> Tensor:
        return self.init(e).view(e.shape[0], self.num_layers, self.hidden_size).transpose(0, 1).contiguous()

    def _dist(self, h: Tensor):
        mu, log_std = self.head(h).chunk(2, -1)
        return mu, log_std.clamp(self.min_log_std, 3.0)

    def nll(self, xn: Tensor, classes: Tensor) -> Tensor:
        """Mean negative log-likelihood per step and feature of standardised sequences (B, T, F)."""
        e = self.embed(classes)
        prev = torch.cat([torch.zeros_like(xn[:, :1]), xn[:, :-1]], 1)
        h, _ = self.rnn(torch.cat([prev, e[:, None].expand(-1, xn.shape[1], -1)], -1), self._h0(e))
        mu, log_std = self._dist(h)
        return (0.5 * ((xn - mu) / log_std.exp()) ** 2 + log_std + 0.5 * math.log(2 * math.pi)).mean()

    def _start_fit(self, xn, y):
        self.opt = torch.optim.Adam(self.parameters(), lr=self.lr)

    def _train_epoch(self, xn, y, epoch, epochs, batch_size) -> Dict[str, float]:
        total, n = 0.0, 0
        for idx in minibatches(len(y), batch_size, y.device):
            loss = self.nll(xn[idx], y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 1.0)
            self.opt.step()
            total, n = total + loss.item(), n + 1
        return {"nll": total / n}

    def _generate_normalized(self, classes: Tensor) -> Tensor:
        e = self.embed(classes)
        state = self._h0(e)
        x_t = torch.zeros(len(classes), 1, self.n_features, device=classes.device)
        out = []
        for _ in range(self.seq_len):
            h, state = self.rnn(torch.cat([x_t, e[:, None]], -1), state)
            mu, log_std = self._dist(h)
            x_t = mu + self.temperature * log_std.exp() * torch.randn_like(mu)
            out.append(x_t)
        return torch.cat(out, 1)
