"""Every env renders headless: frames of the scene's size, not blank, changing with the state,
with known objects (the paddle, the ball, a snake's head) at the pixels their state gives;
the Gymnasium render API (modes, fps, render_env_index, render_view, errors)."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import shoal
from shoal.render.scene import HUD_HEIGHT
from shoal.render.scenes import breakout as breakout_scene
from shoal.render.scenes import snake as snake_scene
from tests.envs.conftest import make_small_vec, small_kwargs
from tests.envs.setters import (
    clear_world,
    place_food,
    place_snake,
    set_ball,
    set_board,
    set_bricks,
    set_maze,
    set_npc,
    set_paddle,
    set_terrain,
)


def rgb(color) -> np.ndarray:
    return np.array(color, dtype=np.uint8)


@pytest.mark.parametrize("env_id", shoal.ENV_IDS)
def test_every_env_renders_a_frame_headless(env_id):
    envs = make_small_vec(env_id, worlds=2, render_mode="rgb_array")
    envs.reset(seed=0)
    frame = envs.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[:2] == (envs.scene.height, envs.scene.width)
    assert frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0  # what video encoders want
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 4  # not blank: HUD, field, objects
    before = frame
    for _ in range(5):
        envs.step(envs.action_space.sample())
    assert (envs.render() != before).any()  # the HUD's step count at least
    assert envs.metadata["render_modes"] == ["human", "rgb_array"]
    assert isinstance(envs.metadata["render_fps"], int) and envs.metadata["render_fps"] > 0
    envs.close()


def test_single_env_render_is_the_rows_render():
    env = gymnasium.make("shoal/Snake-v0", render_mode="rgb_array")
    env.reset(seed=3)
    frame = env.render()
    assert frame.shape == (env.unwrapped.scene.height, env.unwrapped.scene.width, 3)
    assert env.metadata["render_fps"] == 10
    env.close()


def test_breakout_fps_follows_the_frameskip():
    assert gymnasium.make("shoal/Breakout-v0", frameskip=4).metadata["render_fps"] == 15
    assert gymnasium.make("shoal/Breakout-v0", frameskip=2).metadata["render_fps"] == 30


def test_breakout_paddle_ball_and_bricks_land_where_the_state_says():
    env = gymnasium.make("shoal/Breakout-v0", render_mode="rgb_array").unwrapped
    env.reset(seed=0)
    core = env.core
    set_paddle(core, 0, 200.0)
    set_ball(core, 0, 400.0, 250.0, 2.0, -3.0)
    bricks = np.ones((6, 18))
    bricks[5, 3] = 0  # a gap in the bottom row
    set_bricks(core, 0, bricks)
    frame = env.render()
    state = core.state(0)
    paddle_y = HUD_HEIGHT + int(state["paddle_y"]) + 2
    half = state["paddle_width"] / 2
    assert (frame[paddle_y, 200] == rgb(breakout_scene.PADDLE_COLOR)).all()
    assert (frame[paddle_y, int(200 - half) + 1] == rgb(breakout_scene.PADDLE_COLOR)).all()
    assert (frame[paddle_y, int(200 - half) - 2] == rgb(breakout_scene.BACKGROUND)).all()
    assert (frame[paddle_y, int(200 + half) + 1] == rgb(breakout_scene.BACKGROUND)).all()
    assert (frame[HUD_HEIGHT + 250, 400] == rgb(breakout_scene.BALL_COLOR)).all()
    # Brick (row 5, column 3) is gone; its neighbours stand in the bottom row's colour.
    bottom_row_y = HUD_HEIGHT + 72 + 5 * 12 + 5
    assert (frame[bottom_row_y, 3 * 32 + 16] == rgb(breakout_scene.BACKGROUND)).all()
    assert (frame[bottom_row_y, 4 * 32 + 16] == rgb(breakout_scene.ROW_COLORS[5])).all()
    # Moving the paddle moves its pixels.
    set_paddle(core, 0, 450.0)
    moved = env.render()
    assert (moved[paddle_y, 200] == rgb(breakout_scene.BACKGROUND)).all()
    assert (moved[paddle_y, 450] == rgb(breakout_scene.PADDLE_COLOR)).all()


def snake_cell_centre(scene, x: int, y: int) -> tuple[int, int]:
    """The pixel (row, column) at the centre of field cell (x, y) in the world view."""
    size = scene.cell_size
    return HUD_HEIGHT + (y + 1) * size + size // 2, scene.field_left + (x + 1) * size + size // 2


def test_snake_head_body_and_food_land_where_the_state_says():
    env = gymnasium.make("shoal/Snake-v0", render_mode="rgb_array").unwrapped
    env.reset(seed=0)
    core = env.core
    clear_world(core, 0)
    place_snake(core, 0, 0, [(3, 5), (4, 5), (5, 5)])
    place_food(core, 0, 10, 2)
    frame = env.render()
    scene = env.scene
    palette = snake_scene.PALETTE
    assert (frame[snake_cell_centre(scene, 5, 5)] == palette[snake_scene.FOLLOWED_HEAD]).all()
    assert (frame[snake_cell_centre(scene, 4, 5)] == palette[snake_scene.FOLLOWED_BODY]).all()
    assert (frame[snake_cell_centre(scene, 10, 2)] == palette[snake_scene.FOOD]).all()
    assert (frame[snake_cell_centre(scene, 0, 0)] == palette[snake_scene.EMPTY]).all()
    assert (frame[snake_cell_centre(scene, -1, 0)] == palette[snake_scene.WALL]).all()


def test_snake_arena_follows_the_render_env_index_and_its_camera():
    kwargs = small_kwargs("shoal/SnakeArena-v0")
    agents = kwargs["snakes_per_arena"]
    envs = gymnasium.make_vec("shoal/SnakeArena-v0", num_envs=agents, render_mode="rgb_array",
                              render_env_index=2, **kwargs)
    envs.reset(seed=1)
    core = envs.core
    clear_world(core, 0)
    place_snake(core, 0, 2, [(6, 6), (7, 6)])
    place_snake(core, 0, 1, [(1, 1)])
    frame = envs.render()
    palette = snake_scene.PALETTE
    scene = envs.scene
    assert (frame[snake_cell_centre(scene, 7, 6)] == palette[snake_scene.FOLLOWED_HEAD]).all()
    other_head = snake_scene.OTHER_HEAD + 1 % snake_scene.OTHER_HUES
    assert (frame[snake_cell_centre(scene, 1, 1)] == palette[other_head]).all()
    envs.close()

    camera = gymnasium.make_vec("shoal/SnakeArena-v0", num_envs=agents, render_mode="rgb_array",
                                render_env_index=2, render_view="agent", **kwargs)
    camera.reset(seed=1)
    clear_world(camera.core, 0)
    place_snake(camera.core, 0, 2, [(6, 6), (7, 6)])
    frame = camera.render()
    scene = camera.scene
    assert scene.cells_x == snake_scene.CAMERA_CELLS
    # The followed head sits in the camera's centre cell.
    centre = snake_scene.CAMERA_CELLS // 2
    size = scene.cell_size
    pixel = HUD_HEIGHT + centre * size + size // 2, scene.field_left + centre * size + size // 2
    assert (frame[pixel] == palette[snake_scene.FOLLOWED_HEAD]).all()
    camera.close()


def test_render_errors_and_warnings():
    with pytest.raises(ValueError, match="render_mode must be one of"):
        gymnasium.make_vec("shoal/Snake-v0", num_envs=2, render_mode="ansi")
    with pytest.raises(ValueError, match="render_env_index must be in"):
        gymnasium.make_vec("shoal/Snake-v0", num_envs=2, render_env_index=2)
    with pytest.raises(ValueError, match="render_view must be one of"):
        gymnasium.make_vec("shoal/Snake-v0", num_envs=2, render_view="top")
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=2, render_mode="rgb_array")
    with pytest.raises(shoal.ResetNeeded, match="before reset"):
        envs.render()
    envs.close()
    with pytest.raises(shoal.ClosedEnvironmentError):
        envs.render()
    quiet = gymnasium.make_vec("shoal/Snake-v0", num_envs=2)
    quiet.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode=None"):
        assert quiet.render() is None


def test_render_env_index_picks_the_sub_env():
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=3, render_mode="rgb_array",
                              render_env_index=2)
    envs.reset(seed=0)
    set_paddle(envs.core, 2, 100.0)
    set_paddle(envs.core, 0, 500.0)
    frame = envs.render()
    row = HUD_HEIGHT + 312
    assert (frame[row, 100] == rgb(breakout_scene.PADDLE_COLOR)).all()
    assert (frame[row, 500] == rgb(breakout_scene.BACKGROUND)).all()


def test_an_rgb_array_env_passes_check_env_with_its_render_checks(display):
    from gymnasium.utils.env_checker import check_env

    env = gymnasium.make("shoal/Breakout-v0", render_mode="rgb_array")
    check_env(env.unwrapped, skip_render_check=False)  # renders it, then each mode anew


def test_record_video_wrapper_records_episodes(tmp_path):
    pytest.importorskip("moviepy")
    from gymnasium.wrappers import RecordVideo

    env = RecordVideo(gymnasium.make("shoal/Snake-v0", render_mode="rgb_array", width=6,
                                     height=6, max_episode_steps=30),
                      str(tmp_path / "videos"), episode_trigger=lambda episode: True, disable_logger=True)
    env.reset(seed=0)
    for _ in range(60):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            env.reset()
    env.close()
    videos = sorted((tmp_path / "videos").glob("*.mp4"))
    assert videos and all(video.stat().st_size > 0 for video in videos)


def test_gymnasium_play_runs_unchanged(monkeypatch):
    pygame = pytest.importorskip("pygame")
    from gymnasium.utils.play import play

    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # pygame's window without a display
    env = gymnasium.make("shoal/Breakout-v0", render_mode="rgb_array")
    assert env.unwrapped.get_keys_to_action() == {("a",): 1, ("d",): 2}
    frames = []

    def stop_after_ten(obs_t, obs_tp1, action, reward, terminated, truncated, info):
        frames.append(action)
        if len(frames) == 10:
            pygame.event.post(pygame.event.Event(pygame.QUIT))

    play(env, fps=1000, callback=stop_after_ten, noop=0)
    assert len(frames) == 10


def test_2048_tiles_land_where_the_board_says():
    from shoal.render.scenes import game2048 as scene

    env = gymnasium.make("shoal/2048-v0", render_mode="rgb_array").unwrapped
    env.reset(seed=0)
    cells = np.zeros((4, 4), np.int64)
    cells[2, 3] = 11  # the 2048 tile
    cells[0, 0] = 1
    set_board(env.core, 0, cells, score=20000)
    frame = env.render()
    for (row, column), exponent in (((2, 3), 11), ((0, 0), 1), ((1, 1), 0)):
        left, top = scene.tile_origin(row, column)
        corner = frame[top + 2, left + 2]  # inside the tile, clear of its label
        assert (corner == rgb(scene.tile_color(exponent))).all()
    # The label is drawn: the 2048 tile holds text pixels of the light colour.
    left, top = scene.tile_origin(2, 3)
    tile = frame[top:top + scene.TILE, left:left + scene.TILE]
    assert np.all(tile == rgb(scene.LIGHT_TEXT), axis=2).sum() > 50


def test_maze_tiles_and_agent_land_where_the_maze_says():
    from shoal.render.scenes import maze as scene
    from tests.envs.test_maze_rules import CORRIDOR

    env = gymnasium.make("shoal/Maze-v0", min_size=7, max_size=7, vision=2,
                         render_mode="rgb_array").unwrapped
    env.reset(seed=0)
    set_maze(env.core, 0, CORRIDOR, agent=(1, 3), goal=(5, 5), heading=1)
    frame = env.render()
    cell = env.scene.cell_size  # the maze has the largest size: it fills the frame
    left, top = env.scene.area_left, HUD_HEIGHT
    for (row, column), code in (((2, 2), 0), ((1, 2), 1), ((5, 5), 2), ((0, 0), 0)):
        pixel = frame[top + row * cell + 2, left + column * cell + 2]
        assert (pixel == scene.PALETTE[code]).all(), (row, column)
    centre_y, centre_x = top + 1 * cell + cell // 2, left + 3 * cell + cell // 2
    assert (frame[centre_y, centre_x - 2] == rgb(scene.AGENT)).all()
    # The heading mark sits on the right of the disc (heading 1: right), not on its left.
    assert (frame[centre_y, centre_x + cell // 4] == rgb(scene.HEADING)).all()
    assert (frame[centre_y, centre_x - cell // 4] == rgb(scene.AGENT)).all()
    # The square the agent sees (vision 2), outlined where it overlaps the maze: rows 0-3.
    outline_top = top + 0 * cell
    assert (frame[outline_top, left + 1 * cell + 4] == rgb(scene.VISION_OUTLINE)).all()
    assert (frame[top + 4 * cell - 1, left + 1 * cell + 4] == rgb(scene.VISION_OUTLINE)).all()

    # The agent's view with relative moves: facing right, what lies right of (1, 3) on the
    # map (the corridor, then the goal's column) is the view's top row: ahead.
    env = gymnasium.make("shoal/Maze-v0", min_size=7, max_size=7, vision=2, moves="relative",
                         render_mode="rgb_array", render_view="agent").unwrapped
    env.reset(seed=0)
    set_maze(env.core, 0, CORRIDOR, agent=(1, 3), goal=(5, 5), heading=1)
    frame = env.render()
    cell, left = env.scene.cell_size, env.scene.area_left
    view = env.core.state(0)["view"]
    # Ahead two tiles: floor (1, 5); to the left: the border wall (row 0), then unknown.
    assert view[0, 2] == 1 and view[2, 1] == 0 and view[2, 0] == 4
    for row in range(5):
        for column in range(5):
            if (row, column) == (2, 2):
                continue
            pixel = frame[HUD_HEIGHT + row * cell + 2, left + column * cell + 2]
            assert (pixel == scene.PALETTE[view[row, column]]).all(), (row, column)
    # Facing the top of the view: the mark is above the disc's centre.
    centre_y, centre_x = HUD_HEIGHT + 2 * cell + cell // 2, left + 2 * cell + cell // 2
    assert (frame[centre_y - cell // 4, centre_x] == rgb(scene.HEADING)).all()


def test_mmo_agents_npcs_and_the_camera_land_where_the_world_says():
    from shoal.render.scenes import mmo as scene

    envs = gymnasium.make_vec("shoal/MMO-v0", num_envs=4, agents_per_world=4, width=40,
                              height=40, npcs_per_world=2, render_mode="rgb_array",
                              render_env_index=1)
    envs.reset(seed=0)
    core = envs.core
    set_terrain(core, 0, 5, 6, 1)
    set_npc(core, 0, 0, 5, 6, tier=4)
    state = core.state(0)
    frame = envs.render()
    size, left = envs.scene.tile_size, envs.scene.area_left

    def pixel(row, column):
        return frame[HUD_HEIGHT + row * size + size // 2, left + column * size + size // 2]

    followed, other = state["agents"][1], state["agents"][0]
    assert (pixel(followed["row"], followed["column"]) == scene.PALETTE[scene.FOLLOWED]).all()
    assert (pixel(other["row"], other["column"]) == scene.PALETTE[scene.AGENT]).all()
    assert (pixel(5, 6) == scene.PALETTE[scene.NPC_TIER_1 + 3]).all()
    terrain = state["terrain"][0, 0]
    if not state["resources"][0, 0] and not state["items"][0, 0]:
        assert (pixel(0, 0) == scene.PALETTE[terrain]).all()

    camera = gymnasium.make_vec("shoal/MMO-v0", num_envs=4, agents_per_world=4, width=40,
                                height=40, npcs_per_world=2, render_mode="rgb_array",
                                render_view="agent", render_env_index=1)
    camera.reset(seed=0)
    frame = camera.render()
    size, left = camera.scene.tile_size, camera.scene.area_left
    half = scene.CAMERA_TILES // 2
    centre = frame[HUD_HEIGHT + half * size + size // 2, left + half * size + size // 2]
    assert (centre == scene.PALETTE[scene.FOLLOWED]).all()  # the camera follows agent 1
