"""PPO (Schulman et al., 2017) on shoal's native vector envs, in one readable pass.

    from shoal.trainer.config import load_config
    from shoal.trainer.ppo import train
    summary = train(load_config("breakout"), "runs/breakout")

`train` reads top to bottom like CleanRL's ppo.py: set-up, storage, then per update a
rollout, the advantages, the minibatch loop with the losses, logging and checkpoints.

- Storage is [segments, horizon] tensors, one segment per env row: the layout of the
  advantage op (trainer/advantage.py), which is GAE with V-trace's clipped importance weights.
- The envs run in SAME_STEP autoreset mode: the step that ends an episode already returns
  the next episode's first observation, so every step of the rollout is a real transition.
  A truncated step (time limit) is not a failure: its reward gets gamma * V(final
  observation) added and the step is marked done, so the bootstrap uses the real next state.
- update_epochs > 1 reuses the batch: before each later epoch the advantages are recomputed
  with the current policy's probability ratios, clipped by rho_clip and c_clip (V-trace), so
  they follow the policy that is being updated. The values stay those of the rollout.
- Reproducible: torch's generator (seeded once) draws every action and every minibatch
  permutation, and envs.reset(seed=seed) seeds the worlds; a CPU run with the same seed and
  torch_threads writes the same metrics.csv (times aside).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium.vector import AutoresetMode
from torch import nn

import shoal  # noqa: F401  (registers the shoal ids)
from shoal.trainer.advantage import compute_advantages
from shoal.trainer.checkpoint import save_checkpoint
from shoal.trainer.config import Config, ConfigError, config_from_dict, save_config
from shoal.trainer.policies import ActorCritic, count_parameters, make_policy, resolve_precision

#: Columns of metrics.csv, one row per log.
METRIC_COLUMNS = (
    "update", "global_step", "wall_time", "sps",
    "episodes", "episode_return", "episode_length", "score",
    "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac",
    "explained_variance", "grad_norm", "learning_rate",
)  # fmt: skip


def train(config: Config, run_dir: str | Path, quiet: bool = False) -> dict[str, float]:
    """Train a policy with PPO as `config` says; write config.toml, metrics.csv and
    checkpoints/ under `run_dir`. Returns the last metrics row and the run's mean SPS."""
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)

    envs = make_envs(config)
    try:
        policy = make_policy(config, envs.single_observation_space, envs.single_action_space, device)
    except ValueError as error:  # a policy that does not fit the env's spaces
        envs.close()
        raise ConfigError(str(error)) from None
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate, eps=config.adam_eps)
    to_env_actions = env_action_converter(envs.single_action_space, device)
    run_dir = Path(run_dir)  # created only once the settings proved good
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.toml")

    # ---- storage: [segments, horizon], segment i is env row i ----
    segments, horizon = config.num_envs, config.horizon
    batch_size, minibatch_size = config.batch_size, config.minibatch_size
    obs_shape = envs.single_observation_space.shape
    action_space = envs.single_action_space
    obs = torch.zeros((segments, horizon, *obs_shape),
                      dtype=torch_dtype(envs.single_observation_space.dtype), device=device)
    if isinstance(action_space, gymnasium.spaces.Discrete):
        actions = torch.zeros((segments, horizon), dtype=torch.long, device=device)
    else:
        actions = torch.zeros((segments, horizon, *action_space.shape), device=device)
    logprobs = torch.zeros((segments, horizon), device=device)
    rewards = torch.zeros((segments, horizon), device=device)
    dones = torch.zeros((segments, horizon), device=device)
    values = torch.zeros((segments, horizon), device=device)
    ones = torch.ones((segments, horizon), device=device)  # the ratios of the first epoch

    metrics_log = MetricsLog(run_dir / "metrics.csv")
    episodes = EpisodeStats()
    num_updates = config.num_updates
    if not quiet:
        print(f"{config.env_id}: {num_updates} updates of {segments} x {horizon} steps, "
              f"policy {config.policy} with {count_parameters(policy):,} parameters "
              f"({resolve_precision(config.precision, device)}), run dir {run_dir}")

    global_step = 0
    start_time = last_log_time = time.perf_counter()
    last_log_step = 0
    next_obs_array, _ = envs.reset(seed=config.seed)
    next_obs = torch.from_numpy(next_obs_array).to(device)
    row: dict[str, float] = {}
    try:
        for update in range(1, num_updates + 1):
            if config.anneal_lr:  # cosine from learning_rate down to 0 over the run
                progress = (update - 1) / num_updates
                lr_now = config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
                optimizer.param_groups[0]["lr"] = lr_now

            # ---- rollout: horizon steps of every env row ----
            with torch.inference_mode():
                for step in range(horizon):
                    obs[:, step] = next_obs
                    action, logprob, _, value = policy.get_action_and_value(next_obs)
                    actions[:, step] = action
                    logprobs[:, step] = logprob
                    values[:, step] = value

                    next_obs_array, reward, terminations, truncations, infos = envs.step(
                        to_env_actions(action)
                    )
                    reward = torch.from_numpy(reward).to(device)
                    if truncations.any():
                        bootstrap_truncations(reward, terminations, truncations, infos,
                                              policy.get_value, config.gamma)
                    rewards[:, step] = reward
                    dones[:, step] = torch.from_numpy(terminations | truncations).to(device)
                    next_obs = torch.from_numpy(next_obs_array).to(device)
                    episodes.add(infos)
                next_value = policy.get_value(next_obs)
            global_step += batch_size

            # ---- advantages: GAE (all ratios 1 on the first epoch) ----
            advantages = compute_advantages(
                values, rewards, dones, ones, next_value, gamma=config.gamma,
                gae_lambda=config.gae_lambda, rho_clip=config.rho_clip, c_clip=config.c_clip,
            )
            returns = advantages + values

            # ---- update: minibatches over the flattened (segment, step) samples ----
            b_obs = obs.reshape(batch_size, *obs_shape)
            b_actions = actions.reshape(batch_size, *actions.shape[2:])
            b_logprobs = logprobs.reshape(-1)
            b_values = values.reshape(-1)
            sums = dict.fromkeys(("policy_loss", "value_loss", "entropy", "approx_kl",
                                  "clipfrac", "grad_norm"), 0.0)
            minibatches = 0
            for epoch in range(config.update_epochs):
                if epoch > 0:  # the policy moved: weigh the old data by the current ratios
                    ratios = policy_ratios(policy, b_obs, b_actions, b_logprobs, minibatch_size)
                    advantages = compute_advantages(
                        values, rewards, dones, ratios.reshape(segments, horizon), next_value,
                        gamma=config.gamma, gae_lambda=config.gae_lambda,
                        rho_clip=config.rho_clip, c_clip=config.c_clip,
                    )
                    returns = advantages + values
                b_advantages = advantages.reshape(-1)
                b_returns = returns.reshape(-1)

                permutation = torch.randperm(batch_size, device=device)
                for start in range(0, batch_size, minibatch_size):
                    mb = permutation[start:start + minibatch_size]
                    _, newlogprob, entropy, newvalue = policy.get_action_and_value(
                        b_obs[mb], b_actions[mb]
                    )
                    logratio = newlogprob - b_logprobs[mb]
                    ratio = logratio.exp()
                    with torch.no_grad():
                        # http://joschu.net/blog/kl-approx.html
                        approx_kl = ((ratio - 1) - logratio).mean()
                        clipfrac = ((ratio - 1.0).abs() > config.clip_coef).float().mean()

                    mb_advantages = b_advantages[mb]
                    if config.norm_adv:
                        mb_advantages = ((mb_advantages - mb_advantages.mean())
                                         / (mb_advantages.std() + 1e-8))

                    # Policy loss: the clipped surrogate objective
                    pg_loss1 = -mb_advantages * ratio
                    pg_loss2 = -mb_advantages * torch.clamp(
                        ratio, 1 - config.clip_coef, 1 + config.clip_coef
                    )
                    pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                    # Value loss
                    if config.clip_vloss:
                        v_loss_unclipped = (newvalue - b_returns[mb]) ** 2
                        v_clipped = b_values[mb] + torch.clamp(
                            newvalue - b_values[mb], -config.clip_coef, config.clip_coef
                        )
                        v_loss_clipped = (v_clipped - b_returns[mb]) ** 2
                        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
                    else:
                        v_loss = 0.5 * ((newvalue - b_returns[mb]) ** 2).mean()

                    entropy_loss = entropy.mean()
                    loss = pg_loss - config.ent_coef * entropy_loss + v_loss * config.vf_coef

                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    grad_norm = nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
                    optimizer.step()

                    for name, value in (("policy_loss", pg_loss), ("value_loss", v_loss),
                                        ("entropy", entropy_loss), ("approx_kl", approx_kl),
                                        ("clipfrac", clipfrac), ("grad_norm", grad_norm)):
                        sums[name] += value.item()
                    minibatches += 1

            # ---- diagnostics, log, checkpoint ----
            if update % config.log_interval == 0 or update == num_updates:
                now = time.perf_counter()
                row = {
                    "update": update,
                    "global_step": global_step,
                    "wall_time": now - start_time,
                    "sps": (global_step - last_log_step) / (now - last_log_time),
                    **episodes.means_and_clear(),
                    **{name: total / minibatches for name, total in sums.items()},
                    "explained_variance": explained_variance(b_values, returns.reshape(-1)),
                    "learning_rate": optimizer.param_groups[0]["lr"],
                }
                metrics_log.write(row)
                last_log_time, last_log_step = now, global_step
                if not quiet:
                    print(format_log_line(row), flush=True)
            if config.checkpoint_interval and update % config.checkpoint_interval == 0:
                save_checkpoint(run_dir / "checkpoints" / "latest.pt", policy, optimizer,
                                global_step, config.to_dict(), update)
    finally:
        envs.close()
        metrics_log.close()

    for name in ("latest.pt", "final.pt"):
        save_checkpoint(run_dir / "checkpoints" / name, policy, optimizer, global_step,
                        config.to_dict(), num_updates)
    wall_time = time.perf_counter() - start_time
    return {**row, "mean_sps": global_step / wall_time, "total_wall_time": wall_time}


