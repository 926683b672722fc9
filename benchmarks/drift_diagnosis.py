"""How well SelfRefresh follows where the old classes' features go: its drift estimates against the truth.

After each experience SelfRefresh moves every old class's feature statistics (kept in NET2's
feature space) by the drift NET1's features show against NET2's, measured on sequences it has:
the experience's real ones, NET2's steered pseudo-sequences, sequences inverted from the
statistics. This script trains one SelfRefresh row on a stream of ``real_audio.py`` and, at the
end of every experience after the first, just before the statistics move, compares each
estimator with the truth, which it can compute because it reads the old classes' real training
sequences x_c (the method never does):

* ``true``: mean NET1(x_c) - mean NET2(x_c) (features: the class head's input);
* ``carried``: |kept mean - mean NET2(x_c)| / |mean NET2(x_c)|, the error the statistics carry
  from earlier experiences;
* estimators (columns ``err_<name>``: |estimate - true| / |true|, averaged over classes and
  experiences; ``cos_<name>``, ``ratio_<name>``: cosine and norm ratio of the estimate to the
  true drift; ``moved_<name>``: |kept mean + estimate - mean NET1(x_c)| / |mean NET1(x_c)|):
  ``pseudo`` (the default ``drift="pseudo"``: per class over the pool's pseudo-sequences and the
  inverted sequences, each labelled), ``pool``: the pseudo-sequences alone, ``inverted``: the
  inverted sequences alone, ``mean``: the mean drift of the current real sequences
  (``drift="mean"``), ``sdc``: every sequence weighted by a Gaussian kernel of its NET2 feature's
  distance to the class mean (Yu et al. 2020), ``linear``: an affine map NET2 -> NET1 features
  fitted on every sequence (``drift="linear"``), ``blend``: the mean of ``inverted``,
  ``sdc`` and ``linear``, ``zero``: no move, and ``invauto<w>``: sequences
  inverted again with NET2's auto-associative reconstruction error (weight w) added to the
  inversion's loss, so that they stay where NET2 reconstructs its inputs (reverberation's fixed
  points), then ``inverted`` on them; ``invagain``: the default inversion again from fresh seeds,
  ``extra<k>``: its estimate extrapolated away from its seeds' own drift (seed drift + k x
  (inverted drift - seed drift)), ``invnoise``: inverted from noise with the current sequences'
  per-feature mean and deviation instead of real sequences.

The run itself is not changed (the extra computations restore torch's RNG state).

    OMP_NUM_THREADS=1 python benchmarks/drift_diagnosis.py --stream speech --model gru:64 --epochs 25 --seeds 0 1 2

Writes ``<out>.md`` (means over seeds) and ``<out>.json`` (every experience of every run).
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header, machine, write_results  # noqa: E402

ESTIMATORS = ("pseudo", "pool", "inverted", "mean", "sdc", "linear", "blend", "zero", "invauto1", "invauto10",
              "invagain", "extra1.5", "extra2", "invnoise")


def _invert_auto(network, seeds, targets, steps, lr, tail, weight):
    """invert_features with NET2's auto-associative reconstruction error added to the loss."""
    import torch
    from torch.nn import functional as F
    from selfrefresh.nn import frozen
    cut = seeds.shape[1] - tail
    x = seeds[:, cut:].detach().clone().requires_grad_(True)
    with frozen(network):
        with torch.no_grad():
            _, state = network.rnn(seeds[:, :cut]) if cut else (None, None)
        opt = torch.optim.Adam([x], lr=lr)
        with torch.enable_grad():
            for _ in range(steps):
                opt.zero_grad()
                out = network.run(x, state=state, with_context=False)
                loss = F.mse_loss(out.features[:, -1], targets) + weight * F.mse_loss(out.recon, out.recon_target)
                loss.backward()
                opt.step()
    return torch.cat([seeds[:, :cut], x.detach()], dim=1)


