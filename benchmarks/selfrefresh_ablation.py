"""Ablation of the SelfRefresh strategy's choices (default stream: JapaneseVowels, 3 x 3 classes).

Every variant and baseline runs on the same stream, model (AutoHeteroRNN, GRU 64) and seeds, in one
run, and the table reports mean final accuracy averaged over the experiences' test sets, and each
variant's difference to the default paired by seed (the seed also draws the class order).

    python benchmarks/selfrefresh_ablation.py --seeds 0 1 2 3 4 --epochs 60
    python benchmarks/selfrefresh_ablation.py --stream speech --epochs 25 --lr 2e-3 \
        --out benchmarks/results/selfrefresh_ablation_speech --variants ...

Streams other than JapaneseVowels use their small CPU size (as ``benchmarks/strategies.py``).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

VARIANTS = {
    "naive": ("naive", {}),
    "lwf": ("lwf", {}),
    "ewc": ("ewc", {"ewc_lambda": 1000.0}),
    "replay (90 stored sequences)": ("replay", {"mem_size": 90}),
    "cumulative": ("cumulative", {}),
    "selfrefresh (default)": ("selfrefresh", {}),
    "no steering": ("selfrefresh", {"generator_kwargs": {"steer_steps": 0}}),
    "pseudo ratio 3": ("selfrefresh", {"pseudo_ratio": 3.0}),
    "pseudo ratio 0.5": ("selfrefresh", {"pseudo_ratio": 0.5}),
    "pseudo ratio 0.5, same pool, pseudo losses x2": ("selfrefresh", {"pseudo_ratio": 0.5, "pool_factor": 0.1,
                                                                      "distill_weight": 2.0, "auto_weight": 2.0}),
    "selfrefresh-fast (pseudo ratio 0.5, pseudo losses x2)": ("selfrefresh-fast", {}),
    "pseudo gradient through the last 14 steps": ("selfrefresh", {"pseudo_grad_steps": 14}),
    "NET2's step transitions (pseudo_learning='transitions')": ("selfrefresh", {"pseudo_learning": "transitions"}),
    "fresh pool every epoch": ("selfrefresh", {"regenerate": "epoch", "pool_factor": 1.0}),
    "R = 10": ("selfrefresh", {"generator_kwargs": {"reverberations": 10}}),
    "steer 30 steps": ("selfrefresh", {"generator_kwargs": {"steer_steps": 30}}),
    "steering without the fixed-point penalty": ("selfrefresh", {"generator_kwargs": {"steer_auto_weight": 0.0}}),
    "no auto-associative loss": ("selfrefresh", {"auto_weight": 0.0, "real_auto_weight": 0.0}),
    "temperature 1": ("selfrefresh", {"temperature": 1.0}),
    "R = 0 (steered seeds, no reverberation)": ("selfrefresh", {"generator_kwargs": {"reverberations": 0}}),
    "feature distillation": ("selfrefresh", {"feature_weight": 1.0}),
    "weight aligning": ("selfrefresh", {"align_weights": True}),
    "static generator (Ans et al. 2004 patterns)": ("selfrefresh", {"generator": "static"}),
    "separated real loss": ("selfrefresh", {"real_loss": "current"}),
    "noise generator": ("selfrefresh", {"generator": "noise"}),
    "transfer=pseudo": ("selfrefresh", {"transfer": "pseudo"}),
}


def run(kind: str, kw: dict, seed: int, epochs: int, hidden: int, stream: str = "japanese-vowels",
        lr: float = 1e-3):
    from selfrefresh.runs import build_model, load_stream, stream_info
    from selfrefresh.runs.loop import accuracy_evaluator, train_stream
    from selfrefresh.strategies import make_strategy

    torch.manual_seed(seed)
    np.random.seed(seed)
    bm = load_stream(stream, "small", extra={"seed": seed}, progress=False)
    info = stream_info(bm)
    model, _ = build_model(info, "gru", hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    options = {"seed": seed, **kw} if kind.startswith("selfrefresh") else kw
    s = make_strategy(kind, model, opt, options=options, train_mb_size=32, train_epochs=epochs, eval_mb_size=256,
                      evaluator=accuracy_evaluator())
    accs, seconds = train_stream(s, bm)
    return float(np.mean(accs)), sum(seconds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--stream", default="japanese-vowels")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="NAME")
    p.add_argument("--out", default="benchmarks/results/selfrefresh_ablation")
    a = p.parse_args(argv)
    rows = {}
    for name in a.variants:
        kind, kw = VARIANTS[name]
        r = [run(kind, kw, s, a.epochs, a.hidden, a.stream, a.lr) for s in a.seeds]
        rows[name] = {"acc": [x for x, _ in r], "wall": [w for _, w in r]}
        print(f"{name:32s} {np.mean(rows[name]['acc']):.3f} +- {np.std(rows[name]['acc']):.3f}  "
              f"({np.mean(rows[name]['wall']):.0f} s)", flush=True)
    naive_wall = np.mean(rows["naive"]["wall"]) if "naive" in rows else None
    ref = rows.get("selfrefresh (default)")
    lines = ["| variant | final avg accuracy (mean +- std) | minus default, paired by seed (mean +- s.e.) | wall s "
             "| x naive |", "|---|---|---|---|---|"]
    for name, r in rows.items():
        ratio = f"{np.mean(r['wall']) / naive_wall:.1f}" if naive_wall else "-"
        diff = "-"
        if ref is not None and r is not ref:
            d = np.asarray(r["acc"]) - np.asarray(ref["acc"])
            diff = f"{d.mean():+.3f} +- {d.std(ddof=1) / np.sqrt(len(d)):.3f}" if len(d) > 1 else f"{d.mean():+.3f}"
        lines.append(f"| {name} | {np.mean(r['acc']):.3f} +- {np.std(r['acc']):.3f} | {diff} | "
                     f"{np.mean(r['wall']):.0f} | {ratio} |")
    table = "\n".join(lines)
    print(table)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(
        f"{a.stream}, GRU {a.hidden}, {a.epochs} epochs, Adam {a.lr:g}, seeds {a.seeds}\n\n"
        + table + "\n")
    out.with_suffix(".json").write_text(json.dumps({"args": vars(a), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
