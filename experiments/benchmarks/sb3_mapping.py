"""rlnn's hyperparameters as Stable-Baselines3 takes them: the one mapping that the comparison
(:mod:`experiments.benchmarks.compare_sb3`) and the suite's SB3 runs
(:mod:`experiments.benchmarks.suite.sb3_run`) both use (extra ``bench``; PyTorch and SB3 are
imported only when a function needs them).

Only the keys given are mapped; the rest stay at SB3's defaults, which are rlnn's (a test checks
the on-policy ones). Off-policy (DQN, SAC, TD3; DDPG is SB3's TD3 with one critic, no policy delay
and no target smoothing, which is what rlnn's ddpg keys say): the same names, ``n_step`` as
``n_steps``, TD3's target noise renamed, ``action_noise`` as a ``NormalActionNoise``. On-policy
(PPO, A2C)::

    rlnn                                        SB3
    n_envs, vec_env "sync" / "async"            make_vec_env(n_envs, DummyVecEnv / SubprocVecEnv)
    normalize_observations, normalize_rewards,  VecNormalize(norm_obs, norm_reward, clip_obs = clip_reward
      normalize_clip, gamma                       = normalize_clip, gamma, epsilon 1e-8)
    learning_rate(_schedule), clip_range(_sch.)  a float, or LinearSchedule(x, 0, 1): x · progress_remaining
    clip_range None (no clipping)               clip_range inf (clip(ρ, −inf, inf) = ρ: the same loss)
    batch_size None (the whole rollout)         batch_size n_steps · n_envs
    max_grad_norm 0 (off)                       max_grad_norm inf (torch's clip then scales by 1)
    net_arch, separate networks                 policy_kwargs net_arch (SB3's pi and vf of those widths)
    net_arch, share_net                         a features extractor MLP(net_arch) shared by both heads, net_arch []
    activation, ortho_init, log_std_init        policy_kwargs activation_fn, ortho_init, log_std_init
    optimizer "adam" / "rmsprop", optimizer_eps policy_kwargs optimizer_class Adam / RMSprop(α 0.99), eps

SB3's PPO counts an update per epoch; :func:`sb3_gradient_steps` converts that to minibatch
steps, which is what rlnn counts. The observation and reward normalization of the off-policy
agents is not SB3's ``VecNormalize`` (:mod:`agents.normalization`), so it stays unmapped there.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

from agents import ON_POLICY
from agents.normalization import EPSILON

SB3_CLASSES = {"dqn": "DQN", "sac": "SAC", "td3": "TD3", "ddpg": "TD3", "ppo": "PPO", "a2c": "A2C"}
# Per family ("off", "on") and per algorithm: the keys SB3 takes under the same name.
SB3_SAME_NAME = {
    "off": ("learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "gamma", "train_freq",
            "gradient_steps"),
    "dqn": ("target_update_interval", "exploration_fraction", "exploration_initial_eps", "exploration_final_eps",
            "max_grad_norm"),
    "sac": ("ent_coef", "target_entropy", "target_update_interval", "use_sde", "sde_sample_freq"),
    "td3": ("policy_delay",),
    "on": ("learning_rate", "n_steps", "gamma", "gae_lambda", "ent_coef", "vf_coef", "normalize_advantage"),
    "ppo": ("n_epochs", "clip_range_vf", "target_kl"),
}
SB3_RENAMED = {"off": {"n_step": "n_steps"}, "td3": {"target_noise": "target_policy_noise",
                                                      "noise_clip": "target_noise_clip"}}
SB3_POLICY_KEYS = {"off": ("net_arch", "log_std_init"), "sac": ("n_critics",), "td3": ("n_critics",),
                   "on": ("log_std_init", "ortho_init")}
SB3_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU",
                   "identity": "Identity", "linear": "Identity"}
# Keys the vector env takes (sb3_vec_env), for every algorithm, and for PPO and A2C only.
ENV_KEYS = ("n_envs", "vec_env")
NORMALIZE_KEYS = ("normalize_observations", "normalize_rewards", "normalize_clip")
# The on-policy keys _on_policy_arguments turns into other arguments (SB3's A2C has no clipping
# and no minibatches: those keys stay unused there).
ON_POLICY_READ = {"on": ("max_grad_norm", "net_arch", "share_net", "optimizer", "optimizer_eps", *NORMALIZE_KEYS),
                  "ppo": ("clip_range", "clip_range_schedule", "batch_size")}


def rlnn_setting(algo: str, hp: dict[str, Any], key: str) -> Any:
    """``hp[key]``, or rlnn's default of ``key`` for ``algo`` (its config dataclass) when not given."""
    import agents

    if key in hp:
        return hp[key]
    field = next(f for f in dataclasses.fields(agents.ALGORITHMS[algo].Config) if f.name == key)
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def sb3_arguments(algo: str, hp: dict[str, Any], n_actions: int) -> tuple[dict[str, Any], list[str]]:
    """SB3's keyword arguments for ``algo`` with the rlnn hyperparameters ``hp`` (only the keys
    given: the rest stay at SB3's defaults), and the keys of ``hp`` SB3 has no equivalent for
    (``double_q``, ``dueling``, the off-policy normalization, ...), which it then runs without.
    ``n_actions``: the action dimension (for TD3's action noise). The env keys (:data:`ENV_KEYS`,
    and the on-policy :data:`NORMALIZE_KEYS`) are :func:`sb3_vec_env`'s."""
    import torch

    family = "on" if algo in ON_POLICY else "off"
    kind = "td3" if algo == "ddpg" else algo
    same = (*SB3_SAME_NAME[family], *SB3_SAME_NAME.get(kind, ()))
    renamed = {**SB3_RENAMED.get(family, {}), **SB3_RENAMED.get(kind, {})}
    policy_keys = (*SB3_POLICY_KEYS[family], *SB3_POLICY_KEYS.get(kind, ()))
    kwargs: dict[str, Any] = {k: hp[k] for k in same if k in hp}
    kwargs.update({sb3_key: hp[k] for k, sb3_key in renamed.items() if k in hp})
    policy = {k: hp[k] for k in policy_keys if k in hp}
    taken = {*same, *renamed, *policy_keys, *ENV_KEYS, "learning_rate_schedule"}
    if hp.get("activation") in SB3_ACTIVATIONS:
        policy["activation_fn"] = getattr(torch.nn, SB3_ACTIVATIONS[hp["activation"]])
        taken.add("activation")
    if hp.get("learning_rate_schedule", "constant") == "linear":     # to 0 at the end, as rlnn's
        kwargs["learning_rate"] = _linear(rlnn_setting(algo, hp, "learning_rate"))
    if family == "on":
        taken |= _on_policy_arguments(algo, hp, kwargs, policy)
    else:
        taken |= _off_policy_arguments(kind, hp, kwargs, n_actions)
    if policy:
        kwargs["policy_kwargs"] = policy
    return kwargs, sorted(set(hp) - taken)


