"""Reusable pieces for replicating Ans & Rousset's experiments (BACKGROUND.md section 1).

* Static associations (Ans & Rousset 1997/2000): random binary input -> output pairs learned by
  a feed-forward auto-hetero network (:class:`AutoHeteroMLP`); pseudo-patterns by reverberating
  the auto part from random seeds (:func:`reverberate_mlp`).
* Sequences (Ans, Rousset, French & Musca 2002/2004): Elman SRNs
  (:class:`~selfrefresh.models.AutoHeteroRNN` with ``cell="srn"``) learning next-item prediction
  on sequences of random binary items (:func:`make_sequences`); static (item, context)
  pseudo-patterns from :class:`~selfrefresh.generators.Reverberation` (``mode="static"``).
* Measures used in that literature: exact recall (every output within 0.5 of its target,
  French 1999, :func:`exact_recall`), and savings (epochs to relearn set A, :func:`savings`).
* Protocols: single network (A then B), dual network (NET1 learns, NET2 stores by learning
  NET1's pseudo-patterns; NET1 learns B interleaved with NET2's pseudo-patterns), interleaved
  (A then A and B together: the upper bound). See :func:`static_experiment` and
  :func:`sequence_experiment`; ``benchmarks/ans_rousset.py`` runs them over seeds.

What the papers leave open (network sizes, learning rule, R, pseudo-patterns per item, NET2's
initialisation) is a field of :class:`StaticConfig` / :class:`SequenceConfig`, with defaults
chosen by measurement (``docs/replication.md``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, asdict
from typing import Callable, Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .generators.base import PseudoBatch
from .generators.reverberation import Reverberation
from .models import AutoHeteroMLP, AutoHeteroRNN  # AutoHeteroMLP: re-exported here (it lived here)

__all__ = [
    "exact_recall", "savings", "random_binary_items", "random_associations",
    "AutoHeteroMLP", "reverberate_mlp", "train_mlp", "StaticConfig", "static_experiment",
    "make_sequences", "sequence_tensors", "sequence_recall", "srn_outputs", "train_srn",
    "static_pseudo_loss", "transfer_srn", "SequenceConfig", "sequence_experiment",
    "nearest_distance",
]


# ----------------------------------------------------------------------------------------------
# Measures
# ----------------------------------------------------------------------------------------------
def exact_recall(outputs: Tensor, targets: Tensor, tol: float = 0.5) -> Tensor:
    """Which items are recalled exactly: every output within ``tol`` of its target (French 1999).

    outputs, targets (N, ...) of the same shape -> (N,) bool. An output exactly ``tol`` away
    (0.5 for a binary target) is not recalled.
    """
    if outputs.shape != targets.shape:
        raise ValueError(f"exact_recall: outputs {tuple(outputs.shape)} and targets "
                         f"{tuple(targets.shape)} differ in shape")
    if outputs.dim() == 0 or outputs.shape[0] == 0:
        raise ValueError("exact_recall: got no items")
    if not torch.isfinite(outputs).all():
        raise ValueError("exact_recall: outputs contain NaN or inf")
    ok = (outputs - targets).abs() < tol
    return ok.reshape(ok.shape[0], -1).all(dim=1)


def savings(original_epochs: int, relearn_epochs: int) -> float:
    """Savings in percent: ``100 * (original - relearn) / original`` (100: nothing to relearn)."""
    if original_epochs <= 0:
        raise ValueError(f"savings: original_epochs must be > 0, got {original_epochs}")
    return 100.0 * (original_epochs - relearn_epochs) / original_epochs


def nearest_distance(points: Tensor, items: Tensor) -> Tensor:
    """Euclidean distance from each point (N, D) to its nearest item (M, D) -> (N,)."""
    if points.dim() != 2 or items.dim() != 2 or points.shape[1] != items.shape[1]:
        raise ValueError(f"nearest_distance: expected (N, D) and (M, D), got {tuple(points.shape)} "
                         f"and {tuple(items.shape)}")
    return torch.cdist(points, items).min(dim=1).values


# ----------------------------------------------------------------------------------------------
# Static associations (2000)
# ----------------------------------------------------------------------------------------------
def random_binary_items(n: int, size: int, generator: torch.Generator) -> Tensor:
    """n distinct random binary vectors (n, size) of 0/1 floats."""
    if n < 1 or size < 1:
        raise ValueError(f"random_binary_items: need n >= 1 and size >= 1, got {n}, {size}")
    if size < 63 and n > 2 ** size:
        raise ValueError(f"cannot draw {n} distinct binary vectors of {size} bits")
    while True:
        x = torch.randint(0, 2, (n, size), generator=generator).float()
        if len(torch.unique(x, dim=0)) == n:
            return x


def random_associations(n_items: int, input_size: int, output_size: int,
                        generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """Random binary associations: distinct inputs x (N, I) and random targets y (N, O)."""
    x = random_binary_items(n_items, input_size, generator)
    y = torch.randint(0, 2, (n_items, output_size), generator=generator).float()
    return x, y


@torch.no_grad()
def reverberate_mlp(net: AutoHeteroMLP, n: int, reverberations: int, generator: torch.Generator,
                    seeds: str = "binary") -> Tuple[Tensor, Tensor]:
    """Pseudo-patterns by reverberation: x(r) = A(x(r-1)) R times from random seeds.

    ``seeds``: ``"binary"`` (random 0/1) or ``"uniform"`` (U(0, 1)). Returns x(R) (n, I) and the
    full output at x(R) (n, O + I), hetero and auto parts: the pseudo-pattern's target.
    """
    if seeds == "binary":
        x = torch.randint(0, 2, (n, net.input_size), generator=generator).float()
    elif seeds == "uniform":
        x = torch.rand((n, net.input_size), generator=generator)
    else:
        raise ValueError(f"seeds must be 'binary' or 'uniform', got {seeds!r}")
    was = net.training
    net.eval()
    for _ in range(reverberations):
        x = net.reconstruct(x)
    out = net(x)
    net.train(was)
    return x, out


def train_mlp(net: AutoHeteroMLP, x: Tensor, target: Tensor, *, lr: float, max_epochs: int,
              tol: float = 0.5, min_epochs: int = 0,
              pseudo: Optional[Callable[[], Tuple[Tensor, Tensor]]] = None,
              criterion_x: Optional[Tensor] = None, criterion_target: Optional[Tensor] = None) -> int:
    """Full-batch training (Adam, binary cross-entropy) to criterion; returns the epochs used.

    target (N, O + I) is the full output (hetero target then the input itself). The criterion
    is met when every output of every item is within ``tol`` of its target (on
    ``criterion_x/criterion_target`` when given). ``pseudo()`` (when given) returns fresh
    pseudo-patterns (x, target) that join each epoch's batch. Returns ``max_epochs`` + 1 when
    the criterion was never met.
    """
    cx = x if criterion_x is None else criterion_x
    ct = target if criterion_target is None else criterion_target
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for epoch in range(max_epochs + 1):
        if epoch >= min_epochs:
            with torch.no_grad():
                if exact_recall(net(cx), ct, tol).all():
                    return epoch
        if epoch == max_epochs:
            break
        bx, bt = x, target
        if pseudo is not None:
            px, pt = pseudo()
            bx, bt = torch.cat([x, px]), torch.cat([target, pt])
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(net.logits(bx), bt).backward()
        opt.step()
    return max_epochs + 1


def _learn_pseudo_mlp(student: AutoHeteroMLP, teacher: AutoHeteroMLP, *, steps: int, batch: int,
                      reverberations: int, lr: float, generator: torch.Generator, seeds: str) -> None:
    """Transfer: the student learns the teacher's reverberated pseudo-patterns only."""
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    for _ in range(steps):
        px, pt = reverberate_mlp(teacher, batch, reverberations, generator, seeds)
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(student.logits(px), pt).backward()
        opt.step()


