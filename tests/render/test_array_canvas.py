"""ArrayCanvas, pixel by pixel: each primitive covers the pixels whose centres lie inside it,
clips at the borders, and writes its colour exactly."""

from __future__ import annotations

import numpy as np
import pytest

from shoal.render.array_canvas import ArrayCanvas
from shoal.render.font import ADVANCE, GLYPH_HEIGHT, GLYPH_WIDTH, glyph, glyph_runs, text_mask, text_size

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def painted(canvas: ArrayCanvas, color=RED) -> np.ndarray:
    return np.all(canvas.pixels == color, axis=2)


def test_a_new_canvas_is_black_and_clear_fills_it():
    canvas = ArrayCanvas(7, 5)
    assert canvas.frame().shape == (5, 7, 3) and canvas.frame().dtype == np.uint8
    assert not canvas.frame().any()
    canvas.clear((1, 2, 3))
    assert (canvas.frame() == (1, 2, 3)).all()


def test_frame_is_a_copy():
    canvas = ArrayCanvas(4, 4)
    frame = canvas.frame()
    canvas.clear(WHITE)
    assert not frame.any()


def test_rect_covers_exactly_the_pixels_it_spans():
    canvas = ArrayCanvas(10, 8)
    canvas.rect(2, 3, 4, 2, RED)
    expected = np.zeros((8, 10), bool)
    expected[3:5, 2:6] = True
    assert (painted(canvas) == expected).all()
    assert (canvas.pixels[~expected] == 0).all()


def test_rect_with_fractional_edges_covers_pixels_whose_centres_are_inside():
    canvas = ArrayCanvas(10, 10)
    canvas.rect(1.6, 2.4, 2.0, 1.2, RED)  # x in [1.6, 3.6): centres 2.5, 3.5; y in [2.4, 3.6): 2.5, 3.5
    expected = np.zeros((10, 10), bool)
    expected[2:4, 2:4] = True
    assert (painted(canvas) == expected).all()


def test_shapes_are_clipped_at_every_border():
    canvas = ArrayCanvas(6, 4)
    canvas.rect(-3, -2, 5, 4, RED)  # overlaps the top-left corner
    canvas.rect(4, 2, 10, 10, GREEN)  # runs off the bottom-right
    canvas.rect(20, 20, 3, 3, BLUE)  # entirely outside: nothing, no error
    assert painted(canvas, RED)[0:2, 0:2].all() and painted(canvas, RED).sum() == 4
    assert painted(canvas, GREEN)[2:4, 4:6].all() and painted(canvas, GREEN).sum() == 4
    assert not painted(canvas, BLUE).any()


def test_later_shapes_cover_earlier_ones():
    canvas = ArrayCanvas(5, 5)
    canvas.rect(0, 0, 5, 5, RED)
    canvas.rect(1, 1, 3, 3, GREEN)
    assert painted(canvas, GREEN).sum() == 9 and painted(canvas, RED).sum() == 16


def test_rect_outline_is_inside_the_bounds():
    canvas = ArrayCanvas(8, 8)
    canvas.rect_outline(1, 1, 6, 5, RED, thickness=1)
    expected = np.zeros((8, 8), bool)
    expected[1:6, 1:7] = True
    expected[2:5, 2:6] = False
    assert (painted(canvas) == expected).all()


def test_a_thick_outline_fills_a_small_rectangle():
    canvas = ArrayCanvas(8, 8)
    canvas.rect_outline(2, 2, 3, 3, RED, thickness=5)
    assert painted(canvas)[2:5, 2:5].all() and painted(canvas).sum() == 9


def test_circle_covers_centres_within_the_radius():
    canvas = ArrayCanvas(20, 20)
    canvas.circle(10, 10, 4, RED)
    rows, columns = np.mgrid[0:20, 0:20] + 0.5
    expected = (rows - 10) ** 2 + (columns - 10) ** 2 <= 16
    assert (painted(canvas) == expected).all()
    assert painted(canvas).sum() == expected.sum() > 40


def test_circle_is_clipped():
    canvas = ArrayCanvas(10, 10)
    canvas.circle(0, 0, 3, RED)
    assert painted(canvas)[0, 0] and not painted(canvas)[5:, :].any()


def test_polygon_fills_a_triangle_in_either_winding():
    for points in ([(0, 0), (8, 0), (0, 8)], [(0, 0), (0, 8), (8, 0)]):
        canvas = ArrayCanvas(8, 8)
        canvas.polygon(points, RED)
        rows, columns = np.mgrid[0:8, 0:8] + 0.5
        expected = rows + columns <= 8
        assert (painted(canvas) == expected).all()


def test_a_degenerate_polygon_draws_nothing():
    canvas = ArrayCanvas(8, 8)
    canvas.polygon([(0, 0), (4, 4), (8, 8)], RED)
    assert not painted(canvas).any()


def test_line_is_a_rectangle_around_the_segment():
    canvas = ArrayCanvas(12, 8)
    canvas.line(2, 4, 10, 4, RED, thickness=2)  # y in [3, 5], x in [2, 10]
    expected = np.zeros((8, 12), bool)
    expected[3:5, 2:10] = True
    assert (painted(canvas) == expected).all()
    canvas.line(5, 5, 5, 5, GREEN, thickness=3)  # zero length: nothing
    assert not painted(canvas, GREEN).any()


