"""Tests of the Ans & Rousset replication pieces (selfrefresh.replication)."""
import torch
import pytest

from selfrefresh.generators import Reverberation
from selfrefresh.models import AutoHeteroRNN
from selfrefresh.replication import (AutoHeteroMLP, StaticConfig, exact_recall, make_sequences,
                                     nearest_distance, random_associations, reverberate_mlp, savings,
                                     sequence_recall, sequence_tensors, static_experiment, train_mlp,
                                     train_srn)

torch.set_num_threads(1)


# -- measures ---------------------------------------------------------------------------------
def test_exact_recall_hand_made():
    targets = torch.tensor([[1., 0., 1.], [0., 0., 1.], [1., 1., 0.], [0., 1., 0.]])
    outputs = torch.tensor([[0.9, 0.1, 0.6],    # all within 0.5: recalled
                            [0.2, 0.7, 0.9],    # one output on the wrong side: not recalled
                            [0.51, 0.99, 0.49],  # just inside the margin: recalled
                            [0.5, 0.6, 0.0]])   # exactly 0.5 away: not recalled
    assert exact_recall(outputs, targets).tolist() == [True, False, True, False]
    # a stricter criterion (learning criterion 0.3) rejects the near-misses
    assert exact_recall(outputs, targets, tol=0.3).tolist() == [False, False, False, False]
    # sequences: (N, T, F), one wrong step spoils the whole sequence
    seq_t = torch.zeros(2, 3, 2)
    seq_o = torch.full((2, 3, 2), 0.1)
    seq_o[1, 2, 0] = 0.8
    assert exact_recall(seq_o, seq_t).tolist() == [True, False]


def test_exact_recall_bad_input():
    with pytest.raises(ValueError, match="shape"):
        exact_recall(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="NaN"):
        exact_recall(torch.tensor([[float("nan")]]), torch.zeros(1, 1))
    with pytest.raises(ValueError, match="no items"):
        exact_recall(torch.zeros(0, 2), torch.zeros(0, 2))


def test_savings():
    assert savings(100, 25) == pytest.approx(75.0)
    assert savings(40, 0) == pytest.approx(100.0)
    assert savings(10, 20) == pytest.approx(-100.0)
    with pytest.raises(ValueError):
        savings(0, 3)


def test_sequences_need_context():
    g = torch.Generator().manual_seed(0)
    items, seqs = make_sequences(6, 7, 10, 8, g)
    assert items.shape == (10, 8) and seqs.shape == (6, 7)
    assert len(set(seqs[:, 0].tolist())) == 6                     # first items identify sequences
    assert (seqs[:, 1:] != seqs[:, :-1]).all()                    # no immediate repeats
    assert len(torch.unique(items, dim=0)) == 10
    # some item is followed by different items in different places: context is needed
    succ = {}
    for s in seqs.tolist():
        for a, b in zip(s[:-1], s[1:]):
            succ.setdefault(a, set()).add(b)
    assert any(len(v) > 1 for v in succ.values())
    x, y = sequence_tensors(items, seqs)
    assert x.shape == y.shape == (6, 6, 8)
    assert torch.equal(x[:, 1:], y[:, :-1])
    with pytest.raises(ValueError, match="vocab_size"):
        make_sequences(5, 4, 5, 8, g)


# -- reverberation moves random seeds toward the learned items (issue 3) ----------------------
def test_reverberation_static_srn_approaches_learned_pairs():
    """Library Reverberation (static mode) on a small trained SRN: the median distance from the
    reverberated (item, context) to the nearest learned (item, context) pair falls with R."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    items, seqs = make_sequences(2, 5, 6, 8, g)
    x, y = sequence_tensors(items, seqs)
    net = AutoHeteroRNN(8, 16, 8, cell="srn", auto_activation="sigmoid", srn_nonlinearity="sigmoid")
    train_srn(net, x, y, lr=0.01, max_epochs=600, min_epochs=600, tol=0.3, auto_weight=3.0)
    assert sequence_recall(net, x, y).all()
    out = net.run(x)
    pairs = out.recon_target.reshape(-1, out.recon_target.shape[-1])   # learned [item, context]
    dist = {}
    for r in (0, 5, 20):
        b = Reverberation(net, reverberations=r, mode="static").manual_seed(0).sample(300)
        dist[r] = nearest_distance(torch.cat([b.x, b.context], 1), pairs).median().item()
    # measured (seed 0): R=0 1.86, R=5 0.49, R=20 0.48
    assert dist[5] < 0.5 * dist[0], dist
    assert dist[20] <= dist[5] + 0.05, dist


def test_reverberation_mlp_approaches_learned_inputs():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    xa, ya = random_associations(8, 12, 6, g)
    net = AutoHeteroMLP(12, 24, 6)
    train_mlp(net, xa, torch.cat([ya, xa], 1), lr=0.02, max_epochs=2000, tol=0.2, min_epochs=300)
    dist = {}
    for r in (0, 1, 5):
        xr, out = reverberate_mlp(net, 300, r, torch.Generator().manual_seed(1))
        assert out.shape == (300, 18)
        dist[r] = nearest_distance(xr, xa).median().item()
    # measured: R=0 2.0 (random binary seeds), R=5 0.02
    assert dist[1] < dist[0] and dist[5] < 0.25 * dist[0], dist


# -- the qualitative claim on a tiny static task ----------------------------------------------
def test_dual_network_retains_more_than_single():
    cfg = StaticConfig(n_a=8, n_b=8, transfer_steps=300, max_epochs=1500)
    res = static_experiment(0, cfg)
    assert res["single"]["recall_b"] == 100 and res["dual"]["recall_b"] == 100
    assert res["interleaved"]["recall_a"] == 100
    # the single network loses most of A; the dual network keeps most of it (margin 40 points)
    assert res["single"]["recall_a"] <= 50, res["single"]
    assert res["dual"]["recall_a"] >= res["single"]["recall_a"] + 40, res
    assert res["dual"]["savings"] > res["single"]["savings"], res


def test_mlp_bad_input():
    net = AutoHeteroMLP(4, 8, 2)
    with pytest.raises(ValueError, match="input"):
        net(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="seeds"):
        reverberate_mlp(net, 3, 1, torch.Generator(), seeds="gaussian")


@pytest.mark.slow
def test_benchmark_script_quick(tmp_path):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ans_rousset.py"
    spec = importlib.util.spec_from_file_location("ans_rousset", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "ar.md"
    text = mod.main(["--quick", "--seeds", "1", "--out", str(out)])
    assert out.read_text().strip() == text.strip()
    assert "| single SRN |" in text and "| dual network (reverberated" in text
