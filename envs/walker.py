"""A 2-D biped on Pymunk 7, as a Gymnasium environment (``rlnn/Walker-v0``, ``rlnn/WalkerRough-v0``).

Run ``python -m envs.walker --play`` to drive the robot with the keyboard.
"""

from __future__ import annotations

import argparse
import math
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pymunk
import pymunk.batch
from gymnasium import spaces
from gymnasium.utils import EzPickle

from envs import terrain as terrain_lib

__all__ = ["WalkerEnv"]

# --- Control and integration ----------------------------------------------------------------
FPS = 50  # control rate (Hz): one env step is 1/FPS s of simulated time
SUBSTEPS = 5  # physics steps per env step; 1-2 let joints stretch by centimetres
DT = 1.0 / (FPS * SUBSTEPS)
SOLVER_ITERATIONS = 10
GRAVITY = -10.0
# Chipmunk's default slop (0.1) is meant for pixels; in metres it lets feet sink ~10 cm.
COLLISION_SLOP = 0.002
# Fraction of joint error left after one second (default ~0.0018): stiffer joints, no cost.
JOINT_ERROR_BIAS = 1e-6

# --- Body (BipedalWalker's dimensions in metres, SI units) ----------------------------------
HULL_POLY = [(-1.0, 0.3), (0.2, 0.3), (1.133, 0.033), (1.133, -0.267), (-1.0, -0.267)]
HULL_DENSITY = 5.0  # kg/m^2 -> hull ~5.7 kg
LEG_DENSITY = 1.0  # kg/m^2 -> thigh ~0.30 kg, shin ~0.24 kg
LEG_W, LEG_H = 0.267, 1.133  # thigh width and length (m); the shin is 0.8 as wide
LEG_DOWN = -0.267  # hip pivot, below the hull's centre (m)
HULL_FRICTION = 0.1
LEG_FRICTION = 0.2
FOOT_FRICTION = 2.0  # shins; chipmunk multiplies it by the ground's friction
GROUND_FRICTION = 1.0
FOOT_LENGTH = 0.8  # m; a flat foot at the bottom of each shin gives a support polygon
FOOT_HEIGHT = 0.08  # m
FOOT_OFFSET = 0.15  # m the foot's centre lies ahead of the ankle (toes forward)
FOOT_DENSITY = 10.0  # kg/m^2 -> 0.64 kg; heavy enough for a stable explicit spring
# The foot is kept parallel to the hull by a passive, compliant parallel linkage (a belt or
# four-bar through the leg, modelled as a rotary spring between hull and foot). With a foot flat
# on the ground this holds the hull level without any feedback; see the design notes.
FOOT_LEVEL_STIFFNESS = 1500.0  # N*m/rad; explicit spring, stable for the 0.64 kg foot at 1/250 s
FOOT_LEVEL_DAMPING = 11.25  # N*m*s/rad
ANKLE_LIMITS = (-1.2, 2.6)  # rad, foot relative to shin: a safety stop wider than hip + knee reach
HIP_LIMITS = (-0.8, 1.1)  # rad, thigh angle relative to the hull
KNEE_LIMITS = (-1.6, -0.1)  # rad, shin angle relative to the thigh

# --- Motors (torque control as in BipedalWalker) --------------------------------------------
MOTORS_TORQUE = 80.0  # N*m at |action| = 1
SPEED_HIP = 4.0  # rad/s the motor drives towards, in the sign of the action
SPEED_KNEE = 6.0
_N_BODIES = 5 + (2 if FOOT_LENGTH > 0 else 0)
_SPEEDS = (SPEED_HIP, SPEED_KNEE, SPEED_HIP, SPEED_KNEE)
# Property setters called directly skip pymunk's generic __setattr__ (hot path, 8 per step).
_set_rate = pymunk.SimpleMotor.rate.fset
_set_max_force = pymunk.SimpleMotor.max_force.fset

