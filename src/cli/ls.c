/*
 * ls — `sockbox ls [--tcp] [--udp] [--unix] [--listening] [--port N] [--pid N] [--json]`:
 * open sockets with the processes that hold them. One netlink dump per family and protocol,
 * one scan of /proc, no system call per socket. Text: one row per (socket, process), like
 * `ss -p` lists every holder; a socket nobody visible holds gets one row with "-". JSON: one
 * object per socket with a "processes" array.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/sockview.h"
#include "inspect/owners.h"
#include "inspect/sockdiag.h"
#include "util/err.h"
#include "util/json.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox ls [--tcp] [--udp] [--unix] [--listening] [--port N] [--pid N]\n"
		"                  [--json]\n\n"
		"List open sockets with the processes that hold them: COMMAND, PID, USER, PROTO,\n"
		"LOCAL, REMOTE, STATE and the receive/send queue sizes (RECV-Q, SEND-Q, as in ss).\n"
		"Sockets come from the kernel (netlink sock_diag, like ss), owners from /proc/*/fd\n"
		"(like lsof). A socket held by several processes has one row per process; one that\n"
		"no visible process holds has '-' (see the note at the end for why).\n\n"
		"Options:\n"
		"  -t, --tcp               TCP sockets\n"
		"  -u, --udp               UDP sockets\n"
		"  -x, --unix              unix sockets\n"
		"                          (none of the three: TCP and UDP)\n"
		"  -l, --listening         only sockets that wait for others: TCP/unix LISTEN,\n"
		"                          UDP and unix datagram sockets bound but not connected\n"
		"      --port N            only TCP/UDP sockets whose local or remote port is N\n"
		"      --pid N             only sockets held by process N\n"
		"      --json              one JSON object on stdout, one entry per socket\n"
		"  -h, --help              show this help\n\n"
		"USER is the socket's owner (its uid). RECV-Q/SEND-Q: unread and unacknowledged\n"
		"bytes; for a listener, the accept queue and its limit.\n\n"
		"Exit status: 0 ok (also when nothing matched), 1 the socket tables could not be\n"
		"read, 2 usage error.\n");
}

struct ls_opts {
	bool tcp, udp, unx, listening, json;
	uint64_t port; /* 0: any */
	uint64_t pid;  /* 0: any */
};

enum { OPT_PORT = 256, OPT_PID, OPT_JSON };

static int parse_args(struct ls_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"tcp", no_argument, NULL, 't'},
		{"udp", no_argument, NULL, 'u'},
		{"unix", no_argument, NULL, 'x'},
		{"listening", no_argument, NULL, 'l'},
		{"port", required_argument, NULL, OPT_PORT},
		{"pid", required_argument, NULL, OPT_PID},
		{"json", no_argument, NULL, OPT_JSON},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "tuxlh", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return -1;
		case 't':
			o->tcp = true;
			break;
		case 'u':
			o->udp = true;
			break;
		case 'x':
			o->unx = true;
			break;
		case 'l':
			o->listening = true;
			break;
		case OPT_PORT:
			if (!cli_uint("ls", "--port", optarg, 1, 65535, &o->port))
				return EXIT_USAGE;
			break;
		case OPT_PID:
			if (!cli_uint("ls", "--pid", optarg, 1, 4194304, &o->pid))
				return EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		default:
			return cli_bad_option("ls", "tuxlh", opts, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("ls", "unexpected argument '%s'", argv[optind]);
	if (!o->tcp && !o->udp && !o->unx)
		o->tcp = o->udp = true;
	return 0;
}

/* One dump; a family the kernel does not have (no IPv6) is no error. */
static int dump(int family, enum addr_transport t, uint32_t states, struct sockdiag_list *l)
{
	int err = sockdiag_dump(family, t, states, l);

	return family == AF_INET6 && (err == -EAFNOSUPPORT || err == -ENOENT) ? 0 : err;
}

static int dump_all(const struct ls_opts *o, struct sockdiag_list *l)
{
	uint32_t listen = SD_STATE_BIT(SD_LISTEN), unconn = SD_STATE_BIT(SD_CLOSE);
	int err = 0;

	if (o->tcp) {
		uint32_t st = o->listening ? listen : SD_STATES_ALL;

		if (!(err = dump(AF_INET, ADDR_TCP, st, l)))
			err = dump(AF_INET6, ADDR_TCP, st, l);
	}
	if (!err && o->udp) {
		uint32_t st = o->listening ? unconn : SD_STATES_ALL;

		if (!(err = dump(AF_INET, ADDR_UDP, st, l)))
			err = dump(AF_INET6, ADDR_UDP, st, l);
	}
	if (!err && o->unx)
		err = dump(AF_UNIX, ADDR_UNIX, o->listening ? listen | unconn : SD_STATES_ALL, l);
	return err;
}

