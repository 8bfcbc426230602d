"""Test setters: put a native core's world into a chosen position, for the rules tests.

They live here, not in the cores: a core only plays its game. Each setter writes the fields
of `core.records()`, the core's tables viewed in place as numpy structured arrays with the C
structs' fields, and first checks that the position is one the rules could reach (a ball
inside the field and outside the bricks, a snake whose cells are neighbours, an NPC on a free
walkable tile), so a test cannot put the game into a state it would never be in; a refused
call writes nothing. What the core derives from a position (Snake's food count, 2048's legal
moves, Maze's layout hash and shortest path, MMO's occupancy maps) is derived here the way
the core does it, byte for byte. Arithmetic on the structs' float fields is float32, as in
the core.
"""

from __future__ import annotations

import math
import numbers
import operator

import numpy as np

from shoal._ext import breakout as breakout_rules
from shoal._ext import drone as drone_rules
from shoal._ext import game2048 as game2048_rules
from shoal._ext import maze as maze_rules
from shoal._ext import mmo as mmo_rules
from shoal._ext import snake as snake_rules


def checked_index(name: str, value, count: int) -> int:
    """`value` as an index below `count`, or the errors the cores give for a bad index."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})")
    if not 0 <= value < count:
        raise IndexError(f"{name} must be in [0, {count - 1}], got {value}")
    return int(value)


def checked_world(core, world) -> int:
    """`world` as an index of `core`, or the error the cores give for a bad world."""
    return checked_index("world", world, core.num_worlds)


def world_record(core, table: str, world) -> np.void:
    """One world's struct in the core's table `table`: a view, so writing its fields writes
    the game."""
    return core.records()[table][checked_world(core, world)]


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


# ---- Snake (cython_ext/snake.pyx's Snake, and each world's grids padded by `vision` walls) ----

SNAKE_EMPTY, SNAKE_FOOD = snake_rules.TILE_EMPTY, snake_rules.TILE_FOOD
UP, RIGHT, DOWN, LEFT = (snake_rules.DIRECTIONS[name] for name in ("up", "right", "down", "left"))
SNAKE_MOVES = {(0, -1): UP, (1, 0): RIGHT, (0, 1): DOWN, (-1, 0): LEFT}  # by (dx, dy)
DEAD, ALIVE = snake_rules.SNAKE_STATUSES["dead"], snake_rules.SNAKE_STATUSES["alive"]


class SnakeField:
    """One world of a SnakeCore as its records: its snakes, and its padded grids flattened,
    indexed by cell as the core's heads and tails are."""

    def __init__(self, core, world) -> None:
        records = core.records()
        self.core = core
        self.world = checked_world(core, world)
        first = self.world * core.agents_per_world
        self.snakes = records["snakes"][first:first + core.agents_per_world]
        self.tiles = records["tiles"][self.world].reshape(-1)
        self.toward_head = records["toward_head"][self.world].reshape(-1)
        self.food_count = records["food_count"]
        self.stride = records["tiles"].shape[2]
        self.step = {UP: -self.stride, RIGHT: 1, DOWN: self.stride, LEFT: -1}

    def cell_at(self, x: int, y: int) -> int:
        return (y + self.core.vision) * self.stride + x + self.core.vision

    def checked_cell(self, x: int, y: int) -> int:
        if not (0 <= x < self.core.width and 0 <= y < self.core.height):
            raise IndexError(
                f"cell ({x}, {y}) is outside the {self.core.width} x {self.core.height} field"
            )
        return self.cell_at(x, y)

    def remove_body(self, snake: np.void) -> None:
        """Empty a living snake's cells, tail to head, as the core does for a snake that
        leaves no corpse; the snake is dead afterwards."""
        if snake["status"] != ALIVE:
            return
        cell = int(snake["tail"])
        for _ in range(snake["length"] - 1):
            self.tiles[cell] = SNAKE_EMPTY
            cell += self.step[int(self.toward_head[cell])]
        self.tiles[cell] = SNAKE_EMPTY  # the head
        snake["status"] = DEAD


