"""A scripted open-loop gait for the walker: joint targets from sine waves, no learning.

It exists to show that the body can walk at all (and to give a baseline distance the learned
gait must beat). The joint *targets* are open loop, a function of time only; each joint follows
its target with a PD servo, turned into the env's torque action.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Indices of (angle, speed) of hip 1, knee 1, hip 2, knee 2 in the walker's observation.
_ANGLES = np.array([4, 6, 9, 11])
_SPEEDS = np.array([5, 7, 10, 12])


@dataclass(frozen=True)
class SineGait:
    """Hips swing in anti-phase; each knee bends while its leg swings forward."""

    period: float = 1.0  # s per stride
    hip_mid: float = 0.15  # rad; forward of vertical, the hip range is [-0.8, 1.1]
    hip_amp: float = 0.5  # rad
    knee_straight: float = -0.15  # rad; knees never fully straighten ([-1.6, -0.1])
    knee_bend: float = 0.9  # rad of extra bend at mid-swing
    knee_phase: float = 0.0  # rad; shifts the knee bend relative to the hip swing
    hull_gain: float = 0.0  # rad of hip target per rad of hull tilt (0: purely open loop)
    kp: float = 3.0  # action per rad of error (saturates at +-1)
    kd: float = 0.1  # action per unit of observed (normalised) joint speed
    fps: float = 50.0

    def targets(self, step: int) -> np.ndarray:
        """Joint angle targets (hip 1, knee 1, hip 2, knee 2) at env step ``step``."""
        phase = 2.0 * math.pi * step / (self.period * self.fps)
        out = np.empty(4)
        for leg, offset in ((0, 0.0), (1, math.pi)):
            p = phase + offset
            out[2 * leg] = self.hip_mid + self.hip_amp * math.sin(p)
            # The hip angle grows (leg swings forward) while cos(p) > 0: lift the foot then.
            out[2 * leg + 1] = self.knee_straight - self.knee_bend * max(0.0, math.cos(p + self.knee_phase))
        return out

    def action(self, obs: np.ndarray, step: int) -> np.ndarray:
        """Torque action in [-1, 1]^4 servoing the joints to :meth:`targets`."""
        targets = self.targets(step)
        # Optional posture reflex: both hips push the hull back towards level.
        targets[[0, 2]] += self.hull_gain * obs[0]
        error = targets - obs[_ANGLES]
        return np.clip(self.kp * error - self.kd * obs[_SPEEDS], -1.0, 1.0).astype(np.float32)


def run_gait(env, gait: SineGait, steps: int, seed: int = 0) -> dict:
    """Run ``gait`` for up to ``steps`` env steps; return distance, fell, finished, steps."""
    obs, info = env.reset(seed=seed)
    n = 0
    for n in range(1, steps + 1):
        obs, _, terminated, truncated, info = env.step(gait.action(obs, n))
        if terminated or truncated:
            break
    return {"distance": info["distance"], "fell": info["fell"], "finished": info["finished"], "steps": n}
