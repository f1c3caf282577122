"""``examday report RUN_DIR``: analyse a run folder and write summary.json, plots, report.html, junit.xml."""

from __future__ import annotations

import argparse
import json

from ..analysis.slo import parse_override
from ..errors import UserError

HELP = "analyse a run folder: summary, plots, HTML, JUnit"
EXAMPLE = "examday report results/school-ak9-model-20260301T080000Z --slo 'ready_p95=3 min' --slo 'ready_by_0905=95 %'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (results/<scenario>-<engine>-<time>/)")
    parser.add_argument("--slo", action="append", default=[], metavar="NAME=VALUE",
                        help="override an SLO threshold, with its unit: 'ready_p95=3 min', 'login_p99=10 s', "
                             "'error_rate=0.5 %%', 'ready_by_0905=95 %%' (repeatable)")
    parser.add_argument("-o", "--out", default=None, metavar="DIR",
                        help="write the report there instead of into RUN_DIR")
    parser.add_argument("--recommend", action="store_true",
                        help="model runs: search the model for what would make breached SLOs hold (needs the "
                             "scenario file named in the manifest)")
    parser.add_argument("--json", action="store_true", help="print summary.json to stdout")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing; the exit code says it all")


def run(args: argparse.Namespace) -> int:
    overrides = dict(parse_override(s) for s in args.slo)  # UserError on bad input -> exit 2
    from ..report import write_report

    result = write_report(args.run_dir, overrides, args.out)
    if args.recommend and not result.analysis.slo_ok and result.analysis.complete:
        from ..analysis.advice import write_recommendations
        from ..capacity import recommend

        if result.analysis.info.engine != "model":
            raise UserError("--recommend searches the model: use it on a model run (examday simulate)")
        write_recommendations(result.html_path.parent, recommend(result.analysis, quiet=args.quiet))
        result = write_report(args.run_dir, overrides, args.out)
    if args.json:
        print(json.dumps(result.summary, indent=2, default=float))
    elif not args.quiet:
        print(result.verdict_line)
        for note in result.analysis.notes:
            print(f"  - {note}")
        for v in result.analysis.verdicts:
            print(f"  {'ok  ' if v.ok else 'FAIL'} {v.message}")
        print(f"report: {result.html_path}")
    return result.exit_code
