"""Generating from a recorded run: load a checkpoint's generator and draw images."""

from __future__ import annotations

import math

import torch

from gan.config import TrainConfig
from gan.models import build_models
from gan.models.conditioning import NUM_CLASSES
from gan.store import Run
from gan.trainer import fixed_noise, sample_noise


def load_generator(run: Run, epoch: int | None = None, *, raw: bool = False) -> tuple[torch.nn.Module, TrainConfig]:
    """The run's generator at a kept checkpoint (default: the latest), in eval mode on the CPU: the
    averaged one when the run keeps an average (``ema_halflife``), unless ``raw``."""
    state = run.load_checkpoint(epoch)
    config = TrainConfig.from_json(state["config"])
    return _generator(config, state["G"] if raw or "G_ema" not in state else state["G_ema"]), config


def _generator(config: TrainConfig, weights: dict) -> torch.nn.Module:
    G, _ = build_models(config)
    G.load_state_dict(weights)
    return G.eval()


def raw_and_averaged(run: Run, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The snapshot grid's noise drawn by the raw and by the averaged generator at a kept checkpoint."""
    state = run.load_checkpoint(epoch)  # read once, both generators built from it
    config = TrainConfig.from_json(state["config"])
    noise, labels = fixed_noise(config)
    return tuple(generate(_generator(config, state[key]), noise, labels) for key in ("G", "G_ema"))


@torch.no_grad()
def generate(G: torch.nn.Module, noise: torch.Tensor, labels: torch.Tensor | None = None, *, chunk: int = 1000) -> torch.Tensor:
    """Images in [-1, 1], (N, 1, 28, 28), generated in chunks to bound memory."""
    label_parts = labels.split(chunk) if labels is not None else [None] * len(noise.split(chunk))
    return torch.cat([G(part, y) for part, y in zip(noise.split(chunk), label_parts)])


def sample_labels(config: TrainConfig, n: int, digit: int | None = None, *, cluster: int | None = None) -> torch.Tensor | None:
    """Labels for ``n`` samples of a conditional model: all ``digit``, or cycling 0..9; of a self-conditioned
    one: all ``cluster``; None if unconditional (a self-conditioned G then draws the cluster from its noise)."""
    if cluster is not None:
        if not 0 <= cluster < config.clusters:
            raise ValueError(f"cluster must be in [0, {config.clusters - 1}] for this run, got {cluster}"
                             if config.clusters else "cluster is only for self-conditioned runs (clusters > 0)")
        return torch.full((n,), cluster)
    if not config.conditional:
        if digit is not None:
            raise ValueError("digit is only for conditional runs (this run was trained without labels)")
        return None
    if digit is not None and not 0 <= digit < NUM_CLASSES:
        raise ValueError(f"digit must be in [0, {NUM_CLASSES - 1}], got {digit}")
    return torch.full((n,), digit) if digit is not None else torch.arange(n) % NUM_CLASSES


def sample(run: Run, n: int, *, epoch: int | None = None, seed: int = 0, digit: int | None = None,
           raw: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` images from the run's generator (its average, if it keeps one, unless ``raw``) and the labels
    they were asked for (None if unconditional)."""
    G, config = load_generator(run, epoch, raw=raw)
    labels = sample_labels(config, n, digit)
    return generate(G, noise_from_seed(config, seed, n), labels), labels


def noise_from_seed(config: TrainConfig, seed: int, n: int = 1) -> torch.Tensor:
    return sample_noise(config, n, torch.Generator().manual_seed(seed))


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, steps: int, *, mode: str = "linear") -> torch.Tensor:
    """``steps`` noise vectors from ``z_a`` to ``z_b`` (both included): on the straight line, or
    along the great circle (``spherical``), which keeps Gaussian noise at a typical norm."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    a, b = z_a.reshape(1, -1), z_b.reshape(1, -1)
    if mode == "linear":
        return (1 - t) * a + t * b
    if mode != "spherical":
        raise ValueError(f"mode must be 'linear' or 'spherical', got {mode!r}")
    return _slerp(a.double(), b.double(), t.double()).to(z_a.dtype)


ANGLE_EPS = 1e-6  # radians (in float64); closer to 0 or pi, sin(omega) is too small to divide by


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    omega = torch.arccos(torch.nn.functional.cosine_similarity(a, b).clamp(-1, 1))
    if omega < ANGLE_EPS:  # parallel: the arc is the straight line
        return (1 - t) * a + t * b
    if omega > math.pi - ANGLE_EPS:  # antiparallel: every great circle through a reaches b; take one
        return _half_turn(a, b, t)
    return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)


def _half_turn(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """From ``a`` to the antiparallel ``b`` through a direction orthogonal to both, the norm
    changing linearly from |a| to |b|."""
    unit = a / a.norm()
    other = torch.zeros_like(unit)
    other[0, unit.abs().argmin()] = 1.0  # the axis least aligned with a
    other = other - (other * unit).sum() * unit
    other = other / other.norm()
    direction = torch.cos(math.pi * t) * unit + torch.sin(math.pi * t) * other
    return direction * ((1 - t) * a.norm() + t * b.norm())
