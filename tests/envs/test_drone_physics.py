"""Drone's physics and rules (cython_ext/drone.pyx), checked on the core with exact situations
set up through its test setters: hover thrust holds altitude, free fall matches g, equal
motors give no torque, each motor pushes the way the layout says, the quaternion stays unit,
mechanical energy changes by exactly the thrust's work with drag off; determinism, domain
randomisation, gates (in order, forward, frames), crashes, observation bounds, every reward
term, the statistics, snapshots, the assisted-flight controller and the scene."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal._ext.drone import MAX_ANGULAR_SPEED, OBSERVATION_FIELDS, PARAMETER_NAMES
from shoal.drone import CRAZYFLIE, DroneEnv, DroneGame, DronePresentation, DroneVectorEnv
from shoal.drone_play import assisted_action
from shoal.render.scene import HUD_HEIGHT
from shoal.render.scenes import drone as drone_scene
from tests.envs.setters import set_body, set_gates, set_target

STEP = 0.02  # seconds per step
#: No shaping: rewards are only what a test switches on.
NO_SHAPING = dict(progress_weight=0.0, stability_weight=0.0, effort_weight=0.0,
                  hover_bonus=0.0)


def make(num_envs: int = 1, seed: int = 0, **kwargs) -> DroneVectorEnv:
    kwargs.setdefault("max_episode_steps", None)
    env = DroneVectorEnv(num_envs=num_envs, **kwargs)
    env.reset(seed=seed)
    return env


def step(env: DroneVectorEnv, action) -> tuple:
    actions = np.broadcast_to(np.asarray(action, np.float32), (env.num_envs, 4))
    return env.step(actions.copy())


def command(speed: float, parameters: dict) -> float:
    """The action that commands a motor speed (rad/s)."""
    return 2.0 * speed / parameters["max_motor_speed"] - 1.0


def level(yaw: float = 0.0) -> tuple[float, float, float, float]:
    return (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))


def random_quaternion(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def mechanical_energy(state: dict) -> float:
    """Kinetic plus potential energy per unit mass (J/kg)."""
    return 0.5 * float(state["velocity"] @ state["velocity"]) + (
        state["parameters"]["gravity"] * state["position"][2])


# ---- The airframe ----


def test_the_hover_command_holds_altitude():
    env = make()
    core = env.core
    parameters = core.state(0)["parameters"]
    # The hover speed from the physics: four rotors carry the weight, k_f w^2 each.
    hover_speed = math.sqrt(parameters["mass"] * parameters["gravity"]
                            / (4 * parameters["thrust_coefficient"]))
    hover = command(hover_speed, parameters)
    assert core.state(0)["hover_action"] == pytest.approx(hover, abs=1e-6)
    assert hover == pytest.approx(0.414, abs=1e-3)  # the default Crazyflie's
    set_body(core, 0, position=(0.5, -1.0, 2.0), velocity=(0, 0, 0), quaternion=level(1.0),
             angular_velocity=(0, 0, 0), motor_speeds=[hover_speed] * 4)
    for _ in range(50):  # a second
        step(env, [core.state(0)["hover_action"]] * 4)
    state = core.state(0)
    np.testing.assert_allclose(state["position"], (0.5, -1.0, 2.0), atol=1e-4)
    np.testing.assert_allclose(state["velocity"], 0.0, atol=1e-4)
    np.testing.assert_allclose(state["angular_velocity"], 0.0, atol=1e-6)


def test_free_fall_matches_g():
    env = make(drag=0.0)
    core = env.core
    set_body(core, 0, position=(0.0, 0.0, 3.5), velocity=(0.3, 0.0, 1.0), quaternion=level(),
             angular_velocity=(0, 0, 0), motor_speeds=[0.0] * 4)
    g = core.state(0)["parameters"]["gravity"]
    for n in range(1, 31):
        step(env, [-1.0] * 4)  # motors off
        t = n * STEP
        state = core.state(0)
        np.testing.assert_allclose(state["velocity"], (0.3, 0.0, 1.0 - g * t), atol=1e-5)
        np.testing.assert_allclose(state["position"], (0.3 * t, 0.0, 3.5 + t - 0.5 * g * t * t),
                                   atol=1e-5)


def test_linear_drag_slows_a_fall_toward_terminal_speed():
    mass, drag = 0.027, 0.05
    env = make(drag=drag)
    core = env.core
    set_body(core, 0, position=(0.0, 0.0, 3.9), velocity=(0, 0, 0), quaternion=level(),
             motor_speeds=[0.0] * 4)
    g = core.state(0)["parameters"]["gravity"]
    velocity, dt = 0.0, STEP / 4
    for _ in range(25):
        step(env, [-1.0] * 4)
        for _ in range(4):  # the implicit step of each substep: (v - g dt) / (1 + c dt / m)
            velocity = (velocity - g * dt) / (1 + drag * dt / mass)
        assert core.state(0)["velocity"][2] == pytest.approx(velocity, rel=1e-5)
    t = 25 * STEP
    # dv/dt = -g - (c/m) v  =>  v(t) = -(m g / c) (1 - exp(-c t / m)); first order in dt.
    exact = -(mass * g / drag) * (1 - math.exp(-drag * t / mass))
    assert velocity == pytest.approx(exact, rel=5e-3)
    assert abs(exact) < g * t - 0.05  # clearly slower than a fall without drag


def test_equal_motors_give_no_torque_whatever_the_attitude():
    rng = np.random.default_rng(1)
    env = make(drag=0.0, motor_time_constant=0.0)
    core = env.core
    for _ in range(5):
        q = random_quaternion(rng)
        q = q if q[0] > 0.6 else level(rng.uniform(-3, 3))  # not upside down: stay airborne
        speed = rng.uniform(800, 2000)
        set_body(core, 0, position=(0, 0, 2.0), velocity=(0, 0, 0), quaternion=q,
                 angular_velocity=(0, 0, 0), motor_speeds=[speed] * 4)
        before = core.state(0)["quaternion"]
        for _ in range(5):
            step(env, [command(speed, core.state(0)["parameters"])] * 4)
        state = core.state(0)
        np.testing.assert_array_equal(state["angular_velocity"], 0.0)
        np.testing.assert_allclose(state["quaternion"], before, atol=1e-6)
        # The only forces: thrust along body z and gravity.
        p = state["parameters"]
        thrust = 4 * p["thrust_coefficient"] * state["motor_speeds"][0] ** 2 / p["mass"]
        acceleration = thrust * state["rotation"][:, 2] - (0, 0, p["gravity"])
        np.testing.assert_allclose(state["velocity"], acceleration * 5 * STEP, atol=1e-4)


def spin_up(env, deltas) -> dict:
    """Five steps from level hover with the motors' commands moved by `deltas`."""
    core = env.core
    state = core.state(0)
    hover = state["hover_action"]
    hover_speed = (hover + 1) / 2 * state["parameters"]["max_motor_speed"]
    set_body(core, 0, position=(0, 0, 2.0), velocity=(0, 0, 0), quaternion=level(),
             angular_velocity=(0, 0, 0), motor_speeds=[hover_speed] * 4)
    for _ in range(5):
        step(env, [hover + d for d in deltas])
    return core.state(0)


