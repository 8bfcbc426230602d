"""The trained policies shipped with shoal (trainer/pretrained/): one per env, each playing
well above random, reachable from `shoal eval / play ENV --pretrained` with no training."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import shoal  # noqa: E402
from shoal.trainer.cli import main  # noqa: E402
from shoal.trainer.config import ConfigError, config_from_dict, resolve_env  # noqa: E402
from shoal.trainer.evaluation import evaluate
from shoal.trainer.rollout import score_stat  # noqa: E402
from shoal.trainer.pretrained import (  # noqa: E402
    PRETRAINED_DIR,
    evaluation_limit,
    load_pretrained,
    pretrained_path,
    strip_checkpoint,
)

EPISODES = 4


def random_score(env_id: str, env_parameters: dict, episodes: int, seed: int = 0) -> float:
    """The mean score of uniformly random actions over the first episode of `episodes` rows
    (masked actions avoided where the env gives a mask), as evaluate counts a policy's."""
    game = shoal.vector_env_class(env_id).game_for(**env_parameters)
    agents = game.agents_per_world()
    envs = gymnasium.make_vec(env_id, num_envs=math.ceil(episodes / agents) * agents,
                              **env_parameters)
    generator = np.random.default_rng(seed)
    envs.action_space.seed(seed)  # the same random play every run: a test that cannot flake
    _, infos = envs.reset(seed=seed)
    scores: dict[int, float] = {}
    name = score_stat(envs)
    while len(scores) < episodes:
        if "action_mask" in infos:
            mask = np.asarray(infos["action_mask"], dtype=bool)
            actions = np.array([generator.choice(np.flatnonzero(row)) if row.any() else 0
                                for row in mask])  # (no legal move: the episode is ending)
        else:
            actions = envs.action_space.sample()
        _, _, _, _, infos = envs.step(actions)
        if "episode_stats" in infos:
            for row in np.flatnonzero(infos["_episode_stats"]):
                if row < episodes and row not in scores:
                    scores[int(row)] = float(infos["episode_stats"][name][row])
    envs.close()
    return float(np.mean(list(scores.values())))


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_every_env_ships_a_policy_that_plays_well_above_random(env_id):
    checkpoint = load_pretrained(env_id)
    config = config_from_dict(checkpoint["config"], "the shipped config")
    assert config.env_id == env_id
    assert set(checkpoint) == {"model", "config", "step", "update", "source"}  # no optimizer
    shipped = checkpoint["source"]["evaluation"]["score_mean"]
    limit = evaluation_limit(checkpoint["config"])  # MMO lives: cut at 2000 ticks
    played = evaluate(checkpoint, episodes=EPISODES, seed=1, env_overrides=limit)["score_mean"]
    chance = random_score(env_id, {**config.env, **limit}, EPISODES)
    # Well above random: at least half of the way from random play to the shipped policy's
    # own 20-episode evaluation.
    assert shipped > chance
    assert played >= chance + 0.5 * (shipped - chance), (played, chance, shipped)


def test_every_shipped_file_is_small_and_named_after_its_env():
    names = {resolve_env(env_id)[0] for env_id in shoal.ENV_IDS}
    files = {path.stem: path for path in PRETRAINED_DIR.glob("*.pt")}
    assert set(files) == names
    assert all(path.stat().st_size < 3_000_000 for path in files.values())  # MMO's: 2.2 MB


def test_eval_pretrained_needs_no_training(capsys):
    assert main(["eval", "maze", "--pretrained", "--episodes", "3"]) == 0
    out = capsys.readouterr().out
    assert "shoal/Maze-v0: 3 episodes" in out and "score" in out


def test_play_pretrained_records_a_one_agent_game_headless(tmp_path, capsys):
    pytest.importorskip("PIL.Image")
    video = tmp_path / "maze.gif"
    assert main(["play", "maze", "--pretrained", "--video", str(video)]) == 0
    assert video.stat().st_size > 0
    assert "the pretrained policy played 1 episode(s)" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["eval", "maze"], "one of the arguments --checkpoint --pretrained is required"),
    (["play", "maze", "--video", "x.gif"], "--video records a pretrained agent"),
])
def test_pretrained_argument_errors_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_missing_policy_and_a_foreign_checkpoint_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setattr("shoal.trainer.pretrained.PRETRAINED_DIR", tmp_path)
    with pytest.raises(ConfigError, match="no pretrained policy for shoal/Maze-v0"):
        pretrained_path("maze")
    with pytest.raises(ConfigError, match="lacks"):
        strip_checkpoint({"model": {}}, source={})