def test_diagonal_line_stays_near_its_segment():
    canvas = ArrayCanvas(20, 20)
    canvas.line(0, 0, 20, 20, RED, thickness=2)
    rows, columns = np.nonzero(painted(canvas))
    assert len(rows) > 20
    assert (np.abs(rows - columns) <= 1).all()


def test_text_draws_the_font_glyphs():
    canvas = ArrayCanvas(40, 12)
    canvas.text(3, 2, "HI", WHITE)
    ink = painted(canvas, WHITE)
    assert (ink[2:2 + GLYPH_HEIGHT, 3:3 + GLYPH_WIDTH] == glyph("H")).all()
    second = 3 + ADVANCE
    assert (ink[2:2 + GLYPH_HEIGHT, second:second + GLYPH_WIDTH] == glyph("I")).all()
    assert ink.sum() == glyph("H").sum() + glyph("I").sum()


def test_scaled_text_repeats_each_font_pixel():
    canvas = ArrayCanvas(40, 20)
    canvas.text(0, 0, "A", RED, scale=2)
    ink = painted(canvas)
    assert (ink[:14, :10] == glyph("A").repeat(2, 0).repeat(2, 1)).all()
    assert ink.sum() == 4 * glyph("A").sum()


def test_text_is_clipped_and_lower_case_reads_as_upper_case():
    canvas = ArrayCanvas(8, 4)
    canvas.text(-2, -3, "score", RED)
    mask = text_mask("SCORE")
    assert (painted(canvas) == mask[3:7, 2:10]).all()


def test_tiles_colour_each_cell_from_the_palette():
    canvas = ArrayCanvas(10, 8)
    palette = np.array([(0, 0, 0), RED, GREEN])
    codes = np.array([[0, 1], [2, 1]])
    canvas.tiles(1, 2, codes, palette, cell_size=3)
    assert painted(canvas, RED)[2:5, 4:7].all() and painted(canvas, RED)[5:8, 4:7].all()
    assert painted(canvas, GREEN)[5:8, 1:4].all()
    assert painted(canvas, RED).sum() == 18 and painted(canvas, GREEN).sum() == 9


def test_tiles_are_clipped_and_only_visible_cells_are_read():
    canvas = ArrayCanvas(4, 4)
    palette = np.array([(0, 0, 0), RED])
    codes = np.zeros((1000, 1000), np.int64)
    codes[500, 500] = 1
    canvas.tiles(-500 * 2, -500 * 2, codes, palette, cell_size=2)  # cell 500 lands at (0, 0)
    assert painted(canvas)[0:2, 0:2].all() and painted(canvas).sum() == 4


def test_font_sizes_and_runs_agree_with_the_bitmaps():
    assert text_size("", 3) == (0, 0)
    assert text_size("AB", 2) == ((2 * ADVANCE - 1) * 2, GLYPH_HEIGHT * 2)
    for char in "AZ09?%":
        rebuilt = np.zeros((GLYPH_HEIGHT, GLYPH_WIDTH), bool)
        for row, column, length in glyph_runs(char):
            rebuilt[row, column:column + length] = True
        assert (rebuilt == glyph(char)).all()
    assert (glyph("\u00e9") == glyph("?")).all()  # no glyph: the question mark


@pytest.mark.parametrize("bad, error, match", [
    ((256, 0, 0), ValueError, r"\[0, 255\]"),
    ((-1, 0, 0), ValueError, r"\[0, 255\]"),
    ((1, 2), TypeError, "red, green, blue"),
    ((1.5, 2, 3), TypeError, "three ints"),
    ("red", TypeError, "red, green, blue"),
])
def test_bad_colours_are_clear_errors(bad, error, match):
    with pytest.raises(error, match=match):
        ArrayCanvas(4, 4).rect(0, 0, 2, 2, bad)


def test_bad_arguments_are_clear_errors():
    canvas = ArrayCanvas(4, 4)
    with pytest.raises(ValueError, match="width must be in"):
        ArrayCanvas(0, 4)
    with pytest.raises(TypeError, match="height must be an int"):
        ArrayCanvas(4, 2.5)
    with pytest.raises(ValueError, match="finite"):
        canvas.rect(float("nan"), 0, 1, 1, RED)
    with pytest.raises(ValueError, match="at least three"):
        canvas.polygon([(0, 0), (1, 1)], RED)
    with pytest.raises(TypeError, match="text must be a str"):
        canvas.text(0, 0, 12, RED)
    with pytest.raises(ValueError, match="scale must be in"):
        canvas.text(0, 0, "A", RED, scale=0)
    with pytest.raises(ValueError, match="index the palette"):
        canvas.tiles(0, 0, np.array([[3]]), np.array([RED]), 1)
    with pytest.raises(ValueError, match="palette must have shape"):
        canvas.tiles(0, 0, np.array([[0]]), np.array(RED), 1)
    with pytest.raises(ValueError, match="cell_size must be in"):
        canvas.tiles(0, 0, np.array([[0]]), np.array([RED]), 0)
