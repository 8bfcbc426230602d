"""Flying the drone by hand: the assisted flight controller behind `shoal play drone`.

Nobody can fly a quadrotor on raw motor commands from a keyboard, so the play keys ask for a
velocity and a yaw rate instead, and `assisted_action` turns that into the four motor
commands every step. Not part of the rules (cython_ext/drone.pyx) nor of the env
(envs/drone.py): stepping the env never imports it.

    from shoal.drone_play import assisted_action
    action = assisted_action(env.unwrapped.scene_state(), (vx, vy, vz), yaw_rate)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from shoal._ext.drone import MOTOR_POSITIONS, MOTOR_YAW_SIGNS, NUM_MOTORS


# ---- The cascade: velocity -> attitude -> body rates ----

#: Keys fly at these speeds (m/s, m/s, rad/s); with no key held the drone holds position.
PLAY_SPEED, PLAY_CLIMB_SPEED, PLAY_YAW_RATE = 1.0, 0.5, 1.5
HOLD_POSITION = (0.0, 0.0, 0.0, 0.0)  # (vx, vy, vz, yaw_rate)
#: Gains of the cascade, each the inverse of a time constant (1/s). Each loop is several times
#: slower than the one inside it, and the innermost (rates: 50 ms) slower than the motors.
VELOCITY_GAIN = 2.0
ATTITUDE_GAIN = 8.0
RATE_GAIN = 20.0
#: The controller tilts at most this far (rad) and asks for at most this much vertical
#: acceleration, in units of g, so that thrust always remains for the attitude.
MAX_TILT = math.radians(30)
MAX_VERTICAL_ACCELERATION = 0.5


def mixer(parameters: Mapping[str, float]) -> np.ndarray:
    """The 4 x 4 matrix from the rotors' thrusts to (total thrust, torque x, y, z)."""
    lever = parameters["arm_length"] / math.sqrt(2)
    yaw_per_thrust = parameters["torque_coefficient"] / parameters["thrust_coefficient"]
    positions = np.array(MOTOR_POSITIONS, dtype=np.float64) * lever
    return np.array([
        np.ones(NUM_MOTORS),
        positions[:, 1],  # torque x = sum of y_i T_i
        -positions[:, 0],  # torque y = -sum of x_i T_i
        np.array(MOTOR_YAW_SIGNS, dtype=np.float64) * yaw_per_thrust,
    ])


def assisted_action(
    state: Mapping[str, Any], desired_velocity: Any, yaw_rate: float
) -> np.ndarray:
    """float32 [4] motor commands that bring the drone of `state` (DroneCore.state(world), or
    the env's scene_state()) to `desired_velocity` (m/s, world frame) turning at `yaw_rate`
    (rad/s, positive to the left); with both zero it hovers in place.

    A cascade: the velocity error asks for an acceleration (tilt and climb limited), which sets
    the collective thrust and the wanted direction of the body's z axis; the attitude error
    asks for body rates; the rate error asks for torques. The thrusts the mixer needs for them
    become motor speeds, then commands. It runs once per step, in Python.
    """
    parameters = state["parameters"]
    mass, gravity = parameters["mass"], parameters["gravity"]
    k_f, w_max = parameters["thrust_coefficient"], parameters["max_motor_speed"]
    inertia = np.array([parameters[f"inertia_{axis}"] for axis in ("xx", "yy", "zz")])
    rotation = np.asarray(state["rotation"], dtype=np.float64)
    omega = np.asarray(state["angular_velocity"], dtype=np.float64)

    desired_velocity = np.asarray(desired_velocity, dtype=np.float64)
    # The drag at the desired velocity is fed forward, so the velocity gets there.
    acceleration = (VELOCITY_GAIN * (desired_velocity - state["velocity"])
                    + parameters["drag"] / mass * desired_velocity)
    horizontal = np.hypot(acceleration[0], acceleration[1])
    horizontal_limit = max(gravity, 1.0) * math.tan(MAX_TILT)
    if horizontal > horizontal_limit:
        acceleration[:2] *= horizontal_limit / horizontal
    vertical_limit = MAX_VERTICAL_ACCELERATION * max(gravity, 1.0)
    acceleration[2] = np.clip(acceleration[2], -vertical_limit, vertical_limit)
    force = mass * (acceleration + np.array([0.0, 0.0, gravity]))

    body_z = rotation[:, 2]
    collective = max(float(force @ body_z), 0.0)
    wanted_z = force / max(np.linalg.norm(force), 1e-9)
    attitude_error = rotation.T @ np.cross(body_z, wanted_z)  # body frame, rad for small angles
    wanted_rates = np.array([ATTITUDE_GAIN * attitude_error[0],
                             ATTITUDE_GAIN * attitude_error[1], float(yaw_rate)])
    torque = inertia * RATE_GAIN * (wanted_rates - omega) + np.cross(omega, inertia * omega)

    # The pseudo-inverse also serves an airframe without yaw torque (torque_coefficient 0).
    thrusts = np.linalg.pinv(mixer(parameters)) @ np.concatenate([[collective], torque])
    speeds = np.sqrt(np.clip(thrusts, 0.0, k_f * w_max**2) / k_f)
    return np.clip(2.0 * speeds / w_max - 1.0, -1.0, 1.0).astype(np.float32)
