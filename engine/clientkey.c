/*
 * clientkey.c - one client for the per-client limits: an IPv4 address or an
 * IPv6 prefix (see clientkey.h).
 */
#include <stdio.h>
#include <string.h>

#include "engine/clientkey.h"

static const uint8_t client_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void
client_key(const struct alg_endpoint *addr, unsigned prefix6, struct alg_endpoint *key)
{
	memset(key, 0, sizeof(*key));
	key->family = addr->family;
	if (addr->family == ALG_AF_INET) {
		memcpy(key->a, addr->a, 4);
		return;
	}
	if (addr->family != ALG_AF_INET6)
		return;	/* no address: every such key is the same (never a client) */
	if (memcmp(addr->a, client_v4mapped, sizeof(client_v4mapped)) == 0) {
		key->family = ALG_AF_INET;
		memcpy(key->a, addr->a + 12, 4);
		return;
	}
	if (prefix6 == 0 || prefix6 > 128)
		prefix6 = prefix6 == 0 ? CLIENT_PREFIX6_DEFAULT : 128;
	memcpy(key->a, addr->a, prefix6 / 8);
	if (prefix6 % 8 != 0)
		key->a[prefix6 / 8] = (uint8_t)(addr->a[prefix6 / 8] & (0xff00u >> (prefix6 % 8)));
}

bool
client_same(const struct alg_endpoint *a, const struct alg_endpoint *b, unsigned prefix6)
{
	struct alg_endpoint ka, kb;

	client_key(a, prefix6, &ka);
	client_key(b, prefix6, &kb);
	return ka.family == kb.family && memcmp(ka.a, kb.a, sizeof(ka.a)) == 0;
}

const char *
client_str(const struct alg_endpoint *addr, unsigned prefix6, char *buf, size_t len)
{
	struct alg_endpoint k;
	char a[ALG_EP_STRLEN];

	client_key(addr, prefix6, &k);
	if (alg_addr_fmt(&k, a, sizeof(a)) < 0)
		snprintf(a, sizeof(a), "?");
	if (k.family == ALG_AF_INET6)
		snprintf(buf, len, "%s/%u", a, prefix6 == 0 ? CLIENT_PREFIX6_DEFAULT :
		    prefix6 > 128 ? 128 : prefix6);
	else
		snprintf(buf, len, "%s", a);
	return buf;
}
