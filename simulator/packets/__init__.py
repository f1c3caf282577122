"""The packet side: a real DHCP join storm, reading and writing captures, calibrating the model.

- ``lab`` / ``dnsmasq``: network namespaces, a veth pair per site, a real
  dnsmasq inside (safe by construction: nothing leaves the namespaces);
- ``storm``: the plan's devices joining (RFC 2131 DORA, then DNS) with scapy
  over one reused layer-2 socket per link, writing the shared trace;
- ``capture``: ``dumpcap`` around a live run (pcapng with a comment naming it);
- ``analyse``: a capture -> DHCP exchanges, DNS lookups, TCP flows -> steps;
- ``synth``: a run's exchanges and flows -> pcapng (scapy), one comment per packet;
- ``calibrate``: exchanges/steps -> fitted device and service profiles (an overlay folder).

``records`` holds the typed value objects these share (``exchanges.jsonl``,
``flows.jsonl`` in a run folder). See docs/packets.md.
"""
