"""Drone: a quadrotor's parameters, spaces and documentation; how it is drawn and flown by
hand (the assisted flight controller itself is shoal.drone_play). The physics and the rules live in cython_ext/drone.pyx; everything
else (buffers, seeding, autoreset, time limits) is shared.

The default airframe is a Crazyflie 2.x nano quadcopter (Bitcraze): small enough that a
policy must respect its fast dynamics, and well measured. The numbers and where they come from:

    mass                  0.027 kg                the Crazyflie 2.x with its battery
    arm_length            0.046 m                 centre to rotor axis: 92 mm between
                                                  diagonal rotors
    inertia_xx, _yy, _zz  1.4e-5, 1.4e-5, 2.17e-5 kg m^2
    thrust_coefficient    2.88e-8 N/(rad/s)^2     3.16e-10 N/rpm^2   } gym-pybullet-drones'
    torque_coefficient    7.24e-10 N m/(rad/s)^2  7.94e-12 N m/rpm^2 } cf2x model, after
                                                  Foerster's identification (ETH, 2015)
    max_motor_speed       2144 rad/s              20,470 rpm: thrust-to-weight 2.0
    motor_time_constant   0.03 s                  an estimate for its brushed motors
                                                  (tens of ms)
    drag                  0.0056 kg/s             rotor drag near hover: cf2x's 9.18e-7
                                                  kg/rad times the rotors' hover speeds
                                                  (4 x 1516 rad/s)
    gravity               9.81 m/s^2

Control runs at 50 Hz (one action per 0.02 s) with 4 physics substeps of 5 ms: the motor lag
and the drag are integrated implicitly (stable at any step), and the fastest rotation the
rules allow (34.9 rad/s, the gyroscope's range) turns the drone by under 0.18 rad per
substep, where the explicit rotation update stays accurate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium
import numpy as np

from shoal._ext.drone import (
    ARENA_HALF_WIDTH,
    ARENA_HEIGHT,
    CONTROL_PERIOD,
    GATE_FRAME_WIDTH,
    MAX_GATES,
    MAX_SUBSTEPS,
    MOTOR_POSITIONS,
    NUM_MOTORS,
    OBSERVATION_LENGTH,
    PARAMETER_NAMES,
    POSITIVE_PARAMETERS,
    TASKS,
    DroneCore,
)
from shoal.game import Game, Presentation
from shoal.parameters import choice, custom, integer, real, reward
from shoal.single_env import ShoalEnv
from shoal.validation import check_float
from shoal.vector_env import ShoalVectorEnv

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scenes.drone import DroneScene

#: The airframe's parameters: name -> (the Crazyflie 2.x's value, the default; the limits it
#: may take, as a keyword or a randomisation range, from a 5-gram micro drone to a 50 kg
#: lifter, on Earth, the Moon or in free space; its unit and meaning). See the module's
#: docstring for the sources.
AIRFRAME: dict[str, tuple[float, tuple[float, float], str]] = {
    "mass": (0.027, (0.005, 50.0), "kg"),
    "arm_length": (0.046, (0.01, 2.0), "centre to rotor axis, m"),
    "inertia_xx": (1.4e-5, (1e-7, 10.0), "kg m^2"),
    "inertia_yy": (1.4e-5, (1e-7, 10.0), "kg m^2"),
    "inertia_zz": (2.17e-5, (1e-7, 10.0), "kg m^2"),
    "thrust_coefficient": (2.88e-8, (1e-10, 1e-2), "N per (rad/s)^2 of rotor speed"),
    "torque_coefficient": (7.24e-10, (0.0, 1e-2), "N m per (rad/s)^2"),
    "max_motor_speed": (2144.0, (10.0, 1e4), "rad/s (20,470 rpm)"),
    "motor_time_constant": (0.03, (0.0, 1.0), "s, the motors' first-order lag"),
    "drag": (0.0056, (0.0, 10.0), "linear drag, kg/s (N per m/s)"),
    "gravity": (9.81, (0.0, 30.0), "m/s^2"),
}
CRAZYFLIE: dict[str, float] = {name: default for name, (default, _, _) in AIRFRAME.items()}
PARAMETER_LIMITS: dict[str, tuple[float, float]] = {
    name: limits for name, (_, limits, _) in AIRFRAME.items()}
#: The weakest airframe allowed: below it full throttle barely lifts the drone, which then
#: cannot be controlled at all.
MIN_THRUST_TO_WEIGHT = 1.2
MAX_GATE_SIZE = 1.5  # metres: larger openings would not fit the course's spacing

# The table above follows the core's parameter order, and keeps its divisors positive.
assert tuple(AIRFRAME) == PARAMETER_NAMES
assert all(PARAMETER_LIMITS[name][0] > 0 for name in POSITIVE_PARAMETERS)


class DroneGame(Game):
    """The quadrotor's parameters. See DroneEnv for the physics, rules, spaces and arguments."""

    PARAMETERS = (
        choice("task", "hover", TASKS, '"hover": reach and hold a target; "race": fly gates'),
        integer("num_gates", 5, 3, MAX_GATES, "gates in the race's loop"),
        real("gate_size", 0.5, 0.2, MAX_GATE_SIZE, "side of a gate's square opening, m"),
        integer("substeps", 4, 1, MAX_SUBSTEPS, "physics substeps per 0.02 s step"),
        # Kept as lists, not tuples: parameters() must survive a JSON round trip (get_state).
        custom("randomize", None, lambda value: check_randomize(value),  # defined below
               "{parameter: (low, high)}, drawn uniformly every reset"),
        *(real(name, default, *limits, doc) for name, (default, limits, doc) in AIRFRAME.items()),
        reward("progress_weight", 1.0, "per metre of progress toward the goal", low=0.0),
        reward("gate_reward", 1.0, "per gate passed", low=0.0),
        reward("stability_weight", 0.002, "per rad/s of angular speed", low=0.0),
        reward("effort_weight", 0.002, "per squared command away from hover", low=0.0),
        reward("hover_bonus", 0.01, "per step ending near the target", low=0.0),
        real("hover_radius", 0.1, 0.01, 1.0, "m: near, for the bonus and `reach_time`"),
        reward("crash_penalty", 2.0, "subtracted on a crash", low=0.0),
    )
    core_class = DroneCore
    stat_names: ClassVar[tuple[str, ...]] = (
        "gates", "hold_time", "reach_time", "hover_error", "crashed")
    #: 20 seconds of flight at 50 steps a second.
    default_max_episode_steps: ClassVar[int | None] = 1000

    @property
    def score_stat(self) -> str:  # type: ignore[override]
        """The trainer's score: gates passed in a race, seconds on the target in hover."""
        return "gates" if self.task == "race" else "hold_time"

    def check_together(self) -> None:
        check_thrust_to_weight(self.parameter_ranges())

    def parameter_ranges(self) -> dict[str, tuple[float, float]]:
        """Each physical parameter's (low, high): its randomisation range, or (value, value)."""
        ranges = {name: (getattr(self, name), getattr(self, name)) for name in PARAMETER_NAMES}
        ranges.update({name: (low, high) for name, (low, high) in (self.randomize or {}).items()})
        return ranges

    def core_arguments(self) -> dict[str, Any]:
        """The core takes the task's code and each physical parameter's range (low = high
        for a parameter not randomised), in PARAMETER_NAMES order."""
        arguments = {name: value for name, value in super().core_arguments().items()
                     if name not in AIRFRAME and name != "randomize"}
        ranges = self.parameter_ranges()
        return {**arguments, "task": TASKS[self.task],
                "parameter_low": [ranges[name][0] for name in PARAMETER_NAMES],
                "parameter_high": [ranges[name][1] for name in PARAMETER_NAMES]}

    def observation_space(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(-1.0, 1.0, (OBSERVATION_LENGTH,), np.float32)

    def action_space(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(-1.0, 1.0, (NUM_MOTORS,), np.float32)


class DronePresentation(Presentation):
    """How the drone is drawn and flown: a fixed or a chasing camera, real time, and assisted
    flight on the keys (shoal.drone_play)."""

    game: DroneGame
    render_view_doc = '`"world"`: a fixed camera over the arena; `"agent"`: a camera chasing the drone'

    def make_scene(self, view: str) -> DroneScene:
        from shoal.render.scenes.drone import DroneScene

        return DroneScene(
            view=view,
            arena_half_width=ARENA_HALF_WIDTH,
            arena_height=ARENA_HEIGHT,
            gate_frame_width=GATE_FRAME_WIDTH,
            hover_radius=self.game.hover_radius,
            rotor_positions=MOTOR_POSITIONS,
        )

    def render_fps(self) -> int:
        return round(1 / CONTROL_PERIOD)  # real time: 50 steps a second

    def controls(self) -> Controls:
        """Assisted flight: each key asks for a velocity (m/s, world frame) and a yaw rate
        (rad/s), as (vx, vy, vz, yaw_rate); held keys add up, and with none held the drone
        holds its position. assisted_action turns the command into motor commands every step."""
        from shoal.drone_play import (
            HOLD_POSITION, PLAY_CLIMB_SPEED, PLAY_SPEED, PLAY_YAW_RATE, assisted_action,
        )
        from shoal.render.play import Controls

        move, climb, turn = PLAY_SPEED, PLAY_CLIMB_SPEED, PLAY_YAW_RATE
        forward, back = (move, 0.0, 0.0, 0.0), (-move, 0.0, 0.0, 0.0)
        left, right = (0.0, move, 0.0, 0.0), (0.0, -move, 0.0, 0.0)
        return Controls(
            keys={
                "UP": forward, "W": forward, "DOWN": back, "S": back,
                "LEFT": left, "A": left, "RIGHT": right, "D": right,
                "E": (0.0, 0.0, climb, 0.0), "Q": (0.0, 0.0, -climb, 0.0),
                "Z": (0.0, 0.0, 0.0, turn), "C": (0.0, 0.0, 0.0, -turn),
            },
            idle_action=HOLD_POSITION,
            help="WASD/ARROWS: FLY   E/Q: UP/DOWN   Z/C: YAW (ASSISTED)",
            first_action=HOLD_POSITION,
            assist=lambda state, command: assisted_action(state, command[:3], command[3]),
        )


# ---- Validation of the airframe ----


def check_randomize(randomize: Any) -> dict[str, list[float]] | None:
    """The randomisation ranges {parameter: [low, high]} in PARAMETER_NAMES order, each
    within the parameter's limits; None for none."""
    if randomize is None:
        return None
    if not isinstance(randomize, Mapping):
        raise TypeError(
            f"randomize must be None or a dict {{parameter: (low, high)}}, got "
            f"{type(randomize).__name__}"
        )
    unknown = sorted(set(randomize) - set(PARAMETER_NAMES), key=str)
    if unknown:
        raise ValueError(
            f"randomize names unknown parameters {unknown}; it may name {list(PARAMETER_NAMES)}"
        )
    checked = {}
    for name in PARAMETER_NAMES:
        if name not in randomize:
            continue
        bounds = randomize[name]
        if not (isinstance(bounds, (tuple, list)) and len(bounds) == 2):
            raise ValueError(f"randomize[{name!r}] must be (low, high), got {bounds!r}")
        limits = PARAMETER_LIMITS[name]
        low = check_float(f"randomize[{name!r}][0]", bounds[0], *limits)
        high = check_float(f"randomize[{name!r}][1]", bounds[1], *limits)
        if low > high:
            raise ValueError(f"randomize[{name!r}] must have low <= high, got ({low}, {high})")
        checked[name] = [low, high]
    return checked or None


def check_thrust_to_weight(ranges: Mapping[str, tuple[float, float]]) -> None:
    """Refuse an airframe that might not lift itself: the weakest combination the ranges
    allow (least thrust, most weight) must reach MIN_THRUST_TO_WEIGHT."""
    k_f, w_max = ranges["thrust_coefficient"][0], ranges["max_motor_speed"][0]
    weight = ranges["mass"][1] * ranges["gravity"][1]
    if weight == 0.0:
        return  # free space: any thrust moves it
    ratio = NUM_MOTORS * k_f * w_max**2 / weight
    if ratio < MIN_THRUST_TO_WEIGHT:
        raise ValueError(
            f"the drone cannot lift itself: its thrust-to-weight ratio is {ratio:.3g} (4 * "
            f"thrust_coefficient * max_motor_speed^2 / (mass * gravity), the weakest the "
            f"arguments and randomize allow); at least {MIN_THRUST_TO_WEIGHT} is needed"
        )


class DroneEnv(ShoalEnv, game=DroneGame, presentation=DronePresentation):
    """
    ## Description

    A quadrotor, simulated as a rigid body: fly it to a target point and hold it there
    (`task="hover"`), or through a course of gates in order (`task="race"`). By default it is
    a Crazyflie 2.x nano quadcopter (27 g, 92 mm across, thrust-to-weight 2).

    - Frames: the world's z axis points up and the ground is z = 0; the body's x axis points
      forward, y left, z up along the thrust. The arena is |x|, |y| <= 5 m, 0 < z <= 4 m.
    - Four rotors in an X, each `arm_length` from the centre. Seen from above: rotor 0
      front-right and rotor 2 back-left spin clockwise, rotor 1 back-right and rotor 3
      front-left counter-clockwise. Rotor i at speed w_i pushes along body z with
      `thrust_coefficient * w_i^2` and twists the body against its spin with
      `torque_coefficient * w_i^2`: speeding up rotors 0 and 2 yaws the drone left.
    - Each motor's speed follows its command with a first-order lag (`motor_time_constant`).
      Linear drag (`drag`) slows the body; gravity pulls it down. Rotor gyroscopic effects
      and the ground effect are left out.
    - One step is 0.02 s (50 Hz) of flight in `substeps` substeps: motors and drag integrated
      implicitly, rotation semi-implicitly (quaternion renormalised), position exactly for
      each substep's constant thrust and gravity.
    - Race: `num_gates` upright square gates (an opening of `gate_size` metres with a 0.1 m
      frame around it) stand in a loop 2.5 to 3.5 m from the arena's centre, their centres 1
      to 2.5 m high, in counter-clockwise order, each facing from the gate before it toward the
      gate after it. A gate counts when the drone crosses its plane forward, inside the
      opening, and it is the next gate; then the following gate is next (gate 0 after the
      last: laps go on). Crossing an opening backward or out of order earns nothing; crossing
      the plane through the frame is a crash.
    - The drone is a point (its centre) for the ground, the arena's bounds and the gates.

    ## Action Space

    `Box(-1, 1, (4,), float32)`: one command per motor, in the order above. Command a asks
    for the speed `(a + 1) / 2 * max_motor_speed`: -1 stops the motor, 1 is full speed. The
    default airframe hovers at a = 0.414 on every motor.

    ## Observation Space

    `Box(-1, 1, (31,), float32)`, in the body frame; every entry is clipped to [-1, 1], so the
    bounds are exact. Both tasks share one layout: hover shows its target twice where race
    shows the next two gates. Relative positions are in metres / 5 and velocities in m/s / 10;
    a longer vector is shortened to length 1, keeping its direction.

    | Index | Observation                                                           | Min | Max |
    |-------|-----------------------------------------------------------------------|-----|-----|
    | 0-2   | goal - position / 5 m: the target (hover) or the next gate's centre   | -1  | 1   |
    | 3-5   | the next gate's forward direction (hover: 0)                          | -1  | 1   |
    | 6-8   | as 0-2 for the target again (hover) or the gate after the next (race) | -1  | 1   |
    | 9-11  | that gate's forward direction (hover: 0)                              | -1  | 1   |
    | 12-14 | velocity / 10 m/s                                                     | -1  | 1   |
    | 15-17 | angular velocity / 34.9 rad/s (the crash limit)                       | -1  | 1   |
    | 18-26 | rotation matrix R (body to world), row-major; its columns: the body axes | -1  | 1   |
    | 27-30 | motor speeds as commands: 2 w_i / max_motor_speed - 1                 | -1  | 1   |

    The orientation is a rotation matrix, not the state's quaternion: it is continuous and
    unique (q and -q are the same attitude), and its last row is the up direction in the body.

    ## Rewards

    Per step, the sum of these terms (arguments in brackets, defaults after them):

    - progress: `progress_weight` (1.0) x (distance to the goal before the step - after it),
      in metres; the goal is the target, or the next gate's centre as it was at the step's
      start (so passing a gate is never penalised).
    - gates (race): `gate_reward` (1.0) x the gates passed during the step.
    - stability: - `stability_weight` (0.002) x the angular speed after the step, rad/s.
    - effort: - `effort_weight` (0.002) x the sum over motors of (command - hover command)^2,
      the hover command being the one that holds the drone's weight on four equal motors.
    - bonus (hover): + `hover_bonus` (0.01) when the step ends within `hover_radius` (0.1 m)
      of the target.
    - crash: - `crash_penalty` (2.0) on the step that crashes, more than ordinary flight's
      stability and effort terms take from an episode, so ending early never pays.

    ## Starting State

    First the randomised parameters are drawn (see `randomize`), then:

    - hover: at rest with the motors at the hover speed, level, facing a uniformly random yaw,
      at a uniform point of [-1, 1] x [-1, 1] x [1.5, 2.5] m. The target is the start plus a
      uniform offset in [-1, 1] m along each axis.
    - race: a new course (above); the drone at rest with the motors at the hover speed,
      level, 1.5 m before gate 0 at its height, facing through it.

    ## Episode End

    Termination, by a crash: the drone's centre reaches the ground (z <= 0), leaves the arena
    (|x| or |y| > 5 m, z > 4 m), spins faster than 34.9 rad/s (2000 deg/s, the range of the
    Crazyflie's gyroscope, beyond which a real drone loses its attitude), or (race) crosses a
    gate's plane through its frame. Checked after every substep.

    Truncation: after `max_episode_steps` steps (default 1000: 20 s of flight).

    Episode statistics (`info["episode_stats"]` when an episode ends): `return`, `length`
    (steps), `gates` (race: gates passed), `hold_time` (hover: seconds of the steps that ended
    within `hover_radius` of the target), `reach_time` (hover: seconds until a step first
    ended within `hover_radius` of the target; the episode's duration if never),
    `hover_error` (hover: mean distance in metres to the target at the ends of the last 50
    steps, the last second, or of all steps if fewer) and `crashed` (1 after a crash, else 0).
    The statistics of the other task are 0. The trainer's score is `gates` in a race and
    `hold_time` in hover.

    ## Arguments

    ```python
    import gymnasium, shoal
    env = gymnasium.make("shoal/Drone-v0", task="hover")
    envs = gymnasium.make_vec("shoal/Drone-v0", num_envs=4096, task="race", num_gates=6,
                              randomize={"mass": (0.025, 0.03), "drag": (0.0, 0.01)})
    ```

    The physical parameters default to a Crazyflie 2.x (sources in envs/drone.py). A
    parameter named in `randomize` is drawn from its range (inside its limits below) at every
    reset instead of taking its keyword's value; `env.unwrapped.core.state(0)["parameters"]`
    shows the current episode's. The airframe must keep a thrust-to-weight ratio of at least
    1.2 at the weakest combination the arguments allow.

    Assisted flight: `shoal.drone_play.assisted_action(env.unwrapped.scene_state(), (vx, vy, vz),
    yaw_rate)` gives the motor commands that fly at a velocity (m/s, world frame) and yaw rate
    (rad/s, positive to the left), hovering in place at zero: what `shoal play` flies with.

    ## Version History

    - v0: Initial version.
    """


class DroneVectorEnv(ShoalVectorEnv, game=DroneGame, presentation=DronePresentation):
    """Vectorized Drone: `gymnasium.make_vec("shoal/Drone-v0", num_envs=N)`; see DroneEnv."""
