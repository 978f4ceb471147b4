/*
 * libFuzzer target for proto/proxy. Properties beyond "no crash, no over-read": the header
 * parsed whole and one byte at a time gives the same verdict and addresses; a header never
 * claims more bytes than it was given or than PROXY_MAX_HEADER; an accepted address header
 * written back with proxy_write parses to the same addresses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_parser p;
	struct proxy_header whole, step, back;
	const char *why;
	char *buf = malloc(size ? size : 1), out[PROXY_V1_MAX];
	enum proxy_result rw, rs = PROXY_NEED_MORE;
	size_t n;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	proxy_parser_init(&p);
	rw = proxy_parse(&p, buf, size, &whole, &why);
	proxy_parser_init(&p);
	for (size_t k = 1; k <= size && rs == PROXY_NEED_MORE; k++)
		rs = proxy_parse(&p, buf, k, &step, &why);
	if (size && rs != rw)
		abort();
	if (rw == PROXY_ERR && (!why || !*why))
		abort();
	if (rw == PROXY_OK) {
		if (whole.len > size || whole.len > PROXY_MAX_HEADER ||
		    memcmp(&whole, &step, sizeof(whole)))
			abort();
		if (!whole.local) {
			n = proxy_write(whole.version, (struct sockaddr *)&whole.src,
					(struct sockaddr *)&whole.dst, out, sizeof(out));
			proxy_parser_init(&p);
			if (!n || proxy_parse(&p, out, n, &back, &why) != PROXY_OK ||
			    memcmp(&back.src, &whole.src, sizeof(back.src)) ||
			    memcmp(&back.dst, &whole.dst, sizeof(back.dst)))
				abort();
		}
	}
	free(buf);
	return 0;
}
