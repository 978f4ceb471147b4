/*
 * child — a program run for a connection (serve exec), its three pipes on the worker's loop.
 *
 * child_spawn starts argv with posix_spawn: its stdin is a pipe we write (child_write queues
 * what the pipe does not take; child_queued says how much waits, for the caller's
 * backpressure), its stdout a pipe we read (on_output; child_pause_output stops reading it
 * while the caller's own output is full), its stderr a pipe read line by line (on_stderr_line).
 * child_close_stdin ends its input once every queued byte is written. Its exit is seen through
 * a pidfd and it is always reaped (on_exit); no zombie is left.
 *
 * A child outlives its owner with child_detach: its pipes close, it gets SIGTERM, and the pool
 * reaps it when it exits. child_pool_fini (when the loop stops for good) sends SIGKILL to any
 * still running and waits for them.
 *
 * Threading: one pool per worker; everything on that worker's loop thread.
 */
#ifndef SOCKBOX_SERVER_CHILD_H
#define SOCKBOX_SERVER_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct loop;
struct child;
struct child_pool;

struct child_cbs {
	void (*on_output)(struct child *ch, const char *data, size_t n, void *arg);
	void (*on_output_end)(struct child *ch, void *arg); /* its stdout closed (or it exited) */
	void (*on_stderr_line)(struct child *ch, const char *line, size_t n, void *arg);
	void (*on_input_drained)(struct child *ch, void *arg);	  /* what was queued is written */
	void (*on_exit)(struct child *ch, int status, void *arg); /* reaped; waitpid's status */
};

int child_pool_new(struct loop *l, struct child_pool **out);
/* Every child still running gets SIGKILL and is waited for. NULL is a no-op. */
void child_pool_fini(struct child_pool *p);
/* Sends sig to every child still running. */
void child_pool_signal(struct child_pool *p, int sig);
/* Children running now (attached or not). */
size_t child_pool_running(const struct child_pool *p);

/* Starts argv[0] (a path) with envp. Returns 0 and *out, or a negative errno. */
int child_spawn(struct child_pool *p, char *const argv[], char *const envp[],
		const struct child_cbs *cbs, void *arg, struct child **out);
pid_t child_pid(const struct child *ch);

/* Queues n bytes for its stdin (written as the pipe takes them). Returns 0, or -EPIPE when its
 * stdin is closed (it exited or closed it; the bytes are dropped). */
int child_write(struct child *ch, const void *data, size_t n);
size_t child_queued(const struct child *ch);
/* Its stdin ends once every queued byte is written. */
void child_close_stdin(struct child *ch);
void child_pause_output(struct child *ch, bool paused);
/* Signals it (if it still runs). */
void child_kill(struct child *ch, int sig);
/* The owner is gone: no more callbacks, pipes closed, SIGTERM; reaped when it exits. */
void child_detach(struct child *ch);

#endif
