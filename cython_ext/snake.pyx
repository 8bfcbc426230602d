# Snake: snakes on a walled grid eat food, grow, and die when their head hits something.
#
# One core serves two games. Snake-v0 is a world holding one snake on a small grid;
# SnakeArena-v0 is a world holding many snakes in one large arena. Each snake is one row of
# the vector env (row = world * snakes_per_world + agent), so the shared loop (core.pyx)
# treats snakes exactly like envs.
#
# The rules, in the order this file applies them:
#
#   directions  0 up (toward row 0), 1 right, 2 down, 3 left: absolute, not turns. Asking to
#               reverse into the neck (the opposite of the last move, length >= 2) keeps the
#               current direction.
#   moving      snakes of a world move one after another in row order; each move sees the grid
#               as the snakes before it left it. Food ahead: the head advances and the tail
#               stays (the snake grows by one). Otherwise the tail leaves its cell first, then
#               the head advances: a head may enter the cell its own tail is leaving, and a
#               snake moving later may enter a cell some earlier snake's tail left this step.
#   dying       a head that enters a wall or any other snake cell dies: its episode terminates
#               and its body leaves the grid, as empty cells or, with leave_corpse, as food.
#   food        after all snakes moved (and after a respawn), food is topped up to num_food on
#               random empty cells, as far as there are any; corpses may push it above.
#   spawning    a new snake is one cell (length 1) on a random empty cell: a few random tries,
#               then one scan of the whole field from a random start, so it always ends. With
#               no empty cell it takes the place of a piece of food; when every cell is a snake
#               it is not placed: its episode ends (terminated, reward 0, score 0) on its next
#               step and the next episode tries again.
#   resetting   a world with one snake restarts whole when its snake's episode ends; in a
#               world of many, only that snake respawns (a living body, after a truncation,
#               is removed first, never turned into food).
#
# Layout: each world's grid is padded by `vision` cells of wall on every side, so the
# observation window around any head is read without bounds checks. A cell holds EMPTY, WALL,
# FOOD or SNAKE_TILE + agent. Bodies need no per-snake buffer: a second grid keeps, in every
# body cell, the direction toward the next segment (toward the head); a move writes the new
# head and walks the tail one step along those directions.
cimport cython
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from shoal._ext.core cimport VectorCore
from shoal._ext.rng cimport Rng, rng_below

import numpy as np

# ---- Tiles: what a grid cell holds ----
cdef enum:
    EMPTY = 0
    WALL = 1
    FOOD = 2
    # A body cell of the world's snake `agent` holds SNAKE_TILE + agent. Snakes start at the
    # code for "another snake" so that min(tile, SNAKE_TILE) is already what others see.
    SNAKE_TILE = 5

# ---- What a snake sees: the observation's codes ----
cdef enum:
    SEE_EMPTY = 0
    SEE_WALL = 1
    SEE_FOOD = 2
    SEE_OWN_BODY = 3
    SEE_OWN_HEAD = 4
    SEE_OTHER_SNAKE = 5

