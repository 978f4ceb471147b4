/*
 * err — one error-code space for the whole program.
 *
 * Functions return 0 or a negative code. A negative code is either -errno or a
 * resolver (getaddrinfo) error moved into its own range with SB_EAI(). sb_strerror()
 * turns any code into short lower-case text ("address in use", "name not known").
 * Thread-safe: returns static strings only.
 */
#ifndef SOCKBOX_UTIL_ERR_H
#define SOCKBOX_UTIL_ERR_H

#include <stdbool.h>

/* getaddrinfo's EAI_* codes are small negative ints; shift them below every errno. */
#define SB_EAI_BASE (-100000)
#define SB_EAI(eai) (SB_EAI_BASE + (eai))

/* Errors that are neither errno nor resolver codes. */
enum {
	SB_EPARSE = -200001,	  /* malformed input; the reason travels separately */
	SB_EWANT_READ = -200002,  /* a transport must read before it can go on (TLS) */
	SB_EWANT_WRITE = -200003, /* a transport must write before it can go on (TLS) */
	SB_ETLS = -200004,	  /* the TLS handshake failed (the transport has the reason) */
};

/* Text for code (0, -errno, SB_EAI(x) or SB_E*). Never NULL. */
const char *sb_strerror(int code);

/*
 * The result of getaddrinfo/getnameinfo as a code: 0, SB_EAI(rc), or -errno for
 * EAI_SYSTEM (errno read at once, before anything else can change it).
 */
int sb_eai_error(int rc);

/* True when code came from the resolver. */
bool sb_is_resolver_error(int code);

#endif