def test_a_yaw_command_turns_the_right_way():
    env = make()
    # The clockwise rotors 0 and 2 faster, 1 and 3 slower: the reaction torque yaws left.
    state = spin_up(env, [0.1, -0.1, 0.1, -0.1])
    assert state["angular_velocity"][2] > 0.5
    np.testing.assert_allclose(state["angular_velocity"][:2], 0.0, atol=1e-4)
    assert state["rotation"][1, 0] > 0.01  # the nose (body x) turned toward +y: left
    right = spin_up(env, [-0.1, 0.1, -0.1, 0.1])
    assert right["angular_velocity"][2] < -0.5 and right["rotation"][1, 0] < -0.01


def test_rotors_roll_and_pitch_the_drone_as_the_layout_says():
    env = make()
    # Left rotors (2, 3) faster: the left side rises and the thrust tilts to the right (-y).
    state = spin_up(env, [-0.05, -0.05, 0.05, 0.05])
    assert state["angular_velocity"][0] > 0.5 and state["rotation"][2, 1] > 0.0
    assert abs(state["angular_velocity"][1]) < 1e-4
    step(env, [state["hover_action"]] * 4)
    assert env.core.state(0)["velocity"][1] < 0.0
    # Back rotors (1, 2) faster: the nose dips and the drone accelerates forward (+x).
    state = spin_up(env, [-0.05, 0.05, 0.05, -0.05])
    assert state["angular_velocity"][1] > 0.5 and state["rotation"][2, 0] < 0.0
    assert abs(state["angular_velocity"][0]) < 1e-4
    step(env, [state["hover_action"]] * 4)
    assert env.core.state(0)["velocity"][0] > 0.0


def test_the_quaternion_stays_unit_and_the_rotation_orthonormal():
    rng = np.random.default_rng(2)
    env = make(num_envs=16, seed=3)
    for _ in range(300):
        step_actions = rng.uniform(-1, 1, (16, 4)).astype(np.float32)
        env.step(step_actions)
        for world in range(16):
            state = env.core.state(world)
            assert abs(np.linalg.norm(state["quaternion"]) - 1.0) < 1e-6
            rotation = state["rotation"]
            np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-5)


def test_mechanical_energy_is_conserved_in_free_flight_with_drag_off():
    env = make(drag=0.0)
    core = env.core
    set_body(core, 0, position=(-1.0, 0.5, 1.0), velocity=(1.0, -0.5, 3.0),
             quaternion=random_quaternion(np.random.default_rng(4)),
             angular_velocity=(3.0, -2.0, 5.0), motor_speeds=[0.0] * 4)
    energy = mechanical_energy(core.state(0))
    for _ in range(40):
        step(env, [-1.0] * 4)
        assert mechanical_energy(core.state(0)) == pytest.approx(energy, rel=1e-5)


