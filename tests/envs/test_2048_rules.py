"""2048's rules (cython_ext/game2048.pyx), checked through the env on boards set directly:
merging once per move, sliding in all four directions, spawning after a change only, the
invalid-move penalty, both reward modes, the action mask, the end of the game and the
statistics. A plain-Python move (below) is the reference the native lookup table must match
on random boards."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import shoal  # noqa: F401  (registers the ids)
from shoal._ext.game2048 import move_line_by_rule
from tests.envs import setters

UP, RIGHT, DOWN, LEFT = range(4)


def reference_line(line: list[int]) -> tuple[list[int], int, int]:
    """The rule, written plainly: compact toward index 0, merge equal neighbours once."""
    tiles = [v for v in line if v]
    out, exponents, points, index = [], 0, 0, 0
    while index < len(tiles):
        if index + 1 < len(tiles) and tiles[index] == tiles[index + 1]:
            out.append(tiles[index] + 1)
            exponents += tiles[index] + 1
            points += 2 ** (tiles[index] + 1)
            index += 2
        else:
            out.append(tiles[index])
            index += 1
    return out + [0] * (4 - len(out)), exponents, points


def reference_move(cells: np.ndarray, action: int) -> tuple[np.ndarray, int, int]:
    """The board after a move (lines read from the side moved toward), and its earnings."""
    # Rotate so that the move is "left", move every row, rotate back.
    turns = {LEFT: 0, UP: 1, RIGHT: 2, DOWN: 3}[action]
    board = np.rot90(cells, turns).copy()
    exponents = points = 0
    for row in range(4):
        board[row], gained, earned = reference_line(list(board[row]))
        exponents += gained
        points += earned
    return np.rot90(board, -turns), exponents, points


def make(**kwargs):
    env = gymnasium.make("shoal/2048-v0", max_episode_steps=None, **kwargs).unwrapped
    env.reset(seed=0)
    return env


def set_board(env, rows, score=0):
    setters.set_board(env.core, 0, np.array(rows), score)


@pytest.mark.parametrize(("line", "after"), [
    ([1, 1, 1, 1], [2, 2, 0, 0]),  # [2,2,2,2] left gives [4,4,0,0]
    ([2, 1, 1, 0], [2, 2, 0, 0]),  # [4,2,2,0] left gives [4,4,0,0]: a merged tile stays put
    ([1, 1, 2, 0], [2, 2, 0, 0]),  # [2,2,4,0]: the new 4 does not merge again
    ([0, 1, 0, 1], [2, 0, 0, 0]),
    ([1, 2, 1, 2], [1, 2, 1, 2]),
    ([3, 3, 3, 0], [4, 3, 0, 0]),  # the pair nearest the side merges
    ([15, 15, 0, 0], [16, 0, 0, 0]),  # beyond the lookup table: the rule itself
])
def test_a_line_merges_each_pair_once(line, after):
    assert move_line_by_rule(line)[0] == after
    assert move_line_by_rule(line) == tuple(reference_line(line))


@settings(max_examples=300, deadline=None)
@given(hnp.arrays(np.int64, (4, 4), elements=st.integers(0, 6)), st.integers(0, 3))
def test_moves_match_the_plain_rule_on_random_boards(cells, action):
    env = make(invalid_move_penalty=0.5)
    set_board(env, cells)
    expected, exponents, _ = reference_move(cells, action)
    changed = not np.array_equal(expected, cells)
    obs, reward, *_ = env.step(action)
    if not changed:
        np.testing.assert_array_equal(obs, cells)  # nothing moves, nothing spawns
        assert reward == -0.5
        return
    spawned = obs != expected
    assert spawned.sum() == 1  # exactly one new tile ...
    assert expected[spawned][0] == 0 and obs[spawned][0] in (1, 2)  # ... a 2 or 4 on an empty cell
    np.testing.assert_array_equal(np.where(spawned, 0, obs), expected)
    assert reward == exponents


def test_large_tiles_take_the_rule_path_in_every_direction():
    for action in range(4):
        env = make()
        cells = np.zeros((4, 4), np.int64)
        cells[1, 1] = cells[1, 2] = 16  # two 65536 tiles side by side ...
        cells[0, 1] = cells[3, 1] = 15  # ... and two 32768 tiles in a column
        set_board(env, cells)
        expected, exponents, points = reference_move(cells, action)
        obs, reward, *_ = env.step(action)
        spawned = obs != expected
        assert spawned.sum() == 1
        assert reward == exponents
        assert env.core.state(0)["score"] == points


def test_score_mode_pays_the_game_points_times_the_scale():
    env = make(reward_mode="score", reward_scale=0.5)
    set_board(env, [[1, 1, 2, 2], [0] * 4, [0] * 4, [0] * 4])
    _, reward, *_ = env.step(LEFT)
    assert reward == 0.5 * (4 + 8)
    assert env.core.state(0)["score"] == 12


def legal_moves(cells: np.ndarray) -> list[bool]:
    return [not np.array_equal(reference_move(cells, a)[0], cells) for a in range(4)]


def test_the_action_mask_marks_the_moves_that_change_the_board():
    env = make()
    _, info = env.reset(seed=4)
    rng = np.random.default_rng(1)
    partial = 0
    for _ in range(300):
        cells = env.core.state(0)["cells"]
        np.testing.assert_array_equal(info["action_mask"], legal_moves(cells))
        partial += not info["action_mask"].all()
        *_, terminated, _, info = env.step(int(rng.integers(4)))  # illegal moves too
        if terminated:
            _, info = env.reset()
    assert partial > 10  # boards where some moves change nothing were checked


def test_a_locked_board_terminates_and_reports_its_statistics():
    # Find a seed where the last legal move locks the board: play random legal moves.
    env = make()
    env.reset(seed=11)
    rng = np.random.default_rng(0)
    info = {"action_mask": np.ones(4, bool)}
    for _ in range(5000):
        legal = np.flatnonzero(info["action_mask"])
        obs, reward, terminated, truncated, info = env.step(int(rng.choice(legal)))
        if terminated:
            break
    assert terminated
    assert not info["action_mask"].any()
    cells = env.core.state(0)["cells"]
    assert all(np.array_equal(reference_move(cells, a)[0], cells) for a in range(4))
    stats = info["episode_stats"]
    assert stats["max_tile"] == 2 ** cells.max()
    assert stats["score"] == env.core.state(0)["score"] > 0
    assert np.count_nonzero(cells) == 16


def test_new_tiles_are_fours_one_time_in_ten():
    envs = gymnasium.make_vec("shoal/2048-v0", num_envs=4000)
    observations, _ = envs.reset(seed=5)
    # Each start spawns two tiles: 8000 draws.
    fours = np.count_nonzero(observations == 2)
    twos = np.count_nonzero(observations == 1)
    assert fours + twos == 8000
    assert 0.08 < fours / 8000 < 0.12


def test_reset_starts_with_two_tiles():
    env = make()
    obs, info = env.reset(seed=3)
    assert np.count_nonzero(obs) == 2 and set(obs[obs > 0].tolist()) <= {1, 2}
    assert info["action_mask"].any()


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="reward_mode must be one of"):
        gymnasium.make("shoal/2048-v0", reward_mode="points")
    with pytest.raises(ValueError, match="invalid_move_penalty"):
        gymnasium.make("shoal/2048-v0", invalid_move_penalty=-1.0)


def test_same_step_final_info_holds_the_final_boards_masks():
    # A locked board ends the game, so its final mask is all False; the new board's mask (in
    # infos["action_mask"]) has legal moves again. Time limits end games with legal moves.
    envs = gymnasium.make_vec("shoal/2048-v0", num_envs=64, autoreset_mode="SameStep",
                              max_episode_steps=120)
    _, infos = envs.reset(seed=2)
    rng = np.random.default_rng(0)
    terminated_seen = truncated_seen = 0
    for _ in range(1500):
        legal = infos["action_mask"]
        actions = np.array([rng.choice(np.flatnonzero(row)) for row in legal])
        _, _, terminations, truncations, infos = envs.step(actions)
        ended = terminations | truncations
        if not ended.any():
            assert "final_info" not in infos
            continue
        final = infos["final_info"]
        np.testing.assert_array_equal(final["_action_mask"], ended)
        assert not final["action_mask"][~ended].any()
        assert not final["action_mask"][terminations].any()  # locked: no move left
        assert final["action_mask"][truncations & ~terminations].any(axis=1).all()
        assert infos["action_mask"][ended].any(axis=1).all()  # the fresh boards can move
        terminated_seen += terminations.sum()
        truncated_seen += (truncations & ~terminations).sum()
    assert terminated_seen > 0 and truncated_seen > 0
    envs.close()


def test_a_state_whose_legal_moves_do_not_fit_its_board_is_refused():
    envs = gymnasium.make_vec("shoal/2048-v0", num_envs=2)
    envs.reset(seed=0)
    setters.set_board(envs.core, 1, np.array([[1, 0, 0, 0]] + [[0] * 4] * 3))  # right and down only
    state = envs.get_state()
    boards = state["game.boards"]
    # Board: 16 cells, the int64 score at 16, max_exponent at 24, legal_moves at 28.
    assert boards.shape == (2, 32) and boards[1, 28] == 0b0110
    boards[1, 28] = 0b1111
    with pytest.raises(ValueError, match="legal moves that do not fit the board in world 1"):
        envs.set_state(state)
    boards[1, 28] = 0b0110
    envs.set_state(state)  # the untouched state loads