@dataclass
class StaticConfig:
    """The static (2000) experiment: sizes, learning and self-refresh settings."""
    input_size: int = 20
    output_size: int = 10
    hidden_size: int = 40
    n_a: int = 20
    n_b: int = 20
    lr: float = 0.02
    train_tol: float = 0.3           # learning criterion: every output within 0.3 (recall uses 0.5)
    max_epochs: int = 3000
    reverberations: int = 5           # R
    seeds: str = "binary"             # reverberation seeds
    pseudo_per_item: int = 4          # fresh pseudo-patterns per real item, every epoch
    transfer_steps: int = 1500        # NET2 updates on NET1's pseudo-patterns
    transfer_batch: int = 128
    transfer_lr: float = 0.01


def static_experiment(seed: int, cfg: StaticConfig = StaticConfig()) -> Dict[str, Dict[str, float]]:
    """Set A then set B of random associations; single vs dual vs interleaved.

    Protocols: ``single``, ``dual`` (R = ``cfg.reverberations``), ``dual_r0`` (R = 0),
    ``interleaved``. Returns ``{protocol: {"recall_a": % of A items exactly recalled after B, "recall_b": % of B,
    "savings": % savings relearning A, "epochs_a", "epochs_b"}}``.
    """
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    x, y = random_associations(cfg.n_a + cfg.n_b, cfg.input_size, cfg.output_size, g)
    t = torch.cat([y, x], dim=1)
    xa, ta, xb, tb = x[: cfg.n_a], t[: cfg.n_a], x[cfg.n_a:], t[cfg.n_a:]
    train = dict(lr=cfg.lr, max_epochs=cfg.max_epochs, tol=cfg.train_tol)
    o = cfg.output_size

    net_a = AutoHeteroMLP(cfg.input_size, cfg.hidden_size, cfg.output_size)
    epochs_a = train_mlp(net_a, xa, ta, **train)

    def measure(net: AutoHeteroMLP, epochs_b: int) -> Dict[str, float]:
        with torch.no_grad():
            ra = exact_recall(net.hetero(xa), ta[:, :o]).float().mean().item() * 100
            rb = exact_recall(net.hetero(xb), tb[:, :o]).float().mean().item() * 100
        relearn = train_mlp(copy.deepcopy(net), xa, ta, **train)
        return {"recall_a": ra, "recall_b": rb, "savings": savings(epochs_a, relearn),
                "epochs_a": float(epochs_a), "epochs_b": float(epochs_b)}

    res = {}
    # single network: A then B
    single = copy.deepcopy(net_a)
    res["single"] = measure(single, train_mlp(single, xb, tb, **train))
    # dual network: NET2 learns NET1's pseudo-patterns; NET1 learns B with NET2's pseudo-patterns
    # (R = cfg.reverberations), and the same with R = 0 (Robins' pseudo-rehearsal, one pass)
    n_pseudo = cfg.pseudo_per_item * cfg.n_b
    for name, r in (("dual", cfg.reverberations), ("dual_r0", 0)):
        net2 = AutoHeteroMLP(cfg.input_size, cfg.hidden_size, cfg.output_size)
        _learn_pseudo_mlp(net2, net_a, steps=cfg.transfer_steps, batch=cfg.transfer_batch,
                          reverberations=r, lr=cfg.transfer_lr, generator=g, seeds=cfg.seeds)
        net1 = copy.deepcopy(net_a)
        pseudo = lambda net2=net2, r=r: reverberate_mlp(net2, n_pseudo, r, g, cfg.seeds)  # noqa: E731
        res[name] = measure(net1, train_mlp(net1, xb, tb, pseudo=pseudo, **train))
    # interleaved (concurrent) training: A then A and B together
    inter = copy.deepcopy(net_a)
    res["interleaved"] = measure(inter, train_mlp(inter, torch.cat([xa, xb]), torch.cat([ta, tb]), **train))
    return res


