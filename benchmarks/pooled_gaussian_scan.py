"""The network-free baseline ``pooled-gaussian`` over its two settings, on the streams of ``real_audio.py``.

For each stream, seed (which draws the class order and, on ``fsdd-speaker``, the held-out speaker),
number of principal directions (``rank``) and covariance shrinkage, the final accuracy averaged
over the experiences' test sets (as ``real_audio.py`` reports it). The defaults (rank 16,
shrinkage 0.1) were fixed on the tuning seeds 10-12 before the baseline ran on the headline's
seeds 0-9::

    OMP_NUM_THREADS=1 python benchmarks/pooled_gaussian_scan.py --seeds 10 11 12

Writes ``<out>.md`` (means over seeds) and ``<out>.json`` (every run).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header, machine, write_results  # noqa: E402


def accuracy(stream: str, seed: int, rank: int, shrinkage: float) -> float:
    """Final accuracy, averaged over the test experiences, of the baseline learned experience by experience."""
    import torch
    from real_audio import load
    from selfrefresh.streams.base import experience_tensors
    from selfrefresh.strategies.pooled_gaussian import PooledGaussianClassifier

    bm, _ = load(stream, seed, "seed")
    train = [experience_tensors(e) for e in bm.train_stream]
    test = [experience_tensors(e) for e in bm.test_stream]
    clf = PooledGaussianClassifier(bm.num_classes, train[0][0].shape[-1], rank=rank, shrinkage=shrinkage)
    for x, y in train:
        clf.accumulate(torch.as_tensor(x), torch.as_tensor(y))
        clf.finish()
    with torch.no_grad():
        return float(np.mean([(clf(torch.as_tensor(x)).argmax(1) == torch.as_tensor(y)).float().mean().item()
                              for x, y in test]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", nargs="+", default=["fsdd", "fsdd-speaker", "japanese-vowels", "speech"])
    p.add_argument("--seeds", nargs="+", type=int, default=[10, 11, 12])
    p.add_argument("--ranks", nargs="+", type=int, default=[0, 8, 16, 32])
    p.add_argument("--shrinkages", nargs="+", type=float, default=[0.02, 0.05, 0.1, 0.3, 0.6])
    p.add_argument("--out", default="benchmarks/results/pooled_gaussian_scan")
    a = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    runs = [{"stream": s, "seed": seed, "rank": r, "shrinkage": sh, "acc": accuracy(s, seed, r, sh)}
            for s in a.streams for seed in a.seeds for r in a.ranks for sh in a.shrinkages]
    lines = ["| stream | rank | " + " | ".join(f"shrinkage {sh:g}" for sh in a.shrinkages) + " |",
             "|---|---|" + "---|" * len(a.shrinkages)]
    for s in a.streams:
        for r in a.ranks:
            cells = [np.mean([x["acc"] for x in runs if (x["stream"], x["rank"], x["shrinkage"]) == (s, r, sh)])
                     for sh in a.shrinkages]
            lines.append(f"| {s} | {r} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    text = "\n".join(lines)
    print(text)
    cmd = _command("benchmarks/pooled_gaussian_scan.py", argv)
    write_results(a.out, header(cmd, m=machine(), extra=f"one process, {time.perf_counter() - t0:.0f} s")
                  + f"\n\n`pooled-gaussian`, final accuracy averaged over the test experiences, mean over seeds "
                    f"{a.seeds} (class order drawn by the seed)\n\n" + text + "\n", {"command": cmd, "runs": runs})
    return runs


if __name__ == "__main__":
    main()
