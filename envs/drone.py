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
from shoal.single_env import ShoalEnv
from shoal.validation import check_choice, check_float, check_int, check_reward
from shoal.vector_env import ShoalVectorEnv

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scenes.drone import DroneScene

#: The Crazyflie 2.x (see the module's docstring): each parameter's default.
CRAZYFLIE: dict[str, float] = {
    "mass": 0.027,
    "arm_length": 0.046,
    "inertia_xx": 1.4e-5,
    "inertia_yy": 1.4e-5,
    "inertia_zz": 2.17e-5,
    "thrust_coefficient": 2.88e-8,
    "torque_coefficient": 7.24e-10,
    "max_motor_speed": 2144.0,
    "motor_time_constant": 0.03,
    "drag": 0.0056,
    "gravity": 9.81,
}
#: What each parameter may be (keyword or randomisation range): from a 5-gram micro drone to
#: a 50 kg lifter, on Earth, the Moon or in free space.
PARAMETER_LIMITS: dict[str, tuple[float, float]] = {
    "mass": (0.005, 50.0),
    "arm_length": (0.01, 2.0),
    "inertia_xx": (1e-7, 10.0),
    "inertia_yy": (1e-7, 10.0),
    "inertia_zz": (1e-7, 10.0),
    "thrust_coefficient": (1e-10, 1e-2),
    "torque_coefficient": (0.0, 1e-2),
    "max_motor_speed": (10.0, 1e4),
    "motor_time_constant": (0.0, 1.0),
    "drag": (0.0, 10.0),
    "gravity": (0.0, 30.0),
}
#: The weakest airframe allowed: below it full throttle barely lifts the drone, which then
#: cannot be controlled at all.
MIN_THRUST_TO_WEIGHT = 1.2
MAX_GATE_SIZE = 1.5  # metres: larger openings would not fit the course's spacing

# The tables above follow the core's parameter order, and keep its divisors positive.
assert tuple(CRAZYFLIE) == PARAMETER_NAMES == tuple(PARAMETER_LIMITS)
assert all(PARAMETER_LIMITS[name][0] > 0 for name in POSITIVE_PARAMETERS)


