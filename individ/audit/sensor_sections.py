"""The grouping and noise sections, from what the sensor's code measured (or from the configuration alone).

The measurements themselves run in ``sensors.audit_grouping`` (they need the sensor's embedding, noise and
hash); this module only turns them into guarantees, so the audit and its Dagster asset never load the
vision stack.
"""

from __future__ import annotations

from individ.audit.model import Guarantee, Section, SensorFigures, Table, check, not_measured
from individ.contract import N_GROUPS
from individ.site_config import SiteConfig

P_DIFF_LIMIT = 2.0 / N_GROUPS  # balanced groups give 1/1000; twice that means crowded groups next to rare ones
ATTACKER_HIT_LIMIT = 0.5
MIN_SIGMA = 1e-6  # an attacker with key and photo must not confirm a stored group more often than not


def grouping_section(figures: SensorFigures | None, note: str) -> Section:
    """``note``: why nothing was measured, or where the measurement comes from."""
    claim = (
        f"Two different persons land in the same group no more often than {P_DIFF_LIMIT:.3f} "
        f"(balanced groups: 1/{N_GROUPS}), on every measured set of pairs."
    )
    if figures is None or not figures.grouping:
        guarantee = not_measured("grouping.p_diff", claim, P_DIFF_LIMIT, "<=", note, unit="probability")
        return Section("grouping", "Grouping", _GROUPING, {"measured": False, "reason": note}, [], [guarantee])
    rows = [
        [
            m.source,
            m.identities,
            m.same_pairs,
            m.different_pairs,
            m.keys,
            m.noise_sigma,
            f"{m.p_same.estimate:.4f} [{m.p_same.low:.4f}, {m.p_same.high:.4f}]",
            f"{m.p_diff.estimate:.5f} [{m.p_diff.low:.5f}, {m.p_diff.high:.5f}]",
        ]
        for m in figures.grouping
    ]
    worst = max(figures.grouping, key=lambda m: m.p_diff.estimate)
    guarantee = check(
        "grouping.p_diff",
        claim,
        worst.p_diff.estimate,
        P_DIFF_LIMIT,
        "<=",
        unit="probability",
        detail=f"highest on {worst.source}: {worst.p_diff.estimate:.5f} "
        f"[{worst.p_diff.low:.5f}, {worst.p_diff.high:.5f}]",
    )
    table = Table(
        "p_same and p_diff of embedding + noise + keyed hashing (95 % bootstrap intervals over identities)",
        ["pairs from", "identities", "same pairs", "different pairs", "keys", "noise sigma", "p_same", "p_diff"],
        rows,
    )
    data = {
        "measured": True,
        "measured_by": note,
        "embedding": figures.embedding,
        "sets": [
            {
                "source": m.source,
                "real_images": m.real_images,
                "identities": m.identities,
                "p_same": [m.p_same.estimate, m.p_same.low, m.p_same.high],
                "p_diff": [m.p_diff.estimate, m.p_diff.low, m.p_diff.high],
                "noise_sigma": m.noise_sigma,
            }
            for m in figures.grouping
        ],
    }
    return Section("grouping", "Grouping", _GROUPING, data, [table], [guarantee])


def noise_section(config: SiteConfig, figures: SensorFigures | None, note: str) -> Section:
    sigma = config.privacy.noise_sigma
    guarantees: list[Guarantee] = [
        check(
            "noise.configured",
            "Noise is added to every embedding before hashing.",
            sigma,
            MIN_SIGMA,
            ">=",
            unit="sigma",
            detail="privacy.noise_sigma in the site configuration; "
            "0 fixes the group of a photo for anyone who holds the key",
        )
    ]
    claim_hit = (
        "An attacker who holds the key and a person's clean embedding computes the group the sensor stored no "
        f"more often than {ATTACKER_HIT_LIMIT:.0%} of the time."
    )
    data: dict[str, object] = {"noise_sigma": sigma}
    tables: list[Table] = []
    noise = figures.noise if figures is not None else None
    if noise is None:
        guarantees.append(
            not_measured("noise.attacker_hit_rate", claim_hit, ATTACKER_HIT_LIMIT, "<=", note, unit="probability")
        )
    else:
        data |= {
            "measured_by": note,
            "reference": noise.source,
            "reference_size": noise.reference_size,
            "anonymity_set_median": noise.median,
            "anonymity_set_p5": noise.p5,
            "attacker_hit_rate": noise.attacker_hit_rate,
            "claim_for_information": "anonymity set of the transient noisy vector >= 3",
        }
        tables.append(
            Table(
                "Anonymity set of the transient noisy vector (for information)",
                ["reference population", "persons", "sigma", "median", "5th percentile", "claim (information)"],
                [[noise.source, noise.reference_size, noise.noise_sigma, noise.median, noise.p5, ">= 3"]],
            )
        )
        guarantees.append(
            check(
                "noise.attacker_hit_rate",
                claim_hit,
                noise.attacker_hit_rate,
                ATTACKER_HIT_LIMIT,
                "<=",
                unit="probability",
                detail="two independent noise draws on the same clean vector, random keys, "
                f"{noise.reference_size} persons",
            )
        )
    return Section("noise", "Noise", _NOISE, data, tables, guarantees)


_GROUPING = (
    "p_same is the probability that two sightings of the same person at two cameras land in the same group; "
    "p_diff that two different persons do. Both are measured by running the sensor's own embedding, the "
    "configured noise and the keyed hash (random keys, calibrated on the measured population as the sensor "
    "calibrates on a day's traffic) on crops of persons seen by two cameras: the shared re-identification sets "
    "where present (real images, research licences: measured only) and generated crops always. p_diff near "
    "1/1000 means groups are balanced; p_same is what the flow analytics can exploit and is reported, not "
    "promised: the lower it is, the less the stored data can link, and the flow estimator uses the p it "
    "measures on the data."
)
_NOISE = (
    "The noisy embedding exists for milliseconds and is never stored, so the product states its anonymity "
    "guarantee on the stored data (every camera-hour-group cell, see Groups; linkage, see Linkage; attributes, "
    "see Attribute inference). The noise serves two purposes that pull against each other. It makes the group "
    "of one image random, so that somebody who holds the key and a photo cannot confirm a stored event from it "
    "(the attacker hit rate below). And it could make the noisy vector itself anonymous: the anonymity set "
    "counts how many persons of a reference population are at least as likely as the true one to have produced "
    "it. Reaching a set of 3 for most persons takes so much noise that the same person's two sightings land in "
    "the same group about as rarely as two strangers (p_same falls to p_diff): no flow could be measured. The "
    "noise is therefore set for the stability of the group assignment, and the anonymity set of the transient "
    "vector is reported for information, against the seed's claim of 3."
)