# --- Course -----------------------------------------------------------------------------------
START_X = 3.0  # m from the left wall to the hull at the start
START_PAD = 6.0  # m of level ground at the start of the rough course
COURSE_LENGTH = 42.0  # m; >= 4x the scripted gait's 9.8 m in TIME_LIMIT steps
# m; the longest course accepted: ~7x what the fastest learned gait covers in TIME_LIMIT steps,
# and a rough one is still drawn in milliseconds (1e9 m would take hours)
MAX_COURSE_LENGTH = 1000.0
MIN_COURSE_LENGTH = 0.001  # m; above 0, which would divide the progress reward by zero
TERRAIN_TAIL = 10.0  # m of ground beyond the finish line
INITIAL_PUSH = 5.0  # N; a random horizontal force on the hull for the first sub-step
TIME_LIMIT = 1600  # env steps (32 s), set as max_episode_steps at registration

# --- Observation -------------------------------------------------------------------------------
N_LIDAR = 10
LIDAR_DX = 0.5  # m between the vertical range-finder beams, the first at the hull
LIDAR_RANGE = 5.0  # m; readings are distance / range, 1 when the ground is farther
ANG_VEL_SCALE = 0.25  # hull rad/s -> ~unit magnitude
VEL_SCALE = 0.3  # hull m/s -> ~unit magnitude for a brisk walk
OBS_VEL_LIMIT = 10.0  # scaled velocities are clipped to +-this (never reached in practice)

# --- Reward -----------------------------------------------------------------------------------
PROGRESS_REWARD = 300.0  # total reward for travelling COURSE_LENGTH
TILT_COST = 5.0  # per radian of hull tilt (a shaping potential)
TORQUE_COST = 0.00035 * MOTORS_TORQUE  # per unit of |action|, per joint, per step
FALL_REWARD = -100.0

# --- Rendering --------------------------------------------------------------------------------
VIEWPORT_W, VIEWPORT_H = 600, 400
PIXELS_PER_METRE = 30.0

# Collision types for the contact callbacks.
CT_GROUND, CT_HULL, CT_SHIN_L, CT_SHIN_R = 1, 2, 3, 4


def _hull_touches(arbiter: pymunk.Arbiter, space: pymunk.Space, data: dict) -> None:
    data["fell"] = True


def _foot_begin(arbiter: pymunk.Arbiter, space: pymunk.Space, data: dict) -> None:
    data["contacts"][data["leg"]] += 1


def _foot_separate(arbiter: pymunk.Arbiter, space: pymunk.Space, data: dict) -> None:
    data["contacts"][data["leg"]] -= 1