def _estimates(mem, model, real_x, xtr, ytr):
    """Every estimator's drift per old class, and the truth, at the end of one experience."""
    import torch
    from selfrefresh.strategies.self_refresh.calibration import features_of, teacher_labels
    net2, cfg = mem.storage, mem.config
    old = [c for c in torch.nonzero(mem.known).flatten().tolist() if c in mem.prototypes.stats]
    pool = mem.pool.batch
    labels = teacher_labels(pool.logits, mem.known)
    n_inv = cfg.invert_per_class * len(old) if cfg.invert_steps else 0
    n_pool = len(pool.x) - n_inv
    f1_pool, f2_pool = features_of(model, pool.x), features_of(net2, pool.x)
    f1_real, f2_real = features_of(model, real_x), features_of(net2, real_x)
    drift, real_drift = f1_pool - f2_pool, f1_real - f2_real
    z_all = torch.cat([f2_real, f2_pool])
    d_all = torch.cat([real_drift, drift])

    def per_class(d, lab, c):
        rows = d[lab == c]
        return rows.mean(0) if len(rows) else d.mean(0)

    est = {name: {} for name in ESTIMATORS}
    # the inversion again (auto-associative term of weight 1 or 10, none, or from noise seeds)
    auto = {}
    tail = max(1, math.ceil(cfg.invert_tail * real_x.shape[1]))
    mu, sd = real_x.mean((0, 1)), real_x.std((0, 1))
    for w in (1.0, 10.0, 0.0, "noise"):
        targets, lab = mem.prototypes.sample(old, cfg.invert_per_class, real_x.device)
        seeds = real_x[torch.randint(len(real_x), (len(lab),))]
        if w == "noise":
            seeds = mu + sd * torch.randn(len(lab), *real_x.shape[1:])
        x = _invert_auto(net2, seeds, targets, cfg.invert_steps or 20, cfg.invert_lr,
                         real_x.shape[1] if w == "noise" else tail, 0.0 if w == "noise" else w)
        auto[w] = (features_of(model, x) - features_of(net2, x), lab,
                   features_of(model, seeds) - features_of(net2, seeds))
    lin = copy.deepcopy(mem.prototypes)
    lin.move_linear(z_all, torch.cat([f1_real, f1_pool]))
    for c in old:
        mean, var, basis = mem.prototypes.stats[c]
        est["linear"][c] = lin.stats[c][0] - mean
        spread = (var.sum() + (basis * basis).sum()).clamp_min(1e-8)
        w = torch.exp(-((z_all - mean) ** 2).sum(1) / (2 * spread))
        est["pseudo"][c] = per_class(drift, labels, c)
        est["pool"][c] = per_class(drift[:n_pool], labels[:n_pool], c) if n_pool else drift.mean(0)
        est["inverted"][c] = per_class(drift[n_pool:], labels[n_pool:], c) if n_inv else drift.mean(0)
        est["mean"][c] = real_drift.mean(0)
        est["sdc"][c] = (w[:, None] * d_all).sum(0) / w.sum().clamp_min(1e-12)
        est["zero"][c] = torch.zeros_like(mean)
        est["invauto1"][c] = per_class(*auto[1.0][:2], c)
        est["invauto10"][c] = per_class(*auto[10.0][:2], c)
        est["invagain"][c] = per_class(*auto[0.0][:2], c)
        d_inv, lab, d_seed = auto[0.0]
        for k in (1.5, 2):
            est[f"extra{k}"][c] = per_class(d_seed + k * (d_inv - d_seed), lab, c)
        est["invnoise"][c] = per_class(*auto["noise"][:2], c)
        est["blend"][c] = (est["inverted"][c] + est["sdc"][c] + est["linear"][c]) / 3
    rows = []
    for c in old:
        xc = xtr[ytr == c]
        f2, f1 = features_of(net2, xc).mean(0), features_of(model, xc).mean(0)
        true = f1 - f2
        kept = mem.prototypes.stats[c][0]
        row = {"class": c, "true_norm": true.norm().item(), "carried": ((kept - f2).norm() / f2.norm()).item()}
        for name in ESTIMATORS:
            e = est[name][c]
            row[f"err_{name}"] = ((e - true).norm() / true.norm().clamp_min(1e-12)).item()
            row[f"moved_{name}"] = ((kept + e - f1).norm() / f1.norm()).item()
            row[f"cos_{name}"] = torch.nn.functional.cosine_similarity(e, true, dim=0).item()
            row[f"ratio_{name}"] = (e.norm() / true.norm().clamp_min(1e-12)).item()
        rows.append(row)
    return rows


