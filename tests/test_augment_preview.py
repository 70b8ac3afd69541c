"""``fs augment-preview`` on demo faces."""

from __future__ import annotations

import argparse

import cv2
import pytest

from fs_core.cli import augment_preview
from fs_core.errors import FsUserError


@pytest.fixture(scope="module")
def demo_faces(tmp_path_factory):
    from fs_core.faces.demo import write_demo_data

    folder_a, _ = write_demo_data(tmp_path_factory.mktemp("demo"), count=6, size=64)
    return folder_a


def parse(*argv):
    parser = argparse.ArgumentParser()
    augment_preview.add_parser(parser.add_subparsers())
    return parser.parse_args(["augment-preview", *argv])


def test_writes_a_grid_of_input_and_target(demo_faces, tmp_path):
    out = tmp_path / "preview.png"
    args = parse(
        "-A", str(demo_faces), "-o", str(out), "--size", "32", "--count", "3", "--seed", "1"
    )
    assert args.func is augment_preview.run
    assert args.func(args) == 0
    grid = cv2.imread(str(out))
    assert grid.shape == (3 * 32, 2 * 32 + augment_preview.GAP, 3)
    assert (grid[:, :32] != grid[:, -32:]).any()  # the input is warped, the target is not


def test_warp_to_landmarks_from_the_config(demo_faces, tmp_path):
    config = tmp_path / "fs.toml"
    config.write_text("[augmentation]\nwarp_to_landmarks = true\n")
    out = tmp_path / "preview.png"
    args = parse(
        "-A", str(demo_faces), "-o", str(out), "-C", str(config), "--size", "32", "--count", "4"
    )
    assert args.func(args) == 0 and cv2.imread(str(out)).shape[0] == 4 * 32


def test_an_unwritable_output_is_a_user_error(demo_faces, tmp_path):
    args = parse("-A", str(demo_faces), "-o", str(tmp_path / "missing" / "p.png"), "--size", "32")
    with pytest.raises(FsUserError, match="does not exist"):
        args.func(args)
