"""Sensor quality on the shared real data: person detection, age and gender, re-identification into groups.

    uv run python benchmarks/sensor_quality.py [--sigma 0.05] [--keys 10] [--only detection,faces,reid]

Prints one table per measurement. Data comes from ../shared/data (or $INDIVID_SHARED_DATA); a section
whose data or model is absent is skipped with the reason. These sets are for measuring only: nothing
here is fitted on them and shipped (the LSH calibration below is recomputed per fold, as a site would
recompute it from its own traffic).

Re-identification: p_same is the rate at which one person's sighting at camera 1 and at camera 2 land
in the same group, p_diff the same for two different persons, over all cross-camera pairs, averaged
over ``--keys`` random keys, 95 % intervals by bootstrap over identities. "crop" uses one crop per
sighting; "track" averages a person's crops per camera (the sensor averages a track's features for up
to 2 s). The hash is calibrated as the GroupAssigner does it: with the projection statistics of OTHER
persons' noisy embeddings (identities split in two folds, each calibrated on the other).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from individ.site_config import PrivacyParameters  # noqa: E402
from sensors.privacy.lsh import KeyedLsh, ProjectionStats  # noqa: E402
from sensors.privacy.measurement import grouping_rates  # noqa: E402
from sensors.privacy.noise import add_noise, anonymity_set_size  # noqa: E402
from sensors.vision.detections import iou_matrix  # noqa: E402
from sensors.vision.detector import OnnxPersonDetector, TilingSettings, load_person_detector  # noqa: E402
from sensors.vision.embedding import ColourTextureEmbedder, OnnxReidEmbedder  # noqa: E402

MODELS = REPO / "models"
MOT_IGNORED_CLASSES = (2, 7, 8, 12)  # person on vehicle, static person, distractor, reflection
SWEEP_SIGMAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0)


def shared_data() -> Path:
    return Path(os.environ.get("INDIVID_SHARED_DATA", REPO / ".." / "shared" / "data")).resolve()


def print_table(title: str, headers: list[str], rows: Iterable[Iterable[object]]) -> None:
    cells = [[str(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(headers)]
    print(f"\n### {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")


def read_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image


def skip(section: str, reason: str) -> None:
    print(f"\n### {section}\n\nskipped: {reason}")


# --- person detection -------------------------------------------------------------------------------


@dataclass
class LabelledImage:
    path: Path
    persons: np.ndarray  # xyxy
    ignored: np.ndarray  # xyxy: detections matching these are neither true nor false positives


def cctv_clinic(root: Path) -> list[LabelledImage]:
    samples = []
    for image in sorted((root / "images").glob("*.jpg")):
        height, width = read_image(image).shape[:2]
        rows = np.loadtxt(root / "labels" / f"{image.stem}.txt", ndmin=2)
        cx, cy, w, h = (rows[:, 1:5] * [width, height, width, height]).T
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        samples.append(LabelledImage(image, boxes, np.zeros((0, 4))))
    return samples


def mot17_mini(root: Path) -> list[LabelledImage]:
    samples = []
    for sequence in sorted(root.glob("MOT17-*")):
        gt = np.loadtxt(sequence / "gt" / "gt.txt", delimiter=",", ndmin=2)
        for image in sorted((sequence / "img1").glob("*.jpg")):
            rows = gt[gt[:, 0] == int(image.stem)]
            x, y, w, h = rows[:, 2:6].T
            boxes = np.stack([x, y, x + w, y + h], axis=1)
            person = (rows[:, 7] == 1) & (rows[:, 6] == 1)
            ignored = np.isin(rows[:, 7], MOT_IGNORED_CLASSES) | ((rows[:, 7] == 1) & (rows[:, 6] == 0))
            samples.append(LabelledImage(image, boxes[person], boxes[ignored]))
    return samples


@dataclass
class DetectionCounts:
    true_positive: int = 0
    false_positive: int = 0
    persons: int = 0
    small_persons: int = 0
    small_found: int = 0
    seconds: float = 0.0
    images: int = 0


def evaluate_detector(detector: OnnxPersonDetector, samples: list[LabelledImage]) -> DetectionCounts:
    """Greedy matching at IoU 0.5, most confident detection first; 'small' is under 1/8 of the frame height."""
    counts = DetectionCounts()
    for sample in samples:
        frame = read_image(sample.path)
        start = time.perf_counter()
        found = detector.detect(frame)
        counts.seconds += time.perf_counter() - start
        counts.images += 1
        overlaps = iou_matrix(found.xyxy, sample.persons)
        ignored = iou_matrix(found.xyxy, sample.ignored)
        matched = np.zeros(len(sample.persons), bool)
        for index in np.argsort(-found.confidence):
            candidates = np.where(~matched & (overlaps[index] >= 0.5))[0]
            if len(candidates):
                matched[candidates[np.argmax(overlaps[index, candidates])]] = True
                counts.true_positive += 1
            elif not (ignored.shape[1] and ignored[index].max() >= 0.5):
                counts.false_positive += 1
        small = (sample.persons[:, 3] - sample.persons[:, 1]) < frame.shape[0] / 8
        counts.persons += len(sample.persons)
        counts.small_persons += int(small.sum())
        counts.small_found += int((matched & small).sum())
    return counts


def detection_section(data: Path, threshold: float) -> None:
    model = MODELS / "person_detector_ssdlite.onnx"
    if not model.is_file():
        skip("Person detection", f"model absent: {model}")
        return
    sets: dict[str, Callable[[Path], list[LabelledImage]]] = {
        "detection/cctv_clinic": cctv_clinic,
        "detection/mot17_mini": mot17_mini,
    }
    rows: list[list[object]] = []
    for name, loader in sets.items():
        if not (data / name).is_dir():
            rows.append([name, "absent", "", "", "", "", "", ""])
            continue
        samples = loader(data / name)
        tilings = (("off", None), ("2x2, 20 %", TilingSettings(2, 2, 0.2)), ("3x3, 25 %", TilingSettings(3, 3, 0.25)))
        for label, tiling in tilings:
            detector = load_person_detector(model, "ssdlite", threshold, tiling)
            c = evaluate_detector(detector, samples)
            recall = c.true_positive / max(c.persons, 1)
            precision = c.true_positive / max(c.true_positive + c.false_positive, 1)
            small = f"{c.small_found / c.small_persons:.3f} ({c.small_persons})" if c.small_persons else "-"
            ms = 1000 * c.seconds / max(c.images, 1)
            rows.append([name, label, len(samples), c.persons, f"{recall:.3f}", f"{precision:.3f}", small, f"{ms:.0f}"])
    print_table(
        f"Person detection, SSDLite, score >= {threshold}, IoU 0.5",
        ["set", "tiling", "images", "persons", "recall", "precision", "recall small (n)", "ms/image"],
        rows,
    )


# --- age and gender ---------------------------------------------------------------------------------

FAIRFACE_GROUPS = {
    "0-2": (0, 3),
    "3-9": (3, 10),
    "10-19": (10, 20),
    "20-29": (20, 30),
    "30-39": (30, 40),
    "40-49": (40, 50),
    "50-59": (50, 60),
    "60-69": (60, 70),
    "70+": (70, 90),
}


def faces_section(data: Path) -> None:
    from sensors.vision.demographics import AgeGenderModels, age_band, guess_from
    from sensors.vision.faces import FaceDetector

    root = data / "faces" / "fairface"
    models = [MODELS / n for n in ("face_detector_centerface.onnx", "age_estimator.onnx", "gender_estimator.onnx")]
    if not root.is_dir():
        skip("Age and gender", f"data absent: {root}")
        return
    if not all(m.is_file() for m in models):
        skip("Age and gender", f"models absent in {MODELS}")
        return
    faces = FaceDetector(models[0], 0.5)
    estimator = AgeGenderModels(models[1], models[2])
    defaults = _demographic_thresholds()
    truth = json.loads((root / "ground_truth.json").read_text())
    found, group_hits, child_hits, children, band_overlap = 0, 0, 0, 0, 0
    age_errors, interval_errors, gender_hits = [], [], 0
    kept_age, kept_age_hits, kept_gender, kept_gender_hits = 0, 0, 0, 0
    for item in truth:
        image = read_image(root / item["filename"])
        detected = faces.detect(image)
        if not detected:
            continue
        found += 1
        answer = estimator.predict(image, max(detected, key=lambda f: f.confidence).landmarks)
        low, high = FAIRFACE_GROUPS[item["age"]]
        age = answer.age_years
        predicted_group = next(g for g, (lo, hi) in FAIRFACE_GROUPS.items() if lo <= age < hi or g == "70+")
        group_hits += predicted_group == item["age"]
        age_errors.append(abs(age - (75.0 if item["age"] == "70+" else (low + high - 1) / 2)))
        interval_errors.append(max(0.0, low - age, age - high if item["age"] != "70+" else 0.0))
        band = age_band(age)
        band_low, band_high = _band_range(band)
        band_overlap += band_low < high and low <= band_high
        if high <= 10:
            children += 1
            child_hits += band == "0-17"
        is_female = item["gender"].lower() == "female"
        gender_hits += (answer.female_probability > 0.5) == is_female
        guess = guess_from(answer, *defaults)
        if guess.age_band != "unknown":
            kept_age += 1
            kept_age_hits += band_low < high and low <= band_high
        if guess.gender != "unknown":
            kept_gender += 1
            kept_gender_hits += (guess.gender == "female") == is_female
    n = len(truth)
    rows = [
        ["faces found by CenterFace", f"{found}/{n}"],
        ["gender accuracy (argmax)", f"{gender_hits / found:.3f}"],
        [
            f"gender at threshold {defaults[1]}: coverage / accuracy",
            f"{kept_gender / found:.3f} / {_ratio(kept_gender_hits, kept_gender)}",
        ],
        ["age: FairFace-group accuracy (9 groups)", f"{group_hits / found:.3f}"],
        ["age: mean |expected age - group midpoint| (70+: 75)", f"{np.mean(age_errors):.1f} years"],
        ["age: mean distance to the true group's interval", f"{np.mean(interval_errors):.1f} years"],
        ["product band overlaps the true group", f"{band_overlap / found:.3f}"],
        [
            f"band at threshold {defaults[0]}: coverage / overlap",
            f"{kept_age / found:.3f} / {_ratio(kept_age_hits, kept_age)}",
        ],
        ["children (0-9) given band 0-17", f"{_ratio(child_hits, children)} ({children})"],
    ]
    print_table("Age and gender on faces/fairface (270 faces, 448x448, aligned chips)", ["measure", "value"], rows)


def _ratio(hits: int, total: int) -> str:
    return f"{hits / total:.3f}" if total else "-"


def _band_range(band: str) -> tuple[int, int]:
    if band.endswith("+"):
        return int(band[:-1]), 200
    low, high = band.split("-")
    return int(low), int(high)


def _demographic_thresholds() -> tuple[float, float]:
    try:
        from sensors.settings import DemographicsSettings

        settings = DemographicsSettings()
        return settings.age_confidence_threshold, settings.gender_confidence_threshold
    except ImportError:
        return 0.4, 0.7


# --- re-identification into groups -------------------------------------------------------------------


@dataclass
class ReidSet:
    embeddings: np.ndarray
    identities: np.ndarray
    cameras: np.ndarray

    def tracks(self) -> ReidSet:
        """One vector per (identity, camera): the renormalised mean of that person's crops there."""
        keys = sorted(set(zip(self.identities.tolist(), self.cameras.tolist(), strict=True)))
        vectors, ids, cams = [], [], []
        for identity, camera in keys:
            mean = self.embeddings[(self.identities == identity) & (self.cameras == camera)].mean(axis=0)
            vectors.append(mean / np.linalg.norm(mean))
            ids.append(identity)
            cams.append(camera)
        return ReidSet(np.array(vectors, np.float32), np.array(ids), np.array(cams))


