"""Wall time and peak memory of ingestion + dbt for one simulated day per traffic level, against plain DuckDB.

    uv run python benchmarks/scale.py [--visitors 1000,5000,20000] [--work DIR]

Per traffic level, each step in its own process (so peak memory is that step's alone):
1. simulate one day of the demo mall (calibrated expected traffic, realistic imperfections);
2. the real pipeline: ``dbt parse``, loading the definitions, Dagster's site-metadata job and one
   partition-range run of the hourly job (ingestion assets + ``dbt build`` of every model and test) -
   wall time, the hourly run's own duration (what a running deployment pays per day, the code
   location being loaded once) and its two steps (ingestion, dbt), peak RSS of the Python process
   and of its dbt child;
3. the same work in ONE DuckDB process, no orchestration: the landing zone's Parquet read into the
   raw tables with DuckDB SQL, then every model and test that the pipeline's dbt run executed, in
   its completion order, from dbt's own compiled SQL (``run_results.json`` of that run).
The ratio (2) / (3) is the cost of orchestration (Dagster, dbt, Python ingestion).

The machine is shared and has 2 cores: the load average before and after the pipeline step is in the
table, so a figure taken while something else ran is recognisable. Dagster's storage is SQLite under the
data folder unless INDIVID_DAGSTER_POSTGRES_URL names a Postgres database (see
``individ_pipelines/instance.py``; use one that holds nothing else).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
from harness import run_pipeline, simulate_day

from individ.contract import Stream
from individ_pipelines.instance import uses_postgres

DBT_TARGET = Path(__file__).resolve().parents[1] / "dbt_project" / "target"
INGESTION_STEP, DBT_STEP = "landing_ingestion", "analytics_models"  # the hourly run's steps (op names)
_EVENT_TABLES = tuple(stream.value for stream in Stream)


def _peak_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def step_simulate(data: Path, visitors: int, seed: int) -> dict[str, float]:
    began = time.perf_counter()
    result = simulate_day(data, visitors, 0.5, seed)
    return {"seconds": time.perf_counter() - began, "occurrences": result.occurrences}


def step_pipeline(data: Path) -> dict[str, object]:
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    run = run_pipeline(data)
    return {
        "seconds": time.perf_counter() - began,
        "steps": run.seconds,
        "run_id": run.hourly_run_id,
        "run_seconds": run.hourly_run_seconds,
        "run_steps": run.step_seconds,
        "load": [load_before, os.getloadavg()[0]],
        "peak_mb_python": _peak_mb(resource.RUSAGE_SELF),
        "peak_mb_children": _peak_mb(resource.RUSAGE_CHILDREN),
    }


def _dbt_results(run_id: str) -> tuple[list[dict[str, object]], dict[str, object], float]:
    (folder,) = DBT_TARGET.glob(f"*-{run_id[:7]}-*")
    results = json.loads((folder / "run_results.json").read_text())
    manifest = json.loads((folder / "manifest.json").read_text())
    return results["results"], manifest["nodes"], float(results["elapsed_time"])


def step_direct(data: Path, run_id: str) -> dict[str, object]:
    """Ingestion and the dbt run's SQL, directly in one DuckDB connection."""
    results, nodes, _ = _dbt_results(run_id)
    direct = data / "direct"
    direct.mkdir(exist_ok=True)
    target = direct / "warehouse.duckdb"  # same name: dbt's compiled SQL says "warehouse"."schema"."table"
    target.unlink(missing_ok=True)
    landing = data / "landing"
    began = time.perf_counter()
    with duckdb.connect(str(target)) as db:
        db.execute("SET TimeZone = 'UTC'")
        db.execute(f"ATTACH '{data / 'warehouse.duckdb'}' AS pipeline (READ_ONLY)")
        for schema in ("raw", "staging", "intermediate", "marts"):
            db.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        raw_tables = [row[0] for row in db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'pipeline' AND schema_name = 'raw'"
        ).fetchall()]  # fmt: skip
        for table in raw_tables:
            if table not in _EVENT_TABLES:  # site metadata and bookkeeping: copied as the pipeline wrote them
                db.execute(f"CREATE TABLE raw.{table} AS SELECT * FROM pipeline.raw.{table}")
        db.execute("DETACH pipeline")
        ingest_began = time.perf_counter()
        for stream in _EVENT_TABLES:
            files = f"{landing}/{stream}/*/*/*.parquet"
            db.execute(
                f"CREATE TABLE raw.{stream} AS SELECT *, now() AS ingested_at FROM read_parquet('{files}', "
                "hive_partitioning = false)"
            )
        ingest_seconds = time.perf_counter() - ingest_began
        sql_began = time.perf_counter()
        executed = 0
        for result in results:
            node = nodes[str(result["unique_id"])]
            code = str(result["compiled_code"])
            if node["resource_type"] == "model" and node.get("language") != "python":
                kind = "VIEW" if node["config"]["materialized"] == "view" else "TABLE"
                db.execute(f"CREATE OR REPLACE {kind} {result['relation_name']} AS {code}")
            elif node["resource_type"] == "model" and node.get("language") == "python":
                _run_python_model(db, str(result["relation_name"]), code)
            elif node["resource_type"] == "test":
                db.execute(f"SELECT count(*) FROM ({code}) AS failures").fetchall()
            executed += 1
        sql_seconds = time.perf_counter() - sql_began
    return {
        "seconds": time.perf_counter() - began,
        "ingest_seconds": ingest_seconds,
        "sql_seconds": sql_seconds,
        "statements": executed,
        "peak_mb_python": _peak_mb(resource.RUSAGE_SELF),
    }


