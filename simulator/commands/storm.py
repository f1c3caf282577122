"""``examday storm SCENARIO``: the plan's devices join a real DHCP server (scapy), as a run folder.

By default the storm builds its own lab (two network namespaces, a veth pair
per site, dnsmasq inside with each site's ``dhcp_pool`` and ``dhcp_lease``)
so nothing leaves the machine; needs root (CAP_NET_ADMIN). ``--interface
IFACE`` storms a real network instead: IFACE must be listed in
``targets.interfaces`` and ``--i-own-these-targets`` given. The run folder
(engine ``packets``) holds the trace (``join`` and ``dns`` rows), the
exchanges (``exchanges.jsonl``), dnsmasq's log, then the report. See
docs/packets.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import UserError
from . import add_run_options, duration_arg

HELP = "the plan's devices join a real DHCP server (scapy over one layer-2 socket)"
EXAMPLE = "examday storm scenarios/ci-smoke.yaml --max-duration 2min"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_run_options(p)
    p.add_argument("--interface", default=None, metavar="IFACE",
                   help="storm this real interface (must be in targets.interfaces; needs --i-own-these-targets) "
                        "instead of a private namespace lab")
    p.add_argument("--i-own-these-targets", action="store_true",
                   help="confirm the --interface network is yours to load")
    p.add_argument("--max-pps", type=float, default=None, metavar="R", help="cap on frames sent per second")
    p.add_argument("--max-duration", type=duration_arg, default=600.0, metavar="D",
                   help="hard cap on the storm's length, e.g. '2 min' (default 10 min)")
    p.add_argument("--give-up", type=duration_arg, default=60.0, metavar="D",
                   help="a client stops retransmitting after this long without an answer (default 60 s, "
                        "dhclient's timeout)")
    p.add_argument("--no-dns", action="store_true", help="do not look up the platform's names after the lease")
    p.add_argument("--no-report", action="store_true", help="write the run folder only (run `examday report` later)")
    p.add_argument("--server-delay", type=int, default=0, metavar="S",
                   help="lab only: dnsmasq waits S whole seconds before each OFFER (--dhcp-reply-delay)")


def _check_interface(args, targets) -> None:
    """A real interface is stormed only when the scenario names it and the operator owns it (exit 2)."""
    if args.interface is None:
        return
    if args.interface not in targets.interfaces:
        listed = ", ".join(targets.interfaces) or "none"
        raise UserError(f"storm: --interface {args.interface}: not in targets.interfaces (listed: {listed}); "
                        "a storm only sends on interfaces the scenario names")
    if not args.i_own_these_targets:
        raise UserError(f"storm: refusing to send DHCP on real interface {args.interface} without "
                        "--i-own-these-targets; pass it only for networks you own or may test")
    if not Path("/sys/class/net", args.interface).exists():
        raise UserError(f"storm: --interface {args.interface}: no such network interface")


def _names(plan) -> tuple[str, ...]:
    """The platform's names a device looks up: target host names, or <role>.<domain> for IP targets."""
    import ipaddress
    import urllib.parse

    sc = plan.loaded.scenario
    out = []
    for role in ("platform", "idp"):
        host = urllib.parse.urlsplit(getattr(sc.targets, role)).hostname or ""
        try:
            ipaddress.ip_address(host)
            host = f"{role}.{sc.domain}"
        except ValueError:
            pass
        if host not in out:
            out.append(host)
    return tuple(out)


def storm_config(plan, run_dir: Path, links: list, args):
    """The plan's devices as storm clients: MAC, xid, planned wake, the profile's DHCP timers (seeded)."""
    import numpy as np

    from ..packets.storm import StormConfig, StormDevice, mac_for

    rng = np.random.default_rng([plan.seed, 2131])
    site_link = {s.name: i for i, s in enumerate(plan.loaded.scenario.sites)} if len(links) > 1 else {}
    devices = []
    xids = rng.integers(1, 2 ** 32 - 1, size=len(plan.devices))
    for i, d in enumerate(plan.devices):
        p = plan.device_profiles[d.kind]
        dh = p.dhcp
        devices.append(StormDevice(
            device=d.id, kind="teacher" if d.role == "teacher" else d.kind, site=d.site, room=d.room.name,
            ap=d.room.id, link=site_link.get(d.site, 0), mac=mac_for(i), xid=int(xids[i]), wake_s=d.start_s,
            association_s=p.association, initial_wait_s=float(rng.uniform(dh.initial_wait_min, dh.initial_wait_max)),
            retransmit_s=dh.retransmit, max_retransmit_s=dh.max_retransmit))
    return StormConfig(run=run_dir.name, run_dir=str(run_dir.resolve()), seed=plan.seed, links=tuple(links),
                       devices=tuple(devices), names=() if args.no_dns else _names(plan), give_up_s=args.give_up,
                       max_pps=args.max_pps, max_duration_s=args.max_duration)


