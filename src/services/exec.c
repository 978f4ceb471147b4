/*
 * exec — a program per connection, like inetd, `ncat -l -k --exec`, socat EXEC: and tcpserver:
 * its stdin and stdout are the connection, relayed through the loop (server/child.h), so logs,
 * byte counts, timeouts, drain, limits, TLS and the PROXY protocol all apply to it.
 *
 * Backpressure both ways: a program that writes faster than the peer reads stops being read
 * (its stdout pipe fills and it blocks), a peer that sends faster than the program reads stops
 * being read. End of stream goes through both ways without losing a byte: the peer's FIN
 * closes the program's stdin once everything before it was written; the program's end of
 * output (it exited, or closed stdout) sends our FIN after everything it wrote. The UCSPI
 * environment (PROTO, TCPREMOTEIP, TCPREMOTEPORT, TCPLOCALIP, TCPLOCALPORT; the real client
 * when behind PROXY) is set. Its stderr goes to the log, line by line, with the peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/addr.h"
#include "server/child.h"
#include "server/conn.h"
#include "server/service.h"
#include "util/err.h"
#include "util/escape.h"
#include "util/log.h"

#define INPUT_HIGH  (256u << 10) /* peer bytes waiting for the program: past it, stop reading */
#define OUTPUT_HIGH (256u << 10) /* program bytes waiting for the peer: past it, stop reading */

extern char **environ;

struct exec_worker {
	struct child_pool *pool;
	const struct service_config *cfg;
};

struct exec_conn {
	struct conn *c;
	struct child *ch;
	bool output_ended, exited, peer_done;
	int status;
};

static void finish(struct exec_conn *x)
{
	/* Everything it wrote is queued: our FIN follows it. */
	if (x->output_ended && conn_is_open(x->c))
		conn_close(x->c);
}

static void on_output(struct child *ch, const char *data, size_t n, void *arg)
{
	struct exec_conn *x = arg;

	if (conn_send(x->c, data, n))
		return;
	if (conn_queued(x->c) > OUTPUT_HIGH) { /* the peer is slower: the program waits */
		child_pause_output(ch, true);
		conn_want_writable(x->c);
	}
}

static void on_output_end(struct child *ch, void *arg)
{
	struct exec_conn *x = arg;

	(void)ch;
	x->output_ended = true;
	finish(x);
}

static void on_stderr_line(struct child *ch, const char *line, size_t n, void *arg)
{
	struct exec_conn *x = arg;
	char peer[ADDR_STR_MAX], text[1024 * ESCAPE_MAX_PER_BYTE + 1];

	escape_text(text, sizeof(text), line, n);
	LOG_INFO("exec-stderr", LOG_STR("peer", conn_peer_name(x->c, peer, sizeof(peer))),
		 LOG_INT("pid", child_pid(ch)), LOG_STR("line", text));
}

static void on_input_drained(struct child *ch, void *arg)
{
	struct exec_conn *x = arg;

	(void)ch;
	conn_pause_input(x->c, false);
}

static void on_exit_cb(struct child *ch, int status, void *arg)
{
	struct exec_conn *x = arg;
	char peer[ADDR_STR_MAX];

	x->exited = true;
	x->status = status;
	if (WIFSIGNALED(status))
		LOG_INFO("exec-exit", LOG_STR("peer", conn_peer_name(x->c, peer, sizeof(peer))),
			 LOG_INT("pid", child_pid(ch)), LOG_INT("signal", WTERMSIG(status)));
	else
		LOG_DEBUG("exec-exit", LOG_STR("peer", conn_peer_name(x->c, peer, sizeof(peer))),
			  LOG_INT("pid", child_pid(ch)), LOG_INT("status", WEXITSTATUS(status)));
	/* It is gone: whatever the peer still sends has nowhere to go. */
	conn_pause_input(x->c, false);
}

static const struct child_cbs cbs = {
	.on_output = on_output,
	.on_output_end = on_output_end,
	.on_stderr_line = on_stderr_line,
	.on_input_drained = on_input_drained,
	.on_exit = on_exit_cb,
};

/* "NAME=value" into env[*n] (from a fixed buffer). */
static void setenv_line(char **env, size_t *n, char *buf, size_t size, const char *name,
			const char *value)
{
	snprintf(buf, size, "%s=%s", name, value);
	env[(*n)++] = buf;
}

static void ip_port(const struct sockaddr *sa, char *ip, size_t size, unsigned *port)
{
	*port = 0;
	snprintf(ip, size, "%s", "");
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)size);
		*port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, (socklen_t)size);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)size);
		*port = ntohs(s6->sin6_port);
	}
}

