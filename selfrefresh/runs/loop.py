"""The loop every run shares: train a strategy experience by experience, evaluate, time.

:func:`run_experiment` (checkpoints, logs) and the benchmark scripts (tables) build on it::

    acc, seconds = train_stream(strategy, bench)                  # final [A[T-1, 0], A[T-1, 1], ...]
    rows, seconds = train_stream(strategy, bench, eval_each=True)  # the matrix A[i, j], row after row

Joint training (Avalanche's ``JointTraining``) trains once on the whole stream: one row, one time.
Only ``strategy.train`` is timed (a CUDA device is synchronised around it); Avalanche's warnings
are not shown.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from typing import Iterator, List, NamedTuple, Optional, Tuple

import torch

__all__ = ["Step", "train_steps", "train_stream", "accuracy_evaluator", "quiet_warnings", "silence_warnings"]


class Step(NamedTuple):
    """One training call: its index, seconds in ``strategy.train`` and in ``strategy.eval``, and
    the metrics ``strategy.eval`` returned (``None`` when not evaluated)."""
    index: int
    train_s: float
    eval_s: float
    metrics: Optional[dict]


def silence_warnings() -> None:
    """Hide every warning (restored on exit of the enclosing ``warnings.catch_warnings``)."""
    # Avalanche's deprecation decorator forces "always": drop the display itself
    warnings.simplefilter("ignore")
    warnings.showwarning = lambda *args, **kwargs: None


@contextlib.contextmanager
def quiet_warnings():
    """No warning shown inside the block."""
    with warnings.catch_warnings():
        silence_warnings()
        yield


def accuracy_evaluator(accuracy: bool = True):
    """Avalanche's evaluator with per-experience accuracy only (or no metric), and no logger."""
    from avalanche.evaluation.metrics import accuracy_metrics
    from avalanche.training.plugins import EvaluationPlugin
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No loggers specified": on purpose
        return EvaluationPlugin(*([accuracy_metrics(experience=True)] if accuracy else []), loggers=[])


def _is_joint(strategy) -> bool:
    from avalanche.training.supervised import JointTraining
    return isinstance(strategy, JointTraining)


def _sync(strategy) -> None:
    if torch.device(getattr(strategy, "device", "cpu")).type == "cuda":
        torch.cuda.synchronize()


def train_steps(strategy, benchmark, *, evaluate: bool = True, start: int = 0,
                stop: Optional[int] = None) -> Iterator[Step]:
    """Train on ``benchmark.train_stream[start:stop]`` one experience at a time (Joint: the whole
    stream, once), each followed by ``strategy.eval(benchmark.test_stream)`` when ``evaluate``;
    yields a :class:`Step` after each (so that a caller can checkpoint)."""
    calls = [benchmark.train_stream] if _is_joint(strategy) else list(benchmark.train_stream)
    for i in range(start, len(calls) if stop is None else min(stop, len(calls))):
        with quiet_warnings():
            _sync(strategy)
            t = time.perf_counter()
            strategy.train(calls[i], eval_streams=[])
            _sync(strategy)
            train_s = time.perf_counter() - t
            metrics, eval_s = None, 0.0
            if evaluate:
                t = time.perf_counter()
                metrics = strategy.eval(benchmark.test_stream)
                eval_s = time.perf_counter() - t
        yield Step(i, train_s, eval_s, metrics)


def train_stream(strategy, benchmark, *, eval_each: bool = False,
                 evaluate: bool = True) -> Tuple[Optional[list], List[float]]:
    """Train ``strategy`` on the whole stream; returns ``(accuracies, seconds)``.

    ``accuracies``: with ``eval_each``, the accuracy matrix (row ``i``: accuracy on each test
    experience after training call ``i``); else the final accuracy on each test experience
    (evaluated once, at the end); ``None`` when not ``evaluate``. ``seconds``: seconds in
    ``strategy.train`` per training call."""
    from .evaluation import experience_accuracies
    n = len(benchmark.test_stream)
    rows, seconds = [], []
    for step in train_steps(strategy, benchmark, evaluate=evaluate and eval_each):
        seconds.append(step.train_s)
        if step.metrics is not None:
            rows.append(experience_accuracies(step.metrics)[:n])
    if not evaluate or eval_each:
        return (rows if evaluate else None), seconds
    with quiet_warnings():
        final = experience_accuracies(strategy.eval(benchmark.test_stream))[:n]
    return final, seconds
