"""Pseudo-patterns by reverberation (Ans & Rousset 1997/2000; Ans et al. 2004) and plain noise.

Reverberation starts from random activity and re-injects the auto-associative output R times,
so that seeds drift into the basins of the learned attractors before being labelled by the
network. R = 0 is Robins' (1995) pseudo-rehearsal.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .._checks import check_int, require_model
from ..nn.frozen import frozen
from .base import PseudoBatch, label_with

__all__ = ["Reverberation", "Noise"]


def _check_scale(value, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{who}: {name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_buffer(seeds) -> Tensor:
    """Seed sequences as a float (N, T, F) tensor, or a clear error."""
    try:
        seeds = torch.as_tensor(seeds, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"seeds must be 'noise' or a tensor of stored sequences (N, T, F), got "
                        f"{type(seeds).__name__}") from None
    if seeds.dim() != 3 or 0 in seeds.shape:
        raise ValueError(f"a seed buffer must be a non-empty (N, T, F) tensor, got {tuple(seeds.shape)}")
    if not torch.isfinite(seeds).all():
        raise ValueError("the seed buffer contains NaN or inf")
    return seeds


class _SeededSource:
    """What both generators share: the storage network, the seed distribution, the classes."""

    def __init__(self, network: Optional[nn.Module] = None, seq_len: Optional[int] = None,
                 noise_std: float = 1.0, seeds: Union[str, Tensor] = "noise",
                 buffer_noise: float = 0.1):
        who = type(self).__name__
        self.network = network
        self.seq_len = None if seq_len is None else check_int(seq_len, "seq_len", who, minimum=1)
        self.noise_std = _check_scale(noise_std, "noise_std", who)
        self.buffer_noise = _check_scale(buffer_noise, "buffer_noise", who)
        self.mean: Optional[Tensor] = None   # (F,) seed mean, from the data moments (configure)
        self.std: Optional[Tensor] = None    # (F,) seed scale
        self.classes: Optional[Sequence[int]] = None  # classes to steer toward (None: no steering)
        if isinstance(seeds, str):
            if seeds != "noise":
                raise ValueError(f"seeds must be 'noise' or a tensor of stored sequences, got {seeds!r}")
            self.buffer = None
        else:
            self.buffer = _check_buffer(seeds)
        self._initial_buffer = self.buffer
        self._gen = torch.Generator().manual_seed(0)

    def manual_seed(self, seed: int) -> "_SeededSource":
        self._gen.manual_seed(int(seed))
        return self

    def configure(self, network: Optional[nn.Module], classes: Optional[Sequence[int]] = None,
                  moments: Optional[Tuple[Tensor, Tensor]] = None) -> "_SeededSource":
        """Set the storage network, the classes to steer toward and the seed distribution.

        Args:
            network: the storage network that labels (and reverberates) the seeds.
            classes: the classes its pseudo-patterns should stand for (None or empty: no steering;
                only a reverberation generator with ``steer_steps`` steers).
            moments: (mean (F,), std (F,)) of the real data seen so far: noise seeds are drawn
                around them; None: seeds from N(0, noise_std^2).
        """
        self.network = network
        self.classes = None if classes is None else [int(c) for c in classes]
        if moments is None:
            self.mean = self.std = None
        else:
            mean, std = moments
            self.mean, self.std = torch.as_tensor(mean).float(), torch.as_tensor(std).float()
        return self

    def use_seeds(self, sequences: Optional[Tensor]) -> "_SeededSource":
        """Start from these real sequences (N, T, F) (perturbed copies of them) instead of noise,
        e.g. the current experience's own data; None: back to the constructor's ``seeds``."""
        self.buffer = self._initial_buffer if sequences is None else _check_buffer(sequences)
        return self

    def state_dict(self) -> dict:
        """What changes while sampling: the random state, and ``seq_len`` once known (tensors and ints)."""
        return {"rng": self._gen.get_state(), "seq_len": self.seq_len}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict` (the random state may come back on any device)."""
        self._gen.set_state(state["rng"].cpu())
        if state.get("seq_len") is not None:
            self.seq_len = int(state["seq_len"])

    def _needs(self) -> tuple:
        """The attributes the network must have (an AutoHeteroRNN has them all)."""
        return ("input_size",) if self.buffer is None else ()

    def _network(self) -> nn.Module:
        if self.network is None:
            raise RuntimeError(f"{type(self).__name__} has no network to label (or reverberate) with; "
                               "call .configure(network) (the strategy does this) before sampling")
        require_model(self.network, type(self).__name__, self._needs())
        return self.network

    def _check_n(self, n) -> int:
        n = check_int(n, "n", f"{type(self).__name__}.sample")
        if n < 1:
            raise ValueError(f"sample(n) needs n >= 1, got {n}")
        return n

    def _device(self):
        return next(self._network().parameters()).device

    def _seed_sequences(self, n: int) -> Tensor:
        """n seed sequences (n, T, F): noise around the data moments, or perturbed stored ones."""
        net = self._network()
        if self.buffer is not None:
            f = getattr(net, "input_size", None)
            if f is not None and self.buffer.shape[-1] != f:
                raise ValueError(f"{type(self).__name__}: the seed buffer has {self.buffer.shape[-1]} features per "
                                 f"step, the network takes {f}")
            idx = torch.randint(len(self.buffer), (n,), generator=self._gen)
            x = self.buffer[idx]
            x = x + self.buffer_noise * torch.randn(x.shape, generator=self._gen)
            return x.to(self._device())
        if self.seq_len is None:
            raise RuntimeError("set seq_len (the strategy takes it from the data) to sample noise sequences")
        f = net.input_size
        x = torch.randn((n, self.seq_len, f), generator=self._gen) * self.noise_std
        if self.std is not None:
            x = x * self.std.cpu()
        if self.mean is not None:
            x = x + self.mean.cpu()
        return x.to(self._device())

    def _target_classes(self, n: int) -> Optional[Tensor]:
        if not self.classes:
            return None
        cls = torch.as_tensor(list(self.classes), dtype=torch.long)
        return cls[torch.randint(len(cls), (n,), generator=self._gen)].to(self._device())


