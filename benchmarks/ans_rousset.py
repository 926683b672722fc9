"""Replicate Ans & Rousset's experiments: set A then set B, single vs dual vs interleaved.

1. Static (2000): random binary associations on a feed-forward auto-hetero network.
2. Sequences (2004): Elman SRNs learning next-item prediction on sequences of binary items.

Prints a markdown table (mean +- std over seeds) and writes it to
``benchmarks/results/ans_rousset.md``. Percent of set A (items or whole sequences) still
recalled exactly (every output within 0.5 of its target) after learning set B; savings =
100 * (epochs to learn A - epochs to relearn A after B) / epochs to learn A.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ans_rousset.py            # 5 seeds, ~5 min on 1 shared core
    .venv/bin/python benchmarks/ans_rousset.py --quick --out /tmp/ar.md      # smoke test, seconds
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from selfrefresh.replication import (SequenceConfig, StaticConfig, config_dict,  # noqa: E402
                                     sequence_experiment, static_experiment)

STATIC_ROWS = [("single", "single network"),
               ("dual", "dual network (reverberated pseudo-patterns, R = {R})"),
               ("dual_r0", "dual network, R = 0 (Robins' pseudo-rehearsal)"),
               ("interleaved", "interleaved (A and B together)")]
SEQ_ROWS = [("single", "single SRN"),
            ("dual", "dual SRN (static pseudo-patterns)"),
            ("dual_hidden", "dual SRN + hidden-state (next-context) targets"),
            ("interleaved", "interleaved (A and B together)")]


def quick_configs():
    s = replace(StaticConfig(), n_a=10, n_b=10, transfer_steps=300, max_epochs=1500)
    q = replace(SequenceConfig(), n_a=3, n_b=3, min_epochs=300, max_epochs=1000, transfer_steps=300,
                transfer_pool=4000)
    return s, q


def override(cfg, pairs, ap):
    """A copy of a config dataclass with KEY=VALUE fields replaced (values cast to the field's type)."""
    kw = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not hasattr(cfg, key):
            ap.error(f"bad override {pair!r}: expected KEY=VALUE with KEY one of {sorted(config_dict(cfg))}")
        kw[key] = type(getattr(cfg, key))(value)
    return replace(cfg, **kw)


def fmt(values):
    m = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{m:.0f} ± {sd:.0f}"


def table(title, rows, results, unit):
    lines = [f"**{title}**", "",
             f"| protocol | % of A {unit} recalled after B | % of B recalled | savings on A (%) |",
             "|---|---|---|---|"]
    for key, label in rows:
        rs = [r[key] for r in results]
        lines.append(f"| {label} | {fmt([r['recall_a'] for r in rs])} | {fmt([r['recall_b'] for r in rs])} "
                     f"| {fmt([r['savings'] for r in rs])} |")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5, help="number of seeds (0..N-1)")
    ap.add_argument("--quick", action="store_true", help="small sets and short training (smoke test)")
    ap.add_argument("--only", choices=["static", "sequences"], default=None, help="run one experiment")
    ap.add_argument("--static", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override StaticConfig fields, e.g. --static reverberations=0")
    ap.add_argument("--seq", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override SequenceConfig fields, e.g. --seq reverberations=20 pseudo_weight=1")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "ans_rousset.md"),
                    help="markdown file to write ('' for none)")
    args = ap.parse_args(argv)
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    scfg, qcfg = quick_configs() if args.quick else (StaticConfig(), SequenceConfig())
    scfg, qcfg = override(scfg, args.static, ap), override(qcfg, args.seq, ap)
    seeds = list(range(args.seeds))
    out = [f"Ans & Rousset replication, {len(seeds)} seeds (mean ± std over seeds)"
           + (" -- QUICK settings" if args.quick else ""), ""]
    t0 = time.time()
    if args.only in (None, "static"):
        res = [static_experiment(s, scfg) for s in tqdm(seeds, desc="static (2000)")]
        rows = [(k, v.format(R=scfg.reverberations)) for k, v in STATIC_ROWS]
        out += table(f"1. Static associations (2000): {scfg.n_a} + {scfg.n_b} random binary associations "
                     f"{scfg.input_size} -> {scfg.output_size} bits, {scfg.hidden_size} hidden units",
                     rows, res, "items")
        out += ["", f"Settings: `{config_dict(scfg)}`", ""]
    if args.only in (None, "sequences"):
        res = [sequence_experiment(s, qcfg) for s in tqdm(seeds, desc="sequences (2004)")]
        rows = [(k, v) for k, v in SEQ_ROWS]
        out += table(f"2. Sequences (2004): {qcfg.n_a} + {qcfg.n_b} sequences of {qcfg.length} items "
                     f"({qcfg.item_size}-bit items, vocabulary of {qcfg.vocab_size} shared by all sequences), "
                     f"SRN with {qcfg.hidden_size} sigmoid units", rows, res, "sequences")
        out += ["", f"Settings: `{config_dict(qcfg)}`", ""]
    cmd = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ans_rousset.py" + " ".join(
        [""] + (sys.argv[1:] if argv is None else list(argv)))
    out += [f"Command: `{cmd.strip()}` ({time.time() - t0:.0f} s)"]
    text = "\n".join(out)
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    return text


if __name__ == "__main__":
    main()
