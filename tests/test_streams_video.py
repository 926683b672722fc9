"""Video streams: synthetic moving actions and real-video-folder adapters (small sizes)."""
import gzip

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from selfrefresh.streams import get_stream
from selfrefresh.streams.frame_encoders import DownsamplePixels, resolve_frame_encoder
from selfrefresh.streams.video import (MOTIONS, MovingActionsDataset, load_object_images, moving_actions,
                                          read_video_frames, video_folder)


def _all_xy(stream):
    xs, ys = [], []
    for exp in stream:
        for x, y, t in DataLoader(exp.dataset, batch_size=256):
            xs.append(x), ys.append(y)
    return torch.cat(xs), torch.cat(ys)


def test_moving_actions_shapes_metadata_and_experiences():
    bm = get_stream("moving-actions")(n_classes=6, n_train_per_class=4, n_test_per_class=2, n_experiences=3,
                                      frames=8, size=16, images="digits")
    assert (bm.input_size, bm.num_classes, bm.seq_len) == (64, 6, 8)  # pooled to 8x8
    assert bm.class_names == list(MOTIONS[:6]) and bm.image_source == "digits" and bm.class_order == list(range(6))
    assert len(bm.train_stream) == 3 and len(bm.test_stream) == 3
    assert [sorted(e.classes_in_this_experience) for e in bm.train_stream] == [[0, 1], [2, 3], [4, 5]]
    x, y, t = bm.train_stream[1].dataset[0]
    assert x.shape == (8, 64) and x.dtype == torch.float32 and int(y) in (2, 3) and t == 0
    assert len(bm.train_stream[0].dataset) == 8 and len(bm.test_stream[0].dataset) == 4


def test_moving_actions_deterministic_and_lazy_equals_materialised():
    kw = dict(n_classes=4, n_train_per_class=3, n_test_per_class=2, n_experiences=2, images="digits", seed=3)
    a, b = moving_actions(**kw), moving_actions(**kw, in_memory=False)
    c = moving_actions(**{**kw, "seed": 4})
    xa, ya = _all_xy(a.train_stream)
    xb, yb = _all_xy(b.train_stream)
    xc, _ = _all_xy(c.train_stream)
    assert torch.equal(ya, yb)
    assert torch.allclose(xa, xb, atol=1e-6)
    assert (xa - xc).abs().max() > 0.1
    assert 0.0 <= float(xa.min()) and float(xa.max()) <= 1.0


def test_one_frame_does_not_reveal_the_motion_but_the_clip_does():
    from sklearn.neural_network import MLPClassifier
    tr, te, _ = load_object_images("digits")
    enc = resolve_frame_encoder(None, 32)
    train = MovingActionsDataset(tr, MOTIONS[:10], 100, 16, 32, enc, seed=0, split=0)
    test = MovingActionsDataset(te, MOTIONS[:10], 40, 16, 32, enc, seed=0, split=1)
    (x, y), (xt, yt) = train.materialize(), test.materialize()
    x, y, xt, yt = x.numpy(), y.numpy(), xt.numpy(), yt.numpy()
    frame = MLPClassifier((128,), max_iter=200, random_state=0).fit(x[:, 0], y)
    clip = MLPClassifier((128,), max_iter=200, random_state=0).fit(x.reshape(len(x), -1), y)
    # chance is 0.10; 400 test clips give a binomial std of 0.015
    assert frame.score(xt[:, 0], yt) < 0.16
    assert frame.score(xt[:, 9], yt) < 0.16
    assert clip.score(xt.reshape(len(xt), -1), yt) > 0.5


def test_moving_actions_custom_encoder_and_motions():
    enc = nn.Sequential(nn.Flatten(), nn.Linear(16 * 16, 5))
    bm = moving_actions(motions=["zoom-in", "zoom-out"], n_train_per_class=2, n_test_per_class=1, n_experiences=1,
                        size=16, frames=6, encoder=enc, images="digits")
    assert bm.input_size == 5 and bm.class_names == ["zoom-in", "zoom-out"]
    assert bm.train_stream[0].dataset[0][0].shape == (6, 5)
    assert DownsamplePixels(2)(torch.ones(3, 8, 8)).shape == (3, 16)