def test_with_drag_off_energy_changes_by_exactly_the_thrusts_work():
    # Instant motors at a fixed speed on a tilted, non-rotating body: a constant thrust.
    env = make(drag=0.0, motor_time_constant=0.0)
    core = env.core
    tilt = 0.3
    set_body(core, 0, position=(0.0, 0.0, 1.0), velocity=(0.5, 0.0, 0.0),
             quaternion=(math.cos(tilt / 2), math.sin(tilt / 2), 0, 0),
             angular_velocity=(0, 0, 0), motor_speeds=[1700.0] * 4)
    p = core.state(0)["parameters"]
    action = command(1700.0, p)
    for _ in range(20):
        before = core.state(0)
        step(env, [action] * 4)
        after = core.state(0)
        thrust = 4 * p["thrust_coefficient"] * after["motor_speeds"][0] ** 2 / p["mass"]
        work = thrust * after["rotation"][:, 2] @ (after["position"] - before["position"])
        gained = mechanical_energy(after) - mechanical_energy(before)
        assert gained == pytest.approx(work, rel=1e-3, abs=1e-6)
        assert abs(work) > 1e-3  # the thrust did work


def test_drag_only_takes_energy_away():
    env = make(drag=0.02)
    core = env.core
    set_body(core, 0, position=(0.0, 0.0, 2.0), velocity=(3.0, 1.0, 2.0), quaternion=level(),
             motor_speeds=[0.0] * 4)
    energy = mechanical_energy(core.state(0))
    for _ in range(20):
        step(env, [-1.0] * 4)
        now = mechanical_energy(core.state(0))
        assert now < energy
        energy = now


def test_motors_follow_commands_with_a_first_order_lag():
    tau = 0.05
    env = make(motor_time_constant=tau, substeps=4)
    core = env.core
    set_body(core, 0, motor_speeds=[1000.0] * 4)
    p = core.state(0)["parameters"]
    target = 1800.0
    step(env, [command(target, p)] * 4)
    # The implicit Euler step of the lag, four substeps of 5 ms.
    expected = target + (1000.0 - target) * (tau / (tau + 0.005)) ** 4
    np.testing.assert_allclose(core.state(0)["motor_speeds"], expected, rtol=1e-5)


# ---- Determinism and domain randomisation ----


@pytest.mark.parametrize("task", ["hover", "race"])
def test_the_same_seed_gives_the_same_trajectory(task):
    actions = np.random.default_rng(5).uniform(-0.2, 1, (200, 8, 4)).astype(np.float32)

    def trajectory(seed):
        env = make(num_envs=8, seed=seed, task=task, max_episode_steps=50,
                   randomize={"mass": (0.025, 0.03)})
        record = []
        for a in actions:
            obs, rewards, terminated, truncated, _ = env.step(a)
            record += [obs.copy(), rewards.copy(), terminated.copy(), truncated.copy()]
        return record

    first, again, other = trajectory(7), trajectory(7), trajectory(8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other))


def test_domain_randomisation_draws_within_its_ranges_every_episode():
    ranges = {"mass": (0.025, 0.03), "drag": (0.0, 0.01), "motor_time_constant": (0.02, 0.05)}
    env = make(num_envs=64, randomize=ranges, mass=0.028, arm_length=0.05)
    draws = {name: [] for name in PARAMETER_NAMES}
    for seed in range(4):
        env.reset(seed=100 * seed)
        for world in range(64):
            for name, value in env.core.state(world)["parameters"].items():
                draws[name].append(value)
    for name, (low, high) in ranges.items():
        values = np.array(draws[name])
        assert low <= values.min() and values.max() <= high, name
        assert values.max() - values.min() > 0.5 * (high - low), name  # spread over the range
    assert np.allclose(draws["arm_length"], 0.05)  # keyword values for the others
    assert np.allclose(draws["gravity"], 9.81)
    # The hover command follows the drawn mass.
    states = [env.core.state(world) for world in range(64)]
    masses = [s["parameters"]["mass"] for s in states]
    hovers = [s["hover_action"] for s in states]
    assert np.corrcoef(masses, hovers)[0, 1] > 0.99


def test_an_autoreset_draws_new_parameters():
    env = make(num_envs=1, randomize={"mass": (0.02, 0.035)}, max_episode_steps=2)
    masses = set()
    for _ in range(12):
        step(env, [0.0] * 4)
        masses.add(env.core.state(0)["parameters"]["mass"])
    assert len(masses) >= 4


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    (dict(task="fly"), ValueError, "task"),
    (dict(num_gates=2), ValueError, "num_gates"),
    (dict(gate_size=3.0), ValueError, "gate_size"),
    (dict(substeps=0), ValueError, "substeps"),
    (dict(mass=-1.0), ValueError, "mass"),
    (dict(inertia_zz=float("nan")), ValueError, "inertia_zz"),
    (dict(drag="a lot"), TypeError, "drag"),
    (dict(randomize={"weight": (1, 2)}), ValueError, "unknown parameters ['weight']"),
    (dict(randomize={"mass": (0.03, 0.02)}), ValueError, "randomize['mass']"),
    (dict(randomize={"mass": (0.02,)}), ValueError, "randomize['mass']"),
    (dict(randomize={"drag": (-1.0, 0.0)}), ValueError, "randomize['drag'][0]"),
    (dict(randomize=[("mass", (0.02, 0.03))]), TypeError, "randomize"),
    (dict(max_motor_speed=1500.0), ValueError, "thrust-to-weight"),
    (dict(randomize={"mass": (0.02, 0.05)}), ValueError, "thrust-to-weight"),
])
def test_bad_arguments_are_clear_errors(kwargs, error, words):
    with pytest.raises(error, match=None) as caught:
        DroneGame(**kwargs)
    assert words in str(caught.value)


