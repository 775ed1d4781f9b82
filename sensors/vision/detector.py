"""Person detection with onnxruntime: the shipped SSDLite model or an operator's YOLO/SSD export.

Each model family differs only at the edges: how the frame becomes the input tensor
(``Preprocessing``) and how the raw outputs become boxes (``from_*_output``). Optional tiling runs
the same model on overlapping tiles as well as on the whole frame, because SSDLite at 300x300 misses
persons smaller than about a tenth of the frame height.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
import onnxruntime as ort

from sensors.vision.detections import Detections, non_max_suppression, suppress_contained

DetectorKind = Literal["ssdlite", "yolo", "ssd"]


class PersonDetector(Protocol):
    def detect(self, frame_bgr: np.ndarray) -> Detections: ...


@dataclass(frozen=True)
class TilingSettings:
    """``rows`` x ``cols`` tiles overlapping by ``overlap`` (fraction of a tile), plus the full frame."""

    rows: int = 2
    cols: int = 2
    overlap: float = 0.2

    def __post_init__(self) -> None:
        if self.rows < 1 or self.cols < 1 or not 0.0 <= self.overlap < 0.5:
            raise ValueError(f"tiling needs rows, cols >= 1 and 0 <= overlap < 0.5, got {self}")


@dataclass(frozen=True)
class Preprocessing:
    """How a BGR frame becomes the model's input tensor.

    ``letterbox`` keeps the aspect ratio and pads with grey (YOLO exports are trained that way);
    otherwise the frame is stretched to the input size (SSD models are). Pixel values become
    ``(value * scale - mean) / std`` per channel in the model's channel order.
    """

    width: int
    height: int
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    rgb: bool = True
    letterbox: bool = False
    dtype: Literal["float32", "uint8"] = "float32"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class InputGeometry:
    """Where the frame sits in the model input: input = frame * (sx, sy) + (pad_x, pad_y)."""

    frame_width: int
    frame_height: int
    sx: float
    sy: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def to_frame(self, detections: Detections) -> Detections:
        """Boxes in model-input pixels mapped back to frame pixels, clipped to the frame."""
        back = detections.scaled(1.0 / self.sx, 1.0 / self.sy, -self.pad_x / self.sx, -self.pad_y / self.sy)
        return back.clipped(self.frame_width, self.frame_height)


def prepare_input(frame_bgr: np.ndarray, pre: Preprocessing) -> tuple[np.ndarray, InputGeometry]:
    """The input tensor (batch of one) for ``frame_bgr`` and the geometry to map boxes back."""
    height, width = frame_bgr.shape[:2]
    canvas: np.ndarray
    if pre.letterbox:
        ratio = min(pre.width / width, pre.height / height)
        new_w, new_h = max(1, round(width * ratio)), max(1, round(height * ratio))
        pad_x, pad_y = (pre.width - new_w) // 2, (pre.height - new_h) // 2
        canvas = np.full((pre.height, pre.width, 3), 114, np.uint8)
        canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = cv2.resize(frame_bgr, (new_w, new_h))
        geometry = InputGeometry(width, height, new_w / width, new_h / height, pad_x, pad_y)
    else:
        canvas = cv2.resize(frame_bgr, (pre.width, pre.height))
        geometry = InputGeometry(width, height, pre.width / width, pre.height / height)
    if pre.rgb:
        canvas = cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)
    tensor: np.ndarray
    if pre.dtype == "uint8":
        tensor = canvas
    else:
        mean = np.asarray(pre.mean, np.float32)
        std = np.asarray(pre.std, np.float32)
        tensor = (canvas.astype(np.float32) * np.float32(pre.scale) - mean) / std
    if pre.layout == "NCHW":
        tensor = tensor.transpose(2, 0, 1)
    return np.ascontiguousarray(tensor[None]), geometry


def from_yolo_output(
    output: np.ndarray, geometry: InputGeometry, person_class: int, score_threshold: float, nms_iou: float
) -> Detections:
    """YOLO-family (v5u/v8/v11 export) output ``[1, 4 + classes, N]``: cx, cy, w, h in input pixels, then
    one score per class (no separate objectness)."""
    rows = np.asarray(output, np.float32)
    if rows.ndim != 3 or rows.shape[0] != 1 or rows.shape[1] < 5:
        raise ValueError(f"YOLO output must be [1, 4 + classes, N], got shape {rows.shape}")
    rows = rows[0]
    n_classes = rows.shape[0] - 4
    if not 0 <= person_class < n_classes:
        raise ValueError(f"person_class {person_class} is outside the model's {n_classes} classes")
    scores = rows[4 + person_class]
    keep = scores >= score_threshold
    cx, cy, w, h = rows[:4, keep]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    detections = Detections(boxes, scores[keep])
    return geometry.to_frame(non_max_suppression(detections, nms_iou))


def from_ssd_output(
    boxes: np.ndarray,
    scores: np.ndarray,
    geometry: InputGeometry,
    score_threshold: float,
    nms_iou: float,
    person_class: int | None = None,
    box_order: Literal["xyxy", "yxyx"] = "xyxy",
    normalized: bool = True,
) -> Detections:
    """SSD-style outputs: ``boxes`` [1, N, 4] and ``scores`` [1, N] (person only) or [1, N, classes].

    Box coordinates are normalised to [0, 1] of the model input (``normalized``) or in input pixels;
    ``box_order`` says whether each row is (x1, y1, x2, y2) or TensorFlow's (y1, x1, y2, x2).
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32)
    if scores.ndim == 3:
        if person_class is None:
            raise ValueError("scores carry several classes: set person_class")
        scores = scores[0, :, person_class]
    scores = scores.reshape(-1)
    if len(scores) != len(boxes):
        raise ValueError(f"SSD outputs disagree: {len(boxes)} boxes, {len(scores)} scores")
    if box_order == "yxyx":
        boxes = boxes[:, [1, 0, 3, 2]]
    if normalized:
        input_w = geometry.frame_width * geometry.sx + 2 * geometry.pad_x
        input_h = geometry.frame_height * geometry.sy + 2 * geometry.pad_y
        boxes = boxes * np.array([input_w, input_h, input_w, input_h], np.float32)
    keep = scores >= score_threshold
    detections = Detections(boxes[keep], scores[keep])
    return geometry.to_frame(non_max_suppression(detections, nms_iou))


