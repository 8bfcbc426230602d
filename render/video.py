"""Writing frames to files: PNG pictures (no dependency), GIF videos (Pillow) and MP4 videos
(imageio-ffmpeg). Every file is written atomically (shoal.files): a crash never leaves a
torn picture or video under the name.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from shoal.files import commit, discard, temporary_beside, write_atomically

GIF_SUFFIXES = (".gif",)
FFMPEG_SUFFIXES = (".mp4", ".mkv", ".webm", ".mov")
VIDEO_SUFFIXES = GIF_SUFFIXES + FFMPEG_SUFFIXES


def check_frame(frame: Any) -> np.ndarray:
    array = np.asarray(frame)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8 or 0 in array.shape:
        raise ValueError(
            f"a frame must be a uint8 [height, width, 3] array, got {array.dtype} {array.shape}"
        )
    return array


def write_png(path: str | Path, frame: np.ndarray) -> None:
    """Save one frame as an 8-bit RGB PNG, atomically."""
    pixels = check_frame(frame)
    height, width, _ = pixels.shape
    # Each row starts with filter type 0 (none); zlib does the compressing.
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, RGB
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))
    write_atomically(path, lambda file: file.write(data))


class VideoWriter:
    """Frames in, a video file out: `.gif` through Pillow, `.mp4` (and .mkv, .webm, .mov)
    through imageio-ffmpeg. Use as a context manager; the file appears only when the writer
    closes without an error.

    A GIF keeps its frames in memory until it is written (one byte per pixel); an MP4 streams
    them to ffmpeg. All frames must have the size of the first.
    """

    def __init__(self, path: str | Path, fps: float):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            raise ValueError(
                f"video path must end in one of {', '.join(VIDEO_SUFFIXES)}, got {str(path)!r}"
            )
        if not (isinstance(fps, (int, float)) and 0 < fps <= 1000):
            raise ValueError(f"fps must be a number in (0, 1000], got {fps!r}")
        self.fps = float(fps)
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._gif_frames: list[Any] = []
        self._ffmpeg: Any = None
        if suffix in GIF_SUFFIXES:
            self._image = import_optional("PIL.Image", "GIF videos need Pillow: pip install pillow")
        else:
            self._imageio_ffmpeg = import_optional(
                "imageio_ffmpeg",
                f"{suffix} videos need imageio-ffmpeg: pip install imageio-ffmpeg (or write a .gif)",
            )
        self._temporary = temporary_beside(self.path)

    def add(self, frame: np.ndarray) -> None:
        frame = check_frame(frame)
        size = (frame.shape[1], frame.shape[0])
        if self.size is None:
            self.size = size
            if self.path.suffix.lower() not in GIF_SUFFIXES:
                self._ffmpeg = self._imageio_ffmpeg.write_frames(
                    str(self._temporary), size, fps=self.fps, quality=8, macro_block_size=2,
                    output_params=["-loglevel", "error"],
                )
                self._ffmpeg.send(None)  # start ffmpeg
        elif size != self.size:
            raise ValueError(f"every frame must be {self.size[0]} x {self.size[1]}, got {size[0]} x {size[1]}")
        if self._ffmpeg is not None:
            self._ffmpeg.send(np.ascontiguousarray(frame))
        else:
            # 256 colours per frame, chosen for it: exact for scenes with few colours.
            self._gif_frames.append(self._image.fromarray(frame).quantize(256))
        self.frames += 1

    def close(self) -> None:
        """Finish the file and move it into place (a video of no frames is an error)."""
        try:
            if self.frames == 0:
                raise ValueError(f"no frames were added: {self.path} was not written")
            if self._ffmpeg is not None:
                self._ffmpeg.close()
                self._ffmpeg = None
            else:
                first, *rest = self._gif_frames
                first.save(self._temporary, format="GIF", save_all=True, append_images=rest,
                           duration=round(1000 / self.fps), loop=0)
                self._gif_frames.clear()
        except BaseException:
            self.abort()
            raise
        commit(self._temporary, self.path)

    def abort(self) -> None:
        """Drop everything; the target file is left as it was."""
        if self._ffmpeg is not None:
            try:
                self._ffmpeg.close()
            except Exception:  # ffmpeg may already have failed; the file is discarded anyway
                pass
            self._ffmpeg = None
        self._gif_frames.clear()
        discard(self._temporary)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def import_optional(module: str, message: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(message) from None