static bool wanted(const struct ls_opts *o, const struct sockdiag_sock *s)
{
	if (o->listening && !sockdiag_is_listener(s))
		return false;
	if (o->port && (s->transport == ADDR_UNIX || (s->lport != o->port && s->rport != o->port)))
		return false;
	return true;
}

/* The processes of s that pass --pid: [*first, *first + return). */
static size_t holders(const struct ls_opts *o, const struct owners *own,
		      const struct sockdiag_sock *s, const struct owner_ref **first)
{
	size_t k = s->inode ? owners_lookup(own, s->inode, first) : 0;

	if (!o->pid)
		return k;
	for (size_t j = 0; j < k; j++)
		if (own->procs[(*first)[j].proc].pid == (pid_t)o->pid) {
			*first += j;
			return 1;
		}
	return 0;
}

/* Unix peers by inode, to print a connected socket's remote end as the peer's path. */
static int cmp_inode(const void *a, const void *b)
{
	uint32_t x = (*(const struct sockdiag_sock *const *)a)->inode;
	uint32_t y = (*(const struct sockdiag_sock *const *)b)->inode;

	return x < y ? -1 : x > y;
}

struct unix_index {
	const struct sockdiag_sock **v;
	size_t n;
};

static int unix_index_build(struct unix_index *ix, const struct sockdiag_list *l)
{
	ix->n = 0;
	ix->v = malloc((l->n ? l->n : 1) * sizeof(*ix->v));
	if (!ix->v)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].transport == ADDR_UNIX)
			ix->v[ix->n++] = &l->v[i];
	qsort(ix->v, ix->n, sizeof(*ix->v), cmp_inode);
	return 0;
}

static char *format_remote(const struct unix_index *ix, const struct sockdiag_sock *s, char *buf,
			   size_t size)
{
	if (s->transport == ADDR_UNIX && s->peer_inode) {
		struct sockdiag_sock key = {.inode = s->peer_inode};
		const struct sockdiag_sock *kp = &key, **hit;

		hit = bsearch(&kp, ix->v, ix->n, sizeof(*ix->v), cmp_inode);
		snprintf(buf, size, "%s%s", hit && (*hit)->path[0] ? "unix:" : "",
			 hit && (*hit)->path[0] ? (*hit)->path : "*");
		return buf;
	}
	return sockdiag_format_remote(s, buf, size);
}

struct ls_ctx {
	const struct ls_opts *o;
	struct owners own;
	struct sockdiag_list socks;
	struct unix_index ix;
	char reason[256]; /* the first "owner not visible" reason met */
	size_t hidden;	  /* sockets with a file but no visible owner */
};

static int add_rows(struct ls_ctx *c, struct sockview_table *t, const struct sockdiag_sock *s)
{
	char local[ADDR_STR_MAX], remote[ADDR_STR_MAX], pid[16], rq[16], sq[16];
	const struct owner_ref *ref = NULL;
	size_t k = holders(c->o, &c->own, s, &ref);
	const char *cells[9] = {NULL,
				NULL,
				s->has_uid ? owners_user_name(&c->own, s->uid) : NULL,
				sockview_proto(s),
				sockdiag_format_local(s, local, sizeof(local)),
				format_remote(&c->ix, s, remote, sizeof(remote)),
				sockdiag_state_name(s),
				NULL,
				NULL};
	int err = 0;

	if (s->has_queues) {
		snprintf(rq, sizeof(rq), "%u", s->rqueue);
		snprintf(sq, sizeof(sq), "%u", s->wqueue);
		cells[7] = rq;
		cells[8] = sq;
	}
	if (k == 0) {
		if (s->inode && c->hidden++ == 0)
			sockview_hidden_reason(&c->own, s, c->reason, sizeof(c->reason));
		return sockview_table_add(t, cells);
	}
	for (size_t j = 0; j < k && !err; j++) {
		snprintf(pid, sizeof(pid), "%d", (int)c->own.procs[ref[j].proc].pid);
		cells[0] = c->own.procs[ref[j].proc].comm;
		cells[1] = pid;
		err = sockview_table_add(t, cells);
	}
	return err;
}

