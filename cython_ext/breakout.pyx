# Breakout: knock a wall of bricks down with a ball, keeping the ball in play with a paddle.
#
# The rules, in the order this file applies them:
#
#   field       576 x 330 pixels, y grows downward. Walls on the left, right and top reflect
#               the ball; the bottom is open: a ball that reaches it is lost.
#   bricks      18 columns x 6 rows of 32 x 12-pixel bricks, the top row at y = 72. Row pairs
#               are worth 7, 4 and 1 points from the top: 432 points per wall. A brick the
#               ball touches breaks, and the ball reflects off the face it touched.
#   paddle      `paddle_width` pixels wide (default 64), its top edge at y = 310; it moves at
#               most 8 pixels a frame and stays inside the field. It halves the first time
#               the ball hits the top wall, for the rest of the episode.
#   ball        a point that moves in straight lines at the speed of its level. It is served
#               from the paddle's centre, upward, at a random angle within 45 degrees of the
#               vertical, at reset and after each lost ball. Off the paddle it leaves at an
#               angle set by where it hit: up to 60 degrees from the vertical at the ends.
#   speed       level 0 is 4 pixels a frame, each level adds 0.5, level 6 (7 pixels a frame)
#               is the maximum. The level rises after every 4th paddle hit, and once each on
#               the first 4-point brick and the first 7-point brick of the episode; it never
#               falls within an episode.
#   balls       5. Losing the last one ends the episode (terminated). With `fresh_serve`, a
#               lost ball also restores the serve's conditions: the full paddle (it halves
#               again at the next top-wall hit), the slowest speed and no paddle hits counted.
#   second wall when the first wall is cleared the bricks come back once, at the ball's next
#               contact with the paddle (or its next serve), so they never appear around the
#               ball. Clearing the second wall (score 864) ends the episode (terminated).
#   a step      `frameskip` frames with the same action. Each frame the paddle moves first,
#               then the ball. The reward is the points scored during the step, times
#               reward_scale, minus lost_ball_penalty for each ball lost during it.
#
# Collisions are exact at any speed: within a frame the ball moves from event to event in
# time order. Walls and bricks lie on one grid of 32 x 12-pixel cells (the side walls are the
# columns just outside the field, the top wall the row just above it, the bricks six rows of
# it), so one grid traversal along the ball's path (Amanatides & Woo, 1987) finds the first
# solid face crossed, visiting only the cells the path crosses. The paddle's top edge is a
# swept test of its own. Touching a face is not crossing it: a ball that ends a frame exactly
# on a face crosses it, and reflects, in the next frame.
cimport cython
from libc.math cimport INFINITY, ceilf, fabsf, floorf, isfinite
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from shoal._ext.core cimport VectorCore
from shoal._ext.portable_math cimport clamp, clamp_int, cosine_sine
from shoal._ext.rng cimport Rng, rng_uniform


import numpy as np

# ---- The field (pixels) ----
cdef const float WIDTH = 576.0
cdef const float HEIGHT = 330.0

# ---- The bricks ----
cdef enum:
    BRICK_COLUMNS = 18
    BRICK_ROWS = 6
    BRICK_COUNT = BRICK_COLUMNS * BRICK_ROWS  # 108
    POINTS_PER_WALL = 432  # 2 rows x 18 bricks x (7 + 4 + 1)
    WALLS = 2
    MAX_SCORE = WALLS * POINTS_PER_WALL  # 864
cdef const float BRICK_WIDTH = 32.0
cdef const float BRICK_HEIGHT = 12.0
# The wall starts a whole number of cells below the top wall, so one grid holds both.
cdef enum:
    WALL_TOP_CELL_ROW = 6
cdef const float WALL_TOP = 72.0  # WALL_TOP_CELL_ROW * BRICK_HEIGHT
cdef const float WALL_BOTTOM = 144.0  # WALL_TOP + BRICK_ROWS * BRICK_HEIGHT
cdef enum:
    CELL_ROWS = 28  # grid rows covering the field's height: 28 x 12 >= 330

