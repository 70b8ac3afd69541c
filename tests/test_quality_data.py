"""DeepFaceLab's data options: colour transfer, random HSV, blur out mask, uniform yaw.

Each vectorised transfer is checked against a plain reference written here face by face (loops,
np.cov with weights, np.histogram, np.interp), so the batch code is tested against the maths and
not against itself.
"""

from __future__ import annotations

import colorsys

import attrs
import cv2
import numpy as np
import pytest

from fs_core.augment import color_transfer as ct
from fs_core.augment.blur_out import blur_outside
from fs_core.augment.builtin import fs_augmenters
from fs_core.augment.hsv import hsv_shifts, jitter_hsv
from fs_core.builtins.samplers import fs_samplers
from fs_core.config.sections import AugmentationOptions
from fs_core.data.cache import FaceCache
from fs_core.data.loader import BatchLoader
from fs_core.data.sampler import BinnedSampler, choose_sampler
from fs_core.data.synthetic import synthetic_prepare
from fs_core.data.yaw import yaw_bins, yaw_degrees
from fs_core.errors import FsUserError

P = 16


def _faces(seed: int, count: int = 3, size: int = P):
    """Smooth random colour faces (float32 (N, M, 3) in [0, 1]) and soft masks (N, M)."""
    rng = np.random.default_rng(seed)
    base = rng.random((count, 4, 4, 3)).astype(np.float32)
    images = np.stack([cv2.resize(b, (size, size), interpolation=cv2.INTER_CUBIC) for b in base])
    images = np.clip(images * 0.8 + 0.1 + rng.normal(0, 0.05, images.shape), 0, 1)
    yy, xx = np.mgrid[:size, :size]
    masks = np.stack(
        [
            np.clip(1.2 - np.hypot(yy - size / 2 + k, xx - size / 2) / (size / 3), 0, 1)
            for k in range(count)
        ]
    ).astype(np.float32)
    flat = lambda a: a.reshape(count, size * size, *a.shape[3:])  # noqa: E731
    return flat(images.astype(np.float32)), flat(masks)


def _stats(x, w):
    mean = (x * w[:, None]).sum(0) / w.sum()
    cov = np.cov(x.T, aweights=w, bias=True)
    return mean, cov


