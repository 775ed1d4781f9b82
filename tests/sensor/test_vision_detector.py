"""Detector adapters run through real onnxruntime on small generated ONNX graphs of the exported layouts."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sensors.vision.detections import Detections, iou_matrix, non_max_suppression, suppress_contained
from sensors.vision.detector import (
    InputGeometry,
    TilingSettings,
    from_ssd_output,
    from_yolo_output,
    load_person_detector,
    tile_rectangles,
    touches_inner_edge,
)


def constant_outputs_model(path: Path, input_shape: list[int], outputs: dict[str, np.ndarray]) -> Path:
    """An ONNX graph whose outputs are the given tensors plus 0 x mean(input): a real graph that reads its input."""
    nodes = [helper.make_node("ReduceMean", ["image"], ["mean"], keepdims=0)]
    initializers = [numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    nodes.append(helper.make_node("Mul", ["mean", "zero"], ["nothing"]))
    graph_outputs = []
    for name, value in outputs.items():
        initializers.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_value"))
        nodes.append(helper.make_node("Add", [f"{name}_value", "nothing"], [name]))
        graph_outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes,
        "generated",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, input_shape)],
        graph_outputs,
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolo_rows(boxes_cxcywh: list[tuple[float, float, float, float]], scores: list[list[float]]) -> np.ndarray:
    """[1, 4 + classes, N] from per-box (cx, cy, w, h) and per-box class scores."""
    return np.concatenate([np.array(boxes_cxcywh).T, np.array(scores).T])[None].astype(np.float32)


def test_yolo_graph_boxes_map_back_through_the_letterbox(tmp_path: Path) -> None:
    # Input 64x64; a 128x64 frame is letterboxed at scale 0.5 with 16 px of padding above and below.
    output = yolo_rows(
        [(32, 32, 16, 16), (10, 20, 4, 8), (33, 32, 16, 16)],
        [[0.1, 0.9], [0.8, 0.05], [0.2, 0.7]],  # class 1 = person in this model
    )
    model = constant_outputs_model(tmp_path / "yolo.onnx", [1, 3, 64, 64], {"output0": output})
    detector = load_person_detector(model, "yolo", score_threshold=0.5, person_class=1)
    found = detector.detect(np.zeros((64, 128, 3), np.uint8))
    # The second box is class 0 only; the third overlaps the first and is suppressed.
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [48, 16, 80, 48], atol=1e-4)
    assert found.confidence[0] == pytest.approx(0.9)


def test_yolo_adapter_rejects_wrong_shapes_and_class() -> None:
    geometry = InputGeometry(64, 64, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"\[1, 4 \+ classes, N\]"):
        from_yolo_output(np.zeros((3, 6, 10)), geometry, 0, 0.5, 0.5)
    with pytest.raises(ValueError, match="outside the model's 2 classes"):
        from_yolo_output(np.zeros((1, 6, 10)), geometry, 5, 0.5, 0.5)


def test_ssd_graph_with_class_scores(tmp_path: Path) -> None:
    boxes = np.array([[[0.25, 0.5, 0.5, 1.0], [0.0, 0.0, 0.1, 0.1]]], np.float32)  # normalised xyxy
    scores = np.array([[[0.1, 0.95], [0.6, 0.3]]], np.float32)  # [1, N, classes]; person is class 1
    model = constant_outputs_model(tmp_path / "ssd.onnx", [1, 3, 32, 32], {"boxes": boxes, "scores": scores})
    detector = load_person_detector(model, "ssd", score_threshold=0.5, person_class=1)
    found = detector.detect(np.zeros((100, 200, 3), np.uint8))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [50, 50, 100, 100], atol=1e-3)


def test_ssd_adapter_tensorflow_order_and_pixels() -> None:
    geometry = InputGeometry(200, 100, 0.5, 1.0)  # 200x100 frame stretched into a 100x100 input
    found = from_ssd_output(
        np.array([[[10, 20, 30, 60]]], np.float32),  # y1, x1, y2, x2 in input pixels
        np.array([[0.8]], np.float32),
        geometry,
        0.5,
        0.5,
        box_order="yxyx",
        normalized=False,
    )
    np.testing.assert_allclose(found.xyxy, [[40, 10, 120, 30]])
    with pytest.raises(ValueError, match="person_class"):
        from_ssd_output(np.zeros((1, 2, 4)), np.zeros((1, 2, 3)), geometry, 0.5, 0.5)


def test_tiling_runs_each_tile_and_maps_boxes_to_the_frame(tmp_path: Path) -> None:
    # The model always finds a person in the middle half of whatever it is given.
    output = yolo_rows([(32, 32, 16, 32)], [[0.9]])
    model = constant_outputs_model(tmp_path / "centre.onnx", [1, 3, 64, 64], {"output0": output})
    tiling = TilingSettings(rows=2, cols=2, overlap=0.2)
    detector = load_person_detector(model, "yolo", score_threshold=0.5, tiling=tiling)
    frame = np.zeros((200, 200, 3), np.uint8)
    found = detector.detect(frame)
    centres = sorted(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b in found.xyxy)
    tile_centres = sorted(((x1 + x2) / 2, (y1 + y2) / 2) for x1, y1, x2, y2 in tile_rectangles(200, 200, tiling))
    assert len(found) == 5  # the full frame's box plus one per tile
    np.testing.assert_allclose(centres, sorted([*tile_centres, (100.0, 100.0)]), atol=1.0)


def test_tile_rectangles_cover_the_frame_with_overlap() -> None:
    tiles = tile_rectangles(640, 480, TilingSettings(rows=2, cols=3, overlap=0.25))
    assert len(tiles) == 6
    covered = np.zeros((480, 640), bool)
    for x1, y1, x2, y2 in tiles:
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    xs = sorted({(x1, x2) for x1, _, x2, _ in tiles})
    assert xs[0][1] > xs[1][0]  # neighbours overlap


def test_boxes_cut_by_an_inner_tile_edge_are_dropped_but_not_frame_edges() -> None:
    tile = (0, 0, 100, 100)  # top-left tile of a 200x200 frame
    boxes = np.array([[0, 0, 20, 50], [80, 10, 100, 50], [30, 30, 60, 99]], np.float32)
    assert touches_inner_edge(boxes, tile, 200, 200).tolist() == [False, True, True]


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    detections = Detections(
        np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32), np.array([0.6, 0.9, 0.5])
    )
    kept = non_max_suppression(detections, 0.5)
    assert kept.confidence.tolist() == pytest.approx([0.9, 0.5])
    assert iou_matrix(kept.xyxy, kept.xyxy)[0, 1] == 0.0


def test_boxes_inside_a_more_confident_box_are_dropped() -> None:
    detections = Detections(
        np.array([[0, 0, 100, 300], [10, 5, 90, 140], [80, 0, 200, 300]], np.float32), np.array([0.9, 0.95, 0.8])
    )
    kept = suppress_contained(detections, 0.8)
    # The torso box (more confident) lies inside the body box and goes; the overlapping neighbour stays.
    assert sorted(kept.confidence.tolist()) == pytest.approx([0.8, 0.9])


def test_detections_value_object() -> None:
    detections = Detections(np.array([[10, 10, 50, 90], [-5, 0, 3, 4]]), np.array([0.9, 0.3]))
    assert detections.xyxy.dtype == np.float32 and len(detections) == 2
    assert len(detections.above(0.5)) == 1
    np.testing.assert_allclose(detections.scaled(2, 0.5, 1, 0).xyxy[0], [21, 5, 101, 45])
    np.testing.assert_allclose(detections.clipped(40, 40).xyxy, [[10, 10, 40, 40], [0, 0, 3, 4]])
    with pytest.raises(ValueError, match="2 boxes but 1"):
        Detections(np.zeros((2, 4)), np.zeros(1))


def test_missing_or_broken_model_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ONNX model not found"):
        load_person_detector(tmp_path / "absent.onnx", "yolo")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="cannot load ONNX model"):
        load_person_detector(broken, "yolo")


SHARED = Path(os.environ.get("INDIVID_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
MODELS = Path(__file__).resolve().parents[2] / "models"


@pytest.mark.shared_data
def test_shipped_ssdlite_finds_the_pedestrians_on_the_bus_image() -> None:
    image_path = SHARED / "images_street" / "bus.jpg"
    model = MODELS / "person_detector_ssdlite.onnx"
    if not image_path.is_file():
        pytest.skip(f"shared data absent: {image_path}")
    if not model.is_file():
        pytest.skip(f"model not converted yet: {model}")
    import cv2

    frame = cv2.imread(str(image_path))
    # bus.jpg: two pedestrians whole on the left, one cut by the left edge, one far right behind the bus door.
    whole_frame = load_person_detector(model, "ssdlite", score_threshold=0.5).detect(frame)
    assert len(whole_frame) == 2
    assert ((whole_frame.xyxy[:, 3] - whole_frame.xyxy[:, 1]) > 400).all()
    tiled = load_person_detector(model, "ssdlite", 0.5, TilingSettings(2, 2, 0.2)).detect(frame)
    assert len(tiled) == 3  # tiling adds the person cut by the edge, and no half-person duplicate
    assert tiled.xyxy[:, 0].min() < 10