# ---- the pieces of the loop ----


def make_envs(config: Config, num_envs: int | None = None) -> gymnasium.vector.VectorEnv:
    """The native vector env in SAME_STEP autoreset mode; a bad env setting is a ConfigError."""
    try:
        return gymnasium.make_vec(
            config.env_id,
            num_envs=num_envs or config.num_envs,
            autoreset_mode=AutoresetMode.SAME_STEP,
            num_threads=config.num_threads,
            **config.env,
        )
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{config.env_id} rejects the env settings: {error}") from None


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
    get_value: Callable[[torch.Tensor], torch.Tensor],
    gamma: float,
) -> None:
    """rewards[i] += gamma * V(final observation of row i), in place, for every row cut off by
    the time limit and not terminated on the same step: the value of the state it was cut off
    in stands for the rest of the episode (Pardo et al., 2018). The caller marks the step
    done, so the advantage op does not bootstrap across the reset."""
    rows = np.flatnonzero(truncations & ~terminations)
    if rows.size == 0:
        return
    final_obs = torch.from_numpy(np.stack(infos["final_obs"][rows])).to(rewards.device)
    bootstrap = gamma * get_value(final_obs).to(rewards.dtype)
    rewards[torch.from_numpy(rows).to(rewards.device)] += bootstrap


