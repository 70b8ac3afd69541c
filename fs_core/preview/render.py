"""From a live model and its preview faces to the preview image (what -w, -p and -x/-y/-z show).

Kept apart from the hooks so the preview and timelapse built-ins draw exactly the same picture,
and a test can draw one from any model without training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fs_core.data.assemble import resize_faces
from fs_core.faces.faceset import FaceSet
from fs_core.inference.predict import model_input, run_both, to_bgr_uint8
from fs_core.preview.faces import PreviewFaces, load_preview_faces, pick_evenly, preview_spec
from fs_core.preview.layout import PreviewStyle, SideImages, parse_color, render_preview


def mask_in_use(config: Any, built: Any) -> bool:
    """A mask shapes training when the loss is penalized by one or the model learns one."""
    return bool(
        built.learn_mask or (config.loss.penalized_mask_loss and config.mask.mask_type != "none")
    )


def style_of(config: Any, built: Any) -> PreviewStyle:
    options = config.augmentation
    return PreviewStyle(
        opacity=options.mask_opacity / 100.0,
        color=parse_color(options.mask_color),
        show_mask=mask_in_use(config, built),
    )


def faces_for(
    faceset: FaceSet, paths: list[str], spec: Any, config: Any, built: Any
) -> PreviewFaces:
    """Prepare ``paths`` of ``faceset`` for the preview of ``built`` (crop as ``spec`` says)."""
    wanted = preview_spec(
        spec,
        mask_in_use(config, built),
        faceset.has_landmarks,
        frozenset(faceset.stored_mask_names),
        faceset.has_features,
    )
    return load_preview_faces(paths, wanted, max(built.output_sizes))


def session_faces(session: Any, count: int | None = None) -> tuple[PreviewFaces, PreviewFaces]:
    """The training sets' preview faces: ``preview_images`` per side, spread over each set."""
    count = count or session.config.augmentation.preview_images
    side_a, side_b = (
        faces_for(
            faces,
            pick_evenly(faces.paths, count),
            session.prepare_spec,
            session.config,
            session.built,
        )
        for faces in (session.faces_a, session.faces_b)
    )
    return side_a, side_b


def side_images(built: Any, faces: PreviewFaces, side: str, batch_size: int) -> SideImages:
    """Run ``faces`` (of ``side``) through both decoders; the own decoder is the reconstruction."""
    order = built.descriptor.color_order
    outputs = run_both(built, model_input(faces.crops, built.input_size, order), batch_size)
    other = "b" if side == "a" else "a"
    (own, own_mask), (swap, swap_mask) = outputs[side], outputs[other]
    size = max(built.output_sizes)
    return SideImages(
        tiles=faces.tiles,
        targets=resize_faces(faces.crops, size),
        reconstructions=to_bgr_uint8(own, order),
        swaps=to_bgr_uint8(swap, order),
        masks=faces.masks,
        learned=(own_mask, swap_mask),
    )


def preview_image(
    built: Any,
    faces_a: PreviewFaces,
    faces_b: PreviewFaces,
    style: PreviewStyle,
    batch_size: int = 16,
) -> np.ndarray:
    """The preview grid (uint8 BGR) for these faces with the model as it is now."""
    return render_preview(
        side_images(built, faces_a, "a", batch_size),
        side_images(built, faces_b, "b", batch_size),
        style,
    )