def _sqrtm(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T


def ref_rct(x, r, wx, wr):
    out = []
    for xi, ri, wxi, wri in zip(x, r, wx, wr):
        lab_x = cv2.cvtColor(xi[None], cv2.COLOR_BGR2LAB)[0]
        lab_r = cv2.cvtColor(ri[None], cv2.COLOR_BGR2LAB)[0]
        result = np.empty_like(lab_x)
        for c in range(3):
            mx, vx = _stats(lab_x[:, c : c + 1], wxi)
            mr, vr = _stats(lab_r[:, c : c + 1], wri)
            result[:, c] = (lab_x[:, c] - mx[0]) * np.sqrt(vr) / np.sqrt(vx) + mr[0]
        result[:, 0] = np.clip(result[:, 0], 0, 100)
        result[:, 1:] = np.clip(result[:, 1:], -127, 127)
        out.append(np.clip(cv2.cvtColor(result[None], cv2.COLOR_LAB2BGR)[0], 0, 1))
    return np.stack(out)


def ref_lct(x, r, wx, wr):
    out = []
    for xi, ri, wxi, wri in zip(x, r, wx, wr):
        mx, cx = _stats(xi, wxi)
        mr, cr = _stats(ri, wri)
        qx, qr = _sqrtm(cx + 1e-5 * np.eye(3)), _sqrtm(cr + 1e-5 * np.eye(3))
        out.append(np.clip((qr @ np.linalg.inv(qx) @ (xi - mx).T).T + mr, 0, 1))
    return np.stack(out)


def ref_mkl(x, r, wx, wr):
    eps = np.finfo(float).eps
    out = []
    for xi, ri, wxi, wri in zip(x, r, wx, wr):
        mx, a = _stats(xi, wxi)
        mr, b = _stats(ri, wri)
        da2, ua = np.linalg.eigh(a)
        da = np.diag(np.sqrt(da2.clip(eps, None)))
        c = da @ ua.T @ b @ ua @ da
        dc2, uc = np.linalg.eigh(c)
        dc = np.diag(np.sqrt(dc2.clip(eps, None)))
        da_inv = np.diag(1.0 / np.diag(da))
        t = ua @ da_inv @ uc @ dc @ uc.T @ da_inv @ ua.T
        out.append(np.clip((xi - mx) @ t + mr, 0, 1))
    return np.stack(out)


def ref_idt(x, r, wx, wr, rotations, bins=256):
    out = []
    # float64 weights: float32 cumulative sums would tip values across empty-bin runs
    wx, wr = wx.astype(np.float64), wr.astype(np.float64)
    for xi, ri, wxi, wri, rots in zip(x, r, wx, wr, rotations):
        d0, d1 = xi.T.astype(np.float64), ri.T.astype(np.float64)
        for rot in rots:
            d0r, d1r = rot @ d0, rot @ d1
            d_r = np.empty_like(d0)
            for j in range(3):
                lo, hi = min(d0r[j].min(), d1r[j].min()), max(d0r[j].max(), d1r[j].max())
                p0, edges = np.histogram(d0r[j], bins=bins, range=(lo, hi), weights=wxi)
                p1, _ = np.histogram(d1r[j], bins=bins, range=(lo, hi), weights=wri)
                cp0, cp1 = p0.cumsum() / p0.sum(), p1.cumsum() / p1.sum()
                f = np.interp(cp0, cp1, edges[1:])
                d_r[j] = np.interp(d0r[j], edges[1:], f)
            d0 = np.linalg.solve(rot, d_r - d0r) / len(rots) + d0
        out.append(np.clip(d0.T, 0, 1))
    return np.stack(out)


def ref_sot(x, r, wx, wr, directions, size):
    out = []
    wx, wr = wx.astype(np.float64), wr.astype(np.float64)
    for xi, ri, wxi, wri, dirs in zip(x, r, wx, wr, directions):
        new = xi.astype(np.float64).copy()
        for step in dirs:
            advect = np.zeros_like(new)
            for d in step:
                ps, pt = new @ d, ri.astype(np.float64) @ d
                ids, idt = np.argsort(ps), np.argsort(pt)
                qs = (np.cumsum(wxi[ids]) - 0.5 * wxi[ids]) / wxi.sum()
                qt = (np.cumsum(wri[idt]) - 0.5 * wri[idt]) / wri.sum()
                advect[ids] += np.outer(np.interp(qs, qt, pt[idt]) - ps[ids], d)
            new += advect / len(step)
        sigma = size / 8.0
        kernel = 2 * int(round(1.5 * sigma)) + 1
        change = (new - xi).astype(np.float32).reshape(size, size, 3)
        smooth = cv2.GaussianBlur(change, (kernel, kernel), sigma).reshape(-1, 3)
        out.append(np.clip(xi + smooth, 0, 1))
    return np.stack(out)


@pytest.mark.parametrize("masked", [True, False])
@pytest.mark.parametrize("mode", ["rct", "lct", "mkl"])
def test_linear_transfers_match_the_reference(mode, masked):
    x, wx = _faces(1)
    r, wr = _faces(2)
    if not masked:
        wx, wr = np.ones_like(wx), np.ones_like(wr)
    fast = getattr(ct, f"transfer_{mode}")(x, r, wx, wr)
    slow = {"rct": ref_rct, "lct": ref_lct, "mkl": ref_mkl}[mode](x, r, wx, wr)
    np.testing.assert_allclose(fast, slow, atol=2e-4)
    # it moved the colours toward the reference: the weighted means are nearer
    before = np.abs(ct.weighted_mean(x, wx) - ct.weighted_mean(r, wr)).mean()
    after = np.abs(ct.weighted_mean(fast, wx) - ct.weighted_mean(r, wr)).mean()
    assert after < 0.5 * before


def test_idt_matches_the_reference():
    x, wx = _faces(3)
    r, wr = _faces(4)
    rotations = ct.random_rotations(np.random.default_rng(0), (len(x), ct.IDT_ROTATIONS))
    assert np.allclose(np.linalg.det(rotations), 1.0)
    fast = ct.transfer_idt(x, r, wx, wr, rotations)
    slow = ref_idt(x, r, wx, wr, rotations)
    np.testing.assert_allclose(fast, slow, atol=1e-4)


def test_sot_matches_the_reference_and_plain_sort_matching():
    x, wx = _faces(5)
    r, wr = _faces(6)
    directions = ct.random_directions(np.random.default_rng(1), (len(x), 2, 3))
    fast = ct.transfer_sot(x, r, wx, wr, directions)
    np.testing.assert_allclose(fast, ref_sot(x, r, wx, wr, directions, P), atol=1e-5)
    # equal weights: each pixel takes the reference's value of the same rank (DeepFaceLab's rule)
    ones = np.ones_like(wx)
    one_dir = directions[:, :1, :1]
    moved = ct.transfer_sot(x, r, ones, ones, one_dir)
    d = one_dir[0, 0, 0]
    ps, pt = x[0] @ d, r[0] @ d
    order = np.argsort(ps)
    exact = x[0].astype(np.float64).copy()
    exact[order] += np.outer(np.sort(pt) - ps[order], d)
    change = (exact - x[0]).astype(np.float32).reshape(P, P, 3)
    kernel = 2 * int(round(1.5 * P / 8)) + 1
    smooth = cv2.GaussianBlur(change, (kernel, kernel), P / 8).reshape(-1, 3)
    np.testing.assert_allclose(moved[0], np.clip(x[0] + smooth, 0, 1), atol=1e-5)


def test_batched_interp_is_np_interp_per_row_with_ties():
    rng = np.random.default_rng(2)
    xp = np.sort(np.round(rng.random((5, 40)), 1), axis=1)  # many repeated values
    fp = rng.random((5, 40))
    x = np.concatenate([np.round(rng.uniform(-0.2, 1.2, (5, 30)), 1), xp[:, ::4]], axis=1)
    expected = np.stack([np.interp(x[i], xp[i], fp[i]) for i in range(5)])
    np.testing.assert_array_equal(ct.batched_interp(x, xp, fp), expected)


def test_color_transfer_changes_only_inside_the_mask():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (2, P, P, 3), dtype=np.uint8)
    refs = np.clip(images.astype(int) // 2 + 100, 0, 255).astype(np.uint8)
    masks = np.zeros((2, P, P), np.uint8)
    masks[:, 4:12, 4:12] = 255
    for mode in ("rct", "lct", "mkl", "idt", "sot"):
        out = ct.color_transfer_faces(images, refs, masks, masks, mode, rng)
        assert np.array_equal(out[masks == 0], images[masks == 0]), mode
        assert not np.array_equal(out[masks == 255], images[masks == 255]), mode


def _reference_hsv(image, shift):
    """Per pixel with colorsys: H in degrees + shift, modulo 360; S, V + shift, clipped."""
    out = np.empty(image.shape, np.float64)
    for y in range(image.shape[0]):
        for x in range(image.shape[1]):
            b, g, r = image[y, x] / 255.0
            h, s, v = colorsys.rgb_to_hsv(r, g, b)
            h = (h * 360.0 + shift[0]) % 360.0
            s = min(max(s + shift[1], 0.0), 1.0)
            v = min(max(v + shift[2], 0.0), 1.0)
            r, g, b = colorsys.hsv_to_rgb(h / 360.0, s, v)
            out[y, x] = (b, g, r)
    return np.rint(np.clip(out, 0, 1) * 255.0)


def test_hsv_jitter_matches_a_per_pixel_reference():
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, (3, 6, 6, 3), dtype=np.uint8)
    shifts = hsv_shifts(3, 0.3, rng)
    hue_limit = max(1, int(360 * 0.3 * 0.5))
    assert np.all(np.abs(shifts[:, 0]) <= hue_limit) and np.all(
        shifts[:, 0] == np.round(shifts[:, 0])
    )
    assert np.all(np.abs(shifts[:, 1:]) <= 0.15)
    out = jitter_hsv(images, shifts)
    for index in range(3):
        expected = _reference_hsv(images[index], shifts[index])
        assert np.abs(out[index].astype(int) - expected).max() <= 1


