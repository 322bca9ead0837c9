#!/bin/sh
# Installs what ftpalg needs to build, test, run the lab demo and the benchmark
# on a Debian 12 machine.  Idempotent: packages already there are skipped.
set -eu

PKGS="build-essential pkg-config clang valgrind
libmnl-dev libnftnl-dev libnetfilter-queue-dev libnetfilter-conntrack-dev libpcap-dev check
nftables iptables conntrack iproute2 tcpdump tshark socat iperf3 procps psmisc
vsftpd python3 python3-pyftpdlib curl lftp wget tnftp"
# Chromium renders the pcap doctor's HTML report in a test.
PKGS="$PKGS chromium"
# The privilege lab runs ftpalgd under the unit's seccomp filter (libseccomp),
# as the unit's user (setpriv, util-linux); systemd-analyze scores the unit.
PKGS="$PKGS libseccomp-dev util-linux systemd"
# Packaging tests: the Debian package (make deb, lintian), `ftpalg metrics`
# (promtool), the OpenWrt package (OpenWrt's uci built from ../shared/openwrt,
# busybox sh, shellcheck).
PKGS="$PKGS debhelper devscripts lintian dpkg-dev prometheus cmake libjson-c-dev liblua5.1-0-dev
busybox shellcheck dash"
# The HA lab (tests/lab/run-ha.sh): VRRP and conntrack state sync between two routers.
PKGS="$PKGS keepalived conntrackd"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: everything is installed"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing:$missing (run as root)" >&2
	exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian's vsftpd unit starts a server on port 21 of the host; the lab runs its own.
systemctl disable --now vsftpd >/dev/null 2>&1 || true
pkill -x vsftpd 2>/dev/null || true
# The prometheus package starts a server (and node exporter); the tests need promtool only.
systemctl disable --now prometheus prometheus-node-exporter >/dev/null 2>&1 || true
# keepalived and conntrackd would start on the host with Debian's configs; the HA lab
# runs its own, inside its namespaces.
for svc in keepalived conntrackd; do
	systemctl disable --now "$svc" >/dev/null 2>&1 || update-rc.d "$svc" disable >/dev/null 2>&1 || true
done
# Where no systemd runs (containers, CI), the packages' init scripts may have started them.
for d in prometheus prometheus-node-exporter keepalived conntrackd; do
	pkill -x "$d" 2>/dev/null || true
done
echo "install-deps: done"