# ----------------------------------------------------------------------------------------------
# Sequences (2004)
# ----------------------------------------------------------------------------------------------
def make_sequences(n_sequences: int, length: int, vocab_size: int, item_size: int,
                   generator: torch.Generator) -> Tuple[Tensor, Tensor]:
    """Sequences of random binary items over a shared vocabulary.

    Returns items (V, item_size) of distinct binary vectors and seqs (N, length) of item indices.
    Every sequence starts with its own item (so the whole prefix determines the next item) and
    the later items are drawn from the shared vocabulary without immediate repeats, so the same
    item is followed by different items in different sequences: predicting the next item needs
    the context.
    """
    if vocab_size < n_sequences + 1:
        raise ValueError(f"make_sequences: vocab_size ({vocab_size}) must exceed n_sequences ({n_sequences})")
    if length < 2:
        raise ValueError(f"make_sequences: length must be >= 2, got {length}")
    items = random_binary_items(vocab_size, item_size, generator)
    firsts = torch.randperm(vocab_size, generator=generator)[:n_sequences]
    seqs = torch.empty(n_sequences, length, dtype=torch.long)
    seqs[:, 0] = firsts
    for i in range(n_sequences):
        for j in range(1, length):
            while True:
                k = int(torch.randint(vocab_size, (1,), generator=generator))
                if k != int(seqs[i, j - 1]):
                    break
            seqs[i, j] = k
    return items, seqs


