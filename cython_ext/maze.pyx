# Maze: find the goal in a perfect maze, seeing only the tiles around you.
#
# The rules, in the order this file applies them:
#
#   the maze    a square grid of odd side `size` (drawn per episode, uniformly among the odd
#               sizes in [min_size, max_size]). Tiles at odd (row, column) are cells; the
#               border is wall. A recursive backtracker carves passages between neighbouring
#               cells: from the current cell it walks to a uniformly random unvisited
#               neighbour, knocking down the wall between them, and steps back when none is
#               left, until every cell is visited. The result is a perfect maze: exactly one
#               path between any two cells.
#   splits      every layout belongs to one split, and its mirror image across the diagonal
#               to the other: of the two, the one whose hash (FNV-1a over the size and the
#               tiles) is smaller is "train", the other "test". A perfect maze never equals
#               its mirror image (the diagonal's cells cannot be joined symmetrically), so the
#               two sets are disjoint at every size and equally hard (the generator draws a
#               layout and its mirror equally often). A reset carves one layout and mirrors
#               it when it belongs to the other split; split "all" keeps it as drawn. An agent
#               evaluated on "test" has never seen the maze, not merely the seed.
#   start, goal the agent starts in a random corner cell facing a random direction; the goal
#               is the opposite corner. The carving starts from the agent's cell, so when it
#               first reaches the goal its stack is the unique path: the shortest path length
#               comes free (a breadth-first search would give the same, as the tests check).
#   a step      one move: 0 up, 1 right, 2 down, 3 left (moves "absolute"), or, with moves
#               "relative", 0 forward, 1 right, 2 back, 3 left: turn that way, then step. The
#               agent faces the way it last tried to move. A move into a wall leaves it where
#               it is (the step still counts).
#   reward      goal_reward (1.0) on reaching the goal, minus step_penalty (0) every step.
#   the end     terminated on reaching the goal; truncated after steps_per_tile * size^2
#               steps (this game sets that truncation itself: the limit depends on the maze).
#   observing   the (2 vision + 1)^2 tiles centred on the agent, as codes: 0 wall, 1 floor,
#               2 goal, 3 agent (the centre), 4 unknown (outside the grid). With "relative"
#               moves the view turns with the agent: its top row is what lies ahead.
#   statistics  success (1 if the goal was reached), optimality (shortest path length / steps
#               taken on success, 0 otherwise) and size.
#
# Layout in memory: each world's maze lives in a square of tiles padded by `vision` unknown
# tiles on every side (stride = max_size + 2 vision), so a view is a plain window of that
# square with no bounds checks.
cimport cython
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from shoal._ext.core cimport VectorCore
from shoal._ext.rng cimport Rng, rng_below

import numpy as np

