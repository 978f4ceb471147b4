/*
 * udp — a worker's UDP socket: datagrams in by recvmmsg, replies out by sendmmsg.
 *
 * Each received datagram is handed to the service on a short-lived connection
 * (CONN_DGRAM) whose conn_send() adds one reply datagram to the sender. Replies of a
 * batch go out together; when the kernel will not take them all, the rest wait and
 * the socket is not read again until they are sent, so no reply is dropped for lack
 * of buffer space. Buffers are allocated only for workers that have a UDP listener.
 *
 * Threading: the owning worker's thread only.
 */
#ifndef SOCKBOX_SERVER_UDP_H
#define SOCKBOX_SERVER_UDP_H

#include <stddef.h>
#include <stdint.h>

#include "loop/loop.h"

struct conn;
struct worker;
struct worker_listener;
struct udp_port;

/* Allocates a port's batch buffers. Returns 0 or -ENOMEM. */
int udp_port_new(struct udp_port **out);
void udp_port_free(struct udp_port *p);

/* The loop callback for a UDP listener (io.arg: the struct worker_listener). */
void udp__on_io(struct loop *l, struct loop_io *io, uint32_t revents);

/* conn_send() on a CONN_DGRAM connection. Returns 0, or -EMSGSIZE / -ENOBUFS (dropped). */
int udp__reply(struct conn *c, const void *data, size_t len);

#endif
