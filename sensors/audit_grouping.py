"""The audit's measurements that need the sensor's own code: embedding, noise and keyed hashing.

The privacy audit (individ.audit) must not load OpenCV or onnxruntime, so what only the sensor's code can
measure lives here and is called by ``individ audit`` when the sensor package is importable:

* grouping: p_same and p_diff of the built-in embedding + the configured noise + the keyed LSH, on real
  cross-camera crops where the shared re-identification sets are present (research use only: measured,
  never copied or trained on) and on generated crops otherwise;
* noise: the anonymity set of the transient noisy vector against the reference population, and the hit
  rate of an attacker who holds the key and a person's clean embedding.

Every key is random per measurement; nothing is written anywhere.
"""

from __future__ import annotations

import csv
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from individ.audit.model import GroupingMeasurement, Interval, NoiseMeasurement, SensorFigures
from individ.site_config import SiteConfig
from sensors.privacy.lsh import KeyedLsh, ProjectionStats
from sensors.privacy.measurement import Rate, grouping_rates
from sensors.privacy.noise import add_noise, anonymity_set_size
from sensors.vision.embedding import ColourTextureEmbedder

SHARED_DATA_ENV = "INDIVID_SHARED_DATA"
REID_SETS = ("cuhk03_subset", "pku_reid")
NOISE_DRAWS = 5


@dataclass(frozen=True)
class Sightings:
    """Embeddings of person crops from two cameras, with the identity and camera of each."""

    source: str
    real_images: bool
    embeddings: np.ndarray  # [S, 1024] unit vectors
    identities: np.ndarray  # [S]
    cameras: np.ndarray  # [S], exactly two values


def shared_data_dir() -> Path | None:
    """``$INDIVID_SHARED_DATA`` or ``../shared/data`` next to the repository, if it exists."""
    configured = os.environ.get(SHARED_DATA_ENV)
    folder = Path(configured) if configured else Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    return folder if folder.is_dir() else None


