"""Model run folders for the analysis and report tests (what `examday simulate` writes, without the report)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARVED = ROOT / "tests" / "data" / "scenarios" / "starved-school.yaml"


def model_run(run_dir: Path, scenario: Path, overrides: list[str] | None = None) -> Path:
    """A finished model run folder of ``scenario`` (what `examday simulate` writes), without the report."""
    from simulator.model import simulate
    from simulator.plan import load_plan
    from simulator.results import planned_counts, update_manifest, write_manifest

    overrides = list(overrides or [])
    plan = load_plan(scenario, overrides)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_manifest(run_dir, scenario_path=str(scenario), scenario_name=plan.scenario, engine="model",
                   seed=plan.seed, overrides=overrides, t0_clock=plan.t0_clock, slo=plan.slo,
                   planned=planned_counts(plan), plan_digest=plan.digest)
    simulate(plan, run_dir)
    update_manifest(run_dir, status="finished")
    return run_dir


