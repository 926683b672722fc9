"""Real-audio development benchmark: every strategy on FSDD (real spoken digits), with JapaneseVowels
and the synthetic speech stream in the same table.

FSDD from ``../shared/data/fsdd`` (6 speakers x 10 digits x takes 0-9; takes 0-4 test, 5-9 train),
log-mel 40 x 48 (0.47 s clips), class-incremental 5 experiences x 2 digits, class order drawn by the
seed (``--class-order fixed``: the streams' own 0..C-1, what every run before 2026-12-01 used;
``fsdd-speaker``, not in the default grid: one speaker drawn by the seed is the test set, all
takes of the other five train); models AutoHeteroRNN LSTM 128 and GRU 64; Adam 1e-3, minibatch 16 (FSDD; 32 for JapaneseVowels
and speech, the ``STREAMS`` table below); 8 and 25 epochs per
experience. Each cell (stream, model, epochs, row, seed) is one process-local run on one thread;
cells run ``--workers`` at a time. The table gives, per (stream, model, epochs), the mean final
accuracy averaged over the experiences' test sets, each row's difference to Replay(20 per class)
and to Naive paired by seed (mean +- s.e.), and the training time ratio to Naive (same seed,
same invocation).

    .venv/bin/python benchmarks/real_audio.py                         # the whole grid (about 1 h on 2 cores)
    .venv/bin/python benchmarks/real_audio.py --streams fsdd --models lstm:128 --epochs 8 \
        --rows naive replay selfrefresh --seeds 0 1 2 --out /tmp/probe

Writes ``<out>.md`` (tables) and ``<out>.json`` (every cell, the command, the machine).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header, machine, write_results  # noqa: E402

# Stream name -> (registered stream, keyword arguments, minibatch size).
STREAMS = {
    "fsdd": ("fsdd", {"clip_duration": 0.47, "n_mels": 40, "n_experiences": 5}, 16),
    # one speaker held out for the test (drawn by the seed), every take of the other five for training
    "fsdd-speaker": ("fsdd", {"clip_duration": 0.47, "n_mels": 40, "n_experiences": 5, "split": "speaker"}, 16),
    "japanese-vowels": ("japanese-vowels", {"n_experiences": 3}, 32),
    "speech": ("speech", None, 32),  # the stream's "small" CPU preset
}
#: classes of each stream (for the class order drawn by the seed)
NUM_CLASSES = {"fsdd": 10, "fsdd-speaker": 10, "japanese-vowels": 9, "speech": 6}
REPLAY_PER_CLASS = 20
# Row name -> (strategy name, options). "replay" stores REPLAY_PER_CLASS sequences per class.
ROWS = {
    "naive": ("naive", {}),
    "lwf": ("lwf", {}),
    "ewc": ("ewc", {"ewc_lambda": 1000.0}),
    "generative-replay": ("generative-replay", {}),
    "replay": ("replay", None),
    "cumulative": ("cumulative", {}),
    "pooled-gaussian": ("pooled-gaussian", {}),  # no network: a Gaussian per class of pooled statistics
    "selfrefresh": ("selfrefresh", {}),
    # the defaults before 2026-12-03 (evening): the separated softmax on real data; before it (morning)
    # also one pseudo-sequence per real one with the pseudo losses at weight 1
    "selfrefresh-separated-softmax": ("selfrefresh", {"real_loss": "current"}),
    "selfrefresh-one-per-real": ("selfrefresh", {"real_loss": "current", "pseudo_ratio": 1.0, "distill_weight": 1.0,
                                                 "auto_weight": 1.0, "feature_weight": 1.0}),
    "selfrefresh-papers": ("selfrefresh-papers", {}),
    "selfrefresh-plain": ("selfrefresh-plain", {}),
    "selfrefresh-gan": ("selfrefresh-gan", {}),
}
DEFAULT_ROWS = ("naive", "lwf", "ewc", "generative-replay", "replay", "cumulative", "pooled-gaussian", "selfrefresh",
                "selfrefresh-separated-softmax", "selfrefresh-one-per-real", "selfrefresh-papers", "selfrefresh-plain")


CLASS_ORDERS = ("seed", "fixed")  # the --class-order choices of this script and feature_diagnosis.py


def class_order(stream: str, seed: int, order: str = "fixed"):
    """The stream's class order: ``"seed"``, a permutation drawn by the seed; ``"fixed"``, the
    stream's own order 0..C-1 (None)."""
    if order == "fixed":
        return None
    if order not in CLASS_ORDERS:
        raise ValueError(f"order must be 'seed' or 'fixed', got {order!r}")
    from selfrefresh.streams.base import resolve_class_order
    return resolve_class_order(NUM_CLASSES[stream], None, seed, shuffle=True)


