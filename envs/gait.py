"""A scripted open-loop gait for the walker: joint targets are sine waves of time, no learning.

It shows that the body can walk at all and gives the baseline that sets the course length (the
course is at least four times what this gait covers within the time limit). The joint *targets*
are open loop, a function of time only: no hull angle, velocity, contact or range-finder reading
is used. Each joint follows its target with a proportional servo on the env's velocity action,
``a = clip(feedforward + KP * (target - angle), -1, 1)``; reading the joint's own angle there is
the low-level joint controller (as in any position-controlled servo), not gait feedback. The
feed-forward term is the target's time derivative, also a function of time only.

Pattern: hips swing in antiphase about ``hip_mid``; each knee bends during its leg's swing
(while the hip angle grows), ``knee = knee_straight - knee_bend * max(0, cos(phase + knee_phase))``.
The amplitudes ramp in over the first stride so the gait starts from the standing pose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.walker import FPS, SPEED_HIP, SPEED_KNEE

# Indices of hip 1, knee 1, hip 2, knee 2 angles in the walker's observation.
_ANGLES = np.array([4, 6, 9, 11])
_SPEEDS = np.array([SPEED_HIP, SPEED_KNEE, SPEED_HIP, SPEED_KNEE])


@dataclass(frozen=True)
class SineGait:
    """Parameters found by ``python -m experiments.walker_gait --search`` and then rounded.

    The defaults walk about 6.0 m per 1000 steps (0.3 m/s) on flat ground on every seed tried;
    they were chosen for robustness and a modest speed, not for distance.
    """

    period: float = 1.2  # s per stride (two steps)
    hip_mid: float = 0.12  # rad; thighs lean forward so the hull sits over the feet
    hip_amp: float = 0.045  # rad; small because the whole leg turns with the hip (level feet)
    knee_straight: float = -0.14  # rad; the knee range is [-1.6, -0.1]
    knee_bend: float = 0.1  # rad of extra bend at mid-swing: lifts the foot clear
    knee_phase: float = -0.5  # rad; the knee bends a little before the hip starts its swing
    kp: float = 5.0  # action per rad of error: 20 rad/s per rad at the hip (time constant 50 ms)
    fps: float = float(FPS)

    def targets(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Joint angle targets and their time derivatives (rad/s) at env step ``step``."""
        t = step / self.fps
        w = 2.0 * math.pi / self.period
        g = min(1.0, t / self.period)  # ramp the amplitudes in over the first stride
        angle = np.empty(4)
        rate = np.empty(4)
        for leg, offset in ((0, 0.0), (1, math.pi)):
            p = w * t + offset
            angle[2 * leg] = self.hip_mid + g * self.hip_amp * math.sin(p)
            rate[2 * leg] = g * self.hip_amp * w * math.cos(p)
            # The hip angle grows (leg swings forward) while cos(p) > 0: bend the knee then.
            c = math.cos(p + self.knee_phase)
            angle[2 * leg + 1] = self.knee_straight - g * self.knee_bend * max(0.0, c)
            rate[2 * leg + 1] = g * self.knee_bend * w * math.sin(p + self.knee_phase) if c > 0 else 0.0
        return angle, rate

    def action(self, obs: np.ndarray, step: int) -> np.ndarray:
        """Velocity action in [-1, 1]^4 servoing the joints to :meth:`targets` at ``step``."""
        angle, rate = self.targets(step)
        a = rate / _SPEEDS + self.kp * (angle - obs[_ANGLES])
        return np.clip(a, -1.0, 1.0).astype(np.float32)


def run_gait(env, gait: SineGait, steps: int, seed: int = 0) -> dict:
    """Run ``gait`` for up to ``steps`` env steps; return distance, fell, finished, steps."""
    obs, info = env.reset(seed=seed)
    n = 0
    for n in range(1, steps + 1):
        obs, _, terminated, truncated, info = env.step(gait.action(obs, n))
        if terminated or truncated:
            break
    return {"distance": info["distance"], "fell": info["fell"], "finished": info["finished"], "steps": n}
