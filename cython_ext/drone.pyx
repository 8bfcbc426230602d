# Drone: fly a quadrotor to a target point and hold it there ("hover"), or through a course
# of gates in order ("race").
#
# The rules, in the order this file applies them:
#
#   frames      world: x and y horizontal, z up, metres; the ground is z = 0. Body: x forward,
#               y left, z up along the thrust. The orientation is the unit quaternion
#               (w, x, y, z) that turns body vectors into world vectors (R below).
#   the drone   a rigid body of mass m and inertia diag(Ixx, Iyy, Izz) with four rotors in an
#               X, each at arm length L from the centre (lever arm d = L / sqrt(2) about the
#               body x and y axes). Seen from above, front up:
#
#                   3 (ccw)     0 (cw)        0 front-right (+d, -d)   spins clockwise
#                          \   /              1 back-right  (-d, -d)   counter-clockwise
#                            X                2 back-left   (-d, +d)   clockwise
#                          /   \              3 front-left  (+d, +d)   counter-clockwise
#                   2 (cw)      1 (ccw)
#
#               Rotor i at speed w_i (rad/s) pushes along body z with thrust T_i = k_f w_i^2
#               and twists the body about z with k_m w_i^2 against its own spin: the clockwise
#               rotors 0 and 2 turn the body counter-clockwise (+z, a left yaw), 1 and 3 the
#               other way.
#   motors      action a_i in [-1, 1] commands the speed (a_i + 1) / 2 * w_max (clipped to
#               [-1, 1] again here, defensively). The speed follows the command with a
#               first-order lag of time constant tau.
#   forces      world acceleration  R (0, 0, T0 + T1 + T2 + T3) / m - (0, 0, g) - (c / m) v
#               (c: linear drag); body torque (d (T2 + T3 - T0 - T1), d (T1 + T2 - T0 - T3),
#               k_m / k_f (T0 - T1 + T2 - T3)); angular acceleration I^-1 (torque - w x I w).
#               Rotor gyroscopic effects and the ground effect are left out.
#   a step      0.02 s of flight (50 Hz control) in `substeps` equal substeps (default 4 of
#               5 ms). Each substep, in order: the motor speeds (implicit Euler: stable for
#               any tau, also 0); the velocity, with the thrust along body z as the substep
#               starts and the drag taken implicitly (stable for any c), and the position with
#               the mean of the old and new velocity, which is exact for the substep's constant
#               thrust and gravity: with drag off, mechanical energy changes by exactly the
#               thrust's work; then the angular velocity, and the orientation from the new
#               angular velocity (semi-implicit Euler, quaternion renormalised). The explicit
#               part is the rotation: crashing above 34.9 rad/s (below) keeps its angle per
#               substep under 0.18 rad, where the first-order update stays accurate.
#   crashes     the body's centre (a point: the drone's size is ignored) reaches the ground
#               (z <= 0), leaves the arena (|x| or |y| > 5 m, or z > 4 m, the ceiling), the
#               drone spins faster than 2000 deg/s (34.9 rad/s, the range of the Crazyflie's
#               gyroscope: beyond it a real drone has lost its attitude estimate), or, racing,
#               it crosses a gate's plane through the frame. Checked after every substep; a
#               crash stops the flight and terminates the episode.
#   hover       start at rest (motors at the hover speed), level, facing a uniformly random
#               yaw, at a uniform point of [-1, 1] x [-1, 1] x [1.5, 2.5] m; the target is the
#               start plus a uniform offset in [-1, 1]^3 m.
#   race        num_gates square gates (opening gate_size, a frame 0.1 m wide around it, no
#               depth) stand upright in a loop around the arena's centre: gate k at the angle
#               theta0 + 2 pi (k + j_k) / num_gates, theta0 uniform, j_k uniform in
#               [-0.25, 0.25], at a uniform distance in [2.5, 3.5] m from the centre and a
#               uniform height (of its centre) in [1, 2.5] m. Its forward direction is the
#               horizontal direction from gate k - 1 to gate k + 1, so the loop is flown
#               counter-clockwise. The drone starts at rest, level, 1.5 m before gate 0 at its
#               height, facing through it. A gate is passed when the path of a substep crosses
#               its plane forward inside the opening and it is the next gate; then the gate
#               after it is next, gate 0 after the last (laps continue). Crossing an opening
#               backward, or out of order, earns nothing and changes nothing; crossing the
#               plane through the frame is a crash; outside the frame the plane is open air.
#   rewards     per step, each term times its weight (the game's arguments):
#                 progress   (distance to the goal before the step - after it), in metres,
#                            the goal being the target or the next gate's centre as it was at
#                            the step's start
#                 gate       gates passed during the step (race)
#                 stability  - |angular velocity| (rad/s) after the step
#                 effort     - sum over motors of (a_i - hover action)^2, the hover action
#                            being the command that holds the weight on four equal motors
#                 bonus      1 when the step ends within hover_radius of the target (hover)
#                 crash      -1 on the step that crashes
#   observation 31 float32 numbers in [-1, 1] (clipped), body frame: the goals relative to the
#               drone (hover: the target, twice; race: the next gate and the one after, with
#               their forward directions), velocity, angular velocity, the rotation matrix,
#               the motor speeds. See OBSERVATION_FIELDS and envs/drone.py.
#   statistics  gates (passed, race), hold_time (hover: seconds of steps that ended within
#               hover_radius of the target), reach_time (hover: seconds until a step first ends
#               within hover_radius of the target; the episode's duration if never),
#               hover_error (hover: mean distance to the target at the ends of the last 50
#               steps, the last second, or of all steps if fewer), crashed (1 or 0). The
#               other task's numbers are 0.
#   parameters  each of the eleven physical parameters (PARAMETER_NAMES) is fixed, or drawn
#               uniformly from its range at every reset (domain randomisation); the draws come
#               first, one per randomised parameter in PARAMETER_NAMES order, then the task's
#               layout.
#
# Numbers are float32: positions stay within 6.5 m of the origin (resolution below 1e-6 m),
# the quaternion is renormalised every substep, and float halves the memory a step touches.
# Sines and cosines come from portable_math.pxd (plain arithmetic), square roots are exact
# IEEE operations: a trajectory is the same on every CPU.
cimport cython
from libc.math cimport fabsf, isfinite, sqrt, sqrtf
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from shoal._ext.core cimport VectorCore
from shoal._ext.portable_math cimport clamp, cosine_sine
from shoal._ext.rng cimport Rng, rng_uniform

