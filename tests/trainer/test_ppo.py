"""PPO end to end on tiny settings: it learns, it is reproducible, truncations bootstrap,
later epochs recompute the advantages, and the `shoal` command line drives it all."""

from __future__ import annotations

import csv
import subprocess
import sys

import gymnasium
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import shoal  # noqa: E402
from shoal.trainer import evaluation, metrics_log, ppo, rollout  # noqa: E402
from shoal.trainer.advantage import reference_advantages  # noqa: E402
from shoal.trainer.checkpoint import load_checkpoint  # noqa: E402
from shoal.trainer.cli import main  # noqa: E402
from shoal.trainer.config import ConfigError, load_config  # noqa: E402
from shoal.trainer.policies import GridPolicy, MLPPolicy, count_parameters, make_policy  # noqa: E402

# A 5 x 5 Snake seen through a 5 x 5 window: small enough to learn in seconds.
TINY_SNAKE = ["--env.width", "5", "--env.height", "5", "--env.vision", "2",
              "--env.max_episode_steps", "200", "--torch-threads", "1", "--num-threads", "1",
              "--checkpoint-interval", "0"]


def tiny_snake(*overrides: str):
    return load_config("snake", overrides=[*TINY_SNAKE, *overrides])


def read_metrics(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "metrics.csv", newline="") as file:
        return list(csv.DictReader(file))


# ---- policies ----


def test_default_breakout_policy_has_about_150k_parameters():
    config = load_config("breakout")
    envs = gymnasium.make_vec(config.env_id, num_envs=1, **config.env)
    policy = make_policy(config, envs.single_observation_space, envs.single_action_space)
    assert isinstance(policy, MLPPolicy)
    assert 130_000 <= count_parameters(policy) <= 170_000


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_policies_return_action_logprob_entropy_value(precision):
    discrete = gymnasium.spaces.Discrete(4)
    box = gymnasium.spaces.Box(-1.0, 1.0, (2,), np.float32)
    grid_space = gymnasium.spaces.Box(0, 5, (5, 5), np.uint8)
    cases = [
        (MLPPolicy(gymnasium.spaces.Box(-1, 1, (7,), np.float32), discrete, 16, "tanh", precision),
         torch.rand(6, 7)),
        (MLPPolicy(gymnasium.spaces.Box(-1, 1, (7,), np.float32), box, 16, "relu", precision),
         torch.rand(6, 7)),
        (GridPolicy(grid_space, discrete, 16, "relu", 4, 8, precision),
         torch.randint(0, 6, (6, 5, 5), dtype=torch.uint8)),
    ]
    for policy, obs in cases:
        action, logprob, entropy, value = policy.get_action_and_value(obs)
        assert logprob.shape == entropy.shape == value.shape == (6,)
        assert logprob.dtype == value.dtype == torch.float32
        _, again, _, _ = policy.get_action_and_value(obs, action)
        assert torch.allclose(logprob, again)
        assert policy.get_value(obs).shape == (6,)
        assert policy.get_action(obs, deterministic=True).shape == action.shape


def test_grid_policy_rejects_vector_observations():
    with pytest.raises(ValueError, match="GridPolicy needs 2-D integer tile-code"):
        GridPolicy(gymnasium.spaces.Box(-1, 1, (117,), np.float32), gymnasium.spaces.Discrete(3))


# ---- the rollout's pieces ----


