"""The convert pipeline (:mod:`fs_core.convert.swap` and its plugins) without the CLI.

A tiny model learning a mask is trained for a few iterations on the demo faces; the demo clip's
frames are then swapped: outside every face's mask the frame is unchanged bit for bit, inside it
equals the model's output warped back. Each colour plugin is checked against a NumPy computation
of its formula on a hand-made pair, and the mask blends, erosion and sharpening against theirs.
"""

from __future__ import annotations

from pathlib import Path

import attrs
import cv2
import numpy as np
import pytest

from fs_core.cli.main import main
from fs_core.convert import color, mask, sharpen
from fs_core.convert.options import ConvertOptions
from fs_core.convert.swap import FaceSwapper, back_interpolation, check_face, cut_face
from fs_core.errors import FsUserError
from fs_core.faces.alignments_file import read_alignments
from fs_core.faces.demo import write_demo_data


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo_data(out, count=8, size=128, clip_frames=4)
    return out


@pytest.fixture(scope="module")
def model_dir(demo, registry, tmp_path_factory) -> Path:
    """The tiny test model, learning a mask, trained for 3 iterations through ``fs train``."""
    import fs_core.plugin_manager

    folder = tmp_path_factory.mktemp("models") / "tiny"
    config = folder.parent / "tiny.toml"
    config.write_text("[global.mask]\nlearn_mask = true\n[model.tiny]\nsize = 32\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fs_core.plugin_manager, "get_registry", lambda disabled=None: registry)
        args = ["train", "-A", str(demo / "A"), "-B", str(demo / "B"), "-m", str(folder)]
        args += ["-t", "tiny", "-C", str(config), "-b", "2", "-i", "3", "--seed", "1"]
        assert main(args) == 0
    return folder


@pytest.fixture(scope="module")
def clip(demo):
    """[(key, frame, faces)] of the demo clip."""
    alignments = read_alignments(demo / "clip" / "alignments.fsa")
    items = []
    for key, entry in alignments.frames.items():
        frame = cv2.imread(str(demo / "clip" / key))
        items.append((key, frame, entry.faces))
    return items


def _swapper(model_dir, registry, **changes) -> FaceSwapper:
    options = attrs.evolve(ConvertOptions(), **changes)
    return FaceSwapper.from_model_dir(model_dir, options, registry, notify=lambda _: None)


def _warp_back(patch: np.ndarray, matrix: np.ndarray, shape) -> np.ndarray:
    return cv2.warpAffine(
        patch,
        matrix,
        (shape[1], shape[0]),
        flags=cv2.WARP_INVERSE_MAP | back_interpolation(matrix),
        borderMode=cv2.BORDER_CONSTANT,
    )


def _expected_layers(swapper: FaceSwapper, frame, faces):
    """The adjusted patch of each face (face, mask), warped back onto a frame-sized canvas."""
    job = swapper.prepare(frame, faces)
    swapper.predict([job])
    layers = []
    for cut, new, learned in zip(job.cuts, job.faces, job.learned):
        patch = swapper.adjusted_face(cut, new, learned)
        layers.append(_warp_back(patch, cut.matrix, frame.shape))
    return job, layers


# --------------------------------------------------------------------------------------------
# round trip on the demo clip


def test_square_patch_is_the_model_output_warped_back(model_dir, registry, clip):
    """mask none, colour none: inside the patch the frame is the model's face, outside it is
    untouched."""
    swapper = _swapper(model_dir, registry, mask_type="none", color_adjustment="none")
    keys = [key for key, _, _ in clip]
    outputs = swapper.swap_frames([(frame, faces) for _, frame, faces in clip], keys=keys)
    for (_, frame, faces), out in zip(clip, outputs):
        assert out.shape == frame.shape and out.dtype == np.uint8
        job, layers = _expected_layers(swapper, frame, faces)
        (layer,) = layers
        weight = layer[..., 3]
        outside = weight == 0
        np.testing.assert_array_equal(out[outside], frame[outside])
        # away from the square's edge, where the cubic warp overshoots its own weight
        inside = cv2.erode((np.abs(weight - 1) < 1e-3).astype(np.uint8), np.ones((5, 5))) > 0
        assert inside.sum() > 1000
        face = np.rint(np.clip(layer[..., :3], 0, 1) * 255)
        assert np.abs(out[inside].astype(float) - face[inside]).max() <= 1
        # the face really changed (the model's face is not the frame's)
        assert np.abs(out[inside].astype(float) - frame[inside]).mean() > 5
        # and the model's face is what the model gives for that crop
        direct = swapper._predict_fn(job.cuts[0].feed[None].astype(np.float32) / 255.0)[0][0]
        np.testing.assert_allclose(job.faces[0], direct, atol=1e-5)


@pytest.mark.parametrize("mask_type", ["extended", "components", "predicted", "custom_face"])
def test_outside_the_mask_nothing_changes(model_dir, registry, clip, mask_type):
    swapper = _swapper(model_dir, registry, mask_type=mask_type)
    _, frame, faces = clip[1]
    (out,) = swapper.swap_frames([(frame, faces)])
    _, layers = _expected_layers(swapper, frame, faces)
    weight = layers[0][..., 3]
    np.testing.assert_array_equal(out[weight == 0], frame[weight == 0])
    # inside: frame·(1 − w²) + face·w², faceswap's blend (the mask weighs twice), wherever the
    # warp did not overshoot the 0-1 range
    face = layers[0][..., :3]
    usable = (weight > 0) & (weight <= 1) & (face.min(-1) >= 0) & (face.max(-1) <= 1)
    assert usable.sum() > 1000
    w2 = weight[..., None] ** 2
    expected = np.rint((frame / 255.0 * (1 - w2) + face * w2) * 255)
    assert np.abs(out[usable] - expected[usable]).max() <= 1
    assert np.abs(out[weight > 0.4].astype(float) - frame[weight > 0.4]).mean() > 2


def test_output_scale_and_sharpen_keep_the_frame_shape(model_dir, registry, clip):
    _, frame, faces = clip[0]
    swapper = _swapper(model_dir, registry, output_scale=50, sharpen="gaussian")
    (out,) = swapper.swap_frames([(frame, faces)])
    height, width = frame.shape[:2]
    assert out.shape == (round(height * 0.25) * 2, round(width * 0.25) * 2, 3)


def test_frames_without_faces_come_back_unchanged(model_dir, registry, clip):
    _, frame, _ = clip[0]
    (out,) = _swapper(model_dir, registry).swap_frames([(frame, ())])
    np.testing.assert_array_equal(out, frame)


def test_a_face_outside_the_frame_is_refused_naming_the_frame(model_dir, registry, clip):
    key, frame, faces = clip[0]
    moved = attrs.evolve(faces[0], landmarks=faces[0].landmarks + 5000)
    with pytest.raises(FsUserError, match=f"frame {key}, face 0: its landmarks .* fall outside"):
        _swapper(model_dir, registry).swap_frames([(frame, [moved])], keys=[key])


def test_a_missing_stored_mask_says_which_to_choose(clip):
    key, frame, faces = clip[0]
    with pytest.raises(
        FsUserError, match="no stored mask 'vgg-clear'; choose -M from: custom_face"
    ):
        check_face(key, 0, frame.shape, faces[0], "vgg-clear")


def test_predicted_needs_a_learned_mask(registry):
    from fs_core.convert.swap import CropSpec

    spec = CropSpec("face", 1.0, 0.0, 32, 32)
    options = ConvertOptions(mask_type="predicted")
    with pytest.raises(FsUserError, match=r"learn_mask.*choose extended, components, none"):
        FaceSwapper(lambda x: (x, None), spec, options, registry, 4, learn_mask=False)


def test_unknown_plugin_names_are_refused(model_dir, registry):
    with pytest.raises(FsUserError, match=r"unknown colour adjustment 'sepia'.*avg-color"):
        _swapper(model_dir, registry, color_adjustment="sepia")


def test_crops_are_the_training_crops(model_dir, registry, clip):
    """The feed face is the model's training crop of the frame (same matrix as prepare uses)."""
    from fs_core.faces import alignment as al

    swapper = _swapper(model_dir, registry)
    _, frame, faces = clip[0]
    cut = cut_face(frame, faces[0], swapper.spec)
    matrix = al.aligned_matrix(faces[0].landmarks, 32, "face", 1.0)
    np.testing.assert_allclose(cut.matrix, matrix, atol=1e-6)


# --------------------------------------------------------------------------------------------
# colour plugins against their formulas


def _pair():
    """A hand-made (new, old, mask): gradients of different colour, a mask with 0, 1 and
    fractional values."""
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:24, 0:24] / 23.0
    old = np.stack([0.2 + 0.5 * xs, 0.3 + 0.4 * ys, 0.6 - 0.3 * xs], -1)
    new = np.stack([0.5 - 0.3 * ys, 0.2 + 0.6 * xs * ys, 0.4 + 0.1 * xs], -1)
    new = new + rng.uniform(-0.05, 0.05, new.shape)
    weight = np.zeros((24, 24, 1))
    weight[4:20, 5:19] = 1.0
    weight[4:20, 5] = 0.5
    return new.astype(np.float32), old.astype(np.float32), weight.astype(np.float32)