def load(stream: str, seed: int, order: str = "fixed"):
    """(benchmark, minibatch size) of a stream of ``STREAMS`` for ``seed``; ``order``: see :func:`class_order`."""
    from selfrefresh.runs import load_stream
    name, kw, mb = STREAMS[stream]
    extra = {"seed": seed, "class_order": class_order(stream, seed, order)}
    if kw is None:
        return load_stream(name, "small", extra=extra, progress=False), mb
    return load_stream(name, "full", extra={**kw, **extra}, progress=False), mb


def run_cell(cell: dict) -> dict:
    """One run: cell = {stream, cell_type, hidden, epochs, row, seed, options, lr} -> accuracies, time."""
    import torch
    torch.set_num_threads(1)
    from selfrefresh.runs import build_model, stream_info
    from selfrefresh.runs.loop import accuracy_evaluator, silence_warnings, train_stream
    from selfrefresh.strategies import make_strategy

    silence_warnings()
    seed = cell["seed"]
    bm, mb = load(cell["stream"], seed, cell.get("order", "fixed"))
    info = stream_info(bm)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model, _ = build_model(info, cell["cell_type"], cell["hidden"], readout=cell.get("readout", "last"))
    opt = torch.optim.Adam(model.parameters(), lr=cell["lr"])
    kind, options = cell["kind"], cell["options"]
    if options is None:  # replay: a fixed number of sequences per class
        options = {"mem_size": REPLAY_PER_CLASS * info["num_classes"]}
    if kind.startswith("selfrefresh"):
        options = {"seed": seed, **options}
    s = make_strategy(kind, model, opt, options=options, seq_len=info["seq_len"], train_mb_size=mb,
                      train_epochs=cell["epochs"], eval_mb_size=512, evaluator=accuracy_evaluator())
    if cell.get("matrix"):  # evaluated after every experience (outside the timed training)
        matrix, seconds = train_stream(s, bm, eval_each=True)
        return {**cell, "acc": float(np.mean(matrix[-1])), "per_experience": matrix[-1], "matrix": matrix,
                "wall": sum(seconds)}
    accs, seconds = train_stream(s, bm)
    return {**cell, "acc": float(np.mean(accs)), "per_experience": accs, "wall": sum(seconds)}


def execute(cells, workers: int):
    if workers <= 1:
        return [run_cell(c) for c in cells]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    os.environ["OMP_NUM_THREADS"] = "1"
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        return list(pool.map(run_cell, cells))


def _paired(a, b) -> str:
    d = np.asarray(a) - np.asarray(b)
    if len(d) < 2:
        return f"{d.mean():+.3f}"
    return f"{d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(len(d)):.3f}"


