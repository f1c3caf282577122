"""``examday load SCENARIO``: replay the exam start with real traffic (Locust), see docs/live.md.

Exit codes: 0 every SLO holds, 1 an SLO is breached (or an acknowledged
autosave is missing from the store, or the duration cap cut the run), 2 bad
input or a failed run, 130 interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Callable, ContextManager

from ..telemetry import add_mqtt_options, check_mqtt_options
from . import add_run_options, duration_arg

HELP = "replay the exam start with real traffic (Locust)"
EXAMPLE = "examday load scenarios/ci-smoke.yaml --stack --headless"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_options(p)
    p.add_argument("--stack", action="store_true",
                   help="start the reference stack for this run, provision the roster, point the targets at it")
    p.add_argument("--gateway", action="store_true",
                   help="with --stack: run its access-gateway role, so sign-ins take the two-hop DNP chain")
    p.add_argument("--headless", action="store_true", help="no web UI (the default)")
    p.add_argument("--ui", action="store_true", help="serve Locust's web UI (stats) on loopback while the run lasts")
    p.add_argument("--ui-port", type=int, default=8089, help="web UI port (default 8089)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="Locust worker processes (default 1: one local process; N>1: a master and N local workers)")
    role = p.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true",
                      help="be the master for --workers N remote workers (started with --worker)")
    role.add_argument("--worker", action="store_true",
                      help="be a worker of the master at --master-host (reads SCENARIO itself: its own targets)")
    p.add_argument("--master-host", default="127.0.0.1", help="worker: the master's address (default 127.0.0.1)")
    p.add_argument("--master-bind-host", default=None,
                   help="master: listen address for workers (default 127.0.0.1; '*' with --master)")
    p.add_argument("--master-port", type=int, default=5557,
                   help="master/worker port (default 5557; 0: any free port, local workers only)")
    p.add_argument("--i-own-these-targets", action="store_true",
                   help="allow non-loopback targets listed in targets.allowed_hosts")
    p.add_argument("--max-rps", type=float, default=None, metavar="R", help="global request-rate cap (requests/s)")
    p.add_argument("--max-duration", type=duration_arg, default=3600.0, metavar="D",
                   help="hard cap on the run's length, e.g. '10 min' (default 1 h)")
    p.add_argument("--grace", type=duration_arg, default=5.0, metavar="D",
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


def check_arguments(args: argparse.Namespace) -> None:
    """Bad arguments are one-line errors (exit 2) before anything is started or written."""
    from ..errors import UserError

    if args.workers < 1:
        raise UserError("--workers must be at least 1")
    if args.gateway and not args.stack:
        raise UserError("--gateway needs --stack (it is a role of the reference stack)")
    if args.seed is not None and args.seed < 0:
        raise UserError(f"--seed {args.seed}: a seed is 0 or more")
    if not 1 <= args.ui_port <= 65535:
        raise UserError(f"--ui-port {args.ui_port}: a port is 1-65535")
    if not (0 if not (args.worker or args.master) else 1) <= args.master_port <= 65535:
        raise UserError(f"--master-port {args.master_port}: a port is 1-65535"
                        + ("" if args.worker or args.master else " (or 0: any free port)"))
    if args.max_rps is not None and args.max_rps <= 0:
        raise UserError(f"--max-rps {args.max_rps:g}: must be above 0")
    if args.max_duration <= 0:
        raise UserError("--max-duration must be above 0")
    if args.out is not None:
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise UserError(f"-o {args.out}: exists and is not a folder")
        if out.is_dir() and any(out.glob("steps-*.csv.gz")):
            raise UserError(f"-o {args.out}: already holds a run's trace; give a new folder")
        parent = next((p for p in (out, *out.parents) if p.exists()), Path("."))
        if not parent.is_dir():
            raise UserError(f"-o {args.out}: {parent} is not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(f"-o {args.out}: {parent} is not writable")
    check_mqtt_options(args)


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    if args.worker:
        return run_worker(args)
    return LiveRun(args).execute()


def run_worker(args: argparse.Namespace) -> int:
    """``--worker``: this machine's own plan, targets and pinned addresses; the master only says go."""
    import tempfile

    from ..live import launch
    from ..live.config import LiveConfig
    from ..live.safety import EgressPolicy, check_targets
    from ..plan import load_plan

    plan = load_plan(args.scenario, args.overrides, args.seed)
    t = plan.loaded.scenario.targets
    check_targets(t, i_own_these_targets=args.i_own_these_targets)
    out = Path(args.out or tempfile.mkdtemp(prefix="examday-worker-"))
    out.mkdir(parents=True, exist_ok=True)
    cfg = LiveConfig(scenario=str(Path(args.scenario).resolve()), run_dir=str(out.resolve()), run="",
                     targets=_targets(t), digest=plan.digest, overrides=list(args.overrides), seed=args.seed,
                     egress=EgressPolicy.pin(t, i_own_these_targets=args.i_own_these_targets).to_dict(),
                     quiet=args.quiet)
    with launch.Signals() as signals:
        done = launch.run_locust(cfg, "worker", signals, stop_timeout=3600.0,
                                 extra=["--master-host", args.master_host, "--master-port", str(args.master_port)])
    if done.code == 2:
        _say(args, f"worker: refused or failed; see {out / 'locust.log'}")
    return done.code