def test_parameters_survive_a_json_round_trip():
    import json

    game = DroneGame(randomize={"mass": (0.025, 0.03)})
    assert json.loads(json.dumps(game.parameters())) == game.parameters()
    assert DroneGame().parameters()["mass"] == CRAZYFLIE["mass"]


# ---- Gates ----


def race(**kwargs) -> DroneVectorEnv:
    """A three-gate race in free space (no gravity, no drag, motors off): the drone flies in
    straight lines at the velocity it is given."""
    env = make(task="race", num_gates=3, gravity=0.0, drag=0.0, **{**NO_SHAPING, **kwargs})
    set_gates(env.core, 0, centres=[(0, 0, 2), (2, 2, 2), (-2, 2, 2)],
              forwards=[(1, 0), (-1, 1), (-1, -1)])
    return env


def fly_through(env, start, velocity, steps: int = 10) -> list:
    set_body(env.core, 0, position=start, velocity=velocity, quaternion=level(),
             angular_velocity=(0, 0, 0), motor_speeds=[0.0] * 4)
    results = []
    for _ in range(steps):
        results.append(step(env, [-1.0] * 4))
        if results[-1][2][0]:
            break
    return results


def test_passing_the_next_gate_forward_through_its_opening_counts_once():
    env = race(gate_reward=1.5)
    results = fly_through(env, (-0.45, 0.1, 2.1), (5.0, 0.0, 0.0), steps=12)
    rewards = [float(r[1][0]) for r in results]
    assert rewards == [0.0] * 4 + [1.5] + [0.0] * 7  # crossed x = 0 on the fifth step
    state = env.core.state(0)
    assert state["gates_passed"] == 1 and state["next_gate"] == 1
    assert not any(r[2][0] for r in results)


def test_gates_count_only_forward_and_in_order():
    env = race()
    fly_through(env, (0.5, 0.0, 2.0), (-5.0, 0.0, 0.0))  # gate 0 backward
    assert env.core.state(0)["gates_passed"] == 0
    fly_through(env, (2.3, 1.7, 2.0), (-3.0, 3.0, 0.0))  # gate 1 forward, but 0 is next
    state = env.core.state(0)
    assert state["gates_passed"] == 0 and state["next_gate"] == 0
    # In order, a lap: 0, 1, 2, and gate 0 is next again.
    for start, velocity in [((-0.3, 0, 2), (5, 0, 0)), ((2.3, 1.7, 2), (-3, 3, 0)),
                            ((-1.7, 2.3, 2), (-3, -3, 0))]:
        fly_through(env, start, velocity, steps=5)
    state = env.core.state(0)
    assert state["gates_passed"] == 3 and state["next_gate"] == 0


@pytest.mark.parametrize("offset", [(0.3, 0.0), (-0.3, 0.0), (0.0, 0.3), (0.0, -0.26),
                                    (0.34, 0.34)])
def test_crossing_a_gate_through_its_frame_is_a_crash(offset):
    env = race(crash_penalty=3.0)
    results = fly_through(env, (-0.45, offset[0], 2 + offset[1]), (5.0, 0.0, 0.0))
    assert results[-1][2][0] and len(results) == 5
    assert float(results[-1][1][0]) == -3.0
    assert env.core.state(0)["crashed"]


@pytest.mark.parametrize("offset", [(0.4, 0.0), (0.0, -0.4), (2.0, 0.0)])
def test_outside_the_frame_a_gate_plane_is_open_air(offset):
    env = race()
    results = fly_through(env, (-0.45, offset[0], 2 + offset[1]), (5.0, 0.0, 0.0))
    assert not any(r[2][0] for r in results)
    assert env.core.state(0)["gates_passed"] == 0


def test_a_gate_is_caught_within_a_substep_at_speed():
    # 40 m/s crosses 0.8 m per step: the gate's plane is checked on every substep's path.
    env = race()
    results = fly_through(env, (-0.7, 0.0, 2.0), (40.0, 0.0, 0.0), steps=2)
    assert env.core.state(0)["gates_passed"] == 1


