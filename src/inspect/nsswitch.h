/*
 * nsswitch — reads the "hosts:" line of nsswitch.conf(5): which name services the C
 * library asks, in order ("files", "dns", "myhostname", ...).
 *
 * Owns only the parsing of text the caller holds. Rules: '#' starts a comment; blanks
 * before the database name are allowed; the first "hosts:" line counts; action blocks
 * such as "[NOTFOUND=return]" are skipped (resolve only reports the order). Pure: no I/O,
 * no allocation; thread-safe.
 */
#ifndef SOCKBOX_INSPECT_NSSWITCH_H
#define SOCKBOX_INSPECT_NSSWITCH_H

#include <stddef.h>

#define NSS_NAME_MAX 32 /* longest service name kept, with NUL; longer ones are cut */
#define NSS_MAX	     8	/* services kept; more are ignored */

/*
 * Fills names[0..n) with the services of the hosts line in text[0..len). Returns n (0 when
 * the line lists none), or -ENOENT when there is no hosts line (glibc then uses
 * NSS_HOSTS_DEFAULT).
 */
int nss_hosts_sources(const char *text, size_t len, char names[NSS_MAX][NSS_NAME_MAX]);

/* What glibc asks when nsswitch.conf has no hosts line (or cannot be read). */
#define NSS_HOSTS_DEFAULT "dns files"

#endif
