"""Speed: training throughput per strategy, pseudo-pattern generation, layers vs torch's fused RNNs.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/speed.py [--device cuda] [--parts train generate layers]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/speed.py --parts train --stream fsdd --cell lstm --hidden 128 \
        --epochs 8 25 --strategies naive replay selfrefresh

Prints its tables and writes them, headed by the command, commit, date and machine, to ``--out``
(default ``benchmarks/results/speed.md``).

1. Training: every strategy trains on the same stream (default the small synthetic speech stream,
   3 experiences) for the same epochs; only ``strategy.train`` is timed (no evaluation). Printed:
   sequences per second (real ones in the minibatches, replayed included) and the time as a
   ratio to Naive in this run, once per ``--epochs`` value (default 5 and 25, the strategy
   benchmark's CPU default: SelfRefresh builds its pseudo-sequence pool once per experience,
   a cost that short runs do not amortise).
   Target: SelfRefresh within 1.5x Naive.
2. Generation: pseudo-sequences per second of reverberation (and of the recurrent GAN when
   ``selfrefresh.generators.gan`` is present), from a network of the same size.
3. Layers: forward + backward of ``selfrefresh.nn.{SRN, RNN, GRU, LSTM}`` vs ``torch.nn.RNN``
   (tanh), ``GRU``, ``LSTM`` on (B, T, F) = (64, 100, 40), H = 128. Target: within 1.1x.
4. Batch (``--parts batch``, not in the default parts): an LSTM 128's forward + backward time by
   minibatch size (32-128, per 64 rows), and the steering of a pool of 128 / 400 pseudo-sequences in
   chunks of 64 (``Reverberation``'s default ``steer_chunk``) against all at once.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header  # noqa: E402


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def best_time(fn, device, repeat=5, warmup=2):
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t)
    return min(times)


def _train_once(name, bench, info, epochs, hidden, device, cell="gru", mb=32, variants=None):
    """Seconds spent in ``strategy.train`` over the stream, and the real sequences it saw.

    ``name``: a registered strategy or a key of ``variants`` ({name: (strategy, options)})."""
    from selfrefresh.runs import build_model
    from selfrefresh.runs.loop import accuracy_evaluator, quiet_warnings, train_stream
    from selfrefresh.strategies.registry import make_strategy
    torch.manual_seed(0)
    model, _ = build_model(info, cell, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    counter = _Counter()
    with quiet_warnings():
        kind, options = (variants or {}).get(name, (name, None))
        strategy = make_strategy(kind, model, opt, options=options, seq_len=info["seq_len"], train_mb_size=mb,
                                 train_epochs=epochs, eval_mb_size=256, device=device,
                                 evaluator=accuracy_evaluator(accuracy=False), plugins=[counter])
    _, per_exp = train_stream(strategy, bench, evaluate=False)
    return sum(per_exp), counter.n, per_exp


def _stream(stream, copies=1):
    """The benchmark and its minibatch size: the real-audio benchmark's set-up for the streams it
    defines (``benchmarks/real_audio.py``: FSDD log-mel 40 x 48, minibatch 16), else the small size.

    ``copies`` > 1: every training sequence ``copies`` times (the copies jittered by Gaussian noise
    of std 0.05), a stream the size of a larger corpus for timing only (FSDD x 5: the 3,000
    recordings of the full set); the test set is left as it is."""
    from real_audio import STREAMS, load
    if stream in STREAMS:
        bench, mb = load(stream, seed=0)
    else:
        from selfrefresh.runs import load_stream
        bench, mb = load_stream(stream, "small", progress=False), 32
    if copies > 1:
        from selfrefresh.streams.base import class_incremental_stream, experience_tensors
        train = [experience_tensors(e) for e in bench.train_stream]
        test = [experience_tensors(e) for e in bench.test_stream]
        x, y = torch.cat([t[0] for t in train]), torch.cat([t[1] for t in train])
        g = torch.Generator().manual_seed(0)
        x = torch.cat([x] + [x + 0.05 * torch.randn(x.shape, generator=g) for _ in range(copies - 1)])
        order = [c for e in bench.train_stream for c in sorted(e.classes_in_this_experience)]
        bench = class_incremental_stream(x, y.repeat(copies), torch.cat([t[0] for t in test]),
                                         torch.cat([t[1] for t in test]), n_experiences=len(train),
                                         class_order=order)
    return bench, mb


def bench_training(strategies, stream, epochs, hidden, device, repeat=2, cell="gru", variants=None, copies=1,
                   mb=None):
    """Each strategy ``repeat`` times, the strategies interleaved (so that a change in the shared
    machine's load hits all of them); the best time of each is reported. ``copies``: see
    :func:`_stream`; ``mb``: the minibatch size (default the stream's)."""
    from selfrefresh.runs import stream_info
    bench, stream_mb = _stream(stream, copies)
    mb = mb or stream_mb
    if copies > 1:
        stream = f"{stream} x {copies} (jittered copies of each training sequence)"
    info = stream_info(bench)
    best = {}
    for _ in range(repeat):
        for name in list(strategies):
            try:
                t, n, per_exp = _train_once(name, bench, info, epochs, hidden, device, cell, mb, variants)
            except (RuntimeError, ValueError) as err:
                print(f"  {name:18s} skipped: {err}")
                strategies = [s for s in strategies if s != name]
                continue
            if name not in best or t < best[name][0]:
                best[name] = (t, n, per_exp)
    rows = [(name, best[name][1] / best[name][0], best[name][0], best[name][2])
            for name in strategies if name in best]
    naive = {r[0]: r for r in rows}.get("naive")
    print(f"\nTraining, {stream}, minibatch {mb}, {epochs} epochs/experience, {cell.upper()} {hidden}, {device}, "
          f"best of {repeat}")
    print(f"  {'strategy':18s} {'seq/s':>9s} {'time s':>8s} {'x Naive':>8s}   x Naive per experience")
    for name, rate, t, per_exp in rows:
        ratio = f"{t / naive[2]:8.2f}" if naive else "       -"
        each = ("  " + " ".join(f"{a / b:.2f}" for a, b in zip(per_exp, naive[3]))
                if naive and len(per_exp) == len(naive[3]) else "")
        print(f"  {name:18s} {rate:9.1f} {t:8.2f} {ratio} {each}")
    return rows


def _Counter():
    from avalanche.core import SupervisedPlugin

    class Counter(SupervisedPlugin):
        """Real sequences in the training minibatches (replayed ones included, pseudo ones not)."""
        n = 0

        def after_training_iteration(self, strategy, **kwargs):
            self.n += len(strategy.mb_y)
    return Counter()


def bench_generation(hidden, device, n=256):
    from selfrefresh.runs import build_model
    from selfrefresh.generators import Reverberation
    info = {"input_size": 40, "num_classes": 6, "seq_len": 101}
    model, _ = build_model(info, "gru", hidden)
    model.to(device).eval()
    print(f"\nPseudo-pattern generation, (T, F) = (101, 40), GRU {hidden}, {n} per call, {device}")
    gen = Reverberation(network=model, seq_len=info["seq_len"])
    t = best_time(lambda: gen.sample(n), device, repeat=3, warmup=1)
    print(f"  {'reverberation':18s} {n / t:9.1f} seq/s")
    try:
        from selfrefresh.generators.gan import RecurrentGAN
        gan = RecurrentGAN(seq_len=info["seq_len"], n_features=info["input_size"],
                           num_classes=info["num_classes"], hidden_size=hidden, device=device)
        from torch.utils.data import TensorDataset
        data = TensorDataset(torch.randn(64, info["seq_len"], info["input_size"]), torch.arange(64) % 6)
        gan.update(data, network=model, epochs=1)  # one epoch: classes known, speed is what counts
        t = best_time(lambda: gan.sample(n), device, repeat=3, warmup=1)
        print(f"  {'gan':18s} {n / t:9.1f} seq/s")
    except Exception as err:  # noqa: BLE001 - report, do not stop the other parts
        print(f"  {'gan':18s} n/a ({' '.join(str(err).split())[:100]})")


def bench_layers(device, batch=64, steps=100, features=40, hidden=128):
    from selfrefresh import nn as snn
    x = torch.randn(batch, steps, features, device=device)
    pairs = [("SRN", snn.SRN(features, hidden), torch.nn.RNN(features, hidden, batch_first=True)),
             ("RNN", snn.RNN(features, hidden), torch.nn.RNN(features, hidden, batch_first=True)),
             ("GRU", snn.GRU(features, hidden), torch.nn.GRU(features, hidden, batch_first=True)),
             ("LSTM", snn.LSTM(features, hidden), torch.nn.LSTM(features, hidden, batch_first=True))]
    print(f"\nLayers, forward + backward, (B, T, F) = ({batch}, {steps}, {features}), H = {hidden}, {device}")
    print(f"  {'layer':6s} {'selfrefresh ms':>15s} {'torch fused ms':>15s} {'ratio':>7s}")
    for name, ours, fused in pairs:
        ours.to(device)
        fused.to(device)

        def step(layer):
            out, _ = layer(x)
            out.sum().backward()
        a = best_time(lambda: step(ours), device)
        b = best_time(lambda: step(fused), device)
        print(f"  {name:6s} {1e3 * a:15.2f} {1e3 * b:15.2f} {a / b:7.2f}")


def bench_batch(device, hidden=128, steps=48, features=40, batches=(32, 64, 96, 128), pools=(128, 400)):
    """An LSTM's forward + backward time by minibatch size, and the steering of a pool of
    pseudo-sequences in chunks of 64 against all at once (the FSDD size: T = 48, F = 40).
    Returns ([(batch, seconds)], [(pool size, chunked seconds, all-at-once seconds)])."""
    from selfrefresh.generators import Reverberation
    from selfrefresh.models import AutoHeteroRNN
    torch.manual_seed(0)
    net = AutoHeteroRNN(features, hidden, 10, cell="lstm").to(device)
    print(f"\nLSTM {hidden}, forward + backward by batch size, (T, F) = ({steps}, {features}), {device}")
    print(f"  {'batch':>6s} {'ms':>9s} {'ms per 64 rows':>15s}")
    by_batch, by_pool = [], []
    for b in batches:
        x = torch.randn(b, steps, features, device=device)
        t = best_time(lambda: net.run(x, with_context=False).logits.sum().backward(), device)
        by_batch.append((b, t))
        print(f"  {b:6d} {1e3 * t:9.2f} {1e3 * t * 64 / b:15.2f}")
    net.eval()
    print(f"\nSteering a pool toward 10 classes (5 steps, then 5 reverberations), same network, {device}")
    print(f"  {'sequences':>9s} {'chunks of 64 s':>15s} {'all at once s':>14s} {'ratio':>7s}")
    for n in pools:
        seeds = torch.randn(n, steps, features, device=device)
        times = []
        for chunk in (64, None):
            gen = Reverberation(network=net, steer_steps=5, seq_len=steps, steer_chunk=chunk)
            gen.configure(net, classes=list(range(10))).use_seeds(seeds).manual_seed(0)
            times.append(best_time(lambda: gen.sample(n), device, repeat=3, warmup=1))
        by_pool.append((n, *times))
        print(f"  {n:9d} {times[0]:15.3f} {times[1]:14.3f} {times[0] / times[1]:7.2f}")
    return by_batch, by_pool


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--parts", nargs="+", default=["train", "generate", "layers"],
                   choices=["train", "generate", "layers", "batch"])
    p.add_argument("--strategies", nargs="+", default=["naive", "selfrefresh", "ewc", "lwf",
                                                       "replay", "agem", "cumulative"])
    p.add_argument("--variant", action="append", default=[], metavar="NAME=STRATEGY:JSON",
                   help='an extra row: a strategy with options, e.g. --variant \'no cache=selfrefresh:{"teacher_cache_mb": 0}\'')
    p.add_argument("--stream", default="speech")
    p.add_argument("--epochs", type=int, nargs="+", default=[5, 25])
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--cell", default="gru", choices=["gru", "lstm", "rnn", "srn"])
    p.add_argument("--copies", type=int, default=1,
                   help="each training sequence this many times (jittered copies): a larger corpus, for timing")
    p.add_argument("--mb", type=int, default=None, help="training minibatch size (default the stream's)")
    p.add_argument("--repeat", type=int, default=2, help="training runs per strategy (best time kept)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "speed.md"),
                   help="markdown file for the printed tables (default benchmarks/results/speed.md)")
    args = p.parse_args(argv)
    variants = {}
    for spec in args.variant:
        name, sep, rest = spec.partition("=")
        kind, sep2, opts = rest.partition(":")
        if not (sep and sep2 and name):
            raise SystemExit(f"--variant {spec!r}: expected NAME=STRATEGY:JSON")
        variants[name] = (kind, json.loads(opts))
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU visible; use --device cpu")
    printed = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, printed)):
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
        if "layers" in args.parts:
            bench_layers(args.device)
        if "batch" in args.parts:
            bench_batch(args.device)
        if "generate" in args.parts:
            bench_generation(args.hidden, args.device)
        if "train" in args.parts:
            for epochs in args.epochs:
                bench_training(list(args.strategies) + list(variants), args.stream, epochs, args.hidden, args.device,
                               args.repeat, args.cell, variants, args.copies, args.mb)
    from selfrefresh._files import write_text
    cmd = _command("benchmarks/speed.py", argv, prefix=f"OMP_NUM_THREADS={torch.get_num_threads()}")
    write_text(args.out, "# Speed\n\n" + header(cmd, device=args.device,
                                                  extra=f"{torch.get_num_threads()} torch thread(s)")
               + "\n```\n" + printed.getvalue().rstrip("\n") + "\n```\n")


class _Tee(io.TextIOBase):
    """Writes to several text streams at once (the terminal and the results file's buffer)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self):
        for s in self.streams:
            s.flush()


if __name__ == "__main__":
    main()
