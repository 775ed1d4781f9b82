"""Person boxes as one small value object, and the box arithmetic every detector adapter shares.

A detector adapter turns its model's raw output into ``Detections`` in the pixel coordinates of the
frame it was given; everything downstream (tiling, the tracker, faces, embeddings) only sees this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)  # numpy fields: compare arrays explicitly
class Detections:
    """Boxes ``xyxy`` [N, 4] float32 in pixels (x1, y1, x2, y2) and their ``confidence`` [N] float32."""

    xyxy: np.ndarray
    confidence: np.ndarray

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        confidence = np.asarray(self.confidence, dtype=np.float32).reshape(-1)
        if len(xyxy) != len(confidence):
            raise ValueError(f"{len(xyxy)} boxes but {len(confidence)} confidences")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "confidence", confidence)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.confidence)

    def select(self, keep: np.ndarray) -> Detections:
        """The detections at ``keep`` (indices or a boolean mask)."""
        return Detections(self.xyxy[keep], self.confidence[keep])

    def above(self, threshold: float) -> Detections:
        return self.select(self.confidence >= threshold)

    def scaled(self, sx: float, sy: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Boxes mapped by x -> x * sx + dx, y -> y * sy + dy (model input size to frame, tile to frame)."""
        factors = np.array([sx, sy, sx, sy], np.float32)
        offsets = np.array([dx, dy, dx, dy], np.float32)
        return Detections(self.xyxy * factors + offsets, self.confidence)

    def clipped(self, width: int, height: int) -> Detections:
        """Boxes clipped to the frame, dropping any that end up empty."""
        xyxy = self.xyxy.copy()
        xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, width)
        xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, height)
        keep = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        return Detections(xyxy[keep], self.confidence[keep])

    @staticmethod
    def concatenate(parts: list[Detections]) -> Detections:
        if not parts:
            return Detections.empty()
        return Detections(np.concatenate([p.xyxy for p in parts]), np.concatenate([p.confidence for p in parts]))


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` [N, 4] with every box in ``b`` [M, 4] (xyxy)."""
    a = np.asarray(a, np.float32).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, np.float32).reshape(-1, 4)[None, :, :]
    width = (np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0])).clip(0)
    height = (np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1])).clip(0)
    intersection = width * height
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def nms_indices(xyxy: np.ndarray, confidence: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest confidence first: a box overlapping a kept one above the threshold goes."""
    order = np.argsort(-np.asarray(confidence), kind="stable")
    overlaps = iou_matrix(xyxy, xyxy)
    suppressed = np.zeros(len(order), bool)
    keep: list[int] = []
    for index in order:
        if suppressed[index]:
            continue
        keep.append(int(index))
        suppressed |= overlaps[index] > iou_threshold
    return np.array(keep, dtype=np.int64)


def non_max_suppression(detections: Detections, iou_threshold: float) -> Detections:
    return detections.select(nms_indices(detections.xyxy, detections.confidence, iou_threshold))


def suppress_contained(detections: Detections, containment: float = 0.8) -> Detections:
    """Drops a box when at least ``containment`` of its area lies inside a larger kept box.

    Tiling needs it: a tile often sees only the upper body of a person whom the full frame (or a
    neighbouring tile) sees whole, often with a higher score, and the two boxes' IoU is too low for NMS
    to merge them. Largest first, so the whole person is the one kept."""
    boxes = detections.xyxy
    order = np.argsort(-((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])), kind="stable")
    keep: list[int] = []
    for index in order:
        box = boxes[index]
        area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1e-9)
        inside = False
        for kept in keep:
            other = boxes[kept]
            width = min(box[2], other[2]) - max(box[0], other[0])
            height = min(box[3], other[3]) - max(box[1], other[1])
            if width > 0 and height > 0 and width * height / area >= containment:
                inside = True
                break
        if not inside:
            keep.append(int(index))
    return detections.select(np.array(keep, dtype=np.int64))
