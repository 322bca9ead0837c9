/*
 * rules.c - see rules.h.
 *
 * What a configuration needs from the admin's firewall:
 *
 *  1. control connections sent to ftpalgd: a redirect (or DNAT to a listener
 *     bound to one address, or TPROXY) of the control ports, unless
 *     intercept-interface is set (then ftpalgd's own table does it);
 *  2. the input filter accepting those redirected connections, and the
 *     public ports of inbound mappings;
 *  3. the forward filter accepting the data connections ftpalgd pinholes:
 *     the one rule "ct mark and MARK == MARK accept", plus "ct status dnat
 *     accept" when inbound mappings deliver data through a DNAT.
 *
 * The output is meant to be read: every block says where it goes.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <string.h>

#include "tools/rules.h"

#define RULES_TPROXY_MARK "0x1"	/* packet mark for the TPROXY policy route */

int
rules_flavor_parse(const char *s)
{
	if (strcmp(s, "nft") == 0 || strcmp(s, "nftables") == 0)
		return RULES_NFT;
	if (strcmp(s, "iptables") == 0 || strcmp(s, "iptables-nft") == 0)
		return RULES_IPTABLES;
	if (strcmp(s, "fw4") == 0 || strcmp(s, "openwrt") == 0)
		return RULES_FW4;
	if (strcmp(s, "all") == 0)
		return RULES_ALL;
	return -1;
}

/* ---------------------------------------------------------------- addresses */

struct rules_ep {
	int family;		/* AF_INET, AF_INET6, 0 = none */
	bool any;		/* wildcard address */
	char addr[INET6_ADDRSTRLEN];
	uint16_t port;
};

static void
rules_ep(const struct sockaddr_storage *ss, struct rules_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)ss;

		ep->family = AF_INET;
		ep->port = ntohs(in->sin_port);
		ep->any = in->sin_addr.s_addr == htonl(INADDR_ANY);
		inet_ntop(AF_INET, &in->sin_addr, ep->addr, sizeof(ep->addr));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)ss;

		ep->family = AF_INET6;
		ep->port = ntohs(in6->sin6_port);
		ep->any = IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
		inet_ntop(AF_INET6, &in6->sin6_addr, ep->addr, sizeof(ep->addr));
	}
}

/*
 * Where to send IPv4 (family AF_INET) or IPv6 control connections: the
 * first listener of that family; for IPv4 a "[::]" listener (dual-stack)
 * will do.
 */
static bool
rules_target(const struct ftpalg_config *c, int family, struct rules_ep *out)
{
	struct rules_ep ep;

	for (unsigned i = 0; i < c->n_listen && i < CFG_MAX_LISTEN; i++) {
		rules_ep(&c->listen[i], &ep);
		if (ep.family == family) {
			*out = ep;
			return true;
		}
	}
	if (family == AF_INET)
		for (unsigned i = 0; i < c->n_listen && i < CFG_MAX_LISTEN; i++) {
			rules_ep(&c->listen[i], &ep);
			if (ep.family == AF_INET6 && ep.any) {
				*out = ep;
				return true;
			}
		}
	return false;
}

/* "21" or "{ 21, 2121 }" (nft), "21,2121" (iptables). */
static void
rules_ports(const struct ftpalg_config *c, bool nft, char *buf, size_t len)
{
	size_t o = 0;
	unsigned n = c->n_control_ports < CFG_MAX_PORTS ? c->n_control_ports : CFG_MAX_PORTS;

	buf[0] = '\0';
	if (nft && n > 1)
		o += (size_t)snprintf(buf + o, len - o, "{ ");
	for (unsigned i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u", i == 0 ? "" : nft ? ", " : ",",
		    c->control_ports[i]);
	if (nft && n > 1 && o < len)
		snprintf(buf + o, len - o, " }");
}

static bool
rules_redirect_needed(const struct ftpalg_config *c)
{
	return c->n_listen > 0 && c->intercept_iif[0] == '\0';
}

/* ---------------------------------------------------------------- nftables */

