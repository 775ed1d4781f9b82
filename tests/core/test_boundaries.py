"""The two halves of the product are coupled only by the event contract.

The sensor must not import Dagster or dbt; the pipelines must not import OpenCV or onnxruntime; the
shared core imports neither side's heavy dependencies at module level.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "sensors": {"dagster", "dagster_dbt", "dagster_webserver", "dbt", "individ_pipelines"},
    "individ_pipelines": {"cv2", "onnxruntime", "sensors"},
    "individ": {"cv2", "onnxruntime", "dagster", "dagster_dbt", "dbt", "sensors", "individ_pipelines"},
}
# Modules of the shared core that start another part on purpose, importing it inside a function.
LAUNCHERS = {"individ/cli.py", "individ/demo.py", "individ/audit/cli.py"}


def _imports(tree: ast.AST, top_level_only: bool) -> set[str]:
    nodes = ast.iter_child_nodes(tree) if top_level_only else ast.walk(tree)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_stay_on_its_side(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        imported = _imports(ast.parse(path.read_text()), top_level_only=relative in LAUNCHERS)
        bad = imported & FORBIDDEN[package]
        if bad:
            offenders.append(f"{relative}: {sorted(bad)}")
    assert not offenders, "imports across the contract boundary:\n" + "\n".join(offenders)
