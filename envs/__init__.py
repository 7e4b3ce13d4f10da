"""Gymnasium environments for rlnn. Importing this package registers the environment ids.

Registration happens at import (cheap: no physics or pygame is loaded until ``make``), so that
vector-env worker processes that ``import envs`` find the ids too.
"""

from gymnasium.envs.registration import register, registry

from envs.walker import TIME_LIMIT

__all__ = ["WALKER_IDS"]

WALKER_IDS = ("rlnn/Walker-v0", "rlnn/WalkerRough-v0")

for _id, _kwargs in zip(WALKER_IDS, ({"rough": False}, {"rough": True})):
    if _id not in registry:  # re-importing (e.g. ``python -m envs.walker``) must not warn
        register(
            id=_id,
            entry_point="envs.walker:WalkerEnv",
            max_episode_steps=TIME_LIMIT,
            kwargs=_kwargs,
        )