def from_ssdlite_output(
    outputs: dict[str, np.ndarray], geometry: InputGeometry, score_threshold: float, nms_iou: float
) -> Detections:
    """The shipped SSDLite-MobileNetV2 (TensorFlow Object Detection API export, persons only):
    ``detection_boxes`` [1, N, 4] normalised (y1, x1, y2, x2), ``detection_scores`` [1, N]; the graph
    has already applied its own NMS, a second pass merges nothing but keeps the adapters uniform."""
    return from_ssd_output(
        outputs["detection_boxes"],
        outputs["detection_scores"],
        geometry,
        score_threshold,
        nms_iou,
        box_order="yxyx",
        normalized=True,
    )


Decoder = Callable[[dict[str, np.ndarray], InputGeometry], Detections]


class OnnxPersonDetector:
    """One ONNX session, its preprocessing and its output decoder; optionally tiled."""

    def __init__(
        self,
        session: ort.InferenceSession,
        preprocessing: Preprocessing,
        decode: Decoder,
        tiling: TilingSettings | None = None,
        nms_iou: float = 0.45,
    ) -> None:
        self._session = session
        self._input_name = session.get_inputs()[0].name
        self._output_names = [output.name for output in session.get_outputs()]
        self._pre = preprocessing
        self._decode = decode
        self._tiling = tiling
        self._nms_iou = nms_iou

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.size == 0:
            raise ValueError(f"expected a BGR frame [H, W, 3], got shape {frame_bgr.shape}")
        if self._tiling is None:
            return self._detect_once(frame_bgr)
        return self._detect_tiled(frame_bgr, self._tiling)

    def _detect_once(self, image_bgr: np.ndarray) -> Detections:
        tensor, geometry = prepare_input(image_bgr, self._pre)
        outputs = self._session.run(self._output_names, {self._input_name: tensor})
        return self._decode(dict(zip(self._output_names, outputs, strict=True)), geometry)

    def _detect_tiled(self, frame_bgr: np.ndarray, tiling: TilingSettings) -> Detections:
        height, width = frame_bgr.shape[:2]
        parts = [self._detect_once(frame_bgr)]
        for x1, y1, x2, y2 in tile_rectangles(width, height, tiling):
            found = self._detect_once(frame_bgr[y1:y2, x1:x2]).scaled(1.0, 1.0, x1, y1)
            parts.append(found.select(~touches_inner_edge(found.xyxy, (x1, y1, x2, y2), width, height)))
        return suppress_contained(non_max_suppression(Detections.concatenate(parts), self._nms_iou))


def tile_rectangles(width: int, height: int, tiling: TilingSettings) -> list[tuple[int, int, int, int]]:
    """Pixel rectangles (x1, y1, x2, y2) of ``rows`` x ``cols`` tiles covering the frame with overlap."""

    def spans(length: int, count: int) -> list[tuple[int, int]]:
        if count == 1:
            return [(0, length)]
        tile = length / (count - (count - 1) * tiling.overlap)
        step = tile * (1 - tiling.overlap)
        return [(round(i * step), min(length, round(i * step + tile))) for i in range(count)]

    return [(x1, y1, x2, y2) for y1, y2 in spans(height, tiling.rows) for x1, x2 in spans(width, tiling.cols)]