# ---- The paddle ----
cdef const float PADDLE_Y = 310.0  # its top edge, the only part the ball meets
cdef const float PADDLE_HEIGHT = 8.0  # drawn only
cdef const float DEFAULT_PADDLE_WIDTH = 64.0
cdef const float MIN_PADDLE_WIDTH = 8.0
cdef const float MAX_PADDLE_WIDTH = 288.0  # half the field
cdef const float PADDLE_SPEED = 8.0  # pixels per frame at full speed

# ---- The ball (pixels per frame, radians from the vertical) ----
cdef const float BALL_START_SPEED = 4.0
cdef const float BALL_SPEED_STEP = 0.5
cdef enum:
    MAX_SPEED_LEVEL = 6
    PADDLE_HITS_PER_SPEED_UP = 4
    BALLS = 5
cdef const float BALL_MAX_SPEED = 7.0  # BALL_START_SPEED + MAX_SPEED_LEVEL * BALL_SPEED_STEP
cdef const double SERVE_MAX_ANGLE = 0.7853981633974483  # 45 degrees
cdef const double BOUNCE_MAX_ANGLE = 1.0471975511965976  # 60 degrees

# ---- Actions and the observation ----
cdef enum:
    NOOP = 0
    LEFT = 1
    RIGHT = 2
cdef enum:
    OBSERVATION_HEADER = 9  # the numbers before the brick flags
    OBSERVATION_SIZE = OBSERVATION_HEADER + BRICK_COUNT  # 117

# ---- What moving the ball for a frame can lead to ----
cdef enum BallOutcome:
    BALL_IN_PLAY = 0
    BALL_LOST = 1
    ALL_WALLS_CLEARED = 2
cdef enum Axis:
    NO_AXIS = 0
    X_AXIS = 1  # a vertical face: the side of a brick, the left or right wall
    Y_AXIS = 2  # a horizontal face: the top or bottom of a brick, the top wall
# A bound on collisions within one frame. Each collision reverses the ball's motion across
# the face it met, so at most two happen at one instant (a corner); 16 is never reached.
cdef enum:
    MAX_COLLISIONS_PER_FRAME = 16

# Python-visible geometry and rules, for tests, renderers and the game module.
FIELD_WIDTH, FIELD_HEIGHT = WIDTH, HEIGHT
BRICK_SIZE = (BRICK_WIDTH, BRICK_HEIGHT)
BRICK_GRID = (BRICK_ROWS, BRICK_COLUMNS)
BRICK_WALL_TOP, BRICK_WALL_BOTTOM = WALL_TOP, WALL_BOTTOM
BRICK_POINTS_BY_ROW = tuple(brick_points(row) for row in range(BRICK_ROWS))  # 7, 7, 4, 4, 1, 1
PADDLE_TOP, PADDLE_THICKNESS, PADDLE_FULL_WIDTH = PADDLE_Y, PADDLE_HEIGHT, DEFAULT_PADDLE_WIDTH
PADDLE_WIDTH_RANGE = (MIN_PADDLE_WIDTH, MAX_PADDLE_WIDTH)
PADDLE_MAX_SPEED = PADDLE_SPEED
BALL_SPEEDS = tuple(ball_speed(level) for level in range(MAX_SPEED_LEVEL + 1))  # by level
TOP_SPEED_LEVEL = MAX_SPEED_LEVEL
BALLS_PER_EPISODE = BALLS
SCORE_TO_WIN = MAX_SCORE
OBSERVATION_LENGTH = OBSERVATION_SIZE
OBSERVATION_FIELDS = ("paddle_x", "paddle_y", "ball_x", "ball_y", "ball_vx", "ball_vy",
                      "balls_left", "score", "paddle_width")


