/* sockbox — entry point: picks the command. */
#include <stdio.h>
#include <string.h>

#include "bus/redis.h"
#include "cli/cli.h"
#include "client/result.h"
#include "net/tls.h"
#include "server/admin.h"
#include "version.h"

static const struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{"serve", cmd_serve, "multi-client server (default: echo on 127.0.0.1:5050)"},
	{"connect", cmd_connect, "interactive stream client: stdin -> socket -> stdout (like nc)"},
	{"listen", cmd_listen, "wait for one client, then stdin -> socket -> stdout (like nc -l)"},
	{"send", cmd_send, "request/reply client: send each message, print each reply"},
	{"resolve", cmd_resolve,
	 "addresses of HOST and where they came from; no HOST: this machine"},
	{"port", cmd_port, "is a port free? if not: which process (pid, command, user) holds it"},
	{"ls", cmd_ls, "open sockets with the processes holding them (like ss -p, lsof -i)"},
	{"scan", cmd_scan, "which TCP ports of a host are open (like nc -z)"},
	{"ping", cmd_ping, "TCP connect round-trip time, ping-style summary"},
	{"bench", cmd_bench, "load generator: msgs/s, MB/s, latency percentiles, verified replies"},
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sockbox COMMAND [options]\n\n"
		"A socket multitool: servers, clients and probes for TCP, UDP and unix sockets.\n\n"
		"Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'sockbox help COMMAND' (or 'sockbox COMMAND --help') describes a command;\n"
		   "'sockbox version' (or --version) the build and its libraries.\n"
		   "Exit status: 0 ok, 1 failure, 2 usage error, 3 name did not resolve,\n"
		   "4 connection refused, 5 timed out, 6 TLS handshake or certificate\n"
		   "verification failed, 7 connection reset.\n");
}

const char *const sockbox_version = SOCKBOX_VERSION " (" SOCKBOX_GITREV ")";

static void print_version(void)
{
	printf("sockbox %s (%s)\nbuilt with %s, %s, %s, libsystemd %s, %s\n", SOCKBOX_VERSION,
	       SOCKBOX_GITREV, tls_library(), redis_bus_library(), admin_library(),
	       SOCKBOX_LIBSYSTEMD, result_library());
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	return NULL;
}

static int unknown(const char *name)
{
	const char *names[sizeof(commands) / sizeof(commands[0])];
	const char *hint;

	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		names[i] = commands[i].name;
	hint = cli_closest(name, names, sizeof(names) / sizeof(names[0]));
	if (hint)
		fprintf(stderr, "sockbox: unknown command '%s' (did you mean '%s'?)\n", name, hint);
	else
		fprintf(stderr, "sockbox: unknown command '%s'\n", name);
	fprintf(stderr, "Try 'sockbox --help'.\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	const struct command *c;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "help") && argc >= 3) { /* sockbox help COMMAND */
		char *help_argv[] = {argv[2], "--help", NULL};

		if (!(c = find(argv[2])))
			return unknown(argv[2]);
		return c->run(2, help_argv);
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V") ||
	    !strcmp(argv[1], "version")) {
		print_version();
		return EXIT_OK;
	}
	if ((c = find(argv[1])))
		return c->run(argc - 1, argv + 1);
	return unknown(argv[1]);
}
