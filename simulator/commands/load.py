"""``examday load SCENARIO``: replay the exam start with real traffic (Locust), see docs/live.md.

Exit codes: 0 every SLO holds, 1 an SLO is breached (or an acknowledged
autosave is missing from the store, or the duration cap cut the run), 2 bad
input or a failed run, 130 interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..telemetry import add_mqtt_options, check_mqtt_options, publishing
from . import add_run_options

HELP = "replay the exam start with real traffic (Locust)"
EXAMPLE = "examday load scenarios/ci-smoke.yaml --stack --headless"


def _duration(text: str) -> float:
    from ..units import UnitError, parse_duration
    try:
        return parse_duration(text)
    except UnitError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_options(p)
    p.add_argument("--stack", action="store_true",
                   help="start the reference stack for this run, provision the roster, point the targets at it")
    p.add_argument("--headless", action="store_true", help="no web UI (the default)")
    p.add_argument("--ui", action="store_true", help="serve Locust's web UI (stats) while the run lasts")
    p.add_argument("--ui-port", type=int, default=8089, help="web UI port (default 8089)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="Locust worker processes (default 1: one local process; N>1: a master and N local workers)")
    role = p.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true",
                      help="be the master for --workers N remote workers (started with --worker)")
    role.add_argument("--worker", action="store_true", help="be a worker of the master at --master-host")
    p.add_argument("--master-host", default="127.0.0.1", help="worker: the master's address (default 127.0.0.1)")
    p.add_argument("--master-bind-host", default=None,
                   help="master: listen address for workers (default 127.0.0.1; '*' with --master)")
    p.add_argument("--master-port", type=int, default=5557, help="master/worker port (default 5557; 0: any free port, local workers only)")
    p.add_argument("--i-own-these-targets", action="store_true",
                   help="allow non-loopback targets listed in targets.allowed_hosts")
    p.add_argument("--max-rps", type=float, default=None, metavar="R", help="global request-rate cap (requests/s)")
    p.add_argument("--max-duration", type=_duration, default=3600.0, metavar="D",
                   help="hard cap on the run's length, e.g. '10 min' (default 1 h)")
    p.add_argument("--grace", type=_duration, default=5.0, metavar="D",
                   help="after Ctrl-C/SIGTERM, how long in-flight requests may finish (default 5 s)")
    p.add_argument("--no-provision-load", action="store_true",
                   help="no EGIL pushes / SS 12000 pulls during the run")
    p.add_argument("--capture", action="store_true",
                   help="record the run's loopback traffic (its target ports) into RUN/capture.pcapng (dumpcap)")
    add_mqtt_options(p)


def _say(args, *lines: str) -> None:
    if not args.quiet:
        for line in lines:
            print(line, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from ..errors import UserError
    from ..live.config import LiveConfig
    from ..live.launch import run_locust

    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    check_mqtt_options(args)
    if args.worker:
        import tempfile
        cfg = LiveConfig(scenario=args.scenario, run_dir=args.out or tempfile.mkdtemp(prefix="examday-worker-"),
                         run="", targets={}, quiet=args.quiet)
        extra = ["--master-host", args.master_host, "--master-port", str(args.master_port), "--scenario",
                 args.scenario] + (["--out", args.out] if args.out else [])
        Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
        return run_locust(cfg, "worker", extra, quiet=args.quiet, stop_timeout=3600.0)
    return _run_load(args)


def _run_load(args) -> int:  # noqa: C901 - one linear story: plan, checks, stack, run, checks, report
    from ..errors import UserError
    from ..live import launch
    from ..live.config import LiveConfig
    from ..live.safety import check_targets
    from ..live.schedule import estimate
    from ..results import new_run_dir, update_manifest, write_manifest
    from ..plan import load_plan

    plan = load_plan(args.scenario, args.overrides, args.seed)
    sc = plan.loaded.scenario
    t = sc.targets
    targets = {"idp": t.idp, "platform": t.platform, "scim": t.scim, "ss12000": t.ss12000,
               "scim_token": t.scim_token, "allowed_hosts": list(t.allowed_hosts),
               "login_form": {"form": t.login_form.form, "username": t.login_form.username,
                              "password": t.login_form.password}}
    if not args.stack:
        external = check_targets(t, i_own_these_targets=args.i_own_these_targets)
        if external:
            _say(args, f"targets include hosts you confirmed you own: {', '.join(external)}")
    est = estimate(plan, provision_objects=0)
    _say(args, f"examday load {plan.scenario}: pre-flight", *("  " + line for line in est.lines()),
         f"  targets   {'reference stack (started for this run)' if args.stack else targets['platform']}",
         f"  caps      max {args.max_rps or 'unlimited'} req/s, max duration {args.max_duration:.0f} s")
    run_dir = new_run_dir(plan.scenario, "live", args.out)
    write_manifest(run_dir, scenario_path=args.scenario, scenario_name=plan.scenario, engine="live", seed=plan.seed,
                   overrides=list(args.overrides), slo=plan.slo, t0_clock=plan.t0_clock, plan_digest=plan.digest,
                   preflight=est.to_json(), workers=args.workers)
    stack_proc = urls = None
    try:
        if args.stack:
            _say(args, "starting the reference stack …")
            stack_proc, urls = launch.start_reference_stack(plan, run_dir)
            targets.update(idp=urls.idp_url, platform=urls.platform_url, scim=urls.scim_url,
                           ss12000=urls.ss12000_url, scim_token=urls.scim_token)
            check_targets(targets, i_own_these_targets=False, where="stack")
            pushed = launch.provision_roster(plan, urls.scim_url, urls.scim_token)
            if pushed.failed:
                f = pushed.failed[0]
                raise UserError(f"provisioning failed for {len(pushed.failed)} objects, e.g. {f.endpoint}/{f.id}: "
                                f"http {f.status} {f.error}")
            _say(args, f"stack at {urls.base}; provisioned {len(pushed.outcomes)} objects "
                       f"({pushed.created} created, {pushed.replaced} replaced)")
        master = args.workers > 1 or args.master
        if args.master_port == 0:
            import socket
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                args.master_port = sock.getsockname()[1]
        cfg = LiveConfig(scenario=str(Path(args.scenario).resolve()), run_dir=str(run_dir.resolve()),
                         run=run_dir.name, targets=targets, digest=plan.digest, overrides=list(args.overrides),
                         seed=args.seed, workers=args.workers, local_workers=not args.master,
                         master_bind_host=args.master_bind_host or ("*" if args.master else "127.0.0.1"),
                         master_port=args.master_port, ui=args.ui and not args.headless, ui_port=args.ui_port,
                         max_rps=args.max_rps, max_duration=args.max_duration, grace_s=args.grace,
                         provision_load=not args.no_provision_load, quiet=args.quiet)
        _say(args, f"running {plan.scenario}: {est.devices} devices"
                   + (f" on {args.workers} workers" if master else "") + f" -> {run_dir}")
        if cfg.ui:
            _say(args, f"Locust web UI: http://{cfg.ui_host}:{cfg.ui_port}")
        from ..packets.capture import capture_run
        with capture_run(args.capture, run_dir, [targets[k] for k in ("idp", "platform", "scim", "ss12000")]), \
                publishing(args.mqtt, run_dir, plan, engine="live", ap_filter=args.ap_telemetry):
            code = launch.run_locust(cfg, "master" if master else "local", quiet=True)
        interrupted = bool(launch.signals_received) or code == 130
        result = launch.read_result(run_dir) or {"status": "failed",
                                                  "reason": f"the Locust process exited {code} without a result"}
        checks = None
        if args.stack and urls is not None:
            checks = launch.store_check(run_dir, Path(urls.data_dir))
    finally:
        if stack_proc is not None:
            from ..stack.process import stop_stack
            stop_stack(stack_proc)
    status = "interrupted" if interrupted else ("failed" if result.get("status") == "failed" else "finished")
    gen = result.get("generator") or {"saturated": False, "max_cpu": 0.0}
    update_manifest(run_dir, status=status, generator={"saturated": bool(gen.get("saturated")),
                                                       "max_cpu": float(gen.get("max_cpu", 0.0)),
                                                       "workers": gen.get("workers", {})},
                    checks=checks, live={k: result.get(k) for k in ("status", "reason", "devices", "devices_started",
                                                                     "devices_done", "rows", "capped",
                                                                     "autosaves_acknowledged", "t0_epoch",
                                                                     "lost_workers")})
    from ..report import write_report

    rep = write_report(run_dir)
    lost = checks is not None and checks["autosaves_stored"] < checks["autosaves_acknowledged"]
    if args.json:
        print(json.dumps({"run_dir": str(run_dir), "status": status, "result": {k: v for k, v in result.items()
                                                                                  if k != "locust_stats"},
                          "checks": checks, "summary": rep.summary}, indent=2, default=float))
    else:
        lines = [rep.verdict_line]
        lines += [f"  {'ok  ' if v.ok else 'FAIL'} {v.message}" for v in rep.analysis.verdicts]
        lines += [f"  - {n}" for n in rep.analysis.notes]
        lines.append(f"  devices: {result.get('devices_done', 0)} of {result.get('devices', 0)} walked; "
                     f"trace rows: {result.get('rows', 0)}")
        if gen.get("saturated"):
            lines.append(f"  WARNING: load generator saturated (max CPU {gen.get('max_cpu', 0):.0%}): "
                         "server times are overstated; add workers")
        if checks is not None:
            lines.append(f"  autosaves: {checks['autosaves_stored']} of {checks['autosaves_acknowledged']} "
                         "acknowledged are in the platform's store" + (" — MISSING: " + ", ".join(checks['missing'])
                                                                       if lost else ""))
        if result.get("reason"):
            lines.append(f"  {status}: {result['reason']}")
        if result.get("capped"):
            lines.append(f"  the run hit --max-duration ({args.max_duration:.0f} s)")
        lines.append(f"report: {rep.html_path}")
        _say(args, *lines)
        print(run_dir)  # stdout: the run folder, as `simulate` prints it
    if interrupted:
        return 130
    if status == "failed":
        return 2
    if lost or result.get("capped"):
        return max(1, rep.exit_code)
    return rep.exit_code