def clear_world(core, world) -> None:
    """Empty the field: no food, every snake of the world removed (inert until placed)."""
    field = SnakeField(core, world)
    for y in range(core.height):
        start = field.cell_at(0, y)
        field.tiles[start:start + core.width] = SNAKE_EMPTY  # the walls around stay
    field.food_count[field.world] = 0
    for snake in field.snakes:
        # Parked as the core parks a snake it could not place: its window stays inside the grid.
        snake["head"] = snake["tail"] = field.cell_at(core.width // 2, core.height // 2)
        snake["length"] = 0
        snake["status"] = DEAD
        snake["food_eaten"] = 0


def place_snake(core, world, agent, cells, direction: int | None = None) -> None:
    """Place snake `agent` alive on `cells`, (x, y) pairs from tail to head, each next to the
    one before; its old body is removed first. `direction` (of its last move) defaults to
    the step from the neck to the head, or up for a single cell."""
    field = SnakeField(core, world)
    snake = field.snakes[checked_index("agent", agent, core.agents_per_world)]
    cells = [(int(x), int(y)) for x, y in cells]
    if not cells:
        raise ValueError("cells must hold at least the head")
    if len(set(cells)) != len(cells):
        raise ValueError(f"cells must not repeat, got {cells}")
    moves = []
    for (x0, y0), (x1, y1) in zip(cells, cells[1:]):
        if (x1 - x0, y1 - y0) not in SNAKE_MOVES:
            raise ValueError(f"cells ({x0}, {y0}) and ({x1}, {y1}) are not neighbours")
        moves.append(SNAKE_MOVES[(x1 - x0, y1 - y0)])
    for x, y in cells:
        tile = field.tiles[field.checked_cell(x, y)]
        if tile != SNAKE_EMPTY and tile != snake["tile"]:  # its own old body may overlap
            raise ValueError(f"cell ({x}, {y}) is not empty (tile {tile})")
    if direction is None:
        direction = moves[-1] if moves else UP
    if direction not in (UP, RIGHT, DOWN, LEFT):
        raise ValueError(f"direction must be 0, 1, 2 or 3, got {direction!r}")
    field.remove_body(snake)
    # Each cell points toward the next one; the head holds the last move.
    for (x, y), move in zip(cells, moves + [direction]):
        field.tiles[field.cell_at(x, y)] = snake["tile"]
        field.toward_head[field.cell_at(x, y)] = move
    snake["tail"] = field.cell_at(*cells[0])
    snake["head"] = field.cell_at(*cells[-1])
    snake["length"] = len(cells)
    snake["direction"] = direction
    snake["status"] = ALIVE


def place_food(core, world, x: int, y: int) -> None:
    """Put food on the empty cell (x, y)."""
    field = SnakeField(core, world)
    cell = field.checked_cell(x, y)
    if field.tiles[cell] != SNAKE_EMPTY:
        raise ValueError(f"cell ({x}, {y}) is not empty (tile {field.tiles[cell]})")
    field.tiles[cell] = SNAKE_FOOD
    field.food_count[field.world] += 1


# ---- 2048 (cython_ext/game2048.pyx's Board) ----

BOARD_SIDE = game2048_rules.BOARD_SIDE
MAX_TILE_EXPONENT = game2048_rules.MAX_TILE_EXPONENT


def legal_moves(cells: np.ndarray) -> int:
    """The core's Board.legal_moves: bit a set when moving toward action a (0 up, 1 right,
    2 down, 3 left) changes the board, each line moved by the rule itself."""
    # Each action's lines as rows, read from the side the tiles move toward.
    lines_by_action = (cells.T, cells[:, ::-1], cells[::-1].T, cells)
    legal = 0
    for action, lines in enumerate(lines_by_action):
        if any(game2048_rules.move_line_by_rule(line)[0] != line.tolist() for line in lines):
            legal |= 1 << action
    return legal


def set_board(core, world, cells, score: int = 0) -> None:
    """The board's exponents (4 x 4 ints in [0, 17]) and score."""
    board = world_record(core, "boards", world)
    array = np.asarray(cells)
    if array.shape != (BOARD_SIDE, BOARD_SIDE) or array.dtype.kind not in "iu":
        raise ValueError(f"cells must be 4 x 4 integers, got {array.dtype} {array.shape}")
    if array.min() < 0 or array.max() > MAX_TILE_EXPONENT:
        raise ValueError(f"exponents must be in [0, {MAX_TILE_EXPONENT}]")
    board["score"] = int(score)  # first: a score too large for the board refuses the call
    board["cells"] = array.reshape(-1)
    board["max_exponent"] = int(array.max())
    board["legal_moves"] = legal_moves(array)


# ---- Maze (cython_ext/maze.pyx's Maze, and each world's square of tiles padded by `vision`) ----

WALL, FLOOR, GOAL, UNKNOWN = (
    maze_rules.TILE_CODES[name] for name in ("wall", "floor", "goal", "unknown"))
MAZE_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))  # (row, column) of a move up, right, down, left
FNV_OFFSET_BASIS, FNV_PRIME, UINT64_MASK = 14695981039346656037, 1099511628211, (1 << 64) - 1


