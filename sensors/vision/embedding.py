"""Appearance embeddings: 1,024 float32 values, unit length, computed from a person's box.

Two kinds behind one protocol:

* ``ColourTextureEmbedder``, built in and model-free: the crop (64 x 128) in 8 horizontal stripes,
  each described by a colour histogram (72 chromatic hue x saturation x value cells plus 24 grey
  levels for unsaturated pixels) and a gradient-orientation histogram (8 orientations x 4 columns).
  Pixels are weighted by a horizontal Gaussian centred on the box to down-weight background. Blocks
  are L1-normalised, square-rooted (Hellinger: robust to a few saturated bins), colour weighted 1 and
  texture 0.5, and the whole vector L2-normalised. 8 x (96 + 32) = 1,024. The note on
  re-identification records what such descriptors reach; benchmarks/sensor_quality.py measures this one.
* ``OnnxReidEmbedder`` for an operator's ONNX re-identification (or backbone) model: the crop is
  resized to the model's input, the output flattened; more than 1,024 values are reduced by a fixed
  Gaussian random projection (seeded by a constant, so every sensor of every site computes the same
  map; it preserves angles up to a few percent, Johnson-Lindenstrauss); fewer are zero-padded (which
  changes no distance). Then L2-normalised.

Embeddings are personal data: callers delete them (sensors.privacy.grouping.delete_features) as soon
as the group is assigned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from sensors.vision.detector import onnx_session

EMBEDDING_DIM = 1024
PROJECTION_SEED = 20_261_126  # fixed and public: the projection is not a secret, the LSH key is

_CROP_W, _CROP_H = 64, 128
_STRIPES = 8
_HUE_BINS, _SAT_BINS, _VAL_BINS, _GREY_BINS = 12, 3, 2, 24
_ORIENTATIONS, _TEXTURE_COLUMNS = 8, 4
_MIN_SATURATION, _MIN_VALUE = 40, 40
_TEXTURE_WEIGHT = 0.5


class AppearanceEmbedder(Protocol):
    def embed(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> np.ndarray: ...


def crop_box(frame_bgr: np.ndarray, box_xyxy: np.ndarray) -> np.ndarray:
    """The box's pixels (clipped to the frame); a ValueError for a box with no pixels inside the frame."""
    height, width = frame_bgr.shape[:2]
    bx1, by1, bx2, by2 = (float(v) for v in np.asarray(box_xyxy, np.float64).reshape(4))
    x1, x2 = max(0, math.floor(bx1)), min(width, math.ceil(bx2))
    y1, y2 = max(0, math.floor(by1)), min(height, math.ceil(by2))
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise ValueError("the person box has no area inside the frame")
    return frame_bgr[y1:y2, x1:x2]


def l2_normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm == 0.0 or not np.isfinite(norm):
        raise ValueError("cannot normalise an all-zero or non-finite embedding")
    return (vector / norm).astype(np.float32)


