/*
 * owners — which processes hold which socket: socket inode -> (pid, command), found by
 * scanning PROC/[pid]/fd once (each fd's link reads "socket:[INODE]"), like lsof and ss -p.
 *
 * Owns the scan, the inode index and a small uid -> user name cache. It does not read the
 * kernel's socket tables (that is sockdiag.h). A process whose fd table cannot be read (no
 * permission, gone half-way) is skipped and counted, so callers can say why an owner is not
 * visible instead of printing a blank. The root directory is a parameter so tests can point
 * it at a fake tree. The text parsers are pure. Returns 0 or a negative errno; never prints.
 * A struct owners belongs to one thread.
 */
#ifndef SOCKBOX_INSPECT_OWNERS_H
#define SOCKBOX_INSPECT_OWNERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define OWNERS_COMM_MAX 16 /* TASK_COMM_LEN */

struct owner_proc {
	pid_t pid;
	char comm[OWNERS_COMM_MAX + 1]; /* "?" when it could not be read */
};

/* One (socket, process) pair; refs are sorted by inode, then pid. */
struct owner_ref {
	uint32_t inode;
	uint32_t proc; /* index into procs */
	int32_t fd;    /* its lowest file descriptor for the socket in that process */
};

struct owner_user {
	uint32_t uid;
	char name[32];
};

struct owners {
	struct owner_proc *procs; /* processes holding at least one socket */
	size_t nprocs, cap_procs;
	struct owner_ref *refs;
	size_t nrefs, cap_refs;
	size_t scanned;		  /* processes looked at */
	size_t unreadable;	  /* processes whose fd table could not be read */
	int unreadable_err;	  /* the first reason, a negative errno (-EACCES, ...) */
	pid_t unreadable_pid;	  /* the first such process */
	struct owner_user *users; /* uid -> name cache */
	size_t nusers;
};

/* Zero-initialises o. */
void owners_init(struct owners *o);
void owners_fini(struct owners *o);

/*
 * Scans proc_root (normally "/proc") once: every numeric directory's fd/ entries whose link
 * is a socket, and comm of each process that holds one. only_pid > 0 scans only that
 * process. Processes that vanish meanwhile are ignored; unreadable ones are counted.
 * Returns 0, or a negative errno when proc_root itself cannot be read or memory runs out.
 */
int owners_scan(struct owners *o, const char *proc_root, pid_t only_pid);

/* The refs of inode: returns how many, with *first pointing at the first (sorted by pid). */
size_t owners_lookup(const struct owners *o, uint32_t inode, const struct owner_ref **first);

/*
 * The user name of uid from the passwd database (getpwuid_r), cached; the number as text when
 * it has no name. The pointer stays valid until owners_fini (past 256 distinct users, the
 * last name returned may be overwritten by the next).
 */
const char *owners_user_name(struct owners *o, uint32_t uid);

/* "socket:[12345]" (len bytes, no NUL needed) -> true and *inode. Pure. */
bool owners_parse_socket_link(const char *link, size_t len, uint32_t *inode);

/* The contents of a comm file (len bytes) into out: trailing newline dropped, at most
 * OWNERS_COMM_MAX bytes kept, "?" when empty. Pure. */
void owners_parse_comm(const char *text, size_t len, char *out, size_t size);

#endif