def test_blur_out_mask_keeps_the_face_and_smooths_the_outside():
    rng = np.random.default_rng(5)
    size = 256  # σ = 2: a visible blur
    images = rng.integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    masks = np.zeros((2, size, size), np.uint8)
    masks[:, 64:192, 64:192] = 255
    out = blur_outside(images, masks)
    inside, outside = masks == 255, masks == 0
    assert np.array_equal(out[inside], images[inside])
    assert not np.array_equal(out[outside], images[outside])
    # smoother: neighbouring outside pixels differ less
    rough = lambda a: np.abs(np.diff(a[:, :32].astype(int), axis=2)).mean()  # noqa: E731
    assert rough(out) < 0.7 * rough(images)


# ---------------------------------------------------------------- uniform yaw


def test_binned_sampler_balances_a_skewed_set_and_resumes():
    # 900 faces in bin 0, 90 in bin 1, 9 in bin 2, 1 in bin 3
    bins = np.repeat([0, 1, 2, 3], [900, 90, 9, 1])
    sampler = BinnedSampler(bins, np.random.default_rng(0))
    drawn = np.concatenate([sampler.take(16) for _ in range(100)])
    counts = np.bincount(bins[drawn], minlength=4)
    assert counts.tolist() == [400, 400, 400, 400]  # shuffled passes over 4 bins: exact
    assert sorted(set(sampler.upcoming().tolist())) == list(range(len(bins)))
    # within a bin, shuffled passes: the 9 faces of bin 2 each drawn 400 / 9 times, ±1
    per_face = np.bincount(drawn[bins[drawn] == 2], minlength=999)[990:999]
    assert per_face.max() - per_face.min() <= 1
    # the stream is a function of the seed, however upcoming() was called in between
    a, b = (
        BinnedSampler(bins, np.random.default_rng(7)),
        BinnedSampler(bins, np.random.default_rng(7)),
    )
    first = a.take(50)
    b.upcoming()
    assert np.array_equal(first, b.take(50)) and np.array_equal(a.take(30), b.take(30))