class Noise(_SeededSource):
    """Plain pseudo-rehearsal baseline: random sequences labelled by the storage network.

    ``sample(n) -> PseudoBatch`` with x (n, T, F) drawn from N(mean, (noise_std * std)^2).
    """

    def sample(self, n: int) -> PseudoBatch:
        n = self._check_n(n)
        return label_with(self._network(), self._seed_sequences(n))


class Reverberation(_SeededSource):
    """Pseudo-patterns from a network's own auto-associative reverberation.

    Args:
        network: the storage network (an :class:`~selfrefresh.models.AutoHeteroRNN`).
        reverberations: R, the number of re-injections (0: Robins' pseudo-rehearsal).
        seeds: ``"noise"`` or a tensor (N, T, F) of a few stored real sequences
            ("combined replay": seeds are perturbed copies of them).
        mode: ``"sequence"``: whole pseudo-sequences (n, T, F); each re-injection runs the
            whole sequence through the network and replaces it with the item part of the auto
            output. Targets are the network's soft outputs, auto output and features.
            ``"static"``: (item, context) pseudo-patterns as in Ans et al. (2004): a random item
            (n, F) and context (n, S) are stepped once, and the auto output (item and context)
            re-injected R times; targets are the logits, the next context and the auto output.
        steer_steps: gradient steps that push each seed toward a target class drawn from
            ``classes`` (model inversion) before reverberating; 0 disables steering.
        steer_lr: step size of steering (Adam on the seed).
        steer_auto_weight: weight of ``||A(x) - x||^2`` in the steering loss, which keeps the
            seed near the auto map's fixed points while it is steered.
        seq_len: T for noise seeds (the strategy sets it from the data).
        noise_std: seed scale, relative to the data's per-feature std when known.
        keep_intermediate: static mode: keep every re-injection after the first as a pattern.
        steer_chunk: sequences steered together (None: all at once). Each sequence's steering
            depends on it alone and each chunk's loss is weighted by its share of the batch, so the
            result is that of one batch up to float rounding (matrix products of another shape
            round differently); on a CPU a recurrent backward pass costs more per sequence past
            about 64 sequences (``benchmarks/speed.py --parts batch``).

    ``sample(n) -> PseudoBatch``.
    """

    def __init__(self, network: Optional[nn.Module] = None, reverberations: int = 5,
                 seeds: Union[str, Tensor] = "noise", mode: str = "sequence", steer_steps: int = 0,
                 steer_lr: float = 0.1, steer_auto_weight: float = 1.0, seq_len: Optional[int] = None,
                 noise_std: float = 1.0, keep_intermediate: bool = False, buffer_noise: float = 0.1,
                 steer_chunk: Optional[int] = 64):
        super().__init__(network, seq_len, noise_std, seeds, buffer_noise)
        if steer_chunk is not None:
            steer_chunk = check_int(steer_chunk, "steer_chunk", "Reverberation")
            if steer_chunk < 1:
                raise ValueError(f"steer_chunk must be None or an int >= 1, got {steer_chunk}")
        self.steer_chunk = steer_chunk
        if isinstance(reverberations, bool) or not isinstance(reverberations, int):
            raise TypeError(f"Reverberation: reverberations must be an int >= 0, got {reverberations!r}")
        if reverberations < 0:
            raise ValueError(f"reverberations must be an int >= 0, got {reverberations!r}")
        if mode not in ("sequence", "static"):
            raise ValueError(f"mode must be 'sequence' or 'static', got {mode!r}")
        steer_steps = check_int(steer_steps, "steer_steps", "Reverberation")
        if steer_steps < 0:
            raise ValueError(f"steer_steps must be >= 0, got {steer_steps}")
        self.reverberations = reverberations
        self.mode = mode
        self.steer_steps = int(steer_steps)
        self.steer_lr = float(steer_lr)
        self.steer_auto_weight = float(steer_auto_weight)
        self.keep_intermediate = keep_intermediate

    def _needs(self) -> tuple:
        if self.mode == "static":
            return ("input_size", "state_size", "step")
        return super()._needs() + ("run", "reconstruct")

    # -- sequences ----------------------------------------------------------------------------
    def _steer(self, net: nn.Module, x: Tensor, target: Tensor) -> Tensor:
        """x (n, T, F) steered toward the classes target (n,), by chunks of ``steer_chunk``."""
        size = self.steer_chunk or len(x)
        return torch.cat([self._steer_chunk(net, xs, ts, len(xs) / len(x))
                          for xs, ts in zip(x.split(size), target.split(size))])

    def _steer_chunk(self, net: nn.Module, x: Tensor, target: Tensor, share: float) -> Tensor:
        x = x.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=self.steer_lr)
        for _ in range(self.steer_steps):
            opt.zero_grad()
            out = net.run(x, with_context=False)
            loss = nn.functional.cross_entropy(out.logits, target)
            if self.steer_auto_weight:
                loss = loss + self.steer_auto_weight * (out.recon - x).pow(2).mean()
            (share * loss).backward()  # the gradient of the whole batch's mean loss
            opt.step()
        return x.detach()

    def reverberate(self, x: Tensor, reverberations: Optional[int] = None) -> Tensor:
        """Re-inject whole sequences R times: x (n, T, F) -> (n, T, F)."""
        net = self._network()
        r = self.reverberations if reverberations is None else reverberations
        with torch.no_grad():
            for _ in range(r):
                x = net.reconstruct(x)
        return x

    def _sample_sequences(self, n: int) -> PseudoBatch:
        net = self._network()
        with frozen(net):
            x = self._seed_sequences(n)
            target = self._target_classes(n)
            if target is not None and self.steer_steps:
                with torch.enable_grad():
                    x = self._steer(net, x, target)
            x = self.reverberate(x)
        return label_with(net, x, classes=target)

    # -- static (item, context) patterns ------------------------------------------------------
    @torch.no_grad()
    def _sample_static(self, n: int) -> PseudoBatch:
        net = self._network()
        was_training = net.training
        net.eval()
        try:
            f, s = net.input_size, net.state_size
            if net.auto_activation == "sigmoid":
                x = torch.rand((n, f), generator=self._gen)
                ctx = torch.rand((n, s), generator=self._gen)
            else:
                x = torch.randn((n, f), generator=self._gen) * self.noise_std
                ctx = torch.rand((n, s), generator=self._gen) * 2 - 1
            x, ctx = x.to(self._device()), ctx.to(self._device())
            kept = []
            for r in range(self.reverberations + 1):
                logits, recon, nxt = net.step(x, ctx)
                if r == self.reverberations or (self.keep_intermediate and r >= 1):
                    kept.append(PseudoBatch(x=x, logits=logits, context=ctx, next_context=nxt, recon=recon))
                x, ctx = recon[:, :f], recon[:, f:]
        finally:
            net.train(was_training)
        if len(kept) == 1:
            return kept[0]
        cat = lambda k: torch.cat([getattr(b, k) for b in kept])  # noqa: E731
        return PseudoBatch(x=cat("x"), logits=cat("logits"), context=cat("context"),
                           next_context=cat("next_context"), recon=cat("recon"))

    def sample(self, n: int) -> PseudoBatch:
        """n pseudo-patterns (more when ``keep_intermediate``), labelled by the network."""
        n = self._check_n(n)
        if self.mode == "static":
            return self._sample_static(n)
        return self._sample_sequences(n)
