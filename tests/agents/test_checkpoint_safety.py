"""Agent checkpoints from anywhere (issue 17): every bad file is one line naming it, nothing in a
file runs code or allocates beyond what the file justifies, and good files load exactly."""

from __future__ import annotations

import glob
import sys
import tracemalloc
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import rlnn
from agents import DQN, SAC, TD3
from agents.checkpoint import agent_from_state, checkpoint_env_id, export_policy, load_agent, save_agent
from tests.rlnn.mutations import fuzz, table

EXTRA = {"env_id": "CartPole-v1", "env_kwargs": {}, "step": 10, "seed": 0}


def _dqn() -> DQN:
    env = gym.make("CartPole-v1")
    return DQN(env.observation_space, env.action_space, {"net_arch": [8]})


def _sac(n_critics: int = 2) -> SAC:
    env = gym.make("Pendulum-v1")
    return SAC(env.observation_space, env.action_space, {"net_arch": [8], "n_critics": n_critics})


def _rewrite(tmp_path, agent, name="bad.npz", arrays=None, meta=None, extra=EXTRA):
    """Save ``agent`` with its arrays and metadata changed by the given callables."""
    state, info = agent.state_dict()
    state = arrays(state) if arrays else state
    info = {"kind": "agent", "algo": agent.algo, **info, **extra}
    info = meta(info) if meta else info
    return rlnn.save_arrays(tmp_path / name, state, info)


