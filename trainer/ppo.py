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
- Overlap (overlap_rollout): the rows are two vector envs of half the rows each; while one
  half's envs step in a worker thread (the native step releases the GIL), the policy acts
  for the other half, so neither waits for the other.
- Minibatches are drawn from "units": single samples for a feed-forward policy with
  uniform sampling (a shuffle of every (row, step)), whole segments for an LSTM (trained
  through each segment from the state it started with) or with prioritized sampling
  (prio_alpha > 0: P(segment) ~ (sum_t |A_t|)^alpha, drawn with replacement and weighted by
  (N P)^-beta, beta annealed from prio_beta0 to 1).
- update_epochs > 1 reuses the batch: before each later epoch the advantages are recomputed
  with the current policy's probability ratios, clipped by rho_clip and c_clip (V-trace), so
  they follow the policy that is being updated. The values stay those of the rollout.
- A minibatch larger than max_microbatch_size samples accumulates its gradient over several
  forward/backward passes (a memory cap that leaves the update unchanged).
- Data parallel under torchrun (trainer/distributed.py): each rank steps its own envs,
  DistributedDataParallel averages the gradients, rank 0 logs and checkpoints.
- Reproducible: torch's generator (seeded once) draws every action and every minibatch,
  and the envs are seeded from the seed; a CPU run with the same seed and torch_threads
  writes the same metrics.csv (times aside), and a run resumed from a checkpoint
  (`resume=`) continues exactly like the uninterrupted run: the checkpoint holds the
  envs' native state too.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import csv
import gc
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

import shoal  # registers the shoal ids
from shoal.trainer.advantage import compute_advantages
from shoal.trainer.checkpoint import save_checkpoint
from shoal.trainer.config import Config, ConfigError, TrainingDiverged, config_from_dict, save_config
from shoal.trainer.display import RunDisplay, check_optional_packages
from shoal.trainer.distributed import Distributed, rank_device, setup_distributed
from shoal._ext.files import write_text_atomically
from shoal.trainer.optimizers import make_optimizer
from shoal.trainer.policies import ActorCritic, count_parameters, make_policy, resolve_precision
from shoal.trainer.run_dirs import check_run_dir_free, claim_run_dir

#: Columns of metrics.csv, one row per log.
METRIC_COLUMNS = (
    "update", "global_step", "wall_time", "sps",
    "episodes", "episode_return", "episode_length", "score",
    "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac",
    "explained_variance", "grad_norm", "learning_rate",
)  # fmt: skip
LOSS_NAMES = ("policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "grad_norm")


def train(
    config: Config,
    run_dir: str | Path,
    quiet: bool = False,
    resume: dict[str, Any] | None = None,
    stop_after_updates: int | None = None,
    on_log: Callable[[dict[str, float]], bool] | None = None,
    overwrite: bool = False,
) -> dict[str, float]:
    """Train a policy with PPO as `config` says; write config.toml, metrics.csv and
    checkpoints/ under `run_dir`. Returns the last metrics row and the run's mean SPS.

    resume: a checkpoint of this run (load_checkpoint(run_dir/checkpoints/latest.pt)) to
    continue from; metrics.csv keeps its rows up to the checkpoint's update.
    stop_after_updates: end after this many updates of this call, as an interruption would
    (checkpoints/latest.pt is written), e.g. to time-box a job; resume continues it.
    on_log: called with every logged metrics row (on rank 0 of a distributed run, the only
    one that logs); returning True ends the run after this update as stop_after_updates
    would (a time budget: shoal sweep). An exception it raises ends the run and propagates
    (in a single process; under torchrun the other ranks would wait for rank 0)."""
    check_optional_packages(tensorboard=config.tensorboard, wandb=config.wandb)
    check_device(config.device)
    distributed = setup_distributed(config.device)
    if distributed.enabled and resume is not None:
        # The checkpoint holds rank 0's envs and random state only: every rank would replay
        # rank 0's episodes with its actions. Refused rather than silently correlated.
        distributed.close()
        raise ConfigError("--resume continues single-process runs only; a distributed run's "
                          "checkpoint holds rank 0's envs alone")
    try:
        if resume is None and distributed.is_main:
            check_run_dir_free(run_dir, overwrite)  # before anything is built
        return train_process(config, Path(run_dir), quiet, resume, stop_after_updates, distributed,
                             on_log)
    finally:
        if distributed.enabled:
            # DistributedDataParallel's reducer sits in reference cycles; collected after its
            # process group is gone, it aborts the process at exit.
            gc.collect()
        distributed.close()


def check_device(device: str) -> None:
    """A CUDA device this torch cannot use is a ConfigError, before anything is built."""
    if not device.startswith("cuda"):
        return
    if not torch.cuda.is_available():
        build = "a CPU-only build" if torch.version.cuda is None else "no usable GPU here"
        raise ConfigError(f"device {device!r}: torch {torch.__version__} has {build}; "
                          "use device = \"cpu\"")
    index = torch.device(device).index
    if index is not None and index >= torch.cuda.device_count():
        raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} GPU(s) here")


