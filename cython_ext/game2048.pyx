# 2048: slide numbered tiles on a 4 x 4 board; two equal tiles that meet merge into their sum.
#
# The rules, in the order this file applies them:
#
#   board       4 x 4 cells, each empty or holding a tile 2^k, kept as its exponent k (0: empty).
#   a move      slides every tile as far as it goes toward one side: 0 up, 1 right, 2 down,
#               3 left. Along each line, starting from the side moved toward, two equal tiles
#               that meet merge into one tile of the next exponent, and a merged tile does not
#               merge again in the same move: [2,2,2,2] left gives [4,4,0,0], [4,2,2,0] left
#               gives [4,4,0,0], [2,2,4,0] left gives [4,4,0,0].
#   reward      each merge into 2^k earns k (reward_mode "exponent", the default) or 2^k
#               ("score", the game's own points), times reward_scale.
#   spawning    after a move that changed the board, a new tile appears on a uniformly random
#               empty cell: a 2 with probability 0.9, else a 4. A move that changes nothing
#               spawns nothing and costs invalid_move_penalty.
#   starting    two tiles spawned on an empty board.
#   the end     the episode terminates when no move would change the board.
#   statistics  score (the game's points: 2^k for every merge into 2^k) and max_tile (2^k of
#               the largest tile).
#
# Speed: a move is four line moves, and a line of four exponents below 15 fits in 16 bits, so
# every such line's outcome is looked up in a table built once from the rule above
# (move_line); lines holding a 32768 tile or more are moved by the rule directly.
cimport cython
from libc.stdint cimport uint16_t, uint32_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

from shoal._ext.core cimport VectorCore
from shoal._ext.rng cimport Rng, rng_below, rng_uniform

import numpy as np

cdef enum:
    SIDE = 4
    CELLS = 16
    ACTIONS = 4
    UP = 0
    RIGHT = 1
    DOWN = 2
    LEFT = 3
    # A 4 x 4 board reaches at most 2^17: each merge needs a tile one exponent lower.
    MAX_EXPONENT = 17
    # Lines whose exponents are all below this are looked up (4 bits each).
    TABLE_EXPONENT_LIMIT = 15
    TABLE_SIZE = 65536
cdef const double FOUR_PROBABILITY = 0.1

# Python-visible rules, for tests, scenes and the game module.
BOARD_SIDE = SIDE
NUM_ACTIONS = ACTIONS
MAX_TILE_EXPONENT = MAX_EXPONENT
ACTION_NAMES = ("up", "right", "down", "left")
REWARD_MODES = {"exponent": 0, "score": 1}


cdef struct LineMove:
    # The outcome of moving one line toward its first cell (4-bit exponents, first in the low
    # bits): the line after, whether it changed, and what its merges earned.
    uint16_t after
    bint changed
    uint16_t exponents  # the sum of k over merges into 2^k
    uint32_t points  # the sum of 2^k over merges into 2^k


cdef struct Board:
    unsigned char cells[CELLS]  # exponents, row-major from the top-left; first, for the memcpy
    long long score  # the game's points so far
    int max_exponent
    # Bit a set when moving toward action a changes the board: computed once per board
    # change, it decides the end of the game and is the action mask.
    unsigned char legal_moves


# ---- The rule for one line ----

cdef void move_line(unsigned char* line, unsigned int* exponents, unsigned long long* points) noexcept nogil:
    # Move the 4 exponents of `line` toward line[0], merging as the rules say; add what the
    # merges earn to exponents and points.
    cdef unsigned char out[SIDE]
    cdef int read, write = 0
    cdef bint can_merge = False  # out[write - 1] may still take a merge
    for read in range(SIDE):
        out[read] = 0
    for read in range(SIDE):
        if line[read] == 0:
            continue
        if can_merge and out[write - 1] == line[read]:
            out[write - 1] += 1
            exponents[0] += out[write - 1]
            points[0] += 1ULL << out[write - 1]
            can_merge = False  # a merged tile does not merge again this move
        else:
            out[write] = line[read]
            write += 1
            can_merge = True
    for read in range(SIDE):
        line[read] = out[read]


cdef LineMove LINE_MOVES[TABLE_SIZE]


cdef void build_line_table() noexcept nogil:
    cdef unsigned char line[SIDE]
    cdef unsigned int exponents
    cdef unsigned long long points
    cdef int key, i, after
    for key in range(TABLE_SIZE):
        exponents = 0
        points = 0
        for i in range(SIDE):
            line[i] = (key >> (4 * i)) & 15
        move_line(line, &exponents, &points)
        after = 0
        for i in range(SIDE):
            after |= line[i] << (4 * i)
        LINE_MOVES[key].after = <uint16_t>after
        LINE_MOVES[key].changed = after != key
        LINE_MOVES[key].exponents = <uint16_t>exponents
        LINE_MOVES[key].points = <uint32_t>points


