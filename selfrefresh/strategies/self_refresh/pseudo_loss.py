"""How a student network learns a teacher's pseudo-patterns: the distillation, auto and feature
losses on whole pseudo-sequences (optionally through their last k steps only), on static
(item, context) patterns, or on a sequence's step transitions in one parallel step."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...generators.base import PseudoBatch
from ..losses import masked_teacher_probs, soft_target_loss

__all__ = ["pseudo_loss", "truncates"]


def pseudo_loss(cfg, known: Optional[Tensor], model: nn.Module, batch: PseudoBatch, out=None) -> Tensor:
    """Loss of a student network on teacher-labelled pseudo-patterns (scalar).

    ``cfg``: a :class:`SelfRefreshConfig`; ``known`` (C,) bool: the classes the teacher learned
    (the others get zero target probability); ``out``: the student's ``run`` output on
    ``batch.x`` when already computed.
    """
    if batch.static:
        logits, recon, nxt = model.step(batch.x, batch.context)
        loss = cfg.distill_weight * _distill(cfg, known, logits, batch.logits)
        loss = loss + cfg.auto_weight * F.mse_loss(recon, batch.recon)
        return loss + cfg.context_weight * F.mse_loss(nxt, batch.next_context)
    if batch.transitions and hasattr(model, "step"):
        return _transition_loss(cfg, known, model, batch)
    if out is None and truncates(cfg, batch.x.shape[1]) and hasattr(model, "run"):
        return _truncated_loss(cfg, known, model, batch, grad_steps(cfg, batch.x.shape[1]))
    if out is None:
        out = model.run(batch.x, with_context=False) if hasattr(model, "run") else None
    logits = out.logits if out is not None else model(batch.x)
    loss = cfg.distill_weight * _distill(cfg, known, logits, batch.logits)
    if out is not None and batch.recon is not None and cfg.auto_weight:
        loss = loss + cfg.auto_weight * F.mse_loss(out.recon, batch.recon)
    if out is not None and batch.features is not None and cfg.feature_weight:
        loss = loss + cfg.feature_weight * F.mse_loss(out.features, batch.features)
    return loss


def _distill(cfg, known: Optional[Tensor], logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """The student's logits (N, C) against the teacher's (N, C_t) at ``cfg.temperature``, every
    output the teacher never learned given zero target (scalar)."""
    target = masked_teacher_probs(teacher_logits, logits.shape[1], known, cfg.temperature)
    return soft_target_loss(logits, target, cfg.temperature)


def tail_steps(fraction: float, steps: int) -> int:
    """How many last steps of ``steps`` a fraction in (0, 1] covers: ``ceil(fraction * steps)``,
    at least 1 (the pseudo loss's ``pseudo_grad_tail``, the inversion's ``invert_tail``)."""
    return min(steps, max(1, math.ceil(fraction * steps - 1e-9)))


def grad_steps(cfg, steps: int) -> int:
    """The last steps of a ``steps``-step pseudo-sequence its loss backpropagates through."""
    if cfg.pseudo_grad_steps is not None:
        return min(steps, cfg.pseudo_grad_steps)
    return tail_steps(cfg.pseudo_grad_tail, steps)


def truncates(cfg, steps: int) -> bool:
    """Whether pseudo-sequences of ``steps`` steps get a truncated gradient."""
    return grad_steps(cfg, steps) < steps


def _truncated_loss(cfg, known, model: nn.Module, batch: PseudoBatch, k: int) -> Tensor:
    """The sequence pseudo loss with gradients through only the last k steps."""
    cut = batch.x.shape[1] - k
    with torch.no_grad():
        before, state = model.rnn(batch.x[:, :cut])
    tail = PseudoBatch(**{**batch.__dict__, "x": batch.x[:, cut:],
                          "recon": None if batch.recon is None else batch.recon[:, cut:],
                          "features": None if batch.features is None else batch.features[:, cut:]})
    out = model.run(tail.x, state=state, with_context=False, before=before)  # the mean readout counts `before`
    return pseudo_loss(cfg, known, model, tail, out=out)


def _transition_loss(cfg, known, model: nn.Module, batch: PseudoBatch) -> Tensor:
    """NET2's step transitions learned in one parallel step over (a fraction of) N * T rows."""
    n, t, f = batch.x.shape
    x, ctx = batch.x.reshape(n * t, f), batch.context.reshape(n * t, -1)
    teacher, recon_t = batch.step_logits.reshape(n * t, -1), batch.recon.reshape(n * t, -1)
    nxt_t = batch.next_context.reshape(n * t, -1)
    if cfg.transition_fraction < 1:
        keep = torch.randperm(n * t, device=x.device)[: max(1, int(round(cfg.transition_fraction * n * t)))]
        x, ctx, teacher, recon_t, nxt_t = x[keep], ctx[keep], teacher[keep], recon_t[keep], nxt_t[keep]
    logits, recon, nxt = model.step(x, ctx)
    loss = cfg.distill_weight * _distill(cfg, known, logits, teacher)
    if cfg.auto_weight:
        loss = loss + cfg.auto_weight * F.mse_loss(recon, recon_t)
    return loss + cfg.context_weight * F.mse_loss(nxt, nxt_t)
