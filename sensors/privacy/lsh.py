"""Keyed locality-sensitive hashing of a unit embedding into exactly 1,000 groups.

Three keyed random projections z = W x, each cut into 10 equal-probability bins: 10 x 10 x 10
cells, then a keyed permutation of the cells gives the group id. W and the permutation come from an
HMAC-based deterministic generator seeded with the epoch key, so the same key gives the same groups
on every camera of the site, and nobody without the key can compute a group from an image.

Why this is balanced: W is a random orthonormal frame scaled by sqrt(d), so for ANY fixed unit vector
x each z_k is (very nearly, d = 1,024) N(0, 1) over the key, and bins at the standard normal deciles
give every cell probability 1/1000 for an isotropic population. Real descriptors are not isotropic
(they share a mean direction and a few dominant axes), which crowds a few cells (p_diff 0.005-0.015
measured on the shared re-identification sets). ``ProjectionStats`` corrects that with the population's
mean and covariance of z (3 numbers and a 3 x 3 matrix, an aggregate of many persons that reveals
nobody), measured on the site's own traffic: z is whitened before binning (p_diff back to about 0.001).
The statistics of an epoch are measured under THAT epoch's key, ahead of time (``sensors.privacy.grouping``),
and kept across restarts (``sensors.privacy.calibration``).

Why nearby vectors collide: z moves by ||W (x - x')|| ~ ||x - x'|| per axis, so two sightings closer
than a bin width share a cell more often than two different persons (p_same > p_diff ~ 0.001).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from individ.contract import N_GROUPS

EMBEDDING_DIM = 1024
BINS_PER_AXIS = 10
AXES = 3
assert BINS_PER_AXIS**AXES == N_GROUPS

# Interior bin edges at the standard normal deciles.
_EDGES = np.array([NormalDist().inv_cdf(i / BINS_PER_AXIS) for i in range(1, BINS_PER_AXIS)])


def keyed_generator(key: bytes, purpose: str) -> np.random.Generator:
    """A numpy generator seeded from HMAC-SHA256(key, purpose): deterministic per key, unpredictable without it."""
    seed = hmac.new(key, f"individ/lsh/{purpose}".encode(), hashlib.sha256).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(seed, "big")))


@dataclass(frozen=True)
class ProjectionStats:
    """Population mean [3] and covariance [3, 3] of the raw projections z of one epoch's hash."""

    mean: np.ndarray
    covariance: np.ndarray
    count: int

    @classmethod
    def from_projections(cls, z: np.ndarray) -> ProjectionStats:
        z = np.asarray(z, np.float64).reshape(-1, AXES)
        return cls(z.mean(axis=0), np.cov(z, rowvar=False), len(z))

    def whitener(self) -> np.ndarray:
        """W such that W (z - mean) has identity covariance (inverse Cholesky factor)."""
        return np.linalg.inv(np.linalg.cholesky(self.covariance + 1e-12 * np.eye(AXES)))


class KeyedLsh:
    """The keyed hash of one epoch: ``group(x)`` for unit vectors x of ``dim`` values."""

    def __init__(self, key: bytes, dim: int = EMBEDDING_DIM, calibration: ProjectionStats | None = None) -> None:
        rng = keyed_generator(key, f"projections/{dim}")
        # Orthonormal rows scaled by sqrt(dim): a uniformly random orthogonal frame, so for an isotropic
        # population the three z are uncorrelated with variance exactly 1 (plain Gaussian rows are only
        # nearly so: a few percent off, which 1,000 cells make visible).
        gaussian = rng.standard_normal((dim, AXES))
        orthonormal, upper = np.linalg.qr(gaussian)
        orthonormal *= np.sign(np.diag(upper))  # makes the frame uniformly distributed (Haar)
        self._projections = (orthonormal.T * np.sqrt(dim)).astype(np.float32)
        self._cell_to_group = keyed_generator(key, "cells").permutation(N_GROUPS).astype(np.int16)
        self.calibration = calibration
        if calibration is None:
            self._shift = np.zeros(AXES)
            self._whiten = np.eye(AXES)
        else:
            self._shift = calibration.mean
            self._whiten = calibration.whitener()
        self.dim = dim

    @property
    def projections(self) -> np.ndarray:
        """The keyed projection rows [3, dim] (a read-only view)."""
        view = self._projections.view()
        view.flags.writeable = False
        return view

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """Raw projections z [N, 3] (before calibration)."""
        x = np.asarray(embeddings, np.float32).reshape(-1, self.dim)
        return (x @ self._projections.T).astype(np.float64)

    def cells_of(self, z: np.ndarray) -> np.ndarray:
        """Lattice cell 0..999 of raw projections z [N, 3]."""
        white = (np.asarray(z, np.float64).reshape(-1, AXES) - self._shift) @ self._whiten.T
        bins = np.searchsorted(_EDGES, white)  # 0..9 per axis
        return (bins[:, 0] * BINS_PER_AXIS + bins[:, 1]) * BINS_PER_AXIS + bins[:, 2]

    def groups(self, embeddings: np.ndarray) -> np.ndarray:
        """Group ids [N] (int16, 0..999) of unit embeddings [N, dim]."""
        return self._cell_to_group[self.cells_of(self.project(embeddings))]

    def group(self, embedding: np.ndarray) -> int:
        return int(self.groups(embedding)[0])

    def __repr__(self) -> str:
        return f"KeyedLsh(<keyed>, dim={self.dim}, calibrated={self.calibration is not None})"