def tables(results, rows) -> str:
    out = []
    key = lambda r: (r["stream"], r["cell_type"], r["hidden"], r["epochs"], r.get("order", "fixed"),  # noqa: E731
                     r.get("readout", "last"))
    groups = sorted({key(r) for r in results},
                    key=lambda g: (g[4] != "seed", g[5] != "mean", list(STREAMS).index(g[0]) if g[0] in STREAMS else 99,
                                   -g[2], g[1], g[3]))
    for g in groups:
        cells = [r for r in results if key(r) == g]
        by_row = {}
        naive_of = {}  # (part, seed) -> Naive's cell of that invocation, even where a later part's replaces it
        for r in cells:
            by_row.setdefault(r["row"], {})[r["seed"]] = r
            if r["row"] == "naive":
                naive_of[(r.get("part"), r["seed"])] = r
        seeds = sorted({r["seed"] for r in cells})
        # SelfRefresh's other rows (presets, earlier defaults, --variant rows) are also compared with the
        # default SelfRefresh of the same seeds
        others = {r for r in by_row if r != "selfrefresh" and (r.startswith("selfrefresh") or r not in ROWS)}
        refs = ("replay", "naive") + (("selfrefresh",) if "selfrefresh" in by_row and others else ())
        order = "class order drawn by the seed" if g[4] == "seed" else "fixed class order 0..C-1"
        readout = (", class head on the mean over steps (readout mean)" if g[5] == "mean"
                   else ", class head on the final step (readout last)")
        out.append(f"### {g[0]}, {g[1].upper()} {g[2]}, {g[3]} epochs per experience, {order}{readout}, seeds {seeds}\n")
        out.append("| row | final accuracy (mean +- std) | minus Replay(20/class), paired | minus Naive, paired "
                   + ("| minus SelfRefresh (default), paired " if len(refs) == 3 else "") + "| time x Naive |")
        out.append("|---|---|---|" + "---|" * len(refs))
        for name in rows:
            if name not in by_row:
                continue
            runs = by_row[name]
            s = sorted(runs)
            acc = [runs[k]["acc"] for k in s]
            cols = [f"{np.mean(acc):.3f} +- {np.std(acc):.3f}"]
            for ref in refs:
                common = [k for k in s if k in by_row.get(ref, {})]
                cols.append("-" if ref == name or not common else
                            _paired([runs[k]["acc"] for k in common], [by_row[ref][k]["acc"] for k in common]))
            # a time ratio only against Naive of the same invocation (combined parts ran under other loads)
            common = [k for k in s if (runs[k].get("part"), k) in naive_of]
            ratio = (np.mean([runs[k]["wall"] / naive_of[(runs[k].get("part"), k)]["wall"] for k in common])
                     if common else None)
            cols.append("-" if ratio is None else f"{ratio:.2f}")
            shown = name if s == seeds else f"{name} (seeds {', '.join(map(str, s))})"
            out.append(f"| {shown} | " + " | ".join(cols) + " |")
        out.append("")
        out.extend(_matrices(by_row, rows))
    return "\n".join(out)


def _matrices(by_row, rows) -> list:
    """Markdown lines: each row's accuracy matrix (``--matrix``), mean over its seeds; line i: the
    accuracy on each test experience after training on experience i."""
    out = []
    for name in rows:
        runs = [r for r in by_row.get(name, {}).values() if "matrix" in r]
        if not runs:
            continue
        m = np.mean([r["matrix"] for r in runs], axis=0)
        n = m.shape[1]
        out.append(f"{name}: accuracy on each test experience (columns) after training on experience i "
                   f"(lines), mean over {len(runs)} seeds\n")
        out.append("| after | " + " | ".join(f"exp {j + 1}" for j in range(n)) + " | just learned |")
        out.append("|---|" + "---|" * (n + 1))
        for i, line in enumerate(m):
            out.append(f"| {i + 1} | " + " | ".join(f"{v:.2f}" if j <= i else "" for j, v in enumerate(line))
                       + f" | {line[i]:.2f} |")
        out.append("")
    return out