def test_avg_color_matches_masked_means():
    new, old, weight = _pair()
    result = color.avg_color(new, old, weight, ConvertOptions())
    expected = new.astype(np.float64)
    for _ in range(2):
        expected += ((old - expected) * weight).sum((0, 1)) / weight.sum()
    np.testing.assert_allclose(result, expected, atol=1e-5)
    # the mask-weighted means now agree
    mean = (result * weight).sum((0, 1)) / weight.sum()
    np.testing.assert_allclose(mean, (old * weight).sum((0, 1)) / weight.sum(), atol=1e-5)
    np.testing.assert_allclose(color.avg_color(new, old, 0 * weight, None), old, atol=1e-6)


@pytest.mark.parametrize("paper", [True, False])
@pytest.mark.parametrize("clip_values", [True, False])
def test_color_transfer_matches_its_formula(paper, clip_values):
    new, old, weight = _pair()
    options = ConvertOptions(color_transfer_preserve_paper=paper, color_transfer_clip=clip_values)
    result = color.color_transfer(new, old, weight, options)

    def lab(image):
        return cv2.cvtColor(np.rint(image * 255).astype(np.uint8), cv2.COLOR_BGR2LAB).astype(float)

    source, target = lab(old * weight), lab(new * weight)
    channels = []
    for c in range(3):
        mu_s, sd_s = source[..., c].mean(), source[..., c].std()
        mu_t, sd_t = target[..., c].mean(), target[..., c].std()
        gain = sd_t / sd_s if paper else sd_s / sd_t
        value = (target[..., c] - mu_t) * gain + mu_s
        if clip_values:
            value = np.clip(value, 0, 255)
        elif value.min() < 0 or value.max() > 255:
            low, high = max(value.min(), 0), min(value.max(), 255)
            value = (high - low) * (value - value.min()) / (value.max() - value.min()) + low
        channels.append(value)
    lab_out = np.stack(channels, -1).astype(np.uint8)
    expected = cv2.cvtColor(lab_out, cv2.COLOR_LAB2BGR) / 255.0 + new * (1 - weight)
    np.testing.assert_allclose(result, expected, atol=1.01 / 255)


