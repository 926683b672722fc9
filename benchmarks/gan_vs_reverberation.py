"""SelfRefresh with a recurrent GAN generator vs with reverberation vs Avalanche's GenerativeReplay.

JapaneseVowels, class-incremental (3 experiences x 3 classes), same model (AutoHeteroRNN, GRU 64),
same seeds, one run; classifier settings as ``benchmarks/selfrefresh_ablation.py`` (60 epochs per
experience, batch 32, Adam 1e-3) so the numbers are comparable.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gan_vs_reverberation.py            # seeds 0 1 2
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gan_vs_reverberation.py --quick    # smoke run

Rows: ``selfrefresh-gan`` (the registered preset of that name on top of the strategy's defaults:
RecurrentGAN defaults, retrained after each experience on the new data plus its own replay for the
preset's update epochs, or ``--gan-epochs``), ``selfrefresh`` (reverberation, the strategy's
defaults), ``generative-replay`` (Avalanche ``GenerativeReplay`` with the sequence VAE of
:func:`selfrefresh.strategies.generative_replay.avalanche_generative_replay`), ``naive``.
Reported: mean final accuracy over the experiences' test sets (mean +- std over seeds), average
forgetting (best earlier accuracy on an experience minus its final one, over all but the last
experience), training wall time. Writes ``benchmarks/results/gan_vs_reverberation.md`` (headed by
the command, commit, date and machine) and ``.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _provenance import command as _command, header, machine  # noqa: E402

STRATEGIES = ("selfrefresh-gan", "selfrefresh", "generative-replay", "naive")


def _preset_gan_epochs() -> int:
    """The GAN's update epochs in the ``selfrefresh-gan`` preset (the default of ``--gan-epochs``)."""
    from selfrefresh.strategies.self_refresh.config import PRESETS
    return int((PRESETS["selfrefresh-gan"].get("generator_kwargs") or {})["update_epochs"])


def run(name: str, seed: int, epochs: int, hidden: int, gan_epochs: int):
    from selfrefresh.runs import build_model, load_stream, stream_info
    from selfrefresh.runs.loop import accuracy_evaluator, train_stream
    from selfrefresh.strategies.registry import make_strategy
    from selfrefresh.strategies.self_refresh.config import PRESETS

    torch.manual_seed(seed)
    np.random.seed(seed)
    bm = load_stream("japanese-vowels", extra={"seed": seed}, progress=False)
    info = stream_info(bm)
    model, _ = build_model(info, "gru", hidden)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    options = {}
    if name in ("selfrefresh-gan", "selfrefresh"):
        # the registered preset / the strategy's defaults (today's), only the seed added
        options = {"seed": seed}
    if name == "selfrefresh-gan" and gan_epochs != _preset_gan_epochs():
        gkw = dict(PRESETS["selfrefresh-gan"].get("generator_kwargs") or {})
        options["generator_kwargs"] = {**gkw, "update_epochs": gan_epochs}
    s = make_strategy(name, model, opt, options=options, seq_len=info["seq_len"], train_mb_size=32,
                      train_epochs=epochs, eval_mb_size=256, evaluator=accuracy_evaluator())
    rows, seconds = train_stream(s, bm, eval_each=True)
    matrix = np.asarray(rows)                  # matrix[i, j]: accuracy on test exp j after training exp i
    final = matrix[-1]
    # forgetting of experience j: its best accuracy once learned (rows j .. T-2) minus its final one
    forgetting = [matrix[j:-1, j].max() - final[j] for j in range(len(final) - 1)]
    diverged = getattr(getattr(s, "generator", None), "diverged", None) if name == "selfrefresh-gan" else None
    return {"acc": float(np.mean(final)), "forgetting": float(np.mean(forgetting)), "wall": sum(seconds),
            "matrix": matrix.tolist(), "diverged": diverged}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=60, help="classifier epochs per experience")
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--gan-epochs", type=int, default=None,
                   help="GAN epochs after each experience (batch 64; default: the selfrefresh-gan preset's)")
    p.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    p.add_argument("--quick", action="store_true", help="1 seed, 10 epochs, GAN 5 epochs (fewer epochs make a pseudo-pattern pool smaller than one minibatch needs)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gan_vs_reverberation"))
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.epochs, a.gan_epochs = [0], 10, 5
    if a.gan_epochs is None:
        a.gan_epochs = _preset_gan_epochs()
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "1"))))
    m = machine()                              # the commit the run starts from
    rows, t0 = {}, time.time()
    for name in a.strategies:
        runs = []
        for seed in a.seeds:
            r = run(name, seed, a.epochs, a.hidden, a.gan_epochs)
            runs.append(r)
            print(f"[{time.time() - t0:6.0f}s] {name:18s} seed {seed}: acc {r['acc']:.3f} "
                  f"forgetting {r['forgetting']:.3f} ({r['wall']:.0f} s)"
                  + (f" DIVERGED: {r['diverged']}" if r["diverged"] else ""), flush=True)
        rows[name] = runs
    naive = np.mean([r["wall"] for r in rows["naive"]]) if "naive" in rows else None
    threads = torch.get_num_threads()
    cmd = _command("benchmarks/gan_vs_reverberation.py", argv, prefix=f"OMP_NUM_THREADS={threads}")
    lines = ["# SelfRefresh with the GAN vs reverberation vs GenerativeReplay", "",
             header(cmd, m=m, extra=f"{threads} torch thread(s)").rstrip("\n"), "",
             f"JapaneseVowels, 3 experiences x 3 classes, AutoHeteroRNN GRU {a.hidden}, {a.epochs} epochs per "
             f"experience, batch 32, Adam 1e-3, seeds {a.seeds}; GAN retrained {a.gan_epochs} epochs after each "
             f"experience ({time.time() - t0:.0f} s in all).", "",
             "| strategy | final avg accuracy | avg forgetting | wall s | x naive |", "|---|---|---|---|---|"]
    for name, runs in rows.items():
        acc, fg, w = ([r[k] for r in runs] for k in ("acc", "forgetting", "wall"))
        ratio = f"{np.mean(w) / naive:.1f}" if naive else "-"
        lines.append(f"| {name} | {np.mean(acc):.3f} +- {np.std(acc):.3f} | {np.mean(fg):.3f} +- {np.std(fg):.3f} | "
                     f"{np.mean(w):.0f} | {ratio} |")
    table = "\n".join(lines)
    print(table)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(table + "\n")
    out.with_suffix(".json").write_text(json.dumps({"args": vars(a), "machine": m, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
