/*
 * err — text for every error code the program uses.
 *
 * Short lower-case wording for the errno values that reach users in messages,
 * glibc's static description for the rest, gai_strerror() for resolver codes.
 */
#include "util/err.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

/* getaddrinfo's codes are small; anything this far below SB_EAI_BASE is ours. */
#define SB_EAI_SPAN 1000
/* Largest errno value worth asking glibc about. */
#define SB_ERRNO_MAX 4095

struct err_text {
	int errnum;
	const char *text;
};

static const struct err_text errno_texts[] = {
	{EADDRINUSE, "address in use"},
	{ECONNREFUSED, "connection refused"},
	{ETIMEDOUT, "timed out"},
	{ECONNRESET, "connection reset by peer"},
	{EACCES, "permission denied"},
	{EADDRNOTAVAIL, "address not available on this machine"},
	{EMFILE, "too many open files"},
	{ENOMEM, "out of memory"},
	{ENAMETOOLONG, "name too long"},
	{EHOSTUNREACH, "host unreachable"},
	{ENETUNREACH, "network unreachable"},
	{EPIPE, "broken pipe"},
	{EINVAL, "invalid argument"},
	{ENOENT, "no such file or directory"},
	{EISDIR, "is a directory"},
	{ENOSPC, "no space left on device"},
	{EPROTO, "protocol error"},
	{EMSGSIZE, "message too long"},
	{ENOTDIR, "not a directory"},
	{ECONNABORTED, "connection aborted"},
};

int sb_eai_error(int rc)
{
	if (rc == EAI_SYSTEM && errno)
		return -errno;
	return rc ? SB_EAI(rc) : 0;
}

bool sb_is_resolver_error(int code)
{
	return code < SB_EAI_BASE && code > SB_EAI_BASE - SB_EAI_SPAN;
}

static const char *resolver_text(int eai)
{
	const char *s;

	/* The one users see most, in the wording the header promises. */
	if (eai == EAI_NONAME)
		return "name not known";
	s = gai_strerror(eai);
	return s ? s : "unknown error";
}

/*
 * glibc's text in the program's style, lower case first ("No such device" -> "no such
 * device"), in one of a few per-thread buffers so that a message may hold several.
 */
static const char *lowered(const char *s)
{
	static __thread char ring[4][96];
	static __thread unsigned next;
	char *out = ring[next++ % 4];

	snprintf(out, sizeof(ring[0]), "%s", s);
	if (out[0] >= 'A' && out[0] <= 'Z' && !(out[1] >= 'A' && out[1] <= 'Z'))
		out[0] = (char)(out[0] - 'A' + 'a');
	return out;
}

static const char *errno_text(int errnum)
{
	const char *s;
	size_t i;

	for (i = 0; i < sizeof(errno_texts) / sizeof(errno_texts[0]); i++) {
		if (errno_texts[i].errnum == errnum)
			return errno_texts[i].text;
	}
	s = strerrordesc_np(errnum);
	return s ? lowered(s) : "unknown error";
}

const char *sb_strerror(int code)
{
	if (code == 0)
		return "success";
	if (code == SB_EPARSE)
		return "malformed input";
	if (code == SB_EWANT_READ)
		return "waiting to read";
	if (code == SB_EWANT_WRITE)
		return "waiting to write";
	if (code == SB_ETLS)
		return "tls handshake failed";
	if (sb_is_resolver_error(code))
		return resolver_text(code - SB_EAI_BASE);
	if (code < 0 && code >= -SB_ERRNO_MAX)
		return errno_text(-code);
	return "unknown error";
}