def test_match_hist_matches_the_masked_cdfs():
    new, old, weight = _pair()
    options = ConvertOptions(match_hist_threshold=95.0)
    result = color.match_hist(new, old, weight, options)
    where = weight[..., 0] != 0
    expected = new.astype(np.float64).copy()
    for c in range(3):
        values_n = new[..., c][where]
        values_o = np.sort(old[..., c][where])
        unique_o = np.unique(values_o)
        cdf_o = np.array([(values_o <= v).sum() for v in unique_o]) / values_o.size
        for index, v in zip(np.argwhere(where), values_n):
            quantile = 0.95 * (values_n <= v).sum() / values_n.size
            expected[index[0], index[1], c] = np.interp(quantile, cdf_o, unique_o)
    np.testing.assert_allclose(result, expected, atol=1e-5)
    np.testing.assert_array_equal(result[~where], new[~where])


def test_manual_balance_matches_its_formula_in_rgb():
    new, old, weight = _pair()
    options = ConvertOptions(
        manual_balance_colorspace="RGB",
        manual_balance_balance_1=20.0,
        manual_balance_balance_2=-30.0,
        manual_balance_balance_3=0.0,
        manual_balance_contrast=10.0,
        manual_balance_brightness=-5.0,
    )
    result = color.manual_balance(new, old, weight, options)
    # in float32, as the 8-bit truncations land exactly where faceswap's do
    x = (new * 255).astype(np.uint8)[..., ::-1].astype(np.float32) / 255  # BGR -> RGB: a swap
    up, down = np.float32(0.2), np.float32(1 - 0.3)
    x = np.stack([x[..., 0] + (1 - x[..., 0]) * up, x[..., 1] * down, x[..., 2]], -1)
    x = (x * 255).astype(np.uint8)[..., ::-1].astype(np.float32) / 255
    c, beta = round(10 * 1.27), round(-5 * 1.27)
    v = np.rint(x * 255).astype(np.uint8)
    expected = np.clip(v * (c / 127 + 1) - c + beta, 0, 255) / 255.0
    np.testing.assert_allclose(result, expected, atol=1e-5)


