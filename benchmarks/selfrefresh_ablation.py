"""Ablation of the SelfRefresh strategy at today's defaults (default stream: JapaneseVowels, 3 x 3 classes).

Every baseline and variant runs on the same stream, model (AutoHeteroRNN, GRU 64) and seeds, in one
run; the table reports the final accuracy averaged over the experiences' test sets, and each
variant's difference to "selfrefresh (default)" paired by seed (the seed draws the initial weights
and the minibatch order, on the speech stream also the voices; the class order is the stream's own,
0..C-1, for every seed). A variant is the default strategy with one ingredient removed or changed (the options it
names, on top of ``SelfRefreshConfig``'s defaults: docs/memory.md says how they were chosen);
``--variants`` also accepts the rows of earlier ablations (``MORE_VARIANTS``), not run by default.

    OMP_NUM_THREADS=1 python benchmarks/selfrefresh_ablation.py --seeds 0 1 2 3 4 --epochs 25
    OMP_NUM_THREADS=1 python benchmarks/selfrefresh_ablation.py --stream speech --epochs 25 --lr 2e-3 \
        --seeds 0 1 2 --out benchmarks/results/selfrefresh_ablation_speech

``--slow-seeds`` runs the rows of ``SLOW`` (``transfer="pseudo"``, ~20x the default's time) on those
seeds only; their paired difference then uses those seeds. Streams other than JapaneseVowels use
their small CPU size (as ``benchmarks/strategies.py``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _provenance import command as _command, header, machine, write_results  # noqa: E402

REPLAY_PER_CLASS = 20  # stored sequences per class of the replay baseline (mem_size = 20 x classes)

#: name -> (strategy, options on top of its defaults): the baselines, today's default, and the
#: default with one ingredient removed or changed.
VARIANTS = {
    "naive": ("naive", {}),
    "lwf": ("lwf", {}),
    "ewc": ("ewc", {"ewc_lambda": 1000.0}),
    f"replay ({REPLAY_PER_CLASS} stored sequences per class)": ("replay", {"mem_per_class": REPLAY_PER_CLASS}),
    "cumulative": ("cumulative", {}),
    "selfrefresh (default)": ("selfrefresh", {}),
    "selfrefresh-plain (the default until 2026-11)": ("selfrefresh-plain", {}),
    "noise seeds instead of current sequences (seeds='noise')": ("selfrefresh", {"seeds": "noise"}),
    "separated softmax on real data (real_loss='current', the default until 2026-12-03)": (
        "selfrefresh", {"real_loss": "current"}),
    "no feature distillation on real data (real_feature_weight=0)": ("selfrefresh", {"real_feature_weight": 0.0}),
    "no LwF on real data (real_distill_weight=0)": ("selfrefresh", {"real_distill_weight": 0.0}),
    "no head calibration (calibrate_steps=0)": ("selfrefresh", {"calibrate_steps": 0}),
    "no feature distillation on pseudo-sequences (feature_weight=0)": ("selfrefresh", {"feature_weight": 0.0}),
    "no head warm-up before each experience (warmup_steps=0)": ("selfrefresh", {"warmup_steps": 0}),
    "statistics moved by the pool's per-class drift (drift='pseudo')": ("selfrefresh", {"drift": "pseudo"}),
    "no inversion of the old classes' statistics (invert_steps=0)": ("selfrefresh", {"invert_steps": 0}),
    "inversion of the whole sequence (invert_tail=1)": ("selfrefresh", {"invert_tail": 1.0}),
    "calibration of 100 steps, new classes from real features only (the default until 2026-12-02)": (
        "selfrefresh", {"calibrate_steps": 100, "calibrate_new_on": "real"}),
    "pseudo loss through the whole sequence (pseudo_grad_tail=1, the default until 2026-12-03)": (
        "selfrefresh", {"pseudo_grad_tail": 1.0}),
    "calibration on pseudo-sequences only (calibrate_on='pseudo')": ("selfrefresh", {"calibrate_on": "pseudo"}),
    "calibration on feature statistics only (calibrate_on='prototypes')": ("selfrefresh",
                                                                            {"calibrate_on": "prototypes"}),
    "diagonal statistics moved by the mean drift (drift='mean', prototype_rank=0)": (
        "selfrefresh", {"drift": "mean", "prototype_rank": 0}),
    "no steering (steer=False)": ("selfrefresh", {"steer": False}),
    "R = 0 (steered seeds, no reverberation)": ("selfrefresh", {"generator_kwargs": {"reverberations": 0}}),
    "no auto-associative loss": ("selfrefresh", {"auto_weight": 0.0, "real_auto_weight": 0.0}),
    "one pseudo-sequence per real one, pseudo losses at weight 1 (the default until 2026-12-03)": (
        "selfrefresh", {"pseudo_ratio": 1.0, "distill_weight": 1.0, "auto_weight": 1.0, "feature_weight": 1.0}),
    "pseudo losses at weight 1 (half the pull)": ("selfrefresh", {"distill_weight": 1.0, "auto_weight": 1.0,
                                                                  "feature_weight": 1.0}),
    "static generator (Ans et al. 2004 patterns)": ("selfrefresh", {"generator": "static"}),
    "noise generator": ("selfrefresh", {"generator": "noise"}),
    "slow encoder (encoder_lr_scale=0.3)": ("selfrefresh", {"encoder_lr_scale": 0.3}),
    "NET2 learns NET1's pseudo-patterns (transfer='pseudo', the papers' mechanism)": ("selfrefresh",
                                                                                       {"transfer": "pseudo"}),
}
#: rows of earlier ablations (docs/ablations.md, "Earlier measurements"), accepted by --variants.
MORE_VARIANTS = {
    "pseudo ratio 3": ("selfrefresh", {"pseudo_ratio": 3.0}),
    "the same pool as one pseudo-sequence per real one (pool_factor 0.1)": ("selfrefresh", {"pool_factor": 0.1}),
    "pseudo gradient through the last 14 steps": ("selfrefresh", {"pseudo_grad_steps": 14}),
    "NET2's step transitions (pseudo_learning='transitions')": ("selfrefresh", {"pseudo_learning": "transitions"}),
    "fresh pool every epoch": ("selfrefresh", {"regenerate": "epoch", "pool_factor": 1.0}),
    "R = 10": ("selfrefresh", {"generator_kwargs": {"reverberations": 10}}),
    "steer 30 steps": ("selfrefresh", {"generator_kwargs": {"steer_steps": 30}}),
    "steering without the fixed-point penalty": ("selfrefresh", {"generator_kwargs": {"steer_auto_weight": 0.0}}),
    "temperature 1": ("selfrefresh", {"temperature": 1.0}),
    "weight aligning": ("selfrefresh", {"align_weights": True}),
}
ALL_VARIANTS = {**VARIANTS, **MORE_VARIANTS}
#: rows slow enough to run on --slow-seeds only when given.
SLOW = ("NET2 learns NET1's pseudo-patterns (transfer='pseudo', the papers' mechanism)",)


def run(kind: str, kw: dict, seed: int, epochs: int, hidden: int, stream: str = "japanese-vowels",
        lr: float = 1e-3):
    """Train one strategy on the stream; (final accuracy averaged over the test experiences, train seconds)."""
    from selfrefresh.runs import build_model, load_stream, stream_info
    from selfrefresh.runs.loop import accuracy_evaluator, train_stream
    from selfrefresh.strategies import make_strategy

    torch.manual_seed(seed)
    np.random.seed(seed)
    bm = load_stream(stream, "small", extra={"seed": seed}, progress=False)
    info = stream_info(bm)
    model, _ = build_model(info, "gru", hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    kw = dict(kw)
    if "mem_per_class" in kw:
        kw["mem_size"] = kw.pop("mem_per_class") * info["num_classes"]
    options = {"seed": seed, **kw} if kind.startswith("selfrefresh") else kw
    s = make_strategy(kind, model, opt, options=options, train_mb_size=32, train_epochs=epochs, eval_mb_size=256,
                      evaluator=accuracy_evaluator())
    accs, seconds = train_stream(s, bm)
    return float(np.mean(accs)), sum(seconds)


def table(rows: dict, all_seeds) -> str:
    """The markdown table; differences to the default are paired over the seeds both rows ran."""
    naive_wall = np.mean(rows["naive"]["wall"]) if "naive" in rows else None
    ref = rows.get("selfrefresh (default)")
    lines = ["| variant | final avg accuracy (mean +- std) | minus default, paired by seed (mean +- s.e.) | wall s "
             "| x naive |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        ratio = f"{np.mean(r['wall']) / naive_wall:.1f}" if naive_wall else "-"
        diff = "-"
        if ref is not None and r is not ref:
            seeds = [s for s in r["seeds"] if s in ref["seeds"]]
            d = np.asarray([r["acc"][r["seeds"].index(s)] - ref["acc"][ref["seeds"].index(s)] for s in seeds])
            diff = f"{d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(len(d)):.3f}" if len(d) > 1 else f"{d.mean():+.3f}"
        label = name if list(r["seeds"]) == list(all_seeds) else f"{name} [seeds {' '.join(map(str, r['seeds']))}]"
        lines.append(f"| {label} | {np.mean(r['acc']):.3f} +- {np.std(r['acc']):.3f} | {diff} | "
                     f"{np.mean(r['wall']):.0f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--slow-seeds", type=int, nargs="+", default=None,
                   help="seeds of the SLOW rows (default: --seeds)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--stream", default="japanese-vowels")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(ALL_VARIANTS), metavar="NAME")
    p.add_argument("--out", default="benchmarks/results/selfrefresh_ablation")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    rows = {}
    for name in a.variants:
        kind, kw = ALL_VARIANTS[name]
        seeds = a.slow_seeds if (name in SLOW and a.slow_seeds is not None) else a.seeds
        r = [run(kind, kw, s, a.epochs, a.hidden, a.stream, a.lr) for s in seeds]
        rows[name] = {"seeds": list(seeds), "acc": [x for x, _ in r], "wall": [w for _, w in r]}
        print(f"{name:32s} {np.mean(rows[name]['acc']):.3f} +- {np.std(rows[name]['acc']):.3f}  "
              f"({np.mean(rows[name]['wall']):.0f} s)", flush=True)
    text = table(rows, a.seeds)
    print(text)
    threads = os.environ.get("OMP_NUM_THREADS")
    cmd = _command("benchmarks/selfrefresh_ablation.py", argv, prefix=f"OMP_NUM_THREADS={threads}" if threads else "")
    m = machine()
    write_results(a.out, f"{a.stream}, GRU {a.hidden}, {a.epochs} epochs, Adam {a.lr:g}, seeds {a.seeds}\n\n"
                  + header(cmd, m=m, extra=f"one process, {time.perf_counter() - t0:.0f} s in all") + "\n" + text + "\n",
                  {"command": cmd, "machine": m, "args": vars(a), "rows": rows})


if __name__ == "__main__":
    main()