import numpy as np

# ---- Time ----
cdef const float STEP_SECONDS = 0.02  # one action, 50 Hz
cdef enum:
    STEPS_IN_A_SECOND = 50
    SUBSTEP_LIMIT = 16

# ---- The arena (metres) ----
cdef const float HALF_WIDTH = 5.0  # |x|, |y| <= 5
cdef const float CEILING = 4.0
# Spinning faster than the gyroscope's range (2000 deg/s) is a crash.
cdef const float SPIN_LIMIT = 34.906585  # rad/s
cdef const float SPIN_LIMIT_SQUARED = 1218.4697  # SPIN_LIMIT ** 2

# ---- The tasks ----
cdef enum:
    HOVER = 0
    RACE = 1
    GATE_LIMIT = 8
cdef const float FRAME_WIDTH = 0.1  # metres of frame around a gate's opening
cdef const float START_BEFORE_GATE = 1.5  # metres
cdef const double TWO_PI = 6.283185307179586
cdef const double PI = 3.141592653589793

# ---- The physical parameters, by index ----
cdef enum:
    MASS = 0  # kg
    ARM_LENGTH  # m, centre to rotor axis
    INERTIA_XX  # kg m^2
    INERTIA_YY
    INERTIA_ZZ
    THRUST_COEFFICIENT  # k_f, N / (rad/s)^2
    TORQUE_COEFFICIENT  # k_m, N m / (rad/s)^2
    MAX_MOTOR_SPEED  # w_max, rad/s
    MOTOR_TIME_CONSTANT  # tau, s
    DRAG  # c, kg/s (N per m/s)
    GRAVITY  # g, m/s^2
    PARAMETER_COUNT

# ---- What a substep can end in ----
cdef enum Flight:
    FLYING = 0
    PASSED_GATE = 1
    CRASHED = 2

# ---- The observation (float32), and the scales that bring it into [-1, 1] ----
cdef enum:
    OBSERVATION_FLOATS = 31
    MOTORS = 4
cdef const float POSITION_SCALE = 5.0  # metres: longer relative vectors are shortened
cdef const float VELOCITY_SCALE = 10.0  # m/s: faster velocities are shortened

# float32 constants, so that arithmetic stays in float (a bare 0.5 would be a C double).
cdef const float HALF = 0.5
cdef const float ONE = 1.0
cdef const float TWO = 2.0
cdef const float SQRT_HALF = 0.70710678

# Python-visible rules and geometry, for the game module, the scene and tests.
TASKS = {"hover": HOVER, "race": RACE}
PARAMETER_NAMES = ("mass", "arm_length", "inertia_xx", "inertia_yy", "inertia_zz",
                   "thrust_coefficient", "torque_coefficient", "max_motor_speed",
                   "motor_time_constant", "drag", "gravity")
#: Parameters the physics divides by (the others may be 0: no yaw torque, an instant motor,
#: no drag, no gravity).
POSITIVE_PARAMETERS = ("mass", "arm_length", "inertia_xx", "inertia_yy", "inertia_zz",
                       "thrust_coefficient", "max_motor_speed")
CONTROL_PERIOD = 1.0 / STEPS_IN_A_SECOND  # seconds
STEPS_PER_SECOND = STEPS_IN_A_SECOND
MAX_SUBSTEPS = SUBSTEP_LIMIT
MAX_GATES = GATE_LIMIT
ARENA_HALF_WIDTH = HALF_WIDTH
ARENA_HEIGHT = CEILING
MAX_ANGULAR_SPEED = SPIN_LIMIT
GATE_FRAME_WIDTH = FRAME_WIDTH
NUM_MOTORS = MOTORS
#: Rotor i sits at (x, y) = MOTOR_POSITIONS[i] * L / sqrt(2) in the body frame; its reaction
#: torque about body z is MOTOR_YAW_SIGNS[i] * k_m w_i^2 (clockwise rotors +1).
MOTOR_POSITIONS = ((1, -1), (-1, -1), (-1, 1), (1, 1))
MOTOR_YAW_SIGNS = (1, -1, 1, -1)
OBSERVATION_LENGTH = OBSERVATION_FLOATS
OBSERVATION_FIELDS = (
    "goal_x", "goal_y", "goal_z",  # the target / next gate's centre, relative, body frame
    "goal_forward_x", "goal_forward_y", "goal_forward_z",  # its way through (hover: 0)
    "second_goal_x", "second_goal_y", "second_goal_z",  # the target again / the gate after
    "second_goal_forward_x", "second_goal_forward_y", "second_goal_forward_z",
    "velocity_x", "velocity_y", "velocity_z",  # body frame
    "angular_velocity_x", "angular_velocity_y", "angular_velocity_z",  # body frame
    "r00", "r01", "r02", "r10", "r11", "r12", "r20", "r21", "r22",  # R, row-major
    "motor_0", "motor_1", "motor_2", "motor_3",  # speeds, 2 w / w_max - 1
)