static void
rules_nft_target(const struct ftpalg_config *c, int family, const char *ports, FILE *out)
{
	struct rules_ep ep;
	const char *fam = family == AF_INET ? "ip" : "ip6";

	if (!rules_target(c, family, &ep))
		return;
	if (c->mode == CFG_MODE_TPROXY) {
		if (ep.any)
			fprintf(out, "\t\tmeta nfproto ipv%d tcp dport %s tproxy to :%u meta mark set "
			    RULES_TPROXY_MARK " accept\n", family == AF_INET ? 4 : 6, ports, ep.port);
		else
			fprintf(out, "\t\tmeta nfproto ipv%d tcp dport %s tproxy %s to %s%s%s:%u "
			    "meta mark set " RULES_TPROXY_MARK " accept\n", family == AF_INET ? 4 : 6,
			    ports, fam, family == AF_INET6 ? "[" : "", ep.addr,
			    family == AF_INET6 ? "]" : "", ep.port);
	} else if (ep.any) {
		fprintf(out, "\t\tmeta nfproto ipv%d tcp dport %s redirect to :%u\n",
		    family == AF_INET ? 4 : 6, ports, ep.port);
	} else {
		fprintf(out, "\t\tmeta nfproto ipv%d tcp dport %s dnat %s to %s%s%s:%u\n",
		    family == AF_INET ? 4 : 6, ports, fam, family == AF_INET6 ? "[" : "", ep.addr,
		    family == AF_INET6 ? "]" : "", ep.port);
	}
}