def train_process(
    config: Config,
    run_dir: Path,
    quiet: bool,
    resume: dict[str, Any] | None,
    stop_after_updates: int | None,
    distributed: Distributed,
    on_log: Callable[[dict[str, float]], bool] | None = None,
) -> dict[str, float]:
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(config.seed + distributed.rank)
    device = rank_device(config.device, distributed)

    envs = EnvRows(config)
    try:
        policy = make_policy(config, envs.observation_space, envs.action_space, device)
    except ValueError as error:  # a policy that does not fit the env's spaces
        envs.close()
        raise ConfigError(str(error)) from None
    optimizer = make_optimizer(config, policy)
    trainee: nn.Module = policy  # what the gradient steps call: DDP's wrapper when distributed
    if distributed.enabled:
        # Buffers (the normalizer's statistics) are kept identical by all-reducing their
        # updates, so DDP need not broadcast them on every call.
        trainee = nn.parallel.DistributedDataParallel(policy, broadcast_buffers=False)
    if distributed.is_main:  # created only once the settings proved good
        if resume is None:
            claim_run_dir(run_dir)  # exclusive: a run started at once into it fails here
        else:  # a checkpoint save killed half-way left its temporary file: this run owns it
            for stale in (run_dir / "checkpoints").glob(".*.tmp*"):
                stale.unlink(missing_ok=True)
        save_config(config, run_dir / "config.toml")

    # ---- storage: [segments, horizon], segment i is env row i ----
    segments, horizon = config.num_envs, config.horizon
    batch_size, minibatch_size = config.batch_size, config.minibatch_size
    storage = RolloutStorage(config, envs, policy, device)
    num_updates = config.num_updates
    units = SampleUnits(config, policy.recurrent)

    first_update = 1
    global_step = 0
    elapsed_before = 0.0  # wall time of the run before this call (a resumed run)
    episodes = EpisodeStats(envs.score_stat)
    if resume is not None:
        first_update, global_step, elapsed_before = restore(resume, policy, optimizer, envs,
                                                           storage, episodes, config)
    else:
        storage.start(envs.reset(config.seed + distributed.rank * config.num_envs))
    last_update = num_updates if stop_after_updates is None else min(
        num_updates, first_update - 1 + stop_after_updates)

    display = RunDisplay(
        mode="none" if quiet else config.display, total_steps=num_updates * batch_size * distributed.world_size,
        run_dir=run_dir, config=config.to_dict(), tensorboard=config.tensorboard,
        wandb=config.wandb, wandb_project=config.wandb_project,
        is_main_process=distributed.is_main,
    )
    metrics_log = MetricsLog(run_dir / "metrics.csv", keep_until_update=first_update - 1) \
        if distributed.is_main else None
    display.header(
        f"{config.env_id}: {num_updates} updates of {segments} x {horizon} steps"
        f"{f' x {distributed.world_size} ranks' if distributed.enabled else ''}, "
        f"policy {config.policy}{' + LSTM' if policy.recurrent else ''} with "
        f"{count_parameters(policy):,} parameters ({resolve_precision(config.precision, device)}), "
        f"{envs.describe()}, run dir {run_dir}"
        + (f", resumed at update {first_update}" if resume is not None else "")
    )

    last_log_time = time.perf_counter()
    start_time = last_log_time - elapsed_before  # wall_time continues a resumed run's
    last_log_step = global_step
    row: dict[str, float] = {}
    ones = torch.ones((segments, horizon), device=device)  # the ratios of the first epoch
    update = first_update - 1
    rollout_seconds = update_seconds = 0.0  # this call's time in rollouts and in updates
    failed = True
    try:
        for update in range(first_update, last_update + 1):
            progress = (update - 1) / num_updates
            if config.anneal_lr:  # cosine from learning_rate down to 0 over the run
                optimizer.set_learning_rate(config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress)))

            # ---- rollout: horizon steps of every env row ----
            rollout_start = time.perf_counter()
            with torch.inference_mode():
                storage.collect(envs, policy, episodes)
            global_step += batch_size * distributed.world_size
            update_start = time.perf_counter()
            rollout_seconds += update_start - rollout_start

            # ---- advantages: GAE (all ratios 1 on the first epoch) ----
            advantages = compute_advantages(
                storage.values, storage.rewards, storage.dones, ones, storage.next_value,
                gamma=config.gamma, gae_lambda=config.gae_lambda,
                rho_clip=config.rho_clip, c_clip=config.c_clip,
            )

            # ---- update: minibatches of units (samples or segments) ----
            sums = dict.fromkeys(LOSS_NAMES, 0.0)
            minibatches = 0
            beta = config.prio_beta0 + (1.0 - config.prio_beta0) * update / num_updates  # 1 at the end
            for epoch in range(config.update_epochs):
                if epoch > 0:  # the policy moved: weigh the old data by the current ratios
                    ratios = current_ratios(policy, storage, minibatch_size)
                    advantages = compute_advantages(
                        storage.values, storage.rewards, storage.dones, ratios, storage.next_value,
                        gamma=config.gamma, gae_lambda=config.gae_lambda,
                        rho_clip=config.rho_clip, c_clip=config.c_clip,
                    )
                returns = advantages + storage.values
                order, weights = units.draw(advantages, config.prio_alpha, beta)
                for minibatch in order.split(units.per_minibatch(minibatch_size)):
                    losses = gradient_step(trainee, policy, optimizer, storage, units, minibatch,
                                           weights, advantages, returns, config)
                    for name, value in losses.items():
                        sums[name] += value
                    minibatches += 1
            check_finite(update, sums, policy)  # never train on, or save, non-finite weights
            # The next rollout normalises with statistics that include this batch; changed
            # only now, so that this batch's gradient steps saw the rollout's normalisation.
            policy.update_normalizer(storage.obs, reduce=distributed.all_reduce_sum)
            update_seconds += time.perf_counter() - update_start

            # ---- diagnostics, log, checkpoint ----
            if update % config.log_interval == 0 or update == last_update:
                now = time.perf_counter()
                row = {
                    "update": update,
                    "global_step": global_step,
                    "wall_time": now - start_time,
                    "sps": (global_step - last_log_step) / (now - last_log_time),
                    **episodes.means_and_clear(distributed),
                    **{name: total / minibatches for name, total in sums.items()},
                    "explained_variance": explained_variance(storage.values, returns),
                    "learning_rate": optimizer.param_groups[0]["lr"],
                }
                if metrics_log is not None:
                    metrics_log.write(row)
                display.log(row)
                last_log_time, last_log_step = now, global_step
                if on_log is not None and distributed.any_rank(
                        distributed.is_main and bool(on_log(row))):
                    last_update = update  # ends here: the checkpoint below is this update's
            if distributed.is_main and (
                (config.checkpoint_interval and update % config.checkpoint_interval == 0)
                or update == last_update
            ):
                names = ("latest.pt", "final.pt") if update == num_updates else ("latest.pt",)
                extra = training_state(envs, storage, episodes, time.perf_counter() - start_time,
                                       distributed.world_size)
                for name in names:
                    save_checkpoint(run_dir / "checkpoints" / name, policy, optimizer,
                                    global_step, config.to_dict(), update, extra)
            if update == last_update:
                break
        failed = False
    finally:
        envs.close()
        ranks_agree = distributed.parameters_agree(policy) if not failed else False
        if distributed.enabled and not failed:
            display.header(f"parameters identical on all {distributed.world_size} ranks: {ranks_agree}")
        display.close(failed=failed)
        if metrics_log is not None:
            metrics_log.close()

    wall_time = time.perf_counter() - start_time
    return {**row, "mean_sps": global_step / wall_time, "total_wall_time": wall_time,
            "stopped_at_update": update, "ranks_agree": ranks_agree,
            "rollout_seconds": rollout_seconds, "update_seconds": update_seconds}