class DroneGame(Game):
    """The quadrotor's parameters. See DroneEnv for the physics, rules, spaces and arguments."""

    stat_names: ClassVar[tuple[str, ...]] = (
        "gates", "hold_time", "reach_time", "hover_error", "crashed")
    #: 20 seconds of flight at 50 steps a second.
    default_max_episode_steps: ClassVar[int | None] = 1000

    @property
    def score_stat(self) -> str:  # type: ignore[override]
        """The trainer's score: gates passed in a race, seconds on the target in hover."""
        return "gates" if self.task == "race" else "hold_time"

    def __init__(
        self,
        *,
        task: str = "hover",
        num_gates: int = 5,
        gate_size: float = 0.5,
        substeps: int = 4,
        randomize: Mapping[str, tuple[float, float]] | None = None,
        mass: float = CRAZYFLIE["mass"],
        arm_length: float = CRAZYFLIE["arm_length"],
        inertia_xx: float = CRAZYFLIE["inertia_xx"],
        inertia_yy: float = CRAZYFLIE["inertia_yy"],
        inertia_zz: float = CRAZYFLIE["inertia_zz"],
        thrust_coefficient: float = CRAZYFLIE["thrust_coefficient"],
        torque_coefficient: float = CRAZYFLIE["torque_coefficient"],
        max_motor_speed: float = CRAZYFLIE["max_motor_speed"],
        motor_time_constant: float = CRAZYFLIE["motor_time_constant"],
        drag: float = CRAZYFLIE["drag"],
        gravity: float = CRAZYFLIE["gravity"],
        progress_weight: float = 1.0,
        gate_reward: float = 1.0,
        stability_weight: float = 0.002,
        effort_weight: float = 0.002,
        hover_bonus: float = 0.01,
        hover_radius: float = 0.1,
        crash_penalty: float = 2.0,
    ):
        self.task = check_choice("task", task, TASKS)
        self.num_gates = check_int("num_gates", num_gates, 3, MAX_GATES)
        self.gate_size = check_float("gate_size", gate_size, 0.2, MAX_GATE_SIZE)
        self.substeps = check_int("substeps", substeps, 1, MAX_SUBSTEPS)
        # The airframe: each parameter by keyword, validated against its limits.
        given = {
            "mass": mass, "arm_length": arm_length, "inertia_xx": inertia_xx,
            "inertia_yy": inertia_yy, "inertia_zz": inertia_zz,
            "thrust_coefficient": thrust_coefficient, "torque_coefficient": torque_coefficient,
            "max_motor_speed": max_motor_speed, "motor_time_constant": motor_time_constant,
            "drag": drag, "gravity": gravity,
        }
        for name, value in given.items():
            setattr(self, name, check_float(name, value, *PARAMETER_LIMITS[name]))
        # Lists, not tuples: parameters() must survive a JSON round trip (get_state).
        self.randomize = check_randomize(randomize)
        check_thrust_to_weight(self.parameter_ranges())
        self.progress_weight = check_reward("progress_weight", progress_weight, low=0.0)
        self.gate_reward = check_reward("gate_reward", gate_reward, low=0.0)
        self.stability_weight = check_reward("stability_weight", stability_weight, low=0.0)
        self.effort_weight = check_reward("effort_weight", effort_weight, low=0.0)
        self.hover_bonus = check_reward("hover_bonus", hover_bonus, low=0.0)
        self.hover_radius = check_float("hover_radius", hover_radius, 0.01, 1.0)
        self.crash_penalty = check_reward("crash_penalty", crash_penalty, low=0.0)

    def parameter_ranges(self) -> dict[str, tuple[float, float]]:
        """Each physical parameter's (low, high): its randomisation range, or (value, value)."""
        ranges = {name: (getattr(self, name), getattr(self, name)) for name in PARAMETER_NAMES}
        ranges.update({name: (low, high) for name, (low, high) in (self.randomize or {}).items()})
        return ranges

    def observation_space(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(-1.0, 1.0, (OBSERVATION_LENGTH,), np.float32)

    def action_space(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(-1.0, 1.0, (NUM_MOTORS,), np.float32)

    def make_core(self, num_worlds: int) -> DroneCore:
        ranges = self.parameter_ranges()
        return DroneCore(
            num_worlds,
            1,
            task=TASKS[self.task],
            num_gates=self.num_gates,
            gate_size=self.gate_size,
            substeps=self.substeps,
            parameter_low=[ranges[name][0] for name in PARAMETER_NAMES],
            parameter_high=[ranges[name][1] for name in PARAMETER_NAMES],
            progress_weight=self.progress_weight,
            gate_reward=self.gate_reward,
            stability_weight=self.stability_weight,
            effort_weight=self.effort_weight,
            hover_bonus=self.hover_bonus,
            hover_radius=self.hover_radius,
            crash_penalty=self.crash_penalty,
        )


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

    | Argument              | Default  | Meaning                                               |
    |-----------------------|----------|-------------------------------------------------------|
    | `task`                | "hover"  | "hover": reach and hold a target; "race": fly gates   |
    | `num_gates`           | 5        | gates in the race's loop, 3 to 8                      |
    | `gate_size`           | 0.5      | side of a gate's square opening, m, in [0.2, 1.5]     |
    | `substeps`            | 4        | physics substeps per 0.02 s step, 1 to 16             |
    | `randomize`           | None     | {parameter: (low, high)}, drawn uniformly every reset |
    | `mass`                | 0.027    | kg, in [0.005, 50]                                    |
    | `arm_length`          | 0.046    | centre to rotor axis, m, in [0.01, 2]                 |
    | `inertia_xx`          | 1.4e-5   | kg m^2, in [1e-7, 10]                                 |
    | `inertia_yy`          | 1.4e-5   | kg m^2, in [1e-7, 10]                                 |
    | `inertia_zz`          | 2.17e-5  | kg m^2, in [1e-7, 10]                                 |
    | `thrust_coefficient`  | 2.88e-8  | N per (rad/s)^2 of rotor speed, in [1e-10, 1e-2]      |
    | `torque_coefficient`  | 7.24e-10 | N m per (rad/s)^2, in [0, 1e-2]                       |
    | `max_motor_speed`     | 2144.0   | rad/s (20,470 rpm), in [10, 1e4]                      |
    | `motor_time_constant` | 0.03     | s, the motors' first-order lag, in [0, 1]             |
    | `drag`                | 0.0056   | linear drag, kg/s (N per m/s), in [0, 10]             |
    | `gravity`             | 9.81     | m/s^2, in [0, 30]                                     |
    | `progress_weight`     | 1.0      | per metre of progress toward the goal; in [0, 1e6]    |
    | `gate_reward`         | 1.0      | per gate passed; in [0, 1e6]                          |
    | `stability_weight`    | 0.002    | per rad/s of angular speed; in [0, 1e6]               |
    | `effort_weight`       | 0.002    | per squared command away from hover; in [0, 1e6]      |
    | `hover_bonus`         | 0.01     | per step ending near the target; in [0, 1e6]          |
    | `hover_radius`        | 0.1      | m: near, for the bonus and `reach_time`; in [0.01, 1] |
    | `crash_penalty`       | 2.0      | subtracted on a crash; in [0, 1e6]                    |

    The physical parameters default to a Crazyflie 2.x (sources in envs/drone.py). A
    parameter named in `randomize` is drawn from its range (inside its limits above) at every
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
