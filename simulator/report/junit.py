"""``junit.xml``: one test case per SLO, so CI shows each objective as a passing or failing test."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from ..analysis.summary import Analysis

__all__ = ["junit_xml", "write_junit"]


def junit_xml(a: Analysis) -> str:
    """A JUnit XML document (``<testsuites><testsuite>`` with one ``<testcase>`` per SLO)."""
    failures = sum(not v.ok for v in a.verdicts) + (not a.complete)
    tests = len(a.verdicts) + 1
    suites = ET.Element("testsuites", name="examday", tests=str(tests), failures=str(failures),
                        errors="0", time="0")
    suite = ET.SubElement(suites, "testsuite", name=f"slo.{a.info.scenario}", tests=str(tests),
                          failures=str(failures), errors="0", skipped="0", time="0")
    props = ET.SubElement(suite, "properties")
    for k, v in (("run", a.info.name), ("engine", a.info.engine), ("status", a.info.status),
                 ("verdict", a.verdict_line())):
        ET.SubElement(props, "property", name=k, value=str(v))
    for v in a.verdicts:
        case = ET.SubElement(suite, "testcase", classname=f"examday.slo.{a.info.scenario}", name=v.name, time="0")
        if not v.ok:
            fail = ET.SubElement(case, "failure", message=v.message, type="SLOBreached")
            fail.text = v.message
        else:
            ET.SubElement(case, "system-out").text = v.message
    case = ET.SubElement(suite, "testcase", classname=f"examday.run.{a.info.scenario}", name="run_complete", time="0")
    if a.complete:
        ET.SubElement(case, "system-out").text = f"run status: {a.info.status}"
    else:
        msg = f"the run is '{a.info.status}': only part of the plan ran"
        ET.SubElement(case, "failure", message=msg, type="RunIncomplete").text = msg
    if a.notes:
        ET.SubElement(suite, "system-out").text = "\n".join(a.notes)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(a: Analysis, path: Path) -> Path:
    path.write_text(junit_xml(a), encoding="utf-8")
    return path