def run_one(options: dict, epochs: int, seed: int, stream: str, cell: str, hidden: int) -> dict:
    import torch
    torch.set_num_threads(1)
    from feature_diagnosis import _tensors
    from real_audio import load
    from selfrefresh.runs import build_model, stream_info
    from selfrefresh.runs.loop import accuracy_evaluator, silence_warnings, train_stream
    from selfrefresh.strategies import make_strategy
    from selfrefresh.strategies.self_refresh.method import DualMemory

    silence_warnings()
    bm, mb = load(stream, seed)
    info = stream_info(bm)
    xtr, ytr = _tensors(bm.train_stream)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model, _ = build_model(info, cell, hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    records = []
    original = DualMemory._move_prototypes

    def hooked(self, model, real_x, real_feats=None, pool_feats=None):
        if self.pool.batch is not None and not self.pool.batch.static:
            state = torch.get_rng_state()
            try:
                records.append(_estimates(self, model, real_x, xtr.to(real_x.device), ytr.to(real_x.device)))
            finally:
                torch.set_rng_state(state)
        return original(self, model, real_x, real_feats, pool_feats)

    DualMemory._move_prototypes = hooked
    try:
        s = make_strategy("selfrefresh", model, opt, options={"seed": seed, **options}, seq_len=info["seq_len"],
                          train_mb_size=mb, train_epochs=epochs, eval_mb_size=512, evaluator=accuracy_evaluator())
        accs, _ = train_stream(s, bm)
    finally:
        DualMemory._move_prototypes = original
    return {"seed": seed, "epochs": epochs, "options": options, "acc": float(np.mean(accs)),
            "per_experience": accs, "experiences": records}


def _run(job):
    return run_one(*job)


def table(results) -> str:
    cols = (["carried"] + [f"err_{n}" for n in ESTIMATORS] + [f"moved_{n}" for n in ESTIMATORS]
            + [f"cos_{n}" for n in ESTIMATORS] + [f"ratio_{n}" for n in ESTIMATORS])
    lines = []
    for exp in range(max(len(r["experiences"]) for r in results)):
        rows = [row for r in results if exp < len(r["experiences"]) for row in r["experiences"][exp]]
        lines.append(f"| {exp + 2} | {len(rows)} | " + " | ".join(f"{np.mean([x[k] for x in rows]):.3f}"
                                                          for k in cols) + " |")
    rows = [row for r in results for e in r["experiences"] for row in e]
    lines.append("| all | " + str(len(rows)) + " | " + " | ".join(f"{np.mean([x[k] for x in rows]):.3f}"
                                                              for k in cols) + " |")
    head = "| end of experience | class rows | " + " | ".join(cols) + " |\n|---|---|" + "---|" * len(cols)
    return head + "\n" + "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--options", default="{}", help="SelfRefresh options (JSON)")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--stream", default="fsdd")
    p.add_argument("--model", default="lstm:128", help="CELL:HIDDEN")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/memory_search/drift_diagnosis")
    a = p.parse_args(argv)
    cell, hidden = a.model.split(":")
    jobs = [(json.loads(a.options), a.epochs, seed, a.stream, cell, int(hidden)) for seed in a.seeds]
    t = time.perf_counter()
    if a.workers > 1:
        import multiprocessing as mp
        with mp.get_context("spawn").Pool(a.workers) as pool:
            results = pool.map(_run, jobs)
    else:
        results = [_run(j) for j in jobs]
    text = table(results)
    accs = ", ".join(f"{r['acc']:.3f}" for r in results)
    print(text)
    print("accuracies:", accs)
    command = _command("benchmarks/drift_diagnosis.py", argv)
    write_results(
        a.out, header(command, m=machine(), extra=f"{a.workers} worker(s) x 1 thread, {time.perf_counter() - t:.0f} s")
        + f"\n\n{a.stream}, {a.model}, {a.epochs} epochs per experience, seeds {a.seeds} (final accuracies {accs}); "
          "columns: see the script's docstring.\n\n" + text + "\n", {"command": command, "results": results})


if __name__ == "__main__":
    main()
