"""``junit.xml``: the run's completeness first, then one test case per SLO city-wide and per breaching site,
so CI shows each objective as a passing or failing test and an incomplete run as a failure before anything."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..analysis.summary import Analysis

__all__ = ["junit_xml", "write_junit"]


def junit_xml(a: Analysis) -> str:
    """A JUnit XML document (``<testsuites><testsuite>`` with ``run_complete`` first, then the SLOs)."""
    cases: list[tuple[str, str, str | None, str]] = []  # (classname, name, failure message or None, detail)
    scen = a.info.scenario
    if a.complete:
        cases.append((f"examday.run.{scen}", "run_complete", None, f"run status: {a.info.status}; every planned "
                                                                  "pupil was walked"))
    else:
        msg = "the run did not walk every planned pupil, so it cannot pass: " + "; ".join(a.incomplete)
        cases.append((f"examday.run.{scen}", "run_complete", msg, msg))
    for v in a.verdicts:
        cases.append((f"examday.slo.{scen}", v.name, None if v.ok else v.message, v.message))
    for s in a.breaching_sites:
        msg = f"site {s.name} ({s.devices} pupils): " + ", ".join(v.text() for v in s.breached)
        cases.append((f"examday.site.{scen}", s.name, msg, msg))
    failures = sum(c[2] is not None for c in cases)
    suites = ET.Element("testsuites", name="examday", tests=str(len(cases)), failures=str(failures),
                        errors="0", time="0")
    suite = ET.SubElement(suites, "testsuite", name=f"slo.{scen}", tests=str(len(cases)),
                          failures=str(failures), errors="0", skipped="0", time="0")
    props = ET.SubElement(suite, "properties")
    for k, v in (("run", a.info.name), ("engine", a.info.engine), ("status", a.info.status),
                 ("run_complete", str(a.complete).lower()), ("verdict", a.verdict_line())):
        ET.SubElement(props, "property", name=k, value=str(v))
    for classname, name, failure, detail in cases:
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")
        if failure is not None:
            kind = "RunIncomplete" if name == "run_complete" else "SLOBreached"
            ET.SubElement(case, "failure", message=failure, type=kind).text = failure
        else:
            ET.SubElement(case, "system-out").text = detail
    if a.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(a.notes)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(a: Analysis, path: Path) -> Path:
    path.write_text(junit_xml(a), encoding="utf-8")
    return path
