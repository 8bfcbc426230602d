"""Pictures and videos from frames: exact PNGs with no dependency, GIFs (Pillow), MP4s
(imageio-ffmpeg), all written atomically; bad input is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

from shoal.render.video import VideoWriter, write_png


def frames(count: int, height: int = 24, width: int = 32) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (6, 3), dtype=np.uint8)  # few colours, as scenes have
    return [palette[rng.integers(0, 6, (height, width))] for _ in range(count)]


def test_png_round_trips_exactly(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    frame = np.random.default_rng(1).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    write_png(tmp_path / "frame.png", frame)
    assert (np.asarray(Image.open(tmp_path / "frame.png").convert("RGB")) == frame).all()
    assert [p.name for p in tmp_path.iterdir()] == ["frame.png"]


def test_gif_keeps_every_frame_and_its_colours(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    written = frames(5)
    with VideoWriter(tmp_path / "clip.gif", fps=10) as writer:
        for frame in written:
            writer.add(frame)
    gif = Image.open(tmp_path / "clip.gif")
    assert gif.n_frames == 5 and gif.info["duration"] == 100
    for index, frame in enumerate(written):
        gif.seek(index)
        assert (np.asarray(gif.convert("RGB")) == frame).all()


def test_mp4_is_written_through_ffmpeg(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    with VideoWriter(tmp_path / "clip.mp4", fps=15) as writer:
        for frame in frames(20):
            writer.add(frame)
    assert (tmp_path / "clip.mp4").stat().st_size > 100
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_a_failed_recording_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    pytest.importorskip("PIL.Image")
    target = tmp_path / "clip.gif"
    target.write_bytes(b"old video")
    with pytest.raises(RuntimeError, match="crashed"):
        with VideoWriter(target, fps=10) as writer:
            writer.add(frames(1)[0])
            raise RuntimeError("crashed")
    assert target.read_bytes() == b"old video"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]


def test_bad_input_is_a_clear_error(tmp_path):
    pytest.importorskip("PIL.Image")
    with pytest.raises(ValueError, match="must end in one of .gif"):
        VideoWriter(tmp_path / "clip.avi", fps=10)
    with pytest.raises(ValueError, match="fps must be a number"):
        VideoWriter(tmp_path / "clip.gif", fps=0)
    with pytest.raises(ValueError, match="uint8 \\[height, width, 3\\]"):
        write_png(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    writer = VideoWriter(tmp_path / "clip.gif", fps=10)
    writer.add(frames(1)[0])
    with pytest.raises(ValueError, match="every frame must be 32 x 24"):
        writer.add(np.zeros((10, 10, 3), np.uint8))
    writer.abort()
    empty = VideoWriter(tmp_path / "empty.gif", fps=10)
    with pytest.raises(ValueError, match="no frames were added"):
        empty.close()
    assert list(tmp_path.iterdir()) == []
