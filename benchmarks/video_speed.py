"""Speed target of issue 4: 5,000 moving-action clips generated with features in under 30 s.

Run: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/video_speed.py [--clips 5000]

Prints the time of the whole stream build (10 motions, 16 frames of 32x32, pixels pooled to 8x8,
Avalanche wrapping included, its import excluded), of the batched generator alone, and of the
lazy per-clip path (one clip rendered and encoded per ``dataset[i]``), each against the 30 s target.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=5000)
    p.add_argument("--target", type=float, default=30.0)
    args = p.parse_args()
    import avalanche.benchmarks.scenarios.supervised  # noqa: F401  (import time is not generation time)
    from selfrefresh.streams.frame_encoders import resolve_frame_encoder
    from selfrefresh.streams.video import MOTIONS, MovingActionsDataset, load_object_images, moving_actions

    per_class = args.clips // 10
    rows = []
    t = time.perf_counter()
    bm = moving_actions(n_classes=10, n_train_per_class=per_class * 4 // 5, n_test_per_class=per_class // 5,
                        n_experiences=5, seed=0)
    rows.append(("moving_actions() stream, in memory", time.perf_counter() - t))
    n = sum(len(e.dataset) for e in bm.train_stream) + sum(len(e.dataset) for e in bm.test_stream)

    imgs = load_object_images()[0]
    ds = MovingActionsDataset(imgs, MOTIONS[:10], per_class, 16, 32, resolve_frame_encoder(None, 32))
    t = time.perf_counter()
    x, _ = ds.materialize()
    rows.append(("MovingActionsDataset.materialize()", time.perf_counter() - t))
    t = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    rows.append(("lazy dataset[i], one clip per call", time.perf_counter() - t))

    print(f"{n} clips of 16 x 32x32 frames -> {tuple(x.shape[1:])} features; image source "
          f"{bm.image_source}; torch threads {torch.get_num_threads()}; {os.cpu_count()} cores")
    print(f"{'path':40s} {'seconds':>8s} {'target':>7s} {'time/target':>12s}")
    for name, sec in rows:
        print(f"{name:40s} {sec:8.2f} {args.target:7.0f} {sec / args.target:12.2f}")


if __name__ == "__main__":
    main()
