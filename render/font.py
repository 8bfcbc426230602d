"""The built-in bitmap font: 5 x 7-pixel glyphs, drawn the same way by every canvas.

Both backends draw text from these bitmaps (ArrayCanvas blits them, RaylibCanvas draws their
pixel runs as rectangles), so a HUD looks the same in a frame and in a window, and neither
needs a font file. Upper-case letters, digits and ASCII punctuation have glyphs; lower-case
letters are drawn as upper-case ones, and any other character as "?".
"""

from __future__ import annotations

import functools

import numpy as np

GLYPH_WIDTH = 5
GLYPH_HEIGHT = 7
#: Pixels from one glyph's left edge to the next one's (one column of spacing).
ADVANCE = GLYPH_WIDTH + 1

# Each glyph is 7 rows of 5 pixels, top row first; "#" is ink.
_GLYPHS: dict[str, str] = {
    " ": "..... ..... ..... ..... ..... ..... .....",
    "A": ".###. #...# #...# ##### #...# #...# #...#",
    "B": "####. #...# #...# ####. #...# #...# ####.",
    "C": ".###. #...# #.... #.... #.... #...# .###.",
    "D": "####. #...# #...# #...# #...# #...# ####.",
    "E": "##### #.... #.... ####. #.... #.... #####",
    "F": "##### #.... #.... ####. #.... #.... #....",
    "G": ".###. #...# #.... #.### #...# #...# .####",
    "H": "#...# #...# #...# ##### #...# #...# #...#",
    "I": ".###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.",
    "J": "..### ...#. ...#. ...#. ...#. #..#. .##..",
    "K": "#...# #..#. #.#.. ##... #.#.. #..#. #...#",
    "L": "#.... #.... #.... #.... #.... #.... #####",
    "M": "#...# ##.## #.#.# #.#.# #...# #...# #...#",
    "N": "#...# ##..# #.#.# #..## #...# #...# #...#",
    "O": ".###. #...# #...# #...# #...# #...# .###.",
    "P": "####. #...# #...# ####. #.... #.... #....",
    "Q": ".###. #...# #...# #...# #.#.# #..#. .##.#",
    "R": "####. #...# #...# ####. #.#.. #..#. #...#",
    "S": ".#### #.... #.... .###. ....# ....# ####.",
    "T": "##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "U": "#...# #...# #...# #...# #...# #...# .###.",
    "V": "#...# #...# #...# #...# #...# .#.#. ..#..",
    "W": "#...# #...# #...# #.#.# #.#.# #.#.# .#.#.",
    "X": "#...# #...# .#.#. ..#.. .#.#. #...# #...#",
    "Y": "#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..",
    "Z": "##### ....# ...#. ..#.. .#... #.... #####",
    "0": ".###. #...# #..## #.#.# ##..# #...# .###.",
    "1": "..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.",
    "2": ".###. #...# ....# ...#. ..#.. .#... #####",
    "3": "####. ....# ....# .###. ....# ....# ####.",
    "4": "...#. ..##. .#.#. #..#. ##### ...#. ...#.",
    "5": "##### #.... ####. ....# ....# #...# .###.",
    "6": "..##. .#... #.... ####. #...# #...# .###.",
    "7": "##### ....# ...#. ..#.. .#... .#... .#...",
    "8": ".###. #...# #...# .###. #...# #...# .###.",
    "9": ".###. #...# #...# .#### ....# ...#. .##..",
    ".": "..... ..... ..... ..... ..... .##.. .##..",
    ",": "..... ..... ..... ..... .##.. ..#.. .#...",
    ":": "..... .##.. .##.. ..... .##.. .##.. .....",
    ";": "..... .##.. .##.. ..... .##.. ..#.. .#...",
    "!": "..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..",
    "?": ".###. #...# ....# ...#. ..#.. ..... ..#..",
    "-": "..... ..... ..... ##### ..... ..... .....",
    "+": "..... ..#.. ..#.. ##### ..#.. ..#.. .....",
    "=": "..... ..... ##### ..... ##### ..... .....",
    "*": "..... #.#.# .###. ##### .###. #.#.# .....",
    "/": "....# ....# ...#. ..#.. .#... #.... #....",
    "\\": "#.... #.... .#... ..#.. ...#. ....# ....#",
    "(": "...#. ..#.. .#... .#... .#... ..#.. ...#.",
    ")": ".#... ..#.. ...#. ...#. ...#. ..#.. .#...",
    "[": ".###. .#... .#... .#... .#... .#... .###.",
    "]": ".###. ...#. ...#. ...#. ...#. ...#. .###.",
    "{": "...## ..#.. ..#.. ##... ..#.. ..#.. ...##",
    "}": "##... ..#.. ..#.. ...## ..#.. ..#.. ##...",
    "<": "...#. ..#.. .#... #.... .#... ..#.. ...#.",
    ">": ".#... ..#.. ...#. ....# ...#. ..#.. .#...",
    "%": "##... ##..# ...#. ..#.. .#... #..## ...##",
    "#": ".#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.",
    "_": "..... ..... ..... ..... ..... ..... #####",
    "'": "..#.. ..#.. .#... ..... ..... ..... .....",
    '"': ".#.#. .#.#. .#.#. ..... ..... ..... .....",
    "|": "..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..",
    "^": "..#.. .#.#. #...# ..... ..... ..... .....",
    "~": "..... ..... .#... #.#.# ...#. ..... .....",
    "`": ".#... ..#.. ...#. ..... ..... ..... .....",
    "&": ".##.. #..#. #.#.. .#... #.#.# #..#. .##.#",
    "@": ".###. #...# #.### #.#.# #.### #.... .####",
    "$": "..#.. .#### #.#.. .###. ..#.# ####. ..#..",
}


@functools.cache
def glyph(char: str) -> np.ndarray:
    """The bool [7, 5] bitmap of one character (lower case as upper case, unknown as "?")."""
    rows = _GLYPHS.get(char.upper(), _GLYPHS["?"]).split()
    return np.array([[pixel == "#" for pixel in row] for row in rows], dtype=np.bool_)


@functools.cache
def glyph_runs(char: str) -> tuple[tuple[int, int, int], ...]:
    """The glyph's ink as horizontal runs (row, first column, length): few rectangles to draw."""
    runs = []
    for row, line in enumerate(glyph(char)):
        column = 0
        while column < GLYPH_WIDTH:
            if line[column]:
                start = column
                while column < GLYPH_WIDTH and line[column]:
                    column += 1
                runs.append((row, start, column - start))
            else:
                column += 1
    return tuple(runs)


def text_size(text: str, scale: int = 1) -> tuple[int, int]:
    """Width and height in pixels of one line of text at an integer scale (no trailing gap)."""
    if not text:
        return 0, 0
    return (len(text) * ADVANCE - 1) * scale, GLYPH_HEIGHT * scale


def text_mask(text: str, scale: int = 1) -> np.ndarray:
    """The bool [height, width] ink of one line of text (see text_size), scaled by repetition."""
    width, height = text_size(text, 1)
    mask = np.zeros((height, width), dtype=np.bool_)
    for index, char in enumerate(text):
        left = index * ADVANCE
        mask[:, left:left + GLYPH_WIDTH] = glyph(char)
    if scale > 1:
        mask = mask.repeat(scale, axis=0).repeat(scale, axis=1)
    return mask