# ---- the env rows: one vector env, or two halves that overlap with the policy ----


class EnvRows:
    """The num_envs rows of the run as one native vector env, or, with overlap_rollout, as two
    of half the rows each (whole worlds: a multi-agent world never straddles the halves).
    Row i is seeded with seed + i either way, so the halves play the episodes one env would.
    `step_async(half, actions)` steps one half in a worker thread and returns a future."""

    def __init__(self, config: Config):
        probe = make_envs(config, num_envs=config.num_envs)
        agents = getattr(probe, "agents_per_world", 1)
        halves = 2 if config.overlap_rollout and config.num_envs % (2 * agents) == 0 else 1
        self.overlap_refused = config.overlap_rollout and halves == 1
        if halves == 1:
            self.envs = [probe]
        else:
            probe.close()
            self.envs = [make_envs(config, num_envs=config.num_envs // 2) for _ in range(2)]
        size = config.num_envs // halves
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
        reward = torch.from_numpy(reward).to(self.device)
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


# ---- the update ----


class SampleUnits:
    """What a minibatch is made of. Single samples (units of 1 step) for a feed-forward
    policy with uniform sampling: a shuffle of all (row, step) pairs, the least correlated
    minibatches. Whole segments (units of `horizon` steps) for an LSTM, which must run
    through each segment in order, and for prioritized sampling, whose priorities are per
    segment."""

    def __init__(self, config: Config, recurrent: bool):
        self.horizon = config.horizon
        self.whole_segments = recurrent or config.prio_alpha > 0
        self.length = config.horizon if self.whole_segments else 1
        self.count = config.batch_size // self.length
        self.microbatch_units = (max(1, config.max_microbatch_size // self.length)
                                 if config.max_microbatch_size else self.count)

    def per_minibatch(self, minibatch_size: int) -> int:
        return max(1, minibatch_size // self.length)

    def draw(self, advantages: torch.Tensor, prio_alpha: float, beta: float
             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(unit indices in the order the minibatches take them, importance weights per unit
        or None). Uniform: a permutation. Prioritized: `count` draws with replacement."""
        device = advantages.device
        if prio_alpha == 0:
            return torch.randperm(self.count, device=device), None
        probabilities = segment_probabilities(advantages, prio_alpha)
        order = torch.multinomial(probabilities, self.count, replacement=True)
        return order, importance_weights(probabilities, beta)


def segment_probabilities(advantages: torch.Tensor, prio_alpha: float) -> torch.Tensor:
    """P(segment) = p_s / sum p, p_s = (sum_t |A_s,t|)^prio_alpha. prio_alpha = 0 gives exactly
    1 / segments (0^0 = 1 too: an all-zero segment is as likely as any)."""
    priorities = advantages.abs().sum(1).pow(prio_alpha)
    total = priorities.sum()
    if not torch.isfinite(total) or total <= 0:  # every advantage 0: nothing to prefer
        return torch.full_like(priorities, 1.0 / priorities.numel())
    return priorities / total


def importance_weights(probabilities: torch.Tensor, beta: float) -> torch.Tensor:
    """(N P)^-beta per segment: 1 for a segment drawn as often as uniform sampling would draw
    it, below 1 for favoured ones (Schaul et al., 2016, without their division by the maximum)."""
    return (probabilities.numel() * probabilities).pow(-beta)


def gradient_step(
    trainee: nn.Module,
    policy: ActorCritic,
    optimizer,
    storage: RolloutStorage,
    units: SampleUnits,
    minibatch: torch.Tensor,
    weights: torch.Tensor | None,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    config: Config,
) -> dict[str, float]:
    """One optimizer step on the minibatch's units: PPO's clipped policy loss, the value loss
    and the entropy bonus, accumulated over microbatches of at most max_microbatch_size
    samples. Returns the minibatch's losses and diagnostics."""
    view = storage.units(units.length)
    mb_advantages = advantages.reshape(units.count, units.length)[minibatch]
    mb_returns = returns.reshape(units.count, units.length)[minibatch]
    if config.norm_adv:  # statistics of the whole minibatch, whatever the microbatches
        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
    if weights is not None:
        mb_advantages = mb_advantages * weights[minibatch][:, None]
    first_states = None
    if storage.first_state is not None:
        first_states = storage.first_state[minibatch]

    totals = dict.fromkeys(LOSS_NAMES[:-1], 0.0)
    optimizer.zero_grad()
    chunks = minibatch.split(units.microbatch_units)
    offset = 0
    for number, chunk in enumerate(chunks):
        part = slice(offset, offset + chunk.numel())
        offset += chunk.numel()
        fraction = chunk.numel() / minibatch.numel()
        masks = None if view["masks"] is None else view["masks"][chunk]
        last = number == len(chunks) - 1
        # DDP all-reduces the gradients once, on the last microbatch's backward.
        sync = contextlib.nullcontext() if last or not hasattr(trainee, "no_sync") else trainee.no_sync()
        with sync:
            newlogprob, entropy, newvalue = trainee(
                view["obs"][chunk], view["actions"][chunk],
                None if first_states is None else first_states[part],
                view["starts"][chunk], masks,
            )
            logratio = newlogprob - view["logprobs"][chunk]
            ratio = logratio.exp()
            chunk_advantages = mb_advantages[part]

            # Policy loss: the clipped surrogate objective
            pg_loss1 = -chunk_advantages * ratio
            pg_loss2 = -chunk_advantages * torch.clamp(ratio, 1 - config.clip_coef, 1 + config.clip_coef)
            pg_loss = torch.max(pg_loss1, pg_loss2).mean()

            # Value loss
            chunk_returns, old_values = mb_returns[part], view["values"][chunk]
            if config.clip_vloss:
                v_loss_unclipped = (newvalue - chunk_returns) ** 2
                v_clipped = old_values + torch.clamp(newvalue - old_values, -config.clip_coef, config.clip_coef)
                v_loss_clipped = (v_clipped - chunk_returns) ** 2
                v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
            else:
                v_loss = 0.5 * ((newvalue - chunk_returns) ** 2).mean()

            entropy_loss = entropy.mean()
            loss = pg_loss - config.ent_coef * entropy_loss + v_loss * config.vf_coef
            (loss * fraction).backward()

        with torch.no_grad():
            # http://joschu.net/blog/kl-approx.html
            approx_kl = ((ratio - 1) - logratio).mean()
            clipfrac = ((ratio - 1.0).abs() > config.clip_coef).float().mean()
        for name, value in (("policy_loss", pg_loss), ("value_loss", v_loss),
                            ("entropy", entropy_loss), ("approx_kl", approx_kl),
                            ("clipfrac", clipfrac)):
            totals[name] += value.item() * fraction
    grad_norm = nn.utils.clip_grad_norm_(policy.parameters(), config.max_grad_norm)
    optimizer.step()
    return {**totals, "grad_norm": grad_norm.item()}


def check_finite(update: int, losses: dict[str, float], policy: nn.Module) -> None:
    """Stop the run when an update left a non-finite loss or weight. The checkpoints already
    written hold the last good state; the one of this update is never written."""
    bad_losses = [name for name, value in losses.items() if not math.isfinite(value)]
    bad_weights = [name for name, weight in policy.named_parameters()
                   if not bool(torch.isfinite(weight).all())]
    if bad_losses or bad_weights:
        parts = [f"the losses {bad_losses}"] if bad_losses else []
        if bad_weights:
            parts.append(f"{len(bad_weights)} weight tensors ({bad_weights[0]}, ...)")
        what = " and ".join(parts)
        raise TrainingDiverged(
            f"training diverged at update {update}: {what} became inf or NaN; nothing of this "
            "update was saved (checkpoints/latest.pt, if any, is the last good state). Lower "
            "learning_rate or max_grad_norm")


@torch.no_grad()
def current_ratios(policy: ActorCritic, storage: RolloutStorage, minibatch_size: int) -> torch.Tensor:
    """pi(a|o) / mu(a|o) for every sample, [segments, horizon]: the current policy over the
    one that acted, computed a few segments at a time to bound memory."""
    segments, horizon = storage.rewards.shape
    ratios = torch.empty_like(storage.logprobs)
    step = max(1, minibatch_size // horizon)
    for start in range(0, segments, step):
        rows = slice(start, start + step)
        newlogprob, _, _ = policy.evaluate(
            storage.obs[rows], storage.actions[rows],
            None if storage.first_state is None else storage.first_state[rows],
            storage.starts[rows], None if storage.masks is None else storage.masks[rows],
        )
        ratios[rows] = (newlogprob - storage.logprobs[rows]).exp()
    return ratios


def explained_variance(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - Var(targets - predictions) / Var(targets): 1 is perfect, 0 no better than a constant."""
    variance = targets.var().item()
    return math.nan if variance == 0 else 1.0 - (targets - predictions).var().item() / variance


# ---- episode statistics, metrics, checkpoints ----


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


class MetricsLog:
    """metrics.csv: a header, then one row per log, flushed at once so that a crash loses
    nothing written before it. A resumed run keeps the rows up to its checkpoint's update
    (rewritten atomically) and appends after them."""

    def __init__(self, path: Path, keep_until_update: int = 0):
        kept: list[dict[str, str]] = []
        if keep_until_update > 0 and path.exists():
            kept = [row for row in read_metric_rows(path)
                    if int(row["update"]) <= keep_until_update]
        header = ",".join(METRIC_COLUMNS) + "\n"
        lines = [",".join(row[column] for column in METRIC_COLUMNS) + "\n" for row in kept]
        write_text_atomically(path, header + "".join(lines))
        self.file = open(path, "a", newline="")
        # "\n" like the rows kept above (the csv module's default is "\r\n")
        self.writer = csv.DictWriter(self.file, fieldnames=METRIC_COLUMNS, lineterminator="\n")

    def write(self, row: dict[str, float]) -> None:
        self.writer.writerow({key: repr(value) if isinstance(value, float) else value
                              for key, value in row.items() if key in METRIC_COLUMNS})
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def read_metric_rows(path: Path) -> list[dict[str, str]]:
    """The whole rows of a run's metrics.csv, to keep on resume. A last line without its
    newline was cut by a crash mid-write and is dropped (its last number may be cut short);
    a file that is not a metrics log is a ConfigError."""
    text = path.read_text(errors="replace")
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    rows = list(csv.DictReader(text.splitlines()))
    if rows and set(METRIC_COLUMNS) - set(rows[0]):
        raise ConfigError(f"{path} is not a shoal metrics.csv (it lacks the columns "
                          f"{sorted(set(METRIC_COLUMNS) - set(rows[0]))}): cannot resume into it")
    try:
        return [row for row in rows if all(row.get(column) not in (None, "") for column in METRIC_COLUMNS)
                and int(row["update"]) >= 0]
    except ValueError:
        raise ConfigError(f"{path} holds an update that is not a number: cannot resume into it") from None


def training_state(envs: EnvRows, storage: RolloutStorage, episodes: EpisodeStats,
                   wall_time: float, world_size: int = 1) -> dict[str, Any]:
    """What a checkpoint needs besides model and optimizer to continue exactly: the envs'
    native state, what the rollout carries to the next one, the episode sums since the
    last log and the wall time so far. Tensors and plain values only (weights_only)."""
    carried = {"next_obs": storage.next_obs, "next_starts": storage.next_starts}
    if storage.state is not None:
        carried["lstm_state"] = storage.state
    if storage.next_mask is not None:
        carried["next_mask"] = storage.next_mask
    return {
        "envs": [{key: torch.from_numpy(np.array(value, order="C", copy=True)) for key, value in state.items()}
                 for state in envs.get_state()],
        "rollout": {key: value.detach().cpu() for key, value in carried.items()},
        "episodes": episodes.state(),
        "wall_time": float(wall_time),
        "world_size": int(world_size),
    }


def restore(checkpoint: dict[str, Any], policy: ActorCritic, optimizer, envs: EnvRows,
            storage: RolloutStorage, episodes: EpisodeStats, config: Config) -> tuple[int, int, float]:
    """Load a checkpoint of this run into the fresh objects; returns (the first update to
    run, the global step, the wall time so far)."""
    if "envs" not in checkpoint or "rollout" not in checkpoint:
        raise ConfigError("the checkpoint lacks the envs' state (it was written by an older "
                          "shoal): it can be evaluated but not resumed")
    if checkpoint.get("world_size", 1) != 1:
        raise ConfigError(f"the checkpoint is of a run on {checkpoint['world_size']} ranks and "
                          "holds rank 0's envs alone: it can be evaluated but not resumed")
    policy.load_state_dict(checkpoint["model"])
    try:
        optimizer.load_state_dict(checkpoint["optimizer"])
        envs.set_state([{key: value.numpy() for key, value in state.items()}
                        for state in checkpoint["envs"]])
    except ValueError as error:
        raise ConfigError(f"cannot resume: {error}") from None
    rollout = checkpoint["rollout"]
    storage.next_obs.copy_(rollout["next_obs"])
    storage.next_starts.copy_(rollout["next_starts"])
    if storage.state is not None:
        storage.state.copy_(rollout["lstm_state"])
    if "next_mask" in rollout:
        segments, horizon = storage.rewards.shape
        storage.next_mask = rollout["next_mask"].to(storage.device)
        storage.masks = torch.ones((segments, horizon, storage.next_mask.shape[1]),
                                   dtype=torch.bool, device=storage.device)
    episodes.load(checkpoint["episodes"])
    torch.set_rng_state(checkpoint["torch_rng_state"])
    return checkpoint["update"] + 1, checkpoint["step"], checkpoint["wall_time"]


# ---- evaluation ----


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
    try:
        game = shoal.vector_env_class(config.env_id).game_for(**config.env)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{config.env_id} rejects the env settings: {error}") from None
    return config, game.agents_per_world()


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
