"""PPO (Schulman et al., 2017) on shoal's native vector envs, in one readable pass.

    from shoal.trainer.config import load_config
    from shoal.trainer.ppo import train
    summary = train(load_config("breakout"), "runs/breakout")

`train` reads top to bottom like CleanRL's ppo.py: set-up, then per update a rollout, the
advantages, the minibatch loop with the losses, logging and checkpoints. The rooms beside it:
trainer/rollout.py (the env rows, the [segments, horizon] storage, the truncation bootstrap),
trainer/checkpoint.py (checkpoints and the resume state), trainer/metrics_log.py
(metrics.csv) and trainer/evaluation.py (playing a checkpoint's policy).

- Advantages: GAE with V-trace's clipped importance weights (trainer/advantage.py), over
  the rollout's [segments, horizon] layout.
- Minibatches are drawn from "units" (trainer/minibatches.py): single samples for a feed-forward policy with
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

import contextlib
import gc
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from shoal.trainer.advantage import compute_advantages
from shoal.trainer.checkpoint import restore, save_checkpoint, training_state
from shoal.trainer.config import Config, ConfigError, TrainingDiverged, save_config
from shoal.trainer.display import RunDisplay, check_optional_packages
from shoal.trainer.distributed import Distributed, rank_device, setup_distributed
from shoal.trainer.metrics_log import MetricsLog
from shoal.trainer.minibatches import SampleUnits
from shoal.trainer.optimizers import make_optimizer
from shoal.trainer.policies import ActorCritic, count_parameters, make_policy, resolve_precision
from shoal.trainer.rollout import EnvRows, EpisodeStats, RolloutStorage
from shoal.trainer.run_dirs import check_run_dir_free, claim_run_dir

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
    policy, optimizer, trainee = build_learner(config, envs, device, distributed)
    if distributed.is_main:  # created only once the settings proved good
        prepare_run_dir(run_dir, config, resumed=resume is not None)
    storage = RolloutStorage(config, envs, policy, device)  # [segments, horizon], segment i is row i
    units = SampleUnits(config, policy.recurrent)
    episodes = EpisodeStats(envs.score_stat)
    first_update, global_step, elapsed_before = 1, 0, 0.0  # elapsed: a resumed run's wall time so far
    if resume is not None:
        first_update, global_step, elapsed_before = restore(resume, policy, optimizer, envs,
                                                           storage, episodes, config)
    else:
        storage.start(envs.reset(config.seed + distributed.rank * config.num_envs))
    num_updates, batch_size = config.num_updates, config.batch_size * distributed.world_size
    last_update = num_updates if stop_after_updates is None else min(
        num_updates, first_update - 1 + stop_after_updates)

    display, metrics_log = open_logs(config, run_dir, quiet, distributed, first_update)
    display.header(run_header(config, policy, envs, run_dir, distributed, device, resume, first_update))

    clock = LogClock(elapsed_before, global_step)
    row: dict[str, float] = {}
    update = first_update - 1
    rollout_seconds = update_seconds = 0.0  # this call's time in rollouts and in updates
    failed = True
    try:
        for update in range(first_update, last_update + 1):
            if config.anneal_lr:
                optimizer.set_learning_rate(annealed_learning_rate(config, update))

            rollout_start = time.perf_counter()
            with torch.inference_mode():
                storage.collect(envs, policy, episodes)  # horizon steps of every env row
            global_step += batch_size
            update_start = time.perf_counter()
            rollout_seconds += update_start - rollout_start

            losses, returns = ppo_update(trainee, policy, optimizer, storage, units, config, update)
            check_finite(update, losses, policy)  # never train on, or save, non-finite weights
            # The next rollout normalises with statistics that include this batch; changed
            # only now, so that this batch's gradient steps saw the rollout's normalisation.
            policy.update_normalizer(storage.obs, reduce=distributed.all_reduce_sum)
            update_seconds += time.perf_counter() - update_start

            if update % config.log_interval == 0 or update == last_update:
                row = {
                    "update": update,
                    "global_step": global_step,
                    **clock.lap(global_step),  # wall_time, sps
                    **episodes.means_and_clear(distributed),
                    **losses,
                    "explained_variance": explained_variance(storage.values, returns),
                    "learning_rate": optimizer.param_groups[0]["lr"],
                }
                if metrics_log is not None:
                    metrics_log.write(row)
                display.log(row)
                if on_log is not None and distributed.any_rank(
                        distributed.is_main and bool(on_log(row))):
                    last_update = update  # ends here: the checkpoint below is this update's
            if distributed.is_main and (
                (config.checkpoint_interval and update % config.checkpoint_interval == 0)
                or update == last_update
            ):
                extra = training_state(envs, storage, episodes, clock.wall_time(),
                                       distributed.world_size)
                save_checkpoints(run_dir, config, update, global_step, policy, optimizer, extra)
            if update == last_update:
                break
        failed = False
    finally:
        ranks_agree = close_run(envs, policy, distributed, display, metrics_log, failed)

    wall_time = clock.wall_time()
    return {**row, "mean_sps": global_step / wall_time, "total_wall_time": wall_time,
            "stopped_at_update": update, "ranks_agree": ranks_agree,
            "rollout_seconds": rollout_seconds, "update_seconds": update_seconds}


def close_run(envs: EnvRows, policy: ActorCritic, distributed: Distributed, display: RunDisplay,
              metrics_log: MetricsLog | None, failed: bool) -> bool:
    """Close the envs and the logs; whether every rank ended with the same parameters."""
    envs.close()
    ranks_agree = distributed.parameters_agree(policy) if not failed else False
    if distributed.enabled and not failed:
        display.header(f"parameters identical on all {distributed.world_size} ranks: {ranks_agree}")
    display.close(failed=failed)
    if metrics_log is not None:
        metrics_log.close()
    return ranks_agree


def build_learner(
    config: Config, envs: EnvRows, device: torch.device, distributed: Distributed
) -> tuple[ActorCritic, Any, nn.Module]:
    """The policy, its optimizer, and what the gradient steps call (DDP's wrapper when
    distributed). A policy that does not fit the env's spaces is a ConfigError."""
    try:
        policy = make_policy(config, envs.observation_space, envs.action_space, device)
    except ValueError as error:
        envs.close()
        raise ConfigError(str(error)) from None
    optimizer = make_optimizer(config, policy)
    trainee: nn.Module = policy
    if distributed.enabled:
        # Buffers (the normalizer's statistics) are kept identical by all-reducing their
        # updates, so DDP need not broadcast them on every call.
        trainee = nn.parallel.DistributedDataParallel(policy, broadcast_buffers=False)
    return policy, optimizer, trainee


