"""experiments.api: training on an id with the tuned config exactly as `rlnn train` does, config
layering, save/load/evaluate, predict, resume, and one-line errors. The tests at the end train on
env objects and callbacks (the trainer's side of them)."""

import json

import gymnasium as gym
import numpy as np
import pytest

import rlnn
from experiments.api import evaluate, load, make_trainer, resume, save, train
from experiments.cli import main
from experiments.errors import UsageError

SMALL = {"learning_starts": 100, "train_freq": 4, "gradient_steps": 1, "net_arch": [16, 16], "buffer_size": 2000,
         "target_update_interval": 50}
QUIET = {"lanes": 1, "blas_threads": 1, "verbose": False}
TUNED = "experiments/configs/dqn/CartPole-v1.json"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("api") / "run"
    agent = train("dqn", "CartPole-v1", steps=400, seed=3, config=SMALL, run_dir=run_dir, **QUIET)
    return agent, run_dir


def test_train_on_an_id_applies_the_tuned_config_and_records_where_each_setting_came_from(trained):
    agent, run_dir = trained
    assert agent.config.learning_rate == 0.0023 and agent.config.exploration_fraction == 0.16   # the tuned file
    assert agent.config.net_arch == [16, 16] and agent.config.batch_size == 64                 # config over it
    assert agent.n_updates == (400 - 100) // 4 and agent.total_steps == 400
    info = json.loads((run_dir / "run.json").read_text())
    assert info["config_layers"] == [TUNED, "config", "arguments"]
    assert info["config_sources"]["learning_rate"] == TUNED and info["config_sources"]["net_arch"] == "config"
    assert info["config_sources"]["total_steps"] == "arguments" and info["total_steps"] == 400
    assert (run_dir / "final.npz").is_file()


def test_the_api_trains_exactly_what_the_cli_trains(trained, tmp_path):
    _, run_dir = trained
    sets = [arg for key, value in SMALL.items() for arg in ("--set", f"{key}={json.dumps(value)}")]
    assert main(["train", "dqn", "CartPole-v1", "--steps", "400", "--seed", "3", "--out", str(tmp_path / "cli"),
                 "--quiet", "--no-gif", "--lanes", "1", "--blas-threads", "1", *sets]) == 0
    api, cli = (rlnn.load_arrays(path / "final.npz")[0] for path in (run_dir, tmp_path / "cli"))
    assert set(api) == set(cli)
    for key in api:
        np.testing.assert_array_equal(api[key], cli[key], err_msg=key)


def test_config_layers_on_the_tuned_file_and_tuned_false_skips_it(tmp_path):
    from agents import DQNConfig

    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"total_steps": 1000, "hyperparameters": {"batch_size": 32, "gamma": 0.9}}))
    trainer = make_trainer("dqn", "CartPole-v1", config=mine, eval_freq=250, env_kwargs={"max_episode_steps": 50},
                           **QUIET)
    c = trainer.agent.config
    assert (c.batch_size, c.gamma, c.learning_rate) == (32, 0.9, 0.0023)     # file over tuned, tuned kept
    assert (trainer.total_steps, trainer.eval_freq) == (1000, 250)
    assert trainer.env_kwargs == {"max_episode_steps": 50}
    assert make_trainer("dqn", "CartPole-v1", 500, config=mine, **QUIET).total_steps == 500   # steps over the file
    bare = make_trainer("dqn", "CartPole-v1", 500, tuned=False, **QUIET)
    assert bare.agent.config.learning_rate == DQNConfig().learning_rate != 0.0023
    assert "config_sources" in bare.run_info and bare.run_info["config_layers"] == ["arguments"]


def test_verbose_prints_where_each_setting_came_from(capsys):
    train("dqn", "CartPole-v1", 50, config={"batch_size": 8}, lanes=1)
    err = capsys.readouterr().err
    assert f"settings from {TUNED}: " in err and "settings from config: batch_size=8" in err
    assert "settings from arguments: total_steps=50" in err
    assert err.count("learning_starts=1000 >= 50 total steps, so no update will be made") == 1
    train("dqn", "CartPole-v1", 50, **QUIET)
    assert capsys.readouterr().err == ""


def test_save_load_and_evaluate_round_trip(trained, tmp_path):
    agent, run_dir = trained
    same = load(save(agent, tmp_path / "agent.npz"))
    from_run = load(run_dir)                                        # a run folder: its final.npz
    obs = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    for other in (same, from_run):
        np.testing.assert_array_equal(other.act(obs), agent.act(obs))
    by_id = evaluate(agent, "CartPole-v1", episodes=3)
    assert evaluate(same, gym.make("CartPole-v1"), episodes=3).returns == by_id.returns
    assert evaluate(same, lambda: gym.make("CartPole-v1"), episodes=3).returns == by_id.returns
    assert len(by_id.returns) == 3 and by_id.mean_return == pytest.approx(np.mean(by_id.returns))
    short = evaluate(agent, "CartPole-v1", episodes=2, env_kwargs={"max_episode_steps": 5})
    assert short.lengths == [5, 5]
    with pytest.raises(UsageError, match="has observations Box of shape \\(3,\\)"):
        evaluate(agent, "Pendulum-v1")
    with pytest.raises(UsageError, match="no such checkpoint or run folder"):
        load(tmp_path / "nothing.npz")


