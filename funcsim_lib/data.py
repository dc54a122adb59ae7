"""Data sets as in-memory tensors, and augmentation on tensors.

Both data sets are small enough to live in memory, so they are loaded once,
normalised with the training set's per-channel statistics, and every random
operation during training (shuffling, crops, flips) runs on tensors with an
explicit ``torch.Generator``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from funcsim_lib.config import DataConfig

log = logging.getLogger(__name__)

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass(frozen=True)
class Dataset:
    """Normalised images ``(n, channels, height, width)`` and int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    classes: tuple[str, ...]
    source: str  # where the images were read from, for the manifest

    def to(self, device: str | torch.device) -> Dataset:
        moved = {
            name: getattr(self, name).to(device)
            for name in ("train_x", "train_y", "test_x", "test_y")
        }
        return Dataset(**moved, classes=self.classes, source=self.source)


def load_dataset(config: DataConfig) -> Dataset:
    """Load, split, subset and normalise the data set that ``config`` names."""
    if config.name == "digits":
        train, test, classes, source = _load_digits(config)
    else:
        train, test, classes, source = _load_cifar10(config)
    train = _stratified_subset(*train, config.n_train, "data.n_train")
    test = _stratified_subset(*test, config.n_test, "data.n_test")
    return _normalise(_decoded(train), _decoded(test), classes, source)


def _load_digits(config: DataConfig):
    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    x_train, x_test, y_train, y_test = train_test_split(
        images,
        labels,
        test_size=config.test_fraction,
        stratify=labels,
        random_state=config.split_seed,
    )
    classes = tuple(str(i) for i in range(10))
    return (x_train, y_train), (x_test, y_test), classes, "sklearn.datasets.load_digits"


def _stratified_subset(x, y: np.ndarray, n: int | None, name: str):
    """Keep a stratified subset of ``n`` examples; ``x`` is an array or paths."""
    if n is None or n == len(y):
        return x, y
    if n > len(y):
        raise ValueError(f"{name} must be at most {len(y)} for this data, got {n}")
    # A fixed seed: the subset is part of the data, not of a run's randomness.
    keep, _ = train_test_split(
        np.arange(len(y)), train_size=n, stratify=y, random_state=0
    )
    keep = np.sort(keep)
    if isinstance(x, list):
        return [x[i] for i in keep], y[keep]
    return x[keep], y[keep]


def _decoded(split):
    """Decode image files of a split given as paths; arrays pass through."""
    x, y = split
    if isinstance(x, list):
        x = np.stack([_read_rgb(path) for path in x])
    return x, y


def _normalise(train, test, classes, source) -> Dataset:
    x_train, y_train = train
    x_test, y_test = test
    x_train = _as_float(x_train)
    x_test = _as_float(x_test)
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    std = x_train.std(axis=(0, 2, 3), keepdims=True, dtype=np.float64)
    scale = lambda x: torch.from_numpy(((x - mean) / std).astype(np.float32))  # noqa: E731
    labels = lambda y: torch.from_numpy(np.asarray(y, dtype=np.int64))  # noqa: E731
    return Dataset(
        train_x=scale(x_train),
        train_y=labels(y_train),
        test_x=scale(x_test),
        test_y=labels(y_test),
        classes=classes,
        source=source,
    )


def _as_float(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    return x.astype(np.float32)


def _load_cifar10(config: DataConfig):
    if config.root is None:
        raise ValueError(
            "data.root is required for cifar10: a folder holding torchvision's "
            "cifar-10-batches-py, or train/ and test/ class folders"
        )
    root = Path(config.root).expanduser()
    if (root / "train").is_dir() and (root / "test").is_dir():
        return _load_image_folders(root)
    return _load_torchvision_cifar10(root, config.download)


def _load_torchvision_cifar10(root: Path, download: bool):
    from torchvision.datasets import CIFAR10

    if not download and not (root / "cifar-10-batches-py").is_dir():
        raise FileNotFoundError(
            f"CIFAR-10 not found in data.root={str(root)!r}: expected "
            f"{root / 'cifar-10-batches-py'} (torchvision's layout) or train/ and "
            "test/ class folders. Set data.download=True where the network allows, "
            "or point data.root at a copy."
        )
    splits = []
    for train in (True, False):
        data = CIFAR10(str(root), train=train, download=download)
        # data.data is uint8 (n, 32, 32, 3); the model wants channels first.
        splits.append((data.data.transpose(0, 3, 1, 2), np.asarray(data.targets)))
    return splits[0], splits[1], CIFAR10_CLASSES, f"torchvision CIFAR10 at {root}"


def _load_image_folders(root: Path):
    from torchvision.datasets import ImageFolder

    splits = []
    classes: tuple[str, ...] = ()
    for split in ("train", "test"):
        folder = ImageFolder(str(root / split))
        if classes and tuple(folder.classes) != classes:
            raise ValueError(
                f"class folders differ between {root / 'train'} and {root / 'test'}: "
                f"{classes} vs {tuple(folder.classes)}"
            )
        classes = tuple(folder.classes)
        labels = np.asarray(folder.targets)
        # Paths only: images are decoded after subsetting, see _decoded.
        splits.append(([path for path, _ in folder.samples], labels))
        log.info("found %d images in %s", len(labels), root / split)
    return splits[0], splits[1], classes, f"image folders at {root}"


def _read_rgb(path: str) -> np.ndarray:
    """Return an image file as uint8 ``(3, height, width)``.

    ImageFolder picks files by their extension only, so a file named
    ``.jpg`` that is not an image reaches this point. PIL raises ``OSError``
    for it (``UnidentifiedImageError``) and for a cut-short image.
    """
    from PIL import Image

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB")).transpose(2, 0, 1)
    except OSError as error:
        raise ValueError(
            f"cannot read {path} as an image: {error}. The class folders under "
            "data.root must contain image files only; move or delete this file."
        ) from error


def augment(
    x: torch.Tensor, generator: torch.Generator, crop_padding: int, hflip: bool
) -> torch.Tensor:
    """Return a randomly cropped and flipped copy of batch ``x``.

    Each image gets its own crop offset and flip, drawn from ``generator``
    (which lives on the CPU, so the draws are the same on any device).
    """
    if crop_padding == 0 and not hflip:
        return x
    n, _, height, width = x.shape
    if crop_padding:
        pad = crop_padding
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
        offsets = offsets.to(x.device)
        rows = offsets[:, 0, None] + torch.arange(height, device=x.device)
        cols = offsets[:, 1, None] + torch.arange(width, device=x.device)
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, channel, rows[:, None, :, None], cols[:, None, None, :]]
    if hflip:
        flip = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
    return x