def sequence_tensors(items: Tensor, seqs: Tensor) -> Tuple[Tensor, Tensor]:
    """Next-item prediction: x (N, L-1, F) the items, y (N, L-1, F) the items that follow."""
    return items[seqs[:, :-1]], items[seqs[:, 1:]]


def srn_outputs(net: AutoHeteroRNN, x: Tensor) -> Tensor:
    """Next-item output probabilities (N, T, F) of an SRN run from its initial context."""
    with torch.no_grad():
        return torch.sigmoid(net.run(x, with_context=False).step_logits)


def sequence_recall(net: AutoHeteroRNN, x: Tensor, y: Tensor, tol: float = 0.5) -> Tensor:
    """(N,) bool: a sequence is recalled when every step's prediction is within ``tol`` of y."""
    return exact_recall(srn_outputs(net, x), y, tol)


def static_pseudo_loss(net: AutoHeteroRNN, batch: PseudoBatch, context_weight: float = 0.0) -> Tensor:
    """Loss of an SRN on static (item, context) pseudo-patterns (Ans et al. 2004).

    Targets: the teacher's next-item probabilities (binary cross-entropy), its auto output
    (item and context, MSE) and, with ``context_weight`` > 0, its next context (hidden-state
    target, MSE).
    """
    logits, recon, nxt = net.step(batch.x, batch.context)
    loss = F.binary_cross_entropy_with_logits(logits, torch.sigmoid(batch.logits))
    loss = loss + F.mse_loss(recon, batch.recon)
    if context_weight:
        loss = loss + context_weight * F.mse_loss(nxt, batch.next_context)
    return loss