def test_the_race_course_is_a_loop_of_gates_inside_the_arena():
    env = make(num_envs=32, task="race", num_gates=6, seed=9)
    for world in range(32):
        state = env.core.state(world)
        centres, forwards = state["gate_centres"], state["gate_forwards"]
        radii = np.hypot(centres[:, 0], centres[:, 1])
        assert ((2.5 <= radii) & (radii <= 3.5 + 1e-6)).all()
        assert ((1.0 <= centres[:, 2]) & (centres[:, 2] <= 2.5)).all()
        np.testing.assert_allclose(np.hypot(forwards[:, 0], forwards[:, 1]), 1.0, atol=1e-6)
        assert (forwards[:, 2] == 0).all()
        # Counter-clockwise: each gate faces along increasing angle.
        tangent = np.stack([-centres[:, 1], centres[:, 0]], axis=1) / radii[:, None]
        assert ((forwards[:, :2] * tangent).sum(axis=1) > 0.5).all()
        # The drone starts 1.5 m before gate 0, facing through it.
        start = centres[0] - 1.5 * forwards[0]
        np.testing.assert_allclose(state["position"], start, atol=1e-5)
        np.testing.assert_allclose(state["rotation"][:, 0], forwards[0], atol=1e-5)


# ---- Crashes ----


@pytest.mark.parametrize(("position", "velocity", "spin", "kwargs"), [
    ((0, 0, 0.05), (0, 0, 0), (0, 0, 0), {}),  # falls to the ground
    ((4.8, 0, 2), (20, 0, 0), (0, 0, 0), dict(gravity=0.0)),  # through the wall
    ((0, -4.8, 2), (0, -20, 0), (0, 0, 0), dict(gravity=0.0)),
    ((0, 0, 3.8), (0, 0, 20), (0, 0, 0), dict(gravity=0.0)),  # the ceiling
    ((0, 0, 2), (0, 0, 0), (0, 0, MAX_ANGULAR_SPEED + 1), {}),  # beyond the gyroscope
])
def test_crashes_terminate_with_the_penalty(position, velocity, spin, kwargs):
    env = make(crash_penalty=4.0, **NO_SHAPING, **kwargs)
    set_body(env.core, 0, position=position, velocity=velocity, angular_velocity=spin,
             quaternion=level(), motor_speeds=[0.0] * 4)
    for n in range(20):
        _, rewards, terminated, truncated, infos = step(env, [-1.0] * 4)
        if terminated[0]:
            break
    assert terminated[0] and not truncated[0]
    assert float(rewards[0]) == -4.0
    assert infos["episode_stats"]["crashed"][0] == 1.0


def test_a_flight_that_does_not_crash_is_truncated_at_twenty_seconds():
    assert DroneGame.default_max_episode_steps == 1000
    env = DroneVectorEnv(num_envs=1)
    assert env.max_episode_steps == 1000
    env.reset(seed=0)
    hover = env.core.state(0)["hover_action"]
    for n in range(1000):
        _, _, terminated, truncated, infos = step(env, [hover] * 4)
        assert not terminated[0]
    assert truncated[0]
    assert infos["episode_stats"]["crashed"][0] == 0.0


# ---- Observations ----


def expected_observation(state: dict) -> np.ndarray:
    """The documented layout, computed from the state in plain numpy."""
    rotation = state["rotation"]

    def shortened(vector, scale):
        length = np.linalg.norm(vector)
        return vector / max(scale, length)

    position = state["position"]
    if state["task"] == "hover":
        goals = [state["target"], state["target"]]
        forwards = [np.zeros(3), np.zeros(3)]
    else:
        n, k = len(state["gate_centres"]), state["next_gate"]
        goals = [state["gate_centres"][k], state["gate_centres"][(k + 1) % n]]
        forwards = [rotation.T @ state["gate_forwards"][k],
                    rotation.T @ state["gate_forwards"][(k + 1) % n]]
    p = state["parameters"]
    parts = [shortened(rotation.T @ (goals[0] - position), 5.0), forwards[0],
             shortened(rotation.T @ (goals[1] - position), 5.0), forwards[1],
             shortened(rotation.T @ state["velocity"], 10.0),
             state["angular_velocity"] / MAX_ANGULAR_SPEED, rotation.reshape(-1),
             2 * state["motor_speeds"] / p["max_motor_speed"] - 1]
    return np.clip(np.concatenate(parts), -1, 1)


@pytest.mark.parametrize("task", ["hover", "race"])
def test_the_observation_follows_its_documented_layout(task):
    env = make(num_envs=4, task=task, seed=11)
    rng = np.random.default_rng(0)
    assert len(OBSERVATION_FIELDS) == 31
    for _ in range(30):
        obs, *_ = env.step(rng.uniform(0.2, 0.6, (4, 4)).astype(np.float32))
        for world in range(4):
            np.testing.assert_allclose(obs[world], expected_observation(env.core.state(world)),
                                       atol=2e-6)


@settings(max_examples=40, deadline=None)
@given(task=st.sampled_from(["hover", "race"]), seed=st.integers(0, 2**32),
       speed=st.floats(0, 200), spin=st.floats(0, 34), tilt=st.floats(-3.2, 3.2))
