"""The model engine: flow-level discrete-event simulation of an exam start (Wi-Fi, links, TCP, service queues).

See ``engine.py`` (event loop), ``wifi.py`` (Bianchi 2000 + A-MPDU, airtime
fairness), ``flows.py`` (max-min fair sharing, RFC 6928 slow start),
``services.py`` (multi-server queues, Erlang C), ``procs.py`` (the steps,
RFC 2131 DHCP timers). Imports nothing from live/stack/analysis.
"""

from .engine import ModelOptions, ModelResult, simulate

__all__ = ["simulate", "ModelResult", "ModelOptions"]
