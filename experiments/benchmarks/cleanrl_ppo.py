"""A reference timer, not part of rlnn: PPO for discrete actions in PyTorch, written for this
benchmark in the style of CleanRL's single-file ``ppo.py`` (one file, a config dataclass, a
gymnasium ``SyncVectorEnv``, the update in a handful of lines; no code taken from CleanRL)::

    python -m experiments.benchmarks.cleanrl_ppo [--total-timesteps 100000] [--seed 0] [--torch-threads N]

It answers one question of issue 20: PureJaxRL reports CartPole PPO about 10x faster than
CleanRL's PyTorch script; where does rlnn stand against a CleanRL-style PyTorch PPO doing the same
work? So its defaults are rlnn's CartPole config (``experiments/configs/ppo/CartPole-v1.json``,
the zoo's; a test keeps them equal) and it does what rlnn and Stable-Baselines3 do where CleanRL's
script differs:

* minibatches of ``batch_size`` rows (CleanRL: a number of minibatches); the budget rounded up to
  whole rollouts, as ``compare_sb3`` runs the other two;
* the learning rate and the clip range fall linearly to 0 at the end, read after each rollout
  (``1 − step / total``, SB3's ``progress_remaining``);
* a value loss ``mean (R − V)²`` without CleanRL's ½, no value clipping;
* an episode cut by the time limit bootstraps from its final observation's value (``r + γ V``).

It prints one JSON line: the training loop's wall time (``train_s``: collection and updates, as
``compare_sb3`` times ``trainer.run()`` and ``model.learn()``), the whole process's from this
file's first line (``process_s``: imports and the final evaluation included), steps/s and the
mean return of 20 deterministic episodes on rlnn's evaluation seeds.
"""

import time

PROCESS_START = time.perf_counter()    # before the imports: they are part of the process's time

import argparse
import dataclasses
import json
import random

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn
from torch.distributions import Categorical


@dataclasses.dataclass
class Args:
    env_id: str = "CartPole-v1"
    total_timesteps: int = 100_000
    """env steps, all envs together (rounded up to whole rollouts)"""
    seed: int = 0
    torch_threads: int = 0
    """torch.set_num_threads (0: PyTorch's default, one per core)"""
    num_envs: int = 8
    num_steps: int = 32
    """vector steps per rollout"""
    batch_size: int = 256
    """rows per minibatch"""
    update_epochs: int = 20
    learning_rate: float = 1e-3
    gamma: float = 0.98
    gae_lambda: float = 0.8
    clip_coef: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_width: int = 64
    """two hidden tanh layers of this width, actor and critic apart"""
    eval_episodes: int = 20


def make_env(env_id: str):
    return lambda: gym.make(env_id)


def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    torch.nn.init.orthogonal_(layer.weight, std)
    torch.nn.init.constant_(layer.bias, bias)
    return layer


class Agent(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, width: int) -> None:
        super().__init__()

        def mlp(out: int, std: float) -> nn.Sequential:
            return nn.Sequential(layer_init(nn.Linear(obs_dim, width)), nn.Tanh(),
                                 layer_init(nn.Linear(width, width)), nn.Tanh(), layer_init(nn.Linear(width, out), std))
        self.critic, self.actor = mlp(1, 1.0), mlp(n_actions, 0.01)

    def get_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(x).flatten()

    def get_action_and_value(self, x: torch.Tensor, action: torch.Tensor | None = None):
        probs = Categorical(logits=self.actor(x))
        if action is None:
            action = probs.sample()
        return action, probs.log_prob(action), probs.entropy(), self.critic(x).flatten()


