"""The rollout: the run's env rows, one update's experience as [segments, horizon] tensors,
the truncation bootstrap, and the statistics of the episodes that ended.

- The envs run in SAME_STEP autoreset mode: the step that ends an episode already returns
  the next episode's first observation, so every step of the rollout is a real transition.
  A truncated step (time limit) is not a failure: its reward gets gamma * V(final
  observation) added and the step is marked done, so the bootstrap uses the real next state.
- Storage is [segments, horizon] tensors, one segment per env row: the layout of the
  advantage op (trainer/advantage.py).
- Overlap (overlap_rollout): the rows are two vector envs of half the rows each; while one
  half's envs step in a worker thread (the native step releases the GIL), the policy acts
  for the other half, so neither waits for the other.
"""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

import shoal  # registers the shoal ids
from shoal.trainer.config import Config, ConfigError
from shoal.trainer.policies import ActorCritic

if TYPE_CHECKING:
    from shoal.trainer.distributed import Distributed


# ---- the env rows: one vector env, or two halves that overlap with the policy ----


def make_envs(
    config: Config, num_envs: int | None = None, **render_options: Any
) -> gymnasium.vector.VectorEnv:
    """The native vector env in SAME_STEP autoreset mode (render_options: render_mode,
    render_env_index, render_view); a bad env setting is a ConfigError."""
    try:
        return gymnasium.make_vec(
            config.env_id,
            num_envs=num_envs or config.num_envs,
            autoreset_mode=AutoresetMode.SAME_STEP,
            num_threads=config.num_threads,
            **config.env,
            **render_options,
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{config.env_id} rejects the env settings: {error}") from None


def agents_per_world(config: Config) -> int:
    """How many agents (rows) one world of the config's env holds, from the game alone (no
    env built); a bad env setting is a ConfigError. A vector env that is not shoal's (one
    registered by the user) counts each row as its own world."""
    if not config.env_id.startswith("shoal/"):
        return 1
    try:
        return shoal.vector_env_class(config.env_id).game_for(**config.env).agents_per_world()
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{config.env_id} rejects the env settings: {error}") from None


class EnvRows:
    """The num_envs rows of the run as one native vector env, or, with overlap_rollout, as two
    of half the rows each (whole worlds: a multi-agent world never straddles the halves).
    Row i is seeded with seed + i either way, so the halves play the episodes one env would.
    `step_async(half, actions)` steps one half in a worker thread and returns a future."""

    def __init__(self, config: Config):
        agents = agents_per_world(config)
        halves = 2 if config.overlap_rollout and config.num_envs % (2 * agents) == 0 else 1
        self.overlap_refused = config.overlap_rollout and halves == 1
        size = config.num_envs // halves
        self.envs = [make_envs(config, num_envs=size) for _ in range(halves)]
        self.rows = [slice(half * size, (half + 1) * size) for half in range(halves)]
        self.observation_space = self.envs[0].single_observation_space
        self.action_space = self.envs[0].single_action_space
        self.score_stat = score_stat(self.envs[0])
        self.worker = concurrent.futures.ThreadPoolExecutor(1) if halves == 2 else None

    def describe(self) -> str:
        if self.worker is not None:
            return "envs in 2 halves overlapping the policy"
        if self.overlap_refused:
            return "envs in one batch (num_envs / 2 is not whole worlds: no overlap)"
        return "envs in one batch"

    def reset(self, seed: int) -> list[tuple[slice, np.ndarray, dict[str, Any]]]:
        """(rows, observations, infos) of each group's reset."""
        return [(rows, *envs.reset(seed=seed + rows.start)) for envs, rows in zip(self.envs, self.rows)]

    def step_async(self, half: int, actions: np.ndarray) -> concurrent.futures.Future:
        if self.worker is None:  # one batch: step now, hand back a finished future
            future: concurrent.futures.Future = concurrent.futures.Future()
            future.set_result(self.envs[half].step(actions))
            return future
        return self.worker.submit(self.envs[half].step, actions)

    def get_state(self) -> list[dict[str, np.ndarray]]:
        return [envs.get_state() for envs in self.envs]

    def set_state(self, states: list[dict[str, Any]]) -> None:
        if len(states) != len(self.envs):
            raise ValueError(f"the checkpoint holds {len(states)} env groups, this run has "
                             f"{len(self.envs)}: resume with the run's own overlap_rollout")
        for envs, state in zip(self.envs, states):
            envs.set_state(state)

    def close(self) -> None:
        if self.worker is not None:
            self.worker.shutdown(wait=True)
        for envs in self.envs:
            envs.close()


# ---- the rollout ----


class RolloutStorage:
    """One update's experience, [segments, horizon] per quantity, on the training device, plus
    what carries from one rollout to the next: the next observation, whether it starts an
    episode, its action mask, and the LSTM state."""

    def __init__(self, config: Config, envs: EnvRows, policy: ActorCritic, device: torch.device):
        segments, horizon = config.num_envs, config.horizon
        self.config, self.device = config, device
        obs_space, action_space = envs.observation_space, envs.action_space
        self.obs = torch.zeros((segments, horizon, *obs_space.shape),
                               dtype=torch_dtype(obs_space.dtype), device=device)
        if isinstance(action_space, gymnasium.spaces.Discrete):
            self.actions = torch.zeros((segments, horizon), dtype=torch.long, device=device)
        else:
            self.actions = torch.zeros((segments, horizon, *action_space.shape), device=device)
        self.logprobs = torch.zeros((segments, horizon), device=device)
        self.rewards = torch.zeros((segments, horizon), device=device)
        self.dones = torch.zeros((segments, horizon), device=device)
        self.values = torch.zeros((segments, horizon), device=device)
        self.starts = torch.zeros((segments, horizon), dtype=torch.bool, device=device)
        self.next_value = torch.zeros(segments, device=device)
        self.masks: torch.Tensor | None = None  # [segments, horizon, n] when the env gives action_mask
        self.action_count = int(action_space.n) if isinstance(action_space, gymnasium.spaces.Discrete) else 0
        # Carried between rollouts.
        self.next_obs = torch.zeros((segments, *obs_space.shape), dtype=self.obs.dtype, device=device)
        self.next_starts = torch.ones(segments, dtype=torch.bool, device=device)
        self.next_mask: torch.Tensor | None = None
        self.state = policy.initial_state(segments, device)  # the LSTM state before next_obs
        self.first_state = None if self.state is None else self.state.clone()  # per segment
        self.to_env_actions = env_action_converter(action_space, device)

    def start(self, resets: list[tuple[slice, np.ndarray, dict[str, Any]]]) -> None:
        """Take the first observations (and action masks) from EnvRows.reset's results."""
        for rows, obs, infos in resets:
            self.next_obs[rows] = torch.from_numpy(obs).to(self.device)
            self.take_mask(rows, infos)

    def take_mask(self, rows: slice, infos: dict[str, Any]) -> None:
        if "action_mask" not in infos:
            return
        if self.action_count == 0:
            raise ConfigError("the env gives info['action_mask'] but its action space is not Discrete")
        if self.next_mask is None:
            segments, horizon = self.rewards.shape
            self.next_mask = torch.ones((segments, self.action_count), dtype=torch.bool, device=self.device)
            self.masks = torch.ones((segments, horizon, self.action_count), dtype=torch.bool, device=self.device)
        self.next_mask[rows] = torch.as_tensor(np.asarray(infos["action_mask"], dtype=bool), device=self.device)

    def collect(self, envs: EnvRows, policy: ActorCritic, episodes: EpisodeStats) -> None:
        """Fill the storage with `horizon` steps of every row. With two halves, while the worker
        thread steps one half's envs the policy acts for the other."""
        halves = len(envs.envs)
        if self.state is not None:
            self.first_state.copy_(self.state)
        pending: list[concurrent.futures.Future | None] = [None] * halves
        horizon = self.rewards.shape[1]
        for step in range(horizon + 1):
            for half, rows in enumerate(envs.rows):
                if pending[half] is not None:  # the half's previous step: record its outcome
                    self.record(step - 1, rows, pending[half].result(), policy, episodes)
                    pending[half] = None
                if step == horizon:
                    continue
                if step == 0:  # later steps' observations were stored by record()
                    self.obs[rows, 0] = self.next_obs[rows]
                self.starts[rows, step] = self.next_starts[rows]
                mask = None
                if self.next_mask is not None:
                    mask = self.next_mask[rows]
                    self.masks[rows, step] = mask
                state = None if self.state is None else self.state[rows]
                action, logprob, value, state = policy.act(
                    self.obs[rows, step], state, self.next_starts[rows], mask)
                if state is not None:
                    self.state[rows] = state
                self.actions[rows, step] = action
                self.logprobs[rows, step] = logprob
                self.values[rows, step] = value
                pending[half] = envs.step_async(half, self.to_env_actions(action))
        self.next_value = policy.value(self.next_obs, self.state, self.next_starts)

    def record(self, step: int, rows: slice, outcome: tuple, policy: ActorCritic,
               episodes: EpisodeStats) -> None:
        """Store one step's rewards and dones for `rows`, bootstrapping truncations."""
        next_obs, reward, terminations, truncations, infos = outcome
        # Scaled before the truncation bootstrap, which adds a value in the scaled units.
        reward = torch.from_numpy(reward).to(self.device) * self.config.reward_scale
        if truncations.any():
            state = None if self.state is None else self.state[rows]
            bootstrap_truncations(
                reward, terminations, truncations, infos,
                lambda final_obs, index: policy.value(
                    final_obs, None if state is None else state[index]),
                self.config.gamma,
            )
        ended = torch.from_numpy(terminations | truncations).to(self.device)
        self.rewards[rows, step] = reward
        self.dones[rows, step] = ended.float()
        # Copied once, straight to where it is read: the next step's slot, or after the last
        # step the carry into the next rollout.
        observations = torch.from_numpy(next_obs).to(self.device)
        if step + 1 < self.obs.shape[1]:
            self.obs[rows, step + 1] = observations
        else:
            self.next_obs[rows] = observations
        self.next_starts[rows] = ended
        self.take_mask(rows, infos)
        episodes.add(infos)

    def units(self, unit_length: int) -> dict[str, torch.Tensor | None]:
        """The storage viewed as [units, unit_length, ...] (segments split into units)."""
        segments, horizon = self.rewards.shape
        count = segments * horizon // unit_length

        def view(tensor: torch.Tensor | None) -> torch.Tensor | None:
            return None if tensor is None else tensor.reshape(count, unit_length, *tensor.shape[2:])

        return {"obs": view(self.obs), "actions": view(self.actions), "logprobs": view(self.logprobs),
                "values": view(self.values), "starts": view(self.starts), "masks": view(self.masks)}


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


def env_action_converter(
    action_space: gymnasium.Space, device: torch.device
) -> Callable[[torch.Tensor], np.ndarray]:
    """policy actions -> the env's numpy actions: int32 for Discrete; for a Box, float32
    clipped to its bounds (the Gaussian's samples are unbounded)."""
    if isinstance(action_space, gymnasium.spaces.Discrete):
        return lambda action: action.to(torch.int32).cpu().numpy()
    low = torch.as_tensor(action_space.low, dtype=torch.float32, device=device)
    high = torch.as_tensor(action_space.high, dtype=torch.float32, device=device)
    return lambda action: torch.clamp(action, low, high).cpu().numpy()


def bootstrap_truncations(
    rewards: torch.Tensor,
    terminations: np.ndarray,
    truncations: np.ndarray,
    infos: dict[str, Any],
    get_value: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    gamma: float,
) -> None:
    """rewards[i] += gamma * V(final observation of row i), in place, for every row cut off by
    the time limit and not terminated on the same step: the value of the state it was cut off
    in stands for the rest of the episode (Pardo et al., 2018). The caller marks the step
    done, so the advantage op does not bootstrap across the reset. `get_value(final_obs,
    rows)` gets the rows' indices as well as their final observations (a recurrent policy
    needs the rows' states)."""
    rows = np.flatnonzero(truncations & ~terminations)
    if rows.size == 0:
        return
    final_obs = torch.from_numpy(np.stack(infos["final_obs"][rows])).to(rewards.device)
    index = torch.from_numpy(rows).to(rewards.device)
    rewards[index] += gamma * get_value(final_obs, index).to(rewards.dtype)


# ---- episode statistics ----


def score_stat(envs: gymnasium.vector.VectorEnv) -> str:
    """The episode statistic that is the game's score (Maze: success); "score" for envs that
    do not say."""
    return getattr(envs, "score_stat", "score")


class EpisodeStats:
    """Means of return, length and score over the episodes finished since the last log,
    from infos["episode_stats"] and its mask infos["_episode_stats"]. The score is the
    statistic `score_name` (the game's score_stat)."""

    def __init__(self, score_name: str = "score") -> None:
        self.score_name = score_name
        self.columns = {"return": "episode_return", "length": "episode_length", score_name: "score"}
        self.sums = dict.fromkeys(self.columns.values(), 0.0)
        self.count = 0

    def add(self, infos: dict[str, Any]) -> None:
        if "episode_stats" not in infos:
            return  # no episode ended on this step
        ended = infos["_episode_stats"]
        stats = infos["episode_stats"]
        for name, column in self.columns.items():
            if name in stats:
                self.sums[column] += float(stats[name][ended].sum())
        self.count += int(ended.sum())

    def means_and_clear(self, distributed: Distributed | None = None) -> dict[str, float]:
        """The means over every rank's episodes (sums all-reduced in a distributed run)."""
        totals = self.state()
        if distributed is not None:
            distributed.all_reduce_sum(totals)
        count = int(totals[-1])
        means = {column: float(total) / count if count else math.nan
                 for column, total in zip(self.sums, totals[:-1])}
        self.__init__(self.score_name)
        return {"episodes": count, **means}

    def state(self) -> torch.Tensor:
        return torch.tensor([*self.sums.values(), float(self.count)], dtype=torch.float64)

    def load(self, state: torch.Tensor) -> None:
        values = state.tolist()
        self.sums = dict(zip(self.sums, values[:-1]))
        self.count = int(values[-1])