def fnv1a(size: int, layout: np.ndarray) -> int:
    """FNV-1a (64-bit) over the size, then every tile row by row: the core's layout hash."""
    hashed = ((FNV_OFFSET_BASIS ^ size) * FNV_PRIME) & UINT64_MASK
    for tile in layout.reshape(-1).tolist():
        hashed = ((hashed ^ tile) * FNV_PRIME) & UINT64_MASK
    return hashed


def shortest_path_length(tiles, start, goal) -> int:
    """Breadth-first search over the non-wall tiles: steps from start to goal, or -1 if the
    goal cannot be reached. The game gets the length from carving; tests check it with this."""
    layout = np.asarray(tiles)
    size = layout.shape[0]
    distance = {tuple(start): 0}
    frontier = [tuple(start)]
    while frontier:
        following = []
        for row, column in frontier:
            if (row, column) == tuple(goal):
                return distance[(row, column)]
            for row_step, column_step in MAZE_STEPS:
                near = (row + row_step, column + column_step)
                if (0 <= near[0] < size and 0 <= near[1] < size and near not in distance
                        and layout[near] != WALL):
                    distance[near] = distance[(row, column)] + 1
                    following.append(near)
        frontier = following
    return -1


def set_maze(core, world, tiles, agent, goal, heading: int = 0,
             shortest: int | None = None) -> None:
    """A maze (uint8 [size, size] codes, wall and floor, odd size within [5, max_size],
    walled border), the agent's and goal's (row, column) on floor, the heading; the step
    count restarts. shortest defaults to a breadth-first search."""
    heading = operator.index(heading)  # the core took a C int
    records = core.records()
    world = checked_world(core, world)
    layout = np.asarray(tiles)
    size = layout.shape[0] if layout.ndim == 2 else 0
    if layout.ndim != 2 or layout.shape[1] != size or not (
            maze_rules.MIN_SIZE <= size <= core.max_size and size % 2 == 1):
        raise ValueError(f"tiles must be square with an odd side in [5, {core.max_size}]")
    if not np.isin(layout, (WALL, FLOOR)).all():
        raise ValueError("tiles must hold only wall (0) and floor (1)")
    if (layout[0] != WALL).any() or (layout[size - 1] != WALL).any() or (
            layout[:, 0] != WALL).any() or (layout[:, size - 1] != WALL).any():
        raise ValueError("the maze's border must be wall")
    for name, (row, column) in (("agent", agent), ("goal", goal)):
        if not (0 <= row < size and 0 <= column < size) or layout[row, column] != FLOOR:
            raise ValueError(f"{name} must be a floor tile of the maze, got {(row, column)}")
    if not 0 <= heading < 4:
        raise ValueError(f"heading must be in [0, 3], got {heading}")
    if shortest is None:
        shortest = shortest_path_length(layout, agent, goal)
    shortest = operator.index(shortest)
    # The layout's split: of it and its mirror image, the one with the smaller hash is train.
    layout = layout.astype(np.uint8)
    layout_hash = fnv1a(size, layout)
    split = 0 if layout_hash < fnv1a(size, layout.T) else 1

    padded, start = records["tiles"][world], core.vision
    padded[:] = UNKNOWN
    padded[start:start + size, start:start + size] = layout
    padded[start + goal[0], start + goal[1]] = GOAL
    maze = records["mazes"][world]
    maze["size"] = size
    maze["agent_row"], maze["agent_column"] = agent
    maze["goal_row"], maze["goal_column"] = goal
    maze["heading"] = heading
    maze["shortest"] = shortest
    maze["steps"] = 0
    maze["step_limit"] = max(1, int(core.steps_per_tile * size * size))
    maze["success"] = False
    maze["layout_hash"] = layout_hash
    maze["split"] = split


