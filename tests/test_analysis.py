"""selfrefresh.analysis on tiny hand-built networks whose answers are known."""
import math

import numpy as np
import pytest
import torch

from selfrefresh.analysis import (attractor_evolution, cluster_points, find_attractors, gate_activations,
                                  gate_saturation, gradient_memory, horizon_from_curve, perturbation_memory,
                                  reverberation_memory, step_trace, top_windows, unit_activations, unit_motifs)
from selfrefresh.models import AutoHeteroRNN
from selfrefresh.nn import GRU, LSTM, RNN, SRN


# ------------------------------------------------------------------------------------------------
# hand-built networks
# ------------------------------------------------------------------------------------------------
def delay_line(length: int) -> RNN:
    """An RNN whose state shifts by one unit per step: unit 0 <- x_t, unit i <- unit i-1."""
    net = RNN(1, length, bias=False)
    with torch.no_grad():
        net.weight_ih_l0.zero_()
        net.weight_ih_l0[0, 0] = 1.0
        net.weight_hh_l0.copy_(torch.diag(torch.ones(length - 1), -1))
    return net


MOTIF = (1.0, -1.0, 1.0)


def motif_detector() -> RNN:
    """Units [x_t, x_(t-1), detector]; the detector fires only when (x_(t-2), x_(t-1), x_t) == MOTIF
    for inputs in {-1, +1}."""
    m0, m1, m2 = MOTIF
    net = RNN(1, 3)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.weight_ih_l0[:, 0] = torch.tensor([3.0, 0.0, 3.0 * m2])
        net.weight_hh_l0[1, 0] = 3.0                       # h1_t = tanh(3 h0_(t-1)) ~ x_(t-1)
        net.weight_hh_l0[2, :2] = torch.tensor([3.0 * m1, 3.0 * m0])
        net.bias_ih_l0[2] = -7.5                          # all three must agree to fire
    return net


def bistable(gain: float = 2.0, seq_len: int = 3) -> AutoHeteroRNN:
    """AutoHeteroRNN whose re-injection is x_t <- tanh(gain * x_t) at every step independently.

    gain > 1: fixed points +-x* (x* = tanh(gain x*)), so 2**T attractors over T steps; gain < 1:
    only 0. The class head reads the sign of the last step: class 1 for +, 0 for -.
    """
    m = AutoHeteroRNN(1, 1, 2, cell="rnn", readout="last")
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.rnn.weight_ih_l0.fill_(gain)
        m.auto_head.weight[0, 0] = 1.0
        m.classifier.weight.copy_(torch.tensor([[-1.0], [1.0]]))
    return m


def fixed_point(gain: float) -> float:
    x = 1.0
    for _ in range(200):
        x = math.tanh(gain * x)
    return x


# ------------------------------------------------------------------------------------------------
# units and motifs
# ------------------------------------------------------------------------------------------------
def test_motif_detector_top_windows_are_the_motif():
    torch.manual_seed(0)
    net = motif_detector()
    x = torch.randint(0, 2, (20, 30, 1)).float() * 2 - 1
    acts = unit_activations(net, x)
    assert acts.shape == (20, 30, 3)
    m = top_windows(acts, x, unit=2, window=3, k=6)
    assert m.windows.shape == (6, 3, 1)
    assert np.array_equal(m.windows[..., 0], np.tile(MOTIF, (6, 1)))
    assert (m.scores > 0.8).all()
    # no other window drives the detector above 0
    others = acts[..., 2].clone()
    for i, j in m.where:
        assert tuple(x[i, j - 2: j + 1, 0].tolist()) == MOTIF
    wins = x[:, :, 0].unfold(1, 3, 1)  # (B, T-2, 3)
    is_motif = (wins == torch.tensor(MOTIF)).all(-1)
    assert (others[:, 2:][~is_motif] < 0).all()
    assert (others[:, 2:][is_motif] > 0.8).all()
    # windows never overlap within a sequence
    for a in range(len(m.where)):
        for b in range(a + 1, len(m.where)):
            if m.where[a][0] == m.where[b][0]:
                assert abs(m.where[a][1] - m.where[b][1]) >= 3


