"""Test setters: put a native core's world into a chosen position, for the rules tests.

They live here, not in the cores: a core only plays its game. Each setter writes the fields
of `core.records()`, the core's tables viewed in place as numpy structured arrays with the C
structs' fields, and first checks that the position is one the rules could reach (a ball
inside the field and outside the bricks, a paddle inside the walls), so a test cannot put the
game into a state it would never be in. Arithmetic on the structs' float fields is float32,
as in the core.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from shoal._ext import breakout as breakout_rules


def checked_world(core, world) -> int:
    """`world` as an index of `core`, or the error the cores give for a bad world."""
    if isinstance(world, bool) or not isinstance(world, numbers.Integral):
        raise TypeError(f"world must be an int, got {world!r} ({type(world).__name__})")
    if not 0 <= world < core.num_worlds:
        raise IndexError(f"world must be in [0, {core.num_worlds - 1}], got {world}")
    return int(world)


# ---- Breakout (cython_ext/breakout.pyx's BreakoutWorld) ----

BRICK_WIDTH, BRICK_HEIGHT = (np.float32(size) for size in breakout_rules.BRICK_SIZE)
BRICK_ROWS, BRICK_COLUMNS = breakout_rules.BRICK_GRID
WALL_TOP_CELL_ROW = round(breakout_rules.BRICK_WALL_TOP / breakout_rules.BRICK_SIZE[1])
FIELD_WIDTH, FIELD_HEIGHT = breakout_rules.FIELD_WIDTH, breakout_rules.FIELD_HEIGHT
BALL_SPEEDS = tuple(np.float32(speed) for speed in breakout_rules.BALL_SPEEDS)
TOP_SPEED_LEVEL = breakout_rules.TOP_SPEED_LEVEL
BALLS = breakout_rules.BALLS_PER_EPISODE


def breakout_table(core, world) -> tuple[np.ndarray, int]:
    return core.records()["worlds"], checked_world(core, world)


def inside_standing_brick(bricks: np.ndarray, x: np.float32, y: np.float32) -> bool:
    """Strictly inside a standing brick: a ball on a brick's face is outside it."""
    column = math.floor(x / BRICK_WIDTH)
    cell_row = math.floor(y / BRICK_HEIGHT)
    brick_row = cell_row - WALL_TOP_CELL_ROW
    if not (0 <= column < BRICK_COLUMNS and 0 <= brick_row < BRICK_ROWS):
        return False  # the side walls and the top wall are not bricks
    if bricks[brick_row * BRICK_COLUMNS + column] == 0.0:
        return False
    return x != column * BRICK_WIDTH and y != cell_row * BRICK_HEIGHT


def set_ball(core, world, x: float, y: float, vx: float, vy: float) -> None:
    """Place the ball at (x, y) moving (vx, vy) pixels per frame.

    The ball must be inside the field, not inside a standing brick, moving vertically, and
    each velocity component within the current level's speed (see set_speed_level).
    """
    worlds, world = breakout_table(core, world)
    x, y, vx, vy = (np.float32(value) for value in (x, y, vx, vy))
    level = int(worlds["speed_level"][world])
    speed = BALL_SPEEDS[level]
    if not (0.0 <= x <= FIELD_WIDTH and 0.0 <= y < FIELD_HEIGHT):
        raise ValueError(f"the ball must be inside [0, {FIELD_WIDTH}] x [0, {FIELD_HEIGHT}), "
                         f"got ({x}, {y})")
    if not (abs(vx) <= speed and abs(vy) <= speed and vy != 0.0):
        raise ValueError(f"each velocity component must lie in [-{speed}, {speed}] (speed level "
                         f"{level}) and vy must not be 0, got ({vx}, {vy})")
    if inside_standing_brick(worlds["bricks"][world], x, y):
        raise ValueError(f"({x}, {y}) is inside a standing brick")
    for field, value in (("ball_x", x), ("ball_y", y), ("ball_vx", vx), ("ball_vy", vy)):
        worlds[field][world] = value


def set_paddle(core, world, x: float, halved: bool | None = None) -> None:
    """Centre the paddle at x, inside the field; halved=True or False also sets its width."""
    worlds, world = breakout_table(core, world)
    if halved is not None and not isinstance(halved, bool):
        raise TypeError(f"halved must be None or a bool, got {halved!r}")
    now_halved = bool(worlds["paddle_halved"][world]) if halved is None else halved
    half_width = np.float32(0.25 if now_halved else 0.5) * np.float32(core.paddle_width)
    x = np.float32(x)
    if not half_width <= x <= FIELD_WIDTH - half_width:
        raise ValueError(f"the paddle's centre must lie in [{half_width}, "
                         f"{FIELD_WIDTH - half_width}], got {x}")
    worlds["paddle_x"][world] = x
    worlds["paddle_halved"][world] = now_halved
    worlds["paddle_half_width"][world] = half_width


def set_bricks(core, world, flags, walls_cleared: int | None = None) -> None:
    """Which bricks stand (6 x 18 or 108 flags, 0 or 1), and optionally how many walls were
    cleared before (0, or 1 for the second wall)."""
    worlds, world = breakout_table(core, world)
    array = np.asarray(flags)
    if array.size != BRICK_ROWS * BRICK_COLUMNS or array.ndim not in (1, 2) or (
            array.ndim == 2 and array.shape != (BRICK_ROWS, BRICK_COLUMNS)):
        raise ValueError(f"flags must have shape (6, 18) or (108,), got {array.shape}")
    array = array.reshape(-1)
    if not np.isin(array, (0, 1)).all():
        raise ValueError("flags must be 0 or 1")
    if walls_cleared is not None and walls_cleared not in (0, 1):
        raise ValueError(f"walls_cleared must be 0 or 1, got {walls_cleared!r}")
    x, y = worlds["ball_x"][world], worlds["ball_y"][world]
    if inside_standing_brick(array.astype(np.float32), x, y):
        raise ValueError(f"the ball at ({x}, {y}) would be inside a brick")
    worlds["bricks"][world] = array
    worlds["bricks_left"][world] = int(array.sum())
    worlds["refill_pending"][world] = False
    if walls_cleared is not None:
        worlds["walls_cleared"][world] = walls_cleared


def set_speed_level(core, world, level: int) -> None:
    """The ball's speed level (0 to 6); the ball keeps its direction, rescaled one level at a
    time as the game's speed-up does (divide by the old speed first, then multiply)."""
    worlds, world = breakout_table(core, world)
    if not 0 <= level <= TOP_SPEED_LEVEL:
        raise ValueError(f"level must be in [0, {TOP_SPEED_LEVEL}], got {level}")
    current = int(worlds["speed_level"][world])
    step = 1 if level > current else -1
    for old in range(current, level, step):
        for field in ("ball_vx", "ball_vy"):
            worlds[field][world] = worlds[field][world] / BALL_SPEEDS[old] * BALL_SPEEDS[old + step]
    worlds["speed_level"][world] = level


def set_balls_left(core, world, balls: int) -> None:
    """Balls left, including the one in play (1 to 5)."""
    worlds, world = breakout_table(core, world)
    if not 1 <= balls <= BALLS:
        raise ValueError(f"balls must be in [1, {BALLS}], got {balls}")
    worlds["balls_left"][world] = balls
