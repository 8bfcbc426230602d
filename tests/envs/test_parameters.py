"""Each game declares its parameters once (envs/parameters.py); its constructor, signature,
parameters(), core keywords and docs table are derived from that declaration."""

from __future__ import annotations

import inspect

import gymnasium
import pytest

import shoal
from shoal.parameters import choice, integer, parameters_table, real, reward

GAMES = {env_id: vector.game_class for env_id, _, vector in shoal.CATALOGUE}
DOCUMENTED = {env_id: (single or vector) for env_id, single, vector in shoal.CATALOGUE}


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_a_game_built_without_keywords_takes_every_declared_default(env_id):
    game_class = GAMES[env_id]
    game = game_class()
    assert game.parameters() == {p.name: p.default for p in game_class.PARAMETERS}
    assert list(game.parameters()) == [p.name for p in game_class.PARAMETERS]


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_the_signature_lists_the_declared_keywords_and_defaults(env_id):
    game_class = GAMES[env_id]
    signature = inspect.signature(game_class)
    assert [(name, p.default, p.kind) for name, p in signature.parameters.items()] == [
        (p.name, p.default, inspect.Parameter.KEYWORD_ONLY) for p in game_class.PARAMETERS]


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_the_docs_table_has_a_row_per_parameter_with_its_default(env_id):
    doc = DOCUMENTED[env_id].__doc__
    arguments = doc.split("## Arguments", 1)[1].split("## Version History", 1)[0]
    for parameter in GAMES[env_id].PARAMETERS:
        rows = [line for line in arguments.splitlines()
                if line.strip().startswith(f"| `{parameter.name}`")]
        assert len(rows) == 1, (env_id, parameter.name)
        default = rows[0].split("|")[2].strip()
        assert (default.strip('"') == str(parameter.default).strip('"')
                or float(default) == parameter.default)


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_each_choice_is_named_in_its_doc_line(env_id):
    game_class = GAMES[env_id]
    for parameter in game_class.PARAMETERS:
        choices = getattr(parameter.check, "keywords", {}).get("choices")
        if choices is None:
            continue
        for name in choices:
            assert f'"{name}"' in parameter.doc, (env_id, parameter.name, name)


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_an_undeclared_keyword_is_refused_with_the_parameters_named(env_id):
    game_class = GAMES[env_id]
    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['colour'\].*"
                       + game_class.PARAMETERS[0].name):
        game_class(colour="red")


def test_a_value_is_checked_by_its_declaration_and_reaches_the_core():
    with pytest.raises(ValueError, match=r"frameskip must be in \[1, 8\], got 9"):
        gymnasium.make("shoal/Breakout-v0", frameskip=9)
    with pytest.raises(TypeError, match="continuous must be a bool"):
        gymnasium.make("shoal/Breakout-v0", continuous=1)
    # The value the game kept is the one its core runs: a frameskip of 1 moves the paddle
    # 8 pixels in a step, one of 4 moves it 32.
    moved = {}
    for frameskip in (1, 4):
        env = gymnasium.make("shoal/Breakout-v0", frameskip=frameskip)
        first, _ = env.reset(seed=0)
        after, *_ = env.step(2)  # RIGHT
        moved[frameskip] = round(float(after[0] - first[0]) * 576)
        env.close()
    assert moved == {1: 8, 4: 32}


def test_converted_core_arguments_keep_their_meaning():
    maze = GAMES["shoal/Maze-v0"](moves="relative", split="test")
    arguments = maze.core_arguments()
    assert arguments["relative_moves"] is True and "moves" not in arguments
    assert isinstance(arguments["split"], int)
    mmo = GAMES["shoal/MMO-v0"](agents_per_world=64, width=64, height=64)
    assert mmo.agents_per_world() == 64 and "agents_per_world" not in mmo.core_arguments()
    assert mmo.parameters()["agents_per_world"] == 64
    arena = GAMES["shoal/SnakeArena-v0"](snakes_per_arena=8, width=32, height=32, num_food=16)
    assert arena.agents_per_world() == 8 and "snakes_per_arena" not in arena.core_arguments()
    assert GAMES["shoal/Snake-v0"]().core_arguments()["leave_corpse"] is False
    drone = GAMES["shoal/Drone-v0"](randomize={"mass": (0.02, 0.03)})
    low, high = drone.core_arguments()["parameter_low"], drone.core_arguments()["parameter_high"]
    assert (low[0], high[0]) == (0.02, 0.03) and low[1] == high[1] == drone.arm_length


