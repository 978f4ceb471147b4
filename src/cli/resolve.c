/* resolve — `sockbox resolve [HOST]...`: addresses of names, reverse names, this machine's. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "net/addr.h"
#include "inspect/ifaddr.h"
#include "inspect/resolve.h"
#include "util/err.h"
#include "util/json.h"

struct resolve_opts {
	enum addr_family family;
	bool json;
};

static const struct option long_opts[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox resolve [options] [HOST]...\n\n"
		"For each HOST: every address it resolves to, in the order connect would try\n"
		"them, with its canonical name and where each answer came from (a line of\n"
		"/etc/hosts, or the resolver: the other name services nsswitch.conf lists, such\n"
		"as DNS). An IP address instead of a name gets its reverse name.\n"
		"Without HOST: this machine's host name, what it resolves to, and the address of\n"
		"every network interface.\n\n"
		"Options:\n"
		"  -4, -6        IPv4 or IPv6 addresses only\n"
		"      --json    print one JSON document on stdout instead of text\n"
		"  -h, --help    show this help\n\n"
		"Exit status: 0 every name resolved, 1 a name did not resolve (the resolver's\n"
		"reason is printed) or another failure, 2 usage error.\n");
}

static const char *family_name(int family)
{
	return family == AF_INET ? "ipv4" : "ipv6";
}

/* "from /etc/hosts:3", "from resolver (dns)", "numeric". */
static void source_text(const struct resolve_env *env, enum resolve_source s, unsigned line,
			char *buf, size_t size)
{
	char others[NSS_MAX * NSS_NAME_MAX];

	if (s == RESOLVE_SRC_NUMERIC) {
		snprintf(buf, size, "numeric");
	} else if (s == RESOLVE_SRC_HOSTS) {
		snprintf(buf, size, "from %s:%u", env->hosts_path, line);
	} else {
		resolve_env_others(env, others, sizeof(others));
		snprintf(buf, size, others[0] ? "from resolver (%s)" : "from resolver", others);
	}
}

static void print_reverse(const struct resolve_env *env, const char *host,
			  const struct resolve_result *r)
{
	char src[ADDR_HOST_MAX];

	if (r->reverse_err) {
		printf("%s: an address; no reverse name (%s)\n", host, sb_strerror(r->reverse_err));
		return;
	}
	source_text(env, r->reverse_source, r->reverse_line, src, sizeof(src));
	printf("%s: an address; reverse name %s, %s\n", host, r->reverse, src);
}

static void print_text(const struct resolve_env *env, const char *host,
		       const struct resolve_result *r)
{
	char src[ADDR_HOST_MAX];
	int width = 0;

	if (r->numeric) {
		print_reverse(env, host, r);
		return;
	}
	printf("%s: canonical name %s\n", host, r->canon);
	for (size_t i = 0; i < r->naddrs; i++)
		if ((int)strlen(r->addrs[i].text) > width)
			width = (int)strlen(r->addrs[i].text);
	for (size_t i = 0; i < r->naddrs; i++) {
		source_text(env, r->addrs[i].source, r->addrs[i].line, src, sizeof(src));
		printf("  %-*s  %s\n", width, r->addrs[i].text, src);
	}
}

static void json_source(struct jw *w, const struct resolve_env *env, enum resolve_source s,
			unsigned line)
{
	jw_key(w, "source");
	jw_str(w, s == RESOLVE_SRC_NUMERIC ? "numeric"
		  : s == RESOLVE_SRC_HOSTS ? "hosts"
					   : "resolver");
	if (s == RESOLVE_SRC_HOSTS) {
		jw_key(w, "file");
		jw_str(w, env->hosts_path);
		jw_key(w, "line");
		jw_uint(w, line);
	}
}

static void json_reverse(struct jw *w, const struct resolve_env *env,
			 const struct resolve_result *r)
{
	jw_key(w, "reverse");
	if (r->reverse_err) {
		jw_null(w);
		jw_key(w, "reverse_error");
		jw_str(w, sb_strerror(r->reverse_err));
		return;
	}
	jw_obj_begin(w);
	jw_key(w, "name");
	jw_str(w, r->reverse);
	json_source(w, env, r->reverse_source, r->reverse_line);
	jw_obj_end(w);
}