def main(argv=None) -> list:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", nargs="+", default=["fsdd", "japanese-vowels", "speech"], choices=list(STREAMS))
    p.add_argument("--models", nargs="+", default=["lstm:128", "gru:64"], metavar="CELL:HIDDEN")
    p.add_argument("--epochs", nargs="+", type=int, default=[8, 25])
    p.add_argument("--rows", nargs="+", default=list(DEFAULT_ROWS), choices=list(ROWS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--class-order", choices=CLASS_ORDERS, default="seed",
                   help="seed: each seed draws its own class order (default); fixed: the streams' order 0..C-1 "
                        "(every run before 2026-12-01 used it)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=JSON",
                   help="an option for every selfrefresh row, e.g. --option pseudo_ratio=2")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                   help='an extra selfrefresh row with these options, e.g. --variant \'no steering={"steer": false}\'')
    p.add_argument("--readout", choices=("mean", "last"), default="mean",
                   help="what every row's class head reads: the mean over steps (AutoHeteroRNN's default) or the "
                        "last step (every run before 2026-12-03 without this option)")
    p.add_argument("--matrix", action="store_true",
                   help="also evaluate after every experience and print each row's mean accuracy matrix (the "
                        "evaluations' data loaders draw from torch's random generator, so every run's later "
                        "minibatch order, and its accuracy, differ from a run without it)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/real_audio")
    p.add_argument("--combine", nargs="+", metavar="JSON",
                   help="train nothing: one table file from the cells of these earlier outputs (each part's "
                        "command and machine are listed)")
    a = p.parse_args(argv)
    if a.combine:
        return combine(a.combine, Path(a.out), argv)
    extra = {}
    for kv in a.option:
        k, _, v = kv.partition("=")
        extra[k] = json.loads(v)
    rows = {name: ROWS[name] for name in a.rows}
    for kv in a.variant:
        name, _, v = kv.partition("={")
        rows[name] = ("selfrefresh", json.loads("{" + v))
    cells = []
    for stream in a.streams:
        for spec in a.models:
            cell_type, _, hidden = spec.partition(":")
            for epochs in a.epochs:
                for row, (kind, options) in rows.items():
                    if options is not None and kind.startswith("selfrefresh"):
                        options = {**options, **extra}
                    for seed in a.seeds:
                        cells.append({"stream": stream, "cell_type": cell_type, "hidden": int(hidden),
                                      "epochs": epochs, "row": row, "kind": kind, "options": options,
                                      "seed": seed, "lr": a.lr, "order": a.class_order,
                                      **({"matrix": True} if a.matrix else {}),
                                      "readout": a.readout})
    t = time.perf_counter()
    results = execute(cells, a.workers)
    text = tables(results, list(rows))
    print(text)
    command = _command("benchmarks/real_audio.py", argv)
    m = machine()
    head = header(command, m=m, extra=f"{a.workers} worker(s) x 1 thread, {time.perf_counter() - t:.0f} s") + "\n"
    write_results(a.out, head + text + "\n", {"command": command, "machine": m, "args": vars(a), "cells": results})
    return results


def combine(paths, out: Path, argv=None) -> list:
    """The tables of several earlier runs of this script in one file (``--combine``)."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    results = [{**c, "part": i} for i, part in enumerate(parts) for c in part["cells"]]
    rows = list(DEFAULT_ROWS) + sorted({c["row"] for c in results} - set(DEFAULT_ROWS))
    text = tables(results, rows)
    lines = [f"Combined by `{_command('benchmarks/real_audio.py', argv)}` from:", ""]
    for path, part in zip(paths, parts):
        m = part["machine"]
        note = f" {part['note']}" if part.get("note") else ""
        lines.append(f"- `{part['command']}` (commit {m.get('commit')}, {m.get('date')}, {m.get('cores')} cores, "
                     f"torch {m.get('torch')}, {m.get('device')}; `{path}`){note}")
    lines += ["", "Time x Naive is shown only for rows run in the same invocation as Naive (\"-\" otherwise); "
              "worker processes shared two cores, so read it as rough: `benchmarks/speed.py` measures it side by "
              "side ([docs/speed.md](../../docs/speed.md))."]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text("\n".join(lines) + "\n\n" + text + "\n")
    print(text)
    return results


if __name__ == "__main__":
    main()
