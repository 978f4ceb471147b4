/* port — `sockbox port PORT[/tcp|/udp]`: is it free, and if not, who holds it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "cli/sockview.h"
#include "inspect/owners.h"
#include "inspect/portinfo.h"
#include "util/err.h"
#include "util/escape.h"
#include "util/json.h"
#include "util/parse.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox port PORT[/tcp|/udp] [--json]\n"
		"       sockbox port unix:/path [--json]\n\n"
		"Is PORT free (can a server bind it now)? If not: which process holds it (pid,\n"
		"command, user), on which local address, whether each socket is a listener, a\n"
		"connection on the port or a local client of it, whether several processes share\n"
		"it (SO_REUSEPORT) and whether the listeners cover IPv4, IPv6 or both. Without\n"
		"/tcp or /udp both are checked. Sockets come from the kernel (netlink sock_diag),\n"
		"owners from /proc/*/fd; an owner that cannot be seen is said so, with the reason.\n\n"
		"Options:\n"
		"      --json              one JSON object on stdout\n"
		"  -h, --help              show this help\n\n"
		"Exit status: 0 free, 1 in use (or the socket table could not be read),\n"
		"2 usage error.\n");
}

struct port_opts {
	enum addr_transport protos[2];
	size_t nprotos;
	uint16_t port;
	const char *path; /* unix */
	const char *arg;
	bool json, host_note; /* a HOST was given: say the port is checked on every address */
};

/* The address forms: the port is what is checked (on every address). */
static int parse_address(struct port_opts *o, const char *arg)
{
	struct addr_spec spec;
	const char *why = NULL;
	uint64_t v;

	if (addr_parse(arg, &spec, &why) < 0)
		return cli_usage_error("port", "%s: %s", arg, why);
	if (spec.tls || parse_uint(spec.port, 1, 65535, &v, &why))
		return cli_usage_error("port",
				       "%s: expected PORT, PORT/tcp, PORT/udp, [HOST]:PORT "
				       "or unix:/path",
				       arg);
	o->port = (uint16_t)v;
	if (strncmp(arg, "udp://", 6)) /* tcp://, or no scheme: both */
		o->protos[o->nprotos++] = ADDR_TCP;
	if (strncmp(arg, "tcp://", 6))
		o->protos[o->nprotos++] = ADDR_UDP;
	if (*spec.host)
		o->host_note = true;
	return 0;
}

static int parse_target(struct port_opts *o, const char *arg)
{
	char num[16];
	const char *slash = strchr(arg, '/'), *why = "not a number";
	uint64_t v;
	size_t n;

	o->arg = arg;
	if (!strncmp(arg, "unix:", 5)) {
		if (!arg[5])
			return cli_usage_error("port", "%s: missing path after unix:", arg);
		o->path = arg + 5;
		o->protos[o->nprotos++] = ADDR_UNIX;
		return 0;
	}
	if (strchr(arg, ':') && (!slash || strstr(arg, "://"))) /* :5050, [::1]:5050, udp://... */
		return parse_address(o, arg);
	n = slash ? (size_t)(slash - arg) : strlen(arg);
	if (n == 0 || n >= sizeof(num))
		return cli_usage_error("port",
				       "%s: expected PORT, PORT/tcp, PORT/udp or unix:/path", arg);
	memcpy(num, arg, n);
	num[n] = '\0';
	if (parse_uint(num, 1, 65535, &v, &why))
		return cli_usage_error("port", "%s: port must be a number from 1 to 65535", arg);
	o->port = (uint16_t)v;
	if (!slash || !strcmp(slash, "/tcp"))
		o->protos[o->nprotos++] = ADDR_TCP;
	if (!slash || !strcmp(slash, "/udp"))
		o->protos[o->nprotos++] = ADDR_UDP;
	if (o->nprotos == 0)
		return cli_usage_error("port", "%s: protocol must be /tcp or /udp", arg);
	return 0;
}

static int parse_args(struct port_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return -1;
		}
		if (c == 'j')
			o->json = true;
		else
			return cli_bad_option("port", "h", opts, argv);
	}
	if (optind >= argc)
		return cli_usage_error("port", "missing PORT");
	if (optind + 1 < argc)
		return cli_usage_error("port", "unexpected argument '%s'", argv[optind + 1]);
	return parse_target(o, argv[optind]);
}

static const char *role_name(enum port_role r)
{
	return r == PORT_LISTENER ? "listener" : r == PORT_CONNECTION ? "connection" : "client";
}

static const char *proto_name(enum addr_transport t)
{
	return t == ADDR_UDP ? "udp" : t == ADDR_UNIX ? "unix" : "tcp";
}

/* "5050/tcp" or "unix:/path". */
static void target_name(const struct port_report *r, char *buf, size_t size)
{
	if (r->transport == ADDR_UNIX) {
		char esc[sizeof(r->path) * ESCAPE_MAX_PER_BYTE + 1];

		escape_text(esc, sizeof(esc), r->path, strnlen(r->path, sizeof(r->path)));
		snprintf(buf, size, "unix:%s", esc);
	} else
		snprintf(buf, size, "%u/%s", r->port, proto_name(r->transport));
}

