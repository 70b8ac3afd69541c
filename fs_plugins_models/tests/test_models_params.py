"""Parameter counts of the architectures, derived by hand from faceswap's plugins/train/model/.

Each count below is written out layer by layer, so a wrong filter count, a missing bias, a
dropped lowmem switch or an extra block shows up as a different number.
"""

from __future__ import annotations

import pytest

from fs_core.model.context import BuildContext
from fs_plugins_models.plugin import fs_models

DESCRIPTORS = {d.name: d for d in fs_models()}


def conv(k: int, cin: int, cout: int) -> int:
    """A k×k convolution with bias."""
    return k * k * cin * cout + cout


def dense(cin: int, cout: int) -> int:
    return cin * cout + cout


def up(cin: int, filters: int, k: int = 3) -> int:
    """UpscaleBlock: a conv to filters·4 channels, then a weightless pixel shuffle."""
    return conv(k, cin, 4 * filters)


def residual(filters: int) -> int:
    return 2 * conv(3, filters, filters)


def part_counts(name: str, options: dict | None = None, learn_mask: bool = False) -> dict[str, int]:
    desc = DESCRIPTORS[name]
    model = desc.build(desc.config_class(**(options or {})), BuildContext(learn_mask=learn_mask))
    counts = {
        layer.name: layer.count_params() for layer in model.layers if hasattr(layer, "layers")
    }
    counts["total"] = model.count_params()
    return counts


ENCODER_CONVS = conv(5, 3, 128) + conv(5, 128, 256) + conv(5, 256, 512) + conv(5, 512, 1024)


def test_original_by_hand():
    encoder = ENCODER_CONVS + dense(4 * 4 * 1024, 1024) + dense(1024, 4 * 4 * 1024) + up(1024, 512)
    face = up(512, 256) + up(256, 128) + up(128, 64) + conv(5, 64, 3)
    mask = up(512, 256) + up(256, 128) + up(128, 64) + conv(5, 64, 1)
    assert encoder == 69_662_976
    assert part_counts("original") == {
        "encoder": encoder,
        "decoder_a": face,
        "decoder_b": face,
        "total": encoder + 2 * face,
    }
    assert part_counts("original", learn_mask=True)["decoder_a"] == face + mask
    # lowmem: no 1024 conv, the flatten is 8·8·512 and the bottleneck Dense is 512 wide
    low = (
        conv(5, 3, 128)
        + conv(5, 128, 256)
        + conv(5, 256, 512)
        + dense(8 * 8 * 512, 512)
        + dense(512, 4 * 4 * 1024)
        + up(1024, 512)
    )
    assert part_counts("original", {"lowmem": True})["total"] == low + 2 * face


def test_lightweight_by_hand():
    encoder = (
        conv(5, 3, 128)
        + conv(5, 128, 256)
        + conv(5, 256, 512)
        + dense(8 * 8 * 512, 512)
        + dense(512, 4 * 4 * 512)
        + up(512, 256)
    )
    face = up(256, 512) + up(512, 256) + up(256, 128) + conv(5, 128, 3)
    assert part_counts("lightweight") == {
        "encoder": encoder,
        "decoder_a": face,
        "decoder_b": face,
        "total": encoder + 2 * face,
    }
    assert encoder + 2 * face == 51_066_374


@pytest.mark.slow
def test_iae_by_hand():
    inter = dense(4 * 4 * 1024, 1024) + dense(1024, 4 * 4 * 512)
    decoder = up(1024, 512) + up(512, 256) + up(256, 128) + up(128, 64) + conv(5, 64, 3)
    assert part_counts("iae") == {
        "encoder": ENCODER_CONVS,
        "inter_a": inter,
        "inter_b": inter,
        "inter_both": inter,
        "decoder": decoder,
        "total": ENCODER_CONVS + 3 * inter + decoder,
    }


@pytest.mark.slow
def test_dfl_h128_by_hand():
    for lowmem, e in ((False, 512), (True, 256)):
        encoder = ENCODER_CONVS + dense(8 * 8 * 1024, e) + dense(e, 8 * 8 * e) + up(e, e)
        face = up(e, e) + up(e, e // 2) + up(e // 2, e // 4) + conv(5, e // 4, 3)
        assert part_counts("dfl_h128", {"lowmem": lowmem}) == {
            "encoder": encoder,
            "decoder_a": face,
            "decoder_b": face,
            "total": encoder + 2 * face,
        }


@pytest.mark.slow
def test_dfaker_decoder_by_hand():
    face = (
        up(512, 512)
        + residual(512)
        + up(512, 256)
        + residual(256)
        + up(256, 128)
        + residual(128)
        + up(128, 64)
        + conv(5, 64, 3)
    )
    counts = part_counts("dfaker")
    assert counts["decoder_a"] == counts["decoder_b"] == face
    # 64 px input: the original encoder ends its convs at 4×4×1024, exactly original's encoder
    assert counts["encoder"] == 69_662_976


# Totals at faceswap's defaults (no learned mask), as built here; the ones above are derived by
# hand, the rest pin the architecture so an accidental change to a shared block shows up.
DEFAULT_TOTALS = [
    ("original", {}, 82_062_470),
    ("original", {"lowmem": True}, 60_565_126),
    ("lightweight", {}, 51_066_374),
    ("iae", {}, 117_816_003),
    ("dfaker", {}, 113_330_822),
    ("dfaker", {"output_size": 256}, 258_046_598),
    ("unbalanced", {}, 207_046_186),
    ("unbalanced", {"lowmem": True}, 107_962_506),
    ("dfl_h128", {}, 107_716_102),
    ("dfl_h128", {"lowmem": True}, 48_244_102),
    ("dfl_sae", {}, 130_008_718),
    ("dfl_sae", {"architecture": "liae"}, 121_746_593),
    ("villain", {}, 155_115_014),
    ("villain", {"lowmem": True}, 118_660_614),
    ("realface", {}, 238_241_676),
    ("dlight", {}, 143_614_006),
    ("dlight", {"features": "lowmem"}, 104_503_318),
    ("dlight", {"details": "fast"}, 163_706_006),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,options,total",
    DEFAULT_TOTALS,
    ids=[f"{n}-{'-'.join(map(str, o.values())) or 'default'}" for n, o, _ in DEFAULT_TOTALS],
)
def test_default_totals(name, options, total):
    assert part_counts(name, options)["total"] == total