def test_unit_motifs_respects_lengths_and_negative_sign():
    net = motif_detector()
    x = -torch.ones(2, 10, 1)
    x[0, 6:9, 0] = torch.tensor(MOTIF)  # motif ends at step 8 of sequence 0, beyond its length 6
    x[1, 2:5, 0] = torch.tensor(MOTIF)
    lengths = torch.tensor([6, 10])
    m = unit_motifs(net, x, units=[2], window=3, k=1, lengths=lengths)[0]
    assert tuple(m.where[0]) == (1, 4)
    acts = unit_activations(net, x)
    low = top_windows(acts, x, 2, window=3, k=1, sign=-1.0)
    assert low.scores[0] < -0.9


def test_unit_activations_lower_layer_and_cell_state_match_fused():
    torch.manual_seed(1)
    net = LSTM(3, 5, num_layers=2).eval()
    x = torch.randn(4, 7, 3)
    out, (h, c) = net(x)
    assert torch.allclose(unit_activations(net, x, layer=-1), out, atol=1e-5)
    assert torch.allclose(unit_activations(net, x, layer=0)[:, -1], h[0], atol=1e-5)
    assert torch.allclose(unit_activations(net, x, layer=1, state="c")[:, -1], c[1], atol=1e-5)


def test_units_reject_bad_input():
    net = motif_detector()
    with pytest.raises(ValueError, match="NaN"):
        unit_activations(net, torch.full((1, 4, 1), float("nan")))
    with pytest.raises(ValueError, match="features"):
        unit_activations(net, torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="window"):
        top_windows(torch.zeros(1, 4, 3), torch.zeros(1, 4, 1), 0, window=5)
    with pytest.raises(TypeError, match="recurrent layer"):
        unit_activations(torch.nn.Linear(1, 1), torch.zeros(1, 4, 1))


# ------------------------------------------------------------------------------------------------
# gates
# ------------------------------------------------------------------------------------------------
def test_gate_saturation_with_saturating_biases():
    net = LSTM(2, 4)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.bias_ih_l0[0:4] = -10.0  # input gate shut
        net.bias_ih_l0[4:8] = 10.0   # forget gate open
        net.bias_ih_l0[12:16] = torch.tensor([10.0, -10.0, 0.0, 0.0])  # output gate: mixed per unit
    x = torch.randn(3, 6, 2)
    sat = gate_saturation(x, model=net)
    assert np.allclose(sat.left["input"], 1.0) and np.allclose(sat.right["input"], 0.0)
    assert np.allclose(sat.right["forget"], 1.0) and np.allclose(sat.left["forget"], 0.0)
    assert np.allclose(sat.right["output"], [1, 0, 0, 0]) and np.allclose(sat.left["output"], [0, 1, 0, 0])
    assert sat.summary()["forget"]["units_mostly_saturated"] == 1.0

    gru = GRU(2, 3)
    with torch.no_grad():
        for p in gru.parameters():
            p.zero_()
        gru.bias_hh_l0[0:3] = 10.0   # reset
        gru.bias_hh_l0[3:6] = -10.0  # update
    sat = gate_saturation(x, model=gru, lengths=torch.tensor([6, 2, 1]))
    assert np.allclose(sat.right["reset"], 1.0) and np.allclose(sat.left["update"], 1.0)
    assert sat.values["reset"].size == (6 + 2 + 1) * 3


def test_gates_reproduce_the_fused_lstm_and_gru():
    torch.manual_seed(2)
    x = torch.randn(3, 8, 2)
    lstm = LSTM(2, 4).eval()
    out, _ = lstm(x)
    g = gate_activations(lstm, x)
    tr = step_trace(lstm, x)[0]
    assert torch.allclose(g["output"] * torch.tanh(tr.c), out, atol=1e-5)

    gru = GRU(2, 4).eval()
    out, _ = gru(x)
    g = gate_activations(gru, x)
    tr = step_trace(gru, x)[0]
    w_in, w_hn = gru.weight_ih_l0[8:], gru.weight_hh_l0[8:]
    n = torch.tanh(tr.inputs @ w_in.T + gru.bias_ih_l0[8:] + g["reset"] * (tr.h_prev @ w_hn.T + gru.bias_hh_l0[8:]))
    h = (1 - g["update"]) * n + g["update"] * tr.h_prev
    assert torch.allclose(h, out, atol=1e-5)


