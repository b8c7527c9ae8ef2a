"""Image files as model inputs: a decodability check, torchvision transforms, a lazy dataset.

Every image loader gives the model float32 (3, S, S) tensors normalised with the ImageNet
statistics (so local pretrained ResNet weights fit); grayscale X-rays are replicated to three
channels. JPEGs are decoded in draft mode (libjpeg's DCT scaling) at no less than the target
size, which keeps both the index-time check and training fast on full-size originals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fedhealth.errors import DataError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_IMAGE_SIZE = 64
MAX_NAMED = 5  # how many bad files a note names before it only counts


def open_rgb(path: Path, size: int) -> Image.Image:
    """Decode `path` to RGB, letting JPEG decode at a reduced scale no smaller than `size`."""
    with Image.open(path) as img:
        img.draft("RGB", (size, size))
        return img.convert("RGB")


def check_images(paths: Sequence[Path], size: int) -> tuple[np.ndarray, list[str]]:
    """Which files decode (a boolean mask), and a description of each that does not.

    A full draft-mode decode, not `Image.verify()`: verify skips JPEG entropy data, so a
    truncated file would pass it and fail later in training.
    """
    ok = np.zeros(len(paths), dtype=bool)
    bad: list[str] = []
    for i, path in enumerate(paths):
        try:
            open_rgb(path, size)
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            bad.append(f"{Path(path).name} ({type(err).__name__}: {err})")
            continue
        ok[i] = True
    return ok, bad


def skipped_note(what: str, bad: Sequence[str]) -> str:
    """One note line for skipped files: the count and the first few named."""
    named = "; ".join(bad[:MAX_NAMED]) + ("; ..." if len(bad) > MAX_NAMED else "")
    return f"skipped {len(bad)} {what}: {named}"


def image_transform(size: int, augment: bool = False) -> Callable[[Image.Image], object]:
    """Resize to `size`x`size`, optionally a light flip/rotate augmentation, normalise."""
    from torchvision import transforms

    steps: list[object] = [transforms.Resize((size, size), antialias=True)]
    if augment:
        steps += [transforms.RandomHorizontalFlip(), transforms.RandomVerticalFlip(),
                  transforms.RandomRotation(15)]
    steps += [transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return transforms.Compose(steps)


class ImageDataset:
    """`(x, y)` pairs read lazily from image files; x is the image, or (image, tabular).

    A map-style torch dataset (it needs only `__len__` and `__getitem__`). A file that
    passed the index-time check but fails now (changed on disk) raises `DataError` naming it.
    """

    def __init__(self, paths: Sequence[Path], labels: np.ndarray, size: int,
                 augment: bool = False, tabular: np.ndarray | None = None) -> None:
        import torch

        self.paths = [Path(p) for p in paths]
        self.size = size
        self.transform = image_transform(size, augment)
        self.labels = torch.as_tensor(np.asarray(labels))
        self.tabular = None if tabular is None else torch.as_tensor(
            np.asarray(tabular, dtype=np.float32))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[object, object]:
        try:
            image = self.transform(open_rgb(self.paths[i], self.size))
        except (OSError, ValueError) as err:
            raise DataError(f"image {self.paths[i]} can no longer be decoded: {err}") from None
        x = image if self.tabular is None else (image, self.tabular[i])
        return x, self.labels[i]


def keep_readable(frame: Any, paths: list[Path], size: int, folder: Path,
                  notes: list[str]) -> tuple[Any, list[Path]]:
    """Drop index rows whose image does not decode (counted in `notes`); none left is an error."""
    ok, bad = check_images(paths, size)
    if bad:
        notes.append(skipped_note("unreadable or missing images", bad))
    if not ok.any():
        raise DataError(f"no readable image under {folder} (first expected: {paths[0]})")
    return frame[ok].reset_index(drop=True), [p for p, keep in zip(paths, ok) if keep]
