"""Optional observation and reward normalization of the off-policy agents: the config keys
``normalize_observations``, ``normalize_rewards`` and ``normalize_clip``. Both are off by default,
and then nothing here touches a number: same-seed results are those of an agent without it.

**Observations**, as Stable-Baselines3's ``VecNormalize`` does them::

    x̃ = clip((x − μ) / sqrt(σ² + ε), −c, c)          ε = 1e-8,  c = normalize_clip

``μ`` and ``σ²`` (float64, one per input) are the running mean and variance
(:class:`rlnn.normalization.RunningMeanStd`) of the encoded observations ``explore`` is given,
each once: the training loop calls ``explore`` once per env step with that step's observation
(or the batch of its sub-envs). ``act``/``predict`` apply the current statistics and never change
them, so they are frozen at evaluation; ``prepare`` applies them to both observations of every
sampled transition. The replay memory keeps raw encoded observations, so every update sees its
transitions normalized with the statistics of the moment (SB3 stores the original observations
too, and normalizes them when it samples). A terminal observation (``next_obs`` of the step that
ends an episode) is not counted, since ``explore`` never sees it; nor is it in SB3. The
statistics are saved with the agent, in policy files too, so ``rlnn eval``, ``rlnn render`` and
a shipped policy all act on the observations the policy was trained on.

**Rewards** (``normalize_rewards``), divided by a running scale that needs nothing from the
training loop::

    r̃ = clip(r / sqrt(m₂ + ε), −c, c)          m₂ = mean of r² over the rewards of the sampled batches

``m₂ = σ_r² + μ_r²`` comes from a :class:`~rlnn.normalization.RunningMeanStd` of the rewards of
every batch ``prepare`` is given, updated before the batch is scaled. Scaling by a constant
``1/s`` scales every value function by ``1/s`` and leaves the greedy policy as it is (DQN, TD3);
for SAC it is the same as multiplying the temperature by ``s`` (the learned temperature adapts
to it). Neither the mean is subtracted (that would change what ending an episode is worth) nor
the centred standard deviation used (a constant reward, like CartPole's +1, has none). The
batches are sampled uniformly, so ``m₂`` estimates the mean of ``r²`` over the replay memory;
with ``n_step > 1`` ``r`` is the sampled n-step sum, the quantity the TD target adds.

SB3's ``VecNormalize(norm_reward=True)`` differs: at collection time, per env, it follows the
discounted return ``G_t = γ G_{t−1} + r_t`` (0 at each episode's start) and divides rewards by
``sqrt(Var[G] + ε)``, clipped to ±10. That needs the reward stream as it is collected (a wrapper
on the env), which an agent never sees. For independent rewards of mean 0 and variance ``σ²``,
``Var[G] = σ² / (1 − γ²)``, 50 σ² at γ = 0.99, so SB3's rewards come out about 7x smaller than
these; with a nonzero mean ``G`` also spreads with the episode's length.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from rlnn.normalization import RunningMeanStd

from .replay import Batch

EPSILON = 1e-8
SECTIONS = ("obs_rms", "reward_rms")    # checkpoint array prefixes: "obs_rms/mean", ...


class Normalization:
    """The observation and reward statistics of one agent (either may be off: ``None``).

    ``observe`` (in ``explore``) counts observations; ``observations`` (in ``act``) and
    ``batches`` (in ``prepare``) apply the statistics. Arrays: encoded observations ``(obs_dim,)``
    or ``(n, obs_dim)`` float32, as :class:`~agents.spaces.ObservationEncoder` gives them."""

    def __init__(self, obs_dim: int, config: Any) -> None:
        self.clip = float(config.normalize_clip)
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"config key 'normalize_clip' must be a positive number, got {config.normalize_clip}")
        self.obs = RunningMeanStd((obs_dim,), EPSILON) if config.normalize_observations else None
        self.rewards = RunningMeanStd((), EPSILON) if config.normalize_rewards else None

    def observe(self, obs: np.ndarray) -> None:
        """Count ``obs`` (training only)."""
        if self.obs is not None:
            self.obs.update(obs)

    def observations(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` normalized with the current statistics (``obs`` itself when off)."""
        return obs if self.obs is None else self.obs.normalize(obs, self.clip)

    def batches(self, batches: list[Batch]) -> list[Batch]:
        """The batches with observations normalized and rewards scaled (the same list when both
        are off). The reward statistics count each batch's rewards first."""
        if self.obs is None and self.rewards is None:
            return batches
        out = []
        for batch in batches:
            changes = {}
            if self.obs is not None:
                changes.update(obs=self.observations(batch.obs), next_obs=self.observations(batch.next_obs))
            if self.rewards is not None:
                self.rewards.update(batch.rewards)
                scale = 1.0 / math.sqrt(float(self.rewards.var + self.rewards.mean ** 2) + EPSILON)
                changes["rewards"] = np.clip(batch.rewards * scale, -self.clip, self.clip).astype(np.float32)
            out.append(dataclasses.replace(batch, **changes))
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """``"obs_rms/mean"``, ``"obs_rms/var"``, ``"obs_rms/count"`` and the same for
        ``reward_rms``, for the statistics that are on."""
        return {f"{section}/{key}": value for section, stats in self._parts() if stats is not None
                for key, value in stats.state_dict().items()}

    def load_state_dict(self, arrays: dict[str, np.ndarray], policy_only: bool = False) -> None:
        """The statistics from a checkpoint's arrays. A section of statistics the config turns
        off, or one it turns on that is missing, is a one-line ``ValueError``; a policy file
        (``policy_only``) needs only the observation statistics."""
        for section, stats in self._parts():
            part = {key.split("/", 1)[1]: value for key, value in arrays.items() if key.startswith(f"{section}/")}
            if stats is None:
                if part:
                    raise ValueError(f"the file holds {section} statistics but the config turns that normalization off")
                continue
            if not part:
                if policy_only and section == "reward_rms":
                    continue          # acting does not need it; a policy file leaves it out
                raise ValueError(f"the file holds no {section} statistics but the config turns that normalization on")
            try:
                stats.load_state_dict(part)
            except ValueError as exc:
                raise ValueError(f"{section}: {exc}") from None

    def _parts(self) -> tuple[tuple[str, RunningMeanStd | None], ...]:
        return ("obs_rms", self.obs), ("reward_rms", self.rewards)
