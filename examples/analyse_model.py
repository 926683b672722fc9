"""What did a recurrent network learn on JapaneseVowels? Units, gates, memory horizon, attractors.

Trains small auto-hetero networks itself on the real JapaneseVowels data (9 speakers, 12 LPC
cepstrum coefficients per frame, 7-29 frames; /work/shared/data/uea, see its NOTICE.md), then:

1. ``joint/``: an LSTM trained on all classes, analysed with ``selfrefresh.analysis.analyse`` on
   the test set; the SRN, RNN and GRU versions are trained the same way for the memory comparison.
   A small conditional GAN (``RecurrentGAN``) trained on the same data gives the generator memory
   comparison: GAN generator on its per-step noise vs reverberation through the LSTM's auto map.
2. ``naive/``: an LSTM trained class-incrementally (3 experiences x 3 speakers, plain fine-tuning:
   no self-refresh), one checkpoint per experience, analysed with ``analyse_command`` on the run
   dir: how the reverberation attractors move as the network learns new speakers.
3. ``--continual``: instead, the ``SelfRefresh`` strategy (defaults) and Avalanche ``Naive`` on the
   registered ``japanese-vowels`` stream; NET2 (``strategy.storage``) and the naive model are kept
   after each experience and ``attractor_evolution`` tells which share of the reverberated end
   points falls into old classes (``continual/attractors.json``).

    .venv/bin/python examples/analyse_model.py [--out results/analysis_example]
    .venv/bin/python examples/analyse_model.py --continual [--epochs 5]
    .venv/bin/python examples/analyse_model.py --checkpoint results/demo/speech/selfrefresh/seed0  # run dir

``SELFREFRESH_EXAMPLE_SMALL=1`` shrinks everything (CI).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from selfrefresh.analysis import analyse, analyse_command, attractor_evolution, random_seeds
from selfrefresh.models import AutoHeteroRNN

SMALL = os.environ.get("SELFREFRESH_EXAMPLE_SMALL") == "1"
DATA = Path(os.environ.get("SELFREFRESH_DATA", "/work/shared/data")) / "uea" / "JapaneseVowels.npz"
HIDDEN = 12 if SMALL else 48
EPOCHS = 4 if SMALL else 40
N_TRAIN = 90 if SMALL else None
GAN_EPOCHS = 3 if SMALL else 30


def load_japanese_vowels(path=DATA):
    """(train_x, train_y, train_len, test_x, test_y, test_len): x (N, T, 12) standardised with the
    training statistics, padded past each series' end by repeating its last frame."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"JapaneseVowels data not found: {path}")
    with np.load(path, allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    names = sorted(set(arrays["y_train"].tolist()))
    out = {}
    for split in ("train", "test"):
        x = np.transpose(arrays[f"X_{split}"], (0, 2, 1)).astype(np.float32)  # (N, T, F)
        n = arrays[f"len_{split}"].astype(np.int64)
        idx = np.minimum(np.arange(x.shape[1])[None, :], (n - 1)[:, None])
        x = np.take_along_axis(x, idx[..., None], axis=1)  # edge padding
        out[split] = (x, np.array([names.index(c) for c in arrays[f"y_{split}"].tolist()]), n)
    valid = np.arange(out["train"][0].shape[1])[None, :] < out["train"][2][:, None]
    mu, sd = out["train"][0][valid].mean(0), out["train"][0][valid].std(0) + 1e-6
    res = []
    for split in ("train", "test"):
        x, y, n = out[split]
        res += [torch.tensor((x - mu) / sd), torch.tensor(y), torch.tensor(n)]
    return res


def train(model, x, y, epochs, seed=0, lr=5e-3, recon_weight=1.0):
    """Cross-entropy on the class head + MSE of the auto head's reconstruction of each step."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(32):
            out = model.run(x[idx], with_context=False)
            loss = F.cross_entropy(out.logits, y[idx]) + recon_weight * F.mse_loss(out.recon, out.recon_target)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def accuracy(model, x, y):
    return float((model(x).argmax(-1) == y).float().mean())


def save(model, path, cfg, **extra):
    """A checkpoint ``selfrefresh analyse`` reads (its config records the readout: one without it
    is read as the final step's, the default before 2026-12-03)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = {**cfg, "readout": model.readout}
    torch.save({"model_config": cfg, "model_state": model.state_dict(), **extra}, path)


def train_gan(x, y, epochs=GAN_EPOCHS, seed=0):
    """A small conditional sequence GAN on the same training series (data units)."""
    from selfrefresh.generators import RecurrentGAN

    torch.manual_seed(seed)
    gan = RecurrentGAN(x.shape[1], x.shape[2], int(y.max()) + 1, hidden_size=HIDDEN)
    gan.fit(x, y, epochs=epochs, seed=seed, progress=not SMALL)
    return gan.eval()


def old_class_share(summary, old_classes) -> float:
    """Fraction of the seeds whose reverberated end point the hetero head puts in ``old_classes``."""
    if not old_classes:
        return float("nan")
    return float(np.isin(summary.seed_classes, sorted(old_classes)).mean())


def continual(out: Path, epochs: int, n_seeds: int, reinjections: int, seed: int = 0) -> dict:
    """SelfRefresh (defaults) vs Naive on the japanese-vowels stream: NET2 / the model after each
    experience, their reverberation attractors from the same seeds, and the share of end points in
    old classes (those of the earlier experiences)."""
    import copy
    import json
    import warnings

    from avalanche.training.plugins import EvaluationPlugin

    from selfrefresh.streams import get_stream
    from selfrefresh.runs import build_model, stream_info
    from selfrefresh.strategies import make_strategy

    bench = get_stream("japanese-vowels")(seed=seed)
    info = stream_info(bench)
    exps = list(bench.train_stream)
    real = torch.cat([torch.stack([torch.as_tensor(e.dataset[i][0]) for i in range(len(e.dataset))])
                      for e in exps]).float()
    real_y = torch.cat([torch.tensor([int(e.dataset[i][1]) for i in range(len(e.dataset))]) for e in exps])
    seeds = random_seeds(n_seeds, real.shape[1], real.shape[2], real, seed=seed)
    res = {"epochs": epochs, "n_seeds": n_seeds, "reinjections": reinjections, "experiences": []}
    for e in exps:
        res["experiences"].append(sorted(int(c) for c in e.classes_in_this_experience))
    for name in ("selfrefresh", "naive"):
        torch.manual_seed(seed)
        model, _ = build_model(info, "lstm", 64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            strat = make_strategy(name, model, torch.optim.Adam(model.parameters(), lr=2e-3),
                                  seq_len=info["seq_len"], train_mb_size=32, train_epochs=epochs,
                                  eval_mb_size=256, evaluator=EvaluationPlugin(loggers=[]))
            kept, acc = [], []
            for i, exp in enumerate(exps):
                strat.train(exp)
                net = strat.storage if name == "selfrefresh" and strat.storage is not None else strat.model
                kept.append(copy.deepcopy(net).cpu().eval())
                with torch.no_grad():
                    acc.append(float((kept[-1](real).argmax(-1) == real_y).float().mean()))
        evo = attractor_evolution(kept, [f"after exp {i}" for i in range(len(kept))], seeds=seeds,
                                  reinjections=reinjections, data=real, data_labels=real_y)
        rows = []
        for i, s in enumerate(evo):
            old = set().union(*map(set, res["experiences"][:i])) if i else set()
            rows.append({"checkpoint": s.name, "old_classes": sorted(old),
                         "old_class_share": old_class_share(s, old),
                         "class_coverage": s.summary()["class_coverage"],
                         "train_accuracy_all_classes": acc[i]})
            print(f"{name:11s} {s.name}: end points in old classes {rows[-1]['old_class_share']:.3f}, "
                  f"accuracy on all training series {acc[i]:.3f}")
        res[name] = rows
    out.mkdir(parents=True, exist_ok=True)
    (out / "attractors.json").write_text(json.dumps(res, indent=1))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="results/analysis_example")
    ap.add_argument("--checkpoint", help="analyse this checkpoint or run dir instead of training")
    ap.add_argument("--continual", action="store_true",
                    help="SelfRefresh NET2 vs Naive attractors after each experience of the japanese-vowels stream")
    ap.add_argument("--epochs", type=int, default=2 if SMALL else 40, help="epochs per experience (--continual)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    sizes = dict(n_units=4 if SMALL else 8, top_k=4 if SMALL else 6, n_seeds=32 if SMALL else 256,
                 reinjections=10 if SMALL else 30, n_anchors=3 if SMALL else 8,
                 max_sequences=16 if SMALL else 64, progress=not SMALL)
    # 12 LPC cepstrum coefficients per frame: a spectral envelope, drawn as a spectrogram patch
    shown = dict(sizes, kind="spectrogram")
    if args.continual:
        continual(Path(args.out) / "continual", args.epochs, sizes["n_seeds"], sizes["reinjections"])
        print(f"figures: {args.out}/continual/attractors.json")
        return
    if args.checkpoint:
        res = analyse_command(args.checkpoint, **sizes)
        print(f"report: {res['out_dir']}/report.md")
        return
    out = Path(args.out)
    tx, ty, tl, ex, ey, el = load_japanese_vowels()
    if N_TRAIN:
        g = torch.Generator().manual_seed(0)
        keep, keep_test = torch.randperm(len(tx), generator=g)[:N_TRAIN], torch.randperm(len(ex), generator=g)[:60]
        tx, ty, tl = tx[keep], ty[keep], tl[keep]
        ex, ey, el = ex[keep_test], ey[keep_test], el[keep_test]
    f, c = tx.shape[-1], 9

    # 1. joint training, four cells
    models = {}
    for cell in ("srn", "rnn", "gru", "lstm"):
        cfg = dict(input_size=f, hidden_size=HIDDEN, num_classes=c, cell=cell)
        m = train(AutoHeteroRNN(**cfg), tx, ty, EPOCHS, lr=2e-2 if cell == "srn" else 5e-3)
        models[cell] = m
        print(f"{cell.upper():5s} joint test accuracy {accuracy(m, ex, ey):.3f}")
    save(models["lstm"], out / "joint" / "model.pt", dict(input_size=f, hidden_size=HIDDEN, num_classes=c,
                                                          cell="lstm"), name="LSTM, JapaneseVowels, joint")
    gan = train_gan(tx, ty)
    res = analyse(models["lstm"], ex, out / "joint" / "analysis", ey, el, train_data=tx, train_labels=ty,
                  gan=gan, compare={f"{k.upper()} logits": v for k, v in models.items() if k != "lstm"},
                  title="LSTM trained jointly on JapaneseVowels", **shown)
    print("memory horizon (gradient / perturbation), steps:")
    for k, v in res["memory"].items():
        print(f"  {k:15s} {v['gradient']['horizon']:3d}{'+' if v['gradient']['censored'] else ' '} / "
              f"{v['perturbation']['horizon']:3d}")
    print("generator memory horizon (gradient / perturbation), steps:")
    for k, v in res["generator_memory"].items():
        print(f"  {k:25s} {v['gradient']['horizon']:3d}{'+' if v['gradient']['censored'] else ' '} / "
              f"{v['perturbation']['horizon']:3d}{'+' if v['perturbation']['censored'] else ' '}")
    a = res["attractors"]
    print(f"attractors: {a['n_attractors']} distinct end points ({a['n_converged_attractors']} converged) from "
          f"{a['n_seeds']} seeds, classes reached {a['classes_reached']}")

    # 2. naive class-incremental training, one checkpoint per experience
    cfg = dict(input_size=f, hidden_size=HIDDEN, num_classes=c, cell="lstm")
    m = AutoHeteroRNN(**cfg)
    run = out / "naive"
    for e in range(3):
        sel = (ty >= 3 * e) & (ty < 3 * e + 3)
        train(m, tx[sel], ty[sel], EPOCHS, seed=e)
        name = "model.pt" if e == 2 else f"model_exp{e}.pt"
        save(m, run / name, cfg, name="LSTM, JapaneseVowels, naive class-incremental (no self-refresh)")
        print(f"naive after experience {e}: test accuracy {accuracy(m, ex, ey):.3f}")
    res = analyse_command(run, data=ex, labels=ey, lengths=el, train_data=tx, train_labels=ty, **shown)
    for k, v in res["attractor_evolution"].items():
        print(f"  {k:11s} end points {v['n_attractors']:3d} ({v['n_converged_attractors']} converged), "
              f"classes reached {v['classes_reached']}")
    print(f"reports: {out}/joint/analysis/report.md, {res['out_dir']}/report.md")


if __name__ == "__main__":
    main()