static void exec_open(struct conn *c)
{
	struct exec_conn *x = conn_state(c);
	struct exec_worker *ew = conn_worker_data(c);
	const struct addr_compact *peer = conn_peer(c);
	char rip[64], rport[16], lip[64], lport[16], proto[16];
	char pbuf[32], rbuf[96], rpbuf[48], lbuf[96], lpbuf[48];
	size_t nenv = 0, extra = 5, count = 0;
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned port;
	char **env;
	int err;

	x->c = c;
	while (environ[count])
		count++;
	env = calloc(count + extra + 1, sizeof(*env));
	if (!env) {
		conn_abort(c, CONN_R_NOMEM, -ENOMEM);
		return;
	}
	/* The UCSPI variables replace any inherited ones. */
	for (size_t i = 0; i < count; i++)
		if (strncmp(environ[i], "PROTO=", 6) && strncmp(environ[i], "TCPREMOTE", 9) &&
		    strncmp(environ[i], "TCPLOCAL", 8))
			env[nenv++] = environ[i];
	snprintf(proto, sizeof(proto), "%s", peer->family == AF_UNIX ? "UNIX" : "TCP");
	setenv_line(env, &nenv, pbuf, sizeof(pbuf), "PROTO", proto);
	if (peer->family == AF_INET || peer->family == AF_INET6) {
		inet_ntop(peer->family, peer->ip, rip, sizeof(rip));
		snprintf(rport, sizeof(rport), "%u", peer->port);
		setenv_line(env, &nenv, rbuf, sizeof(rbuf), "TCPREMOTEIP", rip);
		setenv_line(env, &nenv, rpbuf, sizeof(rpbuf), "TCPREMOTEPORT", rport);
		if (conn_local_addr(c, &ss, &len) == 0) {
			ip_port((struct sockaddr *)&ss, lip, sizeof(lip), &port);
			snprintf(lport, sizeof(lport), "%u", port);
			setenv_line(env, &nenv, lbuf, sizeof(lbuf), "TCPLOCALIP", lip);
			setenv_line(env, &nenv, lpbuf, sizeof(lpbuf), "TCPLOCALPORT", lport);
		}
	}
	env[nenv] = NULL;
	err = child_spawn(ew->pool, (char *const *)ew->cfg->exec_argv, env, &cbs, x, &x->ch);
	free(env);
	if (err) {
		char name[ADDR_STR_MAX];

		LOG_WARN_LIMITED("exec-failed",
				 LOG_STR("peer", conn_peer_name(c, name, sizeof(name))),
				 LOG_STR("program", ew->cfg->exec_argv[0]),
				 LOG_STR("error", sb_strerror(err)));
		conn_abort(c, CONN_R_ERROR, err);
	}
}

static void exec_message(struct conn *c, const struct frame_msg *m)
{
	struct exec_conn *x = conn_state(c);

	if (!x->ch || child_write(x->ch, m->data, m->len))
		return; /* it reads no more (exited, closed stdin): the bytes are dropped */
	if (child_queued(x->ch) > INPUT_HIGH)
		conn_pause_input(c, true); /* until it has read them: on_input_drained */
}

static void exec_writable(struct conn *c)
{
	struct exec_conn *x = conn_state(c);

	if (x->ch)
		child_pause_output(x->ch, false);
}

static bool exec_eof(struct conn *c)
{
	struct exec_conn *x = conn_state(c);

	x->peer_done = true;
	if (!x->ch)
		return false;
	child_close_stdin(x->ch); /* after the bytes still queued for it */
	if (x->output_ended)
		return false; /* nothing more will come from it: end as usual */
	return true;	      /* our FIN goes when its output has ended (finish) */
}

static void exec_close(struct conn *c)
{
	struct exec_conn *x = conn_state(c);

	if (x->ch)
		child_detach(x->ch); /* SIGTERM if it still runs; reaped when it exits */
	x->ch = NULL;
}

static int exec_worker_init(const struct service_env *env, void **wdata)
{
	struct exec_worker *ew = calloc(1, sizeof(*ew));
	int err;

	if (!ew)
		return -ENOMEM;
	ew->cfg = env->cfg;
	if ((err = child_pool_new(env->loop, &ew->pool))) {
		free(ew);
		return err;
	}
	*wdata = ew;
	return 0;
}

/* The server drains: every program is asked to end now (SIGTERM); what still runs when the
 * drain is over gets SIGKILL (worker_fini). */
static void exec_drain(void *wdata)
{
	struct exec_worker *ew = wdata;

	child_pool_signal(ew->pool, SIGTERM);
}

static void exec_worker_fini(void *wdata)
{
	struct exec_worker *ew = wdata;

	child_pool_fini(ew->pool); /* SIGKILL what still runs, and wait: no zombies */
	free(ew);
}

static int exec_init(const struct service_config *cfg, void **shared)
{
	(void)shared;
	return cfg->exec_argv && cfg->exec_argv[0] ? 0 : -EINVAL;
}

const struct service service_exec = {
	.name = "exec",
	.summary = "runs a program per connection, its stdin and stdout the connection "
		   "(serve exec -- CMD ARG...; like inetd, ncat --exec, tcpserver)",
	.transports = SERVICE_TCP | SERVICE_UNIX,
	.transport_note = "a program per connection needs connections: TCP or unix",
	.framing = FRAME_RAW,
	.framings = SERVICE_FRAMING(FRAME_RAW),
	.state_size = sizeof(struct exec_conn),
	.init = exec_init,
	.worker_init = exec_worker_init,
	.worker_fini = exec_worker_fini,
	.drain = exec_drain,
	.open = exec_open,
	.message = exec_message,
	.writable = exec_writable,
	.eof = exec_eof,
	.close = exec_close,
};