def test_seamless_clone_keeps_a_face_that_already_matches():
    new, old, weight = _pair()
    same = color.seamless_clone(old, old, weight, ConvertOptions())
    assert np.abs(same - old).max() <= 3 / 255
    np.testing.assert_array_equal(color.seamless_clone(new, old, 0 * weight, None), new)
    moved = color.seamless_clone(new, old, weight, ConvertOptions())
    assert moved.shape == new.shape and moved.dtype == np.float32


def test_none_is_the_identity():
    new, old, weight = _pair()
    np.testing.assert_array_equal(color.no_color(new, old, weight, None), new)


# --------------------------------------------------------------------------------------------
# mask blends, erosion, box, sharpening


def _delta(size=41):
    image = np.zeros((size, size, 1), np.float32)
    image[size // 2, size // 2] = 1.0
    return image


@pytest.mark.parametrize("kernel,passes,sizes", [(3, 1, [3]), (5, 3, [5, 3, 3]), (4, 2, [5, 3])])
def test_normalized_blend_is_repeated_box_filters(kernel, passes, sizes):
    options = ConvertOptions(mask_kernel_size=kernel, mask_passes=passes)
    result = mask.blend_normalized(_delta(), options)[..., 0]
    line = np.array([1.0])
    for size in sizes:
        line = np.convolve(line, np.ones(size) / size)
    expected = np.zeros((41, 41))
    half = len(line) // 2
    expected[20 - half : 21 + half, 20 - half : 21 + half] = np.outer(line, line)
    np.testing.assert_allclose(result, expected, atol=1e-6)


def test_gaussian_blend_shrinks_its_kernel_each_pass():
    options = ConvertOptions(mask_kernel_size=9, mask_passes=2)
    result = mask.blend_gaussian(_delta(), options)[..., 0]
    line = np.convolve(cv2.getGaussianKernel(9, 0)[:, 0], cv2.getGaussianKernel(7, 0)[:, 0])
    expected = np.zeros((41, 41))
    expected[13:28, 13:28] = np.outer(line, line)
    np.testing.assert_allclose(result, expected, atol=1e-6)
    np.testing.assert_array_equal(mask.blend_none(_delta(), options), _delta())


def _edges(image):
    rows, cols = np.nonzero(image[..., 0] > 0.5)
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize(
    "name,moves",
    [
        ("mask_erosion", (2, -1, 2, -1)),
        ("mask_erosion_left", (2, -1, 3, 0)),
        ("mask_erosion_top", (3, 0, 0, 0)),
        ("mask_erosion_right", (0, 0, 0, -3)),
        ("mask_erosion_bottom", (0, -3, 0, 0)),
    ],
)
def test_erosion_moves_the_edges_as_faceswap(name, moves):
    square = np.zeros((64, 64, 1), np.float32)
    square[16:48, 16:48] = 1.0
    eroded = mask.erode(square, mask.erosion_amounts(ConvertOptions(**{name: 25.0})))
    before, after = _edges(square), _edges(eroded)
    assert tuple(int(a - b) for a, b in zip(after, before)) == moves
    grown = mask.erode(square, mask.erosion_amounts(ConvertOptions(**{name: -25.0})))
    assert grown.sum() > square.sum()


def test_edge_box():
    box = mask.edge_box(64, blurred=False)[..., 0]
    assert box[3:-3, 3:-3].min() == 1 and box[:3].max() == 0 and box[:, -3:].max() == 0
    soft = mask.edge_box(64, blurred=True)[..., 0]
    expected = cv2.GaussianBlur(box, (7, 7), 0)
    np.testing.assert_allclose(soft, expected, atol=1e-6)


def test_sharpeners_match_their_formulas():
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (30, 200, 3)).astype(np.float32)
    options = ConvertOptions(sharpen_amount=200, sharpen_radius=1.0)  # r = 2, k = 5
    blur = cv2.blur(image, (5, 5), borderType=cv2.BORDER_REFLECT_101)
    np.testing.assert_allclose(sharpen.sharpen_box(image, options), 3 * image - 2 * blur, atol=1e-5)
    gauss = cv2.GaussianBlur(image, (5, 5), 0)
    np.testing.assert_allclose(
        sharpen.sharpen_gaussian(image, options), 2 * image - gauss, atol=1e-5
    )
    low = np.abs(image - gauss) < 5 / 255
    expected = np.where(low, 3 * image - 2 * gauss, image)
    np.testing.assert_allclose(sharpen.sharpen_unsharp_mask(image, options), expected, atol=1e-5)


# --------------------------------------------------------------------------------------------
# registration and configuration


def test_builtins_are_registered(registry):
    assert {"avg-color", "color-transfer", "match-hist", "manual-balance", "seamless-clone"} <= set(
        registry.convert_colors
    )
    assert set(registry.convert_mask_blends) >= {"gaussian", "normalized", "none"}
    assert set(registry.convert_scalers) >= {"none", "box", "gaussian", "unsharp-mask"}


def test_config_prints_the_convert_section(capsys, tmp_path):
    assert main(["config"]) == 0
    text = capsys.readouterr().out
    section = text.split("[convert]\n", 1)[1]
    assert 'color_adjustment = "avg-color"' in section
    assert 'mask_type = "extended"' in section and 'mask_blend_type = "normalized"' in section
    assert "output_scale = 100" in section and 'writer = "opencv"' in section
    custom = tmp_path / "c.toml"
    custom.write_text('[convert]\ncolor_adjustment = "match-hist"\noutput_scale = 50\n')
    assert main(["config", "-C", str(custom)]) == 0
    assert 'color_adjustment = "match-hist"' in capsys.readouterr().out
    custom.write_text("[convert]\noutput_scale = 10\n")
    assert main(["config", "-C", str(custom)]) == 1
