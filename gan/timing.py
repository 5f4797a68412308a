"""Time as the CLI and the dashboard show it: estimated time left, and durations in words."""

from __future__ import annotations

import math


def eta_seconds(remaining_steps: int, batch_size: int, images_per_s: float) -> float | None:
    """Seconds left at the current speed; None before a speed is known."""
    if not images_per_s or not math.isfinite(images_per_s):
        return None
    return remaining_steps * batch_size / images_per_s


def duration_text(seconds: float | None) -> str:
    """``42 s``, ``5 min 03 s``, ``2 h 05 min``; ``–`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"