build_line_table()

# LINE_CELLS[action][line][i]: the board cell at position i of a line, counted from the side
# the tiles move toward.
cdef int LINE_CELLS[ACTIONS][SIDE][SIDE]


cdef void build_line_cells() noexcept nogil:
    cdef int line, i
    for line in range(SIDE):
        for i in range(SIDE):
            LINE_CELLS[UP][line][i] = i * SIDE + line
            LINE_CELLS[DOWN][line][i] = (SIDE - 1 - i) * SIDE + line
            LINE_CELLS[LEFT][line][i] = line * SIDE + i
            LINE_CELLS[RIGHT][line][i] = line * SIDE + SIDE - 1 - i


build_line_cells()


# ---- Moves on a board ----

cdef bint move_board(Board* board, int action, bint apply, unsigned int* exponents,
                     unsigned long long* points) noexcept nogil:
    # Whether moving toward `action` changes the board; with apply, also do it and add the
    # merges' earnings.
    cdef int line, i, key
    cdef bint changed = False, small
    cdef unsigned char cells[SIDE]
    cdef unsigned char before[SIDE]
    cdef const int* at
    cdef LineMove* outcome
    for line in range(SIDE):
        at = LINE_CELLS[action][line]
        key = 0
        small = True
        for i in range(SIDE):
            cells[i] = board.cells[at[i]]
            small = small and cells[i] < TABLE_EXPONENT_LIMIT
            key |= cells[i] << (4 * i)
        if small:
            outcome = &LINE_MOVES[key]
            if not outcome.changed:
                continue
            changed = True
            if not apply:
                return True
            exponents[0] += outcome.exponents
            points[0] += outcome.points
            for i in range(SIDE):
                board.cells[at[i]] = (outcome.after >> (4 * i)) & 15
        else:
            memcpy(before, cells, SIDE)
            move_line(cells, exponents, points)  # without apply the caller's sums are scratch
            if same_line(before, cells):
                continue
            changed = True
            if not apply:
                return True
            for i in range(SIDE):
                board.cells[at[i]] = cells[i]
    return changed


cdef inline bint same_line(unsigned char* a, unsigned char* b) noexcept nogil:
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


cdef void spawn_tile(Board* board, Rng* rng) noexcept nogil:
    # A 2 (exponent 1) or, with probability 0.1, a 4 on a uniformly random empty cell.
    cdef int empty = 0, cell, pick
    for cell in range(CELLS):
        empty += board.cells[cell] == 0
    if empty == 0:
        return
    pick = <int>rng_below(rng, <uint32_t>empty)
    for cell in range(CELLS):
        if board.cells[cell] == 0:
            if pick == 0:
                board.cells[cell] = 2 if rng_uniform(rng) < FOUR_PROBABILITY else 1
                if board.cells[cell] > board.max_exponent:
                    board.max_exponent = board.cells[cell]
                return
            pick -= 1


cdef unsigned char legal_moves(Board* board) noexcept nogil:
    cdef unsigned int unused_exponents = 0
    cdef unsigned long long unused_points = 0
    cdef unsigned char legal = 0
    cdef int action
    for action in range(ACTIONS):
        if move_board(board, action, False, &unused_exponents, &unused_points):
            legal |= 1 << action
    return legal


