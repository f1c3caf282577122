"""deploy/kubernetes/ is valid against the Kubernetes API schemas (kubernetes-validate, no cluster
needed), takes its scenario and targets from the ConfigMap, and passes arguments the load verb accepts."""

from __future__ import annotations

import argparse

import kubernetes_validate
import pytest
import yaml

from simulator.commands import load
from simulator.errors import UserError
from simulator.live.safety import check_targets
from simulator.plan import load_plan
from conftest import REPO

MANIFESTS = REPO / "deploy" / "kubernetes" / "examday-live.yaml"


def _docs() -> list[dict]:
    return [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]


def test_manifests_validate_against_the_kubernetes_schemas():
    docs = _docs()
    for doc in docs:
        kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)
    assert {d["kind"] for d in docs} == {"ConfigMap", "PersistentVolumeClaim", "Service", "Job"}


def test_master_and_workers_read_the_configmap_scenario_with_the_same_arguments(tmp_path):
    docs = _docs()
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    jobs = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Job"}
    parser = argparse.ArgumentParser()
    load.add_arguments(parser)
    parsed = {}
    for name, spec in jobs.items():
        c = spec["containers"][0]
        assert c["args"][0] == "load"
        args = parsed[name] = parser.parse_args(c["args"][1:])
        load.check_arguments(args)
        mount = next(m for m in c["volumeMounts"] if m["name"] == "scenario")
        vol = next(v for v in spec["volumes"] if v["name"] == "scenario")
        assert vol["configMap"]["name"] == cm["metadata"]["name"] and args.scenario.startswith(mount["mountPath"])
        assert args.i_own_these_targets
    m, w = parsed["examday-master"], parsed["examday-worker"]
    assert m.master and w.worker and m.scenario == w.scenario and m.master_port == w.master_port
    assert next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "examday-worker")[
        "spec"]["completions"] == m.workers
    # the ConfigMap's scenario is a real one (its profiles path rewritten from the image's to this checkout's)
    text = cm["data"]["scenario.yaml"].replace("/app/profiles", str(REPO / "profiles"))
    (tmp_path / "scenario.yaml").write_text(text)
    plan = load_plan(str(tmp_path / "scenario.yaml"))
    with pytest.raises(UserError):
        check_targets(plan.loaded.scenario.targets, i_own_these_targets=False)
    assert check_targets(plan.loaded.scenario.targets, i_own_these_targets=True)
