/* child — see child.h. */
#include "server/child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop/loop.h"
#include "util/buf.h"

#define READ_CHUNK 65536
#define LINE_MAX_B 1024

struct child {
	struct child_pool *pool;
	struct child *prev, *next; /* the pool's list */
	pid_t pid;
	const struct child_cbs *cbs; /* NULL once detached */
	void *arg;
	struct loop_io in, out, err, pidfd;
	struct bufq q; /* for its stdin */
	bool stdin_closing, out_paused, out_done, exited;
	char line[LINE_MAX_B];
	size_t line_len;
};

struct child_pool {
	struct loop *loop;
	struct child *head;
	size_t running;
	char buf[READ_CHUNK];
};

static void stop_close(struct loop *l, struct loop_io *io)
{
	if (io->fd < 0)
		return;
	loop_io_stop(l, io);
	close(io->fd);
	io->fd = -1;
}

static void unlink_child(struct child *ch)
{
	struct child_pool *p = ch->pool;

	if (ch->prev)
		ch->prev->next = ch->next;
	else
		p->head = ch->next;
	if (ch->next)
		ch->next->prev = ch->prev;
}

static void free_child(struct child *ch)
{
	struct loop *l = ch->pool->loop;

	unlink_child(ch);
	stop_close(l, &ch->in);
	stop_close(l, &ch->out);
	stop_close(l, &ch->err);
	stop_close(l, &ch->pidfd);
	bufq_fini(&ch->q);
	free(ch);
}

/* ---- stdin */

static void close_stdin(struct child *ch)
{
	stop_close(ch->pool->loop, &ch->in);
	bufq_fini(&ch->q);
	bufq_init(&ch->q);
}

static void write_some(struct child *ch)
{
	struct iovec iov[16];

	while (ch->q.len) {
		int n = bufq_iov(&ch->q, iov, 16);
		ssize_t w = writev(ch->in.fd, iov, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			loop_io_set(ch->pool->loop, &ch->in, EPOLLOUT);
			return;
		}
		if (w < 0) { /* EPIPE: it will read no more */
			close_stdin(ch);
			return;
		}
		bufq_consume(&ch->q, (size_t)w);
	}
	loop_io_set(ch->pool->loop, &ch->in, 0);
	if (ch->stdin_closing) {
		close_stdin(ch);
		return;
	}
	if (ch->cbs && ch->cbs->on_input_drained)
		ch->cbs->on_input_drained(ch, ch->arg);
}

static void on_in(struct loop *l, struct loop_io *io, uint32_t revents)
{
	(void)l;
	(void)revents;
	write_some(io->arg);
}

int child_write(struct child *ch, const void *data, size_t n)
{
	if (ch->in.fd < 0 || ch->stdin_closing)
		return -EPIPE;
	if (bufq_append(&ch->q, data, n) < 0)
		return -ENOMEM;
	if (ch->q.len == n) /* it was empty: try now */
		write_some(ch);
	return ch->in.fd < 0 ? -EPIPE : 0;
}

size_t child_queued(const struct child *ch)
{
	return ch->q.len;
}

void child_close_stdin(struct child *ch)
{
	if (ch->in.fd < 0)
		return;
	ch->stdin_closing = true;
	if (!ch->q.len)
		close_stdin(ch);
}

/* ---- stdout, stderr */

static void output_done(struct child *ch)
{
	if (ch->out_done)
		return;
	ch->out_done = true;
	stop_close(ch->pool->loop, &ch->out);
	if (ch->cbs && ch->cbs->on_output_end)
		ch->cbs->on_output_end(ch, ch->arg);
}

static void on_out(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct child *ch = io->arg;
	ssize_t n;

	(void)l;
	(void)revents;
	n = read(io->fd, ch->pool->buf, READ_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		output_done(ch);
		return;
	}
	if (ch->cbs)
		ch->cbs->on_output(ch, ch->pool->buf, (size_t)n, ch->arg);
}

void child_pause_output(struct child *ch, bool paused)
{
	if (ch->out.fd < 0 || paused == ch->out_paused)
		return;
	ch->out_paused = paused;
	loop_io_set(ch->pool->loop, &ch->out, paused ? 0 : EPOLLIN);
}

static void flush_line(struct child *ch)
{
	if (ch->line_len && ch->cbs && ch->cbs->on_stderr_line)
		ch->cbs->on_stderr_line(ch, ch->line, ch->line_len, ch->arg);
	ch->line_len = 0;
}

static void on_err(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct child *ch = io->arg;
	char buf[4096];
	ssize_t n;

	(void)revents;
	n = read(io->fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		flush_line(ch);
		stop_close(l, io);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || ch->line_len == sizeof(ch->line)) {
			flush_line(ch);
			if (buf[i] == '\n')
				continue;
		}
		ch->line[ch->line_len++] = buf[i];
	}
}