# The recoding of every observation cell: min(tile, SNAKE_TILE), minus 2 on the snake's own
# body (SEE_OTHER_SNAKE - SEE_OWN_BODY). In C, on blocks of 8 tiles, so that GCC and Clang turn
# a block into a few SIMD instructions (vector extensions; signed 16-bit tiles because SSE2
# has only a signed compare); other compilers get the plain loop.
cdef extern from *:
    """
    #include <string.h>
    static inline unsigned char shoal_snake_see(short tile, short own) {
        return (unsigned char)((tile < 5 ? tile : 5) - 2 * (tile == own));
    }
    #if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 9)
    typedef short shoal_tiles8 __attribute__((vector_size(16)));
    typedef unsigned char shoal_seen8 __attribute__((vector_size(8)));
    static inline void shoal_snake_see_block(const short* source, unsigned char* out, short own) {
        shoal_tiles8 tiles, five = {5, 5, 5, 5, 5, 5, 5, 5};
        shoal_tiles8 owns = {own, own, own, own, own, own, own, own};
        memcpy(&tiles, source, sizeof tiles);
        shoal_tiles8 below = tiles < five;  /* -1 where true, 0 where false */
        shoal_tiles8 seen = (tiles & below) | (five & ~below);
        seen += (shoal_tiles8)(tiles == owns) * 2;
        shoal_seen8 bytes = __builtin_convertvector(seen, shoal_seen8);
        memcpy(out, &bytes, sizeof bytes);
    }
    #else
    static inline void shoal_snake_see_block(const short* source, unsigned char* out, short own) {
        for (int i = 0; i < 8; i++) out[i] = shoal_snake_see(source[i], own);
    }
    #endif
    static inline void shoal_snake_see_tiles(const short* source, unsigned char* out, short own,
                                             int count) {
        for (int i = 0; i < count; i++) out[i] = shoal_snake_see(source[i], own);
    }
    """
    const int SEE_BLOCK "8"
    void see_block "shoal_snake_see_block"(
        const short* source, unsigned char* out, short own) noexcept nogil
    void see_tiles "shoal_snake_see_tiles"(
        const short* source, unsigned char* out, short own, int count) noexcept nogil

# ---- Directions (actions); the opposite of d is d ^ 2 ----
cdef enum:
    UP = 0
    RIGHT = 1
    DOWN = 2
    LEFT = 3

# ---- A snake's status ----
cdef enum:
    DEAD = 0  # died (or was cleared); waits for its reset, takes no part in the world
    ALIVE = 1
    UNPLACED = 2  # its episode started but every cell of the field was a snake

# Random tries before the deterministic scan for a free cell.
cdef int RANDOM_TRIES = 8

# Python-visible names of the codes, for tests and renderers.
TILE_EMPTY, TILE_WALL, TILE_FOOD, TILE_SNAKE = EMPTY, WALL, FOOD, SNAKE_TILE
OBSERVATION_CODES = {
    "empty": SEE_EMPTY,
    "wall": SEE_WALL,
    "food": SEE_FOOD,
    "own_body": SEE_OWN_BODY,
    "own_head": SEE_OWN_HEAD,
    "other_snake": SEE_OTHER_SNAKE,
}
DIRECTIONS = {"up": UP, "right": RIGHT, "down": DOWN, "left": LEFT}
SNAKE_STATUSES = {"dead": DEAD, "alive": ALIVE, "unplaced": UNPLACED}
#: Tiles are int16: SNAKE_TILE + agent must fit.
MAX_SNAKES_PER_WORLD = 32767 - SNAKE_TILE


cdef struct World:
    short* tiles  # [padded_height * stride]
    unsigned char* toward_head  # per body cell: direction of the next segment, toward the head
    int food_count  # FOOD tiles on the grid


cdef struct Snake:
    int world
    short tile  # SNAKE_TILE + agent: how the grid marks this snake's body
    unsigned char status
    unsigned char direction  # of the last move
    int head  # cell indices in the padded grid
    int tail
    int length  # 0 while not placed
    int food_eaten  # this episode


