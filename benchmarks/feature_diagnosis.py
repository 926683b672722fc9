"""Where a class-incremental run loses the old classes: in the features or in the class head?

Trains one strategy on a stream of ``real_audio.py`` (default FSDD, LSTM 128, Adam 1e-3, its minibatch)
and then, on the final network's features (the class head's input) of every class:

* ``acc``: the run's final accuracy (mean over the experiences' test sets);
* ``task_aware``: the final head's accuracy with its argmax restricted to the classes of the test
  sequence's own experience (task-incremental): what is kept within each experience; ``acc`` minus
  this is lost to confusions across experiences;
* ``pooled_gaussian``: the network-free baseline ``pooled-gaussian`` (a Gaussian per class of each
  sequence's time-pooled mean and spread, fitted on the training sequences) on the same test set;
  ``head_x_gaussian``: the product of the two experts, the final head's softmax and the Gaussians'
  posterior (what the network adds to the baseline);
* ``probe``: a linear head trained from scratch on the TRUE training features of all classes
  (500 full-batch Adam steps): how separable the features still are;
* ``ncm``: nearest class mean with the true class means;
* ``cal_*``: the final head calibrated as SelfRefresh does (100 class-balanced Adam steps, lr 1e-2)
  on the current classes' true features plus, for the old classes, ``oracle``: their true
  features; ``truegauss``: 30 samples per class from a diagonal Gaussian with their true mean
  and variance; ``truefull``: from a full-covariance Gaussian (shrunk 0.1 toward its diagonal);
  ``stats``: from the statistics SelfRefresh kept (its moved means, its variances);
  ``statsmean``: SelfRefresh's moved means with the true spread (the true features moved by
  the difference of the means); ``truemean``: SelfRefresh's statistics moved onto the true means;
* ``probe_pooled``: the probe on the features joined with each sequence's time-pooled input
  statistics (mean and spread of each feature, standardised by the first experience's): what a
  class head that also read them could separate; ``cal_stats_fresh`` / ``cal_stats_pooled``: a
  fresh head (300 class-balanced steps) calibrated as ``cal_stats`` on the features alone / on the
  features joined with the pooled statistics, each old class's pooled part drawn from a Gaussian of
  its own training sequences' (statistics a method could have kept since that class's experience,
  as ``pooled-gaussian`` does; drawn independently of the feature part);
* ``stats_err``: relative distance between SelfRefresh's moved class means and the true ones;
* ``probe_last`` / ``probe_mean``: the probe (standardised inputs) on the top layer's output at the
  final step / averaged over the steps, whatever the model's readout: how separable each view is.

    OMP_NUM_THREADS=1 python benchmarks/feature_diagnosis.py --epochs 25 --seeds 0 1 2 \
        --rows naive replay 'selfrefresh={}' 'diag-mean={"drift": "mean", "prototype_rank": 0, "encoder_lr_scale": 1.0}'

Writes ``<out>.md`` (means over seeds) and ``<out>.json`` (every run).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header, machine, write_results  # noqa: E402

METRICS = ("acc", "task_aware", "pooled_gaussian", "head_x_gaussian", "probe", "ncm", "cal_oracle", "cal_truefull", "cal_truegauss", "cal_stats", "cal_statsmean",
           "cal_truemean", "stats_err", "probe_pooled", "cal_stats_fresh", "cal_stats_pooled", "probe_last", "probe_mean")


def _tensors(stream):
    import torch
    xs, ys = [], []
    for e in stream:
        for x, y, *_ in torch.utils.data.DataLoader(e.dataset, batch_size=1024):
            xs.append(x)
            ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def task_aware_accuracy(head, feats, labels, experiences) -> float:
    """Mean over experiences of the accuracy of ``head`` on feats (N, H) with its argmax taken over
    the classes of each sequence's own experience alone (``experiences``: a list of class lists)."""
    import torch
    with torch.no_grad():
        logits = head(feats)
    accs = []
    for classes in experiences:
        rows = torch.isin(labels, torch.tensor(classes))
        if bool(rows.any()):
            pred = torch.tensor(classes)[logits[rows][:, classes].argmax(1)]
            accs.append((pred == labels[rows]).float().mean().item())
    return float(np.mean(accs))


