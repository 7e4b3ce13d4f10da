"""Terrain for the walker: a height field (a polyline with increasing x) and its physics.

The terrain is kept as an ``(N, 2)`` float64 array of surface vertices ``(x, y)`` in metres with
strictly increasing ``x``. Keeping it a height field makes the range-finder exact and cheap
(:func:`heights_at` is one ``np.interp`` call instead of a ray cast per beam) and makes drawing a
single polygon. All randomness comes from the generator passed in, so a seeded environment gets
the same course every time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymunk

TERRAIN_STEP = 0.25  # m between vertices of bumps and slopes
TERRAIN_RADIUS = 0.05  # m; thick segments so fast feet cannot tunnel through
STEP_RISER = 0.02  # m of x over which a step rises, keeping x strictly increasing
MAX_ABS_HEIGHT = 1.5  # m; slopes are biased back towards y=0 beyond half of this
WALL_HEIGHT = 20.0  # m; a wall at x=0 stops the robot from walking off the left end


MIN_LENGTH = 1.0  # m; the shortest course or ground accepted
MAX_LENGTH = 1100.0  # m; the walker's longest course plus its start and tail


def checked_length(value: Any, name: str, maximum: float = MAX_LENGTH, minimum: float = MIN_LENGTH) -> float:
    """``value`` as a length in metres within ``[minimum, maximum]``, else a one-line
    ``ValueError``: 0 or NaN would divide by zero or poison every reward, 1e9 would never
    finish drawing a rough course."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number of metres, got {str(value)[:40]!r}")
    length = float(value)
    if not minimum <= length <= maximum:   # also false for NaN
        raise ValueError(f"{name} must lie in [{minimum:g}, {maximum:g}] m, got {value!r}")
    return length


def flat_terrain(length: float) -> np.ndarray:
    """Return the vertices of flat ground at ``y = 0`` from ``x = 0`` to ``length``."""
    length = checked_length(length, "terrain length")
    return np.array([[0.0, 0.0], [length, 0.0]])


def rough_terrain(rng: np.random.Generator, length: float, start_pad: float) -> np.ndarray:
    """Return the vertices of seeded uneven ground: bumps, slopes and small steps.

    The first ``start_pad`` metres are flat so that every episode starts on level ground.
    Features are drawn one after another until ``length`` is covered; heights stay within
    about ``MAX_ABS_HEIGHT`` of zero because slopes are pushed back towards zero.
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rough_terrain needs a numpy Generator, got {type(rng).__name__}")
    length = checked_length(length, "terrain length")
    start_pad = checked_length(start_pad, "start_pad", maximum=length, minimum=0.0)
    xs: list[float] = [0.0, start_pad]
    ys: list[float] = [0.0, 0.0]
    x, y = start_pad, 0.0
    while x < length:
        kind = int(rng.integers(4))
        if kind == 0:  # level stretch: a rest between obstacles
            x += float(rng.uniform(1.0, 3.0))
            xs.append(x)
            ys.append(y)
        elif kind == 1:  # a smooth bump (or dip): raised cosine
            width = float(rng.uniform(1.5, 4.0))
            height = float(rng.uniform(0.05, 0.3)) * (1.0 if rng.random() < 0.7 else -1.0)
            n = max(int(width / TERRAIN_STEP), 2)
            t = np.arange(1, n + 1) / n
            xs.extend((x + width * t).tolist())
            ys.extend((y + height * 0.5 * (1.0 - np.cos(2.0 * np.pi * t))).tolist())
            x += width
        elif kind == 2:  # a slope, steeper bias back towards the middle height
            run = float(rng.uniform(2.0, 5.0))
            grade = float(rng.uniform(-0.15, 0.15))
            if abs(y) > 0.5 * MAX_ABS_HEIGHT:
                grade = -np.sign(y) * abs(grade)
            n = max(int(run / TERRAIN_STEP), 1)
            t = np.arange(1, n + 1) / n
            xs.extend((x + run * t).tolist())
            ys.extend((y + grade * run * t).tolist())
            x += run
            y += grade * run
        else:  # a small step up or down, then a landing
            rise = float(rng.uniform(0.05, 0.15))
            rise = -rise if (y > 0.5 * MAX_ABS_HEIGHT or rng.random() < 0.4) else rise
            y += rise
            x += STEP_RISER
            xs.append(x)
            ys.append(y)
            x += float(rng.uniform(1.0, 2.0))
            xs.append(x)
            ys.append(y)
    # A flat run-out after the last feature.
    xs.append(x + 1.0)
    ys.append(y)
    return np.column_stack([xs, ys])


def check_terrain(points: Any) -> np.ndarray:
    """``points`` as terrain vertices, else a one-line ``ValueError``: an ``(N, 2)`` array,
    ``N >= 2``, finite, with strictly increasing ``x`` (what drawing and the range-finder
    assume), no longer than :data:`MAX_LENGTH`."""
    arr = np.asarray(points, dtype=np.float64) if not isinstance(points, np.ndarray) else points
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2 or arr.dtype.kind not in "iuf":
        raise ValueError(f"terrain must be an (N >= 2, 2) array of x, y vertices, got shape {arr.shape}")
    if not np.isfinite(arr).all() or not (np.diff(arr[:, 0]) > 0).all():
        raise ValueError("terrain vertices must be finite with strictly increasing x")
    if arr[-1, 0] - arr[0, 0] > MAX_LENGTH + 100.0:
        raise ValueError(f"terrain longer than {MAX_LENGTH:g} m")
    return arr


def heights_at(points: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Terrain surface height at each of ``xs`` (held constant beyond the ends)."""
    return np.interp(xs, points[:, 0], points[:, 1])


def add_terrain(space: pymunk.Space, points: np.ndarray, friction: float, collision_type: int) -> None:
    """Add the terrain as static segments (and a wall at its left end) to ``space``.

    The segments are shifted down by their radius so that the collision surface coincides
    with the polyline that is drawn and that the range-finder reads.
    """
    check_terrain(points)
    if isinstance(friction, bool) or not isinstance(friction, (int, float, np.integer, np.floating)) \
            or not 0.0 <= friction < np.inf:
        raise ValueError(f"terrain friction must be a finite number >= 0, got {friction!r}")
    body = space.static_body
    p = [(float(x), float(y) - TERRAIN_RADIUS) for x, y in points]
    shapes: list[pymunk.Shape] = []
    for i in range(len(p) - 1):
        seg = pymunk.Segment(body, p[i], p[i + 1], TERRAIN_RADIUS)
        # Neighbours stop feet catching on the seams between segments.
        seg.set_neighbors(p[i - 1] if i > 0 else p[i], p[i + 2] if i + 2 < len(p) else p[i + 1])
        shapes.append(seg)
    x0, y0 = p[0]
    shapes.append(pymunk.Segment(body, (x0, y0), (x0, y0 + WALL_HEIGHT), TERRAIN_RADIUS))
    for s in shapes:
        s.friction = friction
        s.collision_type = collision_type
    space.add(*shapes)
