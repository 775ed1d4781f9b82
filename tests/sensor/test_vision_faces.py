"""CenterFace decoding with controlled tensors, the head region, and alignment onto the chip template."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from sensors.vision.alignment import CHIP_TEMPLATE, aligned_chip, similarity_transform
from sensors.vision.faces import FaceDetector, decode_centerface, head_region

MODELS = Path(__file__).resolve().parents[2] / "models"
SHARED = Path(os.environ.get("INDIVID_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))


def maps(size: tuple[int, int] = (16, 16)) -> tuple[np.ndarray, ...]:
    h, w = size
    return (
        np.zeros((1, 1, h, w), np.float32),
        np.zeros((1, 2, h, w), np.float32),
        np.zeros((1, 2, h, w), np.float32),
        np.zeros((1, 10, h, w), np.float32),
    )


def test_decode_one_face_with_its_landmarks() -> None:
    heatmap, scale, offset, landmarks = maps()
    row, col = 5, 7
    heatmap[0, 0, row, col] = 0.9
    scale[0, :, row, col] = [np.log(20 / 4), np.log(16 / 4)]  # box height 20, width 16
    offset[0, :, row, col] = [0.25, -0.25]  # dy, dx in cells
    # Landmarks as (dy, dx) fractions of the box: eyes at 30 % height, nose at the centre.
    points = [(0.3, 0.25), (0.3, 0.75), (0.5, 0.5), (0.75, 0.3), (0.75, 0.7)]
    landmarks[0, :, row, col] = np.ravel(points)
    faces = decode_centerface(heatmap, scale, offset, landmarks, (64, 64), threshold=0.5)
    assert len(faces) == 1
    face = faces[0]
    centre_x, centre_y = (col - 0.25 + 0.5) * 4, (row + 0.25 + 0.5) * 4  # 29, 23
    np.testing.assert_allclose(face.box, [centre_x - 8, centre_y - 10, centre_x + 8, centre_y + 10], atol=1e-4)
    assert face.confidence == pytest.approx(0.9)
    expected = [[centre_x - 8 + dx * 16, centre_y - 10 + dy * 20] for dy, dx in points]
    np.testing.assert_allclose(face.landmarks, expected, atol=1e-4)


def test_decode_thresholds_and_suppresses_neighbouring_cells() -> None:
    heatmap, scale, offset, landmarks = maps()
    scale[:] = np.log(24 / 4)
    heatmap[0, 0, 8, 8] = 0.8
    heatmap[0, 0, 8, 9] = 0.6  # the same face seen from the next cell
    heatmap[0, 0, 2, 2] = 0.3  # below the threshold
    faces = decode_centerface(heatmap, scale, offset, landmarks, (64, 64), threshold=0.5)
    assert [round(face.confidence, 2) for face in faces] == [0.8]
    assert decode_centerface(*maps(), (64, 64), threshold=0.5) == []


def test_head_region_is_the_top_of_the_person_box_clipped_to_the_frame() -> None:
    region = head_region(np.array([100, 50, 140, 250]), 640, 480)
    np.testing.assert_allclose(region, [96, 40, 144, 130])
    np.testing.assert_allclose(head_region(np.array([-10, 0, 20, 100]), 640, 480), [0, 0, 23, 40])


def test_similarity_transform_recovers_a_known_transform() -> None:
    source = np.array([[10, 20], [40, 22], [25, 40], [14, 55], [38, 56]], np.float64)
    angle, scale, shift = np.deg2rad(17), 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = source @ (scale * rotation).T + shift
    matrix = similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(np.ones((5, 2)), target)


def test_aligned_chip_puts_the_landmarks_on_the_template() -> None:
    # Draw a face-like pattern: one bright dot per landmark, rotated and scaled in a larger image.
    size = 64
    landmarks = CHIP_TEMPLATE * 90 + [60, 40]
    angle = np.deg2rad(-20)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (landmarks - landmarks.mean(0)) @ rotation.T + landmarks.mean(0)
    image = np.zeros((200, 200, 3), np.uint8)
    for x, y in landmarks:
        cv2.circle(image, (round(x), round(y)), 3, (255, 255, 255), -1)
    chip = aligned_chip(image, landmarks, size)
    assert chip.shape == (size, size, 3)
    for x, y in CHIP_TEMPLATE * size:
        assert chip[round(y), round(x)].min() > 100  # each template point is on its dot


@pytest.mark.shared_data
def test_centerface_finds_the_astronauts_face_in_her_head_region() -> None:
    image_path = SHARED / "skimage" / "astronaut.png"
    if not image_path.is_file():
        pytest.skip(f"shared data absent: {image_path}")
    detector = FaceDetector(MODELS / "face_detector_centerface.onnx", threshold=0.5)
    image = cv2.imread(str(image_path))
    face = detector.detect_in_person(image, np.array([120, 20, 330, 512]))  # her upper body
    assert face is not None and face.confidence > 0.7
    x1, y1, x2, y2 = face.box
    assert 170 < x1 < 200 and 50 < y1 < 80 and 255 < x2 < 290 and 160 < y2 < 195
    left_eye, right_eye = face.landmarks[0], face.landmarks[1]
    assert left_eye[0] < right_eye[0] and abs(left_eye[1] - right_eye[1]) < 15
