/*
 * rules.h - `ftpalg rules`: the firewall rules a configuration needs.
 *
 * ftpalgd keeps its own nftables table (pinholes, optional interception),
 * but an accept in one table cannot overrule a drop in another: the admin's
 * own filter must accept what ftpalgd lets through.  This prints exactly
 * those rules, for plain nftables, iptables-nft and OpenWrt fw4.
 */
#ifndef FTPALG_RULES_H
#define FTPALG_RULES_H

#include <stdio.h>

#include "daemon/config.h"

enum rules_flavor {
	RULES_NFT = 1 << 0,
	RULES_IPTABLES = 1 << 1,
	RULES_FW4 = 1 << 2,
	RULES_ALL = RULES_NFT | RULES_IPTABLES | RULES_FW4,
};

/* Parses "nft", "iptables", "fw4" or "all"; -1 if none of those. */
int rules_flavor_parse(const char *s);

/* Writes the rules for the flavors in mask; source names the config file. */
void rules_print(const struct ftpalg_config *c, unsigned mask, const char *source, FILE *out);

#endif
