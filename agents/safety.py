"""Handling values read from files (checkpoint metadata, ``run.json``) that are not to be trusted.

Two rules:

* An environment id read from a file must be a plain, registered id. Gymnasium imports
  ``module`` for an id ``module:Env-v0`` before it looks the id up, so an id taken from a
  downloaded checkpoint could run code (a ``module.py`` beside it, or any installed module).
  Only an id the user types may name a module; ids from files go through
  :func:`registered_env_id` (or at least :func:`plain_env_id`).
* A string from a file is shown in a message only through :func:`shown`: escaped (an ANSI
  escape in an id must not reach the terminal raw) and cut to a sane length (a 5 MB id must
  not print 10 MB).
"""

from __future__ import annotations

import re
import reprlib

MAX_ENV_ID_LENGTH = 200
# Gymnasium's id grammar "[namespace/]name[-vN]", in ASCII; no ':' (that is the import form).
_PLAIN_ID = re.compile(r"(?:[A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+", re.ASCII)


def shown(value: object, limit: int = 80) -> str:
    """``value`` fit for a one-line message: its ``repr`` (control characters, ANSI escapes and
    other non-printable characters escaped), cut to ``limit`` characters with an ellipsis."""
    limit = max(int(limit), 4)
    if isinstance(value, str):
        text = str.__repr__(value[:limit])     # cut first: repr of a 5 MB string is not needed
        cut = len(value) > limit or len(text) > limit
    else:
        short = reprlib.Repr()
        short.maxstring = short.maxother = limit
        try:
            text = short.repr(value)        # containers cut to a few items, strings escaped
        except Exception:      # noqa: BLE001 (a hostile __repr__: show the type instead)
            text = f"<{type(value).__name__}>"
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[:limit + 1])
        cut = len(text) > limit
    return text[:limit - 1] + "…" if cut else text


def plain_env_id(env_id: object, source: str) -> str:
    """``env_id`` if it is a plain Gymnasium id (a string of sane length in Gymnasium's
    ``[namespace/]name[-vN]`` form, without the ``module:`` import prefix), else a one-line
    ``ValueError`` naming ``source`` (the file it came from)."""
    if not isinstance(env_id, str):
        raise ValueError(f"{source}: the environment id must be a string, got {shown(env_id)}")
    if not 0 < len(env_id) <= MAX_ENV_ID_LENGTH or ":" in env_id or not _PLAIN_ID.fullmatch(env_id):
        raise ValueError(f"{source}: {shown(env_id)} is not a plain Gymnasium environment id "
                         "(ids read from files may not name a module to import; "
                         "to use such an environment, give its id on the command line)")
    return env_id


def registered_env_id(env_id: object, source: str) -> str:
    """``env_id`` if it is a plain id (:func:`plain_env_id`) registered in Gymnasium's registry
    once this project's environments are registered, else a one-line ``ValueError`` naming
    ``source``. For ids read from files; an id the user types is passed to ``gym.make`` as is."""
    env_id = plain_env_id(env_id, source)
    from gymnasium.envs.registration import registry

    import envs  # noqa: F401  (registers rlnn/Walker-v0 and the other ids of this project)

    if env_id not in registry:
        raise ValueError(f"{source}: environment {shown(env_id)} is not registered with Gymnasium "
                         "(if a package of yours registers it, give the id on the command line as module:id)")
    return env_id