cdef struct BreakoutWorld:
    # First, so the observation's brick flags are one memcpy: 1.0 standing, 0.0 broken.
    float bricks[BRICK_COUNT]  # row-major from the top row
    float paddle_x  # centre
    float paddle_half_width
    float ball_x, ball_y  # pixels, inside the field
    float ball_vx, ball_vy  # pixels per frame; |component| <= the level's speed
    int score
    int bricks_left  # standing in the current wall
    int balls_left  # including the one in play
    int paddle_hits
    int speed_level
    int walls_cleared
    bint refill_pending  # the first wall is cleared; the second appears at the paddle
    bint paddle_halved
    bint reached_middle_rows  # a 4-point brick broke this episode
    bint reached_top_rows  # a 7-point brick broke this episode


# ---- Small helpers ----

cdef inline float ball_speed(int level) noexcept nogil:
    return BALL_START_SPEED + level * BALL_SPEED_STEP


cdef inline int brick_points(int brick_row) noexcept nogil:
    return 7 if brick_row < 2 else (4 if brick_row < 4 else 1)


cdef void aim_ball(BreakoutWorld* w, double angle) noexcept nogil:
    # Upward at `angle` from the vertical (at most 60 degrees), at the level's speed. Sine and
    # cosine are portable_math's, the same bits on every platform; both are at most 1, so
    # neither component exceeds the speed.
    cdef double sine, cosine
    cosine_sine(angle, &cosine, &sine)
    cdef float speed = ball_speed(w.speed_level)
    w.ball_vx = speed * <float>sine
    w.ball_vy = -speed * <float>cosine


# ---- Starting an episode, serving a ball ----

cdef inline void build_wall(BreakoutWorld* w) noexcept nogil:
    cdef int brick
    for brick in range(BRICK_COUNT):
        w.bricks[brick] = 1.0
    w.bricks_left = BRICK_COUNT
    w.refill_pending = False


cdef void serve_ball(BreakoutWorld* w, Rng* rng) noexcept nogil:
    # From the paddle's centre, upward, at a random angle: the world's Rng makes seeds matter.
    w.ball_x = w.paddle_x
    w.ball_y = PADDLE_Y
    aim_ball(w, (2.0 * rng_uniform(rng) - 1.0) * SERVE_MAX_ANGLE)
    if w.refill_pending:
        build_wall(w)


cdef void start_episode(BreakoutWorld* w, Rng* rng, float paddle_width) noexcept nogil:
    memset(w, 0, sizeof(BreakoutWorld))
    build_wall(w)
    w.balls_left = BALLS
    w.paddle_x = 0.5 * WIDTH
    w.paddle_half_width = 0.5 * paddle_width
    serve_ball(w, rng)


cdef void restore_serve_conditions(BreakoutWorld* w, float paddle_width) noexcept nogil:
    # fresh_serve: the next ball starts as the first did, with the full paddle at the slowest
    # speed (the bricks, the score and the once-per-episode brick speed-ups stay as they are).
    w.paddle_halved = False
    w.paddle_half_width = 0.5 * paddle_width
    w.speed_level = 0
    w.paddle_hits = 0


# ---- Speed, scoring and the paddle's rebound ----

cdef void speed_up(BreakoutWorld* w) noexcept nogil:
    # Same direction, the next level's speed. Dividing first keeps each component within the
    # new speed, so the observed velocity never leaves [-1, 1] even by rounding.
    if w.speed_level >= MAX_SPEED_LEVEL:
        return
    cdef float old_speed = ball_speed(w.speed_level)
    w.speed_level += 1
    cdef float new_speed = ball_speed(w.speed_level)
    w.ball_vx = (w.ball_vx / old_speed) * new_speed
    w.ball_vy = (w.ball_vy / old_speed) * new_speed


cdef BallOutcome break_brick(BreakoutWorld* w, int brick) noexcept nogil:
    cdef int brick_row = brick // BRICK_COLUMNS
    w.bricks[brick] = 0.0
    w.bricks_left -= 1
    w.score += brick_points(brick_row)
    if brick_row < 2:
        if not w.reached_top_rows:
            w.reached_top_rows = True
            speed_up(w)
    elif brick_row < 4:
        if not w.reached_middle_rows:
            w.reached_middle_rows = True
            speed_up(w)
    if w.bricks_left == 0:
        w.walls_cleared += 1
        if w.walls_cleared == WALLS:
            return ALL_WALLS_CLEARED
        w.refill_pending = True
    return BALL_IN_PLAY


