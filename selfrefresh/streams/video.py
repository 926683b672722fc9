"""Class-incremental video streams: synthetic moving actions and real video folders.

``moving_actions`` animates real images (Fashion-MNIST when Debian's ``dataset-fashion-mnist``
is installed, else scikit-learn's digits) along class-specific motions on a toroidal canvas.
Every clip is computed from ``(seed, split, index)`` alone (:class:`MovingActionsDataset`), so a
stream too large for memory is served lazily; small streams are materialised into tensors.

``video_folder`` decodes a user's UCF101 / HMDB51 / Kinetics-layout folder with PyAV (its wheels
bundle FFmpeg) into the same per-step features.

Clips (T, H, W) in [0, 1] become sequences (T, F) through a frame encoder
(:mod:`selfrefresh.streams.frame_encoders`; default: pixels average-pooled to 8x8).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from .._files import CorruptFileError, load_torch_file
from .base import class_incremental_stream, resolve_class_order
from .frame_encoders import encode_frames, resolve_frame_encoder

__all__ = ["MOTIONS", "FASHION_MNIST_ROOT", "load_object_images", "MovingActionsDataset", "render_clips",
           "moving_actions", "video_folder", "read_video_frames", "lazy_class_incremental_stream"]

#: Motion classes, in the default order (the first ``n_classes`` are used).
MOTIONS = ("right", "left", "up", "down", "circle-cw", "circle-ccw", "zoom-in", "zoom-out",
           "bounce-horizontal", "bounce-vertical", "up-right", "down-left", "up-left", "down-right",
           "rotate-cw", "rotate-ccw")

#: Where Debian's ``dataset-fashion-mnist`` puts the IDX files.
FASHION_MNIST_ROOT = "/usr/share/datasets/fashion-mnist"

_DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1),  # y points down
               "up-right": (1, -1), "down-left": (-1, 1), "up-left": (-1, -1), "down-right": (1, 1)}
_LOG_SCALE = (math.log(0.3), math.log(0.8))  # object half-extent, as a fraction of the canvas half-width


# ------------------------------------------------------------------------------------------------
# Object images
# ------------------------------------------------------------------------------------------------
def _read_idx_images(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 16 or int.from_bytes(data[:4], "big") != 0x00000803:
        raise ValueError(f"{path}: not an IDX image file (magic number 0x803)")
    n, h, w = (int.from_bytes(data[4 + 4 * k: 8 + 4 * k], "big") for k in range(3))
    arr = np.frombuffer(data, dtype=np.uint8, count=n * h * w, offset=16)
    return arr.reshape(n, h, w).astype(np.float32) / 255.0


def _find_idx(root: Path, prefix: str) -> Path:
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"):
        if (root / name).is_file():
            return root / name
    hits = sorted(root.rglob(f"{prefix}-images*idx3*"))
    if not hits:
        raise FileNotFoundError(f"no {prefix}-images-idx3-ubyte[.gz] file under {root}")
    return hits[0]


def load_object_images(source: str = "auto", root: Optional[str] = None, seed: int = 0):
    """Images to animate: ``(train_images, test_images, source_name)``, float32 (N, h, w) in [0, 1].

    ``source``: ``"auto"`` (Fashion-MNIST if ``root`` is given or the default folder exists, else
    digits), ``"fashion-mnist"``
    (IDX files under ``root``, default :data:`FASHION_MNIST_ROOT`) or ``"digits"``
    (scikit-learn's 1797 8x8 digits, split 80/20 by a permutation drawn from ``seed``).
    Train and test clips animate disjoint images.
    """
    fm_root = Path(root or FASHION_MNIST_ROOT)
    if source == "auto":  # an explicit root must exist
        source = "fashion-mnist" if root is not None or fm_root.is_dir() else "digits"
    if source == "fashion-mnist":
        if not fm_root.is_dir():
            raise FileNotFoundError(f"Fashion-MNIST folder {fm_root} not found (Debian package "
                                    f"dataset-fashion-mnist); use images='digits'")
        return _read_idx_images(_find_idx(fm_root, "train")), _read_idx_images(_find_idx(fm_root, "t10k")), source
    if source == "digits":
        from sklearn.datasets import load_digits
        imgs = load_digits().images.astype(np.float32) / 16.0
        perm = np.random.RandomState(seed).permutation(len(imgs))
        cut = int(0.8 * len(imgs))
        return imgs[perm[:cut]], imgs[perm[cut:]], source
    raise ValueError(f"unknown image source {source!r}; use 'auto', 'fashion-mnist' or 'digits'")


# ------------------------------------------------------------------------------------------------
# Trajectories and rendering
# ------------------------------------------------------------------------------------------------
def _wrap(u):
    return (u + 1.0) % 2.0 - 1.0


def _trajectory(motion: str, rng: np.random.Generator, frames: int) -> np.ndarray:
    """(T, 4) rows (cx, cy, scale, angle) in canvas coordinates [-1, 1) (torus).

    Every frame's position, scale and angle are uniformly distributed whatever the motion
    (uniform start on the torus, random phases), so one frame does not reveal the class.
    """
    t = np.arange(frames, dtype=np.float64)
    c0 = rng.uniform(-1.0, 1.0, size=2)
    log_s = rng.uniform(*_LOG_SCALE)
    a0 = rng.uniform(-math.pi, math.pi)
    cx, cy = np.full(frames, c0[0]), np.full(frames, c0[1])
    log_scale, angle = np.full(frames, log_s), np.full(frames, a0)
    if motion in _DIRECTIONS:
        d = np.asarray(_DIRECTIONS[motion], dtype=np.float64)
        d /= np.linalg.norm(d)
        v = rng.uniform(1.2, 2.4) / frames  # 0.6 to 1.2 canvas widths per clip
        cx, cy = c0[0] + v * d[0] * t, c0[1] + v * d[1] * t
    elif motion in ("circle-cw", "circle-ccw"):
        r = rng.uniform(0.35, 0.6)
        w = (1 if motion == "circle-cw" else -1) * 2 * math.pi * rng.uniform(0.8, 1.2) / frames
        ph = rng.uniform(0, 2 * math.pi) + w * t
        cx, cy = c0[0] + r * np.cos(ph), c0[1] + r * np.sin(ph)  # y down: increasing angle is clockwise
    elif motion in ("zoom-in", "zoom-out"):
        lo, hi = _LOG_SCALE
        rate = (1 if motion == "zoom-in" else -1) * rng.uniform(0.5, 0.9) / frames
        log_scale = lo + (hi - lo) * ((rng.uniform() + rate * t) % 1.0)  # sawtooth with a random phase
    elif motion in ("bounce-horizontal", "bounce-vertical"):
        amp = rng.uniform(0.3, 0.6)
        cycles = rng.uniform(1.0, 1.5) / frames
        u = (rng.uniform() + cycles * t) % 1.0
        tri = 4 * np.abs(u - 0.5) - 1  # triangle wave in [-1, 1]
        if motion == "bounce-horizontal":
            cx = c0[0] + amp * tri
        else:
            cy = c0[1] + amp * tri
    elif motion in ("rotate-cw", "rotate-ccw"):
        w = (1 if motion == "rotate-cw" else -1) * 2 * math.pi * rng.uniform(0.5, 1.0) / frames
        angle = a0 + w * t
    else:
        raise ValueError(f"unknown motion {motion!r}; choose from {', '.join(MOTIONS)}")
    return np.stack([_wrap(cx), _wrap(cy), np.exp(log_scale), angle], axis=1)


def render_clips(images: Tensor, trajectories: Tensor, size: int) -> Tensor:
    """Draw images along trajectories on a toroidal canvas.

    Args:
        images: (B, h, w) objects in [0, 1].
        trajectories: (B, T, 4) rows (cx, cy, scale, angle), canvas coordinates in [-1, 1).
        size: canvas side in pixels.

    Returns:
        clips (B, T, size, size) in [0, 1].
    """
    b, t, _ = trajectories.shape
    traj = trajectories.to(torch.float32).reshape(b * t, 1, 1, 4)
    p = (2 * torch.arange(size, dtype=torch.float32) + 1) / size - 1
    gy, gx = torch.meshgrid(p, p, indexing="ij")
    dx = _wrap(gx - traj[..., 0])
    dy = _wrap(gy - traj[..., 1])
    cos, sin, s = torch.cos(traj[..., 3]), torch.sin(traj[..., 3]), traj[..., 2]
    grid = torch.stack([(cos * dx + sin * dy) / s, (-sin * dx + cos * dy) / s], dim=-1)
    src = images.to(torch.float32).unsqueeze(1).repeat_interleave(t, dim=0)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out.reshape(b, t, size, size)


class MovingActionsDataset(Dataset):
    """Clips of moving images, clip ``i`` computed from ``(seed, split, i)`` only.

    Item ``i`` is ``(x, y)``: x float32 (T, F) encoded frames, y the motion class
    (``i // n_per_class``). ``targets`` lists all labels without rendering anything.

    Args:
        images: (N, h, w) pool of objects in [0, 1]; each clip draws one.
        motions: motion names, one class each.
        n_per_class: clips per class.
        frames, size: clip length T and canvas side.
        encoder: frame encoder (N, H, W) -> (N, F).
        seed, split: identify the random stream (``split`` 0 = train, 1 = test).
        noise: std of Gaussian pixel noise added to each frame.
    """

    def __init__(self, images, motions: Sequence[str], n_per_class: int, frames: int, size: int,
                 encoder, seed: int = 0, split: int = 0, noise: float = 0.0):
        if n_per_class < 1:
            raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
        if frames < 2 or size < 4:
            raise ValueError(f"need frames >= 2 and size >= 4, got frames={frames}, size={size}")
        for m in motions:
            if m not in MOTIONS:
                raise ValueError(f"unknown motion {m!r}; choose from {', '.join(MOTIONS)}")
        self.images = torch.as_tensor(np.asarray(images), dtype=torch.float32)
        if self.images.dim() != 3 or len(self.images) == 0:
            raise ValueError(f"images must be a non-empty (N, h, w) array, got shape {tuple(self.images.shape)}")
        self.motions, self.n_per_class = tuple(motions), n_per_class
        self.frames, self.size, self.encoder = frames, size, encoder
        self.seed, self.split, self.noise = seed, split, float(noise)
        self.targets = [i // n_per_class for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.motions) * self.n_per_class

    def _params(self, i: int):
        rng = np.random.default_rng((self.seed, self.split, i))
        img = int(rng.integers(len(self.images)))
        traj = _trajectory(self.motions[self.targets[i]], rng, self.frames)
        noise = rng.standard_normal((self.frames, self.size, self.size)) * self.noise if self.noise else None
        return img, traj, noise

    def clips(self, indices: Sequence[int]) -> Tensor:
        """Raw frames (B, T, size, size) of the clips ``indices``."""
        params = [self._params(int(i)) for i in indices]
        imgs = self.images[[p[0] for p in params]]
        traj = torch.as_tensor(np.stack([p[1] for p in params]))
        out = render_clips(imgs, traj, self.size)
        if self.noise:
            out = out + torch.as_tensor(np.stack([p[2] for p in params]), dtype=torch.float32)
        return out

    def encode(self, indices: Sequence[int]) -> Tensor:
        """Encoded clips (B, T, F)."""
        return encode_frames(self.encoder, self.clips(indices))

    def __getitem__(self, i: int):
        if not -len(self) <= i < len(self):
            raise IndexError(f"clip {i} out of range for {len(self)} clips")
        i = i % len(self)
        return self.encode([i])[0], torch.tensor(self.targets[i], dtype=torch.long)

    def materialize(self, batch_size: int = 256, progress: bool = False):
        """All clips as tensors: x (N, T, F) float32, y (N,) int64."""
        from tqdm.auto import tqdm
        starts = range(0, len(self), batch_size)
        xs = [self.encode(range(s, min(s + batch_size, len(self))))
              for s in tqdm(starts, desc="moving-actions", disable=not progress)]
        return torch.cat(xs), torch.as_tensor(self.targets, dtype=torch.long)


def lazy_class_incremental_stream(train_ds: Dataset, test_ds: Dataset, *, n_experiences: int,
                                  class_order: Optional[Sequence[int]] = None, seed: int = 0,
                                  class_names: Optional[Sequence[str]] = None):
    """Class-incremental benchmark over map-style datasets with a ``targets`` list whose items
    ``(x (T, F), y)`` are computed on access, as :func:`~selfrefresh.streams.base.class_incremental_stream`
    does for tensors (same attributes). Avalanche 0.6.0 wraps any dataset exposing ``targets``
    (task label 0) and splits it by class through index subsets, without touching the items."""
    from avalanche.benchmarks.scenarios.supervised import class_incremental_benchmark
    num_classes = max(train_ds.targets) + 1
    if sorted(set(train_ds.targets)) != list(range(num_classes)) or set(test_ds.targets) != set(train_ds.targets):
        raise ValueError("train and test labels must both be contiguous 0..C-1")
    if n_experiences < 1 or num_classes % n_experiences:
        raise ValueError(f"{num_classes} classes cannot be split evenly into {n_experiences} experiences")
    order = resolve_class_order(num_classes, class_order, seed)
    bm = class_incremental_benchmark({"train": train_ds, "test": test_ds}, class_order=order,
                                     num_classes_per_exp=[num_classes // n_experiences] * n_experiences)
    x0 = train_ds[0][0]
    bm.input_size, bm.seq_len, bm.num_classes = int(x0.shape[-1]), int(x0.shape[0]), num_classes
    bm.class_order, bm.class_names = order, None if class_names is None else [str(c) for c in class_names]
    return bm


def moving_actions(n_classes: int = 10, n_train_per_class: int = 100, n_test_per_class: int = 50, *,
                   frames: int = 16, size: int = 32, encoder=None, motions: Optional[Sequence[str]] = None,
                   n_experiences: int = 5, class_order: Optional[Sequence[int]] = None, seed: int = 0,
                   images: str = "auto", images_root: Optional[str] = None, noise: float = 0.0,
                   in_memory: Optional[bool] = None, progress: bool = False):
    """Class-incremental stream of moving-image clips; the class is the motion.

    Args:
        n_classes: the first ``n_classes`` of :data:`MOTIONS` (ignored when ``motions`` is given).
        n_train_per_class, n_test_per_class: clips per class; test clips animate held-out images.
        frames, size: T frames of size x size pixels.
        encoder: ``None``/``"pixels"`` (average-pool to 8x8), ``"raw"``, or a callable / nn.Module
            (N, H, W) -> (N, F) applied to every frame.
        images: ``"auto"``, ``"fashion-mnist"`` or ``"digits"`` (see :func:`load_object_images`).
        noise: std of Gaussian pixel noise.
        in_memory: materialise the features into tensors (``None``: when they take under 512 MB);
            otherwise each clip is rendered and encoded on access.

    Returns:
        An Avalanche benchmark; items ``(x, y, t)`` with x (frames, F). Attributes ``input_size``,
        ``num_classes``, ``seq_len``, ``class_order``, ``class_names`` (the motions), ``image_source``.
    """
    if motions is None:
        if not 1 <= n_classes <= len(MOTIONS):
            raise ValueError(f"n_classes must be in 1..{len(MOTIONS)}, got {n_classes}")
        motions = MOTIONS[:n_classes]
    motions = tuple(motions)
    if len(set(motions)) != len(motions):
        raise ValueError(f"motions must be distinct, got {motions}")
    train_imgs, test_imgs, source = load_object_images(images, images_root, seed)
    enc = resolve_frame_encoder(encoder, size)
    kw = dict(motions=motions, frames=frames, size=size, encoder=enc, seed=seed, noise=noise)
    train = MovingActionsDataset(train_imgs, n_per_class=n_train_per_class, split=0, **kw)
    test = MovingActionsDataset(test_imgs, n_per_class=n_test_per_class, split=1, **kw)
    input_size = int(train[0][0].shape[-1])
    common = dict(n_experiences=n_experiences, class_order=class_order, seed=seed, class_names=motions)
    if in_memory is None:
        in_memory = (len(train) + len(test)) * frames * input_size * 4 < 512 * 2 ** 20
    if in_memory:
        (tx, ty), (ex, ey) = train.materialize(progress=progress), test.materialize(progress=progress)
        bm = class_incremental_stream(tx, ty, ex, ey, **common)
    else:
        bm = lazy_class_incremental_stream(train, test, **common)
    bm.image_source = source
    return bm


# ------------------------------------------------------------------------------------------------
# Real video folders
# ------------------------------------------------------------------------------------------------
_VIDEO_EXTS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".m4v")


def _require_av():
    try:
        import av  # noqa: F401
    except ImportError as e:  # pragma: no cover - av is a dependency
        raise ImportError("video_folder needs PyAV (pip install av), whose wheels bundle FFmpeg") from e
    return av


def read_video_frames(path, frames: int = 16, size: int = 32) -> Tensor:
    """Decode a video file into ``frames`` grey frames sampled evenly over its length.

    Returns (frames, size, size) float32 in [0, 1] (each frame resized to size x size; a video
    shorter than ``frames`` repeats frames).
    """
    av = _require_av()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video file {path} not found")
    decoded = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                decoded.append(frame.to_ndarray(width=size, height=size, format="gray"))
    except (av.error.FFmpegError, IndexError) as e:
        raise ValueError(f"cannot decode video {path}: {e}") from e
    if not decoded:
        raise ValueError(f"video {path} has no frames")
    idx = np.linspace(0, len(decoded) - 1, frames).round().astype(int)
    return torch.as_tensor(np.stack([decoded[k] for k in idx]), dtype=torch.float32) / 255.0


def _classes(root: Path):
    names = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not names:
        raise ValueError(f"no class folders in {root}")
    return names


def _clips_in(folder: Path):
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in _VIDEO_EXTS and p.is_file())


def _read_lines(f: Path, what: str):
    if not f.is_file():
        raise FileNotFoundError(f"{what} split file {f} not found")
    return [line.split() for line in f.read_text().split("\n") if line.strip()]


def _split_ucf101(root: Path, annotation_path: Path, fold: int):
    lists = {s: _read_lines(annotation_path / f"{s}list0{fold}.txt", "UCF101") for s in ("train", "test")}
    ind = annotation_path / "classInd.txt"
    if ind.is_file():  # "1 ApplyEyeMakeup"
        classes = [parts[1] for parts in sorted(_read_lines(ind, "UCF101"), key=lambda p: int(p[0]))]
    else:
        classes = sorted({parts[0].split("/")[0] for parts in lists["train"]})
    out = {}
    for split, lines in lists.items():
        items = []
        for parts in lines:
            name = parts[0].split("/")[0]
            if name not in classes:
                raise ValueError(f"UCF101 {split} list names class {name!r}, not in {classes}")
            items.append((root / parts[0], classes.index(name)))
        out[split] = items
    return classes, out["train"], out["test"]


def _split_hmdb51(root: Path, annotation_path: Path, fold: int):
    suffix = f"_test_split{fold}.txt"
    classes = sorted(f.name[: -len(suffix)] for f in annotation_path.glob(f"*{suffix}"))
    if not classes:
        raise FileNotFoundError(f"no HMDB51 split files <class>{suffix} in {annotation_path}")
    train, test = [], []
    for c, name in enumerate(classes):
        for parts in _read_lines(annotation_path / f"{name}{suffix}", "HMDB51"):
            if len(parts) == 2 and parts[1] in ("1", "2"):
                (train if parts[1] == "1" else test).append((root / name / parts[0], c))
    return classes, train, test


def _split_kinetics(root: Path, train_dir: str = "train", test_dir: str = "val"):
    for d in (train_dir, test_dir):
        if not (root / d).is_dir():
            raise FileNotFoundError(f"Kinetics layout needs {root / d}/<class>/<clip>")
    classes = _classes(root / train_dir)
    splits = []
    for d in (train_dir, test_dir):
        items = []
        for c, name in enumerate(classes):
            items += [(p, c) for p in _clips_in(root / d / name)] if (root / d / name).is_dir() else []
        splits.append(items)
    return classes, splits[0], splits[1]


def _split_folder(root: Path, test_fraction: float, seed: int):
    classes = _classes(root)
    rng = np.random.RandomState(seed)
    train, test = [], []
    for c, name in enumerate(classes):
        clips = _clips_in(root / name)
        perm = rng.permutation(len(clips))
        n_test = int(round(test_fraction * len(clips)))
        test += [(clips[k], c) for k in perm[:n_test]]
        train += [(clips[k], c) for k in perm[n_test:]]
    return classes, train, test


def _decode_all(items, frames, size, encoder, desc, progress):
    from tqdm.auto import tqdm
    xs = [encode_frames(encoder, read_video_frames(p, frames, size))
          for p, _ in tqdm(items, desc=desc, disable=not progress)]
    return torch.stack(xs), torch.as_tensor([c for _, c in items], dtype=torch.long)


def video_folder(root, layout: str = "folder", *, annotation_path=None, fold: int = 1,
                 classes: Optional[Sequence[str]] = None, frames: int = 16, size: int = 32, encoder=None,
                 n_experiences: int = 1, class_order: Optional[Sequence[int]] = None, seed: int = 0,
                 test_fraction: float = 0.3, cache_dir=None, progress: bool = True):
    """Class-incremental stream from a folder of videos, decoded with PyAV.

    Layouts (torchvision's):

    * ``"ucf101"``: ``root/<Class>/<clip>.avi`` and ``annotation_path/{train,test}list0{fold}.txt``;
    * ``"hmdb51"``: ``root/<class>/<clip>.avi`` and ``annotation_path/<class>_test_split{fold}.txt``
      (1 = train, 2 = test);
    * ``"kinetics"``: ``root/train/<class>/<clip>`` and ``root/val/<class>/<clip>``;
    * ``"folder"``: ``root/<class>/<clip>``, split at random (``test_fraction`` per class, ``seed``).

    Each clip becomes ``frames`` grey frames sampled evenly over its length, resized to size x size,
    encoded frame by frame (``encoder`` as in :func:`moving_actions`). ``classes`` keeps a subset
    (relabelled in that order). With ``cache_dir``, the features are stored there keyed by the
    parameters and reused.

    Returns:
        An Avalanche benchmark with attributes ``input_size``, ``num_classes``, ``seq_len``, ``class_names``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"video folder {root} not found")
    _require_av()
    ann = Path(annotation_path) if annotation_path is not None else root
    if layout == "ucf101":
        names, train, test = _split_ucf101(root, ann, fold)
    elif layout == "hmdb51":
        names, train, test = _split_hmdb51(root, ann, fold)
    elif layout == "kinetics":
        names, train, test = _split_kinetics(root)
    elif layout == "folder":
        names, train, test = _split_folder(root, test_fraction, seed)
    else:
        raise ValueError(f"unknown layout {layout!r}; use 'ucf101', 'hmdb51', 'kinetics' or 'folder'")
    if classes is not None:
        missing = [c for c in classes if c not in names]
        if missing:
            raise ValueError(f"classes {missing} not in {root} (found {names})")
        remap = {names.index(c): k for k, c in enumerate(classes)}
        train = [(p, remap[c]) for p, c in train if c in remap]
        test = [(p, remap[c]) for p, c in test if c in remap]
        names = list(classes)
    if not train or not test:
        raise ValueError(f"{root}: empty split ({len(train)} train and {len(test)} test clips)")
    enc = resolve_frame_encoder(encoder, size)
    cache = None
    if cache_dir is not None:
        key = json.dumps([str(root.resolve()), layout, str(ann), fold, names, frames, size, repr(enc), seed,
                          test_fraction, [str(p) for p, _ in train + test]])
        cache = Path(cache_dir) / f"video_folder_{hashlib.sha1(key.encode()).hexdigest()[:16]}.pt"
    cached = None
    if cache is not None and cache.is_file():
        try:
            cached = load_torch_file(cache, what="video cache")
        except CorruptFileError:
            cached = None  # a damaged cache file is a cache miss: decoded again and replaced
        if not (isinstance(cached, (tuple, list)) and len(cached) == 4):
            cached = None
    if cached is not None:
        tx, ty, ex, ey = cached
    else:
        tx, ty = _decode_all(train, frames, size, enc, "decode train", progress)
        ex, ey = _decode_all(test, frames, size, enc, "decode test", progress)
        if cache is not None:
            os.makedirs(cache.parent, exist_ok=True)
            torch.save((tx, ty, ex, ey), cache)
    return class_incremental_stream(tx, ty, ex, ey, n_experiences=n_experiences, class_order=class_order,
                                    seed=seed, class_names=names)