def train_srn(net: AutoHeteroRNN, x: Tensor, y: Tensor, *, lr: float, max_epochs: int,
              tol: float = 0.5, min_epochs: int = 0, auto_weight: float = 1.0,
              pseudo: Optional[Reverberation] = None, pseudo_n: int = 0,
              context_weight: float = 0.0, pseudo_weight: float = 1.0) -> int:
    """Full-batch training (Adam, BPTT) of next-item prediction to criterion; returns epochs used.

    Loss: binary cross-entropy of every step's prediction + ``auto_weight`` * MSE of the auto
    output against [item, context]; with ``pseudo`` (a static-mode reverberation generator over
    the storage network), ``pseudo_n`` fresh pseudo-patterns join every epoch, their loss
    weighted by ``pseudo_weight``. Criterion: every
    step of every sequence within ``tol``. Returns ``max_epochs`` + 1 when never met.
    """
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for epoch in range(max_epochs + 1):
        if epoch >= min_epochs and sequence_recall(net, x, y, tol).all():
            return epoch
        if epoch == max_epochs:
            break
        out = net.run(x, with_context=True)
        loss = F.binary_cross_entropy_with_logits(out.step_logits, y)
        if auto_weight:
            loss = loss + auto_weight * F.mse_loss(out.recon, out.recon_target)
        if pseudo is not None and pseudo_n:
            loss = loss + pseudo_weight * static_pseudo_loss(net, pseudo.sample(pseudo_n), context_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return max_epochs + 1


def transfer_srn(student: AutoHeteroRNN, teacher_gen: Reverberation, *, steps: int, batch: int,
                 lr: float, context_weight: float = 0.0, pool_size: int = 0) -> AutoHeteroRNN:
    """The student learns only the teacher's static pseudo-patterns (NET1 -> NET2).

    With ``pool_size`` > 0 a fixed pool of that many pseudo-patterns is drawn once (as Ans &
    Rousset's fixed sets of 10^4 pseudo-patterns) and minibatches of ``batch`` are drawn from it;
    otherwise every step draws fresh ones.
    """
    pool = None
    if pool_size:
        chunks = [teacher_gen.sample(min(4096, pool_size - i)) for i in range(0, pool_size, 4096)]
        pool = PseudoBatch(**{k: torch.cat([getattr(c, k) for c in chunks])
                              for k in ("x", "logits", "context", "next_context", "recon")})
    opt = torch.optim.Adam(student.parameters(), lr=lr)
    for _ in range(steps):
        if pool is None:
            b = teacher_gen.sample(batch)
        else:
            i = torch.randint(len(pool), (batch,))
            b = PseudoBatch(x=pool.x[i], logits=pool.logits[i], context=pool.context[i],
                            next_context=pool.next_context[i], recon=pool.recon[i])
        loss = static_pseudo_loss(student, b, context_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return student


@dataclass
class SequenceConfig:
    """The sequence (2004) experiment: sizes, learning and self-refresh settings."""
    item_size: int = 10
    vocab_size: int = 12
    length: int = 6
    n_a: int = 4
    n_b: int = 4
    hidden_size: int = 30
    lr: float = 0.005
    train_tol: float = 0.3
    min_epochs: int = 1000            # set A is trained at least this long (settles the attractors)
    min_epochs_b: int = 0             # later learning stops at criterion
    max_epochs: int = 3000
    auto_weight: float = 3.0
    reverberations: int = 5           # R = 20 or 50 collapse onto few attractors (worse transfer)
    pseudo_n: int = 128               # fresh static pseudo-patterns every epoch of NET1
    pseudo_weight: float = 10.0       # weight of their loss against the real items' loss
    transfer_steps: int = 1500
    transfer_batch: int = 128
    transfer_lr: float = 0.01
    transfer_pool: int = 20000        # fixed pool of NET1's pseudo-patterns NET2 learns from
    context_weight: float = 1.0       # weight of the next-context target in the "hidden" variant


def sequence_experiment(seed: int, cfg: SequenceConfig = SequenceConfig()) -> Dict[str, Dict[str, float]]:
    """Sequences A then B on SRNs: single, dual (static pseudo-patterns), dual with hidden-state
    targets, interleaved. Returns ``{protocol: {"recall_a", "recall_b", "savings", ...}}`` (percent)."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    items, seqs = make_sequences(cfg.n_a + cfg.n_b, cfg.length, cfg.vocab_size, cfg.item_size, g)
    x, y = sequence_tensors(items, seqs)
    xa, ya, xb, yb = x[: cfg.n_a], y[: cfg.n_a], x[cfg.n_a:], y[cfg.n_a:]
    train = dict(lr=cfg.lr, max_epochs=cfg.max_epochs, tol=cfg.train_tol, min_epochs=cfg.min_epochs_b,
                 auto_weight=cfg.auto_weight)

    def new_net() -> AutoHeteroRNN:
        return AutoHeteroRNN(cfg.item_size, cfg.hidden_size, cfg.item_size, cell="srn",
                             auto_activation="sigmoid", srn_nonlinearity="sigmoid", readout="last")

    net_a = new_net()
    epochs_a = train_srn(net_a, xa, ya, **{**train, "min_epochs": 0})   # epochs to criterion
    train_srn(net_a, xa, ya, **{**train, "min_epochs": max(0, cfg.min_epochs - epochs_a)})

    def measure(net: AutoHeteroRNN, epochs_b: int) -> Dict[str, float]:
        ra = sequence_recall(net, xa, ya).float().mean().item() * 100
        rb = sequence_recall(net, xb, yb).float().mean().item() * 100
        relearn = train_srn(copy.deepcopy(net), xa, ya, **{**train, "min_epochs": 0})
        return {"recall_a": ra, "recall_b": rb, "savings": savings(max(epochs_a, 1), relearn),
                "epochs_a": float(epochs_a), "epochs_b": float(epochs_b)}

    res = {}
    single = copy.deepcopy(net_a)
    res["single"] = measure(single, train_srn(single, xb, yb, **train))
    for name, cw in (("dual", 0.0), ("dual_hidden", cfg.context_weight)):
        teacher = Reverberation(net_a, reverberations=cfg.reverberations, mode="static").manual_seed(seed)
        net2 = transfer_srn(new_net(), teacher, steps=cfg.transfer_steps, batch=cfg.transfer_batch,
                            lr=cfg.transfer_lr, context_weight=cw, pool_size=cfg.transfer_pool)
        storage = Reverberation(net2, reverberations=cfg.reverberations, mode="static").manual_seed(seed + 1)
        net1 = copy.deepcopy(net_a)
        eb = train_srn(net1, xb, yb, pseudo=storage, pseudo_n=cfg.pseudo_n, context_weight=cw,
                       pseudo_weight=cfg.pseudo_weight, **train)
        res[name] = measure(net1, eb)
    inter = copy.deepcopy(net_a)
    res["interleaved"] = measure(inter, train_srn(inter, torch.cat([xa, xb]), torch.cat([ya, yb]), **train))
    return res


def config_dict(cfg) -> dict:
    """A config as a plain dict (for printing the settings next to a table)."""
    return asdict(cfg)