def _mean_face_68():
    from fs_core.faces import alignment as al
    from fs_core.faces.demo import write_demo_data  # noqa: F401  (demo faces are frontal-ish)

    points = np.zeros((68, 2))
    points[17:] = al.MEAN_FACE_2D * 200 + 28
    jaw_x = np.linspace(0.0, 1.0, 17)
    points[:17, 0] = 28 + 200 * jaw_x
    points[:17, 1] = 28 + 200 * (0.3 + 0.7 * np.sin(np.pi * jaw_x))
    return points


def test_yaw_is_about_zero_for_a_frontal_face_and_flips_sign_when_mirrored():
    from fs_core.augment.geometry import flip_landmarks

    face = _mean_face_68()
    turned = face.copy()
    turned[:, 0] = 128 + (turned[:, 0] - 128) * np.where(turned[:, 0] > 128, 0.6, 1.0)
    yaws = yaw_degrees(np.stack([face, turned, flip_landmarks(turned, 256)]))
    assert abs(yaws[0]) < 5
    assert abs(yaws[1]) > 10 and yaws[1] == pytest.approx(-yaws[2], abs=1.0)
    assert yaw_bins(np.array([-90.0, 0.0, 90.0]), 4).tolist() == [0, 2, 3]
    assert yaw_degrees(np.full((1, 68, 2), 1e9)).tolist() == [0.0]  # a face left out


def test_choose_sampler():
    samplers = {d.name: d for d in fs_samplers()}
    options = AugmentationOptions()
    assert choose_sampler(samplers, options).name == "epoch"
    assert choose_sampler(samplers, attrs.evolve(options, uniform_yaw=True)).name == "uniform_yaw"
    assert (
        choose_sampler(samplers, attrs.evolve(options, sampler="uniform_yaw")).name == "uniform_yaw"
    )
    with pytest.raises(FsUserError, match="no sampler 'nope'"):
        choose_sampler(samplers, attrs.evolve(options, sampler="nope"), "fs.toml")
    assert choose_sampler({}, options) is None


# ---------------------------------------------------------------- the loader


NAMES = ("face",)


@pytest.fixture(scope="module")
def caches():
    return (
        FaceCache(
            [f"a{i}.png" for i in range(9)],
            32,
            synthetic_prepare(32, NAMES, seed=1),
            mask_names=NAMES,
        ),
        FaceCache(
            [f"b{i}.png" for i in range(7)],
            32,
            synthetic_prepare(32, NAMES, seed=2),
            mask_names=NAMES,
        ),
    )