class WalkerEnv(gym.Env, EzPickle):
    """
    ## Description
    A 2-D biped simulated with Pymunk 7 (Chipmunk): a hull and two legs, each of a thigh and a
    shin, joined by motorised hip and knee joints with angle limits. The robot has the size and
    masses of Gymnasium's BipedalWalker in SI units (hull 2.1 m long, ~5.7 kg; legs 2 x 1.13 m)
    under gravity -10 m/s^2. Each shin ends in a flat 0.8 m foot (0.64 kg) on a free ankle pivot;
    a passive, compliant parallel linkage (modelled as a 1500 N m/rad rotary spring between hull
    and foot, as a belt or four-bar through the leg would be) keeps each foot parallel to the
    hull. Standing on a flat foot therefore holds the hull level, with no sensing. Feet and shins
    have high friction. No part of the robot collides with another. The goal is to walk to the
    end of a course of ``COURSE_LENGTH`` = 42 m, flat (``rlnn/Walker-v0``) or seeded uneven
    ground with bumps, slopes and small steps (``rlnn/WalkerRough-v0``).

    Control runs at 50 Hz; each step integrates 5 physics sub-steps of 1/250 s with 10 solver
    iterations, which keeps joints tight and feet on the surface.

    ## Action Space
    ``Box(-1, 1, (4,), float32)``: target speed of the hip 1, knee 1, hip 2 and knee 2 joints.
    Each joint is a velocity-controlled, torque-limited servo: its ``SimpleMotor`` drives the
    joint at ``action * SPEED_HIP`` = up to 4 rad/s (hips) or ``action * SPEED_KNEE`` = up to
    6 rad/s (knees), with any torque up to ``MOTORS_TORQUE`` = 80 N m. Action 0 holds the joint
    still. Actions outside [-1, 1] are clipped. An action of the wrong shape, with a NaN or
    infinity, or not numeric raises ``ValueError``.

    ## Observation Space
    ``Box(24,) float32``, each entry of roughly unit magnitude:

    | Index | Observation                                   | Unit / scaling              | Bounds   |
    |-------|-----------------------------------------------|-----------------------------|----------|
    | 0     | hull angle (positive: nose up)                | rad, wrapped to [-pi, pi]   | +-pi     |
    | 1     | hull angular velocity                         | rad/s x 0.25                | +-10     |
    | 2     | hull horizontal velocity                      | m/s x 0.3                   | +-10     |
    | 3     | hull vertical velocity                        | m/s x 0.3                   | +-10     |
    | 4     | hip 1 angle (thigh relative to hull)          | rad, in [-0.8, 1.1]         | +-pi     |
    | 5     | hip 1 speed                                   | rad/s / 4                   | +-10     |
    | 6     | knee 1 angle (shin relative to thigh)         | rad, in [-1.6, -0.1]        | +-pi     |
    | 7     | knee 1 speed                                  | rad/s / 6                   | +-10     |
    | 8     | leg 1 foot or shin touches the ground         | 0 or 1                      | [0, 1]   |
    | 9-13  | the same for leg 2 (hip, hip speed, knee, knee speed, contact)     | | |
    | 14-23 | range-finder: vertical distance from the hull down to the ground at 0, 0.5, ..., 4.5 m ahead of the hull | m / 5, clipped | [0, 1] |

    The passive ankles and feet are not observed. Velocities are clipped to the bounds (a safety net; walking never comes close). The
    range-finder beams are vertical, so with a height-field terrain the reading is exact and costs
    one interpolation instead of ten ray casts.

    ## Rewards
    As in BipedalWalker, a shaping potential ``300 * x / COURSE_LENGTH - 5 * |hull angle|``
    (``x``: metres travelled by the hull) is differenced every step, so walking the whole course
    is worth ~300 and staying level is encouraged; effort costs ``0.028 * sum(|action|)`` per
    step (the commanded joint speeds, as BipedalWalker charges its torque commands). If the hull
    touches the ground the step's reward is -100 and the episode terminates.

    ## Starting State
    The robot stands upright on level ground ``START_X`` = 3 m from the left wall (legs 0.05 rad
    apart, knees bent 0.1 rad, shins near vertical, feet flat) and gets a
    small random horizontal push (uniform in +-5 N for the first sub-step).

    ## Episode End
    Termination: the hull touches the ground (``info["fell"]``) or it has travelled
    ``COURSE_LENGTH`` (``info["finished"]``). Truncation: ``max_episode_steps`` = 1600 (32 s),
    applied by Gymnasium's ``TimeLimit`` wrapper set at registration.
    ``info`` also has ``distance`` (metres travelled by the hull from the start).

    ## Arguments
    ``gymnasium.make("rlnn/Walker-v0", render_mode=None)``; ``render_mode`` is ``None``,
    ``"rgb_array"`` (600x400 frames drawn with Pillow, camera following the hull) or ``"human"``
    (a pygame-ce window). ``rough=True`` (the ``rlnn/WalkerRough-v0`` id) draws uneven terrain
    from the seed; ``course_length`` changes the distance to the finish line (1 mm to
    ``MAX_COURSE_LENGTH`` = 1000 m). Any other value of an argument raises ``ValueError``.

    ## Version History
    * v0: Initial version (Pymunk 7.3, Gymnasium 1.x). Design notes (issue 5 and the rule that
      the body, motors or reward change if the robot cannot be taught to walk, with the reason):

      - Motors: velocity-controlled, torque-limited joints instead of BipedalWalker's
        bang-bang torque motors (speed in the sign of the action, torque limit proportional to
        it). Driving the light legs at full speed with a torque set by a PD servo oscillated at
        50 Hz, and no scripted gait stayed up. A velocity servo is what real robot joints and
        most simulators provide; a proportional position loop on top is stable without a
        derivative term, and the learning task is no easier to game: action 0 now holds a
        joint instead of letting it go limp.
      - Feet: the first draft's feet sat on passive spring ankles (400 N m/rad about the shin).
        Then nothing but the ankle spring resisted the whole robot pitching about the stance
        foot, the hull tilted with the stance hip and every open-loop gait (about 5,000 tried
        by random search and CEM, including ankle stiffness, foot and hull mass) fell or
        shuffled. With the foot held parallel to the hull by a compliant linkage, a flat
        stance foot fixes the hull's pitch, so joint angles alone set the posture and an
        open-loop gait walks; the linkage gives way (spring) so landing on a heel or a slope
        still rocks the hull, which a policy must handle.
      - Course: ``COURSE_LENGTH`` = 42 m, at least 4x the 9.8 m that the scripted gait of
        ``envs/gait.py`` covers in ``TIME_LIMIT`` = 1600 steps (32 s; 6.0 m in 1000 steps). A
        policy must average 1.31 m/s to finish; open-loop sine gaits of this body already
        reach about 1.1 m/s, and a joint speed of 4 rad/s on 2.3 m legs allows much more.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["human", "rgb_array"], "render_fps": FPS}

    def __init__(
        self,
        render_mode: str | None = None,
        rough: bool = False,
        course_length: float = COURSE_LENGTH,
    ) -> None:
        EzPickle.__init__(self, render_mode, rough, course_length)
        if render_mode is not None and (not isinstance(render_mode, str) or
                                        render_mode not in self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, "
                             f"got {str(render_mode)[:40]!r}")
        if not isinstance(rough, (bool, np.bool_)):
            raise ValueError(f"rough must be True or False, got {str(rough)[:40]!r}")
        self.render_mode = render_mode
        self.rough = bool(rough)
        self.course_length = terrain_lib.checked_length(course_length, "course_length", MAX_COURSE_LENGTH,
                                                        MIN_COURSE_LENGTH)

        high = np.array(
            [math.pi]
            + [OBS_VEL_LIMIT] * 3
            + [math.pi, OBS_VEL_LIMIT, math.pi, OBS_VEL_LIMIT, 1.0] * 2
            + [1.0] * N_LIDAR,
            dtype=np.float32,
        )
        low = -high
        low[[8, 13]] = 0.0
        low[14:] = 0.0
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
        self._obs = np.zeros(24, dtype=np.float32)  # reused buffer; step returns a copy
        self._lidar_dx = LIDAR_DX * np.arange(N_LIDAR)

        self.space: pymunk.Space | None = None
        self.terrain: np.ndarray | None = None
        self._renderer: Any = None
        self._window: Any = None
        self._last_action = [0.0] * 4

    # --- construction -----------------------------------------------------------------------
    def _build(self) -> None:
        space = pymunk.Space()
        space.gravity = (0.0, GRAVITY)
        space.iterations = SOLVER_ITERATIONS
        space.collision_slop = COLLISION_SLOP

        length = START_X + self.course_length + TERRAIN_TAIL
        if self.rough:
            self.terrain = terrain_lib.rough_terrain(self.np_random, length, START_PAD)
        else:
            self.terrain = terrain_lib.flat_terrain(length)
        terrain_lib.add_terrain(space, self.terrain, GROUND_FRICTION, CT_GROUND)

        no_self = pymunk.ShapeFilter(group=1)  # shapes of one group never collide
        # Stand on the ground: shins straight below the hips with a small knee bend.
        hull_y = -LEG_DOWN + 2 * LEG_H + FOOT_HEIGHT + 0.05
        hull = pymunk.Body()
        hull.position = (START_X, hull_y)
        hull_shape = pymunk.Poly(hull, HULL_POLY)
        hull_shape.density = HULL_DENSITY
        hull_shape.friction = HULL_FRICTION
        hull_shape.collision_type = CT_HULL
        hull_shape.filter = no_self
        space.add(hull, hull_shape)
        bodies = [hull]
        shapes = [hull_shape]
        feet_parts: list[tuple] = []
        self.motors: list[pymunk.SimpleMotor] = []
        self._pivots: list[pymunk.PivotJoint] = []
        hip = pymunk.Vec2d(START_X, hull_y + LEG_DOWN)
        for side, ct in ((-1, CT_SHIN_L), (1, CT_SHIN_R)):
            thigh = pymunk.Body()
            # Legs slightly apart, as in BipedalWalker, with the shins near vertical over the feet.
            thigh.angle = 0.05 * side - KNEE_LIMITS[1]
            thigh.position = hip - pymunk.Vec2d(0.0, LEG_H / 2).rotated(thigh.angle)
            thigh_shape = pymunk.Poly.create_box(thigh, (LEG_W, LEG_H))
            thigh_shape.density = LEG_DENSITY
            thigh_shape.friction = LEG_FRICTION
            knee = thigh.local_to_world((0.0, -LEG_H / 2))
            shin = pymunk.Body()
            shin.angle = thigh.angle + KNEE_LIMITS[1]
            shin.position = knee - pymunk.Vec2d(0.0, LEG_H / 2).rotated(shin.angle)
            shin_shape = pymunk.Poly.create_box(shin, (0.8 * LEG_W, LEG_H))
            shin_shape.density = LEG_DENSITY
            shin_shape.friction = FOOT_FRICTION
            shin_shape.collision_type = ct
            leg_shapes = [thigh_shape, shin_shape]
            for shape in leg_shapes:
                shape.filter = no_self
            space.add(thigh, shin, *leg_shapes)
            if FOOT_LENGTH > 0:
                # A flat foot on a free ankle pivot, held parallel to the hull by a compliant
                # linkage (the spring below): standing on it holds the hull level.
                foot = pymunk.Body()
                foot.angle = 0.0
                ankle = shin.local_to_world((0.0, -LEG_H / 2))
                foot.position = ankle + (FOOT_OFFSET, -FOOT_HEIGHT / 2)
                foot_shape = pymunk.Poly.create_box(foot, (FOOT_LENGTH, FOOT_HEIGHT))
                foot_shape.density = FOOT_DENSITY
                foot_shape.friction = FOOT_FRICTION
                foot_shape.collision_type = ct
                foot_shape.filter = no_self
                pivot = pymunk.PivotJoint(shin, foot, (0.0, -LEG_H / 2), (-FOOT_OFFSET, FOOT_HEIGHT / 2))
                pivot.error_bias = JOINT_ERROR_BIAS
                # Chipmunk's rotary spring measures a.angle - b.angle: rest 0 = foot parallel to hull.
                spring = pymunk.DampedRotarySpring(hull, foot, 0.0, FOOT_LEVEL_STIFFNESS, FOOT_LEVEL_DAMPING)
                limit = pymunk.RotaryLimitJoint(shin, foot, *ANKLE_LIMITS)
                # Feet are added after both legs so the body order is hull, legs, feet.
                feet_parts.append((foot, foot_shape, pivot, spring, limit))
            joints = (
                (hull, thigh, (0.0, LEG_DOWN), (0.0, LEG_H / 2), HIP_LIMITS),
                (thigh, shin, (0.0, -LEG_H / 2), (0.0, LEG_H / 2), KNEE_LIMITS),
            )
            for a, b, anchor_a, anchor_b, limits in joints:
                pivot = pymunk.PivotJoint(a, b, anchor_a, anchor_b)
                limit = pymunk.RotaryLimitJoint(a, b, *limits)
                motor = pymunk.SimpleMotor(a, b, 0.0)
                motor.max_force = MOTORS_TORQUE  # never infinite: it would fight the limit and explode
                for c in (pivot, limit):
                    c.error_bias = JOINT_ERROR_BIAS
                space.add(pivot, limit, motor)
                self.motors.append(motor)
                self._pivots.append(pivot)
            bodies += [thigh, shin]
            shapes += leg_shapes
        for foot, foot_shape, pivot, spring, limit in feet_parts:
            space.add(foot, foot_shape, pivot, spring, limit)
            self._pivots.append(pivot)
            bodies.append(foot)
            shapes.append(foot_shape)
        self.hull = hull
        self.bodies = bodies
        self.shapes = shapes

        # Contacts are counted by begin/separate callbacks (called only on changes, so cheap);
        # ``fell`` latches a touch in any sub-step, not just the last one.
        # Module-level functions and plain data keep the space copyable and picklable.
        self._contact = {"fell": False, "contacts": np.zeros(2)}
        space.on_collision(CT_HULL, CT_GROUND, begin=_hull_touches, data=self._contact)
        for leg, ct in enumerate((CT_SHIN_L, CT_SHIN_R)):
            data = {"contacts": self._contact["contacts"], "leg": leg}
            space.on_collision(ct, CT_GROUND, begin=_foot_begin, separate=_foot_separate, data=data)
        self.space = space
        self._buffer = pymunk.batch.Buffer()
        self._fields = (
            pymunk.batch.BodyFields.ANGLE
            | pymunk.batch.BodyFields.VELOCITY
            | pymunk.batch.BodyFields.ANGULAR_VELOCITY
            | pymunk.batch.BodyFields.POSITION
        )

    # --- state ------------------------------------------------------------------------------
    def _body_states(self) -> np.ndarray:
        """(5, 6) array of x, y, angle, vx, vy, omega of hull, thigh 1, shin 1, thigh 2, shin 2."""
        self._buffer.clear()
        pymunk.batch.get_space_bodies(self.space, self._fields, self._buffer)
        # The static body (terrain) comes after the dynamic ones, in the order they were added.
        return np.frombuffer(self._buffer.float_buf(), dtype=np.float64).reshape(-1, 6)[:_N_BODIES]

    def _observe(self, s: np.ndarray) -> np.ndarray:
        # Plain Python floats for the 14 body entries: cheaper than a dozen tiny numpy ops.
        (hx, hy, ha, hvx, hvy, hw), t1, s1, t2, s2 = s[:5].tolist()
        v = OBS_VEL_LIMIT

        def clip(x: float) -> float:
            return -v if x < -v else (min(x, v))

        def angle(x: float) -> float:  # a joint pushed hard can pass its limit by a hair
            return -math.pi if x < -math.pi else (min(x, math.pi))

        c1, c2 = self._contact["contacts"].tolist()
        obs = self._obs
        obs[:14] = (
            math.remainder(ha, 2 * math.pi),
            clip(ANG_VEL_SCALE * hw),
            clip(VEL_SCALE * hvx),
            clip(VEL_SCALE * hvy),
            angle(t1[2] - ha),
            clip((t1[5] - hw) / SPEED_HIP),
            angle(s1[2] - t1[2]),
            clip((s1[5] - t1[5]) / SPEED_KNEE),
            c1 > 0,
            angle(t2[2] - ha),
            clip((t2[5] - hw) / SPEED_HIP),
            angle(s2[2] - t2[2]),
            clip((s2[5] - t2[5]) / SPEED_KNEE),
            c2 > 0,
        )
        # Vertical range-finder: exact on a height field, one interpolation for all beams.
        ground = np.interp(hx + self._lidar_dx, self.terrain[:, 0], self.terrain[:, 1])
        lidar = obs[14:]
        np.minimum((hy - ground) * (1.0 / LIDAR_RANGE), 1.0, out=lidar)
        np.maximum(lidar, 0.0, out=lidar)
        return obs.copy()

    def _check_action(self, action: Any) -> list[float]:
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError) as e:
            raise ValueError(f"action must be 4 numbers, got {action!r}") from e
        if a.shape != (4,):
            raise ValueError(f"action must have shape (4,), got shape {a.shape}")
        values = a.tolist()
        for x in values:
            if not math.isfinite(x):
                raise ValueError(f"action must be finite, got {a}")
        # Documented: out-of-range actions are clipped to [-1, 1].
        return [-1.0 if x < -1.0 else (min(x, 1.0)) for x in values]

    # --- gym API ----------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._build()
        push = self.np_random.uniform(-INITIAL_PUSH, INITIAL_PUSH)
        self.hull.apply_force_at_local_point((float(push), 0.0))
        self.space.step(DT)  # settle the contact callbacks before the first observation
        s = self._body_states()
        self.start_x = float(s[0, 0])
        self._last_action = [0.0] * 4
        obs = self._observe(s)
        self.prev_shaping = self._shaping(0.0, float(obs[0]))
        self.distance = 0.0
        self.fell = False
        self.finished = False
        if self.render_mode == "human":
            self.render()
        return obs, self._info()

    def _shaping(self, distance: float, hull_angle: float) -> float:
        """BipedalWalker's potential: progress worth 300 over the course, minus tilt."""
        return PROGRESS_REWARD * distance / self.course_length - TILT_COST * abs(hull_angle)

    def _info(self) -> dict[str, Any]:
        return {"distance": self.distance, "fell": self.fell, "finished": self.finished}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self.space is None:
            raise RuntimeError("call reset() before step()")
        a = self._check_action(action)
        self._last_action = a
        # Velocity servos: the action sets each joint's target speed; the motor's fixed torque
        # limit decides how hard it may push. Chipmunk's SimpleMotor drives b.angle - a.angle
        # at -rate, so rate = -speed * a makes the joint angle grow for a > 0.
        for motor, speed, x in zip(self.motors, _SPEEDS, a):
            _set_rate(motor, -speed * x)
        step = self.space.step
        for _ in range(SUBSTEPS):
            step(DT)
        s = self._body_states()
        obs = self._observe(s)

        self.distance = float(s[0, 0]) - self.start_x
        shaping = self._shaping(self.distance, float(obs[0]))
        reward = shaping - self.prev_shaping - TORQUE_COST * sum(abs(x) for x in a)
        self.prev_shaping = shaping
        # A non-finite state would mean the physics blew up: end the episode as a fall.
        self.fell = self._contact["fell"] or not math.isfinite(self.distance)
        self.finished = self.distance >= self.course_length
        terminated = self.fell or self.finished
        if self.fell:
            reward = FALL_REWARD
        if self.render_mode == "human":
            self.render()
        return obs, reward, terminated, False, self._info()

    # --- diagnostics ------------------------------------------------------------------------
    def joint_separation(self) -> float:
        """Largest distance (m) between the two anchors of any hip or knee pivot (0 if rigid)."""
        worst = 0.0
        for p in self._pivots:
            pa = p.a.local_to_world(p.anchor_a)
            pb = p.b.local_to_world(p.anchor_b)
            worst = max(worst, float((pa - pb).length))
        return worst

    # --- rendering --------------------------------------------------------------------------
    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn(
                "You are calling render method without specifying any render mode. "
                'Set it at creation, e.g. gym.make("rlnn/Walker-v0", render_mode="rgb_array")'
            )
            return None
        if self.space is None:
            raise RuntimeError("call reset() before render()")
        from envs.rendering import FrameRenderer

        if self._renderer is None:
            self._renderer = FrameRenderer(VIEWPORT_W, VIEWPORT_H, PIXELS_PER_METRE, LIDAR_RANGE)
        frame = self._renderer.draw(self)
        if self.render_mode == "human":
            from envs.rendering import HumanWindow

            if self._window is None:
                self._window = HumanWindow(VIEWPORT_W, VIEWPORT_H, "rlnn Walker")
            self._window.show(frame, self.metadata["render_fps"])
            return None
        return frame

    def close(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None


def play(rough: bool = False, seed: int | None = None) -> None:
    """Drive the walker with the keyboard in a pygame-ce window.

    Keys: Q/A hip 1, W/S knee 1, E/D hip 2, R/F knee 2 (full torque either way, none when
    released); Backspace restarts; Esc or closing the window quits.
    """
    from envs.rendering import import_pygame

    pygame = import_pygame()
    env = gym.make("rlnn/WalkerRough-v0" if rough else "rlnn/Walker-v0", render_mode="human")
    env.reset(seed=seed)
    keys = [
        (pygame.K_q, pygame.K_a),
        (pygame.K_w, pygame.K_s),
        (pygame.K_e, pygame.K_d),
        (pygame.K_r, pygame.K_f),
    ]
    total = 0.0
    running = True
    while running:
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                running = False
            elif event.type == pygame.KEYDOWN and event.key == pygame.K_BACKSPACE:
                env.reset()
                total = 0.0
        pressed = pygame.key.get_pressed()
        action = np.array([float(pressed[up]) - float(pressed[down]) for up, down in keys])
        _, reward, terminated, truncated, info = env.step(action)
        total += reward
        if terminated or truncated:
            print(f"return {total:.1f}, distance {info['distance']:.2f} m, fell {info['fell']}")
            env.reset()
            total = 0.0
    env.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--play", action="store_true", help="drive the robot with the keyboard")
    parser.add_argument("--rough", action="store_true", help="uneven terrain")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    if args.play:
        play(rough=args.rough, seed=args.seed)
    else:
        parser.print_help()


if __name__ == "__main__":
    import envs  # noqa: F401  (registers the ids when run as a script)

    main()