static void json_result(struct jw *w, const struct resolve_env *env, const char *host,
			const struct resolve_result *r)
{
	jw_obj_begin(w);
	jw_key(w, "host");
	jw_str(w, host);
	jw_key(w, "resolved");
	jw_bool(w, r->err == 0);
	if (r->err) {
		jw_key(w, "error");
		jw_str(w, sb_strerror(r->err));
		jw_obj_end(w);
		return;
	}
	jw_key(w, "numeric");
	jw_bool(w, r->numeric);
	jw_key(w, "canonical");
	jw_str(w, r->canon);
	jw_key(w, "addresses");
	jw_arr_begin(w);
	for (size_t i = 0; i < r->naddrs; i++) {
		jw_obj_begin(w);
		jw_key(w, "address");
		jw_str(w, r->addrs[i].text);
		jw_key(w, "family");
		jw_str(w, family_name(r->addrs[i].family));
		json_source(w, env, r->addrs[i].source, r->addrs[i].line);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (r->numeric)
		json_reverse(w, env, r);
	jw_obj_end(w);
}

/* Resolves and reports one host. Returns 0 when it resolved, else the exit code. */
static int one_host(const struct resolve_env *env, const struct resolve_opts *o, struct jw *w,
		    const char *host)
{
	char name[ADDR_HOST_MAX];
	struct resolve_result r;
	struct addr_spec spec;
	unsigned char v6[16];
	const char *why;
	int rc;

	/* host:port, [v6]:port, tcp://host:port: the host is resolved, the port said unused. */
	if (strchr(host, ':') && inet_pton(AF_INET6, host, v6) != 1 &&
	    addr_parse(host, &spec, &why) == 0 && spec.transport != ADDR_UNIX && *spec.host) {
		fprintf(stderr, "sockbox: resolve: %s: resolving %s (the port, %s, is not used)\n",
			host, spec.host, spec.port);
		snprintf(name, sizeof(name), "%s", spec.host);
		host = name;
	}
	rc = resolve_host(env, host, o->family, &r);

	if (rc) {
		cli_error("cannot resolve %s: %s", host, sb_strerror(rc));
		return EXIT_FAIL;
	}
	if (r.err)
		cli_error("cannot resolve %s: %s", host, sb_strerror(r.err));
	if (o->json)
		json_result(w, env, host, &r);
	else if (!r.err)
		print_text(env, host, &r);
	resolve_result_fini(&r);
	return r.err ? EXIT_FAIL : EXIT_OK;
}

static void print_interfaces(const struct ifaddr_entry *v, size_t n, struct jw *w)
{
	int width = 0;

	for (size_t i = 0; i < n; i++)
		if ((int)strlen(v[i].name) > width)
			width = (int)strlen(v[i].name);
	if (!w)
		printf("interfaces:\n");
	for (size_t i = 0; i < n; i++) {
		if (!w) {
			printf("  %-*s  %s/%u%s\n", width, v[i].name, v[i].addr, v[i].prefix,
			       v[i].up ? "" : "  (down)");
			continue;
		}
		jw_obj_begin(w);
		jw_key(w, "name");
		jw_str(w, v[i].name);
		jw_key(w, "family");
		jw_str(w, family_name(v[i].family));
		jw_key(w, "address");
		jw_str(w, v[i].addr);
		jw_key(w, "prefix");
		jw_uint(w, v[i].prefix);
		jw_key(w, "scope_id");
		jw_uint(w, v[i].scope_id);
		jw_key(w, "up");
		jw_bool(w, v[i].up);
		jw_key(w, "loopback");
		jw_bool(w, v[i].loopback);
		jw_obj_end(w);
	}
}

/* No HOST: the host name, what it resolves to, every interface address. */
static int this_machine(const struct resolve_env *env, const struct resolve_opts *o, struct jw *w)
{
	char name[HOST_NAME_MAX + 1];
	struct ifaddr_entry *v = NULL;
	size_t n = 0;
	int rc, err;

	if (gethostname(name, sizeof(name)) < 0) {
		cli_error("cannot get the host name: %s", sb_strerror(-errno));
		return EXIT_FAIL;
	}
	name[sizeof(name) - 1] = '\0';
	err = ifaddr_list(o->family, &v, &n);
	if (err) {
		cli_error("cannot list interface addresses: %s", sb_strerror(err));
		return EXIT_FAIL;
	}
	if (o->json) {
		jw_key(w, "hostname");
		jw_str(w, name);
		jw_key(w, "results");
		jw_arr_begin(w);
	} else {
		printf("hostname: %s\n", name);
	}
	rc = one_host(env, o, w, name);
	if (o->json) {
		jw_arr_end(w);
		jw_key(w, "interfaces");
		jw_arr_begin(w);
	}
	print_interfaces(v, n, o->json ? w : NULL);
	if (o->json)
		jw_arr_end(w);
	free(v);
	return rc;
}

static int parse_args(struct resolve_opts *o, int argc, char **argv)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "46h", long_opts, NULL)) != -1) {
		switch (c) {
		case '4':
			o->family = ADDR_IPV4;
			break;
		case '6':
			o->family = ADDR_IPV6;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			return -1;
		default:
			return cli_bad_option("resolve", "46h", long_opts, argv);
		}
	}
	for (int i = optind; i < argc; i++)
		if (!argv[i][0])
			return cli_usage_error("resolve", "empty HOST");
	return 0;
}

static void json_env(struct jw *w, const struct resolve_env *env)
{
	jw_key(w, "hosts_file");
	jw_str(w, env->hosts_path);
	jw_key(w, "nsswitch_hosts");
	jw_arr_begin(w);
	for (int i = 0; i < env->nnss; i++)
		jw_str(w, env->nss[i]);
	jw_arr_end(w);
}

int cmd_resolve(int argc, char **argv)
{
	struct resolve_opts o = {ADDR_ANY_FAMILY, false};
	struct resolve_env env;
	struct jw w;
	int rc, worst = EXIT_OK;

	rc = parse_args(&o, argc, argv);
	if (rc)
		return rc < 0 ? EXIT_OK : rc;
	if (resolve_env_load(&env, RESOLVE_HOSTS_PATH, RESOLVE_NSSWITCH_PATH) < 0) {
		cli_error("cannot start: %s", sb_strerror(-ENOMEM));
		return EXIT_FAIL;
	}
	jw_init(&w, stdout);
	if (o.json) {
		jw_obj_begin(&w);
		json_env(&w, &env);
	}
	if (optind == argc) {
		worst = this_machine(&env, &o, &w);
	} else {
		if (o.json) {
			jw_key(&w, "results");
			jw_arr_begin(&w);
		}
		for (int i = optind; i < argc; i++)
			if (one_host(&env, &o, &w, argv[i]) != EXIT_OK)
				worst = EXIT_FAIL;
		if (o.json)
			jw_arr_end(&w);
	}
	if (o.json) {
		jw_obj_end(&w);
		jw_finish(&w);
	}
	resolve_env_fini(&env);
	return worst;
}
