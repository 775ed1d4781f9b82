"""Per-stage sensor latency at 640x480 with 5 persons per frame, and camera-fps per CPU core.

    uv run python benchmarks/sensor_latency.py [--frames 200] [--provider cuda] [--tiling]

Frames: the shipped demo clip (sensors/demo, Intel, CC BY 4.0) resized to 640x480, with 5 person
crops composited at fixed places (from ../shared/data/reid/cuhk03_subset where present, else drawn
figures), so every frame has exactly 5 persons whatever the detector finds. Each stage runs on one
thread (ONNX intra-op threads 1), so 1000 / (mean ms per frame) is the camera-fps one core sustains.
Worst case: faces, age/gender and embeddings run for all 5 persons on EVERY frame (the sensor samples
them at most every 0.2 s per track, see sensors.settings.TrackingSettings). age/gender runs on every
person: on a face when CenterFace finds one, else on landmarks placed in the head region.

Stages: decode (reading the next frame of the clip), detect (SSDLite on the frame), faces (CenterFace
on 5 head regions), age/gender (2 models x 5 chips), embed+noise+hash (5 x built-in descriptor, noise,
keyed LSH), delete (zeroing the frame, crops and features). Frame-to-deletion = the sum.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from individ.site_config import PrivacyParameters  # noqa: E402
from sensors.privacy.grouping import GroupAssigner, delete_features  # noqa: E402
from sensors.privacy.keys import EpochKeys, SiteSecret  # noqa: E402
from sensors.vision.alignment import CHIP_TEMPLATE  # noqa: E402
from sensors.vision.demographics import AgeGenderModels  # noqa: E402
from sensors.vision.detector import TilingSettings, load_person_detector  # noqa: E402
from sensors.vision.embedding import ColourTextureEmbedder, OnnxReidEmbedder  # noqa: E402
from sensors.vision.faces import FaceDetector, head_region  # noqa: E402

MODELS = REPO / "models"
DEMO_CLIP = REPO / "sensors" / "demo" / "one-by-one-person-detection.mp4"
WIDTH, HEIGHT = 640, 480
# Five person boxes (x1, y1, x2, y2) at several sizes, like a corridor camera.
PERSON_BOXES = np.array(
    [[40, 150, 110, 330], [150, 120, 230, 330], [280, 100, 380, 360], [420, 170, 480, 320], [520, 90, 630, 380]],
    np.float32,
)


def person_crops(count: int) -> list[np.ndarray]:
    data = Path(os.environ.get("INDIVID_SHARED_DATA", REPO / ".." / "shared" / "data"))
    crops = sorted((data / "reid" / "cuhk03_subset" / "images").glob("*_00.jpg"))[:count]
    images = [cv2.imread(str(path)) for path in crops]
    if len(crops) == count and all(image is not None for image in images):
        return [image for image in images if image is not None]
    rng = np.random.default_rng(0)
    drawn = []
    for _ in range(count):
        figure = np.full((128, 64, 3), 110, np.uint8)
        figure[8:30, 22:42] = (150, 170, 210)
        figure[30:75, 10:54] = rng.integers(0, 255, 3)
        figure[75:124, 14:50] = rng.integers(0, 255, 3)
        drawn.append(figure)
    return drawn


def frame_source(frames: int) -> Callable[[], np.ndarray | None]:
    """The next 640x480 frame of the demo clip (looping), or of a grey synthetic scene if the clip is absent."""
    capture = cv2.VideoCapture(str(DEMO_CLIP)) if DEMO_CLIP.is_file() else None
    rng = np.random.default_rng(1)

    def read() -> np.ndarray | None:
        if capture is None:
            return rng.integers(60, 160, (HEIGHT, WIDTH, 3)).astype(np.uint8)
        ok, image = capture.read()
        if not ok:
            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, image = capture.read()
        return cv2.resize(image, (WIDTH, HEIGHT)) if ok else None

    return read


def composite(frame: np.ndarray, crops: list[np.ndarray]) -> None:
    for crop, (x1, y1, x2, y2) in zip(crops, PERSON_BOXES.astype(int), strict=True):
        frame[y1:y2, x1:x2] = cv2.resize(crop, (x2 - x1, y2 - y1))


def head_landmarks(box: np.ndarray) -> np.ndarray:
    """Landmarks where a frontal face would sit in the head region (when CenterFace finds none)."""
    x1, y1, x2, y2 = head_region(box, WIDTH, HEIGHT)
    side = 0.5 * min(x2 - x1, y2 - y1)
    corner = np.array([(x1 + x2 - side) / 2, y1 + 0.2 * (y2 - y1)])
    return CHIP_TEMPLATE * side + corner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--provider", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--tiling", action="store_true", help="detector on 2x2 tiles + full frame")
    parser.add_argument("--embedder", choices=("builtin", "efficientnet"), default="builtin")
    parser.add_argument("--sigma", type=float, default=PrivacyParameters().noise_sigma)
    args = parser.parse_args(argv)
    providers = (
        ["CUDAExecutionProvider", "CPUExecutionProvider"] if args.provider == "cuda" else ["CPUExecutionProvider"]
    )
    missing = [n for n in ("person_detector_ssdlite", "face_detector_centerface", "age_estimator", "gender_estimator")]
    missing = [n for n in missing if not (MODELS / f"{n}.onnx").is_file()]
    if missing:
        print(f"models absent in {MODELS}: {missing}; nothing to measure")
        return 0
    tiling = TilingSettings(2, 2, 0.2) if args.tiling else None
    detector = load_person_detector(MODELS / "person_detector_ssdlite.onnx", "ssdlite", 0.5, tiling, providers)
    faces = FaceDetector(MODELS / "face_detector_centerface.onnx", 0.5, providers=providers)
    age_gender = AgeGenderModels(MODELS / "age_estimator.onnx", MODELS / "gender_estimator.onnx", providers)
    embedder = (
        OnnxReidEmbedder(MODELS / "appearance_efficientnet_lite0.onnx", providers=providers)
        if args.embedder == "efficientnet"
        else ColourTextureEmbedder()
    )
    assigner = GroupAssigner(EpochKeys(SiteSecret(os.urandom(32)), 24), args.sigma)
    crops = person_crops(len(PERSON_BOXES))
    read = frame_source(args.frames)
    stages = ("decode", "detect", "faces", "age/gender", "embed+noise+hash", "delete")
    timings: dict[str, list[float]] = {stage: [] for stage in (*stages, "frame-to-deletion")}
    faces_found = 0
    for index in range(args.frames + 5):  # the first 5 warm the sessions up
        spent: dict[str, float] = {}
        start = time.perf_counter()
        frame = read()
        spent["decode"] = time.perf_counter() - start
        if frame is None:
            print("the demo clip cannot be decoded")
            return 1
        composite(frame, crops)  # test fixture, not timed
        t = time.perf_counter()
        detector.detect(frame)
        spent["detect"] = time.perf_counter() - t
        t = time.perf_counter()
        found = [faces.detect_in_person(frame, box) for box in PERSON_BOXES]
        spent["faces"] = time.perf_counter() - t
        t = time.perf_counter()
        for box, face in zip(PERSON_BOXES, found, strict=True):
            age_gender.predict(frame, face.landmarks if face is not None else head_landmarks(box))
        spent["age/gender"] = time.perf_counter() - t
        t = time.perf_counter()
        features = [embedder.embed(frame, box) for box in PERSON_BOXES]
        for feature in features:
            assigner.assign(feature)
        spent["embed+noise+hash"] = time.perf_counter() - t
        t = time.perf_counter()
        delete_features(frame, *features)
        spent["delete"] = time.perf_counter() - t
        if index >= 5:
            faces_found += sum(face is not None for face in found)
            for stage in stages:
                timings[stage].append(1000 * spent[stage])
            timings["frame-to-deletion"].append(1000 * sum(spent.values()))
    print(f"# Sensor latency, {WIDTH}x{HEIGHT}, 5 persons per frame, {args.frames} frames, provider {args.provider}")
    print(f"detector tiling {'2x2 + full frame' if tiling else 'off'}; embedder {args.embedder}; sigma {args.sigma}")
    print(f"faces found by CenterFace: {faces_found}/{5 * args.frames}; load average {os.getloadavg()[0]:.1f}\n")
    print("| stage | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|")
    for stage, values in timings.items():
        p50, p99 = np.percentile(values, [50, 99])
        print(f"| {stage} | {p50:.1f} | {p99:.1f} | {np.mean(values):.1f} |")
    mean_total = float(np.mean(timings["frame-to-deletion"]))
    print(f"\ncamera-fps per core (all 5 persons analysed every frame): {1000 / mean_total:.1f}")
    sampled = mean_total - sum(np.mean(timings[s]) for s in ("faces", "age/gender", "embed+noise+hash"))
    per_person = sum(np.mean(timings[s]) for s in ("faces", "age/gender", "embed+noise+hash"))
    # At 10 fps with features sampled every 0.2 s per track, persons are analysed on 1 frame in 2.
    every_second = 1000 / (sampled + per_person / 2)
    print(f"camera-fps per core at 10 fps input, persons analysed every 2nd frame: {every_second:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