def train(args: Args) -> dict:
    """Train as the module docstring says; the figures of the run (and the trained ``agent``)."""
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    rollout = args.num_envs * args.num_steps
    num_iterations = -(-args.total_timesteps // rollout)
    total = num_iterations * rollout
    # SAME_STEP: a finished sub-env resets within the step, its last observation in info["final_obs"]
    envs = gym.vector.SyncVectorEnv([make_env(args.env_id) for _ in range(args.num_envs)],
                                    autoreset_mode=AutoresetMode.SAME_STEP)
    obs_dim, n_actions = envs.single_observation_space.shape[0], int(envs.single_action_space.n)
    agent = Agent(obs_dim, n_actions, args.net_width)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)
    rng = np.random.default_rng(args.seed)

    obs = torch.zeros((args.num_steps, args.num_envs, obs_dim))
    actions, logprobs, rewards, dones, values = (torch.zeros((args.num_steps, args.num_envs)) for _ in range(5))
    start = time.perf_counter()
    global_step, updates = 0, 0
    next_obs = torch.tensor(envs.reset(seed=args.seed)[0], dtype=torch.float32)
    next_done = torch.zeros(args.num_envs)
    for _ in range(num_iterations):
        for step in range(args.num_steps):
            global_step += args.num_envs
            obs[step], dones[step] = next_obs, next_done
            with torch.no_grad():
                action, logprob, _, value = agent.get_action_and_value(next_obs)
            values[step], actions[step], logprobs[step] = value, action, logprob
            next_obs_np, reward, terminations, truncations, infos = envs.step(action.numpy())
            cut = truncations & ~terminations
            if cut.any():   # a time-limit cut bootstraps from its final observation, as SB3 and rlnn do
                final = torch.tensor(np.stack(infos["final_obs"][cut]), dtype=torch.float32)
                reward = reward.astype(np.float64)
                with torch.no_grad():
                    reward[cut] += args.gamma * agent.get_value(final).numpy()
            rewards[step] = torch.tensor(reward, dtype=torch.float32)
            next_obs = torch.tensor(next_obs_np, dtype=torch.float32)
            next_done = torch.tensor(np.logical_or(terminations, truncations), dtype=torch.float32)

        progress = 1.0 - global_step / total      # SB3's progress_remaining, read after the rollout
        optimizer.param_groups[0]["lr"] = args.learning_rate * progress
        clip = args.clip_coef * progress
        with torch.no_grad():     # GAE(λ)
            next_value = agent.get_value(next_obs)
            advantages = torch.zeros_like(rewards)
            lastgaelam = 0
            for t in reversed(range(args.num_steps)):
                nextnonterminal = 1.0 - (next_done if t == args.num_steps - 1 else dones[t + 1])
                nextvalues = next_value if t == args.num_steps - 1 else values[t + 1]
                delta = rewards[t] + args.gamma * nextvalues * nextnonterminal - values[t]
                advantages[t] = lastgaelam = delta + args.gamma * args.gae_lambda * nextnonterminal * lastgaelam
            returns = advantages + values

        b_obs, b_actions, b_logprobs = obs.reshape(-1, obs_dim), actions.reshape(-1), logprobs.reshape(-1)
        b_advantages, b_returns = advantages.reshape(-1), returns.reshape(-1)
        for _ in range(args.update_epochs):
            b_inds = rng.permutation(rollout)
            for begin in range(0, rollout, args.batch_size):
                mb = b_inds[begin:begin + args.batch_size]
                _, newlogprob, entropy, newvalue = agent.get_action_and_value(b_obs[mb], b_actions.long()[mb])
                ratio = (newlogprob - b_logprobs[mb]).exp()
                mb_adv = b_advantages[mb]
                mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                pg_loss = torch.max(-mb_adv * ratio, -mb_adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
                v_loss = ((newvalue - b_returns[mb]) ** 2).mean()
                loss = pg_loss - args.ent_coef * entropy.mean() + args.vf_coef * v_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()
                updates += 1
    train_s = time.perf_counter() - start
    envs.close()
    return {"steps": global_step, "updates": updates, "train_s": train_s, "steps_per_s": global_step / train_s,
            "torch_threads": torch.get_num_threads(), "agent": agent}


def evaluate_agent(agent: Agent, env_id: str, episodes: int) -> tuple[float, float]:
    """Mean and std of ``episodes`` greedy episodes on rlnn's evaluation seeds."""
    from agents.evaluation import evaluate

    def policy(o: np.ndarray) -> int:
        with torch.no_grad():
            return int(agent.actor(torch.tensor(o, dtype=torch.float32)).argmax())
    result = evaluate(policy, gym.make(env_id), episodes)
    return result.mean_return, result.std_return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for f in dataclasses.fields(Args):
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = Args(**vars(parser.parse_args(argv)))
    result = train(args)
    agent = result.pop("agent")
    mean, std = evaluate_agent(agent, args.env_id, args.eval_episodes) if args.eval_episodes else (None, None)
    print(json.dumps({"lib": "cleanrl-style PyTorch PPO", "env_id": args.env_id, "seed": args.seed, **result,
                      "process_s": time.perf_counter() - PROCESS_START, "eval_mean_return": mean,
                      "eval_std_return": std, "torch": torch.__version__}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
