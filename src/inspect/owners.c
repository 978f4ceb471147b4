/* owners — see owners.h. */
#include "inspect/owners.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void owners_init(struct owners *o)
{
	memset(o, 0, sizeof(*o));
}

void owners_fini(struct owners *o)
{
	free(o->procs);
	free(o->refs);
	free(o->users);
	owners_init(o);
}

/* Grows *v (elements of size sz) so one more fits. */
static int grow(void **v, size_t n, size_t *cap, size_t sz)
{
	void *p;
	size_t c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 64;
	p = realloc(*v, c * sz);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = c;
	return 0;
}

bool owners_parse_socket_link(const char *link, size_t len, uint32_t *inode)
{
	static const char prefix[] = "socket:[";
	const size_t plen = sizeof(prefix) - 1;
	uint64_t v = 0;
	size_t i;

	if (len < plen + 2 || memcmp(link, prefix, plen) != 0 || link[len - 1] != ']')
		return false;
	for (i = plen; i < len - 1; i++) {
		if (link[i] < '0' || link[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(link[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*inode = (uint32_t)v;
	return true;
}

void owners_parse_comm(const char *text, size_t len, char *out, size_t size)
{
	size_t n = len;

	if (size == 0)
		return;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\0'))
		n--;
	if (n > OWNERS_COMM_MAX)
		n = OWNERS_COMM_MAX;
	if (n > size - 1)
		n = size - 1;
	if (n == 0) {
		snprintf(out, size, "?");
		return;
	}
	memcpy(out, text, n);
	out[n] = '\0';
}

static void read_comm(int rootfd, const char *pid, char *out, size_t size)
{
	char path[64], text[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "%s/comm", pid);
	fd = openat(rootfd, path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, text, sizeof(text));
		close(fd);
	}
	owners_parse_comm(text, n > 0 ? (size_t)n : 0, out, size);
}

static int add_ref(struct owners *o, uint32_t inode, size_t proc, int32_t fd)
{
	if (grow((void **)&o->refs, o->nrefs, &o->cap_refs, sizeof(*o->refs)))
		return -ENOMEM;
	o->refs[o->nrefs].inode = inode;
	o->refs[o->nrefs].proc = (uint32_t)proc;
	o->refs[o->nrefs].fd = fd;
	o->nrefs++;
	return 0;
}

static void note_unreadable(struct owners *o, pid_t pid, int err)
{
	if (o->unreadable++ == 0) {
		o->unreadable_err = err;
		o->unreadable_pid = pid;
	}
}

/* The socket fds of one process; the process is added to procs on its first socket. */
static int scan_pid(struct owners *o, int rootfd, const char *name, pid_t pid)
{
	char path[64], link[64];
	struct dirent *e;
	size_t proc = SIZE_MAX;
	int fd, err = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/fd", name);
	fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT && errno != ESRCH)
			note_unreadable(o, pid, -errno);
		return 0;
	}
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	o->scanned++;
	while (!err && (e = readdir(d))) {
		uint32_t inode;
		ssize_t n;

		if (e->d_name[0] == '.')
			continue;
		n = readlinkat(fd, e->d_name, link, sizeof(link));
		if (n <= 0 || !owners_parse_socket_link(link, (size_t)n, &inode))
			continue;
		if (proc == SIZE_MAX) {
			err = grow((void **)&o->procs, o->nprocs, &o->cap_procs, sizeof(*o->procs));
			if (err)
				break;
			proc = o->nprocs++;
			o->procs[proc].pid = pid;
			read_comm(rootfd, name, o->procs[proc].comm, sizeof(o->procs[proc].comm));
		}
		err = add_ref(o, inode, proc, (int32_t)strtol(e->d_name, NULL, 10));
	}
	closedir(d);
	return err;
}

static int cmp_ref(const void *a, const void *b, void *arg)
{
	const struct owner_ref *x = a, *y = b;
	const struct owner_proc *procs = arg;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (procs[x->proc].pid != procs[y->proc].pid)
		return procs[x->proc].pid < procs[y->proc].pid ? -1 : 1;
	return x->fd < y->fd ? -1 : x->fd > y->fd;
}

/* Sorts refs and drops duplicates (a socket dup'ed within one process: its lowest fd stays). */
static void index_refs(struct owners *o)
{
	size_t i, j = 0;

	if (o->nrefs == 0)
		return;
	qsort_r(o->refs, o->nrefs, sizeof(*o->refs), cmp_ref, o->procs);
	for (i = 1; i < o->nrefs; i++)
		if (o->refs[i].inode != o->refs[j].inode ||
		    o->procs[o->refs[i].proc].pid != o->procs[o->refs[j].proc].pid)
			o->refs[++j] = o->refs[i];
	o->nrefs = j + 1;
}

static pid_t parse_pid(const char *s)
{
	long v = 0;

	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 4194304)
			return 0;
		v = v * 10 + (*s - '0');
	}
	return (pid_t)v;
}

int owners_scan(struct owners *o, const char *proc_root, pid_t only_pid)
{
	struct dirent *e;
	int rootfd, err = 0;
	DIR *d;

	rootfd = open(proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return -errno;
	if (only_pid > 0) {
		char name[24];

		snprintf(name, sizeof(name), "%d", (int)only_pid);
		err = scan_pid(o, rootfd, name, only_pid);
		goto out_index;
	}
	d = fdopendir(dup(rootfd));
	if (!d) {
		err = -errno;
		goto out_close;
	}
	while (!err && (e = readdir(d))) {
		pid_t pid = parse_pid(e->d_name);

		if (pid > 0)
			err = scan_pid(o, rootfd, e->d_name, pid);
	}
	closedir(d);
out_index:
	index_refs(o);
out_close:
	close(rootfd);
	return err;
}

size_t owners_lookup(const struct owners *o, uint32_t inode, const struct owner_ref **first)
{
	size_t lo = 0, hi = o->nrefs, end;

	while (lo < hi) { /* first ref with refs[i].inode >= inode */
		size_t mid = lo + (hi - lo) / 2;

		if (o->refs[mid].inode < inode)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < o->nrefs && o->refs[end].inode == inode; end++)
		;
	*first = lo < o->nrefs ? &o->refs[lo] : NULL;
	return end - lo;
}

#define USERS_MAX 256 /* a bounded cache: more distinct socket owners than that is unusual */

const char *owners_user_name(struct owners *o, uint32_t uid)
{
	struct passwd pw, *res = NULL;
	struct owner_user *u;
	char buf[1024];

	for (size_t i = 0; i < o->nusers; i++)
		if (o->users[i].uid == uid)
			return o->users[i].name;
	if (!o->users && !(o->users = calloc(USERS_MAX, sizeof(*o->users))))
		return "?";
	/* never reallocated, so names handed out stay valid; a full cache reuses the last slot */
	u = &o->users[o->nusers < USERS_MAX ? o->nusers++ : USERS_MAX - 1];
	u->uid = uid;
	if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
	    strlen(res->pw_name) < sizeof(u->name))
		snprintf(u->name, sizeof(u->name), "%s", res->pw_name);
	else
		snprintf(u->name, sizeof(u->name), "%u", uid);
	return u->name;
}