def load_reid_set(folder: Path, max_identities: int | None = None) -> Sightings:
    """A shared re-identification set (labels.csv with path, pid, camera), embedded with the sensor's descriptor."""
    embedder = ColourTextureEmbedder()
    with (folder / "labels.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    identities = sorted({row["pid"] for row in rows})
    if max_identities is not None:
        keep = set(identities[:max_identities])
        rows = [row for row in rows if row["pid"] in keep]
    vectors, ids, cams = [], [], []
    for row in rows:
        image = cv2.imread(str(folder / row["path"]), cv2.IMREAD_COLOR)
        if image is None:
            continue
        vectors.append(embedder.embed_crop(image))
        ids.append(row["pid"])
        cams.append(str(int(row["camera"])))
        del image
    return Sightings(f"{folder.name} (real crops, two cameras)", True, np.stack(vectors), np.array(ids), np.array(cams))


def generated_sightings(rng: np.random.Generator, identities: int = 150, per_camera: int = 3) -> Sightings:
    """Generated person crops: a person is a colour layout (hair, top, trousers, shoes, a logo); a sighting is
    that layout with the lighting, framing and pixel noise of one of two cameras."""
    embedder = ColourTextureEmbedder()
    vectors, ids, cams = [], [], []
    for person in range(identities):
        colours = rng.integers(0, 256, size=(5, 3))
        bounds = np.sort(rng.integers(10, 118, size=3))
        logo = rng.integers(0, 2)
        for camera in (1, 2):
            background = rng.integers(60, 200, size=3)
            for _ in range(per_camera):
                crop = np.empty((128, 64, 3), np.float32)
                crop[:] = background
                shift = int(rng.integers(-6, 7))
                edges = [0, *(np.clip(bounds + shift, 1, 127)), 128]
                for part in range(4):
                    crop[edges[part] : edges[part + 1], 12:52] = colours[part]
                if logo:
                    crop[edges[1] + 4 : edges[1] + 14, 26:38] = colours[4]
                gain = rng.uniform(0.75, 1.25, size=3) * rng.uniform(0.8, 1.2)
                image = np.clip(crop * gain + rng.normal(0, 12, crop.shape), 0, 255).astype(np.uint8)
                vectors.append(embedder.embed_crop(image))
                ids.append(person)
                cams.append(str(camera))
    return Sightings(
        "generated crops (synthetic colour layouts)", False, np.stack(vectors), np.array(ids), np.array(cams)
    )


def _random_hash(population: np.ndarray) -> KeyedLsh:
    """A fresh random key, calibrated on the population's projections as the sensor is after one epoch."""
    key = secrets.token_bytes(32)
    raw = KeyedLsh(key, population.shape[1])
    return KeyedLsh(key, population.shape[1], ProjectionStats.from_projections(raw.project(population)))


def _interval(rate: Rate) -> Interval:
    return Interval(round(rate.value, 5), round(rate.low, 5), round(rate.high, 5))


def measure_grouping(
    sightings: Sightings, sigma: float, rng: np.random.Generator, keys: int = 10
) -> GroupingMeasurement:
    """p_same / p_diff over every cross-camera pair, each sighting with its own noise draw, averaged over keys."""
    groups = np.empty((keys, sightings.embeddings.shape[0]), np.int64)
    for k in range(keys):
        noisy = add_noise(sightings.embeddings, sigma, rng)
        groups[k] = _random_hash(noisy).groups(noisy)
        noisy.fill(0)
    rates = grouping_rates(groups, sightings.identities, sightings.cameras, rng, n_boot=300)
    return GroupingMeasurement(
        source=sightings.source,
        real_images=sightings.real_images,
        identities=int(np.unique(sightings.identities).size),
        same_pairs=rates.p_same.pairs,
        different_pairs=rates.p_diff.pairs,
        keys=keys,
        noise_sigma=sigma,
        p_same=_interval(rates.p_same),
        p_diff=_interval(rates.p_diff),
    )


def track_vectors(sightings: Sightings) -> np.ndarray:
    """One clean vector per person: the mean of their first camera's sightings, as a track averages them."""
    first_camera = sightings.cameras == np.unique(sightings.cameras)[0]
    people = np.unique(sightings.identities[first_camera])
    vectors = np.stack([sightings.embeddings[first_camera & (sightings.identities == p)].mean(axis=0) for p in people])
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def measure_noise(sightings: Sightings, sigma: float, rng: np.random.Generator, keys: int = 10) -> NoiseMeasurement:
    """Anonymity set of each person's noisy track vector among everyone's clean ones; and the attacker's hit rate.

    The reference population is the set's persons seen by its first camera (as benchmarks/sensor_quality.py).
    """
    reference = track_vectors(sightings)
    sizes = np.concatenate(
        [anonymity_set_size(add_noise(reference, sigma, rng), reference, sigma) for _ in range(NOISE_DRAWS)]
    )
    hits = []
    for _ in range(keys):
        lsh = _random_hash(add_noise(reference, sigma, rng))
        stored = lsh.groups(add_noise(reference, sigma, rng))
        attacker = lsh.groups(add_noise(reference, sigma, rng))
        hits.append(float((stored == attacker).mean()))
    return NoiseMeasurement(
        source=sightings.source,
        reference_size=int(reference.shape[0]),
        probes=int(sizes.size),
        noise_sigma=sigma,
        median=float(np.median(sizes)),
        p5=float(np.percentile(sizes, 5)),
        attacker_hit_rate=round(float(np.mean(hits)), 4),
    )


def sensor_figures(
    config: SiteConfig,
    shared_data: Path | None = None,
    seed: int = 0,
    max_identities: int | None = None,
    keys: int = 10,
) -> SensorFigures:
    """Everything the audit needs from the sensor's code, on real pairs where present and generated ones always."""
    rng = np.random.default_rng(seed)
    sigma = config.privacy.noise_sigma
    sets = [generated_sightings(rng)]
    if shared_data is not None:
        for name in REID_SETS:
            folder = shared_data / "reid" / name
            if (folder / "labels.csv").is_file():
                sets.append(load_reid_set(folder, max_identities))
    grouping = [measure_grouping(s, sigma, rng, keys) for s in sets]
    reference = max(sets, key=lambda s: (s.real_images, np.unique(s.identities).size))
    embedding = "built-in colour-texture descriptor (sensors.vision.embedding.ColourTextureEmbedder)"
    if config.sensor.get("models", {}).get("reid"):
        embedding += "; the site configures an ONNX re-identification model, which this measurement does not load"
    return SensorFigures(grouping=grouping, noise=measure_noise(reference, sigma, rng, keys), embedding=embedding)