@torch.no_grad()
def policy_ratios(
    policy: ActorCritic,
    b_obs: torch.Tensor,
    b_actions: torch.Tensor,
    b_logprobs: torch.Tensor,
    chunk_size: int,
) -> torch.Tensor:
    """pi(a|o) / mu(a|o) for every sample: the current policy over the one that acted,
    computed in chunks of chunk_size samples to bound memory."""
    ratios = torch.empty_like(b_logprobs)
    for start in range(0, b_logprobs.shape[0], chunk_size):
        chunk = slice(start, start + chunk_size)
        _, newlogprob, _, _ = policy.get_action_and_value(b_obs[chunk], b_actions[chunk])
        ratios[chunk] = (newlogprob - b_logprobs[chunk]).exp()
    return ratios


def explained_variance(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - Var(targets - predictions) / Var(targets): 1 is perfect, 0 no better than a constant."""
    variance = targets.var().item()
    return math.nan if variance == 0 else 1.0 - (targets - predictions).var().item() / variance


class EpisodeStats:
    """Means of return, length and score over the episodes finished since the last log,
    from infos["episode_stats"] and its mask infos["_episode_stats"]."""

    NAMES = {"return": "episode_return", "length": "episode_length", "score": "score"}

    def __init__(self) -> None:
        self.sums = dict.fromkeys(self.NAMES.values(), 0.0)
        self.count = 0

    def add(self, infos: dict[str, Any]) -> None:
        if "episode_stats" not in infos:
            return  # no episode ended on this step
        ended = infos["_episode_stats"]
        stats = infos["episode_stats"]
        for name, column in self.NAMES.items():
            if name in stats:
                self.sums[column] += float(stats[name][ended].sum())
        self.count += int(ended.sum())

    def means_and_clear(self) -> dict[str, float]:
        count = self.count
        means = {column: total / count if count else math.nan for column, total in self.sums.items()}
        self.__init__()
        return {"episodes": count, **means}


class MetricsLog:
    """metrics.csv: a header, then one row per log, flushed at once so that a crash loses
    nothing written before it."""

    def __init__(self, path: Path):
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=METRIC_COLUMNS)
        self.writer.writeheader()
        self.file.flush()

    def write(self, row: dict[str, float]) -> None:
        self.writer.writerow({key: repr(value) if isinstance(value, float) else value
                              for key, value in row.items()})
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def format_log_line(row: dict[str, float]) -> str:
    return (
        f"step {row['global_step']:>12,}  sps {row['sps']:>9,.0f}  "
        f"return {row['episode_return']:9.2f}  score {row['score']:8.2f}  "
        f"length {row['episode_length']:8.1f}  episodes {row['episodes']:6d}  "
        f"pg {row['policy_loss']:+.4f}  v {row['value_loss']:.4f}  ent {row['entropy']:.3f}  "
        f"kl {row['approx_kl']:.4f}  clip {row['clipfrac']:.3f}  ev {row['explained_variance']:+.3f}"
    )


# ---- evaluation ----


def evaluate(
    checkpoint: dict[str, Any], episodes: int = 10, deterministic: bool = False, seed: int = 0
) -> dict[str, float]:
    """Play the checkpoint's policy for `episodes` episodes, the first episode of each of
    `episodes` env rows (counting first episodes only does not favour short ones). Returns
    the mean and standard deviation of return, score and length."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    config = config_from_dict(checkpoint["config"], "the checkpoint's config")
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(seed)
    # A checkpoint trained on a GPU plays on the CPU where there is none.
    on_gpu = config.device != "cpu" and torch.cuda.is_available()
    device = torch.device(config.device if on_gpu else "cpu")
    probe = make_envs(config)
    agents = getattr(probe, "agents_per_world", 1)
    probe.close()
    envs = make_envs(config, num_envs=math.ceil(episodes / agents) * agents)
    policy = make_policy(config, envs.single_observation_space, envs.single_action_space, device)
    policy.load_state_dict(checkpoint["model"])
    policy.eval()
    to_env_actions = env_action_converter(envs.single_action_space, device)

    results = {name: np.full(envs.num_envs, np.nan) for name in ("return", "score", "length")}
    finished = np.zeros(envs.num_envs, dtype=bool)
    obs, _ = envs.reset(seed=seed)
    try:
        with torch.inference_mode():
            while not finished[:episodes].all():
                action = policy.get_action(torch.from_numpy(obs).to(device), deterministic)
                obs, _, _, _, infos = envs.step(to_env_actions(action))
                if "episode_stats" in infos:
                    first = infos["_episode_stats"] & ~finished
                    for name, column in results.items():
                        if name in infos["episode_stats"]:
                            column[first] = infos["episode_stats"][name][first]
                    finished |= first
    finally:
        envs.close()
    summary: dict[str, float] = {"episodes": episodes}
    for name, column in results.items():
        summary[f"{name}_mean"] = float(np.mean(column[:episodes]))
        summary[f"{name}_std"] = float(np.std(column[:episodes]))
    return summary
