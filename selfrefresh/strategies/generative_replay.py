"""Avalanche's ``GenerativeReplay`` on sequences, with a sequence VAE: the factory and its registered spec.

:func:`avalanche_generative_replay` builds the strategy around an
:class:`~selfrefresh.generators.vae.AvalancheSequenceVAE` (instead of Avalanche's MNIST-shaped MLP
VAE; unconditional: that strategy labels replays with the old solver's argmax);
:data:`GENERATIVE_REPLAY` registers it as ``generative-replay``.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..generators.vae import AvalancheSequenceVAE
from .spec import BuildArgs, StrategySpec, model_size, need_seq_len

__all__ = ["avalanche_generative_replay", "GENERATIVE_REPLAY"]


def avalanche_generative_replay(model: nn.Module, optimizer, *, seq_len: int, n_features: int,
                                hidden_size: int = 64, latent_size: int = 16, generator_lr: float = 2e-3,
                                generator_epochs: Optional[int] = None, replay_size: Optional[int] = None,
                                increasing_replay_size: bool = False, device="cpu", train_mb_size: int = 32,
                                train_epochs: int = 1, eval_mb_size: int = 128, **strategy_kwargs):
    """Avalanche ``GenerativeReplay`` on sequences (N, T, F), with an :class:`AvalancheSequenceVAE`.

    The solver is ``model`` (x (B, T, F) -> logits). The VAE is trained after each experience on
    the experience's data plus its own replays (``generator_epochs``, default ``train_epochs``);
    replayed sequences are labelled by the previous solver's argmax. ``is_weighted_replay`` is not
    offered: in Avalanche 0.6.0 the weighted replay never reaches the loss. Extra keyword
    arguments go to ``GenerativeReplay`` (``plugins``, ``evaluator``, ``criterion`` ...).
    """
    from avalanche.training.plugins import GenerativeReplayPlugin
    from avalanche.training.plugins.evaluation import EvaluationPlugin
    from avalanche.training.supervised import GenerativeReplay, VAETraining

    vae = AvalancheSequenceVAE(seq_len, n_features, hidden_size, latent_size, device=device)
    generator_strategy = VAETraining(
        model=vae, optimizer=torch.optim.Adam(vae.parameters(), lr=generator_lr),
        train_mb_size=train_mb_size, train_epochs=generator_epochs or train_epochs,
        eval_mb_size=eval_mb_size, device=device, evaluator=EvaluationPlugin(loggers=[]),
        plugins=[GenerativeReplayPlugin(replay_size=replay_size, increasing_replay_size=increasing_replay_size)])
    return GenerativeReplay(model=model, optimizer=optimizer, generator_strategy=generator_strategy,
                            replay_size=replay_size, increasing_replay_size=increasing_replay_size,
                            device=device, train_mb_size=train_mb_size, train_epochs=train_epochs,
                            eval_mb_size=eval_mb_size, **strategy_kwargs)


def _build(a: BuildArgs):
    opts = a.options
    opts.setdefault("seq_len", need_seq_len(a.name, a.seq_len))
    opts.setdefault("n_features", model_size(a.model, "input_size", a.name))
    return avalanche_generative_replay(model=a.model, optimizer=a.optimizer, criterion=a.criterion, **opts, **a.common)


# Its buffer is a generator strategy (a VAE and its optimizer under Avalanche), not written to checkpoints.
GENERATIVE_REPLAY = StrategySpec("generative-replay", _build, resumable=False,
                                 summary="Avalanche's GenerativeReplay with a sequence VAE",
                                 option_target=lambda: avalanche_generative_replay)
