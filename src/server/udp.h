/*
 * udp — a worker's UDP socket: datagrams in by recvmmsg, replies out by sendmmsg.
 *
 * Each received datagram goes to the service's datagram() callback with a struct dgram,
 * through which the service answers (dgram_reply: one reply datagram to the sender).
 * Replies of a batch go out together; when the kernel will not take them all, the rest
 * wait and the socket is not read again until they are sent, so no reply is dropped for
 * lack of buffer space. Buffers are allocated only for workers that have a UDP listener.
 * This is the datagram path of its own; it shares nothing with the stream connections'
 * state machine (server/conn).
 *
 * Threading: the owning worker's thread only.
 */
#ifndef SOCKBOX_SERVER_UDP_H
#define SOCKBOX_SERVER_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop/loop.h"
#include "server/service.h"

struct conn_env;
struct udp_port;

/* One received datagram, for the service's datagram() callback (borrowed for the call). */
struct dgram {
	struct udp_port *port;
	struct conn_env *env;
	const struct sockaddr *peer;
	socklen_t peerlen;
};

/* --- for services --- */

/* Sends one datagram back to the sender. Returns 0, or -EMSGSIZE / -ENOBUFS (dropped). */
int dgram_reply(struct dgram *d, const void *data, size_t len);
/* "127.0.0.1:40000" or "[::1]:40000" into buf; returns buf. */
char *dgram_peer_name(const struct dgram *d, char *buf, size_t size);
const struct service_config *dgram_config(const struct dgram *d);
/* The service's per-worker data (what worker_init made). */
void *dgram_worker_data(const struct dgram *d);

/* --- for the worker --- */

/* Allocates a port's batch buffers. Returns 0 or -ENOMEM. */
int udp_port_new(struct udp_port **out);
void udp_port_free(struct udp_port *p);

/*
 * The loop callback for a UDP listener: io.arg is the struct udp_port, whose set must be
 * pointed at the worker's connset first (udp_port_attach).
 */
void udp__on_io(struct loop *l, struct loop_io *io, uint32_t revents);
void udp_port_attach(struct udp_port *p, struct conn_env *env);

#endif
