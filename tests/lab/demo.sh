#!/bin/sh
# demo.sh - `make demo`: installs what is missing, builds, and shows ftpalgd carrying
# active and passive FTP (IPv4, IPv6) across a NAT router made of network namespaces,
# then the same active transfer failing without it.  Needs root.
set -u
cd "$(dirname "$0")/../.." || exit 2

if [ "$(id -u)" != 0 ]; then
	echo "demo: must run as root (network namespaces, nftables): sudo make demo" >&2
	exit 2
fi

need=""
for t in ip nft conntrack ss vsftpd curl lftp cc make pkg-config; do
	command -v "$t" >/dev/null 2>&1 || need="$need $t"
done
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import pyftpdlib' 2>/dev/null || need="$need pyftpdlib"
pkg-config --exists libmnl libnftnl check 2>/dev/null || need="$need libs"
if [ -n "$need" ]; then
	echo "== dependencies: missing:$need -> scripts/install-deps.sh =="
	scripts/install-deps.sh || { echo "demo: installing dependencies FAILED" >&2; exit 1; }
fi

# `make demo` has built already; make it work when run on its own too.
if [ -z "${MAKELEVEL:-}" ]; then
	echo "== build =="
	make -s all || { echo "demo: build FAILED" >&2; exit 1; }
fi

exec /usr/bin/python3 tests/lab/demo.py "$@"
