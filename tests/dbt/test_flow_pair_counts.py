"""The flow pair counter (the dbt Python model int_flow_pair_counts) against counting every pair by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

MODEL = Path(__file__).resolve().parents[2] / "dbt_project" / "models" / "intermediate" / "int_flow_pair_counts.py"


def load_model() -> ModuleType:
    spec = importlib.util.spec_from_file_location("int_flow_pair_counts", MODEL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def brute_force(
    rel: np.ndarray, camera: np.ndarray, group: np.ndarray, hours: int, lag: int, blocks: int
) -> dict[tuple[int, int, int, int], tuple[int, int, list[int]]]:
    """(A, B, origin hour, destination hour) -> (time pairs, same-group pairs, same-group pairs per block
    of groups), one pair at a time."""
    counts: dict[tuple[int, int, int, int], tuple[list[int], list[int]]] = {}
    for i in np.flatnonzero(rel < hours * 3600):
        later = (rel > rel[i]) & (rel <= rel[i] + lag)
        for j in np.flatnonzero(later):
            key = (int(camera[i]), int(camera[j]), int(rel[i] // 3600), int(rel[j] // 3600))
            pairs, by_block = counts.setdefault(key, ([0, 0], [0] * blocks))
            pairs[0] += 1
            if group[i] == group[j]:
                pairs[1] += 1
                by_block[int(group[i]) % blocks] += 1
    return {key: (t, m, by_block) for key, ([t, m], by_block) in counts.items()}


def test_pair_counts_for_the_lag_window_the_direct_lag_and_each_block_of_groups_match_counting_by_hand() -> None:
    model = load_model()
    rng = np.random.default_rng(3)
    hours, lag, direct_lag, n_cameras, blocks = 2, 1800, 180, 4, 7
    n = 1500
    # Passes run past the last origin hour by the lag (the model's read frame) and cluster so that
    # the direct lag holds pairs of its own; few groups so that same-group pairs are common.
    rel = np.sort(rng.integers(0, hours * 3600 + lag + 1, size=n))
    camera = rng.integers(0, n_cameras, size=n)
    group = rng.integers(0, 40, size=n)
    table = model._chunk_table(rel, camera, group, 100, hours, (lag, direct_lag), n_cameras, blocks).to_pylist()
    full = brute_force(rel, camera, group, hours, lag, blocks)
    direct = {key: (t, m) for key, (t, m, _) in brute_force(rel, camera, group, hours, direct_lag, blocks).items()}
    produced = {
        (r["origin_idx"], r["destination_idx"], r["hour_idx"] - 100, r["destination_hour_idx"] - 100): r for r in table
    }
    assert set(produced) == set(full)
    for key, (time_pairs, same_group_pairs, by_block) in full.items():
        row = produced[key]
        assert (row["time_pairs"], row["same_group_pairs"]) == (time_pairs, same_group_pairs), key
        assert row["same_group_pairs_by_block"] == by_block, key
        assert (row["direct_time_pairs"], row["direct_same_group_pairs"]) == direct.get(key, (0, 0)), key
    assert sum(m for _, m in direct.values()) > 0