cdef void rebound_off_paddle(BreakoutWorld* w, float hit_x) noexcept nogil:
    # Where the ball lands sets where it goes: straight up from the centre, up to
    # BOUNCE_MAX_ANGLE toward the side it hit. This is the player's aim.
    w.paddle_hits += 1
    if w.paddle_hits % PADDLE_HITS_PER_SPEED_UP == 0:
        speed_up(w)
    cdef float offset = clamp((hit_x - w.paddle_x) / w.paddle_half_width, -1.0, 1.0)
    aim_ball(w, offset * BOUNCE_MAX_ANGLE)
    if w.refill_pending:
        build_wall(w)


# ---- The grid of walls and bricks ----

cdef inline int cell_of(float position, float velocity, float cell_size) noexcept nogil:
    # The cell the ball is in along one axis. On a boundary it is the cell behind the ball
    # (the one it is leaving), so a face the ball sits on is crossed when it moves on.
    cdef float cells = position / cell_size
    if velocity > 0:
        return <int>ceilf(cells) - 1
    return <int>floorf(cells)


cdef inline bint is_solid(BreakoutWorld* w, int column, int cell_row) noexcept nogil:
    # Columns outside the field are the side walls, rows above it the top wall.
    if column < 0 or column >= BRICK_COLUMNS or cell_row < 0:
        return True
    cdef int brick_row = cell_row - WALL_TOP_CELL_ROW
    return 0 <= brick_row < BRICK_ROWS and w.bricks[brick_row * BRICK_COLUMNS + column] != 0.0


# ---- Moving the ball for one frame ----

cdef inline bint in_open_space(float old_y, float new_x, float new_y) noexcept nogil:
    # True when the frame's path cannot meet anything: inside the side walls and either
    # between the bricks and the paddle or between the top wall and the bricks. Most frames
    # are like this and skip the collision search.
    cdef float low = old_y if old_y < new_y else new_y
    cdef float high = new_y if old_y < new_y else old_y
    return (0.0 < new_x) & (new_x < WIDTH) & (
        ((WALL_BOTTOM < low) & (high < PADDLE_Y)) | ((0.0 < low) & (high < WALL_TOP)))