def _join_slos(slo: dict) -> dict:
    """The scenario's SLOs a join-only run can answer: join_* and the error rates (not ready/login/…)."""
    return {k: v for k, v in slo.items() if k.startswith(("join_", "dns_")) or k == "error_rate"}


def _raise_interrupt(*_):
    raise KeyboardInterrupt


def run(args) -> int:
    from ..packets.dnsmasq import Pool
    from ..packets.lab import need_root
    from ..plan import load_plan
    from ..results import new_run_dir, update_manifest, write_manifest

    plan = load_plan(args.scenario, args.overrides, args.seed)
    sc = plan.loaded.scenario
    _check_interface(args, sc.targets)
    if args.interface is None:
        need_root("storm")
    if args.max_pps is not None and args.max_pps <= 0:
        raise UserError("storm: --max-pps must be positive")
    counts = {s.name: 0 for s in sc.sites}
    for d in plan.devices:
        counts[d.site] += 1
    pools = [Pool(s.dhcp_pool or max(16, 2 * counts[s.name]), s.dhcp_lease) for s in sc.sites]
    run_dir = new_run_dir(plan.scenario, "packets", args.out)
    write_manifest(run_dir, scenario_path=args.scenario, scenario_name=plan.scenario, engine="packets",
                   seed=plan.seed, overrides=list(args.overrides), slo=_join_slos(plan.slo), t0_clock=plan.t0_clock,
                   plan_digest=plan.digest, devices=len(plan.devices))
    old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    status, info = "failed", {}
    try:
        _storm(plan, run_dir, pools, args)
        res_path = run_dir / "storm-result.json"
        info = json.loads(res_path.read_text()) if res_path.exists() else {}
        status = info.get("status", "failed")
    except KeyboardInterrupt:
        res_path = run_dir / "storm-result.json"
        info = json.loads(res_path.read_text()) if res_path.exists() else {}
        update_manifest(run_dir, status="interrupted", packets=info, t0_epoch=info.get("t0_epoch"))
        raise
    except BaseException:
        update_manifest(run_dir, status="failed")
        raise
    finally:
        signal.signal(signal.SIGTERM, old_term)
    update_manifest(run_dir, status=status, packets=info, t0_epoch=info.get("t0_epoch"),
                    server={"kind": "dnsmasq" if args.interface is None else "external",
                            "pools": [p.size for p in pools], "lease_s": [p.lease_s for p in pools],
                            "reply_delay_s": args.server_delay})
    code = 2 if status == "failed" else 0
    verdict = "report not written (--no-report)"
    if not args.no_report:
        from ..report import write_report

        rep = write_report(run_dir)
        code, verdict = (code or int(rep.exit_code)), rep.verdict_line
    if status == "capped":
        code = max(1, code)
    if args.json:
        print(json.dumps({"run_dir": str(run_dir), "status": status, "storm": info, "exit_code": code}))
    else:
        if not args.quiet:
            print(f"{verdict}\n  joined {info.get('joined', 0)}, failed {info.get('failed', 0)}, "
                  f"unfinished {info.get('unfinished', 0)} of {len(plan.devices)}; "
                  f"{info.get('sent', 0)} frames sent, {info.get('received', 0)} answers"
                  + "".join(f"\n  {n}× {e}" for e, n in info.get("errors", {}).items()), file=sys.stderr)
        print(run_dir)
    return code


def _storm(plan, run_dir: Path, pools: list, args) -> None:
    """Lab and dnsmasq (unless --interface), then the client process; everything torn down on the way out."""
    import contextlib

    from ..packets.dnsmasq import DhcpServer, die_with_parent
    from ..packets.lab import Lab
    from ..packets.storm import StormLink

    with contextlib.ExitStack() as stack:
        prefix, where = [], f"interface {args.interface}"
        links = [StormLink("*", args.interface)]
        if args.interface is None:
            lab = stack.enter_context(Lab([s.name for s in plan.loaded.scenario.sites]))
            names = {n: lab.links[0].server_ip for n in (() if args.no_dns else _names(plan))}
            server = stack.enter_context(DhcpServer(lab, pools, run_dir / "server", names, args.server_delay))
            links = [StormLink(link.site, link.client_if) for link in lab.links]
            prefix = lab.exec_prefix(lab.client_ns)
            where = f"lab {lab.tag} ({server.version}, pools {', '.join(str(p.size) for p in pools)})"
        cfg = storm_config(plan, run_dir, links, args)
        if not args.quiet:
            print(f"storm {plan.scenario}: {len(cfg.devices)} devices on {where} -> {run_dir}", file=sys.stderr,
                  flush=True)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="examday-storm-")))
        (tmp / "storm.json").write_text(cfg.to_json())
        child = subprocess.Popen(prefix + [sys.executable, "-m", "simulator.packets.storm", str(tmp / "storm.json")],
                                 start_new_session=True, preexec_fn=die_with_parent)
        try:
            child.wait(timeout=args.max_duration + 60)
        except KeyboardInterrupt:
            child.send_signal(signal.SIGTERM)  # the client writes honest rows for the unfinished
            child.wait(timeout=10)
            raise
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