def _batches(caches, options, count=3, augmenters=None, **extra):
    with BatchLoader(
        *caches,
        batch_size=4,
        input_size=32,
        output_sizes=[32],
        augmenters=fs_augmenters() if augmenters is None else augmenters,
        options=options,
        seed=9,
        workers=0,
        **extra,
    ) as loader:
        return [next(loader) for _ in range(count)]


def test_faceswap_batches_are_unchanged_when_the_options_are_off(caches):
    old = [
        a
        for a in fs_augmenters()
        if a.name in ("color", "affine", "flip", "grid_warp", "warp_to_landmarks")
    ]
    with_new = _batches(caches, AugmentationOptions())
    without = _batches(caches, AugmentationOptions(), augmenters=old)
    for x, y in zip(with_new, without):
        for side in "ab":
            assert np.array_equal(x[side]["input"], y[side]["input"])
            assert np.array_equal(x[side]["targets"][0], y[side]["targets"][0])


def test_color_transfer_and_hsv_touch_side_b_only(caches):
    plain = AugmentationOptions(
        no_warp=True,
        no_augment_color=True,
        no_flip=True,
        zoom_amount=0,
        rotation_range=0,
        shift_range=0,
    )
    base = _batches(caches, plain)
    moved = _batches(caches, attrs.evolve(plain, color_transfer="rct", random_hsv_power=0.2))
    for x, y in zip(base, moved):
        assert np.array_equal(x["a"]["input"], y["a"]["input"])
        assert np.array_equal(x["a"]["targets"][0], y["a"]["targets"][0])
        assert not np.array_equal(x["b"]["targets"][0], y["b"]["targets"][0])  # transfer
        assert not np.array_equal(y["b"]["input"], y["b"]["targets"][0])  # HSV on input only


def test_blur_out_mask_needs_the_face_mask():
    bare = tuple(
        FaceCache([f"{s}{i}.png" for i in range(5)], 32, synthetic_prepare(32, (), seed=k))
        for k, s in enumerate("ab")
    )
    with pytest.raises(FsUserError, match="needs the face mask"):
        _batches(bare, AugmentationOptions(blur_out_mask=True))


def test_uniform_yaw_sampler_in_the_loader_resumes_exactly(caches):
    sampler = {d.name: d for d in fs_samplers()}["uniform_yaw"]
    options = AugmentationOptions(uniform_yaw=True, uniform_yaw_bins=4)
    whole = _batches(caches, options, count=5, sampler=sampler)
    with BatchLoader(
        *caches,
        batch_size=4,
        input_size=32,
        output_sizes=[32],
        augmenters=fs_augmenters(),
        options=options,
        seed=9,
        workers=0,
        sampler=sampler,
    ) as loader:
        loader.skip(3)
        rest = [next(loader) for _ in range(2)]
    for x, y in zip(whole[3:], rest):
        assert np.array_equal(x["b"]["input"], y["b"]["input"])


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def demo_faces(tmp_path_factory):
    from fs_core.faces.demo import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo"), count=8, size=128)


def test_augment_preview_shows_the_options(demo_faces, tmp_path):
    import argparse

    from fs_core.cli import augment_preview

    def grid(config_text: str, *extra: str, size: int = 64):
        config = tmp_path / "fs.toml"
        config.write_text(
            "[augmentation]\nno_warp = true\nno_flip = true\nno_augment_color = true\n"
            "zoom_amount = 0\nrotation_range = 0\nshift_range = 0\n" + config_text
        )
        out = tmp_path / "preview.png"
        parser = argparse.ArgumentParser()
        augment_preview.add_parser(parser.add_subparsers())
        argv = ["augment-preview", "-A", str(demo_faces[1]), "-o", str(out), "-C", str(config)]
        args = parser.parse_args(argv + ["--size", str(size), "--count", "3", *extra])
        assert args.func(args) == 0
        image = cv2.imread(str(out))
        return image[:, :size], image[:, -size:]  # input, target

    plain_in, plain_target = grid("")
    assert np.array_equal(plain_in, plain_target)
    ct_in, ct_target = grid("color_transfer = 'rct'\n", "--reference", str(demo_faces[0]))
    assert not np.array_equal(ct_target, plain_target) and np.array_equal(ct_in, ct_target)
    hsv_in, hsv_target = grid("random_hsv_power = 0.3\n")
    assert np.array_equal(hsv_target, plain_target) and not np.array_equal(hsv_in, hsv_target)
    side_a_in, _ = grid("random_hsv_power = 0.3\n", "--side", "a")
    assert np.array_equal(side_a_in, plain_in)
    _, sharp = grid("", size=256)
    blur_in, blur_target = grid("blur_out_mask = true\n", size=256)  # σ 2 px at 256
    assert np.array_equal(blur_in, blur_target) and not np.array_equal(blur_target, sharp)