# ---- MMO (cython_ext/mmo.pyx's Agent and Npc, and each world's padded planes and maps) ----

GRASS, MOUNTAIN = mmo_rules.TERRAIN_NAMES.index("grass"), mmo_rules.TERRAIN_NAMES.index("mountain")
WALKABLE = tuple(mmo_rules.TERRAIN_NAMES.index(name) for name in ("grass", "forest", "stone"))
NO_NODE, ORE = mmo_rules.NODE_NAMES.index("none"), mmo_rules.NODE_NAMES.index("ore")
TERRAIN, RESOURCES, AGENT_BANDS, NPC_TIERS = (
    mmo_rules.CHANNEL_NAMES.index(name) for name in ("terrain", "resources", "agents", "npcs"))
SKILLS, MAX_SKILL_LEVEL = len(mmo_rules.SKILL_NAMES), mmo_rules.MAX_SKILL_LEVEL
ITEM_KINDS, INVENTORY_SLOTS = len(mmo_rules.ITEM_NAMES) - 1, mmo_rules.INVENTORY_SIZE
TIERS, MAP_PADDING = mmo_rules.NUM_TIERS, mmo_rules.MAP_PADDING


def skill_level(xp: int) -> int:
    """The core's level_for: 1 + floor(sqrt(xp / 4)), at most MAX_SKILL_LEVEL."""
    level = 1
    while level < MAX_SKILL_LEVEL and 4 * level * level <= xp:
        level += 1
    return level


def level_band(levels: np.ndarray) -> int:
    """The core's agent_band: the level band others see, total level 5-50 in four bands."""
    total = int(levels.sum())
    # int(a / b) truncates toward zero as C's division does (an agent never reset has level 0).
    return 1 + int((total - SKILLS) * 4 / (SKILLS * MAX_SKILL_LEVEL - SKILLS + 1))


