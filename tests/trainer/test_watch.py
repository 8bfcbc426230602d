"""Watching and recording a trained agent (`shoal eval --render / --video`), and `shoal play`
with a checkpoint driving the other agents of a multi-agent world."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from shoal.trainer import evaluation, rollout  # noqa: E402
from shoal.trainer.checkpoint import load_checkpoint  # noqa: E402
from shoal.trainer.config import config_from_dict  # noqa: E402
from shoal.trainer.cli import main  # noqa: E402
from tests.trainer.test_ppo import TINY_SNAKE  # noqa: E402


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    assert main(["train", "snake", *TINY_SNAKE, "--total-timesteps", "2048", "--num-envs", "16",
                 "--minibatch-size", "256", "--run-dir", str(run_dir), "--display", "none"]) == 0
    return run_dir / "checkpoints" / "final.pt"


def test_eval_video_records_the_episodes_headless(tiny_checkpoint, tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    video = tmp_path / "agent.gif"
    assert main(["eval", "snake", "--checkpoint", str(tiny_checkpoint), "--video", str(video),
                 "--episodes", "2", "--max-frames", "40"]) == 0
    out = capsys.readouterr().out
    frames = Image.open(video).n_frames
    assert f"wrote {video}: {frames} frames at 10 per second" in out
    assert 2 <= frames <= 40
    assert "2 episodes" in out


def test_watch_hands_every_frame_of_the_episodes(tiny_checkpoint):
    checkpoint = load_checkpoint(tiny_checkpoint)
    frames = []
    result = evaluation.watch(checkpoint, episodes=2, deterministic=True, seed=0,
                       render_mode="rgb_array", on_frame=frames.append)
    assert result["episodes"] == 2
    # One frame after the reset and one per step, and the episodes' steps are all there.
    assert len(frames) >= 2 * result["length_mean"] + 1
    assert frames[0].shape == frames[-1].shape and frames[0].ndim == 3


def test_eval_render_watches_in_a_window(tiny_checkpoint, display, capsys):
    assert main(["eval", "snake", "--checkpoint", str(tiny_checkpoint), "--render"]) == 0
    assert "1 episodes" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["--render", "--video", "x.gif"], "choose one"),
    (["--video", "x.avi"], "--video must end in one of .gif"),
])
def test_eval_watch_errors_exit_2(tiny_checkpoint, argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", "snake", "--checkpoint", str(tiny_checkpoint), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_play_refuses_a_checkpoint_for_a_one_agent_game_and_a_bad_agent(tiny_checkpoint, capsys):
    with pytest.raises(SystemExit):
        main(["play", "snake", "--checkpoint", str(tiny_checkpoint)])
    assert "this game has one agent" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["play", "snake", "--agent", "1"])
    assert "--agent must be in [0, 0]" in capsys.readouterr().err


def test_checkpoint_policy_acts_for_every_row(tiny_checkpoint):
    import numpy as np

    checkpoint = load_checkpoint(tiny_checkpoint)
    config = config_from_dict(checkpoint["config"], "test")
    envs = rollout.make_envs(config, num_envs=4)
    observations, _ = envs.reset(seed=0)
    policy = evaluation.CheckpointPolicy(checkpoint, envs)
    actions = policy(observations, np.ones(4, dtype=bool))
    assert actions.shape == (4,) and actions.dtype == np.int32
    assert envs.action_space.contains(actions)
    envs.close()


def test_2048_tile_shares_of_a_checkpoint(tmp_path):
    """scripts/eval_2048_tiles.py: the share of episodes reaching each tile, from a tiny run."""
    import importlib.util
    from pathlib import Path

    run_dir = tmp_path / "run"
    assert main(["train", "2048", "--total-timesteps", "2048", "--num-envs", "16",
                 "--minibatch-size", "256", "--torch-threads", "1", "--num-threads", "1",
                 "--checkpoint-interval", "0", "--display", "none",
                 "--run-dir", str(run_dir)]) == 0
    script = Path(__file__).resolve().parents[2] / "scripts" / "eval_2048_tiles.py"
    spec = importlib.util.spec_from_file_location("eval_2048_tiles", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.tile_shares(load_checkpoint(run_dir / "checkpoints" / "final.pt"), 8, 0)
    shares = [result["share_reaching"][str(tile)] for tile in module.THRESHOLDS]
    assert all(0.0 <= share <= 1.0 for share in shares)
    assert shares == sorted(shares, reverse=True)  # reaching 512 means reaching 256
    assert result["episodes"] == 8 and result["score_mean"] > 0


def test_play_refuses_a_negative_seed_before_opening_anything(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["play", "breakout", "--seed", "-1"])
    assert exit_info.value.code == 2
    assert "argument --seed: must be an integer >= 0, got -1" in capsys.readouterr().err
