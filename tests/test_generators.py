"""Pseudo-sequence labelling: the storage network's step transitions along its own trajectories."""
import pytest
import torch

from selfrefresh.generators import PseudoBatch, Reverberation, label_transitions, label_with
from selfrefresh.models import AutoHeteroRNN


@pytest.mark.parametrize("cell,layers", [("gru", 1), ("lstm", 1), ("srn", 1), ("gru", 2)])
def test_transitions_replay_the_networks_own_steps(cell, layers):
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell=cell, num_layers=layers).eval()
    batch = label_transitions(net, label_with(net, torch.randn(5, 7, 3)))
    s = net.state_size
    assert batch.transitions and not batch.static
    assert batch.context.shape == batch.next_context.shape == (5, 7, s)
    assert batch.step_logits.shape == (5, 7, 4) and batch.recon.shape == (5, 7, 3 + s)
    # the context before step t+1 is the state after step t
    assert torch.allclose(batch.context[:, 1:], batch.next_context[:, :-1])
    # all T steps at once from the recorded contexts give the recorded outputs (no unrolling)
    logits, recon, nxt = net.step(batch.x.reshape(35, 3), batch.context.reshape(35, s))
    assert torch.allclose(logits, batch.step_logits.reshape(35, 4), atol=1e-5)
    assert torch.allclose(recon, batch.recon.reshape(35, -1), atol=1e-5)
    assert torch.allclose(nxt, batch.next_context.reshape(35, s), atol=1e-5)
    # and the final logits are the head of the steps' mean (the default readout): with a linear
    # head, the mean of the steps' logits
    assert torch.allclose(batch.logits, batch.step_logits.mean(1), atol=1e-5)


def test_transitions_need_sequences_and_a_recurrent_network():
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    static = Reverberation(net, reverberations=1, mode="static").manual_seed(0).sample(4)
    with pytest.raises(ValueError, match="needs pseudo-sequences"):
        label_transitions(net, static)
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(21, 4))
    with pytest.raises(TypeError, match="AutoHeteroRNN-like"):
        label_transitions(plain, label_with(plain, torch.randn(2, 7, 3)))


def test_pseudo_batch_to_moves_every_tensor_and_keeps_none_fields():
    batch = PseudoBatch(x=torch.zeros(2, 3, 1), logits=torch.zeros(2, 4), classes=torch.tensor([0, 1]))
    moved = batch.to("meta")  # a real move on any machine: meta tensors have shapes but no data
    assert moved is not batch and len(moved) == 2
    assert all(t.device.type == "meta" for t in (moved.x, moved.logits, moved.classes))
    assert moved.classes.dtype == torch.long and moved.context is None and moved.recon is None
    assert batch.x.device.type == "cpu"  # the original is left where it was


def test_use_seeds_switches_between_stored_sequences_and_the_constructors_seeds():
    from selfrefresh.generators import Noise
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    real = torch.full((4, 6, 3), 7.0)
    g = Noise(net, seq_len=6, noise_std=1.0, buffer_noise=0.01).manual_seed(0)
    assert g.use_seeds(real) is g and torch.equal(g.buffer, real)
    assert (g.sample(8).x - 7.0).abs().max() < 0.1         # perturbed copies of the stored sequences
    g.use_seeds(None)
    assert g.buffer is None
    assert g.sample(8).x.abs().mean() < 2.0                 # back to N(0, 1) noise


def test_steering_with_a_blind_classifier_only_lowers_the_reconstruction_error():
    """With a class head that ignores its input the class term has no gradient: steering then
    minimises the auto term ||recon(x) - x||^2 alone (seen here: 1.19 -> 0.13 in 30 steps)."""
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="gru").eval()
    with torch.no_grad():
        net.classifier.weight.zero_()
        net.classifier.bias.zero_()
    g = Reverberation(net, steer_steps=30, steer_lr=0.05, seq_len=6)
    x = torch.randn(8, 6, 3)
    err = lambda v: (net.run(v, with_context=False).recon - v).pow(2).mean().item()  # noqa: E731
    assert err(g._steer(net, x, torch.zeros(8, dtype=torch.long))) < 0.5 * err(x)


def test_steering_by_chunks_gives_the_result_of_one_batch():
    """steer_chunk splits the seeds, each chunk's loss weighted by its share of the batch: the
    steered sequences equal one batch's (to float rounding); a chunk below 1 is refused."""
    torch.manual_seed(0)
    net = AutoHeteroRNN(3, 8, 4, cell="lstm").eval()
    x, target = torch.randn(10, 6, 3), torch.arange(10) % 4
    out = {chunk: Reverberation(net, steer_steps=8, steer_lr=0.05, seq_len=6, steer_chunk=chunk)._steer(net, x, target)
           for chunk in (None, 3, 64)}
    assert not torch.allclose(out[None], x, atol=1e-3)
    torch.testing.assert_close(out[3], out[None], atol=1e-6, rtol=1e-5)
    assert torch.equal(out[64], out[None])        # one chunk: the same computation
    assert Reverberation().steer_chunk == 64
    with pytest.raises(ValueError, match="steer_chunk must be None or an int >= 1"):
        Reverberation(steer_chunk=0)


def test_target_classes_come_from_the_sources_own_random_generator():
    """The classes a generator steers toward are drawn with its seeded generator: the same seed
    gives the same classes whatever the global random state."""
    from selfrefresh.generators import Noise
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    drawn = []
    for global_seed in (1, 2):
        g = Noise(seq_len=4).configure(net, classes=[0, 1, 2, 3]).manual_seed(3)
        torch.manual_seed(global_seed)
        drawn.append(g._target_classes(16).tolist())
    assert drawn[0] == drawn[1] and set(drawn[0]) <= {0, 1, 2, 3} and len(set(drawn[0])) > 1
    steered = []  # the classes a steered sample stands for
    for global_seed in (5, 6):
        g = Reverberation(net, reverberations=0, steer_steps=1, seq_len=4).configure(net, classes=[0, 1, 2, 3])
        torch.manual_seed(global_seed)
        steered.append(g.manual_seed(3).sample(16).classes.tolist())
    assert steered[0] == steered[1]


def test_seed_buffers_must_be_3d_and_noise_seeds_need_seq_len():
    from selfrefresh.generators import Noise
    net = AutoHeteroRNN(3, 8, 4, cell="gru")
    for bad in (torch.zeros(4, 3), torch.zeros(2, 4, 6, 3), torch.zeros(0, 6, 3)):  # 2-D, 4-D, empty
        with pytest.raises(ValueError, match="non-empty \\(N, T, F\\) tensor"):
            Noise(net, seeds=bad)
        with pytest.raises(ValueError, match="non-empty \\(N, T, F\\) tensor"):
            Noise(net, seq_len=6).use_seeds(bad)
    with pytest.raises(RuntimeError, match="set seq_len"):
        Noise(net).sample(2)