def run_one(kind: str, options: dict, epochs: int, seed: int, stream: str = "fsdd", cell: str = "lstm",
            hidden: int = 128, order: str = "fixed", readout: str = "mean") -> dict:
    import torch
    from torch.nn import functional as F
    torch.set_num_threads(1)
    from real_audio import REPLAY_PER_CLASS, load
    from selfrefresh.runs import build_model, stream_info
    from selfrefresh.runs.loop import accuracy_evaluator, silence_warnings, train_stream
    from selfrefresh.strategies import make_strategy
    from selfrefresh.strategies.pooled_gaussian import PooledGaussianClassifier, pooled_statistics
    from selfrefresh.strategies.self_refresh.calibration import calibrate_head, features_of

    silence_warnings()
    bm, mb = load(stream, seed, order)
    info = stream_info(bm)
    torch.manual_seed(seed)
    np.random.seed(seed)
    model, _ = build_model(info, cell, hidden, readout=readout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if kind == "replay":
        options = {"mem_size": REPLAY_PER_CLASS * info["num_classes"]}
    if kind.startswith("selfrefresh"):
        options = {"seed": seed, **options}
    s = make_strategy(kind, model, opt, options=options, seq_len=info["seq_len"], train_mb_size=mb,
                      train_epochs=epochs, eval_mb_size=512, evaluator=accuracy_evaluator())
    t = time.time()
    accs, _ = train_stream(s, bm)
    wall = time.time() - t
    xtr, ytr = _tensors(bm.train_stream)
    xte, yte = _tensors(bm.test_stream)
    m, C = s.model, info["num_classes"]
    ftr, fte = features_of(m, xtr), features_of(m, xte)

    def accuracy(head):
        with torch.no_grad():
            return (head(fte).argmax(1) == yte).float().mean().item()

    head = torch.nn.Linear(ftr.shape[1], C)
    o = torch.optim.Adam(head.parameters(), 1e-2)
    for _ in range(500):
        o.zero_grad()
        F.cross_entropy(head(ftr), ytr).backward()
        o.step()
    gauss = PooledGaussianClassifier(C, xtr.shape[-1])
    gauss.accumulate(xtr, ytr)
    gauss.finish()
    with torch.no_grad():
        g_scores = gauss(xte).double()
        head_lp = torch.log_softmax(m.classifier(fte).double(), 1)
    res_gauss = {"pooled_gaussian": (g_scores.argmax(1) == yte).float().mean().item(),
                 "head_x_gaussian": ((head_lp + torch.log_softmax(g_scores, 1)).argmax(1) == yte).float().mean().item()}
    means = {c: ftr[ytr == c].mean(0) for c in range(C)}
    cls = sorted(means)
    ncm = (torch.tensor(cls)[torch.cdist(fte, torch.stack([means[c] for c in cls])).argmin(1)] == yte)
    res = {"kind": kind, "options": options, "seed": seed, "epochs": epochs, "acc": float(np.mean(accs)),
           "per_experience": accs, "probe": accuracy(head), "ncm": ncm.float().mean().item(), "wall": wall,
           "task_aware": task_aware_accuracy(m.classifier, fte, yte, [
               sorted(int(c) for c in e.classes_in_this_experience) for e in bm.train_stream]), **res_gauss}

    current = sorted(int(c) for c in bm.train_stream[-1].classes_in_this_experience)
    old = [c for c in range(C) if c not in current]
    is_current = torch.isin(ytr, torch.tensor(current))

    def calibrated(feats, labels):
        h = copy.deepcopy(m.classifier)
        calibrate_head(h, torch.cat([ftr[is_current], feats]), torch.cat([ytr[is_current], labels]), 100, 1e-2)
        return accuracy(h)

    def labels_of(n):
        return torch.cat([torch.full((n,), c) for c in old])

    def diagonal(mean, var, n=30):
        return calibrated(torch.cat([mean[c] + torch.randn(n, len(mean[c])) * var[c].sqrt() for c in old]),
                          labels_of(n))

    def shrunk(f, a=0.1):
        cov = torch.cov(f.T, correction=0)
        return (1 - a) * cov + a * torch.diag(torch.diag(cov)) + 1e-4 * torch.eye(len(cov))

    res["cal_oracle"] = calibrated(ftr[~is_current], ytr[~is_current])
    var = {c: ftr[ytr == c].var(0, unbiased=False) for c in old}
    res["cal_truegauss"] = diagonal(means, var)
    res["cal_truefull"] = calibrated(torch.cat([torch.distributions.MultivariateNormal(
        means[c], shrunk(ftr[ytr == c])).sample((30,)) for c in old]), labels_of(30))
    first = bm.train_stream[0]
    p0 = pooled_statistics(_tensors([first])[0])
    mu0, sd0 = p0.mean(0), p0.std(0).clamp_min(1e-6)
    ptr, pte = (pooled_statistics(xtr) - mu0) / sd0, (pooled_statistics(xte) - mu0) / sd0

    def fresh(train_f, train_y, test_f, steps):
        h = torch.nn.Linear(train_f.shape[1], C)
        calibrate_head(h, train_f, train_y, steps, 1e-2)
        with torch.no_grad():
            return (h(test_f).argmax(1) == yte).float().mean().item()

    res["probe_pooled"] = fresh(torch.cat([ftr, ptr], 1), ytr, torch.cat([fte, pte], 1), 500)
    with torch.no_grad():
        htr, hte = m.rnn(xtr)[0], m.rnn(xte)[0]
    for name, a, b in (("probe_last", htr[:, -1], hte[:, -1]), ("probe_mean", htr.mean(1), hte.mean(1))):
        mu, sd = a.mean(0), a.std(0).clamp_min(1e-6)
        res[name] = fresh((a - mu) / sd, ytr, (b - mu) / sd, 500)
    mem = next((p.method for p in getattr(s, "plugins", []) if hasattr(p, "method")), None)
    if mem is not None and len(mem.prototypes):
        stats = mem.prototypes
        res["cal_stats"] = calibrated(*stats.sample(old, 30, "cpu"))
        kept = [c for c in old if c in stats.stats]
        res["cal_statsmean"] = calibrated(torch.cat([ftr[ytr == c] - means[c] + stats.stats[c][0] for c in kept]),
                                          torch.cat([ytr[ytr == c] for c in kept]))
        f, y = stats.sample(kept, 30, "cpu")
        res["cal_truemean"] = calibrated(f + torch.stack([means[int(c)] - stats.stats[int(c)][0] for c in y]), y)
        fk, yk = stats.sample(kept, 30, "cpu")
        pk = torch.cat([torch.distributions.MultivariateNormal(ptr[ytr == c].mean(0), shrunk(ptr[ytr == c]))
                        .sample((30,)) for c in kept])
        new_f = torch.cat([ftr[is_current], fk])
        new_y = torch.cat([ytr[is_current], yk])
        res["cal_stats_fresh"] = fresh(new_f, new_y, fte, 300)
        res["cal_stats_pooled"] = fresh(torch.cat([new_f, torch.cat([ptr[is_current], pk])], 1), new_y,
                                        torch.cat([fte, pte], 1), 300)
        res["stats_err"] = float(np.mean([(stats.stats[c][0] - means[c]).norm().item() / means[c].norm().item()
                                          for c in stats.stats]))
    return res


def _run(job):
    return run_one(*job)


def table(results, rows) -> str:
    lines = ["| row | seeds | " + " | ".join(METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
    for row in rows:
        rs = [r for r in results if r["row"] == row]
        cells = []
        for k in METRICS:
            v = [r[k] for r in rs if k in r]
            cells.append(f"{np.mean(v):.3f}" if v else "-")
        lines.append(f"| {row} | {len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", nargs="+", default=["naive", "replay", "selfrefresh={}"],
                   help="strategy names, or NAME=JSON for a selfrefresh row with these options")
    p.add_argument("--epochs", type=int, default=25)
    p.add_argument("--stream", default="fsdd", help="a stream of real_audio.py (fsdd, japanese-vowels, speech)")
    p.add_argument("--model", default="lstm:128", help="CELL:HIDDEN")
    p.add_argument("--readout", choices=("mean", "last"), default="mean", help="the models' readout (real_audio.py's)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    from real_audio import CLASS_ORDERS
    p.add_argument("--class-order", choices=CLASS_ORDERS, default="fixed",
                   help="seed: each seed draws its class order (as real_audio.py's default); fixed: 0..C-1 "
                        "(what the diagnosis files before 2026-12-01 used)")
    p.add_argument("--out", default="benchmarks/results/memory_search/diagnosis")
    a = p.parse_args(argv)
    jobs, names = [], []
    cell, hidden = a.model.split(":")
    for spec in a.rows:
        name, sep, opts = spec.partition("=")
        kind, options = ("selfrefresh", json.loads(opts)) if sep else (name, {})
        names.append(name)
        jobs += [(name, (kind, options, a.epochs, seed, a.stream, cell, int(hidden), a.class_order, a.readout))
                 for seed in a.seeds]
    t = time.perf_counter()
    if a.workers > 1:
        import multiprocessing as mp
        with mp.get_context("spawn").Pool(a.workers) as pool:
            outs = pool.map(_run, [j for _, j in jobs])
    else:
        outs = [_run(j) for _, j in jobs]
    results = [{"row": name, **r} for (name, _), r in zip(jobs, outs)]
    text = table(results, names)
    print(text)
    command = _command("benchmarks/feature_diagnosis.py", argv)
    write_results(
        a.out, header(command, m=machine(), extra=f"{a.workers} worker(s) x 1 thread, {time.perf_counter() - t:.0f} s")
        + f"\n\n{a.stream}, {a.model} (readout {a.readout}), {a.epochs} epochs per experience, seeds {a.seeds}, class order {a.class_order}; "
          "columns: see the script's docstring.\n\n" + text + "\n", {"command": command, "results": results})


if __name__ == "__main__":
    main()