cdef struct Body:
    float position[3]  # m, world
    float velocity[3]  # m/s, world
    float quaternion[4]  # (w, x, y, z), body to world, unit
    float angular_velocity[3]  # rad/s, body
    float motor_speeds[MOTORS]  # rad/s


cdef struct Airframe:
    # The parameters drawn for the episode, and what the physics derives from them once.
    float values[PARAMETER_COUNT]  # by index (MASS, ...)
    float inverse_mass
    float inverse_inertia[3]
    float lever_arm  # d = L / sqrt(2)
    float yaw_per_thrust  # k_m / k_f: the yaw torque of one newton of a rotor's thrust
    float motor_gain  # dt / (tau + dt): the implicit-Euler step of the motor lag
    float drag_factor  # 1 / (1 + c dt / m): the implicit step of the drag
    float command_scale  # w_max / 2: speed per unit of action
    float hover_action  # the command that holds the weight on four equal motors


cdef struct Gate:
    float centre[3]  # m, world: the opening's centre
    float forward[3]  # horizontal unit vector, the way through
    float side[3]  # horizontal unit vector in the gate's plane: (-forward_y, forward_x, 0)


cdef struct DroneWorld:
    Body body
    Airframe airframe
    Gate gates[GATE_LIMIT]  # race
    float target[3]  # hover, m, world
    int next_gate  # race: the index of the gate to pass next
    int gates_passed
    float goal_distance  # m to the current goal after the last step: the progress baseline
    bint crashed
    long long steps  # of the episode
    long long reach_step  # hover: the step that first ended within hover_radius; -1 before
    long long hold_steps  # hover: steps that ended within hover_radius
    # Hover: the distances to the target at the last 50 step ends, a ring; the next one goes
    # to recent_distances[recent_next].
    float recent_distances[STEPS_IN_A_SECOND]
    int recent_next


# ---- DroneWorld as numpy sees it (records(), get_state) ----

cdef Py_ssize_t offset_of(const DroneWorld* world, const void* field) noexcept:
    return <const char*>field - <const char*>world


cdef object world_dtype():
    # Cython types a pointer-free struct by itself (np.asarray(<Body[:n]>...), as the other
    # games' records are made), but its buffer format drops the length of an array of structs
    # inside a struct (Gate gates[GATE_LIMIT]). So DroneWorld is spelled out here, each field
    # at its C offset, the structs inside it typed by Cython; a field added to DroneWorld is
    # added here, and a field whose numpy size is not its C size is refused at import.
    cdef DroneWorld layout  # never flown: only the offsets of its fields are read
    fields = (
        ("body", np.asarray(<Body[:1]>&layout.body).dtype,
         offset_of(&layout, &layout.body), sizeof(layout.body)),
        ("airframe", np.asarray(<Airframe[:1]>&layout.airframe).dtype,
         offset_of(&layout, &layout.airframe), sizeof(layout.airframe)),
        ("gates", (np.asarray(<Gate[:1]>layout.gates).dtype, GATE_LIMIT),
         offset_of(&layout, layout.gates), sizeof(layout.gates)),
        ("target", (np.float32, 3), offset_of(&layout, layout.target), sizeof(layout.target)),
        ("next_gate", np.intc, offset_of(&layout, &layout.next_gate), sizeof(layout.next_gate)),
        ("gates_passed", np.intc,
         offset_of(&layout, &layout.gates_passed), sizeof(layout.gates_passed)),
        ("goal_distance", np.float32,
         offset_of(&layout, &layout.goal_distance), sizeof(layout.goal_distance)),
        ("crashed", np.intc,  # a C int
         offset_of(&layout, &layout.crashed), sizeof(layout.crashed)),
        ("steps", np.longlong, offset_of(&layout, &layout.steps), sizeof(layout.steps)),
        ("reach_step", np.longlong,
         offset_of(&layout, &layout.reach_step), sizeof(layout.reach_step)),
        ("hold_steps", np.longlong,
         offset_of(&layout, &layout.hold_steps), sizeof(layout.hold_steps)),
        ("recent_distances", (np.float32, STEPS_IN_A_SECOND),
         offset_of(&layout, layout.recent_distances), sizeof(layout.recent_distances)),
        ("recent_next", np.intc,
         offset_of(&layout, &layout.recent_next), sizeof(layout.recent_next)),
    )
    for name, dtype, offset, size in fields:
        if np.dtype(dtype).itemsize != size:
            raise TypeError(f"DroneWorld.{name}: numpy's {np.dtype(dtype)} is not its C type")
    return np.dtype({
        "names": [name for name, _, _, _ in fields],
        "formats": [dtype for _, dtype, _, _ in fields],
        "offsets": [offset for _, _, offset, _ in fields],
        "itemsize": sizeof(DroneWorld),
    })


#: The dtype of core.records()["worlds"]: DroneWorld's fields, by name.
WORLD_DTYPE = world_dtype()


# ---- Small helpers ----