def test_truncated_rows_get_gamma_times_the_value_of_their_final_observation():
    rewards = torch.tensor([1.0, 2.0, 3.0, 4.0])
    terminations = np.array([False, False, True, True])
    truncations = np.array([False, True, False, True])  # row 3: both, a real ending wins
    final_obs = np.full(4, None, dtype=object)
    final_obs[1] = np.array([10.0, 5.0], dtype=np.float32)
    final_obs[2] = np.array([7.0, 7.0], dtype=np.float32)
    final_obs[3] = np.array([9.0, 9.0], dtype=np.float32)
    infos = {"final_obs": final_obs, "_final_obs": terminations | truncations}
    seen = []

    def get_value(obs: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        seen.append(obs.clone())
        return obs.sum(dim=1)  # V(o) = sum of o

    rollout.bootstrap_truncations(rewards, terminations, truncations, infos, get_value, gamma=0.5)
    assert rewards.tolist() == [1.0, 2.0 + 0.5 * 15.0, 3.0, 4.0]
    # The rows come along, for a recurrent policy to pick their states.
    rewards = torch.tensor([1.0, 2.0, 3.0, 4.0])
    rows_seen = []
    rollout.bootstrap_truncations(rewards, terminations, truncations, infos,
                              lambda obs, rows: rows_seen.append(rows.tolist()) or obs.sum(1),
                              gamma=0.5)
    assert rows_seen == [[1]]
    assert rewards.tolist() == [1.0, 2.0 + 0.5 * 15.0, 3.0, 4.0]
    assert len(seen) == 1 and torch.equal(seen[0], torch.tensor([[10.0, 5.0]]))


def test_truncation_bootstrap_reads_shoals_real_infos():
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=4, width=5, height=5, vision=2,
                              max_episode_steps=3, autoreset_mode="SAME_STEP")
    envs.reset(seed=0)
    for _ in range(3):  # safe moves (up, right, down) never hit the wall before step 3 ends
        _, reward, terminations, truncations, infos = envs.step(np.array([1, 2, 3, 0], np.int32))
    rewards = torch.from_numpy(reward)
    expected = rewards.clone()
    rows = np.flatnonzero(truncations & ~terminations)
    assert rows.size  # the time limit cut somebody off
    expected[rows] += 0.9 * torch.from_numpy(np.stack(infos["final_obs"][rows])).float().sum((1, 2))
    rollout.bootstrap_truncations(rewards, terminations, truncations, infos,
                              lambda obs, rows: obs.float().sum((1, 2)), gamma=0.9)
    assert torch.equal(rewards, expected)


def collect_one_rollout(config) -> tuple[rollout.RolloutStorage, dict[str, float]]:
    """One rollout of a fresh policy whose critic says 8 everywhere, torch seeded alike."""
    torch.manual_seed(0)
    envs = rollout.EnvRows(config)
    policy = make_policy(config, envs.observation_space, envs.action_space)
    with torch.no_grad():
        policy.critic.weight.zero_()
        policy.critic.bias.fill_(8.0)
    storage = rollout.RolloutStorage(config, envs, policy, torch.device("cpu"))
    storage.start(envs.reset(config.seed))
    episodes = rollout.EpisodeStats()
    with torch.inference_mode():
        storage.collect(envs, policy, episodes)
    envs.close()
    return storage, episodes.means_and_clear()


def test_reward_scale_scales_what_the_value_learns_from_but_not_the_logged_returns():
    # A time limit of 10 steps cuts many episodes inside one 32-step segment, so the
    # bootstrap gamma * V(final observation) = gamma * 8 is added at those steps. It must be
    # added after the scaling: V is already in the scaled units.
    settings = ["--num-envs", "8", "--horizon", "32", "--minibatch-size", "64",
                "--env.max_episode_steps", "10"]
    plain, plain_episodes = collect_one_rollout(tiny_snake(*settings))
    config = tiny_snake(*settings, "--reward-scale", "0.25")
    scaled, scaled_episodes = collect_one_rollout(config)
    assert torch.equal(plain.actions, scaled.actions)  # the same episodes were played
    assert plain.rewards.any()
    assert scaled_episodes == plain_episodes  # the env's own returns and scores are logged
    bootstrapped = scaled.rewards != 0.25 * plain.rewards
    assert bootstrapped.any() and bootstrapped.sum() == (scaled.dones * bootstrapped).sum()
    # plain = r + gamma * 8 and scaled = r / 4 + gamma * 8 where a time limit cut a row off.
    expected = 0.25 * plain.rewards + 0.75 * config.gamma * 8.0 * bootstrapped
    assert torch.allclose(scaled.rewards, expected, atol=1e-6)


def test_later_epochs_recompute_the_advantages_with_the_current_policy(tmp_path, monkeypatch):
    calls = []
    real = ppo.compute_advantages

    def spy(values, rewards, dones, ratios, next_value, **kwargs):
        advantages = real(values, rewards, dones, ratios, next_value, **kwargs)
        calls.append((ratios.clone(), advantages.clone()))
        assert torch.equal(advantages, reference_advantages(
            values, rewards, dones, ratios, next_value, **kwargs))
        return advantages

    monkeypatch.setattr(ppo, "compute_advantages", spy)
    config = tiny_snake("--num-envs", "16", "--horizon", "32", "--total-timesteps", "512",
                        "--update-epochs", "3", "--minibatch-size", "128", "--learning-rate", "0.01",
                        "--rho-clip", "inf", "--c-clip", "inf")
    ppo.train(config, tmp_path, quiet=True)
    assert len(calls) == 3  # one update, three epochs
    (first_ratios, first), (second_ratios, second), (third_ratios, third) = calls
    assert torch.equal(first_ratios, torch.ones_like(first_ratios))  # GAE on the first epoch
    for ratios, advantages in ((second_ratios, second), (third_ratios, third)):
        assert not torch.allclose(ratios, torch.ones_like(ratios))  # the policy moved
        assert not torch.allclose(advantages, first)  # so did the advantages
    assert not torch.equal(second_ratios, third_ratios)