def test_moving_actions_errors():
    with pytest.raises(ValueError, match="unknown motion"):
        moving_actions(motions=["teleport"], images="digits")
    with pytest.raises(ValueError, match="evenly"):
        moving_actions(n_classes=5, n_experiences=2, n_train_per_class=1, n_test_per_class=1, images="digits")
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST"):
        load_object_images("fashion-mnist", root="/nonexistent/fashion")
    with pytest.raises(FileNotFoundError, match="Fashion-MNIST"):
        moving_actions(n_classes=2, n_experiences=1, images_root="/nonexistent/fashion")
    with pytest.raises(ValueError, match="frame encoder"):
        moving_actions(n_classes=2, n_experiences=1, n_train_per_class=1, n_test_per_class=1, images="digits",
                       encoder=lambda f: f.reshape(-1))


def _write_idx(path, imgs):
    n, h, w = imgs.shape
    header = b"".join(v.to_bytes(4, "big") for v in (0x803, n, h, w))
    with gzip.open(path, "wb") as f:
        f.write(header + imgs.astype(np.uint8).tobytes())


def test_fashion_mnist_idx_reader(tmp_path):
    rng = np.random.default_rng(0)
    tr, te = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", tr)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", te)
    a, b, src = load_object_images("auto", root=str(tmp_path))
    assert src == "fashion-mnist" and a.shape == (5, 28, 28) and b.shape == (3, 28, 28)
    assert np.allclose(a * 255, tr)
    bm = moving_actions(n_classes=2, n_train_per_class=2, n_test_per_class=1, n_experiences=2,
                        images_root=str(tmp_path))
    assert bm.image_source == "fashion-mnist" and bm.input_size == 64


# ---- real video folders -------------------------------------------------------------------------
av = pytest.importorskip("av")


