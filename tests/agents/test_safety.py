"""agents.safety: env ids read from files, and untrusted strings in messages (issue 17)."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.safety import MAX_ENV_ID_LENGTH, plain_env_id, registered_env_id, shown


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1", "rlnn/Walker-v0", "rlnn/WalkerRough-v0"])
def test_registered_ids_pass(env_id):
    assert registered_env_id(env_id, "run.json") == env_id


@pytest.mark.parametrize("env_id, words", [
    ("evilmod:CartPole-v1", "not a plain"), ("os:CartPole-v1", "not a plain"), ("", "not a plain"),
    ("x" * (MAX_ENV_ID_LENGTH + 1), "not a plain"), ("Cart Pole-v1", "not a plain"), ("\x1b[2J", "not a plain"),
    ("CartPole-v1\n", "not a plain"), ("NoSuchEnv-v0", "not registered"), (None, "must be a string"),
    (["CartPole-v1"], "must be a string"), (b"CartPole-v1", "must be a string"),
])
def test_other_ids_are_one_line_errors_naming_the_file(env_id, words):
    with pytest.raises(ValueError, match=words) as info:
        registered_env_id(env_id, "runs/x/run.json")
    text = str(info.value)
    assert text.startswith("runs/x/run.json: ") and "\n" not in text and "\x1b" not in text and len(text) < 400


def test_nothing_is_imported_for_an_id_naming_a_module(tmp_path, monkeypatch):
    (tmp_path / "evilmod.py").write_text("raise SystemExit('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for check in (plain_env_id, registered_env_id):
        with pytest.raises(ValueError):
            check("evilmod:CartPole-v1", "ckpt.npz")
    assert "evilmod" not in sys.modules


def test_shown_escapes_and_cuts():
    assert shown("\x1b[31mred") == r"'\x1b[31mred'"
    assert shown("abc") == "'abc'" and shown(5) == "5"
    long = shown("a" * 5_000_000)
    assert len(long) == 80 and long.endswith("…")
    assert shown(["\x1b"] * 10_000, limit=40).isprintable() and len(shown(["\x1b"] * 10_000, limit=40)) <= 40

    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")
    assert shown(Hostile()).startswith("<Hostile")


@settings(max_examples=200, deadline=None)
@given(value=st.one_of(st.text(), st.binary(), st.lists(st.text(), max_size=5), st.integers(), st.floats()),
       limit=st.integers(4, 200))
def test_shown_is_always_printable_and_short(value, limit):
    text = shown(value, limit)
    assert len(text) <= limit and text.isprintable()


@settings(max_examples=200, deadline=None)
@given(env_id=st.text(max_size=300))
def test_any_id_is_accepted_as_registered_or_refused_in_one_line(env_id):
    try:
        assert registered_env_id(env_id, "f") == env_id and ":" not in env_id
    except ValueError as exc:
        assert "\n" not in str(exc) and str(exc).isprintable() and len(str(exc)) < 400