def prepare_run_dir(run_dir: Path, config: Config, resumed: bool) -> None:
    """Claim a new run's dir (exclusively: a run started at once into it fails here), or clear
    the temporary file a checkpoint save killed half-way left in a resumed one; then write
    config.toml."""
    if not resumed:
        claim_run_dir(run_dir)
    else:
        for stale in (run_dir / "checkpoints").glob(".*.tmp*"):
            stale.unlink(missing_ok=True)
    save_config(config, run_dir / "config.toml")


def open_logs(config: Config, run_dir: Path, quiet: bool, distributed: Distributed,
              first_update: int) -> tuple[RunDisplay, MetricsLog | None]:
    """What the run shows while it runs, and its metrics.csv (rank 0's alone; a resumed run
    keeps the rows up to its checkpoint)."""
    display = RunDisplay(
        mode="none" if quiet else config.display,
        total_steps=config.num_updates * config.batch_size * distributed.world_size,
        run_dir=run_dir, config=config.to_dict(), tensorboard=config.tensorboard,
        wandb=config.wandb, wandb_project=config.wandb_project,
        is_main_process=distributed.is_main,
    )
    metrics_log = MetricsLog(run_dir / "metrics.csv", keep_until_update=first_update - 1) \
        if distributed.is_main else None
    return display, metrics_log


