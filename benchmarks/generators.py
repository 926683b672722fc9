"""Generator comparison: RecurrentGAN vs AR-RNN vs sequence VAE (vs reverberation) on three data sets.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generators.py            # 2 seeds, GAN 100 epochs (~15 min)
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generators.py --quick    # smoke run

Data: (a) one class with 4 known sequence modes (16 steps), (b) Lorenz trajectories (64 steps,
dt 0.05), (c) JapaneseVowels (9 speakers, 12 LPC features, padded to 26 steps by repeating the
last frame; generators learn the train split, TSTR tests on the test split).
Measures (selfrefresh.metrics): MMD^2 (standardised, flattened), Frechet distance and per-class
coverage/density (k=5) in an embedding (JapaneseVowels: a GRU classifier's penultimate layer;
one-class sets: standardised flattened sequences), discriminative score, TSTR, modes recovered,
Rosenstein Lyapunov exponent (real Lorenz: 0.906). Mean +- std over seeds. Writes
benchmarks/results/generators.md.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selfrefresh.generators import ARGenerativeRNN, SequenceVAE  # noqa: E402
from selfrefresh.generators.gan import RecurrentGAN  # noqa: E402
from selfrefresh.metrics import (discriminative_score, fit_embedding, frechet_distance, lorenz_trajectories,  # noqa: E402
                                 mmd2_rbf, modes_recovered, per_class_coverage_density, rosenstein_lyapunov, tstr)


# ----------------------------------------------------------------------------- data
def mixture(seed=0, n=256):
    t = torch.linspace(0, 1, 16)
    centers = torch.stack([torch.sin(2 * math.pi * f * t + ph)
                           for f, ph in [(1, 0), (1, math.pi), (2, 0), (2, math.pi / 2)]])[:, :, None]
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(4, (n,), generator=g)
    return dict(x=centers[k] + 0.05 * torch.randn(n, 16, 1, generator=g), y=torch.zeros(n, dtype=torch.long),
                centers=centers, radius=1.2)


def lorenz(seed=0, n=256):
    try:
        from selfrefresh.streams.dynamical import lorenz_series
        x = lorenz_series(n, 64, dt=0.05, seed=seed)
    except ImportError:
        x = lorenz_trajectories(n, 64, dt=0.05, seed=seed)
    return dict(x=torch.as_tensor(x, dtype=torch.float32), y=torch.zeros(n, dtype=torch.long), dt=0.05)


def _pad_edge(X, lengths, T):
    X = np.transpose(X, (0, 2, 1))[:, :T]                         # (N, T, F)
    out = np.empty((len(X), T, X.shape[-1]), dtype=np.float32)
    for i, L in enumerate(lengths):
        L = min(int(L), T)
        out[i, :L] = X[i, :L]
        out[i, L:] = X[i, L - 1]
    return torch.from_numpy(out)


def japanese_vowels(seed=0, T=26):
    d = np.load("/work/shared/data/uea/JapaneseVowels.npz")
    classes = sorted(set(d["y_train"]))
    enc = {c: i for i, c in enumerate(classes)}
    return dict(x=_pad_edge(d["X_train"], d["len_train"], T), y=torch.tensor([enc[c] for c in d["y_train"]]),
                x_test=_pad_edge(d["X_test"], d["len_test"], T), y_test=torch.tensor([enc[c] for c in d["y_test"]]))


# ----------------------------------------------------------------------------- generators
def make(name, data, epochs, seed):
    x, y = data["x"], data["y"]
    T, F, C = x.shape[1], x.shape[2], int(y.max()) + 1
    torch.manual_seed(seed)
    if name == "GAN":
        # defaults (per-class MMD term, TTUR 1e-2 / 5e-3, conv critic, ns loss), one 64-unit GRU layer
        gen = RecurrentGAN(T, F, C, hidden_size=64, num_layers=1)
        gen.fit(x, y, epochs=epochs, batch_size=64, eval_every=10, progress=False, seed=seed)
    elif name == "AR-RNN":
        gen = ARGenerativeRNN(T, F, C, hidden_size=64)
        gen.fit(x, y, epochs=max(10, epochs // 2), batch_size=32, eval_every=10, progress=False, seed=seed)
    elif name == "VAE":
        gen = SequenceVAE(T, F, C, hidden_size=64)
        gen.fit(x, y, epochs=max(10, epochs // 2), batch_size=32, eval_every=10, progress=False, seed=seed)
    elif name == "reverberation":
        return reverberation_samples(data, epochs, seed)
    else:
        raise ValueError(name)
    return lambda n, classes: gen.generate(n, classes=classes)


def reverberation_samples(data, epochs, seed):
    """Train an AutoHeteroRNN (class + auto loss) and sample by reverberation; labels = its argmax."""
    from selfrefresh.generators.reverberation import Reverberation
    from selfrefresh.models import AutoHeteroRNN

    x, y = data["x"], data["y"]
    mean, std = x.mean((0, 1)), x.std((0, 1)).clamp_min(1e-6)
    xn = (x - mean) / std
    net = AutoHeteroRNN(x.shape[2], 64, int(y.max()) + 1, cell="gru")
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(max(10, epochs // 2)):
        for idx in torch.randperm(len(y)).split(32):
            out = net.run(xn[idx])
            loss = torch.nn.functional.cross_entropy(out.logits, y[idx]) + (out.recon - out.recon_target).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    rev = Reverberation(net.eval(), reverberations=5, seq_len=x.shape[1]).manual_seed(seed)

    def sample(n, classes):
        pb = rev.sample(n)
        return pb.x.detach() * std + mean, pb.logits.argmax(-1)
    return sample


# ----------------------------------------------------------------------------- measures
def measure(ds, data, sample, seed, quick):
    x, y = data["x"], data["y"]
    n = len(y)
    fx, fy = sample(n, y)
    fx, fy = fx.detach().cpu().float(), fy.detach().cpu().long()
    if not torch.isfinite(fx).all():
        return {"MMD2": float("nan")}
    mean, std = x.mean((0, 1)), x.std((0, 1)).clamp_min(1e-6)
    xs, fs = (x - mean) / std, (fx - mean) / std
    ep = 5 if quick else 20
    if ds == "japanese-vowels":
        embed = fit_embedding(x, y, epochs=ep * 2, seed=seed)
        ex, ef = embed(x), embed(fx)
    else:
        ex, ef = xs.flatten(1), fs.flatten(1)
    cd = per_class_coverage_density(ex, y, ef, fy, k=5)
    out = {"MMD2": mmd2_rbf(xs, fs), "FD": frechet_distance(ex, ef), "coverage": cd["coverage"],
           "density": cd["density"], "disc": discriminative_score(x, fx, epochs=ep, seed=seed)}
    if ds == "japanese-vowels":
        out["TSTR"] = tstr(fx, fy, data["x_test"], data["y_test"], num_classes=9, epochs=ep * 2, seed=seed)
    if ds == "mixture":
        out["modes"] = modes_recovered(fx, data["centers"], data["radius"], min_count=max(2, n // 40))["recovered"]
    if ds == "lorenz":
        out["lyapunov"] = rosenstein_lyapunov(fx, data["dt"], horizon=40, fit=(10, 40))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=100, help="GAN epochs, batch 64 (baselines: half, batch 32)")
    p.add_argument("--datasets", default="mixture,lorenz,japanese-vowels")
    p.add_argument("--generators", default="GAN,AR-RNN,VAE,reverberation")
    p.add_argument("--quick", action="store_true", help="1 seed, 10 epochs")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "generators.md"))
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.epochs = 1, 10
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    loaders = {"mixture": mixture, "lorenz": lorenz, "japanese-vowels": japanese_vowels}
    rows, t0 = [], time.time()
    for ds in a.datasets.split(","):
        data = loaders[ds](0)
        real_row = {}
        if ds == "lorenz":
            real_row["lyapunov"] = rosenstein_lyapunov(data["x"], data["dt"], horizon=40, fit=(10, 40))
        if ds == "japanese-vowels":
            real_row["TSTR"] = tstr(data["x"], data["y"], data["x_test"], data["y_test"], num_classes=9,
                                    epochs=10 if a.quick else 40)
        if real_row:
            rows.append((ds, "real data (reference)", {k: [v] for k, v in real_row.items()}))
        for name in a.generators.split(","):
            per_seed = {}
            for seed in range(a.seeds):
                try:
                    sample = make(name, data, a.epochs, seed)
                    res = measure(ds, data, sample, seed, a.quick)
                except ImportError as e:                     # reverberation not available yet
                    print(f"skip {name}: {e}")
                    break
                for k, v in res.items():
                    per_seed.setdefault(k, []).append(v)
                print(f"[{time.time() - t0:6.0f}s] {ds:16s} {name:14s} seed {seed}: "
                      + ", ".join(f"{k}={v:.3g}" for k, v in res.items()), flush=True)
            if per_seed:
                rows.append((ds, name, per_seed))
    cols = ["MMD2", "FD", "coverage", "density", "disc", "TSTR", "modes", "lyapunov"]
    lines = [f"Generated by `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generators.py "
             f"{' '.join(argv if argv is not None else sys.argv[1:])}` ({a.seeds} seed(s), GAN {a.epochs} epochs, "
             f"{time.time() - t0:.0f} s on CPU). Mean +- std over seeds; MMD2/FD/disc lower is better, "
             "coverage/TSTR/modes higher, density ~1, Lyapunov of real Lorenz 0.906.", "",
             "| data | generator | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 2)]
    for ds, name, res in rows:
        cells = []
        for c in cols:
            v = res.get(c)
            cells.append("" if v is None else (f"{np.mean(v):.3g}" + (f" +- {np.std(v):.2g}" if len(v) > 1 else "")))
        lines.append(f"| {ds} | {name} | " + " | ".join(cells) + " |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
