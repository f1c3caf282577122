"""The reference target stack (docs/stack.md): IdP broker (SAML 2.0), test
platform (SAML SP + test content + durable autosave), provisioning (EGIL SCIM
push, SS 12000 pull), all over one SQLite store.

Modules: ``app`` (router, trust, serve), ``idp``, ``platform`` (SP/ACS,
browser-bound request IDs), ``gateway`` (the DNP access-gateway proxy role),
``exam`` (manifest, content, answers, teacher), ``scim``, ``bulk`` (SCIM
/Bulk), ``ss12000``, ``store``, ``saml`` (messages, signing, verification,
metadata), ``keys``, ``tokens``, ``limits`` (input bounds, guarded HTTP
protocol), ``ratelimit`` (provisioning rates), ``health`` (overload bound,
per-worker counters), ``egil`` (EGIL schema names), ``egil_client`` (SCIM JSON
builders + pusher), ``walk`` (client side of the login), ``process``
(``running_stack`` subprocess helper), ``config``.

Nothing is imported here, so ``simulator.stack.egil_client`` stays cheap to
import from a Locust/gevent process.
"""
