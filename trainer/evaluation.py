"""Evaluation: a checkpoint's policy playing whole episodes, counted (`shoal eval`) or
drawn (`shoal watch` and `shoal play --pretrained`'s other agents).

    from shoal.trainer.checkpoint import load_checkpoint
    from shoal.trainer.evaluation import evaluate
    evaluate(load_checkpoint("runs/breakout/checkpoints/final.pt"), episodes=10)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import torch

from shoal.trainer.config import Config, ConfigError, config_from_dict
from shoal.trainer.policies import make_policy
from shoal.trainer.rollout import agents_per_world, env_action_converter, make_envs, score_stat


class CheckpointPolicy:
    """A checkpoint's policy acting for every row of a vector env: numpy observations in, the
    env's actions out. It carries the LSTM state (if any) and resets it at episode starts, and
    honours action masks. Used by `shoal eval` and by `shoal play` for the agents the player
    does not control."""

    def __init__(self, checkpoint: dict[str, Any], envs: gymnasium.vector.VectorEnv,
                 deterministic: bool = False):
        config = config_from_dict(checkpoint["config"], "the checkpoint's config")
        torch.set_num_threads(config.torch_threads)
        # A checkpoint trained on a GPU plays on the CPU where there is none.
        on_gpu = config.device != "cpu" and torch.cuda.is_available()
        self.device = torch.device(config.device if on_gpu else "cpu")
        try:
            self.policy = make_policy(
                config, envs.single_observation_space, envs.single_action_space, self.device
            )
            self.policy.load_state_dict(checkpoint["model"])
        except (RuntimeError, ValueError, TypeError, AttributeError) as error:
            # e.g. --env.vision 3 on a policy trained with another view: the weights' shapes
            # no longer fit the env's spaces
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            first_line = next((line for line in lines if "size mismatch" in line),
                              lines[0] if lines else type(error).__name__)
            raise ConfigError(f"the checkpoint's policy does not fit {config.env_id} with these "
                              f"env settings: {first_line}") from None
        self.policy.eval()
        self.deterministic = deterministic
        self.to_env_actions = env_action_converter(envs.single_action_space, self.device)
        self.state = self.policy.initial_state(envs.num_envs, self.device)

    def __call__(self, observations: np.ndarray, episode_starts: np.ndarray,
                 action_mask: np.ndarray | None = None) -> np.ndarray:
        """Actions for `observations`; episode_starts marks the rows whose episode begins
        with this observation (all of them after a reset)."""
        device = self.device
        mask = None if action_mask is None else torch.as_tensor(
            np.asarray(action_mask, dtype=bool), device=device)
        with torch.inference_mode():
            action, _, _, self.state = self.policy.act(
                torch.from_numpy(np.asarray(observations)).to(device), self.state,
                torch.as_tensor(np.asarray(episode_starts, dtype=bool), device=device),
                mask, self.deterministic,
            )
        return self.to_env_actions(action)


def evaluation_setup(checkpoint: dict[str, Any], episodes: int, seed: int,
                     env_overrides: dict[str, Any] | None = None) -> tuple[Config, int]:
    """The checkpoint's config, its env parameters updated by env_overrides (Maze's
    split="test": held-out mazes), and the env's agents per world (from the game alone, no
    env built), after checking `episodes` and seeding torch's sampling."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    config = config_from_dict(checkpoint["config"], "the checkpoint's config")
    if env_overrides:
        config = dataclasses.replace(config, env={**config.env, **env_overrides})
    torch.manual_seed(seed)
    return config, agents_per_world(config)


def evaluate(
    checkpoint: dict[str, Any], episodes: int = 10, deterministic: bool = False, seed: int = 0,
    env_overrides: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Play the checkpoint's policy for `episodes` episodes, the first episode of each of
    `episodes` env rows (counting first episodes only does not favour short ones), in its
    env with env_overrides applied. Returns the mean and standard deviation of return,
    score, length and the game's other statistics ("<name>_mean", "<name>_std")."""
    config, agents = evaluation_setup(checkpoint, episodes, seed, env_overrides)
    envs = make_envs(config, num_envs=math.ceil(episodes / agents) * agents)
    try:
        collected = play_episodes(CheckpointPolicy(checkpoint, envs, deterministic), envs, seed,
                                  wanted={row: 1 for row in range(episodes)})
    finally:
        envs.close()
    return summarize_episodes([collected[row][0] for row in range(episodes)])


def watch(
    checkpoint: dict[str, Any], episodes: int, deterministic: bool, seed: int, render_mode: str,
    on_frame: Callable[[np.ndarray], None] | None = None,
    env_overrides: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Play `episodes` episodes one after another in one world, drawing the first agent:
    "human" in a window, "rgb_array" handing every frame (after the reset and each step) to
    on_frame. Returns what evaluate returns, over these episodes."""
    config, agents = evaluation_setup(checkpoint, episodes, seed, env_overrides)
    envs = make_envs(config, num_envs=agents, render_mode=render_mode, render_env_index=0)
    frame_sink = on_frame if render_mode == "rgb_array" else None
    try:
        collected = play_episodes(CheckpointPolicy(checkpoint, envs, deterministic), envs, seed,
                                  wanted={0: episodes}, on_frame=frame_sink)
    finally:
        envs.close()
    return summarize_episodes(collected[0])


def play_episodes(
    policy: CheckpointPolicy, envs: gymnasium.vector.VectorEnv, seed: int,
    wanted: dict[int, int], on_frame: Callable[[np.ndarray], None] | None = None,
) -> dict[int, list[dict[str, float]]]:
    """Step until each row in `wanted` has ended its first wanted[row] episodes; their return,
    length, score and the game's statistics by row. on_frame receives envs.render() after
    the reset and each step."""
    collected: dict[int, list[dict[str, float]]] = {row: [] for row in wanted}
    score_name = score_stat(envs)
    obs, infos = envs.reset(seed=seed)
    if on_frame is not None:
        on_frame(envs.render())
    starts = np.ones(envs.num_envs, dtype=bool)
    while any(len(collected[row]) < count for row, count in wanted.items()):
        actions = policy(obs, starts, infos.get("action_mask"))
        obs, _, terminations, truncations, infos = envs.step(actions)
        if on_frame is not None:
            on_frame(envs.render())
        starts = terminations | truncations
        if "episode_stats" not in infos:
            continue
        stats = infos["episode_stats"]
        for row in np.flatnonzero(infos["_episode_stats"]).tolist():
            if row in wanted and len(collected[row]) < wanted[row]:
                collected[row].append({
                    "score": float(stats[score_name][row]) if score_name in stats else math.nan,
                    **{name: float(stats[name][row]) for name in stats if not name.startswith("_")},
                })
    return collected


def summarize_episodes(results: list[dict[str, float]]) -> dict[str, float]:
    summary: dict[str, float] = {"episodes": len(results)}
    for name in results[0]:
        column = np.array([result[name] for result in results])
        summary[f"{name}_mean"] = float(np.mean(column))
        summary[f"{name}_std"] = float(np.std(column))
    return summary
