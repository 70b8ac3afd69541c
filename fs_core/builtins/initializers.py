"""The core's kernel initializers: He-uniform, ICNR and convolution-aware.

Models never pick ICNR or conv-aware themselves; :class:`fs_core.model.context.BuildContext` applies
them when ``[global] icnr_init`` / ``conv_aware_init`` are on, by name, through this registry.
Both are Keras-serializable (package ``fs``) so a saved model can be rebuilt from its config.
They compute what faceswap's ``lib/model/initializers.py`` computes, so weights start alike.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

import fs_core
from fs_core.descriptors import InitializerDescriptor


@keras.saving.register_keras_serializable(package="fs")
class ICNR(keras.initializers.Initializer):
    """Sub-pixel convolution init without checkerboard artefacts (Aitken et al. 2017).

    A conv with ``out = k·r²`` channels followed by depth-to-space (DCR order: output channel
    ``(i·r + j)·k + c`` feeds sub-pixel ``(i, j)`` of channel ``c``) starts out as nearest-neighbour
    upsampling of a ``k``-channel conv when every group of ``k`` output channels holds the same
    kernels. So we draw ``(kh, kw, in, k)`` from the wrapped initializer and tile it ``r²`` times
    along the output axis.
    """

    def __init__(self, initializer: Any = "he_uniform", scale: int = 2) -> None:
        self.initializer = keras.initializers.get(initializer)
        self.scale = int(scale)
        if self.scale < 1:
            raise ValueError(f"ICNR scale must be at least 1, got {scale}")

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        shape = tuple(int(s) for s in shape)
        if self.scale == 1:
            return self.initializer(shape, dtype=dtype)
        if len(shape) != 4:
            raise ValueError(f"ICNR needs a 4-D conv kernel, got shape {shape}")
        groups = self.scale**2
        if shape[-1] % groups:
            raise ValueError(
                f"ICNR scale {self.scale}: output channels {shape[-1]} are not a "
                f"multiple of {groups}"
            )
        base = self.initializer(shape[:-1] + (shape[-1] // groups,), dtype=dtype)
        return keras.ops.tile(base, (1, 1, 1, groups))

    def get_config(self) -> dict[str, Any]:
        return {"initializer": keras.initializers.serialize(self.initializer), "scale": self.scale}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ICNR:
        config = dict(config)
        config["initializer"] = keras.initializers.deserialize(config["initializer"])
        return cls(**config)


def _orthogonal_rows(
    rng: np.random.Generator, filters: int, channels: int, size: int, eps_std: float
) -> np.ndarray:
    """Per filter, ``channels`` spectral coefficient vectors of length ``size``.

    Each block of ``size`` consecutive rows is orthonormal: the transposed left singular vectors
    of a random symmetric matrix. Enough blocks are stacked to cover ``channels``. With a
    one-coefficient spectrum (1×1 kernels) there is nothing to orthogonalise, so the rows are
    plain noise (unit noise when ``eps_std`` is 0, so the later rescale is defined).
    """
    if size == 1:
        return rng.normal(0.0, eps_std or 1.0, size=(filters, channels, 1))
    blocks = channels // size + 1
    raw = rng.normal(0.0, 1.0, size=(filters, blocks, size, size))
    diagonal = np.einsum("...ii->...i", raw)
    symmetric = raw + np.swapaxes(raw, -1, -2)
    symmetric -= np.einsum("...i,ij->...ij", diagonal, np.eye(size))
    left, _, _ = np.linalg.svd(symmetric)
    rows = np.swapaxes(left, -1, -2).reshape(filters, blocks * size, size)
    return rows[:, :channels]


def conv_aware_kernel(
    shape: tuple[int, ...], eps_std: float, rng: np.random.Generator
) -> np.ndarray:
    """A float64 conv kernel ``(*spatial, in, out)`` orthogonal in Fourier space (Aghajanyan 2017).

    The spatial kernel of each (input channel, filter) pair is the inverse real FFT of a set of
    real spectral coefficients that are orthonormal across input channels (per block of S, the
    spectrum size), plus ``N(0, eps_std)`` noise; the tensor is then scaled to variance
    ``2 / fan_in`` (He). Spatial rank 1, 2 or 3 (3-D, 4-D and 5-D kernels).
    """
    spatial, channels, filters = tuple(shape[:-2]), shape[-2], shape[-1]
    fan_in = int(np.prod(spatial)) * channels
    spectrum = spatial[:-1] + (spatial[-1] // 2 + 1,)
    rows = _orthogonal_rows(rng, filters, channels, int(np.prod(spectrum)), eps_std)
    coefficients = rows.reshape((filters, channels) + spectrum)
    axes = tuple(range(2, 2 + len(spatial)))
    kernel = np.fft.irfftn(coefficients, s=spatial, axes=axes)
    if eps_std:
        kernel = kernel + rng.normal(0.0, eps_std, size=kernel.shape)
    kernel *= np.sqrt((2.0 / fan_in) / np.var(kernel))
    # (out, in, *spatial) -> (*spatial, in, out)
    return np.transpose(kernel, axes + (1, 0))


@keras.saving.register_keras_serializable(package="fs")
class ConvolutionAware(keras.initializers.Initializer):
    """Convolution-aware initialization: filters orthogonal in the Fourier domain.

    Computed with NumPy once when the layer is built (it is a one-off cost at model creation;
    loaded weights overwrite it). 3-D, 4-D and 5-D kernels get the Fourier construction; any
    other rank falls back to Keras' Orthogonal initializer. ``seed=None`` draws from NumPy's global
    generator, so ``keras.utils.set_random_seed`` makes it reproducible.
    """

    def __init__(self, eps_std: float = 0.05, seed: int | None = None) -> None:
        self.eps_std = float(eps_std)
        self.seed = seed

    def __call__(self, shape: Any, dtype: Any = None) -> Any:
        shape = tuple(int(s) for s in shape)
        dtype = dtype or keras.backend.floatx()
        if len(shape) not in (3, 4, 5):
            return keras.initializers.Orthogonal(seed=self.seed)(shape, dtype=dtype)
        seed = self.seed if self.seed is not None else np.random.randint(2**31 - 1)
        kernel = conv_aware_kernel(shape, self.eps_std, np.random.default_rng(seed))
        return keras.ops.convert_to_tensor(kernel.astype(np.float32), dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        return {"eps_std": self.eps_std, "seed": self.seed}


def make_icnr(initializer: Any = "he_uniform", scale: int = 2) -> Any:
    """ICNR around ``initializer``; at scale 1 (nothing to shuffle) the wrapped initializer."""
    if int(scale) == 1:
        return keras.initializers.get(initializer)
    return ICNR(initializer=initializer, scale=scale)


@fs_core.hookimpl
def fs_initializers() -> list[InitializerDescriptor]:
    return [
        InitializerDescriptor(
            name="he_uniform",
            make=keras.initializers.HeUniform,
            help="He uniform (the default of every convolution).",
        ),
        InitializerDescriptor(
            name="icnr",
            make=make_icnr,
            wraps=True,
            help="ICNR: checkerboard-free init of upscale convolutions.",
        ),
        InitializerDescriptor(
            name="conv_aware",
            make=ConvolutionAware,
            help="Convolution-aware: filters orthogonal in Fourier space.",
        ),
    ]