def test_resume_extends_a_run(tmp_path):
    run_dir = tmp_path / "run"
    train("dqn", "CartPole-v1", 200, config=SMALL, run_dir=run_dir, **QUIET)
    agent = resume(run_dir, steps=300, verbose=False)
    assert agent.total_steps == 300 and json.loads((run_dir / "run.json").read_text())["total_steps"] == 300


def test_predict_one_observation_or_a_batch(trained):
    agent, _ = trained
    obs = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    actions = agent.predict(obs)
    assert np.shape(actions) == (5,)
    np.testing.assert_array_equal(actions, agent.act(obs, deterministic=True))
    assert agent.predict(obs[0]) == agent.act(obs[0]) and np.ndim(agent.predict(obs[0])) == 0


@pytest.mark.parametrize("call, message", [
    (lambda: make_trainer("dqn", "CartPole-v1", learning_rate=1e-3), "unknown run setting(s) ['learning_rate']"),
    (lambda: make_trainer("dqn", "CartPole-v1", config={"g": 5.0}), "goes in --env-kwargs g=5.0 (env_kwargs= in"),
    (lambda: make_trainer("dqn", "CartPole-v1", config=[1]), "config must be a dict of hyperparameters or the path"),
    (lambda: make_trainer("dqm", "CartPole-v1"), "unknown algorithm 'dqm'"),
    (lambda: make_trainer("dqn", 42), "env must be an env id, a gymnasium.Env, a Gymnasium vector env or a function"),
    (lambda: make_trainer("dqn", gym.make("CartPole-v1"), env_kwargs={"max_episode_steps": 5}),
     "env_kwargs apply to an env id only; pass them to your env or factory instead"),
    (lambda: make_trainer("dqn", lambda: 1 / 0), "the env factory <function"),
    (lambda: make_trainer("dqn", "no_such_module_rlnn:Env-v0"), "cannot import module 'no_such_module_rlnn'"),
])
def test_mistakes_are_one_line_usage_errors(call, message):
    with pytest.raises(UsageError) as err:
        call()
    assert message in str(err.value) and "\n" not in str(err.value)


# -- training on env objects, and callbacks: the trainer's side (agents.loop, agents.callbacks) ----------------
def test_train_on_an_instance_uses_the_tuned_config_of_its_id():
    agent = train("dqn", gym.make("CartPole-v1"), 300, config=SMALL, **QUIET)
    assert agent.config.learning_rate == 0.0023 and agent.n_updates > 0


class Corridor(gym.Env):
    """Five cells to walk right along; no registered id, so no spec and no tuned file."""
    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.pos = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.pos = max(self.pos + (1 if action == 1 else -1), 0)
        return np.array([self.pos / 5], np.float32), float(self.pos == 5), self.pos == 5, False, {}


def corridor():
    return gym.wrappers.TimeLimit(Corridor(), 20)


def test_train_on_a_factory_of_an_unregistered_env_and_resume_it(tmp_path):
    run_dir = tmp_path / "run"
    agent = train("dqn", corridor, 300, config=SMALL, run_dir=run_dir, eval_freq=150, **QUIET)
    assert agent.n_updates > 0 and agent.config.learning_rate == 1e-4   # no tuned file: the defaults
    assert "eval" in (run_dir / "metrics.csv").read_text()              # evaluated on a second env of the factory
    assert resume(run_dir, 400, env=corridor, verbose=False).total_steps == 400


def test_an_env_without_a_spec_evaluates_on_the_eval_env_given():
    with pytest.raises(UsageError, match="has no spec to make an evaluation env from; pass eval_env="):
        make_trainer("dqn", Corridor(), 200, eval_freq=100, **QUIET)
    trainer = make_trainer("dqn", Corridor(), 200, config=SMALL, eval_freq=100, eval_env=corridor, **QUIET)
    assert trainer.run()["last_eval_mean_return"] is not None


def test_train_on_a_vector_env():
    envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    agent = train("dqn", envs, 400, config=SMALL, **QUIET)
    assert agent.n_updates > 0 and agent.config.n_envs == 2 and agent.config.learning_rate == 0.0023


def test_callbacks_reach_the_trainer():
    from agents.callbacks import Callback

    class Count(Callback):
        steps = 0

        def on_step(self, trainer):
            Count.steps += 1

    train("dqn", "CartPole-v1", 120, config=SMALL, callbacks=[Count()], **QUIET)
    assert Count.steps > 0
