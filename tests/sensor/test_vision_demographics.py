"""Age bands, confidence thresholds and the age/gender models on an aligned chip."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from individ.contract import AGE_BANDS
from sensors.vision.demographics import (
    AGE_CLASSES,
    AgeGender,
    DemographicGuess,
    age_band,
    band_probabilities,
    guess_from,
    load_demographic_estimator,
)

MODELS = Path(__file__).resolve().parents[2] / "models"
SHARED = Path(os.environ.get("INDIVID_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))
AGE_GENDER = [MODELS / "face_detector_centerface.onnx", MODELS / "age_estimator.onnx", MODELS / "gender_estimator.onnx"]
needs_models = pytest.mark.skipif(
    not all(path.is_file() for path in AGE_GENDER), reason=f"age/gender models not built yet in {MODELS}"
)


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, "0-17"),
        (17.9, "0-17"),
        (18, "18-27"),
        (27.99, "18-27"),
        (28, "28-37"),
        (67, "58-67"),
        (77.5, "68-77"),
        (78, "78+"),
    ],
)
def test_age_bands_follow_the_contract(age: float, band: str) -> None:
    assert age_band(age) == band
    assert band in AGE_BANDS


def test_age_band_rejects_non_ages() -> None:
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="not an age"):
            age_band(bad)


def test_band_probabilities_add_the_classes_of_each_band() -> None:
    probabilities = np.zeros(len(AGE_CLASSES))
    probabilities[AGE_CLASSES == 20] = 0.5
    probabilities[AGE_CLASSES == 27] = 0.2
    probabilities[AGE_CLASSES == 80] = 0.3
    bands = band_probabilities(probabilities)
    assert bands.sum() == pytest.approx(1.0)
    assert bands[AGE_BANDS.index("18-27")] == pytest.approx(0.7)
    assert bands[AGE_BANDS.index("78+")] == pytest.approx(0.3)


def test_below_the_thresholds_the_answer_is_unknown() -> None:
    confident = AgeGender(age_years=33.0, band="28-37", band_confidence=0.6, female_probability=0.9)
    assert guess_from(confident, 0.4, 0.7) == DemographicGuess("28-37", "female")
    hesitant = AgeGender(age_years=33.0, band="28-37", band_confidence=0.3, female_probability=0.4)
    assert guess_from(hesitant, 0.4, 0.7) == DemographicGuess("unknown", "unknown")
    male = AgeGender(age_years=70.0, band="68-77", band_confidence=0.5, female_probability=0.2)
    assert guess_from(male, 0.4, 0.7) == DemographicGuess("68-77", "male")
    assert guess_from(None, 0.4, 0.7) == DemographicGuess("unknown", "unknown")


@needs_models
def test_a_person_without_a_face_is_unknown() -> None:
    estimator = load_demographic_estimator(*AGE_GENDER)
    frame = np.full((240, 320, 3), 120, np.uint8)
    cv2.rectangle(frame, (140, 40), (180, 200), (30, 60, 200), -1)  # a figure with no face
    assert estimator.estimate(frame, np.array([130, 30, 190, 210])) == DemographicGuess("unknown", "unknown")


@needs_models
@pytest.mark.shared_data
def test_the_astronaut_is_an_adult_woman() -> None:
    image_path = SHARED / "skimage" / "astronaut.png"
    if not image_path.is_file():
        pytest.skip(f"shared data absent: {image_path}")
    estimator = load_demographic_estimator(*AGE_GENDER, age_threshold=0.0, gender_threshold=0.5)
    guess = estimator.estimate(cv2.imread(str(image_path)), np.array([120, 20, 330, 512]))
    assert guess.gender == "female"
    assert guess.age_band in ("28-37", "38-47", "48-57")  # Eileen Collins was about 40
