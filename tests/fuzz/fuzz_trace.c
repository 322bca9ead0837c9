/*
 * fuzz_trace.c - the pcap doctor on hostile captures.
 *
 * The input is a capture file (pcap or pcapng), read through libpcap from
 * memory (fmemopen + pcap_fopen_offline), then through the whole pipeline:
 * link-layer and IP decoding, connection table, reassembly, framing, the
 * analysis, the NAT pairing, and all three reports (written to /dev/null).
 *
 * Two captures at once, for the pairing of a LAN-side and a WAN-side view
 * (`ftpalg trace lan.pcap wan.pcap`): an input starting with "PAIR" and a
 * 4-byte little-endian length L holds the first capture in the next L bytes
 * and the second in the rest.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reports go to a sink: only their code paths matter here. */
static FILE *
fuzz_sink(void)
{
	static FILE *f;

	if (f == NULL)
		f = fopen("/dev/null", "w");
	return f;
}

/* One capture from memory; NULL when it does not read. */
static struct trace_ctx *
fuzz_read(const uint8_t *data, size_t size, const char *name)
{
	struct trace_opts opts;
	struct trace_ctx *t;
	char err[256];
	uint8_t *copy;
	FILE *f;

	if (size == 0)
		return NULL;
	/* fmemopen wants a writable buffer; the input is const. */
	copy = malloc(size);
	if (copy == NULL)
		return NULL;
	memcpy(copy, data, size);
	f = fmemopen(copy, size, "rb");
	if (f == NULL) {
		free(copy);
		return NULL;
	}
	memset(&opts, 0, sizeof(opts));
	opts.ports[0] = 2121;
	opts.nports = 1;
	t = trace_new(&opts, name);
	if (t == NULL) {
		fclose(f);
		free(copy);
		return NULL;
	}
	if (trace_read_fp(t, f, err, sizeof(err)) < 0) {	/* closes f */
		trace_free(t);
		t = NULL;
	}
	free(copy);
	if (t != NULL)
		trace_finish(t);
	return t;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_ctx *t[2] = { NULL, NULL };
	unsigned n = 0;
	FILE *out = fuzz_sink();

	if (size == 0 || size > 4 * 1024 * 1024)
		return 0;
	if (size >= 8 && memcmp(data, "PAIR", 4) == 0) {
		size_t l = (size_t)data[4] | (size_t)data[5] << 8 | (size_t)data[6] << 16 |
		    (size_t)data[7] << 24;

		if (l > size - 8)
			l = size - 8;
		if ((t[n] = fuzz_read(data + 8, l, "lan")) != NULL)
			n++;
		if ((t[n] = fuzz_read(data + 8 + l, size - 8 - l, "wan")) != NULL)
			n++;
	} else if ((t[n] = fuzz_read(data, size, "fuzz")) != NULL) {
		n++;
	}
	if (n > 0) {
		trace_pair_nat(t, n);
		if (out != NULL) {
			trace_report_text(t, n, true, out);
			trace_report_json(t, n, out);
			trace_report_html(t, n, out);
			fflush(out);
		}
	}
	for (unsigned i = 0; i < n; i++)
		trace_free(t[i]);
	return 0;
}
