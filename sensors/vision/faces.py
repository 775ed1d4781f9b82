"""Face boxes and 5 landmarks from CenterFace, run on the head region of one person box.

Running the face model on the upper part of each person box instead of the whole frame keeps faces
large in the model input (small faces are where CenterFace fails) and costs a small fixed input per
person. CenterFace (models/face_detector_centerface.md) takes RGB bytes unnormalised, NCHW, sides a
multiple of 32, and outputs four maps at 1/4 resolution: ``heatmap`` (face centre probability),
``scale`` (log of box height, width / 4), ``offset`` (sub-cell centre offset) and ``landmarks``
(5 points as (dy, dx) relative to the box's top-left corner, in units of box height, width).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sensors.vision.detections import nms_indices
from sensors.vision.detector import onnx_session
from sensors.vision.embedding import crop_box

STRIDE = 4


@dataclass(frozen=True, eq=False)  # numpy fields: compare arrays explicitly
class Face:
    """One face in frame pixels: box (x1, y1, x2, y2), confidence, landmarks [5, 2] (x, y): left eye, right
    eye, nose, left and right mouth corner (left/right as seen in the image)."""

    box: np.ndarray
    confidence: float
    landmarks: np.ndarray


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    input_size: tuple[int, int],
    threshold: float,
    nms_iou: float = 0.3,
) -> list[Face]:
    """Faces in model-input pixels from the four output maps of one image (batch index 0).

    ``input_size`` is (width, height) of the model input; boxes are clipped to it."""
    width, height = input_size
    rows, cols = np.nonzero(heatmap[0, 0] > threshold)
    if len(rows) == 0:
        return []
    box_h = np.exp(scale[0, 0, rows, cols]) * STRIDE
    box_w = np.exp(scale[0, 1, rows, cols]) * STRIDE
    centre_y = (rows + offset[0, 0, rows, cols] + 0.5) * STRIDE
    centre_x = (cols + offset[0, 1, rows, cols] + 0.5) * STRIDE
    x1 = np.clip(centre_x - box_w / 2, 0, width)
    y1 = np.clip(centre_y - box_h / 2, 0, height)
    boxes = np.stack([x1, y1, np.minimum(x1 + box_w, width), np.minimum(y1 + box_h, height)], axis=1)
    points = landmarks[0][:, rows, cols].T.reshape(-1, 5, 2)  # (dy, dx) per point
    marks = np.stack([points[..., 1] * box_w[:, None] + x1[:, None], points[..., 0] * box_h[:, None] + y1[:, None]], -1)
    scores = heatmap[0, 0, rows, cols]
    kept = nms_indices(boxes, scores, nms_iou)
    return [Face(boxes[i].astype(np.float32), float(scores[i]), marks[i].astype(np.float32)) for i in kept]


def head_region(person_box_xyxy: np.ndarray, frame_width: int, frame_height: int) -> np.ndarray:
    """The upper part of a person box where the head is: the top 40 % of its height, widened by 10 % each
    side (a turned head leaves the box), clipped to the frame. xyxy float32."""
    x1, y1, x2, y2 = np.asarray(person_box_xyxy, np.float32).reshape(4)
    margin = 0.1 * (x2 - x1)
    region = np.array([x1 - margin, y1 - 0.05 * (y2 - y1), x2 + margin, y1 + 0.4 * (y2 - y1)], np.float32)
    return np.clip(region, 0, [frame_width, frame_height, frame_width, frame_height]).astype(np.float32)


class FaceDetector:
    """CenterFace on the head region of a person; returns the most confident face in frame pixels, or None.

    The region is resized so its long side is at most ``input_long_side`` (160: a head of 60-160 px is
    where CenterFace is at its best) and at most twice its own size, rounded to multiples of 32."""

    def __init__(
        self,
        path: str | Path,
        threshold: float = 0.5,
        input_long_side: int = 160,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
    ) -> None:
        self._session = onnx_session(path, providers, threads)
        self._input = self._session.get_inputs()[0].name
        self._outputs = ["heatmap", "scale", "offset", "landmarks"]
        self.threshold = threshold
        self._long_side = input_long_side

    def detect_in_person(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> Face | None:
        height, width = frame_bgr.shape[:2]
        region = head_region(person_box_xyxy, width, height)
        try:
            pixels = crop_box(frame_bgr, region)
        except ValueError:
            return None
        faces = self.detect(pixels)
        if not faces:
            return None
        best = max(faces, key=lambda face: face.confidence)
        x0, y0 = np.floor(region[:2])
        shift = np.array([x0, y0], np.float32)
        return Face(best.box + np.tile(shift, 2), best.confidence, best.landmarks + shift)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """All faces in an image (pixels of that image)."""
        height, width = image_bgr.shape[:2]
        # Never upscale a small head region beyond 2x, nor feed more than input_long_side (cost ~ pixels).
        ratio = min(self._long_side, 2 * max(height, width)) / max(height, width)
        in_w = max(32, round(width * ratio / 32) * 32)
        in_h = max(32, round(height * ratio / 32) * 32)
        rgb = cv2.cvtColor(cv2.resize(image_bgr, (in_w, in_h)), cv2.COLOR_BGR2RGB)
        tensor = np.ascontiguousarray(rgb.transpose(2, 0, 1)[None].astype(np.float32))
        heatmap, scale, offset, landmarks = self._session.run(self._outputs, {self._input: tensor})
        faces = decode_centerface(heatmap, scale, offset, landmarks, (in_w, in_h), self.threshold)
        sx, sy = width / in_w, height / in_h
        factor = np.array([sx, sy], np.float32)
        return [Face(f.box * np.tile(factor, 2), f.confidence, f.landmarks * factor) for f in faces]