def _targets(t) -> dict:
    return {"idp": str(t.idp), "platform": str(t.platform), "scim": str(t.scim), "ss12000": str(t.ss12000),
            "scim_token": t.scim_token, "allowed_hosts": list(t.allowed_hosts),
            "login_form": {"form": t.login_form.form, "username": t.login_form.username,
                           "password": t.login_form.password}}


def _capture(live: "LiveRun") -> ContextManager:
    """``--capture``: dumpcap on the run's target ports around the run phase (issue 13)."""
    from ..packets.capture import capture_run
    return capture_run(live.args.capture, live.run_dir, [live.targets[k] for k in ("idp", "platform", "scim", "ss12000")])


def _telemetry(live: "LiveRun") -> ContextManager:
    """``--mqtt`` / ``--ap-telemetry``: the run on the MQTT bus (issue 14)."""
    from ..telemetry.session import around_live_run
    return around_live_run(live)


class LiveRun:
    """One live run: ``preflight`` → ``start_stack`` → ``provision`` → ``run`` → ``verify``, then ``finish``.

    Every phase may be interrupted (SIGINT/SIGTERM) or fail; ``finish`` always
    writes an honest manifest status (running → finished | capped |
    interrupted | failed), the planned and walked device counts and the
    report of whatever was done. ``around_run`` holds context-manager
    factories entered around the run phase (``--capture``, ``--mqtt`` hooks):
    ``run.around_run.append(lambda live: my_context(live.run_dir, live.plan))``.
    """

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.around_run: list[Callable[["LiveRun"], ContextManager]] = [_capture, _telemetry]
        self.stack_proc = self.urls = None
        self.result: dict = {}
        self.checks: dict | None = None
        self.status, self.reason, self.phase = "running", "", "preflight"
        self.signals = None

    # ------------------------------------------------------------ phases
    def preflight(self) -> None:
        """Plan, target checks, pinned addresses and the pre-flight summary; then the run folder."""
        from ..live.safety import check_targets
        from ..live.schedule import estimate
        from ..plan import load_plan
        from ..results import new_run_dir, planned_counts, write_manifest

        args = self.args
        self.plan = plan = load_plan(args.scenario, args.overrides, args.seed)
        t = plan.loaded.scenario.targets
        self.targets = _targets(t)
        if not args.stack:
            external = check_targets(t, i_own_these_targets=args.i_own_these_targets)
            if external:
                _say(args, f"targets include hosts you confirmed you own: {', '.join(external)}")
        self.estimate = est = estimate(plan, provision_objects=0)
        self.planned = sum(1 for _ in plan.devices)
        _say(args, f"examday load {plan.scenario}: pre-flight", *("  " + line for line in est.lines()),
             f"  targets   {'reference stack (started for this run)' if args.stack else self.targets['platform']}",
             f"  caps      max {args.max_rps or 'unlimited'} req/s, max duration {args.max_duration:.0f} s")
        try:
            self.run_dir = new_run_dir(plan.scenario, "live", args.out)
        except OSError as err:
            from ..errors import UserError
            raise UserError(f"-o {args.out}: cannot create the run folder ({err.strerror})") from None
        write_manifest(self.run_dir, scenario_path=args.scenario, scenario_name=plan.scenario, engine="live",
                       seed=plan.seed, overrides=list(args.overrides), slo=plan.slo, t0_clock=plan.t0_clock,
                       plan_digest=plan.digest, preflight=est.to_json(), workers=args.workers,
                       planned=planned_counts(plan), devices_planned=self.planned, devices_walked=0)

    def start_stack(self) -> None:
        from ..live import launch
        from ..live.safety import check_targets

        if not self.args.stack:
            return
        self.phase = "stack start"
        _say(self.args, "starting the reference stack …")
        self.stack_proc, urls = launch.start_reference_stack(self.plan, self.run_dir, gateway=self.args.gateway)
        self.urls = urls
        self.targets.update(idp=urls.idp_url, platform=urls.platform_url, scim=urls.scim_url,
                            ss12000=urls.ss12000_url, scim_token=urls.scim_token)
        check_targets(self.targets, i_own_these_targets=False, where="stack")

    def provision(self) -> None:
        from ..errors import UserError
        from ..live import launch

        if self.urls is None:
            return
        self.phase = "provisioning"
        pushed = launch.provision_roster(self.plan, self.urls.scim_url, self.urls.scim_token)
        if pushed.failed:
            f = pushed.failed[0]
            raise UserError(f"provisioning failed for {len(pushed.failed)} objects, e.g. {f.endpoint}/{f.id}: "
                            f"http {f.status} {f.error}")
        _say(self.args, f"stack at {self.urls.base}; provisioned {len(pushed.outcomes)} objects "
                        f"({pushed.created} created, {pushed.replaced} replaced)")

    def config(self):
        from ..live.config import LiveConfig
        from ..live.safety import EgressPolicy

        args = self.args
        if args.master_port == 0:
            from ..stack.process import free_port
            args.master_port = free_port()
        own = args.i_own_these_targets and not args.stack
        return LiveConfig(scenario=str(Path(args.scenario).resolve()), run_dir=str(self.run_dir.resolve()),
                          run=self.run_dir.name, targets=self.targets, digest=self.plan.digest,
                          egress=EgressPolicy.pin(self.targets, i_own_these_targets=own).to_dict(),
                          overrides=list(args.overrides), seed=args.seed, workers=args.workers,
                          local_workers=not args.master,
                          master_bind_host=args.master_bind_host or ("*" if args.master else "127.0.0.1"),
                          master_port=args.master_port, ui=args.ui and not args.headless, ui_port=args.ui_port,
                          max_rps=args.max_rps, max_duration=args.max_duration, grace_s=args.grace,
                          provision_load=not args.no_provision_load, quiet=args.quiet)

    def run(self) -> None:
        from ..live import launch
        from ..live.progress import Progress

        args = self.args
        self.phase = "run"
        cfg = self.config()
        master = args.workers > 1 or args.master
        _say(args, f"running {self.plan.scenario}: {self.estimate.devices} devices"
                   + (f" on {args.workers} workers" if master else "") + f" -> {self.run_dir}")
        if cfg.ui:
            _say(args, f"Locust web UI: http://{cfg.ui_host}:{cfg.ui_port}")
        progress = Progress(self.run_dir, self.planned, enabled=not args.quiet and sys.stderr.isatty())
        watch = ((self.stack_proc, "the reference stack"),) if self.stack_proc is not None else ()
        with contextlib.ExitStack() as hooks:
            for hook in self.around_run:
                hooks.enter_context(hook(self))
            done = launch.run_locust(cfg, "master" if master else "local", self.signals, watch=watch,
                                     progress=progress.show)
        progress.end()
        self.result = launch.read_result(self.run_dir) or {
            "status": "failed", "reason": f"the Locust process exited {done.code} without a result"}
        if done.lost:
            self.status, self.reason = "failed", done.lost
        elif self.signals.received or done.code == 130:
            self.status = "interrupted"
        elif self.result.get("status") == "failed":
            self.status = "failed"
        else:
            self.status = "capped" if self.result.get("capped") else "finished"
        self.reason = self.reason or self.result.get("reason", "")

    def verify(self) -> None:
        from ..live import launch

        if self.urls is not None and self.stack_proc.poll() is None:
            self.phase = "verify"
            self.checks = launch.store_check(self.run_dir, self.urls.platform_url, self.urls.scim_token)

    def stop_stack(self) -> None:
        if self.stack_proc is not None:
            from ..stack.process import stop_stack
            stop_stack(self.stack_proc)

    # ------------------------------------------------------------ the whole run
    def execute(self) -> int:
        from ..errors import UserError
        from ..live import launch

        self.preflight()  # bad input: exit 2 before any process or folder
        failure = None
        with launch.Signals() as self.signals:
            try:
                self.start_stack()
                self.provision()
                self.run()
                self.verify()
            except launch.Interrupted as sig:
                self.status, self.reason = "interrupted", f"{sig} during {self.phase}"
            except UserError as err:
                self.status, self.reason, failure = "failed", "; ".join(err.lines), err
            except (RuntimeError, TimeoutError, OSError) as err:
                self.status, self.reason = "failed", f"{self.phase}: {err}"
            finally:
                self.signals.armed = False
                self.stop_stack()
            code = self.finish()
        if failure is not None:
            raise failure
        return code

    def finish(self) -> int:
        from ..report import write_report
        from ..results import update_manifest

        args, result = self.args, self.result
        gen = result.get("generator") or {"saturated": False, "max_cpu": 0.0}
        walked = int(result.get("devices_done", 0))
        update_manifest(self.run_dir, status=self.status, reason=self.reason, devices_planned=self.planned,
                        devices_walked=walked,
                        generator={"saturated": bool(gen.get("saturated")), "max_cpu": float(gen.get("max_cpu", 0.0)),
                                   "workers": gen.get("workers", {})},
                        checks=self.checks, live={k: result.get(k) for k in (
                            "status", "reason", "devices", "devices_started", "devices_done", "rows", "capped",
                            "autosaves_acknowledged", "t0_epoch", "lost_workers")})
        rep = write_report(self.run_dir)
        checks = self.checks
        lost = checks is not None and checks["autosaves_stored"] < checks["autosaves_acknowledged"]
        if args.json:
            print(json.dumps({"run_dir": str(self.run_dir), "status": self.status, "reason": self.reason,
                              "devices_planned": self.planned, "devices_walked": walked,
                              "result": {k: v for k, v in result.items() if k != "locust_stats"},
                              "checks": checks, "summary": rep.summary}, indent=2, default=float))
        else:
            lines = [rep.verdict_line]
            lines += [f"  {'ok  ' if v.ok else 'FAIL'} {v.message}" for v in rep.analysis.verdicts]
            lines += [f"  - {n}" for n in rep.analysis.notes]
            lines.append(f"  devices: {walked} of {self.planned} walked; trace rows: {result.get('rows', 0)}")
            if gen.get("saturated"):
                lines.append(f"  WARNING: load generator saturated (max CPU {gen.get('max_cpu', 0):.0%}): "
                             "server times are overstated; add workers")
            if checks is not None:
                lines.append(f"  autosaves: {checks['autosaves_stored']} of {checks['autosaves_acknowledged']} "
                             "acknowledged are in the platform's store"
                             + (" — MISSING: " + ", ".join(checks['missing']) if lost else ""))
            if self.status != "finished":
                lines.append(f"  {self.status}" + (f": {self.reason}" if self.reason else ""))
            if self.status == "capped":
                lines.append(f"  the run hit --max-duration ({args.max_duration:.0f} s)")
            lines.append(f"report: {rep.html_path}")
            _say(args, *lines)
            print(self.run_dir)  # stdout: the run folder, as `simulate` prints it
        if self.status == "interrupted":
            return 130
        if self.status == "failed":
            return 2
        if lost or self.status == "capped":
            return max(1, rep.exit_code)
        return rep.exit_code
