/*
 * ls — `sockbox ls [--tcp] [--udp] [--unix] [--listening] [--port N] [--pid N] [--json]`:
 * open sockets with the processes that hold them. One netlink dump per family and protocol,
 * one scan of /proc, no system call per socket. Text: one row per (socket, process), like
 * `ss -p` lists every holder; a socket nobody visible holds gets one row with "-". JSON: one
 * object per socket with a "processes" array.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
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
		"Usage: sockbox ls [--tcp] [--udp] [--unix] [--listening] [--state STATE]...\n"
		"                  [--port N]... [--pid N] [--json | --summary]\n\n"
		"List open sockets with the processes that hold them: COMMAND, PID, FD, USER,\n"
		"PROTO, LOCAL, REMOTE, STATE and the receive/send queue sizes (RECV-Q, SEND-Q, as\n"
		"in ss).\n"
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
		"      --state STATE       only sockets in STATE (repeatable): established,\n"
		"                          syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait,\n"
		"                          closed, close-wait, last-ack, listening, closing, or\n"
		"                          connected (all but listening and closed), as ss names\n"
		"                          them\n"
		"      --no-time-wait      leave out TIME-WAIT sockets\n"
		"      --port N            only TCP/UDP sockets whose local or remote port is N\n"
		"                          (repeatable: any of them)\n"
		"      --pid N             only sockets held by process N\n"
		"      --json              one JSON object on stdout, one entry per socket\n"
		"      --summary           counts by protocol and state (like ss -s)\n"
		"  -n, -p                  accepted for ss's -tlnp: numbers and processes are\n"
		"                          what ls always shows\n"
		"  -h, --help              show this help\n\n"
		"USER is the socket's owner (its uid). RECV-Q/SEND-Q: unread and unacknowledged\n"
		"bytes; for a listener, the accept queue and its limit.\n\n"
		"Exit status: 0 ok (also when nothing matched), 1 the socket tables could not be\n"
		"read, 2 usage error.\n");
}

#define LS_MAX_PORTS 64

struct ls_opts {
	bool tcp, udp, unx, listening, json, summary;
	uint32_t states; /* SD_STATE_BIT mask (SD_STATES_ALL: any) */
	uint64_t ports[LS_MAX_PORTS];
	size_t nports;
	uint64_t pid; /* 0: any */
};

enum { OPT_PORT = 256, OPT_PID, OPT_JSON, OPT_STATE, OPT_NO_TIME_WAIT, OPT_SUMMARY };

/* ss's state names (and its "connected" group) as a mask; 0 for an unknown name. */
static uint32_t state_mask(const char *name)
{
	static const struct {
		const char *name;
		int state;
	} names[] = {
		{"established", SD_ESTABLISHED},
		{"syn-sent", SD_SYN_SENT},
		{"syn-recv", SD_SYN_RECV},
		{"fin-wait-1", SD_FIN_WAIT1},
		{"fin-wait-2", SD_FIN_WAIT2},
		{"time-wait", SD_TIME_WAIT},
		{"closed", SD_CLOSE},
		{"close-wait", SD_CLOSE_WAIT},
		{"last-ack", SD_LAST_ACK},
		{"listening", SD_LISTEN},
		{"listen", SD_LISTEN},
		{"closing", SD_CLOSING},
		{"unconn", SD_CLOSE},
	};

	if (!strcmp(name, "connected"))
		return SD_STATES_ALL & ~(SD_STATE_BIT(SD_LISTEN) | SD_STATE_BIT(SD_CLOSE));
	if (!strcmp(name, "all"))
		return SD_STATES_ALL;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(name, names[i].name))
			return SD_STATE_BIT(names[i].state);
	return 0;
}

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
		{"state", required_argument, NULL, OPT_STATE},
		{"no-time-wait", no_argument, NULL, OPT_NO_TIME_WAIT},
		{"summary", no_argument, NULL, OPT_SUMMARY},
		{"numeric", no_argument, NULL, 'n'},
		{"processes", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint32_t m, states = 0;
	bool no_tw = false;
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "tuxlnph", opts, NULL)) != -1) {
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
			if (o->nports == LS_MAX_PORTS)
				return cli_usage_error("ls", "at most %d --port", LS_MAX_PORTS);
			if (!cli_uint("ls", "--port", optarg, 1, 65535, &o->ports[o->nports++]))
				return EXIT_USAGE;
			break;
		case OPT_STATE:
			if (!(m = state_mask(optarg)))
				return cli_usage_error(
					"ls",
					"--state %s: established, syn-sent, syn-recv, "
					"fin-wait-1, fin-wait-2, time-wait, closed, "
					"close-wait, last-ack, listening, closing or "
					"connected",
					optarg);
			states |= m;
			break;
		case OPT_NO_TIME_WAIT:
			no_tw = true;
			break;
		case OPT_SUMMARY:
			o->summary = true;
			break;
		case 'n':
		case 'p':
			break; /* ss -tlnp: what ls always does */
		case OPT_PID:
			if (!cli_uint("ls", "--pid", optarg, 1, 4194304, &o->pid))
				return EXIT_USAGE;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		default:
			return cli_bad_option("ls", "tuxlnph", opts, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("ls", "unexpected argument '%s'", argv[optind]);
	if (o->json && o->summary)
		return cli_usage_error("ls", "--json and --summary: give one");
	o->states = states ? states : SD_STATES_ALL;
	if (no_tw)
		o->states &= ~SD_STATE_BIT(SD_TIME_WAIT);
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
		uint32_t st = o->listening ? listen : o->states;

		if (!(err = dump(AF_INET, ADDR_TCP, st, l)))
			err = dump(AF_INET6, ADDR_TCP, st, l);
	}
	if (!err && o->udp) {
		uint32_t st = o->listening ? unconn : o->states;

		if (!(err = dump(AF_INET, ADDR_UDP, st, l)))
			err = dump(AF_INET6, ADDR_UDP, st, l);
	}
	if (!err && o->unx)
		err = dump(AF_UNIX, ADDR_UNIX, o->listening ? listen | unconn : o->states, l);
	return err;
}