class ColourTextureEmbedder:
    """The built-in, model-free descriptor (see the module docstring)."""

    def __init__(self) -> None:
        columns = np.arange(_CROP_W) - (_CROP_W - 1) / 2
        self._column_weight = np.exp(-0.5 * (columns / (0.3 * _CROP_W)) ** 2).astype(np.float32)

    def embed(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> np.ndarray:
        return self.embed_crop(crop_box(frame_bgr, person_box_xyxy))

    def embed_crop(self, crop_bgr: np.ndarray) -> np.ndarray:
        crop = cv2.resize(crop_bgr, (_CROP_W, _CROP_H), interpolation=cv2.INTER_AREA)
        weight = np.broadcast_to(self._column_weight, (_CROP_H, _CROP_W))
        colour_index = _colour_cells(crop)
        orientation, magnitude = _gradients(crop)
        texture_index = orientation * _TEXTURE_COLUMNS + (np.arange(_CROP_W) * _TEXTURE_COLUMNS // _CROP_W)[None, :]
        n_colour = _HUE_BINS * _SAT_BINS * _VAL_BINS + _GREY_BINS
        n_texture = _ORIENTATIONS * _TEXTURE_COLUMNS
        rows_per_stripe = _CROP_H // _STRIPES
        blocks = []
        for stripe in range(_STRIPES):
            rows = slice(stripe * rows_per_stripe, (stripe + 1) * rows_per_stripe)
            colour = np.bincount(colour_index[rows].ravel(), weight[rows].ravel(), minlength=n_colour)
            texture = np.bincount(
                texture_index[rows].ravel(), (weight[rows] * magnitude[rows]).ravel(), minlength=n_texture
            )
            blocks.append(np.sqrt(colour / max(colour.sum(), 1e-9)))
            blocks.append(_TEXTURE_WEIGHT * np.sqrt(texture / max(texture.sum(), 1e-9)))
        return l2_normalised(np.concatenate(blocks))


def _colour_cells(crop_bgr: np.ndarray) -> np.ndarray:
    """Per pixel: a hue x saturation x value cell for coloured pixels, a grey level for unsaturated ones."""
    hsv = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2HSV).astype(np.int32)
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    hue_bin = hue * _HUE_BINS // 180
    sat_bin = ((saturation - _MIN_SATURATION) * _SAT_BINS // (256 - _MIN_SATURATION)).clip(0, _SAT_BINS - 1)
    val_bin = ((value - _MIN_VALUE) * _VAL_BINS // (256 - _MIN_VALUE)).clip(0, _VAL_BINS - 1)
    chromatic = (hue_bin * _SAT_BINS + sat_bin) * _VAL_BINS + val_bin
    grey = _HUE_BINS * _SAT_BINS * _VAL_BINS + value * _GREY_BINS // 256
    is_colour = (saturation >= _MIN_SATURATION) & (value >= _MIN_VALUE)
    return np.where(is_colour, chromatic, grey)


def _gradients(crop_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned gradient orientation bin (0..7) and magnitude per pixel of the grey image."""
    grey = cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    angle = np.mod(np.arctan2(gy, gx), np.pi)
    orientation = np.minimum((angle / np.pi * _ORIENTATIONS).astype(np.int32), _ORIENTATIONS - 1)
    return orientation, np.hypot(gx, gy)


def project_to_embedding(features: np.ndarray, dim: int = EMBEDDING_DIM) -> np.ndarray:
    """A model's flattened output as ``dim`` values: zero-padded if shorter, else a fixed Gaussian projection."""
    flat = np.asarray(features, np.float32).reshape(-1)
    if len(flat) <= dim:
        return l2_normalised(np.pad(flat, (0, dim - len(flat))))
    return l2_normalised(fixed_projection(len(flat), dim) @ flat)


_PROJECTIONS: dict[tuple[int, int], np.ndarray] = {}


def fixed_projection(n_in: int, n_out: int) -> np.ndarray:
    """The public [n_out, n_in] Gaussian projection, the same on every sensor (seeded by PROJECTION_SEED)."""
    if (n_in, n_out) not in _PROJECTIONS:
        rng = np.random.default_rng([PROJECTION_SEED, n_in, n_out])
        _PROJECTIONS[n_in, n_out] = (rng.standard_normal((n_out, n_in)) / np.sqrt(n_out)).astype(np.float32)
    return _PROJECTIONS[n_in, n_out]


@dataclass(frozen=True)
class ReidPreprocessing:
    """Crop to input tensor: resize to (width, height), RGB or BGR, (value / 255 - mean) / std, NCHW."""

    width: int = 128
    height: int = 256
    rgb: bool = True
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)


class OnnxReidEmbedder:
    """An operator-supplied ONNX re-identification model (or generic backbone) as a 1,024-value embedding."""

    def __init__(
        self,
        path: str | Path,
        preprocessing: ReidPreprocessing = ReidPreprocessing(),
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
    ) -> None:
        self._session = onnx_session(path, providers, threads)
        self._input_name = self._session.get_inputs()[0].name
        self._pre = preprocessing

    def embed(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> np.ndarray:
        return self.embed_crop(crop_box(frame_bgr, person_box_xyxy))

    def embed_crop(self, crop_bgr: np.ndarray) -> np.ndarray:
        pre = self._pre
        image = cv2.resize(crop_bgr, (pre.width, pre.height), interpolation=cv2.INTER_LINEAR)
        if pre.rgb:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        tensor = (image.astype(np.float32) / 255.0 - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
        (output,) = self._session.run(None, {self._input_name: tensor.transpose(2, 0, 1)[None]})[:1]
        return project_to_embedding(output)
