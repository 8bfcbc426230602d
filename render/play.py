"""Playing a game with the keyboard: the keys a game answers to, and the interactive loop.

The loop receives an env (a shoal vector env of one world), the window it draws in and the
keyboard it reads; it never makes envs itself (the CLI does), and the keyboard is any object
with `keys_down()` and `should_close()`, so tests drive it with scripted keys.

Keys (names as in raylib: LEFT, A, SPACE, ...):
    the game's keys     act (arrows or WASD)
    P                   pause / resume
    R                   reset the world
    + / -               faster / slower
    Esc                 quit
After a single-agent game ends the loop waits: SPACE (or a game key) plays again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from shoal.render.canvas import Canvas, Color

FASTER_KEYS = frozenset({"EQUAL", "KP_ADD"})
SLOWER_KEYS = frozenset({"MINUS", "KP_SUBTRACT"})
SPEED_FACTOR = 1.5
MIN_STEPS_PER_SECOND, MAX_STEPS_PER_SECOND = 1, 240
LOOP_HELP = "P PAUSE   R RESET   +/- SPEED   ESC QUIT"
TURN_BASED_FPS = 30

#: The bar under the scene with the keys and the loop's status: three lines of text.
HELP_LINE_HEIGHT = 10
HELP_HEIGHT = 3 * HELP_LINE_HEIGHT + 6
HELP_BACKGROUND: Color = (16, 16, 22)
HELP_TEXT: Color = (170, 170, 180)
STATUS_TEXT: Color = (250, 220, 90)


@dataclasses.dataclass(frozen=True)
class Controls:
    """The keys that play a game.

    keys: key name -> action; when several are held the first in this order wins.
    idle_action: the action while no game key is held; None repeats the last one (Snake
    keeps going straight).
    help: one line saying which keys do what, shown under the scene.
    turn_based: the game waits for the player: one step per key press, none while no key is
    pressed (2048), instead of one step per frame.
    assist: for games nobody can play with raw actions (Drone's motor commands): the keys
    then name commands (arrays), every held key's command adds up (idle_action with none
    held), and assist(state, command) turns the sum into the action each step, from the
    state the scene draws (a small controller, say).
    """

    keys: Mapping[str, Any]
    idle_action: Any | None
    help: str
    first_action: Any = 0
    turn_based: bool = False
    assist: Callable[[Mapping[str, Any], np.ndarray], Any] | None = None

    def action(self, keys_down: frozenset[str], last_action: Any,
               state: Mapping[str, Any] | None = None) -> Any:
        if self.assist is not None:
            if state is None:
                raise ValueError("an assisted game's action needs the state it flies from")
            return self.assist(state, self.command(keys_down))
        for name, action in self.keys.items():
            if name in keys_down:
                return action
        return last_action if self.idle_action is None else self.idle_action

    def command(self, keys_down: frozenset[str]) -> np.ndarray:
        """Assisted games: the sum of the held keys' commands (idle_action with none held)."""
        held = [np.asarray(command, dtype=np.float64) for name, command in self.keys.items()
                if name in keys_down]
        return np.sum(held, axis=0) if held else np.asarray(self.idle_action, dtype=np.float64)

    def keys_to_action(self) -> dict[tuple[str, ...], Any]:
        """The mapping gymnasium.utils.play takes: the letter keys (WASD), as characters."""
        if self.assist is not None:
            raise ValueError(
                "this game is played through an assisting controller (its keys set commands, "
                "not actions), which gymnasium.utils.play cannot run: use `shoal play`"
            )
        return {(name.lower(),): action for name, action in self.keys.items() if len(name) == 1}


def direction_keys(up: Any, right: Any, down: Any, left: Any) -> dict[str, Any]:
    """The arrows and WASD mapped to four direction actions (Snake, 2048)."""
    return {"UP": up, "W": up, "RIGHT": right, "D": right,
            "DOWN": down, "S": down, "LEFT": left, "A": left}


class Keyboard(Protocol):
    def keys_down(self) -> frozenset[str]:
        """The keys held now (the game's keys act while held)."""

    def keys_pressed(self) -> frozenset[str]:
        """The keys pressed since the last frame, even if already released (a quick tap)."""

    def should_close(self) -> bool:
        """The window was asked to close."""


class Window(Protocol):
    """Where the loop draws: a canvas that shows one frame at a time at a set pace."""

    width: int
    height: int

    def begin(self) -> None: ...

    def present(self) -> None: ...

    def set_fps(self, fps: int) -> None: ...


@dataclasses.dataclass
class PlayResult:
    steps: int = 0
    episodes: int = 0
    scores: list[float] = dataclasses.field(default_factory=list)
    action_counts: dict[Any, int] = dataclasses.field(default_factory=dict)


