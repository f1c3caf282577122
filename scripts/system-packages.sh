#!/usr/bin/env bash
# System packages examday needs: xmlsec1 (pysaml2's signature backend, used by
# the interoperability tests), chromium and chromium-driver (Debian's headless
# browser and its chromedriver, for the SAML browser test), dnsmasq (the real
# DHCP/DNS server `storm` starts in its namespaces), tshark and dumpcap
# (`capture analyse`, `load --capture`; tshark's debconf question about
# non-root capture is answered by DEBIAN_FRONTEND=noninteractive), iproute2
# (`ip netns`), mosquitto (the MQTT broker the telemetry tests start on a free
# loopback port). Installed when run as root, else the apt line is printed.
set -u
need=()
command -v xmlsec1 >/dev/null 2>&1 || need+=(xmlsec1)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v dumpcap >/dev/null 2>&1 || need+=(wireshark-common)
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || need+=(iproute2)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null \
    || echo "warning: apt-get install ${need[*]} failed" >&2
else
  echo "please run: sudo apt-get install -y ${need[*]}" >&2
fi
exit 0
