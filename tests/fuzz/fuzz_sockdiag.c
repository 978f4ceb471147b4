/*
 * libFuzzer target for the socket-inspection parsers: netlink sock_diag dumps
 * (net/sockdiag) and the /proc text owners reads (net/owners).
 * Properties: sockdiag_feed returns 1, 0 or a negative errno and every record it appends
 * prints within its buffer with a NUL-terminated path; the /proc parsers never write past
 * the size they are given and always terminate.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "inspect/owners.h"
#include "inspect/sockdiag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_records(const struct sockdiag_list *l)
{
	char buf[160];

	for (size_t i = 0; i < l->n; i++) {
		const struct sockdiag_sock *s = &l->v[i];

		if (!memchr(s->path, '\0', sizeof(s->path)))
			abort();
		if (strlen(sockdiag_format_local(s, buf, sizeof(buf))) >= sizeof(buf))
			abort();
		if (strlen(sockdiag_format_remote(s, buf, sizeof(buf))) >= sizeof(buf))
			abort();
		if (!sockdiag_state_name(s))
			abort();
		(void)sockdiag_covers(s);
		(void)sockdiag_is_listener(s);
	}
}

static void fuzz_proc_text(const uint8_t *data, size_t size)
{
	char comm[20];
	uint32_t inode = 0;

	memset(comm, 'X', sizeof(comm));
	owners_parse_comm((const char *)data, size, comm, 17);
	if (!memchr(comm, '\0', 17) || comm[17] != 'X')
		abort();
	(void)owners_parse_socket_link((const char *)data, size, &inode);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum addr_transport transports[] = {ADDR_TCP, ADDR_UDP, ADDR_UNIX};
	struct sockdiag_list l = {0};
	uint32_t *buf;
	int r;

	if (size < 1)
		return 0;
	fuzz_proc_text(data + 1, size - 1);
	/* The first byte chooses the table; the rest is one read of a dump, 4-byte aligned. */
	buf = malloc(size + 3);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	r = sockdiag_feed(buf, size - 1, transports[data[0] % 3], &l);
	if (r > 1 || (r < 0 && r < -4095))
		abort();
	check_records(&l);
	sockdiag_list_free(&l);
	free(buf);
	return 0;
}
