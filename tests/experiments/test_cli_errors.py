"""Every mistake a user can make at the `rlnn` command is one line on stderr and exit code 2; an
unexpected exception is one line and exit code 1; --debug or RLNN_DEBUG=1 shows the traceback."""

import errno
import json

import gymnasium
import pytest

from experiments.cli import main

TINY = ["--set", "learning_starts=50", "--set", "net_arch=[8]", "--set", "buffer_size=500",
        "--blas-threads", "1", "--lanes", "1", "--quiet", "--no-gif"]


def one_line_error(capsys, argv, code=2) -> str:
    """Run ``rlnn argv``; the exit code must be ``code`` and stderr a single ``rlnn: error:`` line."""
    assert main(argv) == code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("rlnn: error: "), err
    assert "Traceback" not in err and "\x1b" not in err
    return lines[0]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "dqn", "CartPole-v1", "--steps", "100", "--out", str(out), *TINY]) == 0
    return out


@pytest.mark.parametrize("argv, message", [
    (["train", "dqm", "CartPole-v1"], "unknown algorithm 'dqm'; accepted: "),
    (["train", "dqn", "CartPole-v1", "--set", "gama=0.9"], "unknown config key(s) ['gama']"),
    (["train", "sac", "Pendulum-v1", "--set", "g=5.0"],
     "unknown config key(s) ['g'] for SACConfig; accepted: "),
    (["train", "sac", "Pendulum-v1", "--set", "g=5.0"],
     "; an argument of the environment goes in --env-kwargs g=5.0 (env_kwargs= in Python)"),
    (["train", "sac", "Pendulum-v1", "--env-kwargs", "g"], "--env-kwargs expects key=value, got 'g'"),
    (["train", "sac", "Pendulum-v1", "--env-kwargs", "gee=5.0"], "environment 'Pendulum-v1' does not take these"),
    (["train", "dqn", "CartPole-v1", "--set", "batch_size=big"], "config key 'batch_size' expects int"),
    (["train", "dqn", "CartPole-v1", "--set", "gradient_steps=0"], "'gradient_steps' must be at least 1, got 0"),
    (["train", "dqn", "CartPole-v1", "--set", "novalue"], "--set expects key=value"),
    (["train", "dqn", "NoSuchEnv-v9"], "cannot make environment 'NoSuchEnv-v9'"),
    (["train", "dqn", "Pendulum-v1"], "DQN needs a Discrete action space"),
    (["train", "dqn", "CartPole-v1", "--steps", "0"], "argument --steps: expected a positive whole number, got '0'"),
    (["train", "dqn", "CartPole-v1", "--steps", "-5"], "argument --steps: expected a positive whole number"),
    (["train", "dqn", "CartPole-v1", "--eval-freq", "-1"], "argument --eval-freq: expected a whole number >= 0"),
    (["train", "dqn", "CartPole-v1", "--seed", "-1"], "argument --seed: expected a whole number >= 0"),
    (["train", "dqn", "CartPole-v1", "--lanes", "0"], "argument --lanes: expected 'auto' or a positive whole"),
    (["train", "dqn", "CartPole-v1", "--blas-threads", "two"], "argument --blas-threads: expected 'auto' or"),
    (["train", "dqn", "CartPole-v1", "--seeds", "0-1", "--lanes", "2"], "--lanes does not combine with --seeds"),
    (["train", "dqn", "no_such_module_rlnn:Env-v0"], "cannot import module 'no_such_module_rlnn'"),
    (["train"], "train needs ALGO and ENV_ID (or --resume DIR)"),
    (["train", "--resume", "/nonexistent/run"], "no run folder at /nonexistent/run"),
    (["eval", "/nonexistent/run"], "no such checkpoint or run folder"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_bad_arguments_give_one_line_errors(argv, message, capsys, tmp_path):
    line = one_line_error(capsys, [*argv, *(["--out", str(tmp_path / "x")] if len(argv) > 1 and argv[0] == "train"
                                           and "--resume" not in argv else [])])
    assert message in line
    assert not (tmp_path / "x").exists()  # refused before anything was written


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ("[1, 2, 3]", "must hold a JSON object"),
    (None, "config file not found"),
])
def test_bad_config_files(content, message, capsys, tmp_path):
    path = tmp_path / "c.json"
    if content is not None:
        path.write_text(content)
    assert message in one_line_error(capsys, ["train", "dqn", "CartPole-v1", "--config", str(path)])


def test_out_at_a_file_or_an_unwritable_path(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    base = ["train", "dqn", "CartPole-v1", "--steps", "100", *TINY]
    assert "is a file, not a folder" in one_line_error(capsys, [*base, "--out", str(tmp_path / "file")])
    assert "cannot create --out" in one_line_error(capsys, [*base, "--out", str(tmp_path / "file" / "sub")])


def test_a_full_disk_mid_run_is_one_line_saying_how_to_continue(capsys, tmp_path, monkeypatch):
    from agents.loop import OffPolicyTrainer

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "run" / "metrics.csv"))
    monkeypatch.setattr(OffPolicyTrainer, "run", full)
    assert main(["train", "dqn", "CartPole-v1", "--steps", "100", "--out", str(tmp_path / "run"), *TINY]) == 2
    err = capsys.readouterr().err  # the settings, then the error
    assert err.count("rlnn: error: ") == 1 and "Traceback" not in err
    line = err.splitlines()[-1]
    assert "no space left on the device writing" in line and f"rlnn train --resume {tmp_path / 'run'}" in line


