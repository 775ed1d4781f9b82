"""p_same and p_diff of a grouping, with intervals: the numbers the benchmarks and the audit report.

p_same: a sighting of a person at camera 1 and a sighting of the SAME person at camera 2 land in the
same group. p_diff: sightings of two different persons at the two cameras do. Both are averaged over
every cross-camera pair; 95 % intervals come from a bootstrap over identities (pairs of one person are
not independent). Pure numpy, no vision imports, so the audit can use it on any embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from individ.contract import N_GROUPS


@dataclass(frozen=True)
class Rate:
    value: float
    low: float
    high: float
    pairs: int

    def __str__(self) -> str:
        return f"{self.value:.4f} [{self.low:.4f}, {self.high:.4f}]"


@dataclass(frozen=True)
class GroupingRates:
    p_same: Rate
    p_diff: Rate


def grouping_rates(
    groups: np.ndarray,
    identities: np.ndarray,
    cameras: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 1000,
    n_groups: int = N_GROUPS,
) -> GroupingRates:
    """Rates over cross-camera pairs. ``groups`` [R, S]: R repetitions (keys, noise draws) of the group of
    each of S sightings; ``identities`` [S] and ``cameras`` [S] (exactly two distinct camera values)."""
    groups = np.atleast_2d(np.asarray(groups))
    ids, person = np.unique(np.asarray(identities), return_inverse=True)
    camera_values = np.unique(np.asarray(cameras))
    if len(camera_values) != 2:
        raise ValueError(f"need sightings from exactly two cameras, got {len(camera_values)}")
    first = np.asarray(cameras) == camera_values[0]
    n_people = len(ids)
    same_hits = np.zeros(n_people)
    diff_hits = np.zeros(n_people)
    for row in groups:
        # counts[c][person, group]: sightings of each person in each group at camera c.
        counts = [np.zeros((n_people, n_groups)) for _ in range(2)]
        for c, mask in enumerate((first, ~first)):
            np.add.at(counts[c], (person[mask], row[mask]), 1.0)
        same = (counts[0] * counts[1]).sum(axis=1)
        totals_second = counts[1].sum(axis=0)
        same_hits += same
        diff_hits += (counts[0] * totals_second[None, :]).sum(axis=1) - same
    n_first = np.bincount(person[first], minlength=n_people).astype(float)
    n_second = np.bincount(person[~first], minlength=n_people).astype(float)
    reps = len(groups)
    same_pairs = n_first * n_second * reps
    diff_pairs = n_first * (n_second.sum() - n_second) * reps
    boot = rng.integers(0, n_people, size=(n_boot, n_people))
    return GroupingRates(
        _ratio(same_hits, same_pairs, boot, int(same_pairs.sum() / reps)),
        _ratio(diff_hits, diff_pairs, boot, int(diff_pairs.sum() / reps)),
    )


def _ratio(hits: np.ndarray, pairs: np.ndarray, boot: np.ndarray, n_pairs: int) -> Rate:
    value = hits.sum() / max(pairs.sum(), 1e-12)
    resampled = hits[boot].sum(axis=1) / np.maximum(pairs[boot].sum(axis=1), 1e-12)
    low, high = np.quantile(resampled, [0.025, 0.975])
    return Rate(float(value), float(low), float(high), n_pairs)
