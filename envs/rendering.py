"""Drawing the walker: headless RGB frames with Pillow, and a pygame-ce window for humans.

Pillow's ``ImageDraw`` measured fastest for headless frames here (well under a millisecond for
600x400), so ``rgb_array`` never imports pygame; only :class:`HumanWindow` does, lazily.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageDraw

from envs.terrain import heights_at

if TYPE_CHECKING:
    from envs.walker import WalkerEnv

SKY = (215, 230, 245)
GROUND = (110, 160, 90)
GROUND_EDGE = (60, 100, 50)
HULL = (127, 51, 229)
LEG_NEAR = (178, 101, 152)  # leg 1 (drawn in front)
LEG_FAR = (140, 80, 120)  # leg 2 (drawn behind)
OUTLINE = (40, 30, 60)
CONTACT = (240, 60, 40)
LIDAR = (255, 120, 120)
MARK = (90, 90, 90)
FINISH = (230, 50, 50)


class FrameRenderer:
    """Draws the state of a :class:`~envs.walker.WalkerEnv` into a ``(H, W, 3)`` uint8 array."""

    def __init__(self, width: int, height: int, pixels_per_metre: float, lidar_range: float) -> None:
        self.lidar_range = lidar_range
        self.width = width
        self.height = height
        self.ppm = pixels_per_metre
        self._space_id: int | None = None
        self._local: list[tuple[int, np.ndarray]] = []  # (body index, local vertices)

    def _cache_shapes(self, env: WalkerEnv) -> None:
        # Local polygon vertices never change within an episode: read them once per space.
        index = {b: i for i, b in enumerate(env.bodies)}
        self._local = [(index[s.body], np.array([tuple(v) for v in s.get_vertices()])) for s in env.shapes]
        self._space_id = id(env.space)

    def draw(self, env: WalkerEnv) -> np.ndarray:
        """Return the current frame; the camera follows the hull."""
        if self._space_id != id(env.space):
            self._cache_shapes(env)
        states = env._body_states().copy()  # x, y, angle, vx, vy, omega per body
        hx, hy = states[0, 0], states[0, 1]
        ppm, w, h = self.ppm, self.width, self.height
        # Hull a quarter of the way in from the left and about a third of the way up.
        x0 = hx - 0.25 * w / ppm
        y0 = hy - 0.35 * h / ppm

        def to_px(xy: np.ndarray) -> list[tuple[float, float]]:
            px = np.empty_like(xy)
            px[:, 0] = (xy[:, 0] - x0) * ppm
            px[:, 1] = h - (xy[:, 1] - y0) * ppm
            return list(map(tuple, px.tolist()))

        img = Image.new("RGB", (w, h), SKY)
        d = ImageDraw.Draw(img)

        # Metre marks (every 1 m, taller every 5 m) measured from the start, then the finish line.
        first = int(np.floor(x0 - env.start_x))
        for m in range(first, first + int(w / ppm) + 2):
            x = (env.start_x + m - x0) * ppm
            top = h * 0.62 if m % 5 else h * 0.5
            d.line([(x, top), (x, h)], fill=MARK, width=1)
        fx = (env.start_x + env.course_length - x0) * ppm
        if -5 <= fx <= w + 5:
            d.line([(fx, 0), (fx, h)], fill=FINISH, width=3)

        # Terrain: the visible part of the polyline, closed down to the bottom of the frame.
        t = env.terrain
        i0 = max(int(np.searchsorted(t[:, 0], x0)) - 1, 0)
        i1 = min(int(np.searchsorted(t[:, 0], x0 + w / ppm)) + 1, len(t))
        surface = to_px(t[i0:i1])
        d.polygon(surface + [(surface[-1][0], h + 1), (surface[0][0], h + 1)], fill=GROUND)
        d.line(surface, fill=GROUND_EDGE, width=2)

        # Range-finder beams.
        bx = hx + env._lidar_dx
        by = np.maximum(heights_at(t, bx), hy - self.lidar_range)
        for px_, (x, y) in zip(to_px(np.column_stack([bx, np.full_like(bx, hy)])), to_px(np.column_stack([bx, by]))):
            d.line([px_, (x, y)], fill=LIDAR, width=1)

        # Bodies: far leg, hull, near leg; shins turn red where they touch the ground.
        contacts = env._contact["contacts"]
        style = {
            0: (HULL, None, 1),
            1: (LEG_NEAR, None, 2),
            2: (LEG_NEAR, 0, 2),
            3: (LEG_FAR, None, 0),
            4: (LEG_FAR, 1, 0),
            5: (LEG_NEAR, 0, 2),
            6: (LEG_FAR, 1, 0),
        }  # colour, leg, depth
        for i, local in sorted(self._local, key=lambda item: style[item[0]][2]):
            colour, leg, _ = style[i]
            x, y, a = states[i, 0], states[i, 1], states[i, 2]
            c, s = np.cos(a), np.sin(a)
            world = np.column_stack([x + c * local[:, 0] - s * local[:, 1], y + s * local[:, 0] + c * local[:, 1]])
            touching = leg is not None and contacts[leg] > 0
            d.polygon(to_px(world), fill=colour, outline=CONTACT if touching else OUTLINE, width=3 if touching else 1)
            if touching:  # a dot at the foot
                fx_, fy_ = to_px(world[np.argmin(world[:, 1])][None, :])[0]
                d.ellipse([fx_ - 4, fy_ - 4, fx_ + 4, fy_ + 4], fill=CONTACT)
        return np.asarray(img)


class HumanWindow:
    """A pygame-ce window showing frames at the environment's frame rate."""

    def __init__(self, width: int, height: int, caption: str) -> None:
        pygame = import_pygame()
        self._pygame = pygame
        # Only the display: ``pygame.init()`` would also open the audio device, which on a
        # machine without sound prints a screen of ALSA errors for a window that plays none.
        try:
            pygame.display.init()
            pygame.display.set_caption(caption)
            self.screen = pygame.display.set_mode((width, height))
        except pygame.error as exc:
            pygame.display.quit()
            raise RuntimeError(f"cannot open a window ({exc}); without a display, render to a file instead") from None
        self.clock = pygame.time.Clock()
        self.size = (width, height)

    def show(self, frame: np.ndarray, fps: int) -> None:
        pg: Any = self._pygame
        pg.event.pump()  # keep the window responsive; events stay queued for the caller
        surface = pg.image.frombuffer(np.ascontiguousarray(frame).tobytes(), self.size, "RGB")
        self.screen.blit(surface, (0, 0))
        pg.display.flip()
        self.clock.tick(fps)

    def close(self) -> None:
        self._pygame.display.quit()


def import_pygame() -> Any:
    """pygame, imported with its audio pointed at SDL's silent driver and its banner off: the
    walker never plays sound, and nothing may initialise a sound card on its behalf."""
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame  # lazily: only human rendering needs it

    return pygame