def test_observations_stay_in_the_box_under_random_actions(task, seed, speed, spin, tilt):
    env = make(num_envs=4, task=task, seed=seed, max_episode_steps=40)
    space = env.single_observation_space
    rng = np.random.default_rng(seed)
    # Start from an extreme state too: fast, spinning, tilted.
    direction = random_quaternion(rng)[:3]
    set_body(env.core, 0, velocity=speed * direction, angular_velocity=spin * direction[::-1],
             quaternion=(math.cos(tilt / 2), math.sin(tilt / 2), 0, 0))
    for _ in range(60):
        obs, *_ = env.step(rng.uniform(-1, 1, (4, 4)).astype(np.float32))
        assert obs.dtype == np.float32
        assert all(space.contains(row) for row in obs)


# ---- Rewards ----


@pytest.mark.parametrize("task", ["hover", "race"])
def test_every_reward_term_is_as_documented(task):
    weights = dict(progress_weight=0.7, stability_weight=0.01, effort_weight=0.05,
                   hover_bonus=0.3, hover_radius=0.3, gate_reward=2.0, crash_penalty=3.0)
    env = make(task=task, seed=13, **weights)
    core = env.core
    rng = np.random.default_rng(1)
    checked = 0
    for _ in range(400):
        before = core.state(0)
        if task == "hover":
            goal = before["target"]
            # Toward the target with the assisted controller, plus noise: every term shows up.
            desired = np.clip(goal - before["position"], -1, 1)
            action = assisted_action(before, desired, 0.0)
        else:
            goal = before["gate_centres"][before["next_gate"]]
            action = np.full(4, before["hover_action"])
        action = np.clip(action + rng.normal(0, 0.05, 4), -1, 1).astype(np.float32)
        _, rewards, terminated, truncated, _ = env.step(action[None])
        after = core.state(0)
        if after["steps"] != before["steps"] + 1:
            continue  # a new episode began: its first state is not this step's result
        distance = np.linalg.norm(after["position"] - goal)
        progress = np.linalg.norm(before["position"] - goal) - distance
        expected = (weights["progress_weight"] * progress
                    + weights["gate_reward"] * (after["gates_passed"] - before["gates_passed"])
                    - weights["stability_weight"] * np.linalg.norm(after["angular_velocity"])
                    - weights["effort_weight"] * np.sum((action - before["hover_action"]) ** 2)
                    - weights["crash_penalty"] * terminated[0])
        if task == "hover" and distance < weights["hover_radius"]:
            expected += weights["hover_bonus"]
        assert float(rewards[0]) == pytest.approx(expected, abs=2e-5)
        checked += 1
    assert checked > 300


def at_rest_in_the_air(core) -> None:
    """Level and still at (0, 0, 2), 2 m above the ground."""
    set_body(core, 0, position=(0, 0, 2), velocity=(0, 0, 0), quaternion=level(),
             angular_velocity=(0, 0, 0))


def test_hovering_on_the_target_earns_the_bonus_and_nothing_else():
    env = make(hover_bonus=0.25)
    core = env.core
    at_rest_in_the_air(core)
    set_target(core, 0, (0.05, 0, 2))
    hover = core.state(0)["hover_action"]
    for _ in range(10):
        _, rewards, *_ = step(env, [hover] * 4)
        assert float(rewards[0]) == pytest.approx(0.25, abs=1e-6)


# ---- Statistics ----


def test_hover_statistics_hold_time_reach_time_and_error():
    env = make(max_episode_steps=100, hover_radius=0.1)
    core = env.core
    at_rest_in_the_air(core)
    set_target(core, 0, (0.3, 0, 2))
    # Fly toward the target with the assisted controller for 80 steps, then sit still.
    for n in range(100):
        state = core.state(0)
        desired = np.clip(2 * (state["target"] - state["position"]), -1, 1)
        _, _, terminated, truncated, infos = step(env, assisted_action(state, desired, 0.0))
        distance = np.linalg.norm(core.state(0)["position"] - state["target"])
        if n == 0:
            distances = []
        distances.append(distance)
    assert truncated[0]
    stats = infos["episode_stats"]
    first_within = next(i for i, d in enumerate(distances) if d < 0.1) + 1
    assert stats["reach_time"][0] == pytest.approx(first_within * STEP)
    assert stats["hold_time"][0] == pytest.approx(sum(d < 0.1 for d in distances) * STEP)
    assert 0 < stats["hold_time"][0] < 100 * STEP
    assert stats["hover_error"][0] == pytest.approx(np.mean(distances[-50:]), rel=1e-5)
    assert stats["gates"][0] == 0 and stats["crashed"][0] == 0


def test_a_target_never_reached_reports_the_episode_duration():
    env = make(max_episode_steps=30)
    core = env.core
    at_rest_in_the_air(core)
    set_target(core, 0, (0, 0.5, 2))
    hover = core.state(0)["hover_action"]
    for _ in range(30):
        _, _, _, truncated, infos = step(env, [hover] * 4)
    assert truncated[0]
    assert infos["episode_stats"]["reach_time"][0] == pytest.approx(30 * STEP)
    assert infos["episode_stats"]["hold_time"][0] == 0
    assert infos["episode_stats"]["hover_error"][0] == pytest.approx(0.5, abs=1e-4)