def run_header(config: Config, policy: ActorCritic, envs: EnvRows, run_dir: Path,
               distributed: Distributed, device: torch.device,
               resume: dict[str, Any] | None, first_update: int) -> str:
    ranks = f" x {distributed.world_size} ranks" if distributed.enabled else ""
    return (
        f"{config.env_id}: {config.num_updates} updates of {config.num_envs} x {config.horizon} steps"
        f"{ranks}, policy {config.policy}{' + LSTM' if policy.recurrent else ''} with "
        f"{count_parameters(policy):,} parameters ({resolve_precision(config.precision, device)}), "
        f"{envs.describe()}, run dir {run_dir}"
        + (f", resumed at update {first_update}" if resume is not None else "")
    )


def annealed_learning_rate(config: Config, update: int) -> float:
    """Cosine from learning_rate at the first update down towards 0 at the last."""
    progress = (update - 1) / config.num_updates
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


def save_checkpoints(run_dir: Path, config: Config, update: int, global_step: int,
                     policy: ActorCritic, optimizer, extra: dict[str, Any]) -> None:
    """checkpoints/latest.pt, and final.pt after the last update of the run."""
    names = ("latest.pt", "final.pt") if update == config.num_updates else ("latest.pt",)
    for name in names:
        save_checkpoint(run_dir / "checkpoints" / name, policy, optimizer,
                        global_step, config.to_dict(), update, extra)


class LogClock:
    """The run's wall time (a resumed run's time before this call included) and the steps
    per second between logs."""

    def __init__(self, elapsed_before: float, global_step: int):
        self.last_time = time.perf_counter()
        self.start_time = self.last_time - elapsed_before
        self.last_step = global_step

    def wall_time(self) -> float:
        return time.perf_counter() - self.start_time

    def lap(self, global_step: int) -> dict[str, float]:
        """wall_time and sps (since the last lap) for a metrics row."""
        now = time.perf_counter()
        times = {"wall_time": now - self.start_time,
                 "sps": (global_step - self.last_step) / (now - self.last_time)}
        self.last_time, self.last_step = now, global_step
        return times


# ---- the update ----


def ppo_update(
    trainee: nn.Module,
    policy: ActorCritic,
    optimizer,
    storage: RolloutStorage,
    units: SampleUnits,
    config: Config,
    update: int,
) -> tuple[dict[str, float], torch.Tensor]:
    """update_epochs passes over the rollout in minibatches of units. Returns the losses
    averaged over the minibatches, and the returns of the last epoch (the value targets)."""
    ratios = torch.ones_like(storage.rewards)  # the first epoch's: the policy that acted
    beta = config.prio_beta0 + (1.0 - config.prio_beta0) * update / config.num_updates  # 1 at the end
    sums = dict.fromkeys(LOSS_NAMES, 0.0)
    minibatches = 0
    for epoch in range(config.update_epochs):
        if epoch > 0:  # the policy moved: weigh the old data by the current ratios
            ratios = current_ratios(policy, storage, config.minibatch_size)
        advantages = compute_advantages(
            storage.values, storage.rewards, storage.dones, ratios, storage.next_value,
            gamma=config.gamma, gae_lambda=config.gae_lambda,
            rho_clip=config.rho_clip, c_clip=config.c_clip,
        )
        returns = advantages + storage.values
        order, weights = units.draw(advantages, config.prio_alpha, beta)
        for minibatch in order.split(units.per_minibatch(config.minibatch_size)):
            losses = gradient_step(trainee, policy, optimizer, storage, units, minibatch,
                                   weights, advantages, returns, config)
            for name, value in losses.items():
                sums[name] += value
            minibatches += 1
    return {name: total / minibatches for name, total in sums.items()}, returns


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
