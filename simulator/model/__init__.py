"""The model engine: flow-level discrete-event simulation of an exam start (Wi-Fi, links, TCP, service queues).

See ``engine.py`` (event loop, per-site recompute batching), ``mac.py``
(airtime per bit from who contends, A-MPDU limits, EDCA, BlockAck),
``wifi.py`` (PHY rates, Bianchi 2000), ``flows.py`` (max-min fair sharing
with TCP windows, slow start, drops and timeouts inside the fluid),
``topology.py`` (both directions' trees, radio classes), ``services.py``
(multi-server queues, Erlang C), ``procs.py`` (the steps, RFC 2131 DHCP
timers), ``commands.py`` (what a device process yields). ``docs/model.md``
compares it with ns-3. Imports nothing from live/stack/analysis.
"""

from .engine import ModelOptions, ModelResult, simulate

__all__ = ["simulate", "ModelResult", "ModelOptions"]