def test_race_statistics_count_gates():
    env = race(max_episode_steps=8)
    results = fly_through(env, (-0.3, 0, 2), (5, 0, 0), steps=8)
    stats = results[-1][4]["episode_stats"]
    assert stats["gates"][0] == 1
    assert stats["reach_time"][0] == 0 and stats["hover_error"][0] == 0 and stats["crashed"][0] == 0
    assert stats["hold_time"][0] == 0


# ---- Snapshots ----


@pytest.mark.parametrize("task", ["hover", "race"])
def test_get_state_and_set_state_continue_exactly(task):
    kwargs = dict(num_envs=6, task=task, max_episode_steps=30, randomize={"mass": (0.025, 0.03)})
    rng = np.random.default_rng(2)
    actions = rng.uniform(-0.1, 1, (80, 6, 4)).astype(np.float32)
    original = make(seed=1, **kwargs)
    for a in actions[:40]:
        original.step(a)
    saved = original.get_state()
    copy = make(seed=99, **kwargs)
    copy.set_state(saved)
    for a in actions[40:]:
        one, two = original.step(a), copy.step(a)
        for x, y in zip(one[:4], two[:4]):
            np.testing.assert_array_equal(x, y)


def field_offset(env, change) -> int:
    """The byte offset of a field in a world's state: where the state changes when `change`
    alters only that field."""
    before = env.get_state()["game.worlds"][0].copy()
    change()
    after = env.get_state()["game.worlds"][0]
    return int(np.flatnonzero(before != after)[0])


def test_a_state_with_a_bad_gate_index_or_broken_numbers_is_refused():
    env = make(task="race", num_gates=3)
    centres = env.core.state(0)["gate_centres"]
    forwards = env.core.state(0)["gate_forwards"]
    offset = field_offset(env, lambda: set_gates(env.core, 0, centres, forwards, next_gate=2))
    state = env.get_state()
    bad = {**state, "game.worlds": state["game.worlds"].copy()}
    bad["game.worlds"][0, offset:offset + 4] = np.frombuffer(np.int32(3).tobytes(), np.uint8)
    with pytest.raises(ValueError, match="next gate 3"):
        env.set_state(bad)
    bad["game.worlds"][0, offset:offset + 4] = np.frombuffer(np.int32(-1).tobytes(), np.uint8)
    with pytest.raises(ValueError, match="next gate -1"):
        env.set_state(bad)
    broken = {**state, "game.worlds": state["game.worlds"].copy()}
    broken["game.worlds"][0, 0:4] = np.frombuffer(np.float32(np.nan).tobytes(), np.uint8)
    with pytest.raises(ValueError, match="non-finite"):
        env.set_state(broken)
    # Nothing was written: the env still runs from its own state.
    assert env.core.state(0)["next_gate"] == 2
    env.set_state(state)


def test_set_body_refuses_impossible_states():
    core = make().core
    with pytest.raises(ValueError, match="quaternion"):
        set_body(core, 0, quaternion=(0, 0, 0, 0))
    with pytest.raises(ValueError, match="motor_speeds"):
        set_body(core, 0, motor_speeds=[5000.0] * 4)
    with pytest.raises(ValueError, match="arena"):
        set_body(core, 0, position=(0, 0, -1))
    with pytest.raises(ValueError, match="velocity"):
        set_body(core, 0, velocity=(0, np.inf, 0))
    with pytest.raises(ValueError, match="race"):
        set_gates(core, 0, [(0, 0, 1)] * 5, [(1, 0)] * 5)


# ---- Assisted flight ----


def fly_assisted(env, desired, yaw_rate, steps):
    for _ in range(steps):
        state = env.core.state(0)
        _, _, terminated, _, _ = step(env, assisted_action(state, desired, yaw_rate))
        assert not terminated[0]
    return env.core.state(0)


@pytest.mark.parametrize("randomize", [None, {"mass": (0.03, 0.03), "drag": (0.02, 0.02)}])
def test_the_assisted_controller_flies_at_a_commanded_velocity_and_holds_still(randomize):
    env = make(randomize=randomize)
    set_body(env.core, 0, position=(-2, 0, 2), velocity=(0, 0, 0), quaternion=level(0.5),
             angular_velocity=(0, 0, 0))
    state = fly_assisted(env, (1.0, -0.5, 0.3), 0.0, 150)
    np.testing.assert_allclose(state["velocity"], (1.0, -0.5, 0.3), atol=0.03)
    state = fly_assisted(env, (0, 0, 0), 0.0, 150)
    np.testing.assert_allclose(state["velocity"], 0.0, atol=0.01)
    held = state["position"]
    state = fly_assisted(env, (0, 0, 0), 0.0, 100)
    np.testing.assert_allclose(state["position"], held, atol=0.01)
    state = fly_assisted(env, (0, 0, 0), 1.2, 100)
    assert state["angular_velocity"][2] == pytest.approx(1.2, abs=0.05)
    np.testing.assert_allclose(state["position"], held, atol=0.05)