def _linear(start: float) -> Any:
    """SB3's schedule of ``start × progress_remaining`` (``1 − step / total_steps``, as rlnn's "linear")."""
    from stable_baselines3.common.utils import LinearSchedule
    return LinearSchedule(start, 0.0, 1.0)


def _off_policy_arguments(kind: str, hp: dict[str, Any], kwargs: dict[str, Any], n_actions: int) -> set[str]:
    """The off-policy arguments beyond names (into ``kwargs``); returns the keys they took."""
    import numpy as np
    from stable_baselines3.common.noise import NormalActionNoise

    if kind == "sac" and "target_entropy" in kwargs and kwargs["target_entropy"] is None:
        kwargs["target_entropy"] = "auto"       # rlnn's None is SB3's "auto": -act_dim
    if kind == "td3" and "action_noise" in hp:   # both in [-1, 1] units: SB3 adds it to the scaled action
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n_actions), hp["action_noise"] * np.ones(n_actions))
        return {"action_noise"}
    return set()


def _on_policy_arguments(algo: str, hp: dict[str, Any], kwargs: dict[str, Any], policy: dict[str, Any]) -> set[str]:
    """PPO's and A2C's arguments beyond names (the table in the module docstring), into
    ``kwargs`` and ``policy``; returns the keys they took."""
    import torch

    if algo == "ppo":
        if "clip_range" in hp or "clip_range_schedule" in hp:
            clip = rlnn_setting(algo, hp, "clip_range")
            clip = math.inf if clip is None else clip
            linear = rlnn_setting(algo, hp, "clip_range_schedule") == "linear" and math.isfinite(clip)
            kwargs["clip_range"] = _linear(clip) if linear else clip
        if "batch_size" in hp:
            rollout = rlnn_setting(algo, hp, "n_steps") * rlnn_setting(algo, hp, "n_envs")
            kwargs["batch_size"] = rollout if hp["batch_size"] is None else hp["batch_size"]
    if "max_grad_norm" in hp:
        kwargs["max_grad_norm"] = hp["max_grad_norm"] or math.inf
    if "net_arch" in hp or "share_net" in hp:
        arch = list(rlnn_setting(algo, hp, "net_arch"))
        if rlnn_setting(algo, hp, "share_net"):
            activation = SB3_ACTIVATIONS.get(rlnn_setting(algo, hp, "activation"), "Tanh")
            policy.update(net_arch=[], features_extractor_class=mlp_trunk_class(),
                          features_extractor_kwargs={"net_arch": arch, "activation_fn": getattr(torch.nn, activation)})
        else:
            policy["net_arch"] = arch
    if "optimizer" in hp or "optimizer_eps" in hp:
        eps = rlnn_setting(algo, hp, "optimizer_eps")
        if rlnn_setting(algo, hp, "optimizer") == "rmsprop":
            from agents.ppo import RMSPROP_ALPHA
            policy.update(optimizer_class=torch.optim.RMSprop, optimizer_kwargs={"alpha": RMSPROP_ALPHA, "eps": eps})
        else:
            policy.update(optimizer_class=torch.optim.Adam, optimizer_kwargs={"eps": eps})
    return {*ON_POLICY_READ["on"], *ON_POLICY_READ.get(algo, ())}