cdef BallOutcome move_ball(BreakoutWorld* w) noexcept nogil:
    # Move the ball through one frame, meeting walls, bricks, the paddle and the bottom in the
    # order it reaches them. Times are in frames, from the ball's current position.
    cdef float remaining = 1.0
    cdef float x, y, vx, vy, end_x, end_y
    cdef int column, cell_row, steps_x, steps_y, step_column, step_row
    cdef float t_x, t_y, dt_x, dt_y, event_time, t, hit_x
    cdef int axis, collision, brick
    cdef bint paddle_first
    for collision in range(MAX_COLLISIONS_PER_FRAME):
        x, y, vx, vy = w.ball_x, w.ball_y, w.ball_vx, w.ball_vy
        end_x = x + vx * remaining
        end_y = y + vy * remaining

        # The first solid cell on the way: step cell by cell, always across the nearer
        # boundary, from the cell the ball is in to the cell it would end in. The ball is in
        # the field, so a cell behind it outside the field only means it sits on a wall it
        # is leaving: start from the field's cell instead.
        column = clamp_int(cell_of(x, vx, BRICK_WIDTH), 0, BRICK_COLUMNS - 1)
        cell_row = clamp_int(cell_of(y, vy, BRICK_HEIGHT), 0, CELL_ROWS - 1)
        steps_x = abs(cell_of(end_x, vx, BRICK_WIDTH) - column)
        steps_y = abs(cell_of(end_y, vy, BRICK_HEIGHT) - cell_row)
        step_column = 1 if vx > 0 else -1
        step_row = 1 if vy > 0 else -1
        t_x = t_y = dt_x = dt_y = INFINITY
        if steps_x:
            t_x = ((column + (step_column > 0)) * BRICK_WIDTH - x) / vx
            dt_x = BRICK_WIDTH / fabsf(vx)
        if steps_y:
            t_y = ((cell_row + (step_row > 0)) * BRICK_HEIGHT - y) / vy
            dt_y = BRICK_HEIGHT / fabsf(vy)
        axis = NO_AXIS
        event_time = remaining
        while steps_x + steps_y > 0:
            if steps_x > 0 and (steps_y == 0 or t_x < t_y):  # a tie crosses the horizontal face
                column += step_column
                steps_x -= 1
                if is_solid(w, column, cell_row):
                    axis, event_time = X_AXIS, t_x
                    break
                t_x += dt_x
            else:
                cell_row += step_row
                steps_y -= 1
                if is_solid(w, column, cell_row):
                    axis, event_time = Y_AXIS, t_y
                    break
                t_y += dt_y
        event_time = clamp(event_time, 0.0, remaining)

        # The paddle's top edge, if the ball goes down through it before that.
        paddle_first = False
        if vy > 0 and y <= PADDLE_Y < end_y:
            t = clamp((PADDLE_Y - y) / vy, 0.0, remaining)
            hit_x = x + vx * t
            if t <= event_time and fabsf(hit_x - w.paddle_x) <= w.paddle_half_width:
                paddle_first = True
                event_time = t

        # The open bottom, if the ball reaches it before anything else.
        if not paddle_first and end_y >= HEIGHT and (
                axis == NO_AXIS or (HEIGHT - y) / vy <= event_time):
            return BALL_LOST

        if paddle_first:
            w.ball_x = clamp(hit_x, 0.0, WIDTH)
            w.ball_y = PADDLE_Y
            remaining -= event_time
            rebound_off_paddle(w, w.ball_x)
            continue
        if axis == NO_AXIS:
            w.ball_x = end_x
            w.ball_y = end_y
            return BALL_IN_PLAY

        # Reflect off the face of the solid cell (column, cell_row). The ball stops exactly
        # on the face; its other coordinate stays inside the cell it is in, which exact
        # arithmetic guarantees and rounding could miss by an ulp.
        remaining -= event_time
        if axis == X_AXIS:
            w.ball_x = (column + (step_column < 0)) * BRICK_WIDTH
            w.ball_y = clamp(y + vy * event_time, cell_row * BRICK_HEIGHT,
                             min((cell_row + 1) * BRICK_HEIGHT, HEIGHT))
            w.ball_vx = -vx
        else:
            w.ball_y = (cell_row + (step_row < 0)) * BRICK_HEIGHT
            w.ball_x = clamp(x + vx * event_time, column * BRICK_WIDTH,
                             (column + 1) * BRICK_WIDTH)
            w.ball_vy = -vy
        if column < 0 or column >= BRICK_COLUMNS:
            continue  # a side wall
        if cell_row < 0:
            if not w.paddle_halved:  # the top wall, for the first time: the paddle halves
                w.paddle_halved = True
                w.paddle_half_width = 0.5 * w.paddle_half_width
            continue
        brick = (cell_row - WALL_TOP_CELL_ROW) * BRICK_COLUMNS + column
        if break_brick(w, brick) == ALL_WALLS_CLEARED:
            return ALL_WALLS_CLEARED
    return BALL_IN_PLAY