def test_the_controls_map_keys_to_velocities_and_yaw_rates():
    controls = DronePresentation(DroneGame()).controls()
    vx, vy, vz, yaw_rate = controls.keys["W"]
    assert vx > 0 and vy == vz == yaw_rate == 0
    assert controls.keys["Z"][3] > 0  # Z yaws left
    np.testing.assert_array_equal(controls.command(frozenset()), 0.0)  # holds position
    # Held keys add up: forward and climbing at once.
    np.testing.assert_array_equal(controls.command(frozenset({"W", "E"})),
                                  np.add(controls.keys["W"], controls.keys["E"]))
    env = make()
    state = env.core.state(0)
    np.testing.assert_array_equal(controls.action(frozenset({"W"}), None, state),
                                  assisted_action(state, controls.keys["W"][:3], 0.0))
    with pytest.raises(ValueError, match="gymnasium.utils.play cannot run"):
        DroneEnv().get_keys_to_action()


def test_the_single_env_runs_the_same_game():
    env = DroneEnv(task="race")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs) and info == {}
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert env.observation_space.contains(obs) and isinstance(reward, float)


# ---- The scene ----


def pinhole(point, eye, target, width, height, field_of_view):
    """Where a world point lands in the frame, from the camera's definition alone."""
    forward = np.subtract(target, eye) / np.linalg.norm(np.subtract(target, eye))
    right = np.cross(forward, (0, 0, 1))
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    offset = np.subtract(point, eye)
    focal = (width / 2) / math.tan(field_of_view / 2)
    depth = offset @ forward
    column = width / 2 + focal * (offset @ right) / depth
    row = HUD_HEIGHT + (height - HUD_HEIGHT) / 2 - focal * (offset @ up) / depth
    return int(row), int(column)


def test_the_scene_draws_the_drone_where_the_camera_puts_it():
    env = make(render_mode="rgb_array")
    set_body(env.core, 0, position=(1.0, 1.5, 2.0), quaternion=level(0.3))
    set_target(env.core, 0, (-2.0, -2.0, 1.0))
    frame = env.render()
    scene = env.scene
    assert frame.shape == (scene.height, scene.width, 3)
    assert scene.width % 2 == 0 and scene.height % 2 == 0
    args = (drone_scene.WORLD_CAMERA_POSITION, drone_scene.WORLD_CAMERA_TARGET, scene.width,
            scene.height, drone_scene.FIELD_OF_VIEW)
    assert (frame[pinhole((1.0, 1.5, 2.0), *args)] == drone_scene.BODY).all()
    assert (frame[pinhole((-2.0, -2.0, 1.0), *args)] == drone_scene.TARGET).all()
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 8
    # Moved, the drone's pixels move with it.
    set_body(env.core, 0, position=(-1.0, -1.0, 1.0))
    moved = env.render()
    assert (moved[pinhole((-1.0, -1.0, 1.0), *args)] == drone_scene.BODY).all()
    assert not (moved[pinhole((1.0, 1.5, 2.0), *args)] == drone_scene.BODY).all()


def test_the_scene_highlights_the_next_gate_and_the_chase_camera_centres_the_drone():
    env = race(render_mode="rgb_array")
    set_body(env.core, 0, position=(-1.5, 0, 2))
    frame = env.render()
    args = (drone_scene.WORLD_CAMERA_POSITION, drone_scene.WORLD_CAMERA_TARGET,
            env.scene.width, env.scene.height, drone_scene.FIELD_OF_VIEW)
    top_bar_of_gate_0 = (0.0, 0.0, 2.0 + 0.25 + 0.05)
    assert (frame[pinhole(top_bar_of_gate_0, *args)] == drone_scene.NEXT_GATE).all()
    top_bar_of_gate_1 = np.array((2.0, 2.0, 2.3))
    assert (frame[pinhole(top_bar_of_gate_1, *args)] == drone_scene.SECOND_GATE).all()

    chase = race(render_mode="rgb_array", render_view="agent")
    set_body(chase.core, 0, position=(-1.5, 0, 2), quaternion=level(0.7))
    frame = chase.render()
    heading = np.array([math.cos(0.7), math.sin(0.7), 0.0])
    eye = (np.array((-1.5, 0, 2)) - drone_scene.CHASE_DISTANCE * heading
           + (0, 0, drone_scene.CHASE_HEIGHT))
    look_at = np.array((-1.5, 0, 2)) + 0.5 * heading
    pixel = pinhole((-1.5, 0, 2), eye, look_at, chase.scene.width, chase.scene.height,
                    drone_scene.FIELD_OF_VIEW)
    assert (frame[pixel] == drone_scene.BODY).all()


def test_the_scene_keeps_a_trail_and_starts_over_with_a_new_episode():
    env = make(render_mode="rgb_array", max_episode_steps=None)
    hover = env.core.state(0)["hover_action"]
    env.render()
    for _ in range(5):
        step(env, [hover + 0.05, hover, hover + 0.05, hover])
        env.render()
        env.render()  # drawn again without a step (a paused game): the trail keeps it once
    assert len(env.scene.trail) == 6
    env.reset(seed=1)
    env.render()
    assert len(env.scene.trail) == 1