static int print_text(struct ls_ctx *c)
{
	static const char *const head[9] = {"COMMAND", "PID",	"USER",	  "PROTO", "LOCAL",
					    "REMOTE",  "STATE", "RECV-Q", "SEND-Q"};
	struct sockview_table t;
	int err;

	sockview_table_init(&t, 9);
	err = sockview_table_add(&t, head);
	for (size_t i = 0; i < c->socks.n && !err; i++) {
		const struct sockdiag_sock *s = &c->socks.v[i];
		const struct owner_ref *ref;

		if (!wanted(c->o, s) || (c->o->pid && !holders(c->o, &c->own, s, &ref)))
			continue;
		err = add_rows(c, &t, s);
	}
	if (!err)
		sockview_table_print(&t, stdout, "");
	sockview_table_free(&t);
	fflush(stdout);
	if (!err && c->hidden) /* on stderr, so stdout stays one table */
		fprintf(stderr, "sockbox: %zu socket%s without a visible owner (-): %s\n",
			c->hidden, c->hidden == 1 ? "" : "s", c->reason);
	return err;
}

static void json_socket(struct ls_ctx *c, struct jw *w, const struct sockdiag_sock *s)
{
	char local[ADDR_STR_MAX], remote[ADDR_STR_MAX];
	const struct owner_ref *ref = NULL;
	size_t k = holders(c->o, &c->own, s, &ref);

	jw_obj_begin(w);
	jw_key(w, "proto");
	jw_str(w, sockview_proto(s));
	jw_key(w, "local");
	jw_str(w, sockdiag_format_local(s, local, sizeof(local)));
	jw_key(w, "remote");
	jw_str(w, format_remote(&c->ix, s, remote, sizeof(remote)));
	jw_key(w, "state");
	jw_str(w, sockdiag_state_name(s));
	jw_key(w, "recv_q");
	s->has_queues ? jw_uint(w, s->rqueue) : jw_null(w);
	jw_key(w, "send_q");
	s->has_queues ? jw_uint(w, s->wqueue) : jw_null(w);
	jw_key(w, "inode");
	jw_uint(w, s->inode);
	jw_key(w, "uid");
	s->has_uid ? jw_uint(w, s->uid) : jw_null(w);
	jw_key(w, "user");
	jw_str(w, s->has_uid ? owners_user_name(&c->own, s->uid) : NULL);
	if (s->family == AF_INET6) {
		jw_key(w, "v6only");
		s->v6only < 0 ? jw_null(w) : jw_bool(w, s->v6only);
	}
	jw_key(w, "processes");
	jw_arr_begin(w);
	for (size_t j = 0; j < k; j++) {
		jw_obj_begin(w);
		jw_key(w, "pid");
		jw_int(w, c->own.procs[ref[j].proc].pid);
		jw_key(w, "command");
		jw_str(w, c->own.procs[ref[j].proc].comm);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

static int print_json(struct ls_ctx *c)
{
	struct jw w;

	jw_init(&w, stdout);
	jw_obj_begin(&w);
	jw_key(&w, "sockets");
	jw_arr_begin(&w);
	for (size_t i = 0; i < c->socks.n; i++) {
		const struct sockdiag_sock *s = &c->socks.v[i];
		const struct owner_ref *ref;

		if (wanted(c->o, s) && (!c->o->pid || holders(c->o, &c->own, s, &ref)))
			json_socket(c, &w, s);
	}
	jw_arr_end(&w);
	jw_key(&w, "unreadable_processes");
	jw_uint(&w, c->own.unreadable);
	jw_obj_end(&w);
	return jw_finish(&w);
}

int cmd_ls(int argc, char **argv)
{
	struct ls_opts o;
	struct ls_ctx c;
	int rc, err;

	rc = parse_args(&o, argc, argv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	memset(&c, 0, sizeof(c));
	c.o = &o;
	owners_init(&c.own);
	err = dump_all(&o, &c.socks);
	if (!err)
		err = owners_scan(&c.own, "/proc", (pid_t)o.pid);
	if (!err)
		err = unix_index_build(&c.ix, &c.socks);
	if (err) {
		cli_error("ls: cannot read the socket tables: %s", sb_strerror(err));
		rc = EXIT_FAIL;
		goto out_free;
	}
	err = o.json ? print_json(&c) : print_text(&c);
	if (err) {
		cli_error("ls: %s", sb_strerror(err));
		rc = EXIT_FAIL;
	}
out_free:
	free(c.ix.v);
	sockdiag_list_free(&c.socks);
	owners_fini(&c.own);
	return rc;
}