def test_a_diverged_run_is_one_line(capsys, tmp_path, monkeypatch):
    from agents.loop import OffPolicyTrainer, TrainingDiverged

    def diverge(self, *args, **kwargs):
        raise TrainingDiverged("training diverged at step 7: loss became nan")
    monkeypatch.setattr(OffPolicyTrainer, "run", diverge)
    assert main(["train", "dqn", "CartPole-v1", "--steps", "100", "--out", str(tmp_path / "run"), *TINY]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == "rlnn: error: training diverged at step 7: loss became nan"


def test_eval_bad_counts_and_mismatched_env(run_dir, capsys):
    assert "argument --episodes: expected a positive whole number" in one_line_error(
        capsys, ["eval", str(run_dir), "--episodes", "0"])
    assert "argument --seed: expected a whole number >= 0" in one_line_error(
        capsys, ["eval", str(run_dir), "--seed", "-1"])
    assert "the checkpoint's agent needs Box of shape (4,) and Discrete(2)" in one_line_error(
        capsys, ["eval", str(run_dir), "--env", "Pendulum-v1"])
    assert "--resume continues a run with the settings it recorded; --set" in one_line_error(
        capsys, ["train", "--resume", str(run_dir), "--set", "gamma=0.5"])
    assert f"{run_dir} is a run of 'dqn' on 'CartPole-v1', not 'dqn' on 'Acrobot-v1'" in one_line_error(
        capsys, ["train", "dqn", "Acrobot-v1", "--resume", str(run_dir)])
    for flag in (["--env-kwargs", "max_episode_steps=9"], ["--tensorboard"], ["--lanes", "2"]):
        assert f"recorded; {flag[0]} cannot change them" in one_line_error(
            capsys, ["train", "--resume", str(run_dir), *flag])


def test_env_ids_read_from_a_checkpoint_must_be_registered_and_import_nothing(run_dir, capsys, tmp_path,
                                                                            monkeypatch):
    import agents
    from agents.checkpoint import load_agent, save_agent

    marker = tmp_path / "imported"
    (tmp_path / "evilmod_rlnn.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    agent, _ = load_agent(run_dir / "final.npz")
    for env_id, message in (("evilmod_rlnn:CartPole-v1", "is not a plain Gymnasium environment id"),
                            ("NoSuchEnv-v3", "is not registered with Gymnasium")):
        path = save_agent(agent, tmp_path / "ckpt.npz", {"env_id": env_id})
        line = one_line_error(capsys, ["eval", str(path)])
        assert message in line and repr(env_id) in line
    assert not marker.exists()
    assert agents.ALGORITHMS  # the package still works after the refusals


def test_untrusted_strings_are_escaped_and_cut(capsys):
    line = one_line_error(capsys, ["train", "dqn", "Cart\x1b[31mPole-v1"])
    assert "'Cart\\x1b[31mPole-v1'" in line
    line = one_line_error(capsys, ["train", "dqn", "A" * 100_000 + "-v0"])
    assert len(line) < 1200


@pytest.mark.parametrize("algo, env_id, message, extra", [
    ("dqn", "LunarLander-v3", "Box2D is not installed", "box2d"),
    # Gymnasium's own message already says pip install "gymnasium[mujoco]": rlnn's extra is still named
    ("sac", "HalfCheetah-v5", 'MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`', "mujoco"),
])
def test_a_missing_backend_names_the_extra_to_install(algo, env_id, message, extra, capsys, monkeypatch):
    def missing(env_id, **kwargs):
        raise gymnasium.error.DependencyNotInstalled(message)
    monkeypatch.setattr(gymnasium, "make", missing)
    line = one_line_error(capsys, ["train", algo, env_id])
    assert f"needs a backend that is not installed ({message})" in line
    assert line.endswith(f"install rlnn's extra: pip install -e '.[{extra}]' (in the rlnn folder)")


def test_a_missing_jax_backend_names_gymnasiums_extra(capsys, monkeypatch):
    from experiments.training import make_env

    def missing(env_id, **kwargs):
        raise gymnasium.error.DependencyNotInstalled("jax is not installed")
    monkeypatch.setattr(gymnasium, "make", missing)
    with pytest.raises(ValueError, match=r"\(jax is not installed\); pip install 'gymnasium\[jax\]'$"):
        make_env("tabular/Blackjack-v0")


def test_a_user_module_that_fails_to_import_is_one_line(capsys, tmp_path, monkeypatch):
    (tmp_path / "broken_env_rlnn.py").write_text("raise RuntimeError('no simulator here')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    line = one_line_error(capsys, ["train", "dqn", "broken_env_rlnn:Thing-v0"])
    assert "cannot import module 'broken_env_rlnn' (RuntimeError: no simulator here)" in line


def test_env_kwargs_the_env_refuses(capsys, tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"env_kwargs": {"gravity_well": 3}}))
    line = one_line_error(capsys, ["train", "dqn", "CartPole-v1", "--config", str(path)])
    assert "environment 'CartPole-v1' does not take these arguments" in line and "gravity_well" in line


def _boom(*args, **kwargs):
    raise RuntimeError("boom")


def test_an_unexpected_exception_is_one_line_exit_1(capsys, monkeypatch):
    monkeypatch.setattr("experiments.training.make_agent", _boom)
    line = one_line_error(capsys, ["train", "dqn", "CartPole-v1"], code=1)
    assert line == "rlnn: error: internal error: RuntimeError: boom (run with --debug for the traceback)"


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_debug_shows_the_traceback(where, monkeypatch):
    monkeypatch.setattr("experiments.training.make_agent", _boom)
    argv = ["train", "dqn", "CartPole-v1"]
    if where == "env":
        monkeypatch.setenv("RLNN_DEBUG", "1")
    else:
        argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(RuntimeError, match="boom"):
        main(argv)