static bool wanted(const struct ls_opts *o, const struct sockdiag_sock *s)
{
	if (o->listening && !sockdiag_is_listener(s))
		return false;
	if (!(o->states & SD_STATE_BIT(s->state)))
		return false;
	if (o->nports) {
		if (s->transport == ADDR_UNIX)
			return false;
		for (size_t i = 0; i < o->nports; i++)
			if (s->lport == o->ports[i] || s->rport == o->ports[i])
				return true;
		return false;
	}
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
	char local[ADDR_STR_MAX], remote[ADDR_STR_MAX], pid[16], fd[16], rq[16], sq[16];
	const struct owner_ref *ref = NULL;
	size_t k = holders(c->o, &c->own, s, &ref);
	const char *cells[10] = {NULL,
				 NULL,
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
		cells[8] = rq;
		cells[9] = sq;
	}
	if (k == 0) {
		if (s->inode && c->hidden++ == 0)
			sockview_hidden_reason(&c->own, s, c->reason, sizeof(c->reason));
		return sockview_table_add(t, cells);
	}
	for (size_t j = 0; j < k && !err; j++) {
		snprintf(pid, sizeof(pid), "%d", (int)c->own.procs[ref[j].proc].pid);
		snprintf(fd, sizeof(fd), "%d", (int)ref[j].fd);
		cells[0] = c->own.procs[ref[j].proc].comm;
		cells[1] = pid;
		cells[2] = fd;
		err = sockview_table_add(t, cells);
	}
	return err;
}

static int print_text(struct ls_ctx *c)
{
	static const char *const head[10] = {"COMMAND", "PID",	  "FD",	   "USER",   "PROTO",
					     "LOCAL",	"REMOTE", "STATE", "RECV-Q", "SEND-Q"};
	struct sockview_table t;
	int err;

	sockview_table_init(&t, 10);
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
		jw_key(w, "fd");
		jw_int(w, ref[j].fd);
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

/* Counts by protocol and state, like ss -s. */
static int print_summary(struct ls_ctx *c)
{
	static const char *const protos[] = {"TCP", "UDP", "unix"};
	uint64_t count[3][SD_NEW_SYN_RECV + 1], total[3] = {0}, all = 0;
	const struct ls_opts *o = c->o;
	const struct owner_ref *ref;

	memset(count, 0, sizeof(count));
	for (size_t i = 0; i < c->socks.n; i++) {
		const struct sockdiag_sock *s = &c->socks.v[i];
		int p = s->transport == ADDR_TCP ? 0 : s->transport == ADDR_UDP ? 1 : 2;

		if (!wanted(o, s) || (o->pid && !holders(o, &c->own, s, &ref)))
			continue;
		if (s->state <= SD_NEW_SYN_RECV)
			count[p][s->state]++;
		total[p]++;
		all++;
	}
	printf("Total: %" PRIu64 " socket%s\n", all, all == 1 ? "" : "s");
	for (int p = 0; p < 3; p++) {
		bool first = true;

		if ((p == 0 && !o->tcp) || (p == 1 && !o->udp) || (p == 2 && !o->unx))
			continue;
		printf("%-5s %" PRIu64, protos[p], total[p]);
		for (int st = 1; st <= SD_NEW_SYN_RECV; st++) {
			struct sockdiag_sock probe = {.state = (uint8_t)st,
						      .transport = p == 0   ? ADDR_TCP
								   : p == 1 ? ADDR_UDP
									    : ADDR_UNIX};

			if (!count[p][st])
				continue;
			printf("%s%s %" PRIu64, first ? " (" : ", ", sockdiag_state_name(&probe),
			       count[p][st]);
			first = false;
		}
		printf("%s\n", first ? "" : ")");
	}
	return fflush(stdout) == EOF ? -errno : 0;
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
	err = o.summary ? print_summary(&c) : o.json ? print_json(&c) : print_text(&c);
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