@pytest.mark.parametrize("lstm", [False, True])
def test_ratios_are_one_for_the_policy_that_acted(lstm):
    # The gradient steps see exactly what the rollout saw: the same observations, the same
    # normalisation and, for an LSTM, the same states rebuilt through each segment with the
    # resets at episode starts (the tiny snake ends many episodes within a segment).
    config = tiny_snake("--num-envs", "8", "--horizon", "32", "--minibatch-size", "64",
                        "--lstm", str(lstm).lower(), "--lstm-size", "16")
    envs = rollout.EnvRows(config)
    policy = make_policy(config, envs.observation_space, envs.action_space)
    storage = rollout.RolloutStorage(config, envs, policy, torch.device("cpu"))
    storage.start(envs.reset(config.seed))
    with torch.inference_mode():
        storage.collect(envs, policy, rollout.EpisodeStats())
    envs.close()
    assert storage.dones.any() and storage.starts[:, 1:].any()
    ratios = ppo.current_ratios(policy, storage, minibatch_size=64)
    assert torch.allclose(ratios, torch.ones_like(ratios), atol=1e-5)


# ---- training ----


def first_episode_returns(envs, act, seed: int) -> np.ndarray:
    """The return of the first episode of every row, actions from act(obs)."""
    returns = np.full(envs.num_envs, np.nan)
    obs, _ = envs.reset(seed=seed)
    while np.isnan(returns).any():
        obs, _, _, _, infos = envs.step(act(obs))
        if "episode_stats" in infos:
            first = infos["_episode_stats"] & np.isnan(returns)
            returns[first] = infos["episode_stats"]["return"][first]
    return returns


def test_ppo_learns_tiny_snake_far_better_than_random(tmp_path):
    # Two epochs, so the later-epoch V-trace advantages are exercised too. Over seeds 0-4 the
    # trained policy's mean return is 9.2 to 12.2 (float32 and bfloat16 alike): it eats about
    # ten food; random play dies almost at once (about -0.9).
    config = tiny_snake("--num-envs", "64", "--total-timesteps", "81920", "--update-epochs", "2",
                        "--minibatch-size", "512", "--learning-rate", "3e-3", "--seed", "1")
    summary = ppo.train(config, tmp_path, quiet=True)
    assert summary["global_step"] == 81920

    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "final.pt")
    trained = evaluation.evaluate(checkpoint, episodes=64, seed=100)["return_mean"]
    envs = gymnasium.make_vec(config.env_id, num_envs=64, **config.env)
    generator = torch.Generator().manual_seed(0)
    random = first_episode_returns(
        envs, lambda obs: torch.randint(0, 4, (64,), generator=generator).int().numpy(), seed=100
    ).mean()
    assert random < 0 and trained > random + 6.0, (trained, random)


def test_same_seed_same_metrics(tmp_path):
    config = tiny_snake("--num-envs", "16", "--horizon", "16", "--total-timesteps", "1024",
                        "--minibatch-size", "64", "--update-epochs", "2", "--seed", "3")
    for run in ("a", "b"):
        ppo.train(config, tmp_path / run, quiet=True)
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert len(a) == 4
    for row_a, row_b in zip(a, b):
        for column in ("wall_time", "sps"):
            del row_a[column], row_b[column]
        assert row_a == row_b
    state_a = load_checkpoint(tmp_path / "a" / "checkpoints" / "final.pt")["model"]
    state_b = load_checkpoint(tmp_path / "b" / "checkpoints" / "final.pt")["model"]
    assert all(torch.equal(state_a[name], state_b[name]) for name in state_a)


def test_continuous_breakout_trains_with_a_gaussian_head(tmp_path):
    config = load_config("breakout", overrides=[
        "--env.continuous", "true", "--num-envs", "8", "--horizon", "16", "--minibatch-size",
        "64", "--total-timesteps", "128", "--hidden-size", "16", "--torch-threads", "1"])
    summary = ppo.train(config, tmp_path, quiet=True)
    assert summary["global_step"] == 128 and np.isfinite(summary["policy_loss"])


def test_bad_env_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="shoal/Snake-v0 rejects the env settings.*width"):
        ppo.train(tiny_snake("--env.width", "0"), tmp_path, quiet=True)


# ---- the command line ----