@cython.final
cdef class BreakoutCore(VectorCore):
    # Parameters.
    cdef readonly int frameskip
    cdef readonly bint continuous
    cdef readonly float reward_scale
    cdef readonly float lost_ball_penalty
    cdef readonly float paddle_width  # pixels, before any halving
    cdef readonly bint fresh_serve  # a lost ball restores the full paddle and the slowest speed
    # State: one table per world (one agent per world, so world == row).
    cdef BreakoutWorld* worlds

    def __cinit__(self, int num_worlds, int agents_per_world, *, int frameskip, bint continuous,
                  float reward_scale, float lost_ball_penalty=0.0,
                  float paddle_width=DEFAULT_PADDLE_WIDTH, bint fresh_serve=False):
        # The Python game validates with clear messages; these checks only keep a direct
        # caller from corrupting memory.
        if agents_per_world != 1:
            raise ValueError(f"Breakout has one agent per world, got {agents_per_world}")
        if not 1 <= frameskip <= 8:
            raise ValueError(f"frameskip must be in [1, 8], got {frameskip}")
        if not MIN_PADDLE_WIDTH <= paddle_width <= MAX_PADDLE_WIDTH:
            raise ValueError(f"paddle_width must be in [{MIN_PADDLE_WIDTH}, {MAX_PADDLE_WIDTH}], "
                             f"got {paddle_width}")
        self.paddle_width = paddle_width
        self.frameskip = frameskip
        self.continuous = continuous
        self.reward_scale = reward_scale
        self.lost_ball_penalty = lost_ball_penalty
        self.fresh_serve = fresh_serve
        self.observation_bytes = OBSERVATION_SIZE * sizeof(float)
        self.num_game_stats = 2  # score, perf
        self.worlds = <BreakoutWorld*>calloc(num_worlds, sizeof(BreakoutWorld))
        if not self.worlds:
            raise MemoryError("could not allocate the breakout worlds")
        cdef int world
        for world in range(num_worlds):
            start_episode(&self.worlds[world], &self.rngs[world], paddle_width)

    def __dealloc__(self):
        free(self.worlds)

    # ---- The hooks of the shared loop ----

    cdef void reset_world(self, int world) noexcept nogil:
        start_episode(&self.worlds[world], &self.rngs[world], self.paddle_width)

    cdef inline float paddle_velocity(self, int row) noexcept nogil:
        cdef float fraction
        cdef int action
        if self.continuous:
            fraction = (<float*>self.actions)[row]
            if not fraction >= -1.0:  # also NaN, which the wrapper never lets through
                fraction = -1.0
            elif fraction > 1.0:
                fraction = 1.0
            return fraction * PADDLE_SPEED
        action = (<int*>self.actions)[row]
        if action == LEFT:
            return -PADDLE_SPEED
        if action == RIGHT:
            return PADDLE_SPEED
        return 0.0

    cdef void step_world(self, int world) noexcept nogil:
        if self.resetting[world]:
            return
        cdef BreakoutWorld* w = &self.worlds[world]
        cdef float velocity = self.paddle_velocity(world)
        cdef int score_before = w.score, balls_before = w.balls_left, frame
        cdef BallOutcome outcome
        cdef float x, y
        # The moving parts live in locals (registers) through the frames; the rare frame that
        # meets something hands them to move_ball through the world and reloads them after.
        cdef float paddle_x = w.paddle_x, ball_x = w.ball_x, ball_y = w.ball_y
        cdef float ball_vx = w.ball_vx, ball_vy = w.ball_vy
        cdef float paddle_low = w.paddle_half_width, paddle_high = WIDTH - w.paddle_half_width
        for frame in range(self.frameskip):
            paddle_x = clamp(paddle_x + velocity, paddle_low, paddle_high)
            x = ball_x + ball_vx
            y = ball_y + ball_vy
            if in_open_space(ball_y, x, y):
                ball_x = x
                ball_y = y
                continue
            w.paddle_x, w.ball_x, w.ball_y = paddle_x, ball_x, ball_y
            outcome = move_ball(w)
            if outcome == BALL_LOST:
                w.balls_left -= 1
                if w.balls_left > 0:
                    if self.fresh_serve:
                        restore_serve_conditions(w, self.paddle_width)
                    serve_ball(w, &self.rngs[world])
            ball_x, ball_y, ball_vx, ball_vy = w.ball_x, w.ball_y, w.ball_vx, w.ball_vy
            paddle_low, paddle_high = w.paddle_half_width, WIDTH - w.paddle_half_width
            if outcome == ALL_WALLS_CLEARED or w.balls_left == 0:
                self.terminations[world] = 1
                break
        w.paddle_x, w.ball_x, w.ball_y = paddle_x, ball_x, ball_y
        self.rewards[world] = ((w.score - score_before) * self.reward_scale
                               - (balls_before - w.balls_left) * self.lost_ball_penalty)

    cdef void write_observation(self, int row, char* out) noexcept nogil:
        # Every number scaled so the Box bounds are exact: positions by the field's size,
        # velocities by the maximum speed; the physics keeps the raw values in range.
        cdef float* observation = <float*>out
        cdef BreakoutWorld* w = &self.worlds[row]
        observation[0] = w.paddle_x / WIDTH
        observation[1] = PADDLE_Y / HEIGHT
        observation[2] = w.ball_x / WIDTH
        observation[3] = w.ball_y / HEIGHT
        observation[4] = w.ball_vx / BALL_MAX_SPEED
        observation[5] = w.ball_vy / BALL_MAX_SPEED
        observation[6] = w.balls_left / <float>BALLS
        observation[7] = w.score / <float>MAX_SCORE
        observation[8] = w.paddle_half_width / (0.5 * self.paddle_width)
        memcpy(observation + OBSERVATION_HEADER, w.bricks, sizeof(w.bricks))

    cdef void write_game_stats(self, int row, double* out) noexcept nogil:
        out[0] = self.worlds[row].score
        out[1] = self.worlds[row].score / <double>MAX_SCORE

    # ---- Snapshots (get_state / set_state, never per step) ----

    cdef dict game_records(self):
        # A BreakoutWorld holds no pointer: it is the whole state of a table.
        return {"worlds": np.asarray(<BreakoutWorld[:self.num_worlds]>self.worlds)}

    cdef check_game_state(self, dict arrays):
        # Every index the rules derive from a table is bounds-checked (is_solid, clamp_index),
        # so any bytes are memory-safe; only a NaN or infinite position could reach an
        # undefined float-to-int conversion (cell_of).
        cdef const unsigned char[:, ::1] tables = arrays["worlds"]
        cdef const BreakoutWorld* w
        cdef int world
        for world in range(self.num_worlds):
            w = <const BreakoutWorld*>&tables[world, 0]
            if not (isfinite(w.paddle_x) and isfinite(w.paddle_half_width)
                    and isfinite(w.ball_x) and isfinite(w.ball_y)
                    and isfinite(w.ball_vx) and isfinite(w.ball_vy)):
                raise ValueError(
                    f"state['game.worlds'] holds a non-finite position or velocity in world {world}"
                )

    # ---- Python-level inspection (never per step; the test setters are tests/envs/setters.py) ----

    cdef BreakoutWorld* checked_world(self, world) except NULL:
        return &self.worlds[self.world_index(world)]

    def state(self, world):
        """A copy of one world's state, in pixels and pixels per frame (for tests and renderers)."""
        cdef BreakoutWorld* w = self.checked_world(world)
        bricks = np.asarray(<float[:BRICK_COUNT]>w.bricks).copy().reshape(BRICK_ROWS, BRICK_COLUMNS)
        return {
            "paddle_x": float(w.paddle_x),
            "paddle_y": float(PADDLE_Y),
            "paddle_width": float(2.0 * w.paddle_half_width),
            "ball_x": float(w.ball_x),
            "ball_y": float(w.ball_y),
            "ball_vx": float(w.ball_vx),
            "ball_vy": float(w.ball_vy),
            "ball_speed": float(ball_speed(w.speed_level)),
            "speed_level": int(w.speed_level),
            "bricks": bricks,
            "bricks_left": int(w.bricks_left),
            "score": int(w.score),
            "balls_left": int(w.balls_left),
            "paddle_hits": int(w.paddle_hits),
            "walls_cleared": int(w.walls_cleared),
            "refill_pending": bool(w.refill_pending),
            "paddle_halved": bool(w.paddle_halved),
            "reached_middle_rows": bool(w.reached_middle_rows),
            "reached_top_rows": bool(w.reached_top_rows),
        }
