/*
 * fuzz_trace.c - the pcap doctor on hostile captures.
 *
 * The input is a capture file (pcap or pcapng), read through libpcap from
 * memory (fmemopen + pcap_fopen_offline), then through the whole pipeline:
 * link-layer and IP decoding, connection table, reassembly, framing, the
 * analysis, and all three reports (written to /dev/null-like memory).
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace_ctx *t;
	struct trace_opts opts;
	char err[256];
	uint8_t *copy;
	FILE *f, *out = fuzz_sink();

	if (size == 0 || size > 4 * 1024 * 1024)
		return 0;
	/* fmemopen wants a writable buffer; the input is const. */
	copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	f = fmemopen(copy, size, "rb");
	if (f == NULL) {
		free(copy);
		return 0;
	}
	memset(&opts, 0, sizeof(opts));
	opts.ports[0] = 2121;
	opts.nports = 1;
	t = trace_new(&opts, "fuzz");
	if (t == NULL) {
		fclose(f);
		free(copy);
		return 0;
	}
	if (trace_read_fp(t, f, err, sizeof(err)) == 0) {	/* closes f */
		trace_finish(t);
		trace_pair_nat(&t, 1);
		if (out != NULL) {
			trace_report_text(&t, 1, true, out);
			trace_report_json(&t, 1, out);
			trace_report_html(&t, 1, out);
			fflush(out);
		}
	}
	trace_free(t);
	free(copy);
	return 0;
}