cdef inline float norm3(const float* v) noexcept nogil:
    return sqrtf(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


cdef inline float distance3(const float* a, const float* b) noexcept nogil:
    cdef float dx = a[0] - b[0], dy = a[1] - b[1], dz = a[2] - b[2]
    return sqrtf(dx * dx + dy * dy + dz * dz)


cdef inline double wrapped_angle(double angle) noexcept nogil:
    # Into [-pi, pi]; the callers' angles lie within two turns of it.
    while angle > PI:
        angle -= TWO_PI
    while angle < -PI:
        angle += TWO_PI
    return angle


cdef inline void unrotate(const float* q, const float* v, float* out) noexcept nogil:
    # out = R^T v: a world vector in the body frame.
    cdef float w = q[0], x = q[1], y = q[2], z = q[3]
    out[0] = ((ONE - TWO * (y * y + z * z)) * v[0] + TWO * (x * y + w * z) * v[1]
              + TWO * (x * z - w * y) * v[2])
    out[1] = (TWO * (x * y - w * z) * v[0] + (ONE - TWO * (x * x + z * z)) * v[1]
              + TWO * (y * z + w * x) * v[2])
    out[2] = (TWO * (x * z + w * y) * v[0] + TWO * (y * z - w * x) * v[1]
              + (ONE - TWO * (x * x + y * y)) * v[2])


# ---- The airframe of an episode ----

cdef void derive_airframe(Airframe* f, float substep_seconds) noexcept nogil:
    # Everything the substeps need, computed once per episode from the parameters.
    cdef float* p = f.values
    cdef float hover_speed
    f.inverse_mass = ONE / p[MASS]
    f.inverse_inertia[0] = ONE / p[INERTIA_XX]
    f.inverse_inertia[1] = ONE / p[INERTIA_YY]
    f.inverse_inertia[2] = ONE / p[INERTIA_ZZ]
    f.lever_arm = p[ARM_LENGTH] * SQRT_HALF
    f.yaw_per_thrust = p[TORQUE_COEFFICIENT] / p[THRUST_COEFFICIENT]
    f.motor_gain = substep_seconds / (p[MOTOR_TIME_CONSTANT] + substep_seconds)
    f.drag_factor = ONE / (ONE + p[DRAG] * substep_seconds * f.inverse_mass)
    f.command_scale = HALF * p[MAX_MOTOR_SPEED]
    hover_speed = sqrtf(p[MASS] * p[GRAVITY] / (<float>MOTORS * p[THRUST_COEFFICIENT]))
    f.hover_action = clamp(hover_speed / f.command_scale - ONE, -ONE, ONE)


cdef inline float hover_speed_of(const Airframe* f) noexcept nogil:
    return (f.hover_action + ONE) * f.command_scale


# ---- One substep of flight ----

cdef inline void fly(Body* b, const Airframe* f, const float* commanded_speeds,
                     float dt) noexcept nogil:
    cdef float* w = b.motor_speeds
    cdef float* omega = b.angular_velocity
    cdef float* q = b.quaternion
    cdef float thrust[MOTORS]
    cdef float k_f = f.values[THRUST_COEFFICIENT]
    cdef float ixx = f.values[INERTIA_XX], iyy = f.values[INERTIA_YY], izz = f.values[INERTIA_ZZ]
    cdef float half_dt = HALF * dt
    cdef float qw = q[0], qx = q[1], qy = q[2], qz = q[3]
    cdef float torque_x, torque_y, torque_z, lift, inverse_norm
    cdef float ax, ay, az, vx, vy, vz
    cdef int i

    # Motors: w += (command - w) dt / (tau + dt), the implicit Euler step of the lag.
    for i in range(MOTORS):
        w[i] = w[i] + (commanded_speeds[i] - w[i]) * f.motor_gain
        thrust[i] = k_f * w[i] * w[i]

    # Translation: the thrust along body z (as the substep starts), gravity, and the drag
    # taken implicitly; the position moves with the mean of the old and new velocity (exact
    # for constant acceleration). It does not wait for the rotation below, so the processor
    # works on both at once.
    lift = (thrust[0] + thrust[1] + thrust[2] + thrust[3]) * f.inverse_mass
    ax = lift * TWO * (qx * qz + qw * qy)
    ay = lift * TWO * (qy * qz - qw * qx)
    az = lift * (ONE - TWO * (qx * qx + qy * qy)) - f.values[GRAVITY]
    vx = (b.velocity[0] + ax * dt) * f.drag_factor
    vy = (b.velocity[1] + ay * dt) * f.drag_factor
    vz = (b.velocity[2] + az * dt) * f.drag_factor
    b.position[0] = b.position[0] + (b.velocity[0] + vx) * half_dt
    b.position[1] = b.position[1] + (b.velocity[1] + vy) * half_dt
    b.position[2] = b.position[2] + (b.velocity[2] + vz) * half_dt
    b.velocity[0], b.velocity[1], b.velocity[2] = vx, vy, vz

    # Rotation: Euler's equations, then the quaternion with the new angular velocity
    # (q += dt / 2 q (0, omega)), renormalised.
    torque_x = f.lever_arm * (thrust[2] + thrust[3] - thrust[0] - thrust[1])
    torque_y = f.lever_arm * (thrust[1] + thrust[2] - thrust[0] - thrust[3])
    torque_z = f.yaw_per_thrust * (thrust[0] - thrust[1] + thrust[2] - thrust[3])
    ax = (torque_x - (izz - iyy) * omega[1] * omega[2]) * f.inverse_inertia[0]
    ay = (torque_y - (ixx - izz) * omega[2] * omega[0]) * f.inverse_inertia[1]
    az = (torque_z - (iyy - ixx) * omega[0] * omega[1]) * f.inverse_inertia[2]
    omega[0] = omega[0] + ax * dt
    omega[1] = omega[1] + ay * dt
    omega[2] = omega[2] + az * dt
    q[0] = qw - half_dt * (qx * omega[0] + qy * omega[1] + qz * omega[2])
    q[1] = qx + half_dt * (qw * omega[0] + qy * omega[2] - qz * omega[1])
    q[2] = qy + half_dt * (qw * omega[1] + qz * omega[0] - qx * omega[2])
    q[3] = qz + half_dt * (qw * omega[2] + qx * omega[1] - qy * omega[0])
    inverse_norm = ONE / sqrtf(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    for i in range(4):
        q[i] = q[i] * inverse_norm


cdef inline bint out_of_flight(const Body* b) noexcept nogil:
    # The ground, the arena's walls and ceiling, or a spin beyond the gyroscope's range.
    cdef const float* p = &b.position[0]
    cdef const float* omega = &b.angular_velocity[0]
    cdef float spin_squared = omega[0] * omega[0] + omega[1] * omega[1] + omega[2] * omega[2]
    return ((p[2] <= 0.0) | (p[2] > CEILING) | (fabsf(p[0]) > HALF_WIDTH)
            | (fabsf(p[1]) > HALF_WIDTH) | (spin_squared > SPIN_LIMIT_SQUARED))


cdef inline float plane_side(const Gate* gate, const float* point) noexcept nogil:
    # The signed distance of `point` from the gate's plane: >= 0 in front (past the gate).
    return ((point[0] - gate.centre[0]) * gate.forward[0]
            + (point[1] - gate.centre[1]) * gate.forward[1])


cdef Flight cross_gates(DroneWorld* w, int num_gates, float* sides, const float* start,
                        const float* end, float half_opening) noexcept nogil:
    # What the straight path start -> end does at the gates' planes: passes the next gate
    # forward through its opening, hits a frame, or neither. sides[k] holds the start's
    # plane_side for gate k, and gets the end's.
    cdef int k
    cdef float before, after, t, across, up
    cdef float hit[3]
    cdef Gate* gate
    cdef Flight outcome = FLYING
    for k in range(num_gates):
        gate = &w.gates[k]
        before = sides[k]
        after = plane_side(gate, end)
        sides[k] = after
        if (before < 0.0) == (after < 0.0):
            continue  # the same side of the plane
        t = before / (before - after)
        hit[0] = start[0] + (end[0] - start[0]) * t - gate.centre[0]
        hit[1] = start[1] + (end[1] - start[1]) * t - gate.centre[1]
        hit[2] = start[2] + (end[2] - start[2]) * t - gate.centre[2]
        across = fabsf(hit[0] * gate.side[0] + hit[1] * gate.side[1])
        up = fabsf(hit[2])
        if across < half_opening and up < half_opening:
            if k == w.next_gate and before < 0.0:
                w.gates_passed += 1
                w.next_gate = 0 if w.next_gate + 1 == num_gates else w.next_gate + 1
                outcome = PASSED_GATE
        elif across <= half_opening + FRAME_WIDTH and up <= half_opening + FRAME_WIDTH:
            return CRASHED
    return outcome


# ---- Starting an episode ----

cdef inline void set_gate_forward(Gate* gate, float x, float y) noexcept nogil:
    gate.forward[0], gate.forward[1], gate.forward[2] = x, y, 0.0
    gate.side[0], gate.side[1], gate.side[2] = -y, x, 0.0


cdef void place_gates(DroneWorld* w, int num_gates, Rng* rng) noexcept nogil:
    cdef double theta0 = TWO_PI * rng_uniform(rng), angle, cosine, sine, dx, dy, length
    cdef float radius
    cdef int k, ahead, behind
    cdef Gate* gate
    for k in range(num_gates):
        angle = theta0 + TWO_PI * (k + 0.5 * rng_uniform(rng) - 0.25) / num_gates
        cosine_sine(wrapped_angle(angle), &cosine, &sine)
        radius = 2.5 + rng_uniform(rng)
        gate = &w.gates[k]
        gate.centre[0] = radius * <float>cosine
        gate.centre[1] = radius * <float>sine
        gate.centre[2] = 1.0 + 1.5 * rng_uniform(rng)
    for k in range(num_gates):
        ahead = (k + 1) % num_gates
        behind = (k + num_gates - 1) % num_gates
        dx = w.gates[ahead].centre[0] - w.gates[behind].centre[0]
        dy = w.gates[ahead].centre[1] - w.gates[behind].centre[1]
        length = sqrt(dx * dx + dy * dy)
        set_gate_forward(&w.gates[k], <float>(dx / length), <float>(dy / length))


cdef void face(Body* b, float x, float y) noexcept nogil:
    # Level, heading along the horizontal unit vector (x, y): the yaw quaternion of half the
    # heading angle, from the half-angle formulas.
    cdef float w = sqrtf(clamp(HALF * (ONE + x), 0.0, ONE))
    cdef float z = sqrtf(clamp(HALF * (ONE - x), 0.0, ONE))
    if y < 0.0:
        z = -z
    cdef float inverse_norm = ONE / sqrtf(w * w + z * z)
    b.quaternion[0], b.quaternion[1] = w * inverse_norm, 0.0
    b.quaternion[2], b.quaternion[3] = 0.0, z * inverse_norm


cdef inline float* goal_of(DroneWorld* w, int task) noexcept nogil:
    # What progress is measured toward: the target, or the next gate's centre.
    if task == HOVER:
        return &w.target[0]
    return &w.gates[w.next_gate].centre[0]


# ---- The observation's pieces ----

cdef inline void write_shortened(const float* v, float scale, float* out) noexcept nogil:
    # v / scale, shortened to length 1 keeping its direction when longer (rarely: the square
    # root is taken only then).
    cdef float squared = v[0] * v[0] + v[1] * v[1] + v[2] * v[2]
    cdef float factor = ONE / scale  # scale is a constant: the compiler divides once
    if squared > scale * scale:
        factor = ONE / sqrtf(squared)
    out[0] = v[0] * factor
    out[1] = v[1] * factor
    out[2] = v[2] * factor


cdef inline void write_relative(const Body* b, const float* point, float* out) noexcept nogil:
    cdef float world_offset[3]
    cdef float body_offset[3]
    world_offset[0] = point[0] - b.position[0]
    world_offset[1] = point[1] - b.position[1]
    world_offset[2] = point[2] - b.position[2]
    unrotate(b.quaternion, world_offset, body_offset)
    write_shortened(body_offset, POSITION_SCALE, out)


# ---- The core ----

@cython.final
cdef class DroneCore(VectorCore):
    # Rules, fixed at construction.
    cdef readonly int task  # TASKS
    cdef readonly int num_gates  # race; 0 for hover
    cdef readonly float gate_size
    cdef readonly int substeps
    cdef readonly float substep_seconds
    cdef float parameter_low[PARAMETER_COUNT]
    cdef float parameter_high[PARAMETER_COUNT]
    # Reward weights.
    cdef readonly float progress_weight
    cdef readonly float gate_reward
    cdef readonly float stability_weight
    cdef readonly float effort_weight
    cdef readonly float hover_bonus
    cdef readonly float hover_radius
    cdef readonly float crash_penalty
    # State: one drone per world (one agent per world, so world == row).
    cdef DroneWorld* worlds

    def __cinit__(self, int num_worlds, int agents_per_world, *, int task, int num_gates,
                  float gate_size, int substeps, parameter_low, parameter_high,
                  float progress_weight, float gate_reward, float stability_weight,
                  float effort_weight, float hover_bonus, float hover_radius,
                  float crash_penalty):
        # The Python game validates with clear messages; these checks only keep a direct
        # caller from corrupting memory or dividing by zero.
        if agents_per_world != 1:
            raise ValueError(f"Drone has one agent per world, got {agents_per_world}")
        if task not in TASKS.values():
            raise ValueError(f"task must be one of {TASKS}, got {task}")
        if task == RACE and not 3 <= num_gates <= GATE_LIMIT:
            raise ValueError(f"num_gates must be in [3, {GATE_LIMIT}], got {num_gates}")
        if not 1 <= substeps <= SUBSTEP_LIMIT:
            raise ValueError(f"substeps must be in [1, {SUBSTEP_LIMIT}], got {substeps}")
        low = np.asarray(parameter_low, dtype=np.float32)
        high = np.asarray(parameter_high, dtype=np.float32)
        if low.shape != (PARAMETER_COUNT,) or high.shape != (PARAMETER_COUNT,):
            raise ValueError(f"parameter_low and parameter_high need {PARAMETER_COUNT} values")
        positive = np.array([name in POSITIVE_PARAMETERS for name in PARAMETER_NAMES])
        if not (np.isfinite(low).all() and np.isfinite(high).all() and (low <= high).all()
                and (low[positive] > 0).all() and (low >= 0).all()):
            raise ValueError("parameter ranges must be finite, low <= high, and not negative "
                             f"({POSITIVE_PARAMETERS} positive)")
        self.task = task
        self.num_gates = num_gates if task == RACE else 0
        self.gate_size = gate_size
        self.substeps = substeps
        self.substep_seconds = STEP_SECONDS / substeps
        cdef int i
        for i in range(PARAMETER_COUNT):
            self.parameter_low[i] = low[i]
            self.parameter_high[i] = high[i]
        self.progress_weight = progress_weight
        self.gate_reward = gate_reward
        self.stability_weight = stability_weight
        self.effort_weight = effort_weight
        self.hover_bonus = hover_bonus
        self.hover_radius = hover_radius
        self.crash_penalty = crash_penalty
        self.observation_bytes = OBSERVATION_FLOATS * sizeof(float)
        self.num_game_stats = 5  # gates, hold_time, reach_time, hover_error, crashed
        self.worlds = <DroneWorld*>calloc(num_worlds, sizeof(DroneWorld))
        if not self.worlds:
            raise MemoryError("could not allocate the drone worlds")
        cdef int world
        for world in range(num_worlds):
            self.reset_world(world)

    def __dealloc__(self):
        free(self.worlds)

    # ---- The hooks of the shared loop ----

    cdef void reset_world(self, int world) noexcept nogil:
        cdef DroneWorld* w = &self.worlds[world]
        cdef Rng* rng = &self.rngs[world]
        cdef Body* b = &w.body
        cdef int i
        cdef double cosine, sine
        cdef float hover_speed
        memset(w, 0, sizeof(DroneWorld))
        for i in range(PARAMETER_COUNT):
            w.airframe.values[i] = self.parameter_low[i]
            if self.parameter_high[i] > self.parameter_low[i]:
                w.airframe.values[i] += (
                    (self.parameter_high[i] - self.parameter_low[i]) * rng_uniform(rng))
        derive_airframe(&w.airframe, self.substep_seconds)
        hover_speed = hover_speed_of(&w.airframe)
        for i in range(MOTORS):
            b.motor_speeds[i] = hover_speed
        if self.task == HOVER:
            # A uniform yaw: the yaw quaternion of a uniform half angle in [0, pi).
            cosine_sine(PI * rng_uniform(rng), &cosine, &sine)
            b.quaternion[0], b.quaternion[3] = <float>cosine, <float>sine
            b.position[0] = 2.0 * rng_uniform(rng) - 1.0
            b.position[1] = 2.0 * rng_uniform(rng) - 1.0
            b.position[2] = 1.5 + rng_uniform(rng)
            for i in range(3):
                w.target[i] = b.position[i] + 2.0 * rng_uniform(rng) - 1.0
        else:
            place_gates(w, self.num_gates, rng)
            for i in range(3):
                b.position[i] = w.gates[0].centre[i] - START_BEFORE_GATE * w.gates[0].forward[i]
            face(b, w.gates[0].forward[0], w.gates[0].forward[1])
        w.reach_step = -1
        w.hold_steps = 0
        w.goal_distance = distance3(b.position, goal_of(w, self.task))

    cdef void step_world(self, int world) noexcept nogil:
        if self.resetting[world]:
            return
        cdef DroneWorld* w = &self.worlds[world]
        cdef const float* actions = (<float*>self.actions) + world * MOTORS
        cdef float commands[MOTORS]
        cdef float goal[3]
        cdef float start[3]
        cdef float sides[GATE_LIMIT]
        cdef float action, effort = 0.0, distance, reward
        cdef int i, substep, passed = 0
        cdef Flight outcome = FLYING
        cdef float* at = goal_of(w, self.task)
        # The moving parts live in locals through the substeps.
        cdef Body body = w.body
        cdef Airframe airframe = w.airframe
        for i in range(MOTORS):
            action = actions[i]
            if not action >= -ONE:  # also NaN, which the wrapper never lets through
                action = -ONE
            elif action > ONE:
                action = ONE
            commands[i] = (action + ONE) * w.airframe.command_scale
            effort += (action - w.airframe.hover_action) * (action - w.airframe.hover_action)
        goal[0], goal[1], goal[2] = at[0], at[1], at[2]  # progress is toward this step's goal

        if self.task == RACE:
            for i in range(self.num_gates):
                sides[i] = plane_side(&w.gates[i], body.position)
        for substep in range(self.substeps):
            start[0], start[1], start[2] = body.position[0], body.position[1], body.position[2]
            fly(&body, &airframe, commands, self.substep_seconds)
            if out_of_flight(&body):
                outcome = CRASHED
                break
            if self.task == RACE:
                outcome = cross_gates(w, self.num_gates, sides, start, body.position,
                                      HALF * self.gate_size)
                if outcome == CRASHED:
                    break
                passed += outcome == PASSED_GATE
        w.body = body

        w.steps += 1
        distance = distance3(body.position, goal)
        reward = (self.progress_weight * (w.goal_distance - distance)
                  + self.gate_reward * passed
                  - self.stability_weight * norm3(body.angular_velocity)
                  - self.effort_weight * effort)
        if self.task == HOVER:
            w.recent_distances[w.recent_next] = distance
            w.recent_next = 0 if w.recent_next + 1 == STEPS_IN_A_SECOND else w.recent_next + 1
            if distance < self.hover_radius:
                reward += self.hover_bonus
                w.hold_steps += 1
                if w.reach_step < 0:
                    w.reach_step = w.steps
            w.goal_distance = distance
        else:
            w.goal_distance = distance3(body.position, w.gates[w.next_gate].centre)
        if outcome == CRASHED:
            w.crashed = True
            reward -= self.crash_penalty
            self.terminations[world] = 1
        self.rewards[world] = reward

    cdef void write_observation(self, int row, char* out) noexcept nogil:
        cdef float* o = <float*>out
        cdef DroneWorld* w = &self.worlds[row]
        cdef Body* b = &w.body
        cdef const float* q = b.quaternion
        cdef float qw = q[0], qx = q[1], qy = q[2], qz = q[3]
        cdef float relative[3]
        cdef int i, second
        cdef float inverse_speed_range = ONE / w.airframe.command_scale
        if self.task == HOVER:
            write_relative(b, w.target, o)
            memset(o + 3, 0, 3 * sizeof(float))
            write_relative(b, w.target, o + 6)
            memset(o + 9, 0, 3 * sizeof(float))
        else:
            second = 0 if w.next_gate + 1 == self.num_gates else w.next_gate + 1
            write_relative(b, w.gates[w.next_gate].centre, o)
            unrotate(q, w.gates[w.next_gate].forward, o + 3)
            write_relative(b, w.gates[second].centre, o + 6)
            unrotate(q, w.gates[second].forward, o + 9)
        unrotate(q, b.velocity, relative)
        write_shortened(relative, VELOCITY_SCALE, o + 12)
        for i in range(3):
            o[15 + i] = b.angular_velocity[i] * (ONE / SPIN_LIMIT)
        o[18] = ONE - TWO * (qy * qy + qz * qz)
        o[19] = TWO * (qx * qy - qw * qz)
        o[20] = TWO * (qx * qz + qw * qy)
        o[21] = TWO * (qx * qy + qw * qz)
        o[22] = ONE - TWO * (qx * qx + qz * qz)
        o[23] = TWO * (qy * qz - qw * qx)
        o[24] = TWO * (qx * qz - qw * qy)
        o[25] = TWO * (qy * qz + qw * qx)
        o[26] = ONE - TWO * (qx * qx + qy * qy)
        for i in range(MOTORS):
            o[27 + i] = b.motor_speeds[i] * inverse_speed_range - ONE
        # The Box bounds are exact: rounding (a unit vector's 1.0000001) and the crash step's
        # spin are clipped.
        for i in range(OBSERVATION_FLOATS):
            o[i] = clamp(o[i], -ONE, ONE)

    cdef void write_game_stats(self, int row, double* out) noexcept nogil:
        cdef DroneWorld* w = &self.worlds[row]
        cdef int count, i
        cdef double total = 0.0
        out[0] = w.gates_passed
        out[1] = 0.0
        out[2] = 0.0
        out[3] = 0.0
        if self.task == HOVER:
            out[1] = w.hold_steps / <double>STEPS_IN_A_SECOND
            out[2] = (w.reach_step if w.reach_step >= 0 else w.steps) / <double>STEPS_IN_A_SECOND
            count = <int>w.steps if w.steps < STEPS_IN_A_SECOND else STEPS_IN_A_SECOND
            for i in range(count):  # the newest first
                total += w.recent_distances[(w.recent_next + STEPS_IN_A_SECOND - 1 - i)
                                            % STEPS_IN_A_SECOND]
            out[3] = total / count if count > 0 else 0.0
        out[4] = 1.0 if w.crashed else 0.0

    # ---- Snapshots (get_state / set_state, never per step) ----

    cdef dict game_records(self):
        # A DroneWorld holds no pointer: it is the whole state of a flight. Its bytes viewed
        # with WORLD_DTYPE, since Cython cannot type it (see world_dtype).
        return {"worlds": np.asarray(
            <unsigned char[:self.num_worlds * sizeof(DroneWorld)]><unsigned char*>self.worlds
        ).view(WORLD_DTYPE)}

    cdef check_game_state(self, dict arrays):
        # Indices the rules read with (next_gate, recent_next) must stay in their arrays; every
        # number must be finite and the airframe's divisors positive, or the flight is damage.
        cdef const unsigned char[:, ::1] tables = arrays["worlds"]
        cdef const DroneWorld* w
        cdef int world
        gate_count = max(self.num_gates, 1)
        for world in range(self.num_worlds):
            w = <const DroneWorld*>&tables[world, 0]
            if not 0 <= w.next_gate < gate_count:
                raise ValueError(
                    f"state['game.worlds'] holds next gate {w.next_gate} in world {world}; "
                    f"it must be in [0, {gate_count - 1}]"
                )
            if not 0 <= w.recent_next < STEPS_IN_A_SECOND:
                raise ValueError(
                    f"state['game.worlds'] holds ring index {w.recent_next} in world {world}; "
                    f"it must be in [0, {STEPS_IN_A_SECOND - 1}]"
                )
            if w.steps < 0 or w.reach_step < -1 or w.gates_passed < 0 or w.hold_steps < 0:
                raise ValueError(f"state['game.worlds'] holds a negative count in world {world}")
            if not (all_finite(<const float*>&w.body, sizeof(Body) // sizeof(float))
                    and all_finite(<const float*>&w.airframe, sizeof(Airframe) // sizeof(float))
                    and all_finite(<const float*>w.gates, sizeof(w.gates) // sizeof(float))
                    and all_finite(w.target, 3)):
                raise ValueError(
                    f"state['game.worlds'] holds a non-finite number in world {world}"
                )
            for i, name in enumerate(PARAMETER_NAMES):
                value = w.airframe.values[i]
                if not (value > 0 if name in POSITIVE_PARAMETERS else value >= 0):
                    raise ValueError(
                        f"state['game.worlds'] holds {name} = {value} in world {world}"
                    )

    # ---- Python-level inspection (never per step; the test setters are tests/envs/setters.py) ----

    cdef DroneWorld* checked_world(self, world) except NULL:
        return &self.worlds[self.world_index(world)]

    def state(self, world):
        """A copy of one world's flight, in SI units: position, velocity (world frame),
        quaternion (w, x, y, z) and its rotation matrix R (body to world, [3, 3], the one the
        observation holds), angular_velocity (body frame), motor_speeds (rad/s); the goal
        (target for hover; gate_centres, gate_forwards, next_gate for race) and counts; the
        parameters drawn for the episode, and hover_action (their hover command)."""
        cdef DroneWorld* w = self.checked_world(world)
        cdef Body* b = &w.body
        n = self.num_gates
        gates = np.asarray(<float[:GATE_LIMIT * 9]><float*>w.gates).reshape(GATE_LIMIT, 9)[:n]
        return {
            "task": "hover" if self.task == HOVER else "race",
            "position": np.array(<float[:3]>b.position, dtype=np.float64),
            "velocity": np.array(<float[:3]>b.velocity, dtype=np.float64),
            "quaternion": np.array(<float[:4]>b.quaternion, dtype=np.float64),
            "rotation": rotation_matrix(b.quaternion),
            "angular_velocity": np.array(<float[:3]>b.angular_velocity, dtype=np.float64),
            "motor_speeds": np.array(<float[:MOTORS]>b.motor_speeds, dtype=np.float64),
            "target": np.array(<float[:3]>w.target, dtype=np.float64),
            "gate_centres": gates[:, 0:3].astype(np.float64),
            "gate_forwards": gates[:, 3:6].astype(np.float64),
            "gate_size": float(self.gate_size),
            "next_gate": int(w.next_gate),
            "gates_passed": int(w.gates_passed),
            "goal_distance": float(w.goal_distance),
            "steps": int(w.steps),
            "reach_step": int(w.reach_step),
            "hold_steps": int(w.hold_steps),
            "crashed": bool(w.crashed),
            "parameters": {name: float(w.airframe.values[i])
                           for i, name in enumerate(PARAMETER_NAMES)},
            "hover_action": float(w.airframe.hover_action),
        }

cdef bint all_finite(const float* numbers, Py_ssize_t count):
    cdef Py_ssize_t i
    for i in range(count):
        if not isfinite(numbers[i]):
            return False
    return True


cdef rotation_matrix(const float* q):
    # R of the unit quaternion q (w, x, y, z) as float64 [3, 3]: body vectors to world.
    cdef float w = q[0], x = q[1], y = q[2], z = q[3]
    return np.array([
        [ONE - TWO * (y * y + z * z), TWO * (x * y - w * z), TWO * (x * z + w * y)],
        [TWO * (x * y + w * z), ONE - TWO * (x * x + z * z), TWO * (y * z - w * x)],
        [TWO * (x * z - w * y), TWO * (y * z + w * x), ONE - TWO * (x * x + y * y)],
    ], dtype=np.float64)
