"""The one merged-config function: tuned file, then --config, --set and flags, with provenance."""

import json

import pytest

from experiments.configs import (
    DEFAULT,
    ConfigError,
    Layer,
    config_path,
    load_config_file,
    merge_config,
    parse_sets,
)

TUNED = "experiments/configs/dqn/CartPole-v1.json"


def _file(tmp_path, data, name="mine.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_the_tuned_file_alone_and_its_provenance():
    merged = merge_config("dqn", "CartPole-v1")
    tuned = json.loads(config_path("dqn", "CartPole-v1").read_text())
    assert merged.hyperparameters == tuned["hyperparameters"]
    assert (merged.total_steps, merged.eval_freq, merged.eval_episodes) == (50_000, 10_000, 10)
    assert merged.checkpoint_freq == 10_000  # not in the file: a fifth of the run
    assert merged.layers == (TUNED,)
    assert merged.source_of("learning_rate") == TUNED and merged.source_of("total_steps") == TUNED
    assert merged.source_of("checkpoint_freq") == DEFAULT and merged.source_of("tau") == DEFAULT


def test_config_layers_on_the_tuned_file_and_set_goes_over_both(tmp_path):
    mine = _file(tmp_path, {"total_steps": 2000, "hyperparameters": {"learning_rate": 0.01, "batch_size": 32},
                            "env_kwargs": {"max_episode_steps": 100}})
    merged = merge_config("dqn", "CartPole-v1", [Layer.from_file(mine), Layer.from_sets(["batch_size=16"]),
                                                 Layer("--eval-freq", run={"eval_freq": 500})])
    assert merged.hyperparameters["learning_rate"] == 0.01       # --config over the tuned file
    assert merged.hyperparameters["net_arch"] == [256, 256]      # kept from the tuned file
    assert merged.hyperparameters["batch_size"] == 16            # --set over --config
    assert (merged.total_steps, merged.eval_freq, merged.checkpoint_freq) == (2000, 500, 400)
    assert merged.env_kwargs == {"max_episode_steps": 100}
    assert merged.layers == (TUNED, f"--config {mine}", "--set", "--eval-freq")
    assert merged.sources["learning_rate"] == f"--config {mine}" and merged.sources["batch_size"] == "--set"
    assert merged.sources["env_kwargs.max_episode_steps"] == f"--config {mine}"
    assert merged.source_of("net_arch") == TUNED and merged.source_of("eval_freq") == "--eval-freq"
    lines = merged.describe({**merged.hyperparameters, "tau": 1.0})
    assert [line.split(":")[0] for line in lines] == [f"settings from {name}" for name in (*merged.layers, DEFAULT)]
    assert "batch_size=16" in lines[2] and "tau=1.0" in lines[-1] and "checkpoint_freq=400" in lines[-1]


def test_no_tuned_skips_the_file_and_defaults_follow_the_budget():
    merged = merge_config("dqn", "CartPole-v1", [Layer("--steps", run={"total_steps": 3000})], tuned=False)
    assert merged.hyperparameters == {} and merged.layers == ("--steps",)
    assert (merged.total_steps, merged.eval_freq, merged.eval_episodes, merged.checkpoint_freq) == (3000, 300, 10, 600)
    assert merge_config("dqn", "NoTunedFile-v0").layers == ()


def test_env_kwargs_merge_key_by_key(tmp_path):
    low = Layer("a", run={"env_kwargs": {"g": 9.8, "x": 1}})
    high = Layer("b", run={"env_kwargs": {"g": 5.0}})
    merged = merge_config("sac", "Pendulum-v1", [low, high], tuned=False)
    assert merged.env_kwargs == {"g": 5.0, "x": 1}
    assert merged.sources["env_kwargs.g"] == "b" and merged.sources["env_kwargs.x"] == "a"


@pytest.mark.parametrize("content, message", [
    ("{bad", "is not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ('{"hyperparameters": [1]}', "'hyperparameters' must be a JSON object"),
    ('{"budget": 5}', "unknown key(s) ['budget']"),
    ('{"total_steps": 0}', "total_steps must be a positive whole number, got 0"),
    ('{"eval_freq": -1}', "eval_freq must be 0 (off) or a positive whole number, got -1"),
    ('{"total_steps": "many"}', "total_steps must be a positive whole number"),
])
def test_bad_config_files_are_one_line_errors_naming_the_file(tmp_path, content, message):
    path = _file(tmp_path, content)
    with pytest.raises(ConfigError) as err:
        merge_config("dqn", "CartPole-v1", [Layer.from_file(path)])
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_config_file_and_set_syntax(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config_file(tmp_path / "none.json")
    assert parse_sets(["a=1", "b=[1,2]", "c=auto", "d=1e-3", "e="]) == {"a": 1, "b": [1, 2], "c": "auto",
                                                                         "d": 1e-3, "e": ""}
    for bad in ("novalue", "=3"):
        with pytest.raises(ConfigError, match="--set expects key=value"):
            parse_sets([bad])
