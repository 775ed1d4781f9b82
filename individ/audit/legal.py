"""The legal context in plain words: a fixed text with the site's own parameters filled in.

It states facts about the system and points at the assessments a controller must make; it draws no legal
conclusion (the audit is evidence for a data-protection officer, not legal advice).
"""

from __future__ import annotations

from individ.site_config import SiteConfig


def legal_context(config: SiteConfig) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs for the report."""
    privacy = config.privacy
    return [
        (
            "What is processed, and for how long",
            "The sensor reads the video of the site's cameras. In its memory only, it finds persons in each frame, "
            "computes for each person an appearance descriptor (1,024 numbers), cuts the head region to estimate an "
            "age band and a gender, and assigns the person to one of 1,000 groups with a keyed hash after adding "
            "noise. Frames and crops are kept only while they are processed and descriptors only until the group is "
            "assigned (at most 2 seconds per person); the measured time from a frame's arrival to its deletion is "
            "in the Deletion section. Images of identifiable persons are personal data under the GDPR even when "
            "they are processed for milliseconds: this processing needs a legal basis, information for the persons "
            "filmed (signs at the entrances), and very likely a data-protection impact assessment (Art. 35 GDPR, "
            "systematic monitoring of a publicly accessible area).",
        ),
        (
            "What is stored",
            "Three streams leave the sensor: (1) occurrences: camera, second, group number 0-999 and walking "
            "direction, mixed with fictitious occurrences that cannot be told apart from real ones; (2) demographic "
            f"counts per camera and {privacy.demographics_window_minutes}-minute window by age band and gender, "
            f"written when the window closes, with cells below {privacy.min_cell_size} persons "
            f"{'merged into unknown' if privacy.small_cells.value == 'merge_unknown' else 'suppressed'}; "
            "(3) heartbeats: the sensor's health per camera and minute. No image, face, descriptor or box is "
            "stored. How long these records are kept is the site's retention policy; this audit does not check it.",
        ),
        (
            "What the stored data can and cannot reveal",
            "They show how many people passed each camera, and, statistically, how many walked from one camera to "
            "another, how long store visits last and the age and gender mix per camera and window. They do not "
            "show who anybody is, what anybody looks like, or the age or gender of any one occurrence. Group "
            f"numbers are recomputed with a new key every {privacy.key_rotation_hours} hours, so records of "
            "different key periods cannot be linked by group. Within a period, two events of the same group at two "
            "cameras are the same person only with the small probability shown under Linkage. Whether the stored "
            "data count as anonymous in the sense of Recital 26 GDPR depends on the means reasonably likely to be "
            "used to single somebody out; this report gives the measurements for that assessment, not its result.",
        ),
        (
            "Age and gender estimation is biometric categorisation",
            "Estimating a person's age band and gender from their face is biometric categorisation under the EU "
            "AI Act (Regulation (EU) 2024/1689, Art. 3(40); Recital 16 names sex and age among such categories). It "
            "is not one of the practices the Act prohibits in Art. 5(1)(g), which concerns categories such as race, "
            "political opinions, religious beliefs or sexual orientation. The deployer must inform the persons "
            "exposed to it (Art. 50(3)). Annex III point 1(b) lists biometric categorisation according to sensitive "
            "or protected attributes as high-risk, and sex and age are protected characteristics under EU "
            "non-discrimination law: the deployment must be assessed as possibly high-risk, with the obligations "
            "that follow. This feature therefore needs its own assessment, separate from this audit: "
            "its necessity for the site's purpose, its legal basis, and its accuracy and bias across ages and "
            "genders (the sensor's benchmarks report accuracy on a balanced face set). The stored output is only "
            "aggregated counts, which this audit checks.",
        ),
        (
            "What this audit is",
            "Every figure in this report is measured from the stored data, the site configuration or the sensor's "
            "own code on test images; each promise shows its number, its threshold and pass, fail or not measured. "
            "It is evidence for the controller and the data-protection officer, not legal advice.",
        ),
    ]