static void
rules_nft(const struct ftpalg_config *c, FILE *out)
{
	char ports[128];

	rules_ports(c, true, ports, sizeof(ports));
	fprintf(out, "#### nftables\n\n");
	if (rules_redirect_needed(c)) {
		fprintf(out, "# 1. Send FTP control connections (tcp dport %s) to ftpalgd.\n"
		    "#    Load with nft -f, or copy the rules into your own %s chain.\n"
		    "#    Add \"iifname <LAN>\" to take only your clients' connections.\n",
		    ports, c->mode == CFG_MODE_TPROXY ? "mangle prerouting" : "nat prerouting");
		if (c->mode == CFG_MODE_TPROXY) {
			fprintf(out, "table inet ftpalg_intercept {\n\tchain prerouting {\n"
			    "\t\ttype filter hook prerouting priority mangle; policy accept;\n"
			    "\t\ttcp dport %s socket transparent 1 meta mark set "
			    RULES_TPROXY_MARK " accept\n", ports);
			rules_nft_target(c, AF_INET, ports, out);
			rules_nft_target(c, AF_INET6, ports, out);
			fprintf(out, "\t}\n}\n# TPROXY also needs the marked packets routed "
			    "locally:\n#   ip rule add fwmark " RULES_TPROXY_MARK " lookup 100; "
			    "ip route add local 0.0.0.0/0 dev lo table 100\n"
			    "#   ip -6 rule add fwmark " RULES_TPROXY_MARK " lookup 100; "
			    "ip -6 route add local ::/0 dev lo table 100\n\n");
		} else {
			fprintf(out, "table inet ftpalg_intercept {\n\tchain prerouting {\n"
			    "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
			rules_nft_target(c, AF_INET, ports, out);
			rules_nft_target(c, AF_INET6, ports, out);
			fprintf(out, "\t}\n}\n\n");
		}
	} else if (c->n_listen > 0) {
		fprintf(out, "# 1. Nothing to redirect: ftpalgd redirects tcp dport %s arriving "
		    "on %s itself\n#    (table inet %s, chain intercept).\n\n", ports,
		    c->intercept_iif, c->nft_table);
	}

	fprintf(out, "# 2. In your input filter chain, before any drop (adapt the table and\n"
	    "#    chain names to yours):\n");
	if (c->n_listen > 0) {
		struct rules_ep ep;

		for (unsigned i = 0; i < c->n_listen && i < CFG_MAX_LISTEN; i++) {
			rules_ep(&c->listen[i], &ep);
			if (c->mode == CFG_MODE_TPROXY)
				fprintf(out, "nft add rule inet filter input meta mark "
				    RULES_TPROXY_MARK " tcp dport %s accept  # TPROXYed to %s%s%s:%u\n",
				    ports, ep.family == AF_INET6 ? "[" : "", ep.addr,
				    ep.family == AF_INET6 ? "]" : "", ep.port);
			else
				fprintf(out, "nft add rule inet filter input tcp dport %u ct status "
				    "dnat accept  # redirected control connections\n", ep.port);
		}
	}
	for (unsigned i = 0; i < c->n_mappings && i < CFG_MAX_MAPPINGS; i++) {
		struct rules_ep ep;

		rules_ep(&c->mappings[i].listen, &ep);
		if (ep.any)
			fprintf(out, "nft add rule inet filter input tcp dport %u accept  "
			    "# inbound mapping\n", ep.port);
		else
			fprintf(out, "nft add rule inet filter input %s daddr %s tcp dport %u accept  "
			    "# inbound mapping\n", ep.family == AF_INET6 ? "ip6" : "ip", ep.addr,
			    ep.port);
	}

	if (c->n_mappings > 0)
		/* Relayed data connections (`relay` mappings, IPv6 clients of IPv4
		 * servers) end on ftpalgd itself and carry the same mark. */
		fprintf(out, "nft add rule inet filter input ct mark and 0x%08" PRIx32 " == 0x%08"
		    PRIx32 " accept  # data connections ftpalgd relays\n", c->pinhole_mark,
		    c->pinhole_mark);
	fprintf(out, "\n# 3. In your forward filter chain, before any drop: the data "
	    "connections\n#    ftpalgd opens a pinhole for (it marks them with pinhole-mark):\n");
	fprintf(out, "nft insert rule inet filter forward ct mark and 0x%08" PRIx32 " == 0x%08"
	    PRIx32 " accept\n", c->pinhole_mark, c->pinhole_mark);
	if (c->n_mappings > 0)
		fprintf(out, "nft insert rule inet filter forward ct status dnat accept  "
		    "# inbound mappings\n");
	fprintf(out, "\n");
}

/* ---------------------------------------------------------------- iptables */

static void
rules_ipt_target(const struct ftpalg_config *c, int family, const char *ports, FILE *out)
{
	struct rules_ep ep;
	const char *cmd = family == AF_INET ? "iptables " : "ip6tables";
	bool v6 = family == AF_INET6;

	if (!rules_target(c, family, &ep))
		return;
	if (c->mode == CFG_MODE_TPROXY)
		fprintf(out, "%s -t mangle -A PREROUTING -p tcp -m multiport --dports %s -j TPROXY "
		    "--on-port %u%s%s --tproxy-mark " RULES_TPROXY_MARK "/" RULES_TPROXY_MARK "\n",
		    cmd, ports, ep.port, ep.any ? "" : " --on-ip ", ep.any ? "" : ep.addr);
	else if (ep.any)
		fprintf(out, "%s -t nat -A PREROUTING -p tcp -m multiport --dports %s -j REDIRECT "
		    "--to-ports %u\n", cmd, ports, ep.port);
	else
		fprintf(out, "%s -t nat -A PREROUTING -p tcp -m multiport --dports %s -j DNAT "
		    "--to-destination %s%s%s:%u\n", cmd, ports, v6 ? "[" : "", ep.addr,
		    v6 ? "]" : "", ep.port);
}

static void
rules_iptables(const struct ftpalg_config *c, FILE *out)
{
	char ports[128];
	bool v4 = false, v6 = false;
	struct rules_ep ep;

	rules_ports(c, false, ports, sizeof(ports));
	v4 = rules_target(c, AF_INET, &ep);
	v6 = rules_target(c, AF_INET6, &ep);
	fprintf(out, "#### iptables-nft (ip6tables likewise)\n\n");
	if (rules_redirect_needed(c)) {
		fprintf(out, "# 1. Send FTP control connections to ftpalgd (add \"-i <LAN>\" to "
		    "take only\n#    your clients' connections):\n");
		rules_ipt_target(c, AF_INET, ports, out);
		rules_ipt_target(c, AF_INET6, ports, out);
		if (c->mode == CFG_MODE_TPROXY)
			fprintf(out, "# TPROXY also needs: ip rule add fwmark " RULES_TPROXY_MARK
			    " lookup 100; ip route add local 0.0.0.0/0 dev lo table 100\n");
		fprintf(out, "\n");
	} else if (c->n_listen > 0) {
		fprintf(out, "# 1. Nothing to redirect: ftpalgd intercepts on %s itself.\n\n",
		    c->intercept_iif);
	}
	fprintf(out, "# 2. Input, before any drop:\n");
	for (unsigned i = 0; i < c->n_listen && i < CFG_MAX_LISTEN; i++) {
		rules_ep(&c->listen[i], &ep);
		if (c->mode == CFG_MODE_TPROXY) {
			fprintf(out, "iptables  -I INPUT -p tcp -m multiport --dports %s -m mark "
			    "--mark " RULES_TPROXY_MARK "/" RULES_TPROXY_MARK " -j ACCEPT\n", ports);
			if (v6)
				fprintf(out, "ip6tables -I INPUT -p tcp -m multiport --dports %s -m mark "
				    "--mark " RULES_TPROXY_MARK "/" RULES_TPROXY_MARK " -j ACCEPT\n", ports);
		} else {
			if (v4)
				fprintf(out, "iptables  -I INPUT -p tcp --dport %u -m conntrack "
				    "--ctstate DNAT -j ACCEPT\n", ep.port);
			if (v6)
				fprintf(out, "ip6tables -I INPUT -p tcp --dport %u -m conntrack "
				    "--ctstate DNAT -j ACCEPT\n", ep.port);
		}
	}
	for (unsigned i = 0; i < c->n_mappings && i < CFG_MAX_MAPPINGS; i++) {
		rules_ep(&c->mappings[i].listen, &ep);
		fprintf(out, "%s -I INPUT -p tcp%s%s --dport %u -j ACCEPT  # inbound mapping\n",
		    ep.family == AF_INET6 ? "ip6tables" : "iptables ", ep.any ? "" : " -d ",
		    ep.any ? "" : ep.addr, ep.port);
	}
	if (c->n_mappings > 0) {
		fprintf(out, "iptables  -I INPUT -m connmark --mark 0x%08" PRIx32 "/0x%08" PRIx32
		    " -j ACCEPT  # data connections ftpalgd relays\n", c->pinhole_mark,
		    c->pinhole_mark);
		fprintf(out, "ip6tables -I INPUT -m connmark --mark 0x%08" PRIx32 "/0x%08" PRIx32
		    " -j ACCEPT\n", c->pinhole_mark, c->pinhole_mark);
	}
	fprintf(out, "\n# 3. Forward, before any drop (pinholed data connections):\n");
	fprintf(out, "iptables  -I FORWARD -m connmark --mark 0x%08" PRIx32 "/0x%08" PRIx32
	    " -j ACCEPT\n", c->pinhole_mark, c->pinhole_mark);
	fprintf(out, "ip6tables -I FORWARD -m connmark --mark 0x%08" PRIx32 "/0x%08" PRIx32
	    " -j ACCEPT\n", c->pinhole_mark, c->pinhole_mark);
	if (c->n_mappings > 0) {
		fprintf(out, "iptables  -I FORWARD -m conntrack --ctstate DNAT -j ACCEPT  "
		    "# inbound mappings\n");
		fprintf(out, "ip6tables -I FORWARD -m conntrack --ctstate DNAT -j ACCEPT\n");
	}
	fprintf(out, "\n");
}

/* ---------------------------------------------------------------- fw4 */

static void
rules_fw4(const struct ftpalg_config *c, FILE *out)
{
	char ports[128];
	struct rules_ep ep;

	rules_ports(c, true, ports, sizeof(ports));
	fprintf(out, "#### OpenWrt fw4\n\n");
	if (rules_redirect_needed(c) && c->mode == CFG_MODE_REDIRECT &&
	    rules_target(c, AF_INET, &ep)) {
		fprintf(out, "# 1. /etc/config/firewall: send the LAN's FTP control connections to "
		    "ftpalgd.\n#    fw4 accepts redirected connections in input by itself "
		    "(ct status dnat).\n");
		for (unsigned i = 0; i < c->n_control_ports && i < CFG_MAX_PORTS; i++) {
			fprintf(out, "config redirect\n\toption name 'ftpalgd-%u'\n\toption src 'lan'\n"
			    "\toption proto 'tcp'\n\toption src_dport '%u'\n", c->control_ports[i],
			    c->control_ports[i]);
			if (!ep.any && ep.family == AF_INET)
				fprintf(out, "\toption dest_ip '%s'\n", ep.addr);
			fprintf(out, "\toption dest_port '%u'\n\toption target 'DNAT'\n\n", ep.port);
		}
	} else if (rules_redirect_needed(c) && c->mode == CFG_MODE_TPROXY) {
		fprintf(out, "# 1. TPROXY the LAN's FTP control connections to ftpalgd: put this in\n"
		    "#    /usr/share/nftables.d/chain-pre/mangle_prerouting/30-ftpalgd.nft:\n");
		fprintf(out, "tcp dport %s socket transparent 1 meta mark set " RULES_TPROXY_MARK
		    " accept\n", ports);
		if (rules_target(c, AF_INET, &ep))
			fprintf(out, "tcp dport %s tproxy to :%u meta mark set " RULES_TPROXY_MARK
			    " accept\n", ports, ep.port);
		fprintf(out, "#    and route marked packets locally (/etc/config/network: "
		    "config rule with mark '" RULES_TPROXY_MARK "' lookup 100,\n#    config route "
		    "type 'local' target '0.0.0.0/0' interface 'loopback' table '100').\n\n");
	} else if (c->n_listen > 0) {
		fprintf(out, "# 1. Nothing to redirect: ftpalgd intercepts on %s itself; fw4 "
		    "accepts the\n#    redirected connections in input (ct status dnat).\n\n",
		    c->intercept_iif);
	}
	for (unsigned i = 0; i < c->n_mappings && i < CFG_MAX_MAPPINGS; i++) {
		rules_ep(&c->mappings[i].listen, &ep);
		if (i == 0)
			fprintf(out, "# 2. /etc/config/firewall: accept the inbound mappings' public "
			    "ports.\n");
		fprintf(out, "config rule\n\toption name 'ftpalgd-mapping-%u'\n\toption src 'wan'\n"
		    "\toption proto 'tcp'\n", ep.port);
		if (!ep.any)
			fprintf(out, "\toption dest_ip '%s'\n", ep.addr);
		fprintf(out, "\toption dest_port '%u'\n\toption target 'ACCEPT'\n\n", ep.port);
	}
	fprintf(out, "# 3. /usr/share/nftables.d/chain-pre/forward/30-ftpalgd.nft "
	    "(pinholed data connections):\n");
	fprintf(out, "ct mark and 0x%08" PRIx32 " == 0x%08" PRIx32 " accept comment \"ftpalgd "
	    "pinholes\"\n", c->pinhole_mark, c->pinhole_mark);
	if (c->n_mappings > 0) {
		fprintf(out, "#    fw4 already accepts DNATed flows (ct status dnat) in forward_wan: "
		    "nothing more\n#    for the inbound mappings.\n");
		fprintf(out, "#    Relayed data connections end on the router: "
		    "/usr/share/nftables.d/chain-pre/input/30-ftpalgd.nft\n");
		fprintf(out, "ct mark and 0x%08" PRIx32 " == 0x%08" PRIx32 " accept comment \"ftpalgd "
		    "relays\"\n", c->pinhole_mark, c->pinhole_mark);
	}
	fprintf(out, "# Then: service firewall reload\n\n");
}

void
rules_print(const struct ftpalg_config *c, unsigned mask, const char *source, FILE *out)
{
	char ports[128];

	rules_ports(c, true, ports, sizeof(ports));
	fprintf(out, "# Firewall rules for ftpalgd, from %s\n# mode %s, control ports %s, "
	    "pinhole-mark 0x%08" PRIx32 ", %u listener%s, %u inbound mapping%s\n\n", source,
	    c->mode == CFG_MODE_TPROXY ? "tproxy" : "redirect", ports, c->pinhole_mark,
	    c->n_listen, c->n_listen == 1 ? "" : "s", c->n_mappings,
	    c->n_mappings == 1 ? "" : "s");
	if (mask & RULES_NFT)
		rules_nft(c, out);
	if (mask & RULES_IPTABLES)
		rules_iptables(c, out);
	if (mask & RULES_FW4)
		rules_fw4(c, out);
}