def test_gates_need_a_gated_cell():
    with pytest.raises(ValueError, match="no gates"):
        gate_activations(RNN(1, 2), torch.zeros(1, 3, 1))


# ------------------------------------------------------------------------------------------------
# memory horizon
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("length", [1, 3, 7])
def test_delay_line_memory_horizon_is_its_length(length):
    net = delay_line(length)
    read_last = lambda x: net(x)[0][..., -1:]  # noqa: E731
    x = torch.randn(6, length + 6, 1, generator=torch.Generator().manual_seed(length))
    for curve in (gradient_memory(read_last, x), perturbation_memory(read_last, x)):
        assert curve.horizon == length and not curve.censored, curve.describe()
        assert curve.peak_lag == length - 1
        nz = np.nonzero(curve.values > 1e-9)[0]
        assert nz.tolist() == [length - 1]


def test_memory_horizon_lengths_and_censoring():
    net = delay_line(4)
    read_last = lambda x: net(x)[0][..., -1:]  # noqa: E731
    x = torch.randn(5, 6, 1)
    # only sequences long enough to reach lag 3 count; a max_lag below the delay sees nothing
    short = gradient_memory(read_last, x, lengths=torch.tensor([6, 6, 3, 3, 3]))
    assert short.horizon == 4 and short.counts[3] > 0
    with pytest.raises(ValueError, match="no finite|max_lag"):
        gradient_memory(read_last, x, max_lag=9)
    # an identity-recurrent integrator never forgets: censored at the measured range
    integ = RNN(1, 1, bias=False)
    with torch.no_grad():
        integ.weight_ih_l0.fill_(0.01)
        integ.weight_hh_l0.fill_(1.0)
    c = gradient_memory(integ, torch.zeros(2, 10, 1))
    assert c.censored and c.horizon == 10
    assert horizon_from_curve([0.0, 1.0, 0.5, 0.009, 0.0]) == (3, False)
    assert horizon_from_curve([1.0, 0.5]) == (2, True)


def test_memory_of_auto_hetero_model_outputs():
    torch.manual_seed(3)
    m = AutoHeteroRNN(2, 6, 3, cell="gru")
    x = torch.randn(4, 9, 2)
    for out in ("logits", "features", "recon"):
        c = gradient_memory(m, x, output=out, n_anchors=3)
        assert c.values.shape == (9,) and np.isfinite(c.values).all() and c.values[0] > 0
    assert m.training  # mode restored


# ------------------------------------------------------------------------------------------------
# reverberation attractors
# ------------------------------------------------------------------------------------------------
def test_bistable_map_has_two_to_the_T_attractors():
    m = bistable(2.0, 3)
    xs = fixed_point(2.0)
    patterns = torch.tensor([[[s0], [s1], [s2]] for s0 in (-xs, xs) for s1 in (-xs, xs) for s2 in (-xs, xs)])
    labels = (patterns[:, -1, 0] > 0).long()
    seeds = torch.randn(256, 3, 1, generator=torch.Generator().manual_seed(0))
    s = find_attractors(m, seeds=seeds, reinjections=60, data=patterns, data_labels=labels)
    assert s.n_attractors == 8
    assert s.converged.all()
    assert s.counts.sum() == 256 and (np.diff(s.counts) <= 0).all()
    assert torch.allclose(s.centers.abs(), torch.full_like(s.centers, xs), atol=1e-4)
    assert np.array_equal(s.classes, (s.centers[:, -1, 0] > 0).long().numpy())
    assert s.nearest_distance.max() < 1e-4 and np.array_equal(s.nearest_class, s.classes)
    assert s.summary()["classes_reached"] == [0, 1] and s.summary()["n_converged_attractors"] == 8
    few = find_attractors(m, seeds=seeds, reinjections=1)  # one step: nothing has converged yet
    assert few.summary()["n_converged_attractors"] == 0 and few.n_attractors > 8
    assert abs(s.class_coverage(2).sum() - 1.0) < 1e-9


