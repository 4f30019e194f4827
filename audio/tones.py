"""Generated signals: the attention chime, the alert tone and the evacuation tone.

The evacuation tone follows the temporal-three pattern (ISO 8201): three 0.5 s
pulses with 0.5 s gaps, then 1.5 s of silence.
"""

from __future__ import annotations

import numpy as np

SIGNALS = ("chime", "alert", "evacuation")


def _tone(freq: float, seconds: float, rate: int, decay: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 2 * freq * t)
    if decay:
        wave *= np.exp(-t * decay)
    ramp = min(len(t) // 10, int(0.01 * rate))
    if ramp:
        env = np.ones_like(t)
        env[:ramp] = np.linspace(0, 1, ramp)
        env[-ramp:] = np.linspace(1, 0, ramp)
        wave *= env
    return wave


def _silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(seconds * rate))


def signal(name: str, rate: int) -> np.ndarray:
    """A float signal in -1..1 (level-matched later by the renderer)."""
    if name == "chime":
        parts = [_tone(784, 0.45, rate, 3.0), _tone(622, 0.7, rate, 2.5), _silence(0.3, rate)]
    elif name == "alert":
        parts = []
        for _ in range(3):
            parts += [_tone(1000, 0.15, rate), _silence(0.1, rate), _tone(800, 0.15, rate),
                      _silence(0.1, rate)]
        parts.append(_silence(0.4, rate))
    elif name == "evacuation":
        parts = []
        for _ in range(3):
            parts += [_tone(950, 0.5, rate), _silence(0.5, rate)]
        parts.append(_silence(1.0, rate))
    else:
        raise ValueError(f"unknown signal {name!r} (known: {', '.join(SIGNALS)})")
    wave = np.concatenate(parts)
    peak = np.max(np.abs(wave)) or 1.0
    return wave / peak