def load_reid(root: Path, embed: Callable[[np.ndarray], np.ndarray]) -> ReidSet:
    rows = list(csv.DictReader((root / "labels.csv").open()))
    vectors = np.stack([embed(read_image(root / row["path"])) for row in rows])
    return ReidSet(vectors, np.array([row["pid"] for row in rows]), np.array([row["camera"] for row in rows]))


def rank1(reid: ReidSet) -> float:
    first = reid.cameras == np.unique(reid.cameras)[0]
    similarity = reid.embeddings[first] @ reid.embeddings[~first].T
    return float((reid.identities[~first][similarity.argmax(axis=1)] == reid.identities[first]).mean())


def keyed_groups(reid: ReidSet, sigma: float, key: bytes, rng: np.random.Generator) -> np.ndarray:
    """Groups with noise and a hash calibrated, per identity fold, on the other fold's noisy vectors."""
    ids = np.unique(reid.identities)
    fold = np.isin(reid.identities, ids[rng.permutation(len(ids))[: len(ids) // 2]])
    noisy = add_noise(reid.embeddings, sigma, rng)
    raw = KeyedLsh(key, reid.embeddings.shape[1])
    groups = np.empty(len(noisy), np.int16)
    for part in (fold, ~fold):
        stats = ProjectionStats.from_projections(raw.project(noisy[~part]))
        groups[part] = KeyedLsh(key, reid.embeddings.shape[1], stats).groups(noisy[part])
    return groups


def self_stability(reid: ReidSet, sigma: float, keys: int, rng: np.random.Generator) -> float:
    """p_self: two noisy hashes of the SAME clean vector agree (what an attacker holding key and image gets)."""
    agree = []
    dim = reid.embeddings.shape[1]
    for _ in range(keys):
        key = rng.bytes(32)
        stats = ProjectionStats.from_projections(KeyedLsh(key, dim).project(add_noise(reid.embeddings, sigma, rng)))
        lsh = KeyedLsh(key, dim, stats)
        first, second = (lsh.groups(add_noise(reid.embeddings, sigma, rng)) for _ in range(2))
        agree.append((first == second).mean())
    return float(np.mean(agree))


def anonymity(reid: ReidSet, sigma: float, rng: np.random.Generator) -> tuple[float, float]:
    """Median and 5th percentile anonymity set of each camera-1 track vector against all camera-1 tracks."""
    tracks = reid.tracks()
    population = tracks.embeddings[tracks.cameras == np.unique(tracks.cameras)[0]]
    sizes = np.concatenate([anonymity_set_size(add_noise(population, sigma, rng), population, sigma) for _ in range(5)])
    return float(np.median(sizes)), float(np.quantile(sizes, 0.05))


def grouping_row(reid: ReidSet, sigma: float, keys: int) -> list[str]:
    """p_same, p_diff and their ratio. Every call draws the same keys, folds and standard-normal noise
    (common random numbers), so rows that differ only in sigma differ only by the noise's size: with
    few keys the key-to-key spread of p_same is wider than the bootstrap interval over identities."""
    rng = np.random.default_rng(2026)
    groups = np.stack([keyed_groups(reid, sigma, rng.bytes(32), rng) for _ in range(keys)])
    rates = grouping_rates(groups, reid.identities, reid.cameras, np.random.default_rng(1), n_boot=500)
    return [str(rates.p_same), str(rates.p_diff), f"{rates.p_same.value / max(rates.p_diff.value, 1e-9):.1f}"]


def reid_section(data: Path, sigma: float, keys: int) -> None:
    embedders: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "built-in colour-texture": ColourTextureEmbedder().embed_crop
    }
    effnet = MODELS / "appearance_efficientnet_lite0.onnx"
    if effnet.is_file():
        embedders["efficientnet-lite0 (ImageNet)"] = OnnxReidEmbedder(effnet).embed_crop
    rng = np.random.default_rng(7)
    rows: list[list[object]] = []
    sweep_rows: list[list[object]] = []
    for name in ("reid/cuhk03_subset", "reid/pku_reid"):
        if not (data / name).is_dir():
            rows.append([name, "absent", "", "", "", "", "", ""])
            continue
        for label, embed in embedders.items():
            start = time.perf_counter()
            crops = load_reid(data / name, embed)
            ms = 1000 * (time.perf_counter() - start) / len(crops.embeddings)
            tracks = crops.tracks()
            for mode, reid in (("crop", crops), ("track", tracks)):
                for s in sorted({0.0, sigma}):
                    rows.append([name, label, f"{rank1(reid):.3f}", mode, s, *grouping_row(reid, s, keys)])
            print(f"  [{name} {label}: {len(crops.embeddings)} crops, {ms:.1f} ms per crop]", file=sys.stderr)
            if label.startswith("built-in"):
                for s in SWEEP_SIGMAS:
                    median, p5 = anonymity(crops, s, rng)
                    same = grouping_row(tracks, s, keys)
                    p_self = self_stability(tracks, s, min(keys, 5), rng)
                    sweep_rows.append([name, s, f"{p_self:.3f}", same[0], same[1], f"{median:.0f}", f"{p5:.0f}"])
    print_table(
        f"Re-identification into 1,000 keyed groups ({keys} keys, calibrated per fold; 95 % bootstrap intervals)",
        ["set", "embedding", "rank-1", "mode", "sigma", "p_same", "p_diff", "p_same/p_diff"],
        rows,
    )
    print_table(
        "Noise trade-off, built-in descriptor, track mode (anonymity: camera-1 tracks as the reference population)",
        ["set", "sigma", "p_self", "p_same", "p_diff", "anonymity median", "anonymity p5"],
        sweep_rows,
    )


def noise_section(data: Path) -> None:
    """The sigma at which the noisy vector alone would be 3-anonymous (built-in descriptor, camera-1 tracks)."""
    from sensors.privacy.noise import noise_for_anonymity

    grid = np.array([0.2, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20])
    rows: list[list[object]] = []
    for name in ("reid/cuhk03_subset", "reid/pku_reid"):
        if not (data / name).is_dir():
            rows.append([name, "absent", "", "", ""])
            continue
        tracks = load_reid(data / name, ColourTextureEmbedder().embed_crop).tracks()
        population = tracks.embeddings[tracks.cameras == np.unique(tracks.cameras)[0]]
        distances = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * population @ population.T))
        np.fill_diagonal(distances, np.inf)
        second = float(np.median(np.sort(distances, axis=1)[:, 1]))
        median = noise_for_anonymity(population, 3, 0.5, np.random.default_rng(0), grid)
        p5 = noise_for_anonymity(population, 3, 0.05, np.random.default_rng(0), grid)
        rows.append([name, len(population), f"{second:.3f}", median, p5])
    print_table(
        "Noise needed for the noisy vector ALONE to be 3-anonymous (grid up to 20; inf: not reached)",
        ["set", "persons", "median 2nd-NN distance", "sigma: median set >= 3", "sigma: 5th pct >= 3"],
        rows,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--sigma", type=float, default=PrivacyParameters().noise_sigma, help="noise sigma to report")
    parser.add_argument("--keys", type=int, default=40, help="random LSH keys to average over")
    parser.add_argument("--threshold", type=float, default=0.5, help="person detector score threshold")
    parser.add_argument("--only", default="detection,faces,reid,noise", help="comma-separated sections")
    args = parser.parse_args(argv)
    data = (args.data or shared_data()).resolve()
    if not data.is_dir():
        print(f"shared data not found at {data}: nothing to measure (set --data or INDIVID_SHARED_DATA)")
        return 0
    sections = set(args.only.split(","))
    print(f"# Sensor quality ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, data {data})")
    if "detection" in sections:
        detection_section(data, args.threshold)
    if "faces" in sections:
        faces_section(data)
    if "reid" in sections:
        reid_section(data, args.sigma, args.keys)
    if "noise" in sections:
        noise_section(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