/* Text ------------------------------------------------------------------------------ */

static int add_rows(struct sockview_table *t, const struct port_sock *ps, struct owners *o,
		    char *reason, size_t rsize)
{
	const struct sockdiag_sock *s = ps->s;
	char local[ADDR_STR_MAX], remote[ADDR_STR_MAX], pid[16];
	const struct owner_ref *ref;
	size_t k = owners_lookup(o, s->inode, &ref);
	const char *user = s->has_uid ? owners_user_name(o, s->uid) : NULL;
	const char *cells[8] = {role_name(ps->role),
				NULL,
				NULL,
				user,
				sockdiag_format_local(s, local, sizeof(local)),
				sockdiag_format_remote(s, remote, sizeof(remote)),
				sockdiag_state_name(s),
				ps->role == PORT_LISTENER ? sockview_covers(sockdiag_covers(s))
							  : ""};
	int err = 0;

	if (k == 0) {
		if (!reason[0]) {
			char why[200];

			snprintf(reason, rsize, "%s%s",
				 sockview_hidden_reason(o, s, why, sizeof(why))
					 ? "owner not visible: "
					 : "",
				 why);
		}
		return sockview_table_add(t, cells);
	}
	for (size_t j = 0; j < k && !err; j++) {
		snprintf(pid, sizeof(pid), "%d", (int)o->procs[ref[j].proc].pid);
		cells[1] = pid;
		cells[2] = o->procs[ref[j].proc].comm;
		err = sockview_table_add(t, cells);
	}
	return err;
}

static void print_sharing(const struct port_report *r, struct owners *o)
{
	pid_t pids[16];
	size_t n = portinfo_listener_pids(r, o, pids, 16);

	if (n > 1) {
		printf("  shared by %zu processes (SO_REUSEPORT): pids", n);
		for (size_t i = 0; i < n && i < 16; i++)
			printf("%s %d", i ? "," : "", (int)pids[i]);
		printf("%s\n", n > 16 ? ", ..." : "");
	} else if (r->nlisteners > 1) {
		printf("  %zu listening sockets%s\n", r->nlisteners,
		       n == 1 ? " in one process (SO_REUSEPORT or several addresses)" : "");
	}
}

static int print_text(const struct port_report *r, struct owners *o)
{
	static const char *const head[8] = {"ROLE",  "PID",    "COMMAND", "USER",
					    "LOCAL", "REMOTE", "STATE",	  "COVERS"};
	struct sockview_table t;
	char name[SOCKDIAG_PATH_MAX * ESCAPE_MAX_PER_BYTE + 16], reason[256] = "";
	size_t nconn = r->n - r->nlisteners;
	int err = 0;

	target_name(r, name, sizeof(name));
	if (!portinfo_in_use(r)) {
		if (nconn == 0)
			printf("%s: free\n", name);
		else
			printf("%s: free (nothing listens; %zu connection%s use%s it, listed below)\n",
			       name, nconn, nconn == 1 ? "" : "s", nconn == 1 ? "s" : "");
		if (nconn == 0)
			return 0;
	} else if (r->n == 0) {
		printf("%s: in use (binding it fails), but no socket using it is visible here\n",
		       name);
		return 0;
	} else {
		printf("%s: in use\n", name);
	}
	sockview_table_init(&t, r->transport == ADDR_UNIX || r->nlisteners == 0 ? 7 : 8);
	err = sockview_table_add(&t, head);
	for (size_t i = 0; i < r->n && !err; i++)
		err = add_rows(&t, &r->v[i], o, reason, sizeof(reason));
	if (!err)
		sockview_table_print(&t, stdout, "  ");
	sockview_table_free(&t);
	if (r->nlisteners > 0 && r->transport != ADDR_UNIX)
		printf("  listeners cover %s\n", sockview_covers(r->covers));
	print_sharing(r, o);
	if (reason[0])
		printf("  %s\n", reason);
	return err;
}

/* JSON ------------------------------------------------------------------------------ */