@functools.cache
def mlp_trunk_class() -> type:
    """SB3 features extractor ``MLP([obs_dim, *net_arch])`` with the activation after every layer:
    rlnn's ``share_net`` trunk, under SB3's linear policy and value heads (``net_arch=[]``). SB3's
    orthogonal initialisation gives its layers gain √2, as rlnn gives the trunk's."""
    from stable_baselines3.common.preprocessing import get_flattened_obs_dim
    from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
    from torch import nn

    class MlpTrunk(BaseFeaturesExtractor):
        def __init__(self, observation_space: Any, net_arch: list[int], activation_fn: type = nn.Tanh) -> None:
            super().__init__(observation_space, net_arch[-1])
            layers, width = [nn.Flatten()], get_flattened_obs_dim(observation_space)
            for out in net_arch:
                layers += [nn.Linear(width, out), activation_fn()]
                width = out
            self.trunk = nn.Sequential(*layers)

        def forward(self, observations: Any) -> Any:
            return self.trunk(observations)

    return MlpTrunk


def sb3_vec_env(algo: str, make: Callable[[], Any], hp: dict[str, Any]) -> Any:
    """SB3's vector env of ``make()`` as ``hp`` says: ``n_envs`` copies, ``DummyVecEnv`` (sync) or
    ``SubprocVecEnv`` (async), each in SB3's ``Monitor``; for PPO and A2C ``VecNormalize`` when
    ``normalize_observations`` or ``normalize_rewards`` is on. Unseeded: the model seeds it."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecNormalize

    kind = SubprocVecEnv if hp.get("vec_env", "sync") == "async" else DummyVecEnv
    venv = make_vec_env(make, n_envs=int(hp.get("n_envs", 1)), vec_env_cls=kind)
    norm_obs, norm_reward = (bool(hp.get(k, False)) for k in NORMALIZE_KEYS[:2])
    if algo in ON_POLICY and (norm_obs or norm_reward):
        clip, gamma = rlnn_setting(algo, hp, "normalize_clip"), rlnn_setting(algo, hp, "gamma")
        venv = VecNormalize(venv, norm_obs=norm_obs, norm_reward=norm_reward, clip_obs=clip, clip_reward=clip,
                            gamma=gamma, epsilon=EPSILON)
    return venv


def sb3_model(algo: str, env: Any, hp: dict[str, Any], seed: int) -> tuple[Any, list[str]]:
    """An SB3 model of ``algo`` on ``env`` (an env or an SB3 vector env) with rlnn's
    hyperparameters ``hp`` (see :func:`sb3_arguments`) on the CPU, and the keys SB3 could not take."""
    import stable_baselines3 as sb3

    n_actions = env.action_space.shape[0] if getattr(env.action_space, "shape", None) else 0
    kwargs, unused = sb3_arguments(algo, hp, n_actions)
    return getattr(sb3, SB3_CLASSES[algo])("MlpPolicy", env, **kwargs, seed=seed, device="cpu"), unused


def sb3_setup(algo: str, make: Callable[[], Any], hp: dict[str, Any], seed: int) -> tuple[Any, list[str]]:
    """The SB3 model of ``algo`` with ``hp`` on the vector env of ``make`` (:func:`sb3_vec_env`),
    and the keys SB3 could not take."""
    return sb3_model(algo, sb3_vec_env(algo, make, hp), hp, seed)


def sb3_policy(model: Any) -> Callable[[Any], Any]:
    """The deterministic action of ``model`` for one raw observation, normalized as it trained
    (through its ``VecNormalize``'s statistics, frozen, when it has one)."""
    from stable_baselines3.common.vec_env import VecNormalize

    venv = model.get_env()
    if isinstance(venv, VecNormalize):
        return lambda obs: model.predict(venv.normalize_obs(obs), deterministic=True)[0]
    return lambda obs: model.predict(obs, deterministic=True)[0]


def sb3_gradient_steps(model: Any) -> int:
    """The gradient steps ``model`` made: SB3's PPO counts epochs, each ``⌈n_steps · n_envs /
    batch_size⌉`` minibatch steps (rlnn counts those); the others count gradient steps."""
    from stable_baselines3 import PPO

    if isinstance(model, PPO):
        return int(model._n_updates) * -(-model.n_steps * model.n_envs // model.batch_size)
    return int(model._n_updates)