@pytest.mark.slow
def test_training_with_all_four_on_resumes_exactly_and_records_them(registry, demo_faces, tmp_path):
    import tomllib

    from fs_core.model.weights import read_weights
    from fs_core.training.run import run_train
    from fs_core.training.session import TrainRequest

    config = tmp_path / "fs.toml"
    config.write_text(
        "[global]\nsave_optimizer = 'always'\n"
        "[global.loss]\nloss_function = 'mae'\nloss_function_2 = 'none'\n"
        "[augmentation]\ncolor_transfer = 'sot'\nrandom_hsv_power = 0.1\n"
        "uniform_yaw = true\nuniform_yaw_bins = 8\nblur_out_mask = true\n"
    )

    def train(model_dir, iterations):
        request = TrainRequest(
            input_a=str(demo_faces[0]),
            input_b=str(demo_faces[1]),
            model_dir=str(model_dir),
            model_name="tiny",
            batch_size=2,
            iterations=iterations,
            save_interval=100,
            config_path=str(config),
            seed=4,
        )
        assert run_train(request, registry, lambda line: None) == "done"

    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(whole, 4)
    train(parts, 2)
    train(parts, 2)
    a, _ = read_weights(whole / "weights.h5")
    b, _ = read_weights(parts / "weights.h5")
    keys = [key for key in a if not key.startswith("optimizer/")]
    assert keys
    for key in keys:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-7, err_msg=key)
    with open(parts / "state.toml", "rb") as handle:
        sessions = tomllib.load(handle)["sessions"]
    recorded = sessions[-1]["config"]["augmentation"]
    assert recorded["color_transfer"] == "sot" and recorded["uniform_yaw"] is True
    assert recorded["random_hsv_power"] == 0.1 and recorded["blur_out_mask"] is True


def test_samplers_are_a_plugin_kind_listed_by_fs_plugins(registry, capsys):
    import argparse

    from fs_core.cli import plugins_cmd

    assert {"epoch", "uniform_yaw"} <= set(registry.samplers)
    assert registry.provider("sampler", "uniform_yaw").distribution == "fs-core"
    plugins_cmd.run(argparse.Namespace(json=False, disable=None))
    listed = [line.split()[:2] for line in capsys.readouterr().out.splitlines()]
    assert ["sampler", "uniform_yaw"] in listed and ["augmenter", "color_transfer"] in listed


@pytest.mark.parametrize("name", ["epoch", "uniform_yaw"])
def test_the_built_in_samplers_pass_the_pack_check(registry, name):
    from fs_core.testing import check_sampler_plugin

    options = AugmentationOptions(uniform_yaw_bins=8)
    assert check_sampler_plugin(name, registry=registry, options=options).name == name


def test_the_sampler_check_catches_a_sampler_that_ignores_its_generator(registry):
    from fs_core.descriptors import SamplerDescriptor
    from fs_core.plugin_manager import load_registry
    from fs_core.testing import PluginCheckError, check_sampler_plugin

    class Careless:
        def __init__(self, inputs):
            self.count, self.epoch = inputs.count, 0
            self.rng = np.random.default_rng()  # not the seeded one

        def take(self, n):
            return self.rng.integers(0, self.count, n)

        def upcoming(self):
            return np.arange(self.count)

    class Pack:
        @staticmethod
        def fs_samplers():
            return [SamplerDescriptor(name="careless", make=Careless)]

    import fs_core

    Pack.fs_samplers = fs_core.hookimpl(Pack.fs_samplers)
    with_pack = load_registry(extra_plugins={"careless_pack": Pack}, entry_points=False)
    with pytest.raises(PluginCheckError, match="differs between two samplers"):
        check_sampler_plugin("careless", registry=with_pack)
