"""``examday simulate SCENARIO``: predict the exam start with the model engine and write a run folder.

The run folder (``results/<scenario>-model-<UTC time>/``) gets ``manifest.json``,
the trace (``steps.csv.gz``, ``resources.csv.gz``), then the report
(``simulator.report.write_report``: summary.json, plots, report.html,
junit.xml); the exit code is the report's SLO verdict.
"""

from __future__ import annotations

import gc
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError
from ..plan import load_plan
from ..units import UnitError, parse_duration
from ..telemetry import add_mqtt_options, check_mqtt_options
from . import add_run_options

HELP = "predict the exam start with the model engine"
EXAMPLE = "examday simulate scenarios/school-ak9.yaml --set 'sites[0].uplink.down=50 Mbit/s' --until 30min"


def add_arguments(p) -> None:
    add_run_options(p)
    p.add_argument("--until", default=None, metavar="DURATION",
                   help="stop the simulation this long after the exam start, e.g. '30min'")
    p.add_argument("--recommend", action="store_true",
                   help="when an SLO breaches, search the model for the uplink, APs, workers or arrival spread "
                        "that make it hold (per breaching site and city-wide) and add it to the report")
    add_mqtt_options(p, ap=False, speed=True)


def _until(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except UnitError as e:
        raise UserError(f"--until: {e}") from None


def run(args) -> int:
    from ..trace import retained

    with retained():  # the report reads back the trace just written: from memory, not by inflating it
        return _run(args)


def _run(args) -> int:
    from ..model import simulate
    from ..results import new_run_dir, planned_counts, update_manifest, write_manifest

    until = _until(args.until)
    if args.mqtt or args.speed != 1.0:  # the check imports the MQTT client side (ssl): only when asked for
        check_mqtt_options(args)
    plan = load_plan(args.scenario, args.overrides, args.seed)
    for w in plan.loaded.warnings:
        print(f"warning: {w}", file=sys.stderr)
    run_dir = new_run_dir(plan.scenario, "model", args.out)
    write_manifest(run_dir, scenario_path=args.scenario, scenario_name=plan.scenario, engine="model",
                   seed=plan.seed, overrides=list(args.overrides), t0_clock=plan.t0_clock, slo=plan.slo,
                   until_s=until, devices=len(plan.devices), planned=planned_counts(plan), plan_digest=plan.digest)
    try:
        if args.quiet or args.json:
            result = simulate(plan, run_dir, until_s=until)
        else:
            result = _with_progress(simulate, plan, run_dir, until)
    except KeyboardInterrupt:
        update_manifest(run_dir, status="interrupted")
        raise
    except Exception:
        update_manifest(run_dir, status="failed")
        raise
    update_manifest(run_dir, status="finished", model={
        "events": result.events, "wall_s": round(result.wall_s, 3), "flow_recomputes": result.flow_recomputes,
        "sample_interval_s": result.sample_interval_s, "autosave_detail": result.autosave_detail,
        "sim_end_s": result.sim_end_s})
    if args.mqtt:  # issue 14: replay the model's timeline on the bus (real time or --speed N)
        from ..telemetry.session import publish_model_run

        gc.enable()  # the replay runs an event loop for as long as the exam (``cli.COLLECTOR_OFF``): collect cycles
        publish_model_run(args.mqtt, run_dir, plan, args.speed)
    code = _report(run_dir, args)
    if args.json:
        print(json.dumps({"run_dir": str(run_dir), "exit_code": code, "devices": result.devices,
                          "events": result.events, "wall_s": round(result.wall_s, 3)}))
    else:
        print(run_dir)
    return code


def _with_progress(simulate, plan, run_dir, until):
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("simulating {task.description}"), BarColumn(),
                  TextColumn("{task.completed:.0f}/{task.total:.0f} s simulated"), TimeElapsedColumn(),
                  transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task(plan.scenario, total=1.0)

        def progress(done: float, total: float) -> None:
            bar.update(task, completed=done, total=total)

        return simulate(plan, run_dir, until_s=until, progress=progress)


@contextmanager
def _frozen():
    """Keep the cyclic collector off what is alive after the simulation (the 21k-device plan, the result).

    The report's imports (numpy's and matplotlib's modules, the analysis) and its short-lived objects
    otherwise trigger full collections that rescan all of it: ~0.35 s in importing ``simulator.report``
    alone after malmo-worst-case (``python -X importtime``). Undone on exit (``gc.unfreeze``), so a caller
    in the same process (tests) gets its collector back; ``report.write_report`` freezes the same way.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _report(run_dir: Path, args) -> int:
    with _frozen():
        return _report_frozen(run_dir, args)


def _report_frozen(run_dir: Path, args) -> int:
    from ..report import write_report

    result = write_report(run_dir)
    if args.recommend and not result.analysis.slo_ok and result.analysis.complete:
        from ..analysis.advice import write_recommendations
        from ..capacity import recommend

        write_recommendations(run_dir, recommend(result.analysis, quiet=args.quiet or args.json))
        result = write_report(run_dir)
    if not (args.quiet or args.json):
        print(result.verdict_line, file=sys.stderr)
    return int(result.exit_code)