@cython.final
cdef class SnakeCore(VectorCore):
    # Parameters.
    cdef readonly int width, height  # the playing field, inside the walls
    cdef readonly int num_food
    cdef readonly int vision
    cdef readonly float reward_food, reward_death, reward_step
    cdef readonly bint leave_corpse
    # Geometry of the padded grid.
    cdef readonly int window  # 2 * vision + 1: the observation's side
    cdef int stride  # cells per padded row
    cdef int padded_height
    cdef Py_ssize_t cells_per_world
    cdef int step_offset[4]  # cell index change of one step in each direction
    # State.
    cdef World* worlds
    cdef Snake* snakes  # one per row
    cdef short* tile_memory
    cdef unsigned char* direction_memory

    def __cinit__(self, int num_worlds, int agents_per_world, *, int width, int height,
                  int num_food, int vision, float reward_food, float reward_death,
                  float reward_step, bint leave_corpse):
        # The Python game validates with clear messages; these checks only keep a direct
        # caller from corrupting memory.
        if width < 1 or height < 1 or vision < 1 or num_food < 0:
            raise ValueError(
                f"need width, height, vision >= 1 and num_food >= 0, got width={width}, "
                f"height={height}, vision={vision}, num_food={num_food}"
            )
        if agents_per_world > MAX_SNAKES_PER_WORLD:
            raise ValueError(
                f"at most {MAX_SNAKES_PER_WORLD} snakes per world, got {agents_per_world}"
            )
        self.width = width
        self.height = height
        self.num_food = num_food
        self.vision = vision
        self.reward_food = reward_food
        self.reward_death = reward_death
        self.reward_step = reward_step
        self.leave_corpse = leave_corpse
        self.window = 2 * vision + 1
        self.stride = width + 2 * vision
        self.padded_height = height + 2 * vision
        self.cells_per_world = <Py_ssize_t>self.stride * self.padded_height
        self.step_offset[UP] = -self.stride
        self.step_offset[RIGHT] = 1
        self.step_offset[DOWN] = self.stride
        self.step_offset[LEFT] = -1
        self.observation_bytes = <Py_ssize_t>self.window * self.window
        self.num_game_stats = 2  # score (length), food_eaten

        self.worlds = <World*>calloc(num_worlds, sizeof(World))
        self.snakes = <Snake*>calloc(self.num_rows, sizeof(Snake))
        self.tile_memory = <short*>calloc(
            num_worlds * self.cells_per_world, sizeof(short))
        self.direction_memory = <unsigned char*>calloc(num_worlds * self.cells_per_world, 1)
        if not (self.worlds and self.snakes and self.tile_memory and self.direction_memory):
            raise MemoryError("could not allocate the snake worlds")
        cdef int world, row
        for world in range(num_worlds):
            self.worlds[world].tiles = self.tile_memory + world * self.cells_per_world
            self.worlds[world].toward_head = self.direction_memory + world * self.cells_per_world
            self.build_walls(world)
        for row in range(self.num_rows):
            self.snakes[row].world = row // agents_per_world
            self.snakes[row].tile = <short>(SNAKE_TILE + row % agents_per_world)
            self.park_unplaced(&self.snakes[row])
            self.snakes[row].status = DEAD

    def __dealloc__(self):
        free(self.worlds)
        free(self.snakes)
        free(self.tile_memory)
        free(self.direction_memory)

    # ---- Geometry ----

    cdef inline int cell_at(self, int x, int y) noexcept nogil:
        return (y + self.vision) * self.stride + x + self.vision

    cdef inline void park_unplaced(self, Snake* snake) noexcept nogil:
        # An unplaced snake looks at the field's centre, so its window stays inside the grid.
        snake.status = UNPLACED
        snake.length = 0
        snake.head = self.cell_at(self.width // 2, self.height // 2)
        snake.tail = snake.head

    # ---- Starting a world ----

    cdef void build_walls(self, int world) noexcept nogil:
        # Walls never change, so they are built once; resets only empty the field.
        cdef World* w = &self.worlds[world]
        cdef Py_ssize_t cell
        for cell in range(self.cells_per_world):
            w.tiles[cell] = WALL
        self.clear_field(world)

    cdef void clear_field(self, int world) noexcept nogil:
        cdef World* w = &self.worlds[world]
        cdef int y
        for y in range(self.height):
            memset(w.tiles + self.cell_at(0, y), 0, self.width * sizeof(short))  # EMPTY
        w.food_count = 0

    cdef void reset_world(self, int world) noexcept nogil:
        cdef int first = world * self.agents_per_world, row
        self.clear_field(world)
        for row in range(first, first + self.agents_per_world):
            self.spawn_snake(row)
        self.top_up_food(world)

    cdef int find_cell(self, int world, short wanted) noexcept nogil:
        """A random cell of the field holding `wanted`, or -1 when there is none. Always
        ends: a few random tries, then one scan over every cell from a random start."""
        cdef Rng* rng = &self.rngs[world]
        cdef short* tiles = self.worlds[world].tiles
        cdef int area = self.width * self.height
        cdef int attempt, i, x, y, cell, start
        for attempt in range(RANDOM_TRIES):
            start = <int>rng_below(rng, <unsigned int>area)
            cell = self.cell_at(start % self.width, start // self.width)
            if tiles[cell] == wanted:
                return cell
        start = <int>rng_below(rng, <unsigned int>area)
        x = start % self.width
        y = start // self.width
        for i in range(area):
            cell = self.cell_at(x, y)
            if tiles[cell] == wanted:
                return cell
            x += 1
            if x == self.width:
                x = 0
                y += 1
                if y == self.height:
                    y = 0
        return -1

    cdef void spawn_snake(self, int row) noexcept nogil:
        cdef Snake* snake = &self.snakes[row]
        cdef World* w = &self.worlds[snake.world]
        cdef int cell = self.find_cell(snake.world, EMPTY)
        if cell < 0:
            # A field without empty cells may still hold food (corpses fill small arenas):
            # the new snake takes the place of a piece.
            cell = self.find_cell(snake.world, FOOD)
            if cell >= 0:
                w.food_count -= 1
        snake.food_eaten = 0
        snake.direction = UP
        if cell < 0:
            self.park_unplaced(snake)  # every cell is a snake
            return
        w.tiles[cell] = snake.tile
        snake.head = cell
        snake.tail = cell
        snake.length = 1
        snake.status = ALIVE

    cdef void top_up_food(self, int world) noexcept nogil:
        cdef World* w = &self.worlds[world]
        cdef int cell
        while w.food_count < self.num_food:
            cell = self.find_cell(world, EMPTY)
            if cell < 0:
                return  # the field is full; the next step tries again
            w.tiles[cell] = FOOD
            w.food_count += 1

    cdef void remove_body(self, Snake* snake, short leftover) noexcept nogil:
        """Replace the body, tail to head, by `leftover` (EMPTY, or FOOD for a corpse)."""
        cdef World* w = &self.worlds[snake.world]
        cdef int cell = snake.tail, segment
        if snake.status != ALIVE:
            return
        for segment in range(snake.length - 1):
            w.tiles[cell] = leftover
            cell += self.step_offset[w.toward_head[cell]]
        w.tiles[cell] = leftover  # the head
        if leftover == FOOD:
            w.food_count += snake.length
        snake.status = DEAD

    cdef void reset_agent(self, int row) noexcept nogil:
        # Only for worlds of many snakes: the loop restarts a one-snake world whole.
        cdef int world = self.snakes[row].world
        self.remove_body(&self.snakes[row], EMPTY)  # alive after a truncation
        self.spawn_snake(row)
        self.top_up_food(world)  # the removed body may have made room

    # ---- One step ----

    cdef void step_world(self, int world) noexcept nogil:
        cdef int first = world * self.agents_per_world, row
        cdef Snake* snake
        for row in range(first, first + self.agents_per_world):
            if self.resetting[row]:
                continue  # respawned this step: it does not move
            snake = &self.snakes[row]
            if snake.status == ALIVE:
                self.move_snake(row, snake)
            elif snake.status == UNPLACED:
                self.terminations[row] = 1  # no room was found: end the episode, try again
                snake.status = DEAD
        self.top_up_food(world)

    cdef void move_snake(self, int row, Snake* snake) noexcept nogil:
        cdef World* w = &self.worlds[snake.world]
        cdef int action = (<int*>self.actions)[row]
        if action < 0 or action > 3:
            action = snake.direction  # the wrapper validates actions; this only guards memory
        if action == (snake.direction ^ 2) and snake.length > 1:
            action = snake.direction  # no reversing into the neck
        cdef int target = snake.head + self.step_offset[action]
        cdef short ahead = w.tiles[target]
        self.rewards[row] += self.reward_step
        snake.direction = <unsigned char>action
        w.toward_head[snake.head] = <unsigned char>action

        if ahead == FOOD:
            # Growing: the tail stays.
            w.food_count -= 1
            snake.length += 1
            snake.food_eaten += 1
            self.rewards[row] += self.reward_food
        elif ahead == EMPTY or target == snake.tail:
            # The tail leaves first, so the head may take the cell it leaves.
            w.tiles[snake.tail] = EMPTY
            snake.tail += self.step_offset[w.toward_head[snake.tail]]
        else:
            # A wall or a snake.
            self.rewards[row] += self.reward_death
            self.terminations[row] = 1
            self.remove_body(snake, FOOD if self.leave_corpse else EMPTY)
            return
        w.tiles[target] = snake.tile
        snake.head = target

    # ---- What a snake sees ----

    cdef void write_observation(self, int row, char* out) noexcept nogil:
        # The window of tiles around the head, recoded from the snake's point of view: a few
        # SIMD blocks of 8 per line (the last block overlaps the one before), scalar only for
        # windows narrower than a block.
        cdef Snake* snake = &self.snakes[row]
        cdef int window = self.window, stride = self.stride, r, c
        cdef short own = snake.tile
        cdef const short* source = (
            self.worlds[snake.world].tiles + snake.head - self.vision * stride - self.vision)
        cdef unsigned char* line = <unsigned char*>out
        for r in range(window):
            if window < SEE_BLOCK:
                see_tiles(source, line, own, window)
            else:
                c = 0
                while c < window - SEE_BLOCK:
                    see_block(source + c, line + c, own)
                    c += SEE_BLOCK
                see_block(source + window - SEE_BLOCK, line + window - SEE_BLOCK, own)
            source += stride
            line += window
        out[self.vision * window + self.vision] = SEE_OWN_HEAD

    cdef void write_game_stats(self, int row, double* out) noexcept nogil:
        out[0] = self.snakes[row].length  # score
        out[1] = self.snakes[row].food_eaten

    # ---- Snapshots (get_state / set_state, never per step) ----

    cdef dict game_records(self):
        cdef Py_ssize_t cells = self.num_worlds * self.cells_per_world
        grid_shape = (self.num_worlds, self.padded_height, self.stride)
        # A World holds pointers into the grids, fixed at construction: only its food count
        # is state, viewed in place across the structs (an int every sizeof(World) bytes).
        cdef Py_ssize_t food_offset = <char*>&self.worlds[0].food_count - <char*>self.worlds
        world_bytes = np.asarray(
            <unsigned char[:self.num_worlds * sizeof(World)]><unsigned char*>self.worlds
        ).reshape(self.num_worlds, sizeof(World))
        food_count_bytes = world_bytes[:, food_offset:food_offset + sizeof(int)]
        return {
            "snakes": np.asarray(<Snake[:self.num_rows]>self.snakes),
            "tiles": np.asarray(<short[:cells]>self.tile_memory).reshape(grid_shape),
            "toward_head": np.asarray(
                <unsigned char[:cells]>self.direction_memory).reshape(grid_shape),
            "food_count": food_count_bytes.view(np.intc)[:, 0],
        }

    cdef check_game_state(self, dict arrays):
        # The rules index the grids from heads, tails and the body directions without bounds
        # checks, trusting the walls to stop every head: a state must keep the walls whole,
        # every head and tail on the field and every body a chain of its own tiles.
        tiles, toward_head = arrays["tiles"], arrays["toward_head"]
        field = np.zeros((self.padded_height, self.stride), np.bool_)
        field[self.vision:self.vision + self.height, self.vision:self.vision + self.width] = True
        if not (tiles[:, ~field] == WALL).all():
            raise ValueError("state['game.tiles'] has a gap in the walls around the field")
        if (toward_head > LEFT).any():
            raise ValueError("state['game.toward_head'] holds a direction other than 0 to 3")
        cdef const unsigned char[:, ::1] snake_bytes = arrays["snakes"]
        cdef const short[:, :, ::1] grids = tiles
        cdef const unsigned char[:, :, ::1] directions = toward_head
        cdef const Snake* snake
        cdef int row
        for row in range(self.num_rows):
            snake = <const Snake*>&snake_bytes[row, 0]
            if (snake.world != row // self.agents_per_world
                    or snake.tile != SNAKE_TILE + row % self.agents_per_world):
                problem = "belongs to another row"
            elif snake.status not in (DEAD, ALIVE, UNPLACED) or snake.direction > LEFT:
                problem = "has an unknown status or direction"
            elif not (self.on_field(snake.head) and self.on_field(snake.tail)):
                problem = "has its head or tail off the field"  # read even when it is dead
            elif snake.status == ALIVE:
                problem = self.body_problem(
                    snake, &grids[snake.world, 0, 0], &directions[snake.world, 0, 0])
            else:
                problem = None
            if problem is not None:
                raise ValueError(f"state['game.snakes']: the snake of row {row} {problem}")

    cdef str body_problem(self, const Snake* snake, const short* grid, const unsigned char* toward):
        # Walk the body as remove_body and the moving tail do, from the tail to the head.
        if not 1 <= snake.length <= self.width * self.height:
            return f"has length {snake.length}"
        cdef int cell = snake.tail, segment
        for segment in range(snake.length):
            if not self.on_field(cell) or grid[cell] != snake.tile:
                return "has a body that is not a chain of its own tiles"
            if segment < snake.length - 1:
                cell += self.step_offset[toward[cell]]
        if cell != snake.head:
            return "has a body that does not end at its head"
        return None

    cdef bint on_field(self, int cell) noexcept:
        if not 0 <= cell < self.cells_per_world:
            return False
        cdef int x = cell % self.stride - self.vision, y = cell // self.stride - self.vision
        return 0 <= x < self.width and 0 <= y < self.height

    # ---- Python-level inspection (never per step; the test setters are tests/envs/setters.py) ----

    def _check_world(self, world):
        self.world_index(world)

    def _check_agent(self, agent):
        if not 0 <= agent < self.agents_per_world:
            raise IndexError(f"agent must be in [0, {self.agents_per_world - 1}], got {agent}")

    def _xy(self, int cell):
        return (cell % self.stride - self.vision, cell // self.stride - self.vision)

    def state(self, int world):
        """Copies of one world's state, for renderers and tests.

        tiles: int32 [height, width], tiles[y, x] of the field (walls surround it):
        TILE_EMPTY (0), TILE_FOOD (2), or TILE_SNAKE (5) + agent for a body cell of `agent`.
        heads, tails: int32 [agents, 2] as (x, y). directions: uint8 [agents] (0 up, 1 right,
        2 down, 3 left). lengths, food_eaten: int32 [agents]. alive: bool [agents].
        food_count: int.
        """
        self._check_world(world)
        cdef Py_ssize_t start = world * self.cells_per_world
        grid = np.asarray(<short[:self.cells_per_world]>(self.tile_memory + start))
        grid = grid.reshape(self.padded_height, self.stride)
        v, agents, first = self.vision, self.agents_per_world, world * self.agents_per_world
        snakes = [self.snakes[row] for row in range(first, first + agents)]
        return {
            "tiles": grid[v:v + self.height, v:v + self.width].astype(np.int32),
            "heads": np.array([self._xy(s["head"]) for s in snakes], np.int32).reshape(agents, 2),
            "tails": np.array([self._xy(s["tail"]) for s in snakes], np.int32).reshape(agents, 2),
            "directions": np.array([s["direction"] for s in snakes], np.uint8),
            "lengths": np.array([s["length"] for s in snakes], np.int32),
            "food_eaten": np.array([s["food_eaten"] for s in snakes], np.int32),
            "alive": np.array([s["status"] == ALIVE for s in snakes], np.bool_),
            "food_count": int(self.worlds[world].food_count),
        }

    def body(self, int world, int agent):
        """The snake's cells as (x, y), tail first, head last; [] when it is not alive."""
        self._check_world(world)
        self._check_agent(agent)
        cdef Snake* snake = &self.snakes[world * self.agents_per_world + agent]
        cdef World* w = &self.worlds[world]
        cdef int cell = snake.tail, segment
        if snake.status != ALIVE:
            return []
        cells = []
        for segment in range(snake.length):
            cells.append(self._xy(cell))
            if segment < snake.length - 1:
                cell += self.step_offset[w.toward_head[cell]]
        return cells