def test_checks_that_tie_parameters_together_run_after_each_alone():
    with pytest.raises(ValueError, match="max_size must be >= min_size"):
        GAMES["shoal/Maze-v0"](min_size=9, max_size=7)
    with pytest.raises(ValueError, match="num_food must leave a cell free"):
        GAMES["shoal/Snake-v0"](width=2, height=2, num_food=4)
    with pytest.raises(ValueError, match="cannot lift itself"):
        GAMES["shoal/Drone-v0"](mass=1.0)


def test_the_table_writes_bounds_and_literals_as_the_docs_do():
    table = parameters_table((
        integer("frameskip", 4, 1, 8, "frames per step"),
        real("width", 64.0, 8.0, 288.0, "pixels"),
        reward("penalty", 0.0, "per ball", low=0.0),
        real("k", 2.88e-8, 1e-10, 1e-2, "N"),
        choice("task", "hover", ("hover", "race"), '"hover" or "race"'),
        integer("food", 1, 0, None, "kept", bounds="0 to width * height - 1"),
    ))
    lines = table.splitlines()
    assert [cell.strip() for cell in lines[0].split("|")[1:4]] == ["Argument", "Default", "Meaning"]
    cells = [[cell.strip() for cell in line.split("|")[1:4]] for line in lines[2:]]
    assert cells == [
        ["`frameskip`", "4", "frames per step; 1 to 8"],
        ["`width`", "64.0", "pixels; 8 to 288"],
        ["`penalty`", "0.0", "per ball; 0 to 1e6"],
        ["`k`", "2.88e-8", "N; 1e-10 to 0.01"],
        ["`task`", '"hover"', '"hover" or "race"'],
        ["`food`", "1", "kept; 0 to width * height - 1"],
    ]
    assert len({len(line) for line in lines}) == 1  # the columns line up


def test_a_variant_keeps_the_check_with_its_own_default():
    arena = GAMES["shoal/SnakeArena-v0"]
    width = next(p for p in arena.PARAMETERS if p.name == "width")
    assert width.default == 640 and width.doc == "arena columns inside the walls"
    with pytest.raises(ValueError, match="width must be in"):
        arena(width=5000)
    assert shoal.SnakeArenaVectorEnv(num_envs=256).game.parameters()["width"] == 640


def test_a_seventh_game_gets_its_constructor_checks_core_keywords_and_table_from_one_declaration():
    """docs/new_env.md's example game, with a stand-in core that records what it was given."""
    from shoal.game import Game
    from shoal.parameters import flag

    class RecordingCore:
        def __init__(self, num_worlds, agents_per_world, **keywords):
            self.built_with = (num_worlds, agents_per_world, keywords)

    class MyGame(Game):
        PARAMETERS = (
            integer("size", 16, 4, 256, "board side in cells"),
            choice("mode", "easy", ("easy", "hard"), '"easy" or "hard": how fast it gets'),
            flag("walls", True, "the board has walls"),
        )
        core_class = RecordingCore

        def check_together(self):
            if self.size < 8 and self.mode == "hard":
                raise ValueError(f"size must be at least 8 for mode 'hard', got {self.size}")

        def core_arguments(self):
            return {**self.parameters(), "mode": ("easy", "hard").index(self.mode)}

        def observation_space(self):
            return gymnasium.spaces.Box(0, 1, (self.size,))

        def action_space(self):
            return gymnasium.spaces.Discrete(2)

    game = MyGame(mode="hard")
    assert (game.size, game.mode, game.walls) == (16, "hard", True)
    assert game.make_core(3).built_with == (3, 1, {"size": 16, "mode": 1, "walls": True})
    with pytest.raises(ValueError, match=r"size must be in \[4, 256\], got 300"):
        MyGame(size=300)
    with pytest.raises(ValueError, match="at least 8 for mode 'hard'"):
        MyGame(size=4, mode="hard")
    with pytest.raises(ValueError, match="mode must be one of"):
        MyGame(mode="medium")
    assert str(inspect.signature(MyGame)) == "(*, size=16, mode='easy', walls=True)"
    first_row = parameters_table(MyGame.PARAMETERS).splitlines()[2]
    assert [cell.strip() for cell in first_row.split("|")[1:4]] == [
        "`size`", "16", "board side in cells; 4 to 256"]
