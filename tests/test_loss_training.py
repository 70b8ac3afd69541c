"""Training with every loss as primary, with supplementary losses, masks and a learned mask."""

from __future__ import annotations

import math
import tomllib

import pytest

from fs_core.training.run import run_train
from fs_core.training.session import TrainRequest

PRIMARY = [
    "mae",
    "mse",
    "logcosh",
    "smooth_loss",
    "l_inf_norm",
    "pixel_gradient_diff",
    "ssim",
    "gmsd",
    "laploss",
    "ffl",
]


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    from fs_core.faces.demo import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("faces") / "demo", count=4, size=128)


def _train(registry, faces, tmp_path, config_text: str, size: int = 32) -> dict:
    config = tmp_path / "fs.toml"
    config.write_text(config_text + f"\n[model.tiny]\nsize = {size}\n")
    model = tmp_path / "m"
    request = TrainRequest(
        input_a=str(faces[0]),
        input_b=str(faces[1]),
        model_dir=str(model),
        model_name="tiny",
        batch_size=2,
        iterations=2,
        save_interval=100,
        config_path=str(config),
        seed=0,
        no_logs=True,
    )
    assert run_train(request, registry, lambda text: None) == "done"
    return tomllib.loads((model / "state.toml").read_text())


@pytest.mark.parametrize("loss", PRIMARY)
def test_every_loss_trains_as_primary_with_masks_and_eye_mouth_weighting(
    registry, faces, tmp_path, loss
):
    state = _train(registry, faces, tmp_path, f"[global.loss]\nloss_function = '{loss}'\n")
    assert state["iterations"] == 2 and math.isfinite(state["lowest_avg_loss"])


def test_ms_ssim_as_primary_on_a_large_enough_output(registry, faces, tmp_path):
    state = _train(registry, faces, tmp_path, "[global.loss]\nloss_function = 'ms_ssim'\n", size=64)
    assert math.isfinite(state["lowest_avg_loss"])


def test_supplementary_losses_and_a_learned_mask(registry, faces, tmp_path):
    seen = {}
    from fs_core import hookimpl

    class Spy:
        @hookimpl
        def fs_iteration_end(self, losses):
            seen.update(losses)

    registry.manager.register(Spy(), "loss_spy")
    try:
        _train(
            registry,
            faces,
            tmp_path,
            "[global.loss]\nloss_function = 'ssim'\nloss_function_2 = 'mae'\nloss_weight_2 = 50\n"
            "loss_function_3 = 'flip'\nloss_weight_3 = 10\nloss_function_4 = 'gmsd'\n"
            "loss_weight_4 = 25\neye_multiplier = 5\nmouth_multiplier = 3\n"
            "[global.mask]\nlearn_mask = true\nmask_type = 'components'\n",
        )
    finally:
        registry.manager.unregister(name="loss_spy")
    for side in "ab":
        for term in ("ssim", "mae_weighted", "flip", "gmsd_weighted", "mask"):
            assert math.isfinite(seen[f"{side}/{term}"]), term
    assert seen["a/mae_weighted"] == pytest.approx(0.5 * seen["a/mae"], rel=1e-5)


def test_lpips_is_listed_as_not_provided_and_explained_when_asked_for(registry, faces, tmp_path):
    from fs_core.errors import FsUserError

    assert "lpips_vgg16" in registry.losses_not_provided
    with pytest.raises(FsUserError, match=r"lpips_vgg16.*pretrained") as info:
        _train(registry, faces, tmp_path, "[global.loss]\nloss_function_2 = 'lpips_vgg16'\n")
    assert info.value.path == str(tmp_path / "fs.toml")