def test_cli_train_writes_config_metrics_and_checkpoints_then_eval_reads_them(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "snake", *TINY_SNAKE, "--total-timesteps", "2048", "--num-envs", "16",
                 "--minibatch-size", "256", "--run-dir", str(run_dir)]) == 0
    assert "step" in capsys.readouterr().out
    assert (run_dir / "config.toml").is_file()
    assert load_config("snake", run_dir / "config.toml").total_timesteps == 2048
    rows = read_metrics(run_dir)
    assert len(rows) == 2 and set(metrics_log.METRIC_COLUMNS) <= set(rows[0])
    for name in ("latest.pt", "final.pt"):
        assert load_checkpoint(run_dir / "checkpoints" / name)["step"] == 2048

    assert main(["eval", "snake", "--checkpoint", str(run_dir / "checkpoints" / "final.pt"),
                 "--episodes", "3", "--deterministic"]) == 0
    assert "return" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["train", "pong"], "unknown env 'pong'; choose one of: breakout, snake, snake_arena"),
    (["train", "snake", "--learnig-rate", "1"], "did you mean learning_rate"),
    (["train", "snake", "--gamma", "yes"], "'gamma' from the command line must be float"),
    (["eval", "snake", "--checkpoint", "missing.pt"], "checkpoint missing.pt does not exist"),
    (["train", "snake", "--resume", "missing"], "checkpoint missing/checkpoints/latest.pt does not exist"),
    (["bench", "pong"], "unknown env 'pong'"),
    (["eval", "snake", "--checkpoint", "x.pt", "--gamma", "0.9"],
     "shoal eval takes only --env.NAME settings, got --gamma"),
])
def test_cli_errors_print_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_cli_bench_runs_without_importing_torch():
    code = ("import sys; from shoal.trainer.cli import main; "
            "main(['bench', 'breakout', '--steps', '10', '--num-envs', '64']); "
            "assert 'torch' not in sys.modules, 'bench imported torch'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "agent-steps/s" in result.stdout


def test_cli_bench_times_the_trainer_too(capsys):
    assert main(["bench", "snake", "--steps", "10", "--num-envs", "64", "--trainer", "1"]) == 0
    out = capsys.readouterr().out
    assert "M agent-steps/s" in out
    batch = load_config("snake").batch_size  # the trainer is timed with the env's own config
    assert f"shoal/Snake-v0 trainer: 1 updates of {batch:,} steps:" in out and "rollout" in out


def test_the_score_column_is_the_games_score_stat(tmp_path):
    # Maze's score is its success statistic: metrics.csv's score is the share of mazes solved
    # among the episodes logged, and evaluate reports it too.
    config = load_config("maze", overrides=[
        "--env.min-size", "5", "--env.max-size", "5", "--env.vision", "2", "--num-envs", "32",
        "--horizon", "32", "--minibatch-size", "256", "--total-timesteps", "4096",
        "--hidden-size", "16", "--channels", "8", "--torch-threads", "1"])
    ppo.train(config, tmp_path, quiet=True)
    scores = [float(row["score"]) for row in read_metrics(tmp_path) if row["episodes"] != "0"]
    assert scores and all(0.0 <= score <= 1.0 for score in scores)
    assert any(0.0 < score for score in scores)  # a 5 x 5 maze is solved by chance
    summary = evaluation.evaluate(load_checkpoint(tmp_path / "checkpoints" / "final.pt"), episodes=16,
                           seed=1)
    assert summary["score_mean"] == summary["success_mean"]
    assert 0.0 <= summary["optimality_mean"] <= 1.0 and summary["size_mean"] == 5.0


def test_cli_eval_changes_game_parameters_for_the_evaluation(tmp_path, capsys):
    # A Maze policy trained on the train split, evaluated on held-out mazes and larger ones.
    run_dir = tmp_path / "run"
    assert main(["train", "maze", "--env.min-size", "5", "--env.max-size", "7", "--num-envs",
                 "16", "--horizon", "16", "--minibatch-size", "256", "--total-timesteps", "256",
                 "--hidden-size", "16", "--channels", "8", "--run-dir", str(run_dir)]) == 0
    capsys.readouterr()
    assert main(["eval", "maze", "--checkpoint", str(run_dir / "checkpoints" / "final.pt"),
                 "--episodes", "4", "--env.split", "test", "--env.max-size", "9"]) == 0
    out = capsys.readouterr().out
    assert "split='test', max_size=9" in out and "success" in out and "optimality" in out
    with pytest.raises(SystemExit):
        main(["eval", "maze", "--checkpoint", str(run_dir / "checkpoints" / "final.pt"),
              "--env.split", "validation"])
    assert "split must be one of" in capsys.readouterr().err
