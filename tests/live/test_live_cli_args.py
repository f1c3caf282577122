"""Bad arguments to `examday load` are one clear line and exit 2, before anything runs or is written."""

from __future__ import annotations

import pytest

from conftest import examday, write_scenario


@pytest.mark.parametrize("args, says", [
    (["--master-port", "70000"], "--master-port 70000: a port is 1-65535"),
    (["--ui", "--ui-port", "0"], "--ui-port 0: a port is 1-65535"),
    (["--worker", "--master-port", "0"], "--master-port 0: a port is 1-65535"),
    (["--seed", "-1"], "--seed -1: a seed is 0 or more"),
    (["-o", "/dev/null"], "-o /dev/null: exists and is not a folder"),
    (["-o", "{file}"], "exists and is not a folder"),
    (["-o", "{file}/run"], "a-file is not a folder"),
])
def test_bad_arguments_are_one_line_exit_2(tmp_path, args, says):
    scen = write_scenario(tmp_path, {"idp": "http://127.0.0.1:9/idp"}, teacher=None, pupils=1, ipads=0)
    file = tmp_path / "a-file"
    file.write_text("keep me\n")
    r = examday("load", str(scen), *[a.format(file=file) for a in args])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert file.read_text() == "keep me\n"
