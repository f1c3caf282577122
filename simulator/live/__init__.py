"""The live engine: Locust replays the plan against real servers (docs/live.md).

Modules (imported lazily; only ``runner``, ``users``, ``context`` and ``http``
pull in gevent/Locust, and only inside the Locust process):

- ``schedule`` — timeline shift, worker partitions, pre-flight estimate;
- ``safety`` — which targets may be loaded, and the egress policy every connection obeys (pinned addresses);
- ``config`` — ``LiveConfig`` handed to the Locust processes;
- ``forms`` — login / SAML auto-submit / meta-refresh pages as a browser reads them;
- ``http`` — a browser-like per-device HTTP client (pools, cookies, redirects, SEB headers);
- ``users`` — the Locust users and their step scripts;
- ``runner`` — the Locust process (local, master, worker);
- ``launch`` — the CLI side: stack, provisioning, the supervised Locust subprocess, signals, store check;
- ``progress`` — the terminal progress line.
"""

__all__ = ["schedule", "safety", "config", "forms", "launch"]
