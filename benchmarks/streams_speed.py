"""Speed check of the audio and UEA streams against the issue's target.

Target: the default synthetic speech stream (10 words, 40 voices x 3 speeds = 1200 clips) built with
features in under 60 s on 2 cores. "uncached" synthesises into a fresh temporary cache; "cached"
builds again from that cache. Avalanche's import is timed apart (a one-off cost of any stream).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/streams_speed.py [--threads 2] [--probe]

``--probe`` adds a learnability sanity check per stream: a logistic regression on time-pooled
features (mean and std over T), trained jointly on all training data, scored on the test data.
"""
from __future__ import annotations

import argparse
import tempfile
import time


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def probe(bench) -> float:
    """Test accuracy of a joint logistic regression on (mean, std) over time of each sequence."""
    import torch
    from sklearn.linear_model import LogisticRegression
    from selfrefresh.streams.base import experience_tensors

    def pooled(stream):
        pairs = [experience_tensors(e) for e in stream]
        x = torch.cat([p[0] for p in pairs])
        return torch.cat([x.mean(1), x.std(1)], 1).numpy(), torch.cat([p[1] for p in pairs]).numpy()
    return LogisticRegression(max_iter=3000).fit(*pooled(bench.train_stream)).score(*pooled(bench.test_stream))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--probe", action="store_true", help="also print a linear-probe test accuracy")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)

    _, t_import = timed(lambda: __import__("avalanche.benchmarks.scenarios.supervised"))
    from selfrefresh.streams import basic_motions, fsdd, japanese_vowels, synthetic_speech_commands

    rows = [("import avalanche", t_import, None, "")]
    probes = []
    with tempfile.TemporaryDirectory() as cache:
        bench, t = timed(lambda: synthetic_speech_commands(cache_dir=cache, progress=False))
        n = sum(len(e.dataset) for e in bench.train_stream) + sum(len(e.dataset) for e in bench.test_stream)
        shape = f"{n} clips, (T, F) = ({bench.seq_len}, {bench.input_size})"
        rows.append(("speech, default, uncached", t, 60.0, shape))
        _, t = timed(lambda: synthetic_speech_commands(cache_dir=cache, progress=False))
        rows.append(("speech, default, cached", t, 60.0, shape))
        if args.probe:
            probes.append(("speech (held-out voices)", probe(bench), bench.num_classes))
        aug, t = timed(lambda: synthetic_speech_commands(cache_dir=cache, progress=False, augment=True))
        rows.append(("speech, default, cached, augment", t, 60.0, shape))
        if args.probe:
            probes.append(("speech, augment (held-out voices)", probe(aug), aug.num_classes))
    for name, fn in (("fsdd (600 wavs)", fsdd), ("japanese_vowels", japanese_vowels),
                     ("basic_motions", basic_motions)):
        try:
            bench, t = timed(fn)
        except FileNotFoundError as e:
            print(f"skipped {name}: {e}")
            continue
        rows.append((name, t, None, f"(T, F) = ({bench.seq_len}, {bench.input_size})"))
        if args.probe:
            probes.append((name, probe(bench), bench.num_classes))

    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'stream':36s} {'seconds':>8s} {'target':>7s} {'time/target':>11s}  shape")
    for name, t, target, shape in rows:
        ratio = f"{t / target:11.3f}" if target else f"{'':11s}"
        tgt = f"{target:7.0f}" if target else f"{'':7s}"
        print(f"{name:36s} {t:8.2f} {tgt} {ratio}  {shape}")
    if probes:
        print(f"\n{'stream':36s} {'probe acc':>9s} {'chance':>7s}")
        for name, acc, c in probes:
            print(f"{name:36s} {acc:9.3f} {1 / c:7.3f}")


if __name__ == "__main__":
    main()
