"""Turning generator output into pictures: uint8 arrays, composed grids, PNG bytes, GIFs."""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid


def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] (any of (N, 28, 28), (N, 1, 28, 28); tensor or array) -> uint8 (N, 28, 28)."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 28, 28)
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def grid_image(images, nrow: int, *, padding: int = 2) -> np.ndarray:
    """One composed uint8 (H, W) picture of the images, ``nrow`` per row, on a black background."""
    x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(-1, 1, 28, 28)
    grid = make_grid(x, nrow=nrow, padding=padding, normalize=True, value_range=(-1, 1), pad_value=0.0)
    return (grid[0] * 255).round().to(torch.uint8).numpy()


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """``.npy`` file contents (never pickled)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def gif_bytes(frames: list[np.ndarray], *, seconds_per_frame: float = 0.5) -> bytes:
    """An animated GIF of equally sized uint8 frames, looping forever."""
    pictures = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(buffer, format="GIF", save_all=True, append_images=pictures[1:],
                     duration=int(seconds_per_frame * 1000), loop=0)
    return buffer.getvalue()