def _run_python_model(db: duckdb.DuckDBPyConnection, relation: str, code: str) -> None:
    """A dbt-duckdb Python model: its compiled module defines model(dbt, session) and the dbt shim (dbtObj)."""
    namespace: dict[str, Any] = {}
    exec(compile(code, relation, "exec"), namespace)
    dbt = namespace["dbtObj"](lambda name: db.sql(f"SELECT * FROM {name}"))
    output = namespace["model"](dbt, db)
    db.register("python_model_output", output)
    db.execute(f"CREATE OR REPLACE TABLE {relation} AS SELECT * FROM python_model_output")
    db.unregister("python_model_output")


def _in_subprocess(*args: str) -> dict[str, Any]:
    """Run one step in a fresh process; its JSON result is kept in the data folder and reused if present."""
    saved = Path(args[1]) / f"step-{args[0]}.json"
    if saved.exists():
        return dict(json.loads(saved.read_text()))
    completed = subprocess.run([sys.executable, __file__, "_step", *args], capture_output=True, text=True, check=False)
    if completed.returncode:
        raise RuntimeError(f"step {args[0]} failed:\n{completed.stderr[-4000:]}")
    result = completed.stdout.strip().splitlines()[-1]
    saved.write_text(result)
    return dict(json.loads(result))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_step":
        name, data = argv[1], Path(argv[2])
        if name == "simulate":
            out: dict[str, object] = dict(step_simulate(data, int(argv[3]), int(argv[4])))
        elif name == "pipeline":
            out = step_pipeline(data)
        else:
            out = step_direct(data, argv[3])
        print(json.dumps(out))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--visitors", default="1000,5000,20000", help="comma-separated traffic levels")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("./individ-data/benchmarks/scale"))
    parser.add_argument("--reuse", action="store_true", help="keep finished steps of an earlier run in --work")
    args = parser.parse_args(argv)
    print(f"Dagster storage: {'postgres' if uses_postgres() else 'sqlite'}\n")
    print(
        "| visitors/h | occurrences | simulate s | pipeline s (dbt build s) | Dagster run s (ingestion + dbt step) "
        "| load before / after | pipeline peak RSS MB python / dbt | direct DuckDB s (ingest + SQL) "
        "| direct peak RSS MB | pipeline / direct |\n|" + "---|" * 10,
        flush=True,
    )
    for visitors in (int(v) for v in args.visitors.split(",")):
        data = (args.work / f"v{visitors}").resolve()
        if data.exists() and not args.reuse:
            subprocess.run(["rm", "-rf", str(data)], check=True)
        simulated = _in_subprocess("simulate", str(data), str(visitors), str(args.seed))
        piped = _in_subprocess("pipeline", str(data))
        _, _, dbt_seconds = _dbt_results(str(piped["run_id"]))
        direct = _in_subprocess("direct", str(data), str(piped["run_id"]))
        ratio = piped["seconds"] / direct["seconds"]
        run_steps = piped.get("run_steps", {})  # absent from a pipeline step saved by an older version (--reuse)
        load = piped.get("load", [float("nan")] * 2)
        print(
            f"| {visitors:,} | {simulated['occurrences']:,} | {simulated['seconds']:.1f} "
            f"| {piped['seconds']:.1f} ({dbt_seconds:.1f}) | {piped['run_seconds']:.1f} "
            f"({run_steps.get(INGESTION_STEP, float('nan')):.1f} + {run_steps.get(DBT_STEP, float('nan')):.1f}) "
            f"| {load[0]:.1f} / {load[1]:.1f} "
            f"| {piped['peak_mb_python']:.0f} / {piped['peak_mb_children']:.0f} "
            f"| {direct['seconds']:.1f} ({direct['ingest_seconds']:.1f} + {direct['sql_seconds']:.1f}) "
            f"| {direct['peak_mb_python']:.0f} | {ratio:.1f}x |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