def _write_clip(path, n_frames, level, size=24):
    """A clip whose brightness encodes the class (``level``) with a bar moving right."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("mpeg4", rate=10)
        s.width = s.height = size
        s.pix_fmt = "yuv420p"
        for k in range(n_frames):
            img = np.full((size, size, 3), level, np.uint8)
            img[:, (2 * k) % size] = 255
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


@pytest.fixture(scope="module")
def ucf_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ucf")
    classes = {"ApplyLipstick": 30, "Biking": 120, "Diving": 210}
    train, test = [], []
    for ci, (name, level) in enumerate(classes.items()):
        (root / name).mkdir()
        for g in range(3):
            fname = f"v_{name}_g0{g + 1}_c01.avi"
            _write_clip(root / name / fname, 8 + 2 * g, level)
            (train if g < 2 else test).append((f"{name}/{fname}", ci + 1))
    ann = root / "splits"
    ann.mkdir()
    (ann / "trainlist01.txt").write_text("".join(f"{p} {c}\n" for p, c in train))
    (ann / "testlist01.txt").write_text("".join(f"{p}\n" for p, _ in test))
    return root, ann, list(classes.values())


def test_read_video_frames(ucf_folder):
    root, _, levels = ucf_folder
    fr = read_video_frames(root / "Biking" / "v_Biking_g01_c01.avi", frames=5, size=16)
    assert fr.shape == (5, 16, 16) and fr.dtype == torch.float32
    assert abs(float(fr[0, :, 8:].median()) - levels[1] / 255) < 0.05  # grey level survives the codec
    with pytest.raises(FileNotFoundError):
        read_video_frames(root / "nope.avi")


def test_video_folder_ucf101_layout(ucf_folder, tmp_path):
    root, ann, levels = ucf_folder
    bm = get_stream("video-folder")(root, layout="ucf101", annotation_path=ann, frames=6, size=16,
                                    n_experiences=3, progress=False, cache_dir=tmp_path)
    assert bm.class_names == ["ApplyLipstick", "Biking", "Diving"] and bm.num_classes == 3
    assert (bm.input_size, bm.seq_len) == (64, 6)
    x, y = _all_xy(bm.train_stream)
    assert x.shape == (6, 6, 64) and sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]
    for c in range(3):  # brightness orders the classes
        assert abs(float(x[y == c].median()) - levels[c] / 255) < 0.1
    assert len(list(tmp_path.glob("video_folder_*.pt"))) == 1
    again = video_folder(root, layout="ucf101", annotation_path=ann, frames=6, size=16, n_experiences=3,
                         progress=False, cache_dir=tmp_path)
    assert torch.equal(_all_xy(again.train_stream)[0], x)


def test_video_folder_other_layouts(ucf_folder, tmp_path):
    import shutil
    root, _, _ = ucf_folder
    # hmdb51: class folders plus <class>_test_split1.txt (1 train, 2 test, 0 unused)
    hm = tmp_path / "hmdb"
    shutil.copytree(root, hm, ignore=shutil.ignore_patterns("splits"))
    ann = tmp_path / "hmdb_splits"
    ann.mkdir()
    for name in ("ApplyLipstick", "Biking", "Diving"):
        (ann / f"{name}_test_split1.txt").write_text(
            f"v_{name}_g01_c01.avi 1\nv_{name}_g02_c01.avi 0\nv_{name}_g03_c01.avi 2\n")
    bm = video_folder(hm, layout="hmdb51", annotation_path=ann, frames=4, size=8, n_experiences=1,
                      encoder="raw", progress=False)
    assert len(bm.train_stream[0].dataset) == 3 and len(bm.test_stream[0].dataset) == 3 and bm.input_size == 64
    # kinetics: root/{train,val}/<class>/<clip>
    kin = tmp_path / "kin"
    for split in ("train", "val"):
        shutil.copytree(root, kin / split, ignore=shutil.ignore_patterns("splits"))
    bm = video_folder(kin, layout="kinetics", classes=["Diving", "Biking"], frames=4, size=8,
                      n_experiences=2, progress=False)
    assert bm.class_names == ["Diving", "Biking"] and len(bm.train_stream[0].dataset) == 3
    # plain folder: random split
    bm = video_folder(hm, layout="folder", test_fraction=0.34, frames=4, size=8, progress=False)
    assert len(bm.train_stream[0].dataset) == 6 and len(bm.test_stream[0].dataset) == 3


def test_video_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        video_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class folders"):
        video_folder(tmp_path, progress=False)
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match="trainlist01"):
        video_folder(tmp_path, layout="ucf101", progress=False)
    with pytest.raises(ValueError, match="unknown layout"):
        video_folder(tmp_path, layout="youtube", progress=False)


def test_lazy_stream_has_the_same_attributes():
    kw = dict(n_classes=4, n_train_per_class=2, n_test_per_class=1, n_experiences=2, images="digits",
              class_order=[3, 1, 0, 2])
    a, b = moving_actions(**kw), moving_actions(**kw, in_memory=False)
    for attr in ("input_size", "seq_len", "num_classes", "class_order", "class_names"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert sorted(b.train_stream[0].classes_in_this_experience) == [1, 3]


def test_lazy_stream_trains_with_avalanche_naive():
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    from selfrefresh.models import AutoHeteroRNN
    bm = moving_actions(n_classes=4, n_train_per_class=8, n_test_per_class=2, n_experiences=2, images="digits",
                        in_memory=False)
    torch.manual_seed(0)
    model = AutoHeteroRNN(bm.input_size, 16, bm.num_classes, cell="gru")
    before = [p.detach().clone() for p in model.parameters()]
    strategy = Naive(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                     criterion=nn.CrossEntropyLoss(), train_mb_size=8, train_epochs=1, eval_mb_size=8,
                     evaluator=EvaluationPlugin(loggers=[]), eval_every=-1)
    for exp in bm.train_stream:
        strategy.train(exp)
    assert strategy.clock.train_iterations == 4  # 2 experiences x 16 clips / minibatch 8
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
