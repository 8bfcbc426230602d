"""Maze's rules (cython_ext/maze.pyx): generated mazes are perfect, sized as asked, their
shortest path is a breadth-first search's; the train and test splits never share a layout;
moves (absolute and relative), walls, the view (turned with the agent), the goal, the step
limit and the statistics; wall following solves every maze with relative moves."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import shoal  # noqa: F401  (registers the ids)
from shoal._ext.maze import TILE_CODES
from tests.envs.setters import set_maze, shortest_path_length

WALL, FLOOR, GOAL, AGENT, UNKNOWN = (TILE_CODES[name] for name in
                                     ("wall", "floor", "goal", "agent", "unknown"))
UP, RIGHT, DOWN, LEFT = range(4)
FORWARD, BACK = UP, DOWN
STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))

#: A 7 x 7 maze: a corridor along the top and down the right side, and one dead end.
#:   row 1: . . . . .      the agent starts at (1, 1), the goal is (5, 5)
#:   row 3: .   # # .
#:   row 5: . # # # .
CORRIDOR = np.array([
    [0, 0, 0, 0, 0, 0, 0],
    [0, 1, 1, 1, 1, 1, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 0],
], dtype=np.uint8)


def make_vec(num_envs=1, **kwargs):
    envs = gymnasium.make_vec("shoal/Maze-v0", num_envs=num_envs, **kwargs)
    envs.reset(seed=0)
    return envs


def layouts(envs, resets):
    """(size, tiles bytes without the goal) of every maze `resets` resets draw."""
    seen = []
    for _ in range(resets):
        envs.core.reset()
        for world in range(envs.num_envs):
            state = envs.core.state(world)
            tiles = state["tiles"].copy()
            tiles[state["goal"]] = FLOOR
            seen.append((state["size"], tiles.tobytes()))
    return seen


def test_generated_mazes_are_perfect_and_their_shortest_path_is_the_bfs_one():
    envs = make_vec(256, min_size=5, max_size=21)
    sizes = set()
    for _ in range(4):
        envs.core.reset()
        for world in range(envs.num_envs):
            state = envs.core.state(world)
            size, tiles = state["size"], state["tiles"].copy()
            sizes.add(size)
            last = size - 2
            assert {state["agent"], state["goal"]} in ({(1, 1), (last, last)}, {(1, last), (last, 1)})
            tiles[state["goal"]] = FLOOR
            assert (tiles[0] == WALL).all() and (tiles[-1] == WALL).all()
            assert (tiles[:, 0] == WALL).all() and (tiles[:, -1] == WALL).all()
            assert (tiles[1::2, 1::2] == FLOOR).all()  # every cell is open
            assert (tiles[2::2, 2::2] == WALL).all()  # between four cells: always wall
            # A tree over the cells: as many passages as cells minus one, and all connected.
            cells = ((size - 1) // 2) ** 2
            assert np.count_nonzero(tiles == FLOOR) == 2 * cells - 1
            bfs = shortest_path_length(tiles, state["agent"], state["goal"])
            assert bfs == state["shortest"] > 0
            reachable = [shortest_path_length(tiles, state["agent"], (r, c)) >= 0
                         for r in range(1, size, 2) for c in range(1, size, 2)]
            assert all(reachable)
    assert sizes == {5, 7, 9, 11, 13, 15, 17, 19, 21}
    envs.close()


def test_train_and_test_never_share_a_layout_and_mirrors_cross_over():
    # Small sizes repeat within a split, so a shared layout would show up here.
    train = set(layouts(make_vec(128, min_size=5, max_size=9, split="train"), 12))
    test = set(layouts(make_vec(128, min_size=5, max_size=9, split="test"), 12))
    assert not train & test
    for size in (5, 7, 9):
        assert any(s == size for s, _ in train) and any(s == size for s, _ in test)
    # The four 5 x 5 layouts, two per split.
    assert sum(s == 5 for s, _ in train) == 2 and sum(s == 5 for s, _ in test) == 2
    # A layout's mirror image across the diagonal belongs to the other split.
    envs = make_vec(1, min_size=5, max_size=9)
    for size, layout in sorted(train)[:10]:
        tiles = np.frombuffer(layout, np.uint8).reshape(size, size)
        set_maze(envs.core, 0, tiles, (1, 1), (size - 2, size - 2))
        assert envs.core.state(0)["split"] == "train"
        set_maze(envs.core, 0, tiles.T, (1, 1), (size - 2, size - 2))
        assert envs.core.state(0)["split"] == "test"


def test_split_all_draws_from_both_splits_and_each_split_keeps_to_its_own():
    splits = {}
    for split in ("train", "test", "all"):
        envs = make_vec(512, split=split)
        splits[split] = [envs.core.state(world)["split"] for world in range(512)]
    assert set(splits["train"]) == {"train"} and set(splits["test"]) == {"test"}
    assert 0.4 < splits["all"].count("train") / 512 < 0.6


def corridor_env(**kwargs):
    envs = make_vec(1, min_size=7, max_size=7, **kwargs)
    set_maze(envs.core, 0, CORRIDOR, agent=(1, 1), goal=(5, 5), heading=RIGHT)
    return envs


def test_absolute_moves_go_where_they_say_and_walls_stop_them():
    envs = corridor_env()
    envs.step(np.array([UP]))  # into the border wall: no move, the step counts
    state = envs.core.state(0)
    assert state["agent"] == (1, 1) and state["steps"] == 1 and state["heading"] == UP
    envs.step(np.array([RIGHT]))
    envs.step(np.array([DOWN]))  # (2, 2) is wall
    assert envs.core.state(0)["agent"] == (1, 2)
    envs.step(np.array([LEFT]))
    envs.step(np.array([DOWN]))
    assert envs.core.state(0)["agent"] == (2, 1)


def test_relative_moves_turn_then_step():
    envs = corridor_env(moves="relative")  # facing right at (1, 1)
    envs.step(np.array([FORWARD]))
    assert envs.core.state(0)["agent"] == (1, 2)
    envs.step(np.array([RIGHT]))  # turn to face down: (2, 2) is wall, so only the turn
    state = envs.core.state(0)
    assert state["agent"] == (1, 2) and state["heading"] == DOWN
    envs.step(np.array([RIGHT]))  # now facing left, steps back to (1, 1)
    assert envs.core.state(0)["agent"] == (1, 1) and envs.core.state(0)["heading"] == LEFT
    envs.step(np.array([LEFT]))  # left of facing left is down
    assert envs.core.state(0)["agent"] == (2, 1) and envs.core.state(0)["heading"] == DOWN
    envs.step(np.array([BACK]))  # turn around: up
    assert envs.core.state(0)["agent"] == (1, 1) and envs.core.state(0)["heading"] == UP


def padded_window(tiles, goal, centre, vision):
    """The absolute view, built plainly: unknown outside, the goal, the agent at the centre."""
    size = tiles.shape[0]
    grid = np.full((size + 2 * vision, size + 2 * vision), UNKNOWN, np.uint8)
    grid[vision:vision + size, vision:vision + size] = tiles
    grid[goal[0] + vision, goal[1] + vision] = GOAL
    row, column = centre
    window = grid[row:row + 2 * vision + 1, column:column + 2 * vision + 1].copy()
    window[vision, vision] = AGENT
    return window


@pytest.mark.parametrize("vision", [1, 3, 5, 8])
def test_the_view_is_the_window_around_the_agent_turned_with_it(vision):
    absolute = make_vec(64, max_size=15, vision=vision)
    relative = make_vec(64, max_size=15, vision=vision, moves="relative")
    rng = np.random.default_rng(vision)
    for _ in range(40):
        observations, *_ = absolute.step(rng.integers(0, 4, 64))
        for world in range(64):
            state = absolute.core.state(world)
            tiles = state["tiles"].copy()
            tiles[state["goal"]] = FLOOR
            np.testing.assert_array_equal(
                observations[world], padded_window(tiles, state["goal"], state["agent"], vision))
        observations, *_ = relative.step(rng.integers(0, 4, 64))
        for world in range(64):
            state = relative.core.state(world)
            tiles = state["tiles"].copy()
            tiles[state["goal"]] = FLOOR
            north_up = padded_window(tiles, state["goal"], state["agent"], vision)
            # Facing right, what lies ahead (the east) is the top row: a quarter turn left.
            np.testing.assert_array_equal(observations[world], np.rot90(north_up, state["heading"]))


def test_reaching_the_goal_pays_terminates_and_reports_optimality():
    envs = corridor_env(step_penalty=0.01, goal_reward=2.0)
    wasted = [UP]  # one bump into the wall
    path = [RIGHT] * 4 + [DOWN] * 4
    for action in wasted + path[:-1]:
        _, reward, terminated, truncated, _ = envs.step(np.array([action]))
        assert reward[0] == pytest.approx(-0.01) and not terminated[0] and not truncated[0]
    _, reward, terminated, truncated, infos = envs.step(np.array([path[-1]]))
    assert reward[0] == pytest.approx(2.0 - 0.01) and terminated[0] and not truncated[0]
    stats = infos["episode_stats"]
    assert stats["success"][0] == 1.0 and stats["size"][0] == 7 and stats["length"][0] == 9
    assert stats["optimality"][0] == pytest.approx(8 / 9)  # the shortest path is 8 steps


def test_the_step_limit_truncates_after_steps_per_tile_times_the_area():
    envs = corridor_env(steps_per_tile=0.5)  # 24 steps in a 7 x 7 maze
    assert envs.core.state(0)["step_limit"] == 24
    for step in range(1, 25):
        _, _, terminated, truncated, infos = envs.step(np.array([UP]))  # into the wall
        assert truncated[0] == (step == 24) and not terminated[0]
    stats = infos["episode_stats"]
    assert stats["success"][0] == 0.0 and stats["optimality"][0] == 0.0


def left_hand_action(view: np.ndarray) -> int:
    """Wall following on the relative view: left if open, else ahead, else right, else back."""
    centre = view.shape[0] // 2
    left = view[centre, centre - 1]
    ahead = view[centre - 1, centre]
    right = view[centre, centre + 1]
    for action, tile in ((LEFT, left), (FORWARD, ahead), (RIGHT, right)):
        if tile != WALL:
            return action
    return BACK


def test_wall_following_solves_every_maze_with_relative_moves():
    # A memoryless policy on the relative view: it must reach the goal in every maze, within
    # the default limit. This checks the turn, the step and the turned view together.
    envs = make_vec(64, min_size=5, max_size=31, moves="relative")
    observations, _ = envs.reset(seed=3)
    solved = 0
    for _ in range(2 * 31 * 31):
        actions = np.array([left_hand_action(view) for view in observations])
        observations, _, terminated, truncated, infos = envs.step(actions)
        assert not truncated.any()
        solved += int(terminated.sum())
    assert solved >= 64


def test_bad_parameters_are_clear_errors():
    cases = [
        (dict(min_size=6), "min_size must be odd"),
        (dict(max_size=65), r"max_size must be in \[5, 63\]"),
        (dict(min_size=9, max_size=7), "max_size must be >= min_size"),
        (dict(vision=0), r"vision must be in \[1, 31\]"),
        (dict(split="valid"), "split must be one of"),
        (dict(moves="diagonal"), "moves must be one of"),
        (dict(steps_per_tile=0.01), "steps_per_tile must allow at least one step"),
        (dict(steps_per_tile=float("nan")), "steps_per_tile must be finite"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            gymnasium.make("shoal/Maze-v0", **kwargs)


def test_the_test_setter_refuses_what_is_not_a_maze():
    envs = make_vec(1, max_size=9)
    with pytest.raises(ValueError, match="odd side"):
        set_maze(envs.core, 0, np.zeros((6, 6), np.uint8), (1, 1), (3, 3))
    with pytest.raises(ValueError, match="border must be wall"):
        set_maze(envs.core, 0, np.ones((7, 7), np.uint8), (1, 1), (5, 5))
    with pytest.raises(ValueError, match="agent must be a floor tile"):
        set_maze(envs.core, 0, CORRIDOR, (2, 2), (5, 5))


def test_a_state_with_the_agent_off_its_maze_is_refused():
    envs = make_vec(2, max_size=9)
    state = envs.get_state()
    mazes = state["game.mazes"]
    # Maze: int size at byte 0, agent_row at 4, agent_column at 8.
    original = mazes[1, 4]
    mazes[1, 4] = 40
    with pytest.raises(ValueError, match="position off the maze in world 1"):
        envs.set_state(state)
    mazes[1, 4] = original
    cell = state["game.tiles"][1, 6, 6]
    state["game.tiles"][1, 6, 6] = 7
    with pytest.raises(ValueError, match="tile code above 4"):
        envs.set_state(state)
    state["game.tiles"][1, 6, 6] = cell
    state["game.tiles"][1, 5, 6] = FLOOR  # the maze's top border (vision 5 tiles of padding)
    with pytest.raises(ValueError, match="gap in the border wall in world 1"):
        envs.set_state(state)
    state["game.tiles"][1, 5, 6] = WALL
    envs.set_state(state)  # the untouched state loads