def touches_inner_edge(
    xyxy: np.ndarray, tile: tuple[int, int, int, int], width: int, height: int, margin: float = 2.0
) -> np.ndarray:
    """Boxes cut by a tile border that is not a frame border: a person only partly inside the tile.

    The overlap puts that person whole in a neighbouring tile or the full frame, so these are dropped
    rather than merged (NMS would keep a cut box beside the whole one, their IoU being low)."""
    x1, y1, x2, y2 = tile
    cut = np.zeros(len(xyxy), bool)
    if x1 > 0:
        cut |= xyxy[:, 0] <= x1 + margin
    if y1 > 0:
        cut |= xyxy[:, 1] <= y1 + margin
    if x2 < width:
        cut |= xyxy[:, 2] >= x2 - margin
    if y2 < height:
        cut |= xyxy[:, 3] >= y2 - margin
    return cut


def onnx_session(
    path: str | Path, providers: Sequence[str] = ("CPUExecutionProvider",), threads: int = 1
) -> ort.InferenceSession:
    """An inference session with a clear error for a missing or unreadable model file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=list(providers))
    except Exception as exc:  # onnxruntime raises several private exception types
        raise ValueError(f"cannot load ONNX model {path}: {exc}") from None


def _input_size(session: ort.InferenceSession, default: tuple[int, int]) -> tuple[int, int, Literal["NCHW", "NHWC"]]:
    """(width, height, layout) from the model's declared input shape; dynamic dimensions take ``default``."""
    shape = session.get_inputs()[0].shape
    layout: Literal["NCHW", "NHWC"] = "NHWC" if shape[-1] == 3 else "NCHW"
    dims = shape[1:3] if layout == "NHWC" else shape[2:4]
    height = dims[0] if isinstance(dims[0], int) and dims[0] > 0 else default[1]
    width = dims[1] if isinstance(dims[1], int) and dims[1] > 0 else default[0]
    return width, height, layout


def load_person_detector(
    path: str | Path,
    kind: DetectorKind = "ssdlite",
    score_threshold: float = 0.5,
    tiling: TilingSettings | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    *,
    nms_iou: float = 0.45,
    person_class: int = 0,
    threads: int = 1,
    preprocessing: Preprocessing | None = None,
) -> OnnxPersonDetector:
    """A detector for ``kind``; the input size and layout come from the model, dynamic ones default to 640."""
    session = onnx_session(path, providers, threads)
    width, height, layout = _input_size(session, (640, 640))
    decode: Decoder
    if kind == "ssdlite":
        pre = preprocessing or Preprocessing(width, height, layout="NHWC", dtype="uint8")

        def decode(outputs: dict[str, np.ndarray], geometry: InputGeometry) -> Detections:
            return from_ssdlite_output(outputs, geometry, score_threshold, nms_iou)

    elif kind == "yolo":
        pre = preprocessing or Preprocessing(width, height, layout=layout, letterbox=True)

        def decode(outputs: dict[str, np.ndarray], geometry: InputGeometry) -> Detections:
            return from_yolo_output(next(iter(outputs.values())), geometry, person_class, score_threshold, nms_iou)

    elif kind == "ssd":
        pre = preprocessing or Preprocessing(width, height, layout=layout)
        boxes_name, scores_name = _ssd_output_names(session)

        def decode(outputs: dict[str, np.ndarray], geometry: InputGeometry) -> Detections:
            scores = outputs[scores_name]
            klass = person_class if scores.ndim == 3 else None
            return from_ssd_output(outputs[boxes_name], scores, geometry, score_threshold, nms_iou, klass)

    else:
        raise ValueError(f"unknown detector kind {kind!r}: use ssdlite, yolo or ssd")
    return OnnxPersonDetector(session, pre, decode, tiling, nms_iou)


def _ssd_output_names(session: ort.InferenceSession) -> tuple[str, str]:
    """The boxes output (last dimension 4) and the scores output of an SSD-style export."""
    outputs = session.get_outputs()
    boxes = [o.name for o in outputs if o.shape and o.shape[-1] == 4 and len(o.shape) == 3]
    scores = [o.name for o in outputs if o.name not in boxes]
    if len(boxes) != 1 or not scores:
        raise ValueError(
            "an SSD-style model needs one boxes output [1, N, 4] and a scores output [1, N] or [1, N, classes]; "
            f"this one has {[(o.name, o.shape) for o in outputs]}"
        )
    return boxes[0], scores[0]
