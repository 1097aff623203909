"""MNIST-style preprocessing of canvas drawings (bnn/analysis/preprocess.py).

Centre convention (same as ``center_of_mass``): pixel ``i`` sits at coordinate ``i``, so a
centred MNIST digit has its centre of mass at (14, 14).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from bnn.analysis.preprocess import canvas_to_gray, center_of_mass, preprocess_digit, whole_pixel_shift

CANVAS = 280


def canvas(draw, transparent: bool = False) -> np.ndarray:
    """A 280x280 RGBA canvas like streamlit-drawable-canvas returns: white ink on black."""
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0 if transparent else 255))
    draw(ImageDraw.Draw(image))
    return np.array(image)


def one(x0: int, y0: int, height: int, width: int = 18):
    return lambda d: d.line([(x0, y0), (x0, y0 + height)], fill=(255, 255, 255, 255), width=width)


def ring(cx: int, cy: int, radius: int, width: int = 16):
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    return lambda d: d.ellipse(box, outline=(255, 255, 255, 255), width=width)


def seven(d):
    white = (255, 255, 255, 255)
    d.line([(60, 40), (220, 40)], fill=white, width=18)
    d.line([(220, 40), (110, 250)], fill=white, width=18)


def ink_box(img: torch.Tensor, threshold: float = 0.1) -> tuple[int, int]:
    mask = img.squeeze().numpy() > threshold
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


DIGITS = {
    "one_top_left": one(20, 5, 120),
    "one_bottom_right": one(255, 150, 120),
    "one_tall": one(140, 10, 260),
    "one_tiny": one(30, 240, 25, width=6),
    "ring_corner": ring(50, 230, 35),
    "ring_large": ring(140, 140, 125),
    "ring_small_off_centre": ring(220, 60, 15, width=5),
    "seven": seven,
}


@pytest.mark.parametrize("name", DIGITS)
def test_digit_is_mnist_like(name):
    out = preprocess_digit(canvas(DIGITS[name]))
    assert out is not None
    assert out.shape == (1, 1, 28, 28) and out.dtype == torch.float32
    assert out.min() >= 0.0 and out.max() == 1.0
    row, col = center_of_mass(out)
    assert abs(row - 14) <= 1 and abs(col - 14) <= 1, (row, col)
    assert max(ink_box(out)) in (19, 20, 21)


def test_aspect_ratio_is_kept():
    height, width = ink_box(preprocess_digit(canvas(one(140, 20, 200, width=20))))
    assert height == 20 and width in (2, 3)
    height, width = ink_box(preprocess_digit(canvas(ring(140, 140, 100))))
    assert abs(height - width) <= 1


def test_position_and_size_do_not_matter():
    small_corner = preprocess_digit(canvas(ring(60, 60, 40, width=12)))
    large_elsewhere = preprocess_digit(canvas(ring(180, 190, 80, width=24)))
    for out in (small_corner, large_elsewhere):
        row, col = center_of_mass(out)
        assert abs(row - 14) <= 0.5 + 1e-6 and abs(col - 14) <= 0.5 + 1e-6, (row, col)
    assert ink_box(small_corner) == ink_box(large_elsewhere) == (20, 20)


@pytest.mark.parametrize(
    "offset, shift",
    [(0.5, 1), (0.5 - 1e-12, 1), (0.5 + 1e-12, 1), (-0.5, 0), (-0.5 - 1e-12, 0), (1.5, 2), (0.49, 0), (-0.51, -1)],
)
def test_half_pixel_offsets_round_up_whatever_the_float_error(offset, shift):
    assert whole_pixel_shift(offset) == shift


def test_symmetric_digit_lands_on_the_same_pixel_in_any_summation_order():
    """A ring's centre of mass sits on a half pixel; its mirror images sum the same ink in
    reversed order, and every one must be shifted onto the same pixel grid position."""
    image = canvas(ring(140, 140, 90))
    expected = center_of_mass(preprocess_digit(image))
    for flipped in (image[::-1], image[:, ::-1], image[::-1, ::-1]):
        out = preprocess_digit(np.ascontiguousarray(flipped))
        assert center_of_mass(out) == pytest.approx(expected, abs=1e-6)


def test_empty_canvas_is_none():
    assert preprocess_digit(canvas(lambda d: None)) is None
    assert preprocess_digit(canvas(lambda d: None, transparent=True)) is None
    assert preprocess_digit(None) is None


def test_stray_pixels_are_none():
    image = canvas(lambda d: None)
    for y, x in [(10, 10), (100, 200), (250, 40), (140, 141), (30, 270)]:
        image[y, x, :3] = 255
    assert preprocess_digit(image) is None


@pytest.mark.parametrize("width", [6, 20])
def test_dot_and_short_stroke_are_kept(width):
    dot = preprocess_digit(canvas(lambda d: d.ellipse([100, 100, 100 + width, 100 + width], fill="white")))
    dash = preprocess_digit(canvas(lambda d: d.line([(100, 100), (130, 100)], fill="white", width=width)))
    assert dot is not None and dash is not None
    assert dot.max() == 1.0 and dash.max() == 1.0


def test_transparent_background_matches_opaque_black():
    opaque, transparent = canvas(seven), canvas(seven, transparent=True)
    transparent[transparent[..., 3] == 0, :3] = 255  # a transparent pixel's colour is irrelevant
    assert np.array_equal(canvas_to_gray(opaque), canvas_to_gray(transparent))
    assert torch.equal(preprocess_digit(opaque), preprocess_digit(transparent))


def test_input_formats_agree():
    rgba = canvas(ring(140, 140, 90))
    gray = canvas_to_gray(rgba)
    assert gray.dtype == np.float32 and gray.shape == (CANVAS, CANVAS)
    assert gray.min() == 0.0 and gray.max() == 1.0
    expected = preprocess_digit(rgba)
    for variant in (rgba[..., :3], rgba[..., 0], rgba.astype(np.float32) / 255, gray):
        assert torch.allclose(preprocess_digit(variant), expected, atol=1e-5)


def test_center_of_mass_convention():
    img = np.zeros((28, 28), np.float32)
    img[14, 14] = 1.0
    assert center_of_mass(img) == (14.0, 14.0)
    img[14, 16] = 1.0
    assert center_of_mass(torch.from_numpy(img).view(1, 1, 28, 28)) == (14.0, 15.0)


@pytest.fixture(scope="module")
def mnist_digits():
    from bnn.training.data import DataError, load_mnist

    try:
        data = load_mnist(download=False)
    except DataError:
        pytest.skip("MNIST not available (set BNN_DATA_DIR)")
    return data.test_images[:100]


def test_mnist_digit_survives_round_trip(mnist_digits):
    """A real test digit drawn at canvas size comes back close to the original.

    Centring is by whole pixels, as MNIST's own was (its centres of mass spread uniformly over
    +-0.5 px around 14), so a digit whose centre falls near a half pixel may land one pixel
    off: a few of those correlate below 0.8 as they are, all of them above 0.8 up to that shift.
    """
    plain, up_to_one_pixel = [], []
    for digit in mnist_digits:
        pixels = (digit[0].numpy() * 255).round().astype(np.uint8)
        drawn = np.array(Image.fromarray(pixels).resize((CANVAS, CANVAS), Image.BILINEAR))
        out = preprocess_digit(drawn)[0, 0]
        assert max(ink_box(out)) == max(ink_box(digit))

        def corr(image, digit=digit):
            return np.corrcoef(image.flatten(), digit.flatten())[0, 1]

        plain.append(corr(out))
        shifts = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1)]
        up_to_one_pixel.append(max(corr(torch.roll(out, shift, (0, 1))) for shift in shifts))
    plain = np.array(plain)
    assert plain.mean() > 0.93 and np.median(plain) > 0.95 and (plain > 0.8).mean() >= 0.95
    assert min(up_to_one_pixel) > 0.8