cdef enum:
    WALL = 0
    FLOOR = 1
    GOAL = 2
    AGENT = 3
    UNKNOWN = 4
    ACTIONS = 4
    UP = 0
    RIGHT = 1
    DOWN = 2
    LEFT = 3
    SMALLEST_SIZE = 5
    LARGEST_SIZE = 63
    LARGEST_VISION = 31
    # Cells of the largest maze: the deepest the carving stack gets.
    MOST_CELLS = ((LARGEST_SIZE - 1) // 2) * ((LARGEST_SIZE - 1) // 2)

# Python-visible rules, for the game module, scenes and tests.
TILE_CODES = {"wall": WALL, "floor": FLOOR, "goal": GOAL, "agent": AGENT, "unknown": UNKNOWN}
NUM_ACTIONS = ACTIONS
MIN_SIZE = SMALLEST_SIZE
MAX_SIZE = LARGEST_SIZE
MAX_VISION = LARGEST_VISION
SPLITS = {"train": 0, "test": 1, "all": 2}
MOVES = {"absolute": 0, "relative": 1}

# Row and column change of one step in each direction (UP, RIGHT, DOWN, LEFT).
cdef int ROW_STEP[4]
cdef int COLUMN_STEP[4]
ROW_STEP[:] = [-1, 0, 1, 0]
COLUMN_STEP[:] = [0, 1, 0, -1]


cdef struct Maze:
    int size  # tiles per side, odd
    int agent_row, agent_column  # maze coordinates (0 .. size - 1)
    int goal_row, goal_column
    int heading  # UP, RIGHT, DOWN or LEFT: the way the agent last tried to move
    int shortest  # steps of the shortest path from the start to the goal
    long long steps  # steps taken this episode
    long long step_limit  # steps_per_tile * size^2: truncated when steps reach it
    bint success
    uint64_t layout_hash  # of the tiles as they stand, goal excluded
    int split  # 0 train, 1 test: the split the layout belongs to


# ---- Making a maze ----

cdef int layout_split(const unsigned char* tiles, int stride, int size,
                      uint64_t* layout_hash) noexcept nogil:
    # FNV-1a (64-bit) over the size and every tile, row by row, of the layout and (reading
    # its columns as rows) of its mirror image: 0 (train) when the layout's is the smaller.
    # The two chains are independent, so the CPU runs them side by side.
    cdef uint64_t straight = 14695981039346656037ULL, mirrored
    cdef int row, column
    straight = (straight ^ <uint64_t>size) * 1099511628211ULL
    mirrored = straight
    for row in range(size):
        for column in range(size):
            straight = (straight ^ tiles[row * stride + column]) * 1099511628211ULL
            mirrored = (mirrored ^ tiles[column * stride + row]) * 1099511628211ULL
    layout_hash[0] = straight
    return 0 if straight < mirrored else 1


cdef void mirror(unsigned char* tiles, int stride, int size) noexcept nogil:
    # Reflect the size x size square across its diagonal, in place.
    cdef int row, column
    cdef unsigned char swapped
    for row in range(size):
        for column in range(row + 1, size):
            swapped = tiles[row * stride + column]
            tiles[row * stride + column] = tiles[column * stride + row]
            tiles[column * stride + row] = swapped


cdef int carve(unsigned char* tiles, int stride, int size, int start, int goal,
               Rng* rng) noexcept nogil:
    # Fill the size x size square at `tiles` with wall, then carve a perfect maze through its
    # cells by the recursive backtracker, from the start cell. Returns the length in steps of
    # the path from the start to the goal cell (cells given as tile offsets from `tiles`).
    # The square lies inside padding of unknown tiles, so a neighbour two tiles beyond the
    # border reads as unknown, never as wall: no bounds checks.
    cdef int stack[MOST_CELLS]  # tile offset of each cell on the current path
    cdef int offsets[4]  # one tile UP, RIGHT, DOWN, LEFT
    cdef int open_directions[4]
    cdef int depth, here, direction, count, pick, shortest = 0
    cdef int row
    offsets[UP], offsets[RIGHT], offsets[DOWN], offsets[LEFT] = -stride, 1, stride, -1
    for row in range(size):
        memset(tiles + row * stride, WALL, size)
    tiles[start] = FLOOR
    stack[0] = start
    depth = 1
    while depth > 0:
        here = stack[depth - 1]
        count = 0  # unvisited neighbouring cells (visited cells are floor)
        for direction in range(4):
            if tiles[here + 2 * offsets[direction]] == WALL:
                open_directions[count] = direction
                count += 1
        if count == 0:
            depth -= 1  # a dead end: step back
            continue
        pick = offsets[open_directions[rng_below(rng, <unsigned int>count)]]
        tiles[here + pick] = FLOOR  # the wall between
        here += 2 * pick
        tiles[here] = FLOOR
        stack[depth] = here
        depth += 1
        if here == goal:
            shortest = 2 * (depth - 1)  # the stack is the path; two tiles per cell
    return shortest


@cython.final
cdef class MazeCore(VectorCore):
    cdef readonly int min_size, max_size, vision
    cdef readonly int split  # SPLITS
    cdef readonly bint relative_moves
    cdef readonly float steps_per_tile
    cdef readonly float goal_reward, step_penalty
    cdef readonly int stride  # tiles per row of a world's padded square
    cdef readonly int view  # 2 vision + 1
    cdef Maze* mazes
    cdef unsigned char* tiles  # [num_worlds, stride, stride]

    def __cinit__(self, int num_worlds, int agents_per_world, *, int min_size, int max_size,
                  int vision, int split, bint relative_moves, float steps_per_tile,
                  float goal_reward, float step_penalty):
        if agents_per_world != 1:
            raise ValueError("Maze has one agent per world")
        if not (SMALLEST_SIZE <= min_size <= max_size <= LARGEST_SIZE and min_size % 2 == 1
                and max_size % 2 == 1 and 1 <= vision <= LARGEST_VISION and 0 <= split <= 2
                and steps_per_tile > 0):
            raise ValueError("invalid Maze parameters (envs/maze.py validates them)")
        self.min_size = min_size
        self.max_size = max_size
        self.vision = vision
        self.split = split
        self.relative_moves = relative_moves
        self.steps_per_tile = steps_per_tile
        self.goal_reward = goal_reward
        self.step_penalty = step_penalty
        self.view = 2 * vision + 1
        self.stride = max_size + 2 * vision
        self.observation_bytes = self.view * self.view
        self.num_game_stats = 3  # success, optimality, size
        self.mazes = <Maze*>calloc(num_worlds, sizeof(Maze))
        self.tiles = <unsigned char*>calloc(<size_t>num_worlds * self.stride * self.stride, 1)
        if not self.mazes or not self.tiles:
            raise MemoryError("could not allocate the mazes")

    def __dealloc__(self):
        free(self.mazes)
        free(self.tiles)

    cdef inline unsigned char* maze_tiles(self, int world) noexcept nogil:
        # The maze's top-left tile inside the world's padded square.
        return self.tiles + (<size_t>world * self.stride + self.vision) * self.stride + self.vision

    # ---- The loop's hooks ----

    cdef void reset_world(self, int world) noexcept nogil:
        cdef Maze* maze = &self.mazes[world]
        cdef Rng* rng = &self.rngs[world]
        cdef unsigned char* tiles = self.maze_tiles(world)
        cdef int corner, last
        cdef int sizes = (self.max_size - self.min_size) // 2 + 1
        # Everything around the maze reads as unknown; the size may differ from the last one.
        memset(self.tiles + <size_t>world * self.stride * self.stride, UNKNOWN,
               <size_t>self.stride * self.stride)
        maze.size = self.min_size + 2 * <int>rng_below(rng, <unsigned int>sizes)
        last = maze.size - 2
        corner = <int>rng_below(rng, 4)
        maze.agent_row = 1 if corner < 2 else last
        maze.agent_column = 1 if corner % 2 == 0 else last
        maze.goal_row = last + 1 - maze.agent_row
        maze.goal_column = last + 1 - maze.agent_column
        maze.shortest = carve(tiles, self.stride, maze.size,
                              maze.agent_row * self.stride + maze.agent_column,
                              maze.goal_row * self.stride + maze.goal_column, rng)
        maze.split = layout_split(tiles, self.stride, maze.size, &maze.layout_hash)
        if self.split != 2 and maze.split != self.split:
            # The other split's layout: take its mirror image, which is ours.
            mirror(tiles, self.stride, maze.size)
            maze.agent_row, maze.agent_column = maze.agent_column, maze.agent_row
            maze.goal_row, maze.goal_column = maze.goal_column, maze.goal_row
            maze.split = layout_split(tiles, self.stride, maze.size, &maze.layout_hash)
        tiles[maze.goal_row * self.stride + maze.goal_column] = GOAL
        maze.heading = <int>rng_below(rng, 4)
        maze.steps = 0
        maze.step_limit = <long long>(self.steps_per_tile * maze.size * maze.size)
        if maze.step_limit < 1:
            maze.step_limit = 1
        maze.success = False

    cdef void step_world(self, int world) noexcept nogil:
        if self.resetting[world]:
            return
        cdef Maze* maze = &self.mazes[world]
        cdef unsigned char* tiles = self.maze_tiles(world)
        cdef int action = (<int*>self.actions)[world]
        cdef int direction = (maze.heading + action) & 3 if self.relative_moves else action
        cdef int row = maze.agent_row + ROW_STEP[direction]
        cdef int column = maze.agent_column + COLUMN_STEP[direction]
        maze.heading = direction
        maze.steps += 1
        # The border is wall, so a step never leaves the maze.
        if tiles[row * self.stride + column] != WALL:
            maze.agent_row = row
            maze.agent_column = column
        self.rewards[world] = -self.step_penalty
        if maze.agent_row == maze.goal_row and maze.agent_column == maze.goal_column:
            self.rewards[world] += self.goal_reward
            maze.success = True
            self.terminations[world] = 1
        elif maze.steps >= maze.step_limit:
            self.truncations[world] = 1

    cdef void write_observation(self, int row, char* out) noexcept nogil:
        # The view, row by row from its top. Absolute: the map's window, north up. Relative:
        # the top row lies ahead, columns run from the agent's left to its right.
        cdef Maze* maze = &self.mazes[row]
        cdef int view = self.view, vision = self.vision, i, j
        cdef int heading = maze.heading if self.relative_moves else UP
        cdef int ahead = ROW_STEP[heading] * self.stride + COLUMN_STEP[heading]
        cdef int right = ROW_STEP[(heading + 1) & 3] * self.stride + COLUMN_STEP[(heading + 1) & 3]
        cdef const unsigned char* centre = self.maze_tiles(row) + maze.agent_row * self.stride + maze.agent_column
        cdef const unsigned char* line
        cdef unsigned char* target = <unsigned char*>out
        for i in range(view):
            line = centre + (vision - i) * ahead - vision * right
            if right == 1:
                memcpy(target + i * view, line, view)
            else:
                for j in range(view):
                    target[i * view + j] = line[j * right]
        target[vision * view + vision] = AGENT

    cdef void write_game_stats(self, int row, double* out) noexcept nogil:
        cdef Maze* maze = &self.mazes[row]
        out[0] = 1.0 if maze.success else 0.0
        out[1] = <double>maze.shortest / <double>maze.steps if maze.success and maze.steps > 0 else 0.0
        out[2] = <double>maze.size

    # ---- Snapshots ----

    cdef dict game_records(self):
        # A Maze holds no pointer; with its padded square of tiles it is the whole game.
        return {
            "mazes": np.asarray(<Maze[:self.num_worlds]>self.mazes),
            "tiles": np.asarray(<unsigned char[:self.num_worlds * self.stride * self.stride]>self.tiles)
                .reshape(self.num_worlds, self.stride, self.stride),
        }

    cdef check_game_state(self, dict arrays):
        # The view reads `vision` tiles around the agent and moves read one tile beyond it:
        # the agent must stand inside its maze, and the maze must fit the padded square.
        cdef const unsigned char[:, ::1] mazes = arrays["mazes"]
        cdef const Maze* maze
        cdef int world
        tiles = arrays["tiles"]
        if int(tiles.max(initial=0)) > UNKNOWN:
            raise ValueError(f"state['game.tiles'] holds a tile code above {UNKNOWN}")
        for world in range(self.num_worlds):
            maze = <const Maze*>&mazes[world, 0]
            if (maze.size == 0 and maze.agent_row == 0 and maze.agent_column == 0
                    and maze.goal_row == 0 and maze.goal_column == 0):
                continue  # a world never reset yet (all zero): its view stays in the padding
            if not (SMALLEST_SIZE <= maze.size <= self.max_size and maze.size % 2 == 1):
                raise ValueError(f"state['game.mazes'] holds a bad size in world {world}")
            if not (0 < maze.agent_row < maze.size - 1 and 0 < maze.agent_column < maze.size - 1
                    and 0 < maze.goal_row < maze.size - 1 and 0 < maze.goal_column < maze.size - 1):
                raise ValueError(f"state['game.mazes'] holds a position off the maze in world {world}")
            if not (0 <= maze.heading < 4 and maze.steps >= 0 and maze.step_limit >= 1
                    and maze.shortest >= 0 and 0 <= maze.split <= 1):
                raise ValueError(f"state['game.mazes'] holds a bad heading or count in world {world}")
            border = np.concatenate([
                tiles[world, self.vision, self.vision:self.vision + maze.size],
                tiles[world, self.vision + maze.size - 1, self.vision:self.vision + maze.size],
                tiles[world, self.vision:self.vision + maze.size, self.vision],
                tiles[world, self.vision:self.vision + maze.size, self.vision + maze.size - 1],
            ])
            if (border != WALL).any():
                raise ValueError(f"state['game.tiles'] has a gap in the border wall in world {world}")

    # ---- Python-level inspection (never per step; the test setters are tests/envs/setters.py) ----

    cdef Maze* checked_maze(self, world) except NULL:
        return &self.mazes[self.world_index(world)]

    def state(self, world):
        """A copy of one maze: tiles (uint8 [size, size] codes, the goal included, the agent
        not), agent and goal (row, column), heading (0 up .. 3 left), size, shortest (steps of
        the shortest path from the start), steps, step_limit, layout_hash, and view (the
        agent's observation, uint8 [2 vision + 1] * 2)."""
        cdef Maze* maze = self.checked_maze(world)
        cdef int index = self.world_index(world)
        padded = np.asarray(<unsigned char[:self.stride * self.stride]>(
            self.tiles + <size_t>index * self.stride * self.stride)).reshape(self.stride, self.stride)
        view = np.empty((self.view, self.view), np.uint8)
        cdef unsigned char[:, ::1] view_memory = view
        self.write_observation(index, <char*>&view_memory[0, 0])
        start = self.vision
        return {
            "tiles": padded[start:start + maze.size, start:start + maze.size].copy(),
            "agent": (maze.agent_row, maze.agent_column),
            "goal": (maze.goal_row, maze.goal_column),
            "heading": maze.heading,
            "size": maze.size,
            "shortest": maze.shortest,
            "steps": int(maze.steps),
            "step_limit": int(maze.step_limit),
            "layout_hash": int(maze.layout_hash),
            "split": ("train", "test")[maze.split],
            "view": view,
        }
