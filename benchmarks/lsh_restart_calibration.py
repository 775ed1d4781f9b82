"""p_same and p_diff in the first key epoch after a sensor restart, with and without the stored calibration.

    uv run python benchmarks/lsh_restart_calibration.py [--keys 10] [--sigma 0.2]

The real GroupAssigner and calibration file, on the shared re-identification sets (built-in descriptor;
research use only, nothing is fitted and shipped). Per key (a fresh random site secret) and per half of the
identities: a sensor sees the OTHER half during epoch e and saves its calibration; it restarts in epoch e+1
and groups this half's sightings, once loading the saved file ("restored") and once without it ("none",
the behaviour before the file existed). p_same / p_diff over all cross-camera pairs of the set, 95 %
bootstrap intervals over identities.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from individ.site_config import PrivacyParameters  # noqa: E402
from sensors.audit_grouping import REID_SETS, load_reid_set, shared_data_dir  # noqa: E402
from sensors.privacy.calibration import CalibrationStore  # noqa: E402
from sensors.privacy.grouping import GroupAssigner  # noqa: E402
from sensors.privacy.keys import EpochKeys, SiteSecret  # noqa: E402
from sensors.privacy.measurement import grouping_rates  # noqa: E402

DAY = 86_400.0
EPOCH = 20_000


def restart_groups(
    embeddings: np.ndarray, half: np.ndarray, sigma: float, folder: Path, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Groups of every sighting in epoch EPOCH + 1, each half calibrated (or not) on the other half's traffic."""
    keys = EpochKeys(SiteSecret(rng.bytes(32)), 24)
    groups = {mode: np.empty(len(embeddings), np.int64) for mode in ("none", "restored")}
    for index, part in enumerate((half, ~half)):
        min_persons = min(1000, int((~part).sum()))
        store = CalibrationStore(folder / f"site-{index}.lsh-calibration.json", keys.fingerprint(), min_persons)
        seed = int(rng.integers(2**63))
        before = GroupAssigner(
            keys,
            sigma,
            clock=lambda: EPOCH * DAY,
            rng=np.random.default_rng(seed),
            min_calibration_count=min_persons,
            store=store,
        )
        for vector in embeddings[~part]:
            before.assign(vector)
        before.save_calibration()
        for mode, kept in (("none", None), ("restored", store)):
            restarted = GroupAssigner(
                keys,
                sigma,
                clock=lambda: (EPOCH + 1) * DAY + 3600,
                rng=np.random.default_rng(seed + 1),
                min_calibration_count=min_persons,
                store=kept,
            )
            groups[mode][part] = [restarted.assign(vector) for vector in embeddings[part]]
            assert restarted.calibrated == (kept is not None)
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10)
    parser.add_argument("--sigma", type=float, default=PrivacyParameters().noise_sigma)
    args = parser.parse_args(argv)
    logging.getLogger("sensors.privacy").setLevel(logging.ERROR)  # one "uncalibrated" line per restart otherwise
    data = shared_data_dir()
    if data is None:
        print("shared data absent (../shared/data or $INDIVID_SHARED_DATA): nothing measured")
        return 0
    rows = []
    rng = np.random.default_rng(2026)
    for name in REID_SETS:
        folder = data / "reid" / name
        if not (folder / "labels.csv").is_file():
            rows.append([name, "absent", "", "", ""])
            continue
        sightings = load_reid_set(folder)
        ids = np.unique(sightings.identities)
        runs: dict[str, list[np.ndarray]] = {"none": [], "restored": []}
        for _ in range(args.keys):
            half = np.isin(sightings.identities, ids[rng.permutation(len(ids))[: len(ids) // 2]])
            with tempfile.TemporaryDirectory() as scratch:
                for mode, run in restart_groups(sightings.embeddings, half, args.sigma, Path(scratch), rng).items():
                    runs[mode].append(run)
        for mode, repeated in runs.items():
            rates = grouping_rates(
                np.stack(repeated), sightings.identities, sightings.cameras, np.random.default_rng(1), n_boot=300
            )
            label = "none (before)" if mode == "none" else "restored from file"
            rows.append([name, label, str(rates.p_same), str(rates.p_diff), str(rates.p_diff.pairs)])
    headers = ["set", "calibration in the first epoch after a restart", "p_same", "p_diff", "different pairs"]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(f"\n### First key epoch after a restart ({args.keys} keys, sigma {args.sigma}, crops)\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