@cython.final
cdef class Game2048Core(VectorCore):
    cdef readonly int reward_mode  # REWARD_MODES
    cdef readonly float reward_scale
    cdef readonly float invalid_move_penalty
    cdef Board* boards

    def __cinit__(self, int num_worlds, int agents_per_world, *, int reward_mode,
                  float reward_scale, float invalid_move_penalty):
        if agents_per_world != 1 or reward_mode not in REWARD_MODES.values():
            raise ValueError("2048 has one agent per world and reward_mode 0 or 1")
        self.reward_mode = reward_mode
        self.reward_scale = reward_scale
        self.invalid_move_penalty = invalid_move_penalty
        self.observation_bytes = CELLS
        self.num_game_stats = 2  # score, max_tile
        self.action_mask_size = ACTIONS
        self.boards = <Board*>calloc(num_worlds, sizeof(Board))
        if not self.boards:
            raise MemoryError("could not allocate the 2048 boards")

    def __dealloc__(self):
        free(self.boards)

    # ---- The loop's hooks ----

    cdef void reset_world(self, int world) noexcept nogil:
        cdef Board* board = &self.boards[world]
        cdef int cell
        for cell in range(CELLS):
            board.cells[cell] = 0
        board.score = 0
        board.max_exponent = 0
        spawn_tile(board, &self.rngs[world])
        spawn_tile(board, &self.rngs[world])
        board.legal_moves = legal_moves(board)

    cdef void step_world(self, int world) noexcept nogil:
        if self.resetting[world]:
            return
        cdef Board* board = &self.boards[world]
        cdef int action = (<int*>self.actions)[world]
        cdef unsigned int exponents = 0
        cdef unsigned long long points = 0
        cdef int cell
        if not (board.legal_moves >> action) & 1:
            self.rewards[world] = -self.invalid_move_penalty  # nothing moves, nothing spawns
            return
        move_board(board, action, True, &exponents, &points)
        board.score += <long long>points
        for cell in range(CELLS):
            if board.cells[cell] > board.max_exponent:
                board.max_exponent = board.cells[cell]
        spawn_tile(board, &self.rngs[world])
        if self.reward_mode == 0:
            self.rewards[world] = self.reward_scale * <float>exponents
        else:
            self.rewards[world] = self.reward_scale * <float>points
        board.legal_moves = legal_moves(board)
        if board.legal_moves == 0:
            self.terminations[world] = 1

    cdef void write_observation(self, int row, char* out) noexcept nogil:
        memcpy(out, self.boards[row].cells, CELLS)

    cdef void write_action_mask(self, int row, unsigned char* out) noexcept nogil:
        cdef int action
        for action in range(ACTIONS):
            out[action] = (self.boards[row].legal_moves >> action) & 1

    cdef void write_game_stats(self, int row, double* out) noexcept nogil:
        out[0] = <double>self.boards[row].score
        cdef int largest = self.boards[row].max_exponent
        out[1] = <double>(1 << largest) if largest > 0 else 0.0

    # ---- Snapshots ----

    cdef dict game_records(self):
        # A Board holds no pointer: it is the whole state of a game.
        return {"boards": np.asarray(<Board[:self.num_worlds]>self.boards)}

    cdef check_game_state(self, dict arrays):
        # Exponents index the line table (4 bits at a time) and shift 1: keep them in range.
        cdef const unsigned char[:, ::1] tables = arrays["boards"]
        cdef const Board* board
        cdef int world, cell
        for world in range(self.num_worlds):
            board = <const Board*>&tables[world, 0]
            for cell in range(CELLS):
                if board.cells[cell] > MAX_EXPONENT:
                    raise ValueError(
                        f"state['game.boards'] holds exponent {board.cells[cell]} in world "
                        f"{world}; at most {MAX_EXPONENT}"
                    )
            if not 0 <= board.max_exponent <= MAX_EXPONENT:
                raise ValueError(f"state['game.boards'] holds a bad max tile in world {world}")
            # The saved legal moves must be the board's: they end the game and are its mask.
            if board.legal_moves != legal_moves(<Board*>board):
                raise ValueError(
                    f"state['game.boards'] holds legal moves that do not fit the board in "
                    f"world {world}"
                )

    # ---- Python-level inspection (never per step; the test setters are tests/envs/setters.py) ----

    cdef Board* checked_board(self, world) except NULL:
        return &self.boards[self.world_index(world)]

    def state(self, world):
        """A copy of one board: cells (uint8 [4, 4] exponents, 0 empty), score, max_tile."""
        cdef Board* board = self.checked_board(world)
        return {
            "cells": np.asarray(<unsigned char[:CELLS]>board.cells).copy().reshape(SIDE, SIDE),
            "score": int(board.score),
            "max_tile": (1 << board.max_exponent) if board.max_exponent else 0,
        }


def move_line_by_rule(line):
    """The rule itself on one line of exponents (moved toward its first entry): (line after,
    exponents earned, points earned). For tests."""
    cdef unsigned char cells[SIDE]
    cdef unsigned int exponents = 0
    cdef unsigned long long points = 0
    values = [int(v) for v in line]
    if len(values) != SIDE or not all(0 <= v <= MAX_EXPONENT for v in values):
        raise ValueError(f"line must be 4 exponents in [0, {MAX_EXPONENT}], got {line!r}")
    for i in range(SIDE):
        cells[i] = values[i]
    move_line(cells, &exponents, &points)
    return [int(cells[i]) for i in range(SIDE)], int(exponents), int(points)