class PlaySession:
    """One game played in a window: `run()` loops until Esc (or max_frames)."""

    def __init__(
        self,
        env: Any,
        window: Window,
        keyboard: Keyboard,
        controls: Controls,
        *,
        agent: int = 0,
        others: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
        steps_per_second: float = 30,
        seed: int | None = None,
    ):
        self.env, self.window, self.keyboard, self.controls = env, window, keyboard, controls
        self.scene = env.scene
        self.agent = agent
        self.others = others
        self.steps_per_second = float(steps_per_second)
        self.seed = seed
        self.random_actions = env.action_space
        self.random_actions.seed(seed)
        self.result = PlayResult()
        self.paused = False
        self.game_over = False
        self.last_action = controls.first_action
        self.observations: np.ndarray | None = None
        self.episode_starts = np.ones(env.num_envs, dtype=bool)
        score_stat = getattr(env, "score_stat", "score")  # Maze: success
        self.score_name = score_stat if score_stat in env.stat_names else "return"

    def run(self, max_frames: int | None = None) -> PlayResult:
        self.observations, _ = self.env.reset(seed=self.seed)
        self.episode_starts[:] = True
        self.window.set_fps(self.frame_rate())
        frame = 0
        while max_frames is None or frame < max_frames:
            frame += 1
            keys = self.keyboard.keys_down()
            pressed = self.keyboard.keys_pressed()
            if "ESCAPE" in pressed or self.keyboard.should_close():
                break
            was_reset = self.handle_loop_keys(pressed)
            if self.game_over and (pressed & ({"SPACE"} | set(self.controls.keys))):
                self.game_over = False  # the env resets this row on the next step
            waiting = self.controls.turn_based and not (pressed & set(self.controls.keys))
            if not (self.paused or self.game_over or was_reset or waiting):
                # A reset shows the start first; a tap shorter than a frame still steers.
                self.step(pressed if self.controls.turn_based else keys | pressed)
            self.draw()
        return self.result

    def handle_loop_keys(self, pressed: frozenset[str]) -> bool:
        """Pause, reset and speed keys; True when the world was reset."""
        if "P" in pressed:
            self.paused = not self.paused
        if "R" in pressed:
            self.observations, _ = self.env.reset()
            self.episode_starts[:] = True
            self.game_over = False
            self.last_action = self.controls.first_action
        if pressed & (FASTER_KEYS | SLOWER_KEYS):
            factor = SPEED_FACTOR if pressed & FASTER_KEYS else 1 / SPEED_FACTOR
            self.steps_per_second = float(np.clip(
                self.steps_per_second * factor, MIN_STEPS_PER_SECOND, MAX_STEPS_PER_SECOND
            ))
            self.window.set_fps(self.frame_rate())
        return "R" in pressed

    def frame_rate(self) -> int:
        """Frames a second: one step each, or for a turn-based game at least 30 (so a key
        press shows at once)."""
        rate = round(self.steps_per_second)
        return max(rate, TURN_BASED_FPS) if self.controls.turn_based else rate

    def step(self, keys: frozenset[str]) -> None:
        if self.controls.assist is not None:
            action = self.controls.action(keys, None, self.env.scene_state())
            counted = tuple(self.controls.command(keys).tolist())  # arrays cannot be dict keys
        else:
            action = counted = self.controls.action(keys, self.last_action)
        self.last_action = action
        if self.others is not None:
            actions = np.array(self.others(self.observations, self.episode_starts))
        else:
            actions = np.array(self.random_actions.sample())
        actions[self.agent] = action
        self.observations, _, terminations, truncations, infos = self.env.step(actions)
        self.episode_starts = terminations | truncations
        self.result.steps += 1
        self.result.action_counts[counted] = self.result.action_counts.get(counted, 0) + 1
        if terminations[self.agent] or truncations[self.agent]:
            self.result.episodes += 1
            self.result.scores.append(float(infos["episode_stats"][self.score_name][self.agent]))
            self.last_action = self.controls.first_action
            self.game_over = self.env.agents_per_world == 1

    def status(self) -> str:
        if self.game_over:
            return f"GAME OVER: {self.score_name.upper()} {self.result.scores[-1]:g}. SPACE: PLAY AGAIN"
        if self.paused:
            return "PAUSED"
        if self.controls.turn_based:
            return "YOUR MOVE"
        return f"{self.steps_per_second:.0f} STEPS/S"

    def draw(self) -> None:
        canvas: Canvas = self.window  # type: ignore[assignment]
        self.window.begin()
        self.scene.draw(canvas, self.env.scene_state())
        top = self.scene.height
        canvas.rect(0, top, self.window.width, HELP_HEIGHT, HELP_BACKGROUND)
        lines = [(self.controls.help, HELP_TEXT), (LOOP_HELP, HELP_TEXT), (self.status(), STATUS_TEXT)]
        for index, (line, color) in enumerate(lines):
            canvas.text(6, top + 4 + index * HELP_LINE_HEIGHT, line, color)
        self.window.present()