def test_attractor_evolution_and_reverberation_memory():
    strong, weak = bistable(2.0, 2), bistable(0.5, 2)
    evo = attractor_evolution([strong, weak], names=["exp 1", "exp 2"], n_seeds=64, seq_len=2,
                              reinjections=60)
    assert [e.n_attractors for e in evo] == [4, 1]
    assert evo[0].end_points.shape == evo[1].end_points.shape == (64, 2, 1)
    # near 0 the weak map contracts by 0.5 per re-injection: 0.5**7 < 1 % <= 0.5**6
    seeds = 1e-4 * torch.randn(16, 2, 1, generator=torch.Generator().manual_seed(1))
    c = reverberation_memory(weak, seeds, reinjections=12)
    assert c.horizon == 7 and abs(c.values[3] - 0.125) < 1e-3


def test_cluster_points_tolerance():
    pts = torch.tensor([[0.0], [0.01], [1.0], [1.02], [5.0]])
    labels, centers = cluster_points(pts, tol=0.05)
    assert labels.tolist() == [0, 0, 1, 1, 2] and centers.shape == (3, 1)
    assert cluster_points(pts, tol=10.0)[1].shape[0] == 1
    with pytest.raises(TypeError, match="auto head"):
        find_attractors(RNN(1, 1), seeds=torch.zeros(2, 3, 1))


# ------------------------------------------------------------------------------------------------
# figures, report, checkpoint command
# ------------------------------------------------------------------------------------------------
def _save_ckpt(path, model, readout_in_config=None, **extra):
    cfg = dict(input_size=model.input_size, hidden_size=model.hidden_size, num_classes=2,
               cell=model.cell_type, num_layers=model.num_layers)
    if readout_in_config is not None:
        cfg["readout"] = readout_in_config
    torch.save({"model_config": cfg, "model_state": model.state_dict(), **extra}, path)


def test_plots_render(tmp_path):
    from selfrefresh.analysis import plots
    net = motif_detector()
    x = torch.randint(0, 2, (4, 12, 1)).float() * 2 - 1
    acts = unit_activations(net, x)
    m = unit_motifs(net, x, units=[2, 0], window=3, k=2)
    frames = [plots.plot_unit_traces(x.numpy(), acts.numpy(), [0, 2]),
              plots.plot_motifs(m, kind="spectrogram"),
              plots.plot_motifs([top_windows(torch.randn(2, 5, 3), torch.randn(2, 5, 4), 0, 2, 2)],
                                frame_shape=(2, 2))]
    for i, f in enumerate(frames):
        p = plots.save_figure(f, tmp_path / f"f{i}.png")
        assert p.stat().st_size > 2000
    with pytest.raises(ValueError, match="frame_shape"):
        plots.window_kind(4, "frames")


def test_analyse_command_on_checkpoint_and_run_dir(tmp_path):
    torch.manual_seed(4)
    final = AutoHeteroRNN(2, 4, 2, cell="gru")
    final.grow(3)  # a grown head loads too
    early = AutoHeteroRNN(2, 4, 2, cell="gru")
    run = tmp_path / "run"
    run.mkdir()
    _save_ckpt(run / "model.pt", final, stream="no-such-stream", seq_len=6, class_names=["a", "b", "c"])
    _save_ckpt(run / "model_exp0.pt", early)
    from selfrefresh.analysis import analyse_command, load_checkpoint
    with pytest.warns(UserWarning, match="random probes"):
        res = analyse_command(run, n_probes=6, n_units=2, top_k=2, n_seeds=12, reinjections=4, n_anchors=2,
                              progress=False)
    out = run / "analysis"
    text = (out / "report.md").read_text()
    for section in ("Units and motifs", "Gate saturation", "Memory horizon", "Reverberation attractors",
                    "Across checkpoints", "2 = c"):
        assert section in text
    assert res["probes"] == "random" and res["data_shape"] == [6, 6, 2]
    assert set(res["attractor_evolution"]) == {"model_exp0", "final"}
    assert all((out / f"{n}.png").stat().st_size > 2000 for n in res["figures"])
    assert load_checkpoint(run / "model.pt")[0].num_classes == 3
    # a config without "readout" predates the setting: the final step, the default then
    assert load_checkpoint(run / "model.pt")[0].readout == "last"
    _save_ckpt(tmp_path / "mean.pt", early, readout_in_config="mean")
    assert load_checkpoint(tmp_path / "mean.pt")[0].readout == "mean"
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(ValueError, match="model_config"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="model.pt"):
        analyse_command(tmp_path)


