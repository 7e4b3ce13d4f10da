"""Recording an episode of a policy as an animated GIF (Pillow, which matplotlib brings)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def record_frames(policy: Callable[[np.ndarray], Any], env: Any, seed: int = 0, max_steps: int = 2000,
                  every: int = 1) -> tuple[list[np.ndarray], float]:
    """Frames (every ``every``-th step) of one episode of ``policy`` in an ``rgb_array`` env."""
    obs, _ = env.reset(seed=seed)
    frames, total = [env.render()], 0.0
    for t in range(max_steps):
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += float(reward)
        if t % every == 0:
            frames.append(env.render())
        if terminated or truncated:
            break
    return [f for f in frames if f is not None], total


def save_gif(frames: list[np.ndarray], path: str | Path, fps: int = 30, max_width: int = 360) -> Path:
    from PIL import Image

    if not frames:
        raise ValueError("no frames to save (does the env support render_mode='rgb_array'?)")
    images = [Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
    if images[0].width > max_width:
        size = (max_width, int(images[0].height * max_width / images[0].width))
        images = [im.resize(size) for im in images]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0, optimize=True)
    return path


def record_gif(policy: Callable[[np.ndarray], Any], env: Any, path: str | Path, seed: int = 0,
               max_steps: int = 1000, fps: int = 30) -> Path:
    """Render one episode to ``path``; long episodes keep every second or third frame."""
    metadata_fps = int(getattr(env, "metadata", {}).get("render_fps", fps) or fps)
    every = max(1, round(metadata_fps / fps))
    frames, _ = record_frames(policy, env, seed=seed, max_steps=max_steps, every=every)
    return save_gif(frames, path, fps=min(fps, metadata_fps))


def save_mp4(frames: list[np.ndarray], path: str | Path, fps: int = 50) -> Path:
    """Write an MP4 through imageio-ffmpeg (the optional extra ``video``)."""
    try:
        import imageio_ffmpeg
    except ImportError:
        raise ImportError("MP4 output needs the 'video' extra: pip install 'rlnn[video]' (or use a .gif)") from None
    if not frames:
        raise ValueError("no frames to save")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=fps, macro_block_size=1)
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame, dtype=np.uint8))
    writer.close()
    return path