def _refused(path, words: str) -> str:
    with pytest.raises(ValueError, match=words) as info:
        load_agent(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(str(path)), text
    return text


def _set(d: dict, key: str, value):
    d = dict(d)
    d[key] = value
    return d


def test_nan_or_inf_weights_are_refused_on_every_path(tmp_path):
    agent = _sac()
    for value in (np.nan, np.inf):
        def poison(state, value=value):
            state["actor/0.weight"] = state["actor/0.weight"].copy()
            state["actor/0.weight"][0, 0] = value
            return state
        path = _rewrite(tmp_path, agent, arrays=poison)
        _refused(path, r"'actor/0\.weight' holds 1 NaN or infinite")
        arrays, meta = rlnn.load_arrays(path)
        with pytest.raises(ValueError, match="non-finite"):     # the resume path: from_state_dict itself
            SAC.from_state_dict(arrays, meta)
    path = _rewrite(tmp_path, agent, arrays=lambda s: _set(s, "log_alpha", np.array([np.nan])))
    arrays, meta = rlnn.load_arrays(path)
    with pytest.raises(ValueError, match="non-finite"):
        SAC.from_state_dict(arrays, meta)


def test_an_agent_with_nan_parameters_is_not_written_over_a_good_checkpoint(tmp_path):
    agent = _dqn()
    path = save_agent(agent, tmp_path / "best.npz", EXTRA)
    before = path.read_bytes()
    agent.q.parameters()[0].value[...] = np.nan
    for write in (save_agent, export_policy):
        with pytest.raises(ValueError, match="not written"):
            write(agent, path, EXTRA)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["best.npz"]


@pytest.mark.parametrize("change, words", [
    (dict(meta=lambda m: _set(m, "algo", "trpo")), "unknown algorithm 'trpo'"),
    (dict(meta=lambda m: _set(m, "algo", "\x1b[31mevil")), r"unknown algorithm '\\x1b\[31mevil'"),
    (dict(meta=lambda m: _set(m, "algo", ["dqn"])), "unknown algorithm"),
    (dict(arrays=lambda s: {k: v for k, v in s.items() if k != "q/0.weight"}), "missing"),
    (dict(arrays=lambda s: {k: v for k, v in s.items() if k != "opt.q/1.exp_sum"}), "optimizer state does not match"),
    (dict(arrays=lambda s: _set(s, "q/9.weight", np.zeros(3, np.float32))), "unexpected"),
    (dict(arrays=lambda s: _set(s, "stray", np.zeros(3))), "does not have: \\['stray'\\]"),
    (dict(arrays=lambda s: _set(s, "critic/0.weight", np.zeros(3))), "unknown part"),
    (dict(arrays=lambda s: _set(s, "q/0.bias", np.zeros(9, np.float32))), "shape"),
    (dict(arrays=lambda s: _set(s, "q/0.bias", s["q/0.bias"].astype(np.float64))), "is float64"),
    (dict(arrays=lambda s: _set(s, "q/0.bias", s["q/0.bias"].astype(np.int32))), "is int32"),
    (dict(meta=lambda m: _set(m, "env_id", "evilmod:CartPole-v1")), "not a plain Gymnasium environment id"),
    (dict(meta=lambda m: _set(m, "env_id", 7)), "must be a string"),
    (dict(meta=lambda m: _set(m, "env_kwargs", [1])), "env_kwargs must be a JSON object"),
    (dict(meta=lambda m: _set(m, "config", {**m["config"], "net_arch": [10**6, 10**6]})), "at least"),
    (dict(meta=lambda m: _set(m, "config", {**m["config"], "net_arch": "8"})), "net_arch must be a list"),
    (dict(meta=lambda m: _set(m, "config", {**m["config"], "gamma": "x"})), "malformed dqn checkpoint"),
    (dict(meta=lambda m: _set(m, "config", {**m["config"], "unknown_key": 1})), "unknown config key"),
    (dict(meta=lambda m: _set(m, "action_space", {"type": "Discrete", "n": 10**12})), "Discrete space"),
    (dict(meta=lambda m: _set(m, "observation_space", {"type": "Box", "low": 0, "high": 1, "shape": [10**9],
                                                       "dtype": "float32"})), "Box space"),
    (dict(meta=lambda m: _set(m, "observation_space", {**m["observation_space"], "low": [float("nan")] * 4})),
     "no NaN"),
    (dict(meta=lambda m: _set(m, "rng", {"bit_generator": "PCG64"})), "malformed dqn checkpoint"),
    (dict(meta=lambda m: _set(m, "learning_rate", float("nan"))), "learning rate"),
    (dict(meta=lambda m: _set(m, "optimizer_steps", {"q": -3})), "step count"),
    (dict(meta=lambda m: _set(m, "optimizer_steps", [])), "optimizer_steps must be"),
    (dict(meta=lambda m: _set(m, "policy_only", "yes")), "policy_only must be"),
    (dict(meta=lambda m: _set(m, "n_updates", [1])), "malformed dqn checkpoint"),
])
def test_bad_dqn_checkpoints_are_one_line_errors(tmp_path, change, words):
    _refused(_rewrite(tmp_path, _dqn(), **change), words)


def test_forged_sizes_are_refused_before_anything_is_allocated(tmp_path):
    forged = [
        (_dqn(), lambda m: _set(m, "config", {**m["config"], "net_arch": [10**5, 10**5]})),
        (_dqn(), lambda m: _set(m, "action_space", {"type": "Discrete", "n": 10**6})),
        (_sac(), lambda m: _set(m, "config", {**m["config"], "n_critics": 10**6})),
        (_sac(), lambda m: _set(m, "action_space", {**m["action_space"], "shape": [10**5],
                                                     "low": [-1.0] * 10**5, "high": [1.0] * 10**5})),
    ]
    for i, (agent, meta) in enumerate(forged):
        path = _rewrite(tmp_path, agent, name=f"forged{i}.npz", meta=meta,
                        extra={**EXTRA, "env_id": "Pendulum-v1"} if agent.algo == "sac" else EXTRA)
        tracemalloc.start()
        try:
            with pytest.raises(ValueError):
                load_agent(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 16 * path.stat().st_size + (4 << 20), (i, peak)   # JSON's Python objects


def test_an_env_id_that_would_import_a_module_never_does(tmp_path, monkeypatch):
    (tmp_path / "evilmod.py").write_text("import sys; sys.modules['evilmod_ran'] = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = _rewrite(tmp_path, _dqn(), meta=lambda m: _set(m, "env_id", "evilmod:CartPole-v1"))
    _refused(path, "not a plain Gymnasium environment id")
    good = save_agent(_dqn(), tmp_path / "good.npz", EXTRA)
    agent, meta = load_agent(good)
    assert checkpoint_env_id(meta, str(good)) == "CartPole-v1"
    with pytest.raises(ValueError, match="'evilmod:CartPole-v1' is not a plain"):
        checkpoint_env_id({**meta, "env_id": "evilmod:CartPole-v1"}, str(good))
    with pytest.raises(ValueError, match="not registered"):
        checkpoint_env_id({**meta, "env_id": "NoSuchEnv-v0"}, str(good))
    with pytest.raises(ValueError, match="names no environment"):
        checkpoint_env_id({}, str(good))
    assert "evilmod" not in sys.modules and "evilmod_ran" not in sys.modules


@pytest.mark.parametrize("make", [_dqn, _sac, lambda: TD3(gym.make("Pendulum-v1").observation_space,
                                                          gym.make("Pendulum-v1").action_space, {"net_arch": [8]})])
def test_good_checkpoints_and_policy_exports_load_exactly(tmp_path, make):
    agent = make()
    extra = {**EXTRA, "env_id": "CartPole-v1" if agent.algo == "dqn" else "Pendulum-v1"}
    obs = agent.observation_space.sample() * 0.5
    for write in (save_agent, export_policy):
        loaded, meta = load_agent(write(agent, tmp_path / f"{write.__name__}.npz", extra))
        saved, _ = agent.state_dict()
        mine, _ = loaded.state_dict()
        policy = [k for k in saved if k.split("/")[0] in ("q", "actor", "log_alpha")]
        for key in saved if write is save_agent else policy:
            np.testing.assert_array_equal(mine[key], saved[key])
        np.testing.assert_array_equal(loaded.act(obs, deterministic=True), agent.act(obs, deterministic=True))


def test_the_older_joint_critic_layout_still_loads(tmp_path):
    """SAC/TD3 checkpoints from when one Adam held every critic (``opt.critic/...``)."""
    agent = _sac()
    arrays, meta = agent.state_dict()
    legacy = {k: v for k, v in arrays.items() if not k.startswith("opt.critic")}
    offset = 0
    for i, opt in enumerate(agent.critics.optimizers):
        for key, value in arrays.items():
            if key.startswith(f"opt.critic{i}/"):
                index, name = key.split("/", 1)[1].split(".", 1)
                legacy[f"opt.critic/{offset + int(index)}.{name}"] = value
        offset += len(opt.params)
    steps = {k: v for k, v in meta["optimizer_steps"].items() if not k.startswith("critic")}
    meta = {"kind": "agent", "algo": "sac", **meta, **EXTRA, "env_id": "Pendulum-v1",
            "optimizer_steps": {**steps, "critic": meta["optimizer_steps"]["critic0"]}}
    path = rlnn.save_arrays(tmp_path / "legacy.npz", legacy, meta)
    loaded, _ = load_agent(path)
    assert isinstance(loaded, SAC)
    assert agent_from_state(legacy, meta, "legacy") is not None


def test_every_shipped_checkpoint_loads_and_names_a_registered_env():
    files = sorted(glob.glob(str(Path(__file__).parents[2] / "experiments" / "pretrained" / "*.npz")))
    assert len(files) >= 4
    for path in files:
        agent, meta = load_agent(path)
        assert checkpoint_env_id(meta, path) == meta["env_id"]
        obs = agent.observation_space.sample() * 0
        agent.act(obs, deterministic=True)


def _fuzz_agent(agent, extra, tmp_path, tries, seed):
    valid = save_agent(agent, tmp_path / "valid.npz", extra).read_bytes()
    obs = np.zeros(agent.observation_space.shape, dtype=np.float32)

    def read(path):
        loaded, meta = load_agent(path)
        checkpoint_env_id(meta, str(path))   # what eval and render call before gym.make
        return loaded

    def verify(loaded, path) -> bool:
        state, _ = loaded.state_dict()
        with np.load(path, allow_pickle=False) as reference:
            faithful = all(np.array_equal(state[k], reference[k]) for k in reference.files if k != "__meta__")
        action = loaded.act(obs, deterministic=True)
        return faithful and loaded.action_space.contains(np.asarray(action, dtype=loaded.action_space.dtype))

    return fuzz(valid, tries, read, verify, tmp_path, seed=seed, memory_limit=16 << 20)


def test_mutation_fuzz_of_agent_checkpoints(tmp_path, monkeypatch, capsys):
    """Thousands of mutated checkpoints: each loads faithfully or is a one-line ValueError; none
    imports a module (an ``evilmod.py`` waits on the path for the ``evilmod:`` ids the
    mutations write) or allocates more than 16 MiB for a file of a few kB."""
    (tmp_path / "evilmod.py").write_text("raise SystemExit('evilmod imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    dqn, bad_dqn = _fuzz_agent(_dqn(), EXTRA, tmp_path, 1000, seed=1)
    sac, bad_sac = _fuzz_agent(_sac(), {**EXTRA, "env_id": "Pendulum-v1"}, tmp_path, 300, seed=2)
    with capsys.disabled():
        print("\nload_agent, 1000 mutations of a DQN checkpoint:\n" + table(dqn))
        print("load_agent, 300 mutations of a SAC checkpoint:\n" + table(sac))
    assert not bad_dqn + bad_sac, "\n".join((bad_dqn + bad_sac)[:20])


@pytest.mark.parametrize("kwargs, words", [
    ({"episodes": 0}, "episodes must be a positive integer"), ({"episodes": -2}, "episodes"),
    ({"episodes": 2.5}, "episodes"), ({"seed": -1}, "seed must be an integer >= 0"), ({"seed": 1.5}, "seed"),
    ({"max_steps": 0}, "max_steps"),
])
def test_evaluating_a_loaded_agent_refuses_meaningless_arguments(kwargs, words):
    from agents.evaluation import evaluate

    agent = _dqn()
    with pytest.raises(ValueError, match=words):
        evaluate(lambda o: agent.act(o), gym.make("CartPole-v1"), **kwargs)


@pytest.mark.parametrize("desc", [
    None, [], {"type": "Tuple"}, {"type": "Discrete", "n": 0}, {"type": "Discrete", "n": True},
    {"type": "Discrete", "n": 3, "start": "0"},
    {"type": "Box", "low": [0], "high": [1], "shape": [2], "dtype": "float32"},
    {"type": "Box", "low": [0, 0], "high": [1, 1], "shape": [1, 2], "dtype": "float32"},
    {"type": "Box", "low": [1], "high": [0], "shape": [1], "dtype": "float32"},
    {"type": "Box", "low": [0], "high": [1], "shape": [1], "dtype": "object"},
    {"type": "Box", "low": [0], "high": [float("inf")], "shape": [1], "dtype": "int64"},
    {"type": "Box", "low": ["0"], "high": [1], "shape": [1], "dtype": "float32"},
])
def test_space_descriptions_from_files_are_checked(desc):
    from agents.spaces import space_from_json

    with pytest.raises(ValueError) as info:
        space_from_json(desc)
    assert "\n" not in str(info.value)


def test_the_resume_path_can_use_every_check(tmp_path):
    """A resume file keeps the agent's metadata apart from its algorithm: ``algo=`` joins them."""
    agent = _sac()
    arrays, meta = agent.state_dict()
    rebuilt = agent_from_state(arrays, meta, "resume.npz", algo="sac")
    np.testing.assert_array_equal(rebuilt.state_dict()[0]["actor/0.weight"], arrays["actor/0.weight"])
    with pytest.raises(ValueError, match="resume.npz: arrays the sac agent does not have"):
        agent_from_state({**arrays, "stray": np.zeros(2)}, meta, "resume.npz", algo="sac")