class MMOWorld:
    """One world of an MMOCore as its records: its agents and NPCs, and its planes and maps,
    indexed by tile as the core's agents and NPCs are: (row + PAD) * stride + column + PAD."""

    def __init__(self, core, world) -> None:
        records = core.records()
        self.core = core
        index = checked_world(core, world)
        agents, npcs = core.agents_per_world, core.npcs_per_world
        self.agents = records["agents"][index * agents:(index + 1) * agents]
        self.npcs = records["npcs"][index * npcs:(index + 1) * npcs]
        self.planes = records["planes"].reshape(core.num_worlds, -1, core.plane_size)[index]
        self.nodes, self.agent_at, self.npc_at = (
            records[name].reshape(core.num_worlds, core.plane_size)[index]
            for name in ("nodes", "agent_at", "npc_at"))

    def checked_tile(self, row, column, name: str) -> int:
        if not (0 <= row < self.core.height and 0 <= column < self.core.width):
            raise ValueError(f"{name} must be inside the {self.core.width} x {self.core.height} "
                             f"map, got ({row}, {column})")
        return (row + MAP_PADDING) * self.core.stride + column + MAP_PADDING

    def free_for(self, tile: int, mover_tile: int) -> bool:
        """The core's walkable_free once the mover has left `mover_tile` (-1: off the map)."""
        if self.planes[TERRAIN, tile] not in WALKABLE:
            return False
        return tile == mover_tile or (self.agent_at[tile] < 0 and self.npc_at[tile] < 0)

    def tier_at(self, tile: int) -> int:
        """The core's tier_at: five bands of distance from the map's centre."""
        stride, width, height = self.core.stride, self.core.width, self.core.height
        distance = max(abs(tile // stride - MAP_PADDING - height // 2),
                       abs(tile % stride - MAP_PADDING - width // 2))
        return min(max(1 + distance * TIERS // (max(width, height) // 2 + 1), 1), TIERS)


def set_terrain(core, world, row, column, terrain: int, node: int = NO_NODE) -> None:
    """One tile's terrain (TERRAIN_NAMES index) and resource node (available)."""
    place = MMOWorld(core, world)
    tile = place.checked_tile(row, column, "the tile")
    if not GRASS <= terrain <= MOUNTAIN or not NO_NODE <= node <= ORE:
        raise ValueError("terrain must be in [1, 5] and node in [0, 3]")
    place.planes[TERRAIN, tile] = terrain
    place.nodes[tile] = node
    place.planes[RESOURCES, tile] = node


def set_agent(core, world, agent, *, row=None, column=None, health: int | None = None,
              food: int | None = None, water: int | None = None, xp=None, inventory=None,
              rations: int | None = None, ore: int | None = None) -> None:
    """Move an agent (to a free walkable tile) and set its numbers; xp is a list per skill
    (levels follow), inventory a list of (kind, level) pairs."""
    place = MMOWorld(core, world)
    agent = checked_index("agent", agent, core.agents_per_world)
    a = place.agents[agent]
    if row is not None:
        tile = place.checked_tile(row, column, "the agent's tile")
        if not place.free_for(tile, a["tile"]):
            raise ValueError(f"({row}, {column}) is not a free walkable tile")
    numbers = {name: operator.index(value) for name, value in (
        ("health", health), ("food", food), ("water", water), ("rations", rations), ("ore", ore))
        if value is not None}
    if xp is not None:
        xp = [operator.index(xp[skill]) for skill in range(SKILLS)]
    if inventory is not None:
        if len(inventory) > INVENTORY_SLOTS:
            raise ValueError(f"inventory holds at most {INVENTORY_SLOTS} items")
        for kind, level in inventory:
            if not (0 <= kind <= ITEM_KINDS and 0 <= level <= MAX_SKILL_LEVEL):
                raise ValueError(f"bad item {(kind, level)}")

    if row is not None:  # off its old tile, onto the new one, showing its level band there
        if a["tile"] >= 0:
            place.agent_at[a["tile"]] = -1
            place.planes[AGENT_BANDS, a["tile"]] = 0
        a["tile"] = tile
        place.agent_at[tile] = agent
        place.planes[AGENT_BANDS, tile] = level_band(a["level"])
    for name, value in numbers.items():
        a[name] = value
    if xp is not None:
        a["xp"] = xp
        a["level"] = [skill_level(points) for points in xp]
        if a["tile"] >= 0:
            place.planes[AGENT_BANDS, a["tile"]] = level_band(a["level"])
    if inventory is not None:  # the slots after the items listed are emptied (kind 0)
        empty = [(0, 0)] * (INVENTORY_SLOTS - len(inventory))
        a["inventory_kind"], a["inventory_level"] = zip(*inventory, *empty)


def set_npc(core, world, npc, row, column, tier: int | None = None,
            health: int | None = None) -> None:
    """Place an NPC on a free walkable tile, with a tier and health."""
    place = MMOWorld(core, world)
    npc = checked_index("npc", npc, core.npcs_per_world)
    n = place.npcs[npc]
    tile = place.checked_tile(row, column, "the NPC's tile")
    if not place.free_for(tile, n["tile"]):
        raise ValueError(f"({row}, {column}) is not a free walkable tile")
    tier = place.tier_at(tile) if tier is None else operator.index(tier)
    health = 15 * tier if health is None else operator.index(health)
    if n["tile"] >= 0:
        place.npc_at[n["tile"]] = -1
        place.planes[NPC_TIERS, n["tile"]] = 0
    n["tile"] = tile
    n["tier"] = tier
    n["health"] = health
    place.npc_at[tile] = npc
    place.planes[NPC_TIERS, tile] = tier


# ---- Drone (cython_ext/drone.pyx's DroneWorld) ----

HOVER, RACE = drone_rules.TASKS["hover"], drone_rules.TASKS["race"]
MAX_MOTOR_SPEED = drone_rules.PARAMETER_NAMES.index("max_motor_speed")


def finite_vector(name: str, value, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.shape != (size,) or not np.isfinite(array).all():
        raise ValueError(f"{name} must be {size} finite numbers, got {value!r}")
    return array


def inside_arena(point: np.ndarray) -> bool:
    half_width = drone_rules.ARENA_HALF_WIDTH
    return abs(point[0]) <= half_width and abs(point[1]) <= half_width and (
        0 < point[2] <= drone_rules.ARENA_HEIGHT)


def goal_distance(core, flight: np.void) -> np.float32:
    """The core's distance3 from the drone to its goal (the target, or the next gate's
    centre), summed in float32 in the core's order."""
    if core.task == HOVER:
        goal = flight["target"]
    else:
        goal = flight["gates"][flight["next_gate"]]["centre"]
    dx, dy, dz = flight["body"]["position"] - goal
    return np.sqrt(dx * dx + dy * dy + dz * dz)


def set_body(core, world, *, position=None, velocity=None, quaternion=None,
             angular_velocity=None, motor_speeds=None) -> None:
    """Any of the body's state, in the units of state(); the quaternion is normalised (it
    must not be zero), motor speeds lie in [0, max_motor_speed], the position inside the
    arena. The progress baseline becomes the new distance to the goal."""
    flight = world_record(core, "worlds", world)
    max_speed = float(flight["airframe"]["values"][MAX_MOTOR_SPEED])
    body = {}
    if position is not None:
        body["position"] = finite_vector("position", position, 3)
        if not inside_arena(body["position"]):
            raise ValueError(f"position must lie inside the arena, got {body['position'].tolist()}")
    if velocity is not None:
        body["velocity"] = finite_vector("velocity", velocity, 3)
    if quaternion is not None:
        q = finite_vector("quaternion", quaternion, 4)
        if not np.linalg.norm(q) > 1e-6:
            raise ValueError(f"quaternion must not be zero, got {q.tolist()}")
        body["quaternion"] = q / np.linalg.norm(q)
    if angular_velocity is not None:
        body["angular_velocity"] = finite_vector("angular_velocity", angular_velocity, 3)
    if motor_speeds is not None:
        speeds = finite_vector("motor_speeds", motor_speeds, drone_rules.NUM_MOTORS)
        if not ((speeds >= 0).all() and (speeds <= max_speed).all()):
            raise ValueError(f"motor_speeds must lie in [0, {max_speed}], got {speeds.tolist()}")
        body["motor_speeds"] = speeds
    # Checked first, written after (float64 rounded to the struct's float32): a refused call
    # changes nothing.
    for field, value in body.items():
        flight["body"][field] = value
    flight["goal_distance"] = goal_distance(core, flight)


def set_target(core, world, target) -> None:
    """The target point (task "hover"), inside the arena."""
    flight = world_record(core, "worlds", world)
    if core.task != HOVER:
        raise ValueError("set_target is for task 'hover'; racing, use set_gates")
    point = finite_vector("target", target, 3)
    if not inside_arena(point):
        raise ValueError(f"target must lie inside the arena, got {point.tolist()}")
    flight["target"] = point
    flight["goal_distance"] = goal_distance(core, flight)


def set_gates(core, world, centres, forwards, next_gate: int = 0) -> None:
    """The gates (task "race"): their centres [num_gates, 3] and forward directions
    [num_gates, 2 or 3] (horizontal, normalised here), and the next gate's index."""
    flight = world_record(core, "worlds", world)
    if core.task != RACE:
        raise ValueError("set_gates is for task 'race'")
    n = core.num_gates
    c = np.asarray(centres, dtype=np.float64)
    f = np.asarray(forwards, dtype=np.float64)
    if c.shape != (n, 3) or f.shape not in ((n, 2), (n, 3)):
        raise ValueError(
            f"centres must have shape ({n}, 3) and forwards ({n}, 2) or ({n}, 3), got "
            f"{c.shape} and {f.shape}"
        )
    if not (np.isfinite(c).all() and np.isfinite(f).all()):
        raise ValueError("centres and forwards must be finite")
    if f.shape[1] == 3 and (f[:, 2] != 0).any():
        raise ValueError("gates stand upright: forwards must be horizontal (z = 0)")
    lengths = np.hypot(f[:, 0], f[:, 1])
    if not (lengths > 1e-6).all():
        raise ValueError("forwards must not be zero")
    if isinstance(next_gate, bool) or not isinstance(next_gate, int) or not 0 <= next_gate < n:
        raise ValueError(f"next_gate must be an int in [0, {n - 1}], got {next_gate!r}")
    # Normalised in float64, then rounded to float32; the side is the forward turned left.
    x, y, zero = f[:, 0] / lengths, f[:, 1] / lengths, np.zeros(n)
    gates = flight["gates"][:n]
    gates["centre"] = c
    gates["forward"] = np.column_stack([x, y, zero])
    gates["side"] = np.column_stack([-y, x, zero])
    flight["next_gate"] = next_gate
    flight["goal_distance"] = goal_distance(core, flight)
