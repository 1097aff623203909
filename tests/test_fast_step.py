"""The lean training step (bnn.training.fast_step): exact integer forward products, float32 / bfloat16
backward products against their closed forms, and one Trainer step in "bf16" against "fp32"."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_data, shrink

from bnn.config.presets import PRESETS
from bnn.network.models import build_model
from bnn.training.fast_step import LeanForward, pixel_codes, pixel_product, signs_product, weight_gradient, weight_signs
from bnn.training.loop import Trainer


def _signs(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).float() * 2 - 1


def _pixels(*shape: int, seed: int = 0) -> torch.Tensor:
    """8-bit pixels p / 255 as MNIST is loaded (float32 of uint8 / 255), mostly background."""
    generator = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 256, shape, generator=generator)
    levels[torch.rand(shape, generator=generator) < 0.6] = 0
    return levels.to(torch.uint8).to(torch.float32).div_(255.0)


def _sign(w: torch.Tensor) -> torch.Tensor:
    return torch.where(w >= 0, 1.0, -1.0)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_signs_product_is_exact_and_its_gradients_are_the_closed_forms(precision):
    x = _signs(37, 64).requires_grad_()
    w = torch.empty(24, 64).uniform_(-1, 1, generator=torch.Generator().manual_seed(1))
    w[0, :5] = 0.0  # sign(0) = +1
    w.requires_grad_()
    product = signs_product(x, w, precision)
    assert torch.equal(product, x.detach() @ _sign(w.detach()).t())  # whole numbers, exactly
    grad = torch.randn(37, 24, generator=torch.Generator().manual_seed(2))
    product.backward(grad)
    expected_x = grad @ _sign(w.detach())  # dL/dx = g @ sign(W)
    expected_w = grad.t() @ x.detach()  # dL/dW = g.T @ x (identity STE through sign)
    if precision == "fp32":
        torch.testing.assert_close(x.grad, expected_x, rtol=1e-6, atol=1e-5)
        torch.testing.assert_close(w.grad, expected_w, rtol=1e-6, atol=1e-5)
    else:  # the gradient rounded to bfloat16 (8 significant bits): 2**-8 relative per term
        scale_x, scale_w = expected_x.abs().max(), expected_w.abs().max()
        assert (x.grad - expected_x).abs().max() <= 2e-2 * scale_x
        assert (w.grad - expected_w).abs().max() <= 2e-2 * scale_w


def test_signs_product_keeps_the_nan_of_a_row_of_x_or_of_w():
    x, w = _signs(4, 16), torch.rand(5, 16) - 0.5
    x[1, 3] = float("nan")
    w[2, 0] = float("nan")
    nan = signs_product(x, w).isnan()
    assert nan[1].all() and nan[:, 2].all() and nan.sum() == 5 + 4 - 1


def test_weight_signs_are_int8_with_sign_zero_plus_one_and_flag_nan_rows():
    w = torch.tensor([[0.5, -0.0, 0.0], [-2.0, 1e-30, -1e-30]])
    signs, nan_rows, sums = weight_signs(w, row_sums=True)
    assert signs.dtype == torch.int8 and signs.tolist() == [[1, 1, 1], [-1, 1, -1]] and nan_rows is None
    assert sums.tolist() == [3.0, -1.0] and weight_signs(w)[2] is None
    w[1, 0] = float("nan")
    _, nan_rows, sums = weight_signs(w, row_sums=True)
    assert nan_rows[0] == 0 and nan_rows[1].isnan() and sums[0] == 3 and sums[1].isnan()
    w = torch.tensor([[0.5, -0.25], [-2.0, -1.0]])  # no zero, no NaN: the one-pass signs
    assert weight_signs(w, row_sums=True)[2].tolist() == [0.0, -2.0]


def test_pixel_codes_only_for_8_bit_pixels():
    pixels = _pixels(3, 10)
    codes = pixel_codes(pixels)
    assert codes.dtype == torch.int8 and torch.equal(codes.long() + 128, (pixels * 255).round().long())
    assert pixel_codes(pixels + 1e-3) is None  # not k / 255
    assert pixel_codes(torch.full((2, 2), 2.0)) is None  # out of [0, 1] (510 / 255)


@pytest.mark.parametrize("scale", ["pm1", "01"])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_pixel_product_is_the_exact_product_of_the_scaled_pixels_and_its_weight_gradient(scale, precision):
    pixels = _pixels(40, 784)
    x = pixels * 2 - 1 if scale == "pm1" else pixels  # as bnn.network.models.InputStage scales them
    w = (torch.rand(32, 784, generator=torch.Generator().manual_seed(3)) - 0.5).requires_grad_()
    product = pixel_product(pixel_codes(pixels), w, scale, precision)
    exact = x.double() @ _sign(w.detach()).double().t()
    torch.testing.assert_close(product.double(), exact, rtol=1e-6, atol=1e-5)  # one float32 rounding
    grad = torch.randn(40, 32, generator=torch.Generator().manual_seed(4))
    product.backward(grad)
    expected = grad.t() @ x
    if precision == "fp32":
        torch.testing.assert_close(w.grad, expected, rtol=1e-6, atol=1e-5)
    else:
        assert (w.grad - expected).abs().max() <= 2e-2 * expected.abs().max()


def test_bf16_weight_gradient_of_an_input_constant_over_the_batch_is_exactly_the_float_one():
    # behind BatchNorm the gradient sums to ~0 over the batch, so a constant input's weight gets ~0;
    # rounding the gradient alone to bfloat16 would leave noise there that Adam blows up to full steps
    grad = torch.randn(200, 8, generator=torch.Generator().manual_seed(5))
    grad -= grad.mean(0)
    x = _signs(200, 6)
    x[:, 2] = -1.0  # e.g. a background pixel, a saturated unit
    bf16 = weight_gradient(grad, x, torch.bfloat16)
    fp32 = weight_gradient(grad, x, torch.float32)
    scale = fp32.abs().max()
    assert bf16[:, 2].abs().max() <= 1e-5 * scale  # float32 rounding of a zero sum, as fp32's own
    assert fp32[:, 2].abs().max() <= 1e-5 * scale
    assert (bf16 - fp32).abs().max() <= 2e-2 * scale


@pytest.mark.parametrize("name", ["fast", "best"])
def test_the_lean_forward_gives_the_models_scores_in_training_mode(name):
    config = shrink(PRESETS[name], 48)
    torch.manual_seed(1)
    model = build_model(config.model)
    pixels = _pixels(20, 1, 28, 28)
    torch.manual_seed(0)
    expected = model(pixels)
    torch.manual_seed(0)
    lean = LeanForward(model, "bf16")(pixels)
    torch.testing.assert_close(lean, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(LeanForward(model, "fp32")(pixels.sqrt()), model(pixels.sqrt()))  # not 8-bit: the model's


def test_one_training_step_in_bf16_agrees_with_the_exact_fp32_step():
    """The stated tolerance: the same forward (scores and every binarized layer's ±1 outputs),
    every gradient within 2% of its largest entry, and after the Adam step every latent weight
    within 2 learning rates of the fp32 step's, 95% of them within lr / 1000 (Adam's first step is
    about lr * sign(g): only a weight whose gradient is within rounding of 0 may step otherwise)."""
    data = make_tiny_data(n_train=200, n_test=20)
    pixels = (data.train_images * 255).round() / 255  # 8-bit pixels, as MNIST's
    data = type(data)(pixels, data.train_labels, data.test_images, data.test_labels)
    config = shrink(PRESETS["fast"], 256).replace_train(batch_size=200)
    trainers, signs = {}, {}
    for precision in ("fp32", "bf16"):
        trainer = Trainer(config.replace_train(precision=precision), data, "cpu", live_stats=False)
        outputs = []
        hooks = [
            b.activation.register_forward_hook(lambda _m, _i, out, kept=outputs: kept.append(out.detach()))
            for b in trainer.model.blocks
        ]
        trainer.train_step(data.train_images, data.train_labels)
        for hook in hooks:
            hook.remove()
        trainers[precision], signs[precision] = trainer, outputs
    exact, fast = trainers["fp32"], trainers["bf16"]
    for mine, theirs, block in zip(signs["bf16"], signs["fp32"], exact.model.blocks):
        assert torch.equal(mine, theirs), block.name  # identical ±1 activations and identical scores
    lr = config.train.lr
    for (name, p_fast), p_exact in zip(fast.model.named_parameters(), exact.model.parameters()):
        g_fast, g_exact = p_fast.grad, p_exact.grad
        assert (g_fast - g_exact).abs().max() <= 2e-2 * g_exact.abs().max() + 1e-7, name
        moved = (p_fast.detach() - p_exact.detach()).abs()
        assert moved.max() <= 2 * lr * 1.001, name
        if not name.endswith("linear.bias"):  # BatchNorm cancels a bias before it: its gradient is rounding noise
            assert (moved <= lr / 1000).float().mean() >= 0.95, name
