"""How a student network learns a teacher's pseudo-patterns: the distillation, auto and feature
losses on whole pseudo-sequences (optionally through their last k steps only), on static
(item, context) patterns, or on a sequence's step transitions in one parallel step."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...generators.base import PseudoBatch
from ..losses import masked_teacher_probs, soft_target_loss

__all__ = ["pseudo_loss", "distill_loss", "truncates"]


def pseudo_loss(cfg, known: Optional[Tensor], model: nn.Module, batch: PseudoBatch, out=None) -> Tensor:
    """Loss of a student network on teacher-labelled pseudo-patterns (scalar).

    ``cfg``: a :class:`SelfRefreshConfig`; ``known`` (C,) bool: the classes the teacher learned
    (the others get zero target probability); ``out``: the student's ``run`` output on
    ``batch.x`` when already computed.
    """
    if batch.static:
        logits, recon, nxt = model.step(batch.x, batch.context)
        loss = cfg.distill_weight * distill_loss(cfg, known, logits, batch.logits)
        loss = loss + cfg.auto_weight * F.mse_loss(recon, batch.recon)
        return loss + cfg.context_weight * F.mse_loss(nxt, batch.next_context)
    if batch.transitions and hasattr(model, "step"):
        return _transition_loss(cfg, known, model, batch)
    if out is None and truncates(cfg, batch.x.shape[1]) and hasattr(model, "run"):
        return _truncated_loss(cfg, known, model, batch, cfg.pseudo_grad_steps)
    if out is None:
        out = model.run(batch.x, with_context=False) if hasattr(model, "run") else None
    logits = out.logits if out is not None else model(batch.x)
    loss = cfg.distill_weight * distill_loss(cfg, known, logits, batch.logits)
    if out is not None and batch.recon is not None and cfg.auto_weight:
        loss = loss + cfg.auto_weight * F.mse_loss(out.recon, batch.recon)
    if out is not None and batch.features is not None and cfg.feature_weight:
        loss = loss + cfg.feature_weight * F.mse_loss(out.features, batch.features)
    return loss


def distill_loss(cfg, known: Optional[Tensor], logits: Tensor, teacher_logits: Tensor) -> Tensor:
    """The student's logits (N, C) against the teacher's (N, C_t) on pseudo-patterns (scalar).

    Over all C outputs with zero target for the classes the teacher never learned, that is
    ``known_loss + softplus(lse(new) - lse(old))`` at temperature T (times T^2): a distillation over
    the old classes plus a term that keeps the new classes' outputs below the old ones. With
    ``cfg.pseudo_push_confidence`` = c > 0 the second term applies only to the patterns whose
    teacher probability (T = 1, over its learned classes) of its most probable class is >= c; with
    ``cfg.pseudo_push_vs_uniform`` = r > 0, >= r / (number of learned classes) (r times uniform).
    """
    c_min = getattr(cfg, "pseudo_push_confidence", 0.0)
    r = getattr(cfg, "pseudo_push_vs_uniform", 0.0)
    if (not c_min and not r) or known is None:
        target = masked_teacher_probs(teacher_logits, logits.shape[1], known, cfg.temperature)
        return soft_target_loss(logits, target, cfg.temperature)
    c = min(teacher_logits.shape[1], logits.shape[1])
    old_mask = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
    old_mask[:c] = known[:c].to(logits.device)
    t = cfg.temperature
    teacher_old = teacher_logits[:, :c][:, old_mask[:c]]
    loss = soft_target_loss(logits[:, old_mask], torch.softmax(teacher_old / t, dim=1), t)
    if bool((~old_mask).any()):
        bar = max(c_min, r / teacher_old.shape[1])
        gate = (torch.softmax(teacher_old, dim=1).max(dim=1).values >= bar).to(logits.dtype)
        z = logits / t
        gap = torch.logsumexp(z[:, ~old_mask], dim=1) - torch.logsumexp(z[:, old_mask], dim=1)
        loss = loss + (gate * F.softplus(gap)).mean() * t ** 2
    return loss


def truncates(cfg, steps: int) -> bool:
    """Whether pseudo-sequences of ``steps`` steps get a truncated gradient."""
    k = cfg.pseudo_grad_steps
    return k is not None and k < steps


def _truncated_loss(cfg, known, model: nn.Module, batch: PseudoBatch, k: int) -> Tensor:
    """The sequence pseudo loss with gradients through only the last k steps."""
    cut = batch.x.shape[1] - k
    with torch.no_grad():
        _, state = model.rnn(batch.x[:, :cut])
    tail = PseudoBatch(**{**batch.__dict__, "x": batch.x[:, cut:],
                          "recon": None if batch.recon is None else batch.recon[:, cut:],
                          "features": None if batch.features is None else batch.features[:, cut:]})
    return pseudo_loss(cfg, known, model, tail, out=model.run(tail.x, state=state, with_context=False))


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
    loss = cfg.distill_weight * distill_loss(cfg, known, logits, teacher)
    if cfg.auto_weight:
        loss = loss + cfg.auto_weight * F.mse_loss(recon, recon_t)
    return loss + cfg.context_weight * F.mse_loss(nxt, nxt_t)