static void json_socket(struct jw *w, const struct port_sock *ps, struct owners *o)
{
	const struct sockdiag_sock *s = ps->s;
	char local[ADDR_STR_MAX], remote[ADDR_STR_MAX], reason[256];
	const struct owner_ref *ref;
	size_t k = owners_lookup(o, s->inode, &ref);

	jw_obj_begin(w);
	jw_key(w, "role");
	jw_str(w, role_name(ps->role));
	jw_key(w, "local");
	jw_str(w, sockdiag_format_local(s, local, sizeof(local)));
	jw_key(w, "remote");
	jw_str(w, sockdiag_format_remote(s, remote, sizeof(remote)));
	jw_key(w, "state");
	jw_str(w, sockdiag_state_name(s));
	if (ps->role == PORT_LISTENER && s->transport != ADDR_UNIX) {
		jw_key(w, "covers");
		jw_str(w, sockview_covers(sockdiag_covers(s)));
	}
	jw_key(w, "inode");
	jw_uint(w, s->inode);
	jw_key(w, "user");
	if (s->has_uid)
		jw_str(w, owners_user_name(o, s->uid));
	else
		jw_null(w);
	jw_key(w, "processes");
	jw_arr_begin(w);
	for (size_t j = 0; j < k; j++) {
		jw_obj_begin(w);
		jw_key(w, "pid");
		jw_int(w, o->procs[ref[j].proc].pid);
		jw_key(w, "command");
		jw_str(w, o->procs[ref[j].proc].comm);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (k == 0) {
		sockview_hidden_reason(o, s, reason, sizeof(reason));
		jw_key(w, "no_owner_because");
		jw_str(w, reason);
	}
	jw_obj_end(w);
}

static void json_report(struct jw *w, const struct port_report *r, struct owners *o)
{
	pid_t pids[64];
	size_t n = portinfo_listener_pids(r, o, pids, 64);

	jw_obj_begin(w);
	jw_key(w, "proto");
	jw_str(w, proto_name(r->transport));
	jw_key(w, "in_use");
	jw_bool(w, portinfo_in_use(r));
	jw_key(w, "bindable");
	if (r->probed)
		jw_bool(w, r->bindable);
	else
		jw_null(w);
	jw_key(w, "listeners_cover");
	jw_str(w, r->nlisteners ? sockview_covers(r->covers) : NULL);
	jw_key(w, "listener_pids");
	jw_arr_begin(w);
	for (size_t i = 0; i < n && i < 64; i++)
		jw_int(w, pids[i]);
	jw_arr_end(w);
	jw_key(w, "shared");
	jw_bool(w, n > 1);
	jw_key(w, "sockets");
	jw_arr_begin(w);
	for (size_t i = 0; i < r->n; i++)
		json_socket(w, &r->v[i], o);
	jw_arr_end(w);
	jw_obj_end(w);
}

/* A unix path that holds something other than a socket: binding there fails, and sockbox
 * never removes it. Says so and returns true. */
static bool not_a_socket(const char *path)
{
	char esc[ADDR_UNIX_PATH_MAX * ESCAPE_MAX_PER_BYTE + 1];
	struct stat st;

	if (lstat(path, &st) < 0 || S_ISSOCK(st.st_mode))
		return false;
	escape_text(esc, sizeof(esc), path, strlen(path));
	printf("unix:%s: in use by a %s, not a socket (binding there fails; it is left as it "
	       "is)\n",
	       esc,
	       S_ISREG(st.st_mode)   ? "regular file"
	       : S_ISDIR(st.st_mode) ? "directory"
				     : "file");
	return true;
}

int cmd_port(int argc, char **argv)
{
	struct port_report reports[2];
	struct port_opts o;
	struct owners own;
	bool in_use = false;
	size_t done = 0;
	int rc, err = 0;

	rc = parse_args(&o, argc, argv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (o.path && !o.json && not_a_socket(o.path))
		return EXIT_FAIL;
	if (o.host_note)
		fprintf(stderr,
			"sockbox: port: %s: the port is checked on every address, not only "
			"the one given\n",
			o.arg);
	owners_init(&own);
	for (; done < o.nprotos && !err; done++)
		err = portinfo_query(o.protos[done], o.port, o.path, &reports[done]);
	if (!err)
		err = owners_scan(&own, "/proc", 0);
	if (err) {
		cli_error("port %s: cannot read the socket tables: %s", o.arg, sb_strerror(err));
		rc = EXIT_FAIL;
		goto out_free;
	}
	for (size_t i = 0; i < o.nprotos; i++)
		in_use |= portinfo_in_use(&reports[i]);
	if (o.json) {
		struct jw w;

		jw_init(&w, stdout);
		jw_obj_begin(&w);
		jw_key(&w, "target");
		jw_str(&w, o.arg);
		jw_key(&w, "in_use");
		jw_bool(&w, in_use);
		jw_key(&w, "results");
		jw_arr_begin(&w);
		for (size_t i = 0; i < o.nprotos; i++)
			json_report(&w, &reports[i], &own);
		jw_arr_end(&w);
		jw_obj_end(&w);
		err = jw_finish(&w);
	} else {
		for (size_t i = 0; i < o.nprotos && !err; i++)
			err = print_text(&reports[i], &own);
	}
	if (err) {
		cli_error("port %s: %s", o.arg, sb_strerror(err));
		rc = EXIT_FAIL;
	} else {
		rc = in_use ? EXIT_FAIL : EXIT_OK;
	}
out_free:
	for (size_t i = 0; i < done; i++)
		portinfo_free(&reports[i]);
	owners_fini(&own);
	return rc;
}