@pytest.mark.slow
def test_example_runs_small(tmp_path):
    import os
    import subprocess
    import sys
    env = dict(os.environ, SELFREFRESH_EXAMPLE_SMALL="1", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "examples/analyse_model.py", "--out", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=600,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "joint" / "analysis" / "report.md").is_file()
    assert (tmp_path / "naive" / "analysis" / "attractor_evolution.png").is_file()
    # the saved config records the readout the model was trained with (the default, the mean)
    assert torch.load(tmp_path / "joint" / "model.pt", weights_only=True)["model_config"]["readout"] == "mean"


# ------------------------------------------------------------------------------------------------
# generators: GAN generator (per-step noise) vs reverberation (auto map)
# ------------------------------------------------------------------------------------------------
def _tiny_gan(seq_len=8):
    from selfrefresh.generators import RecurrentGAN
    torch.manual_seed(0)
    return RecurrentGAN(seq_len, 2, 3, hidden_size=6, latent_size=3, noise_size=2)


def test_compare_generators_gives_curves_for_both(tmp_path):
    from selfrefresh.analysis import analyse, compare_generators, noise_map
    gan = _tiny_gan()
    torch.manual_seed(1)
    model = AutoHeteroRNN(2, 5, 3, cell="gru")
    x = torch.randn(6, 10, 2)
    for method in ("gradient", "perturbation"):
        res = compare_generators(gan, model, x, method, n=6, n_anchors=3)
        assert set(res) == {"GAN generator", "reverberation (auto map)"}
        assert res["GAN generator"].values.shape == (8,)            # the GAN's own length
        assert res["reverberation (auto map)"].values.shape == (10,)
        for c in res.values():
            assert np.isfinite(c.values).all() and c.values.max() > 0 and 1 <= c.horizon <= c.values.size
    # known answer: without recurrent weights and with the GRU's update gate shut (z = 0, so
    # h_t = n_t), the generator is memoryless in its noise: horizon 1
    h = gan.generator.hidden_size
    with torch.no_grad():
        for name, p in gan.generator.rnn.named_parameters():
            if name.startswith("weight_hh"):
                p.zero_()
            if name.startswith("weight_ih"):
                p[h:2 * h] = 0.0
            if name.startswith("bias_ih"):
                p[h:2 * h] = -100.0
    c = compare_generators(gan, n=4, n_anchors=4)["GAN generator"]
    assert c.horizon == 1 and c.values[1:].max() < 1e-9 * c.values[0]
    fn, noise = noise_map(gan, n=4)
    assert noise.shape == (4, 8, 2) and fn(noise).shape == (4, 8, 2)
    with pytest.raises(ValueError, match="gan= and/or model="):
        compare_generators()
    with pytest.raises(TypeError, match="RecurrentGAN"):
        noise_map(torch.nn.Linear(2, 2))
    # in the report: table rows and a figure
    res = analyse(model, x, tmp_path, n_units=2, top_k=2, n_seeds=8, reinjections=3, n_anchors=2,
                  gan=gan, progress=False)
    assert set(res["generator_memory"]) == {"GAN generator", "reverberation (auto map)"}
    assert "Memory of the generators" in (tmp_path / "report.md").read_text()
    assert (tmp_path / "memory_generators.png").stat().st_size > 2000
