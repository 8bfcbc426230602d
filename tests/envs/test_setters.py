"""The test setters (tests/envs/setters.py) refuse a position the rules could never reach, with
the errors the cores give for bad input, and write nothing when they do. The rules tests use
the setters; these are the refusals they do not already check."""

from __future__ import annotations

import numpy as np
import pytest

from tests.envs import setters

from .conftest import make_small_vec

EMPTY_BOARD = np.zeros((4, 4), np.int64)
CORRIDOR = np.zeros((7, 7), np.uint8)
CORRIDOR[1:6, 1] = CORRIDOR[5, 1:6] = 1  # floor down the left side, then along the bottom

REFUSALS = [
    # (env id, setter, its arguments after the core, error, what the message says)
    ("shoal/Snake-v0", setters.clear_world, (2,), {}, IndexError, "world must be in"),
    ("shoal/Snake-v0", setters.clear_world, (True,), {}, TypeError, "world must be an int"),
    ("shoal/Snake-v0", setters.place_snake, (0, 0, []), {}, ValueError, "at least the head"),
    ("shoal/Snake-v0", setters.place_food, (0.0, 1, 1), {}, TypeError, "world"),
    ("shoal/2048-v0", setters.set_board, (0, np.zeros((4, 3), np.int64)), {}, ValueError,
     "4 x 4 integers"),
    ("shoal/2048-v0", setters.set_board, (0, EMPTY_BOARD.astype(float)), {}, ValueError,
     "4 x 4 integers"),
    ("shoal/2048-v0", setters.set_board, (0, EMPTY_BOARD + 18), {}, ValueError,
     r"exponents must be in \[0, 17\]"),
    ("shoal/2048-v0", setters.set_board, (0, EMPTY_BOARD, 2**63), {}, OverflowError, "convert"),
    ("shoal/Maze-v0", setters.set_maze, (0, CORRIDOR, (1, 1), (5, 5), 4), {}, ValueError,
     "heading"),
    ("shoal/Maze-v0", setters.set_maze, (0, CORRIDOR, (1, 1), (3, 3)), {}, ValueError,
     "goal must be a floor tile"),
    ("shoal/MMO-v0", setters.set_terrain, (0, 32, 0, 1), {}, ValueError,
     r"the tile must be inside the 32 x 32 map, got \(32, 0\)"),
    ("shoal/MMO-v0", setters.set_terrain, (0, 5, 5, 0), {}, ValueError, "terrain must be in"),
    ("shoal/MMO-v0", setters.set_agent, (0, 8), {"health": 1}, IndexError, "agent must be in"),
    ("shoal/MMO-v0", setters.set_agent, (0, 0), {"row": -1, "column": 0}, ValueError,
     "the agent's tile must be inside"),
    ("shoal/MMO-v0", setters.set_agent, (0, 0), {"health": 1, "inventory": [(1, 1)] * 9},
     ValueError, "at most 8 items"),
    ("shoal/MMO-v0", setters.set_agent, (0, 0), {"inventory": [(1, 1), (5, 1)]}, ValueError,
     "bad item"),
    ("shoal/MMO-v0", setters.set_npc, (0, 6, 5, 5), {}, IndexError, "npc must be in"),
    ("shoal/MMO-v0", setters.set_npc, (0, 0, 5, 40), {}, ValueError,
     "the NPC's tile must be inside"),
    ("shoal/Drone-v0", setters.set_target, (0, (0.0, 0.0, 4.5)), {}, ValueError,
     "target must lie inside the arena"),
    ("shoal/Drone-v0", setters.set_target, (0, (0.0, np.nan, 2.0)), {}, ValueError,
     "target must be 3 finite numbers"),
]


def assert_unchanged(core, before: dict) -> None:
    after = core.get_state()
    for name, array in before.items():
        assert np.array_equal(after[name], array), name


@pytest.mark.parametrize(("env_id", "setter", "args", "kwargs", "error", "message"), REFUSALS)
def test_a_setter_refuses_bad_input_and_writes_nothing(env_id, setter, args, kwargs, error,
                                                       message):
    envs = make_small_vec(env_id, worlds=2)
    envs.reset(seed=0)
    core = envs.core
    before = core.get_state()
    with pytest.raises(error, match=message):
        setter(core, *args, **kwargs)
    assert_unchanged(core, before)


def test_mmo_setters_refuse_a_tile_someone_stands_on():
    envs = make_small_vec("shoal/MMO-v0", worlds=1)
    envs.reset(seed=0)
    core = envs.core
    taken = core.state(0)["agents"][0]
    before = core.get_state()
    with pytest.raises(ValueError, match="not a free walkable tile"):
        setters.set_agent(core, 0, 1, row=taken["row"], column=taken["column"], health=5)
    with pytest.raises(ValueError, match="not a free walkable tile"):
        setters.set_npc(core, 0, 0, taken["row"], taken["column"], tier=1)
    assert_unchanged(core, before)
    # Its own tile is free for the agent standing there.
    setters.set_agent(core, 0, 0, row=taken["row"], column=taken["column"], health=5)
    assert core.state(0)["agents"][0]["health"] == 5


def test_drone_setters_refuse_the_other_tasks_goal():
    hover_envs = make_small_vec("shoal/Drone-v0", worlds=1, task="hover")
    race_envs = make_small_vec("shoal/Drone-v0", worlds=1, task="race", num_gates=3)
    hover, race = hover_envs.core, race_envs.core
    with pytest.raises(ValueError, match="for task 'hover'"):
        setters.set_target(race, 0, (0.0, 0.0, 2.0))
    with pytest.raises(ValueError, match="for task 'race'"):
        setters.set_gates(hover, 0, [(0, 0, 1)] * 3, [(1, 0)] * 3)
    with pytest.raises(ValueError, match="next_gate"):
        setters.set_gates(race, 0, [(0, 0, 2), (2, 2, 2), (-2, 2, 2)], [(1, 0)] * 3, next_gate=3)
