"""Noise on the embedding, and the anonymity set used to report what that noise achieves.

The noise: x' = normalise(x + n), n ~ N(0, sigma^2 / d * I) for a unit vector x of d values, so sigma
is the expected length of the noise vector in units of the unit sphere (sigma 0.2 moves x by about
0.2, about half the median distance between a person's built-in descriptor and the second-nearest
other person's).

What it is for, and how sigma is chosen (the decision in ../shared/notes/reid-grouping.md): the noisy
vector lives for milliseconds and is never stored, so the product's anonymity CLAIM is made on the
stored data: every (camera, hour, group) cell has at least 3 members, real or fictitious (see
individ.fictitious). The noise is chosen for the stability of the group assignment: it should make the
group of one image random, so that an attacker who holds the key and a photo of someone cannot confirm
a stored event from it (p_self, the rate at which two noisy hashes of the same vector agree, should be
low), while keeping the cross-camera same-person rate p_same at its noise-free level.

Measured (benchmarks/sensor_quality.py, built-in descriptor, 1,000 calibrated keyed groups, CUHK03,
40-100 keys with the same keys and noise draws at every sigma): p_same stays flat from sigma 0 to 0.2
(single crops 0.0015-0.0019, track means 0.0021-0.0027, p_diff 0.0008-0.0009) and falls from 0.3 on
(track 0.0018); p_self is 1 at sigma 0, 0.28-0.38 at 0.05, 0.09-0.13 at 0.1 and 0.02-0.03 at 0.2. The
default is therefore sigma = 0.2: the largest noise that costs no measured p_same, at which a photo
plus the key reproduces the stored group only 2-3 % of the time.

``anonymity_set_size`` reports, for information, how anonymous the transient noisy vector itself is
against an attacker who knows everyone's clean vector: at sigma 0.2 the set is 1 for nearly everyone
(in 1,024 dimensions a noise of length 0.2 hides nobody); the median set reaches 3 only at sigma 5-8
(13-18 x the median distance to the second-nearest other person, i.e. per coordinate 0.4-0.6 x that
distance, as the note found), where p_same equals p_diff and flows can no longer be measured.
"""

from __future__ import annotations

import math

import numpy as np


def add_noise(embedding: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """The noisy unit vector(s): Gaussian noise of expected length ``sigma``, then renormalised.

    Works on one vector [d] or a batch [N, d]; returns a new float32 array (the input is not changed).
    """
    if sigma < 0:
        raise ValueError("sigma must be >= 0")
    x = np.asarray(embedding, np.float32)
    if sigma == 0:
        return x.copy()
    dim = x.shape[-1]
    noisy = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma / math.sqrt(dim))
    norms = np.linalg.norm(noisy, axis=-1, keepdims=True)
    return (noisy / np.maximum(norms, 1e-12)).astype(np.float32)


def anonymity_set_size(
    noisy: np.ndarray,
    reference_embeddings: np.ndarray,
    sigma: float,
    *,
    true_index: np.ndarray | None = None,
    likelihood_ratio: float = 1.0,
) -> np.ndarray:
    """How many persons of the reference population are at least as likely as the true one to have produced
    each noisy vector (the true person counts, so the minimum is 1).

    ``noisy`` [M, d] (or one vector [d]) are noisy versions of ``reference_embeddings[true_index]`` [N, d];
    by default noisy[i] came from reference_embeddings[i]. All vectors are unit length. For noise that is
    isotropic around a unit vector and then renormalised, the likelihood of a direction y given x is an
    increasing function of the cosine y . x, approximately exp(kappa y . x) with kappa = d / sigma^2 (von
    Mises-Fisher). A person counts if their likelihood is at least 1 / ``likelihood_ratio`` times the true
    one's: with the default 1 the set is exactly "at least as likely" and sigma does not matter; a ratio
    above 1 ("about as likely") widens it, by an amount set by sigma.
    """
    y = np.atleast_2d(np.asarray(noisy, np.float64))
    population = np.asarray(reference_embeddings, np.float64)
    truth = np.arange(len(y)) if true_index is None else np.atleast_1d(np.asarray(true_index))
    if len(truth) != len(y):
        raise ValueError(f"{len(y)} noisy vectors but {len(truth)} true indices")
    if likelihood_ratio < 1.0:
        raise ValueError("likelihood_ratio must be >= 1")
    similarity = y @ population.T  # [M, N]
    true_similarity = similarity[np.arange(len(y)), truth][:, None]
    if likelihood_ratio == 1.0 or sigma == 0:
        slack = 0.0
    else:
        slack = math.log(likelihood_ratio) * sigma**2 / population.shape[1]
    return (similarity >= true_similarity - slack - 1e-12).sum(axis=1)


def noise_for_anonymity(
    reference_embeddings: np.ndarray,
    target: float = 3.0,
    quantile: float = 0.5,
    rng: np.random.Generator | None = None,
    sigmas: np.ndarray | None = None,
) -> float:
    """The smallest sigma on a grid at which the given quantile of the anonymity set reaches ``target``
    over the reference population (each person's own noisy vector against everyone); inf if none does.

    This is how the "anonymity of the noisy vector" is calibrated for the record: see the module docstring
    for why the product does not use it as its default."""
    rng = rng or np.random.default_rng(0)
    grid = np.linspace(0.05, 3.0, 60) if sigmas is None else np.asarray(sigmas)
    population = np.asarray(reference_embeddings, np.float32)
    for sigma in grid:
        sizes = anonymity_set_size(add_noise(population, float(sigma), rng), population, float(sigma))
        if np.quantile(sizes, quantile) >= target:
            return float(sigma)
    return math.inf
