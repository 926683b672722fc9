"""Where one training run's time goes: cProfile of one cell of the real-audio benchmark.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_run.py                      # FSDD, LSTM 128, 8 epochs, selfrefresh
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_run.py --epochs 25 --strategy naive --top 30
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_run.py --epochs 25 --copies 5 --mb 64   # the corpus' size

Runs the cell once unprofiled (loads the data, warms the caches), then once under cProfile, and prints
the share of the training time spent in each phase of SelfRefresh (the minibatches' epochs, the pool
built at the start of an experience, the head's warm-up, the inversion and the calibration after it)
and the ``--top`` functions by cumulative time. ``--copies`` / ``--mb``: the stream at the size of a larger
corpus, as ``benchmarks/speed.py`` builds it (jittered copies of each training sequence; its training
set-up: Adam 2e-3, no evaluation, so no accuracy is printed).
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
import real_audio  # noqa: E402

# phase -> the function whose cumulative time it is (file suffix, function name)
PHASES = {
    "training epochs": ("sgd_update.py", "training_epoch"),
    "pool (start of each experience)": ("pool.py", "fill"),
    "head warm-up": ("method.py", "_warm_up_head"),
    "inversion (end of each experience)": ("method.py", "_add_inverted"),
    "calibration (end of each experience)": ("method.py", "_calibrate_head"),
}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stream", default="fsdd", choices=list(real_audio.STREAMS))
    p.add_argument("--model", default="lstm:128", metavar="CELL:HIDDEN")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--strategy", default="selfrefresh")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--copies", type=int, default=1, help="each training sequence this many times (speed.py's)")
    p.add_argument("--mb", type=int, default=64, help="minibatch size with --copies")
    a = p.parse_args(argv)
    cell_type, _, hidden = a.model.partition(":")
    cell = {"stream": a.stream, "cell_type": cell_type, "hidden": int(hidden), "epochs": a.epochs, "row": a.strategy,
            "kind": a.strategy, "options": {}, "seed": a.seed, "lr": 1e-3}
    if a.copies > 1:
        import speed
        from selfrefresh.runs import stream_info
        bench, _ = speed._stream(a.stream, a.copies)
        info = stream_info(bench)

        def run_once():
            wall = speed._train_once(a.strategy, bench, info, a.epochs, int(hidden), "cpu", cell_type, a.mb)[0]
            return {"wall": wall, "acc": float("nan")}
    else:
        def run_once():
            return real_audio.run_cell(cell)
    run_once()
    prof = cProfile.Profile()
    prof.enable()
    result = run_once()
    prof.disable()
    stats = pstats.Stats(prof)
    total = result["wall"]
    shares = {}
    for phase, (file, name) in PHASES.items():
        cum = sum(v[3] for k, v in stats.stats.items() if k[0].endswith(file) and k[2] == name)
        shares[phase] = cum / total if total else 0.0
    size = f" x {a.copies} copies, minibatch {a.mb}" if a.copies > 1 else ""
    print(f"{a.stream}{size}, {a.model}, {a.epochs} epochs, {a.strategy}, seed {a.seed}: accuracy {result['acc']:.3f}, "
          f"training {total:.2f} s (profiled)")
    for phase, share in shares.items():
        print(f"  {phase:40s} {100 * share:5.1f} %")
    stats.sort_stats("cumulative").print_stats(a.top)
    return shares


if __name__ == "__main__":
    main()