/* ---- exit */

static void on_pidfd(struct loop *l, struct loop_io *io, uint32_t revents)
{
	struct child *ch = io->arg;
	int status = 0;

	(void)l;
	(void)revents;
	if (waitpid(ch->pid, &status, WNOHANG) != ch->pid)
		return;
	ch->exited = true;
	ch->pool->running--;
	stop_close(ch->pool->loop, &ch->pidfd);
	if (!ch->cbs) { /* detached: nobody wants to hear */
		free_child(ch);
		return;
	}
	/* What it wrote before exiting is still in the pipe: read it all first. */
	while (ch->out.fd >= 0 && !ch->out_paused) {
		ssize_t n = read(ch->out.fd, ch->pool->buf, READ_CHUNK);

		if (n <= 0)
			break;
		ch->cbs->on_output(ch, ch->pool->buf, (size_t)n, ch->arg);
		if (!ch->cbs)
			return;
	}
	ch->cbs->on_exit(ch, status, ch->arg);
}

void child_kill(struct child *ch, int sig)
{
	if (!ch->exited)
		kill(ch->pid, sig);
}

void child_detach(struct child *ch)
{
	struct loop *l = ch->pool->loop;

	ch->cbs = NULL;
	stop_close(l, &ch->in);
	stop_close(l, &ch->out);
	stop_close(l, &ch->err);
	if (ch->exited) {
		free_child(ch);
		return;
	}
	kill(ch->pid, SIGTERM);
}

pid_t child_pid(const struct child *ch)
{
	return ch->pid;
}

/* ---- spawning */

static int nonblock(int fd)
{
	return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int child_spawn(struct child_pool *p, char *const argv[], char *const envp[],
		const struct child_cbs *cbs, void *arg, struct child **out)
{
	int in[2] = {-1, -1}, o[2] = {-1, -1}, e[2] = {-1, -1}, err, pfd;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none;
	struct child *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return -ENOMEM;
	if (pipe2(in, O_CLOEXEC) || pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC)) {
		err = -errno;
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, e[1], 2);
	posix_spawnattr_init(&attr);
	/* Our blocked signals and ignored SIGPIPE are not the program's business. */
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	{
		sigset_t dfl;

		sigemptyset(&dfl);
		sigaddset(&dfl, SIGPIPE);
		sigaddset(&dfl, SIGUSR2);
		posix_spawnattr_setsigdefault(&attr, &dfl);
	}
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
						POSIX_SPAWN_SETSID);
	err = -posix_spawn(&ch->pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (err)
		goto fail;
	close(in[0]);
	close(o[1]);
	close(e[1]);
	in[0] = o[1] = e[1] = -1;
	pfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
	if (pfd < 0) { /* no pidfd: it cannot be watched; end it now rather than leave a zombie */
		err = -errno;
		kill(ch->pid, SIGKILL);
		waitpid(ch->pid, NULL, 0);
		goto fail;
	}
	nonblock(in[1]);
	nonblock(o[0]);
	nonblock(e[0]);
	ch->pool = p;
	ch->cbs = cbs;
	ch->arg = arg;
	bufq_init(&ch->q);
	loop_io_init(&ch->in, in[1], on_in, ch);
	loop_io_init(&ch->out, o[0], on_out, ch);
	loop_io_init(&ch->err, e[0], on_err, ch);
	loop_io_init(&ch->pidfd, pfd, on_pidfd, ch);
	loop_io_set(p->loop, &ch->out, EPOLLIN);
	loop_io_set(p->loop, &ch->err, EPOLLIN);
	loop_io_set(p->loop, &ch->pidfd, EPOLLIN);
	ch->next = p->head;
	if (p->head)
		p->head->prev = ch;
	p->head = ch;
	p->running++;
	*out = ch;
	return 0;

fail:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	free(ch);
	return err;
}

int child_pool_new(struct loop *l, struct child_pool **out)
{
	struct child_pool *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->loop = l;
	*out = p;
	return 0;
}

void child_pool_fini(struct child_pool *p)
{
	if (!p)
		return;
	while (p->head) {
		struct child *ch = p->head;

		if (!ch->exited) {
			kill(ch->pid, SIGKILL);
			waitpid(ch->pid, NULL, 0);
		}
		free_child(ch);
	}
	free(p);
}

void child_pool_signal(struct child_pool *p, int sig)
{
	for (struct child *ch = p->head; ch; ch = ch->next)
		if (!ch->exited)
			kill(ch->pid, sig);
}

size_t child_pool_running(const struct child_pool *p)
{
	return p->running;
}
