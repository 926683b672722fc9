"""Is each stream learnable and forgettable? Cumulative (joint) vs Naive final accuracy, same model.

For every registered stream (``selfrefresh.streams.STREAM_NAMES``) built at a small size, a GRU
classifier (``AutoHeteroRNN(cell="gru")`` used through its class head) is trained by Avalanche's
``Cumulative`` (upper bound: each experience trains on all data seen so far) and ``Naive`` (lower
bound: fine-tuning on each experience in turn); the table gives both final accuracies on the whole
test set (all classes), and Naive's on the last experience's classes alone (did it learn what it
saw last?). A large gap means a real class-incremental forgetting problem; Cumulative
far above chance means the stream is learnable. Streams whose module is not importable yet, or that
need a folder the user supplies (``speech-commands``, ``video-folder``), are listed as skipped.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/streams_learnability.py \
        [--streams symbolic dynamical] [--epochs 15] [--out benchmarks/results/learnability.md]
"""
from __future__ import annotations

import argparse
import inspect
import math
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

# Small sizes: the whole table in about 10 minutes on 2 cores.
STREAM_KWARGS = {
    "speech": dict(n_voices=12, test_voices=4, progress=False),
    "fsdd": dict(),
    "speech-commands": None,  # needs the user's Speech Commands folder
    "japanese-vowels": dict(),
    "basic-motions": dict(),
    "moving-actions": dict(n_classes=10, n_train_per_class=100, n_test_per_class=40, n_experiences=5),
    "video-folder": None,  # needs the user's video folder
    "symbolic": dict(n_sequences=10, n_train_per_class=40, n_test_per_class=20, n_experiences=5),
    "dynamical": dict(n_train_per_class=40, n_test_per_class=20, length=60, n_experiences=3),
}


def _build(name: str, seed: int, cache_dir: str):
    from selfrefresh.streams import get_stream
    fn = get_stream(name)
    kwargs = dict(STREAM_KWARGS.get(name) or {})
    params = inspect.signature(fn).parameters
    if "cache_dir" in params:
        kwargs["cache_dir"] = cache_dir
    kwargs["seed"] = seed
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(**{k: v for k, v in kwargs.items() if k in params})


def _accuracy(model, stream) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for exp in stream:
            for x, y, *_ in DataLoader(exp.dataset, batch_size=256):
                correct += int((model(x).argmax(-1) == y).sum())
                total += len(y)
    return correct / total


def _epochs(bm, args) -> int:
    """``--epochs``, raised so that the smallest experience gets ``--min-steps`` optimiser steps."""
    smallest = min(len(e.dataset) for e in bm.train_stream)
    return max(args.epochs, math.ceil(args.min_steps / math.ceil(smallest / args.batch)))


def _run(strategy_name: str, bm, args, epochs: int):
    """Train on the whole stream; (accuracy on all test data, on the last experience's test data)."""
    from avalanche.training import Cumulative, Naive
    from avalanche.training.plugins import EvaluationPlugin

    from selfrefresh.models import AutoHeteroRNN
    torch.manual_seed(args.seed)
    model = AutoHeteroRNN(bm.input_size, args.hidden, bm.num_classes, cell="gru")
    cls = {"naive": Naive, "cumulative": Cumulative}[strategy_name]
    strategy = cls(model=model, optimizer=torch.optim.Adam(model.parameters(), lr=args.lr),
                   criterion=torch.nn.CrossEntropyLoss(), train_mb_size=args.batch, train_epochs=epochs,
                   eval_mb_size=256, device="cpu", evaluator=EvaluationPlugin(loggers=[]), eval_every=-1)
    for exp in bm.train_stream:
        strategy.train(exp)
    return _accuracy(model, bm.test_stream), _accuracy(model, bm.test_stream[-1:])


def main():
    from selfrefresh.streams import STREAM_NAMES
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", nargs="*", default=list(STREAM_NAMES))
    p.add_argument("--epochs", type=int, default=15, help="epochs per experience (at least)")
    p.add_argument("--min-steps", type=int, default=100,
                   help="raise the epochs so the smallest experience gets this many optimiser steps")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "learnability.md"))
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    import warnings
    warnings.filterwarnings("ignore", message="No loggers specified")

    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as cache:
        for name in args.streams:
            if name in STREAM_KWARGS and STREAM_KWARGS[name] is None:
                skipped.append(f"`{name}`: needs a folder the user supplies")
                continue
            t0 = time.perf_counter()
            try:
                bm = _build(name, args.seed, cache)
            except (ImportError, FileNotFoundError) as e:
                skipped.append(f"`{name}`: {type(e).__name__}: {e}")
                continue
            n_train = sum(len(e.dataset) for e in bm.train_stream)
            epochs = _epochs(bm, args)
            cum, _ = _run("cumulative", bm, args, epochs)
            naive, naive_last = _run("naive", bm, args, epochs)
            sec = time.perf_counter() - t0
            rows.append((name, bm.num_classes, len(bm.train_stream), bm.seq_len, bm.input_size, n_train, epochs,
                         cum, naive, naive_last, 1.0 / bm.num_classes, sec))
            print(f"{name:16s} cumulative {cum:.3f}  naive {naive:.3f} (last experience {naive_last:.3f})  "
                  f"chance {1 / bm.num_classes:.3f}  "
                  f"({sec:.0f} s)", flush=True)

    lines = ["| stream | classes / experiences | T x F | train sequences | epochs | Cumulative | Naive "
             "| Naive, last experience | chance | seconds |", "|" + " --- |" * 10]
    for name, c, e, t, f, n, ep, cum, naive, last, chance, sec in rows:
        lines.append(f"| {name} | {c} / {e} | {t} x {f} | {n} | {ep} | {cum:.3f} | {naive:.3f} | {last:.3f} "
                     f"| {chance:.3f} | {sec:.0f} |")
    text = (f"GRU {args.hidden} (AutoHeteroRNN class head), Adam lr {args.lr}, batch {args.batch}, at least "
            f"{args.epochs} epochs and {args.min_steps} steps per experience (same epochs for both strategies), "
            f"seed {args.seed}; final accuracy on the whole test set.\n\n" + "\n".join(lines) + "\n")
    if skipped:
        text += "\nSkipped: " + "; ".join(skipped) + ".\n"
    text += ("\nCommand: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/streams_learnability.py"
             + (f" --streams {' '.join(args.streams)}" if args.streams != list(STREAM_NAMES) else "")
             + (f" --epochs {args.epochs}" if args.epochs != 15 else "")
             + (f" --min-steps {args.min_steps}" if args.min_steps != 100 else "") + "`\n")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
