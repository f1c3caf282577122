"""An external RFC 7643/7644 compliance checker, scim2-tester (python-scim), run
against the EGIL SCIM endpoint of a real stack on loopback (issue 4).

It discovers the server (ServiceProviderConfig, ResourceTypes, Schemas, the
extension schemas), then creates, reads (by id, in lists, with ``attributes`` /
``excludedAttributes``), replaces and deletes every resource type with random
values built from the published schemas. Every check must pass. The only
checks allowed to be SKIPPED are the ones scim2-tester itself skips because the
server says it does not do them: the PATCH checks (ServiceProviderConfig
``patch.supported: false``; EGIL replaces with PUT) and ``POST /.search``
(answered 501, RFC 7644 §3.12; EGIL queries with GET + filter).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from scim2_client import BaseSyncSCIMClient
from scim2_client.errors import RequestNetworkException
from scim2_tester import Status, check_server

from simulator.stack.egil import RESOURCE_TYPES
from simulator.stack.egil_client import push_roster
from simulator.stack.process import running_stack
from stack_helpers import NO_RATE_LIMIT
from stack_helpers import SMOKE

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
TYPES = {rt.name for rt in RESOURCE_TYPES.values()}
DISCOVERY = {"service_provider_config_endpoint", "service_provider_config_endpoint_methods",
             "query_all_resource_types", "query_resource_type_by_id", "resource_types_schema_validation",
             "access_invalid_resource_type", "resource_types_endpoint_methods", "query_all_schemas",
             "access_schema_by_id", "access_invalid_schema", "schemas_endpoint_methods", "random_url"}
CRUD = {"object_creation", "object_query", "object_query_without_id", "object_query_with_attributes",
        "object_list_with_attributes", "object_replacement", "object_deletion"}
#: Skipped by scim2-tester itself, because the server advertises/answers that it does not do them.
SKIPPED_BY_CHECKER = {"check_add_attribute", "check_remove_attribute", "check_replace_attribute",  # patch: false
                      "search_with_attributes"}  # POST /.search -> 501


class HttpxSCIMClient(BaseSyncSCIMClient):
    """scim2-client over the ``httpx`` the dev extras already have (its bundled
    network engine wants ``httpx2``); same three methods as that engine."""

    def __init__(self, client: httpx.Client, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, url, **kwargs)
        except httpx.RequestError as exc:
            err = RequestNetworkException()
            err.add_note(str(exc))
            raise err from exc


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("scim-tester"), extra=NO_RATE_LIMIT) as urls:
        # a provisioned roster too, so list/filter checks run among real EGIL objects
        assert not push_roster(SMOKE, urls.scim_url, urls.scim_token).failed
        with httpx.Client(base_url=urls.scim_url, timeout=30,
                          headers={"Authorization": f"Bearer {urls.scim_token}"}) as http:
            yield check_server(HttpxSCIMClient(http), raise_exceptions=False)


def _line(r) -> str:
    return f"{r.status.name} {r.resource_type or '-'} {r.title}: {r.reason}"


def test_every_check_passes_or_is_skipped_by_the_checker_for_an_advertised_reason(results):
    failed = [_line(r) for r in results if r.status not in PASSED | {Status.SKIPPED}]
    assert not failed, "\n".join(failed)
    wrongly_skipped = [_line(r) for r in results if r.status == Status.SKIPPED and r.title not in SKIPPED_BY_CHECKER]
    assert not wrongly_skipped, "\n".join(wrongly_skipped)


def test_discovery_checks_all_ran(results):
    passed = {r.title for r in results if r.status in PASSED and r.resource_type is None}
    assert DISCOVERY <= passed, sorted(DISCOVERY - passed)


def test_crud_checks_ran_on_every_egil_resource_type(results):
    passed = {(r.resource_type, r.title) for r in results if r.status in PASSED}
    missing = {(t, c) for t in TYPES for c in CRUD} - passed
    assert not missing, sorted(missing)


def test_patch_and_search_are_skipped_only_because_the_server_says_so(results):
    skipped = {(r.resource_type, r.title): r.reason for r in results if r.status == Status.SKIPPED}
    assert set(skipped) == {(t, c) for t in TYPES for c in SKIPPED_BY_CHECKER}
    assert all("PATCH operations not supported" in why for (_, c), why in skipped.items() if c.startswith("check_"))
    assert all("not supported by the server" in why for (_, c), why in skipped.items() if c.startswith("search"))
