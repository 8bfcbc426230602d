"""The play loop's logic, driven by scripted keys on a headless window: the game's keys act,
P pauses, R resets, +/- change the speed, Esc quits, a finished game waits for SPACE, and in a
multi-agent world the others follow the given policy."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

from shoal.render.array_canvas import ArrayCanvas
from shoal.render.play import HELP_HEIGHT, MAX_STEPS_PER_SECOND, Controls, PlaySession
from tests.envs.conftest import small_kwargs


class HeadlessWindow(ArrayCanvas):
    """A window that shows nothing: it keeps the last frame and the pace asked for."""

    def __init__(self, width: int, height: int):
        super().__init__(width, height)
        self.fps_history: list[int] = []
        self.presented = 0

    def begin(self) -> None:
        pass

    def present(self) -> None:
        self.presented += 1

    def set_fps(self, fps: int) -> None:
        self.fps_history.append(fps)


class ScriptedKeyboard:
    """Frame i holds the keys script[i] (then none); Esc after the script if quit_at_end."""

    def __init__(self, script: list[set[str]], quit_at_end: bool = True):
        self.script = [frozenset(keys) for keys in script]
        self.frame = 0
        self.quit_at_end = quit_at_end

    def keys_at(self, frame: int) -> frozenset[str]:
        if frame < 0:
            return frozenset()
        if frame < len(self.script):
            return self.script[frame]
        return frozenset({"ESCAPE"}) if self.quit_at_end else frozenset()

    def keys_down(self) -> frozenset[str]:
        self.frame += 1  # the loop asks for the held keys first each frame
        return self.keys_at(self.frame - 1)

    def keys_pressed(self) -> frozenset[str]:
        return self.keys_at(self.frame - 1) - self.keys_at(self.frame - 2)

    def should_close(self) -> bool:
        return False


def session_for(env_id: str, script, num_envs: int = 1, **kwargs):
    envs = gymnasium.make_vec(env_id, num_envs=num_envs, **kwargs)
    scene = envs.scene
    window = HeadlessWindow(scene.width, scene.height + HELP_HEIGHT)
    controls = envs.presentation.controls()
    return envs, window, PlaySession(envs, window, ScriptedKeyboard(script), controls, seed=0)


def test_holding_right_moves_the_paddle_right_and_esc_quits():
    envs, window, session = session_for("shoal/Breakout-v0", [{"RIGHT"}] * 10)
    result = session.run(max_frames=1000)
    assert result.steps == 10  # the 11th frame held Esc
    assert result.action_counts == {2: 10}
    assert envs.core.state(0)["paddle_x"] > 288  # from the centre, to the right
    assert window.presented == 10


def test_no_key_is_noop_in_breakout_and_keeps_the_direction_in_snake():
    _, _, breakout = session_for("shoal/Breakout-v0", [set()] * 3)
    assert breakout.run().action_counts == {0: 3}
    envs, _, snake = session_for("shoal/Snake-v0", [{"D"}, set(), set()])
    result = snake.run()
    assert result.action_counts == {1: 3}  # D steers right; then the snake keeps going right


def test_p_pauses_and_resumes():
    script = [{"RIGHT"}, {"P"}, {"RIGHT"}, {"RIGHT"}, {"P"}, {"RIGHT"}]
    _, _, session = session_for("shoal/Breakout-v0", script)
    result = session.run()
    # Frame 2 pauses (no step), frames 3-4 stay paused, frame 5 resumes and steps.
    assert result.steps == 3


def test_r_resets_the_world():
    _, _, session = session_for("shoal/Breakout-v0", [{"RIGHT"}] * 5 + [{"R"}])
    session.run()
    assert session.env.core.state(0)["paddle_x"] == 288  # centred again
    assert session.env.scene_state()["step"] == 0


def test_plus_and_minus_change_the_pace_within_bounds():
    _, window, session = session_for("shoal/Breakout-v0", [{"EQUAL"}, set(), {"MINUS"}, set(), {"MINUS"}])
    session.steps_per_second = 20
    session.run()
    assert window.fps_history == [20, 30, 20, 13]
    _, window, fast = session_for("shoal/Breakout-v0", [{"KP_ADD"}, set()] * 30)
    fast.run()
    assert window.fps_history[-1] == MAX_STEPS_PER_SECOND


def test_a_finished_game_waits_for_space():
    # One ball lost at once: a 1-ball game ends within a few dozen steps of doing nothing.
    envs, window, session = session_for("shoal/Breakout-v0", [set()] * 400 + [{"SPACE"}, set()])
    session.run()
    assert session.result.episodes == 1 and len(session.result.scores) == 1
    # No step from the end of the episode until SPACE (the first 400 frames hold far more
    # steps than a game of doing nothing lasts); then the reset step and one more.
    assert session.result.steps < 400
    assert envs.scene_state()["step"] == 1


def test_game_over_shows_in_the_help_bar():
    envs, window, session = session_for("shoal/Breakout-v0", [set()] * 400)
    session.run()
    assert session.game_over
    assert session.status().startswith("GAME OVER: SCORE")


def test_in_a_multi_agent_world_the_others_follow_the_policy():
    kwargs = small_kwargs("shoal/SnakeArena-v0")
    agents = kwargs["snakes_per_arena"]
    calls = []

    def others(observations, episode_starts):
        calls.append(episode_starts.copy())
        return np.full(len(observations), 3, dtype=np.int64)  # everyone left

    envs = gymnasium.make_vec("shoal/SnakeArena-v0", num_envs=agents, render_env_index=1, **kwargs)
    window = HeadlessWindow(envs.scene.width, envs.scene.height + HELP_HEIGHT)
    session = PlaySession(envs, window, ScriptedKeyboard([{"UP"}] * 4), envs.presentation.controls(),
                          agent=1, others=others, seed=0)
    session.run()
    assert len(calls) == 4 and calls[0].all()  # the first call starts every episode
    assert session.result.action_counts == {0: 4}  # the player's snake went up


def test_controls_pick_the_first_held_key_and_map_letters_for_gymnasium_play():
    controls = Controls(keys={"LEFT": 1, "A": 1, "RIGHT": 2}, idle_action=0, help="")
    assert controls.action(frozenset({"RIGHT", "LEFT"}), 0) == 1
    assert controls.action(frozenset(), 2) == 0
    assert controls.keys_to_action() == {("a",): 1}
    repeating = Controls(keys={"UP": 0}, idle_action=None, help="")
    assert repeating.action(frozenset(), 3) == 3


@pytest.mark.parametrize("env_id", ["shoal/Breakout-v0", "shoal/Snake-v0"])
def test_the_help_bar_is_drawn_under_the_scene(env_id):
    _, window, session = session_for(env_id, [set()])
    session.run()
    help_bar = window.pixels[session.scene.height:]
    assert help_bar.shape[0] == HELP_HEIGHT
    assert len(np.unique(help_bar.reshape(-1, 3), axis=0)) >= 3  # background, help, status


def test_a_turn_based_game_moves_once_per_key_press():
    # 2048: holding a key for three frames is one move; frames without a press are no steps.
    script = [{"LEFT"}, {"LEFT"}, {"LEFT"}, set(), {"UP"}, set(), set()]
    _, _, session = session_for("shoal/2048-v0", script)
    result = session.run()
    assert result.action_counts == {3: 1, 0: 1}
    assert session.env.scene_state()["step"] == 2


def test_walking_a_maze_to_its_goal_scores_its_success():
    # The loop seeds the maze with 0, so a twin env reset alike shows the path to walk.
    twin = gymnasium.make_vec("shoal/Maze-v0", num_envs=1, min_size=5, max_size=5)
    twin.reset(seed=0)
    state = twin.core.state(0)
    tiles, (row, column), goal = state["tiles"], state["agent"], state["goal"]
    keys, moves = [], {"UP": (-1, 0), "RIGHT": (0, 1), "DOWN": (1, 0), "LEFT": (0, -1)}
    came_from = {(row, column): None}  # breadth-first search for the path's keys
    frontier = [(row, column)]
    while goal not in came_from:
        following = []
        for here in frontier:
            for key, (dr, dc) in moves.items():
                there = (here[0] + dr, here[1] + dc)
                if tiles[there] != 0 and there not in came_from:
                    came_from[there] = (here, key)
                    following.append(there)
        frontier = following
    here = goal
    while came_from[here] is not None:
        here, key = came_from[here]
        keys.insert(0, key)
    script = [frame for key in keys for frame in ({key}, set())]  # press, release
    _, _, session = session_for("shoal/Maze-v0", script, min_size=5, max_size=5)
    result = session.run()
    assert result.steps == len(keys) == state["shortest"]
    assert result.scores == [1.0] and session.score_name == "success"
    assert session.status().startswith("GAME OVER: SUCCESS 1")


def test_an_assisted_game_flies_where_the_held_keys_ask():
    # Drone: the keys set a velocity that a controller turns into motor commands every step.
    # Holding W and E flies forward (+x) and up; letting go holds the position.
    script = [{"W", "E"}] * 60 + [set()] * 60
    envs, _, session = session_for("shoal/Drone-v0", script)
    start = envs.core.state(0)["position"].copy()
    result = session.run()
    state = envs.core.state(0)
    assert result.steps == 120 and result.episodes == 0
    assert state["position"][0] > start[0] + 0.5 and state["position"][2] > start[2] + 0.2
    assert np.linalg.norm(state["velocity"]) < 0.2  # slowed to a hover after the keys
    forward_and_up = tuple(np.add(session.controls.keys["W"], session.controls.keys["E"]))
    assert result.action_counts == {forward_and_up: 60, (0.0, 0.0, 0.0, 0.0): 60}


def test_playing_one_mmo_agent_while_the_others_act_at_random():
    # Arrows move the played agent; W attacks north; the other 7 agents act at random.
    script = [{"RIGHT"}, {"RIGHT"}, {"W"}, set()]
    envs, _, session = session_for("shoal/MMO-v0", script, num_envs=8, agents_per_world=8,
                                   width=32, height=32, npcs_per_world=2)
    result = session.run()
    assert result.steps == 4 and result.action_counts == {2: 2, 5: 1, 0: 1}
    assert session.status().endswith("STEPS/S")  # a real-time world: it never waits
