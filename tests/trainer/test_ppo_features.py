"""The trainer's options, each checked by what it must do: observation normalisation,
prioritized segment sampling, Muon, gradient accumulation, action masks, LSTM, overlapped
rollouts, exact resume, and data-parallel training under torchrun."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import gymnasium
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shoal.trainer import evaluation, minibatches, ppo, rollout  # noqa: E402
from shoal.trainer.checkpoint import load_checkpoint  # noqa: E402
from shoal.trainer.cli import main  # noqa: E402
from shoal.trainer.config import load_config  # noqa: E402
from shoal.trainer.optimizers import make_optimizer, muon_parameter_split  # noqa: E402
from shoal.trainer.policies import ObservationNormalizer, make_policy  # noqa: E402

from .test_ppo import TINY_SNAKE, read_metrics, tiny_snake  # noqa: E402


def tiny_breakout(*overrides: str):
    return load_config("breakout", overrides=[
        "--num-envs", "8", "--horizon", "16", "--minibatch-size", "32", "--hidden-size", "16",
        "--torch-threads", "1", "--num-threads", "1", "--checkpoint-interval", "0",
        "--total-timesteps", "256", *overrides])


def without_times(rows):
    return [{key: value for key, value in row.items() if key not in ("wall_time", "sps")}
            for row in rows]


def final_parameters(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "final.pt")["model"]


# ---- observation normalisation ----


def test_normalizer_keeps_the_moments_of_everything_it_saw():
    normalizer = ObservationNormalizer((3,))
    generator = torch.Generator().manual_seed(0)
    first = torch.randn(100, 3, generator=generator) * 4 + 2
    second = torch.randn(50, 3, generator=generator) - 1
    first[:, 2] = second[:, 2] = 7.0  # a constant feature
    normalizer.update(first)
    normalizer.update(second)
    seen = torch.cat((first, second)).double()
    assert torch.allclose(normalizer.mean, seen.mean(0))
    assert torch.allclose(normalizer.var, seen.var(0, unbiased=False))
    normalized = normalizer(seen.float())
    assert torch.allclose(normalized[:, :2].mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(normalized[:, :2].std(0, unbiased=False), torch.ones(2), atol=1e-4)
    assert torch.equal(normalized[:, 2], torch.zeros(150))  # constant: no information
    assert normalizer(torch.full((1, 3), 1e6)).max() == normalizer.clip
    assert {"mean", "var", "count"} <= set(normalizer.state_dict())  # saved with the model


# ---- prioritized segment sampling ----


def test_prio_alpha_zero_is_exactly_uniform_sampling():
    advantages = torch.randn(16, 8)
    probabilities = minibatches.segment_probabilities(advantages, 0.0)
    assert torch.equal(probabilities, torch.full((16,), 1 / 16))
    assert torch.equal(minibatches.importance_weights(probabilities, 0.7), torch.ones(16))
    config = tiny_snake("--num-envs", "16", "--horizon", "8", "--minibatch-size", "32")
    order, weights = minibatches.SampleUnits(config, recurrent=False).draw(advantages, 0.0, 0.5)
    assert weights is None and torch.equal(order.sort().values, torch.arange(128))


def test_prioritized_sampling_favours_segments_with_large_advantages():
    advantages = torch.tensor([[1.0, -1.0], [0.0, 0.5], [4.0, 0.0], [0.0, 0.0]])
    probabilities = minibatches.segment_probabilities(advantages, 1.0)
    assert torch.allclose(probabilities, torch.tensor([2.0, 0.5, 4.0, 0.0]) / 6.5)
    squared = minibatches.segment_probabilities(advantages, 2.0)
    assert squared[2] > probabilities[2]  # a higher alpha sharpens the preference
    weights = minibatches.importance_weights(probabilities, 1.0)
    assert torch.allclose(weights[:3], 1 / (4 * probabilities[:3]))  # (N P)^-1 at beta = 1
    config = tiny_snake("--num-envs", "4", "--horizon", "2", "--minibatch-size", "4",
                        "--prio-alpha", "1.0")
    units = minibatches.SampleUnits(config, recurrent=False)
    assert units.whole_segments and units.length == 2
    torch.manual_seed(0)
    draws = torch.cat([units.draw(advantages, 1.0, 0.5)[0] for _ in range(500)])
    counts = torch.bincount(draws, minlength=4).double() / draws.numel()
    assert counts[3] == 0 and torch.allclose(counts[:3], probabilities[:3].double(), atol=0.03)


def test_prioritized_sampling_trains(tmp_path):
    config = tiny_snake("--num-envs", "16", "--horizon", "16", "--minibatch-size", "64",
                        "--total-timesteps", "1024", "--prio-alpha", "0.8", "--prio-beta0", "0.2")
    summary = ppo.train(config, tmp_path, quiet=True)
    assert summary["global_step"] == 1024 and np.isfinite(summary["policy_loss"])


# ---- optimizers and gradient accumulation ----


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest(tmp_path):
    config = tiny_breakout("--optimizer", "muon")
    envs = gymnasium.make_vec(config.env_id, num_envs=1)
    policy = make_policy(config, envs.single_observation_space, envs.single_action_space)
    matrices, others = muon_parameter_split(policy)
    heads = {id(p) for p in [*policy.actor.parameters(), *policy.critic.parameters(),
                             *policy.actor_encoder.input_layer.parameters(),
                             *policy.critic_encoder.input_layer.parameters()]}
    assert len(matrices) == 2  # the second hidden layer of the actor and of the critic
    assert all(p.ndim == 2 and id(p) not in heads for p in matrices)
    assert heads <= {id(p) for p in others} and all(p.ndim == 1 for p in others if id(p) not in heads)
    optimizer = make_optimizer(config, policy)
    assert set(optimizer.optimizers) == {"muon", "adamw"}
    summary = ppo.train(config, tmp_path, quiet=True)
    assert np.isfinite(summary["policy_loss"]) and summary["grad_norm"] > 0


@pytest.mark.parametrize("optimizer_name", ["adam", "muon"])
def test_the_value_head_steps_at_its_own_learning_rate(optimizer_name):
    # Adam's first step moves every weight by about the learning rate (the gradient's sign): the
    # critic's output layer by learning_rate * value_lr_scale, AdamW's other parameters by
    # learning_rate, and the annealed rate keeps the factor.
    config = tiny_breakout("--optimizer", optimizer_name, "--value-lr-scale", "4.0",
                           "--learning-rate", "1e-3")
    envs = gymnasium.make_vec(config.env_id, num_envs=1)
    policy = make_policy(config, envs.single_observation_space, envs.single_action_space)
    optimizer = make_optimizer(config, policy)
    adamw_others = [p for group in optimizer.optimizers["adamw"].param_groups
                    for p in group["params"] if all(p is not q for q in policy.critic.parameters())]
    before = {id(p): p.detach().clone() for p in policy.parameters()}
    obs = torch.as_tensor(envs.reset(seed=0)[0])
    _, _, value, _ = policy.act(obs)
    logits = policy.actor(policy.step_features(obs, None, None)[0])
    (value.sum() + logits.sum()).backward()
    optimizer.step()
    def moved(parameter):
        return (parameter.detach() - before[id(parameter)]).abs().max().item()
    assert all(moved(p) == pytest.approx(4e-3, rel=1e-2) for p in policy.critic.parameters())
    assert all(moved(p) == pytest.approx(1e-3, rel=1e-2) for p in adamw_others if moved(p) > 0)
    optimizer.set_learning_rate(5e-4)
    rates = {group["lr"] for group in optimizer.param_groups}
    assert rates == {5e-4, 2e-3}
    # At the default scale of 1, AdamW keeps one group, as runs before the key had.
    plain = make_optimizer(tiny_breakout("--optimizer", optimizer_name), policy)
    assert len(plain.optimizers["adamw"].param_groups) == 1


def test_a_memory_cap_accumulates_the_same_gradient(tmp_path):
    # 32-sample minibatches in one pass, or in 4 passes of 8: the same update up to
    # float rounding (the sums are taken in a different order).
    config = tiny_breakout("--total-timesteps", "256", "--precision", "float32")
    ppo.train(config, tmp_path / "whole", quiet=True)
    ppo.train(dataclasses.replace(config, max_microbatch_size=8), tmp_path / "parts", quiet=True)
    whole, parts = final_parameters(tmp_path / "whole"), final_parameters(tmp_path / "parts")
    assert all(torch.allclose(whole[name], parts[name], atol=1e-5) for name in whole)
    assert not all(torch.equal(whole[name], parts[name]) for name in whole)  # really split


# ---- action masks ----


class MaskedVectorEnv(gymnasium.vector.VectorEnv):
    """Four actions of which a random subset is legal each step (info["action_mask"]); the
    reward is 1 for a legal action and -1 for an illegal one. Episodes last 5 steps."""

    def __init__(self, num_envs: int, autoreset_mode=None, num_threads: int = 1, **_):
        self.num_envs = num_envs
        self.single_observation_space = gymnasium.spaces.Box(0, 1, (4,), np.float32)
        self.single_action_space = gymnasium.spaces.Discrete(4)
        self.observation_space = gymnasium.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gymnasium.vector.utils.batch_space(self.single_action_space, num_envs)
        self.metadata = {"autoreset_mode": autoreset_mode}
        self.illegal_actions = 0

    def observe(self):
        self.mask = self.rng.random((self.num_envs, 4)) < 0.5
        self.mask[np.arange(self.num_envs), self.rng.integers(0, 4, self.num_envs)] = True
        return self.mask.astype(np.float32), {"action_mask": self.mask.copy()}

    def reset(self, seed=None, options=None):
        self.rng = np.random.default_rng(seed)
        self.t = 0
        return self.observe()

    def step(self, actions):
        legal = self.mask[np.arange(self.num_envs), actions]
        self.illegal_actions += int((~legal).sum())
        self.t += 1
        done = np.full(self.num_envs, self.t % 5 == 0)
        obs, infos = self.observe()
        return obs, np.where(legal, 1.0, -1.0).astype(np.float32), done, np.zeros_like(done), infos


def test_masked_actions_are_never_taken_and_their_log_probability_is_nil():
    gymnasium.register("shoal-test/Masked-v0", vector_entry_point=MaskedVectorEnv)
    try:
        config = dataclasses.replace(tiny_breakout(), env_id="shoal-test/Masked-v0", env={},
                                     overlap_rollout=False)
        envs = rollout.EnvRows(config)
        policy = make_policy(config, envs.observation_space, envs.action_space)
        storage = rollout.RolloutStorage(config, envs, policy, torch.device("cpu"))
        storage.start(envs.reset(0))
        with torch.inference_mode():
            for _ in range(3):
                storage.collect(envs, policy, rollout.EpisodeStats())
        assert envs.envs[0].illegal_actions == 0
        assert storage.masks is not None and not storage.masks.all()
        # Every action taken was legal (+1; an illegal one pays -1), in the trainer's reward units.
        assert torch.equal(storage.rewards, torch.full_like(storage.rewards, config.reward_scale))
        # Training sees the same masks: the acting policy's ratios are 1 ...
        ratios = ppo.current_ratios(policy, storage, 32)
        assert torch.allclose(ratios, torch.ones_like(ratios), atol=1e-5)
        # ... and an illegal action has no probability at all.
        illegal = (~storage.masks).float().argmax(-1)
        some = ~storage.masks.all(-1)
        logprob, entropy, _ = policy.evaluate(storage.obs, illegal, None, None, storage.masks)
        assert (logprob[some] < -1e6).all() and torch.isfinite(entropy).all()
        envs.close()
    finally:
        del gymnasium.registry["shoal-test/Masked-v0"]


# ---- LSTM ----


def test_lstm_policy_learns_tiny_snake(tmp_path):
    # Trained through segments of 16 steps over 2 epochs, it reaches a mean return of about
    # 5.7 (seed 1); random play dies almost at once (about -0.9).
    config = tiny_snake("--num-envs", "64", "--total-timesteps", "81920", "--minibatch-size", "512",
                        "--learning-rate", "3e-3", "--seed", "1", "--lstm", "true",
                        "--lstm-size", "32", "--horizon", "16", "--update-epochs", "2")
    ppo.train(config, tmp_path, quiet=True)
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "final.pt")
    assert "lstm.weight_hh" in checkpoint["model"]
    assert evaluation.evaluate(checkpoint, episodes=64, seed=100)["return_mean"] > 3.0


# ---- overlapped rollouts ----


def test_overlap_splits_rows_into_whole_worlds_or_refuses_clearly():
    config = tiny_snake("--num-envs", "8", "--horizon", "8", "--minibatch-size", "16",
                        "--overlap-rollout", "true")
    envs = rollout.EnvRows(config)
    assert [rows for rows in envs.rows] == [slice(0, 4), slice(4, 8)]
    assert "2 halves" in envs.describe()
    envs.close()
    arena = load_config("snake_arena", overrides=[
        "--num-envs", "6", "--env.snakes_per_arena", "3", "--env.width", "20", "--env.height", "20",
        "--env.num_food", "4", "--horizon", "8", "--minibatch-size", "16", "--overlap-rollout", "true"])
    envs = rollout.EnvRows(arena)  # 6 rows are 2 arenas of 3: halves of whole arenas
    assert len(envs.envs) == 2
    envs.close()
    envs = rollout.EnvRows(dataclasses.replace(arena, num_envs=3))  # one arena: cannot split
    assert len(envs.envs) == 1 and "no overlap" in envs.describe()
    envs.close()


def test_overlapped_and_plain_rollouts_play_the_same_episodes_given_the_same_actions():
    # Row i is seeded with seed + i either way; with a policy that ignores its draws
    # (all actions forced to 0 by a mask-free constant policy) both see the same worlds.
    config = tiny_snake("--num-envs", "8", "--horizon", "8", "--minibatch-size", "16")
    results = []
    for overlap in (True, False):
        envs = rollout.EnvRows(dataclasses.replace(config, overlap_rollout=overlap))
        obs = np.concatenate([obs for _, obs, _ in envs.reset(5)])
        rewards = []
        for _ in range(20):
            futures = [envs.step_async(half, np.ones(rows.stop - rows.start, np.int32))
                       for half, rows in enumerate(envs.rows)]
            rewards.append(np.concatenate([future.result()[1] for future in futures]))
        envs.close()
        results.append((obs, np.stack(rewards)))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


# ---- exact resume ----


@pytest.mark.parametrize("extra", [
    ["--overlap-rollout", "true"],
    ["--lstm", "true", "--lstm-size", "8", "--overlap-rollout", "false"],
], ids=["overlap", "lstm"])
def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path, extra):
    config = tiny_snake("--num-envs", "16", "--horizon", "16", "--minibatch-size", "64",
                        "--total-timesteps", "1536", "--update-epochs", "2", "--seed", "4",
                        "--env.max_episode_steps", "20", *extra)  # truncations happen too
    ppo.train(config, tmp_path / "straight", quiet=True)
    interrupted = ppo.train(config, tmp_path / "resumed", quiet=True, stop_after_updates=2)
    assert interrupted["stopped_at_update"] == 2
    checkpoint = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "latest.pt")
    assert checkpoint["update"] == 2 and "envs" in checkpoint
    ppo.train(config, tmp_path / "resumed", quiet=True, resume=checkpoint)
    straight, resumed = read_metrics(tmp_path / "straight"), read_metrics(tmp_path / "resumed")
    assert len(straight) == len(resumed) == 6
    assert without_times(straight) == without_times(resumed)
    a, b = final_parameters(tmp_path / "straight"), final_parameters(tmp_path / "resumed")
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_a_resumed_breakout_run_restores_the_normalizer_and_the_envs(tmp_path):
    config = tiny_breakout("--total-timesteps", "512", "--seed", "2")
    ppo.train(config, tmp_path / "straight", quiet=True)
    ppo.train(config, tmp_path / "resumed", quiet=True, stop_after_updates=1)
    checkpoint = load_checkpoint(tmp_path / "resumed" / "checkpoints" / "latest.pt")
    ppo.train(config, tmp_path / "resumed", quiet=True, resume=checkpoint)
    assert without_times(read_metrics(tmp_path / "straight")) == without_times(
        read_metrics(tmp_path / "resumed"))
    a, b = final_parameters(tmp_path / "straight"), final_parameters(tmp_path / "resumed")
    assert all(torch.equal(a[name], b[name]) for name in a)
    assert a["normalizer.count"] == 4 * 8 * 16  # every rollout's observations


def test_cli_resume_continues_and_refuses_overrides(tmp_path, capsys):
    run_dir = tmp_path / "run"
    config = tiny_snake("--total-timesteps", "1024", "--num-envs", "16", "--horizon", "16",
                        "--minibatch-size", "64", "--checkpoint-interval", "2")
    ppo.train(config, run_dir, quiet=True, stop_after_updates=2)
    assert main(["train", "snake", "--resume", str(run_dir)]) == 0
    assert len(read_metrics(run_dir)) == 4
    assert load_checkpoint(run_dir / "checkpoints" / "final.pt")["update"] == 4
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "snake", "--resume", str(run_dir)])  # finished
    assert exit_info.value.code == 2 and "already finished" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "snake", "--resume", str(run_dir), "--seed", "3"])
    assert "drop --config" in capsys.readouterr().err


# ---- data parallel ----


def test_torchrun_two_cpu_ranks_keep_identical_parameters(tmp_path):
    run_dir = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "shoal.trainer.cli", "train", "snake", *TINY_SNAKE, "--num-envs", "16",
         "--horizon", "16", "--minibatch-size", "64", "--total-timesteps", "512",
         "--display", "lines", "--run-dir", str(run_dir)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "x 2 ranks" in result.stdout
    assert "parameters identical on all 2 ranks: True" in result.stdout
    rows = read_metrics(run_dir)
    assert int(rows[-1]["global_step"]) == 2 * 512  # both ranks' steps count
    assert load_checkpoint(run_dir / "checkpoints" / "final.pt")["step"] == 1024
