/*
 * preamble — what a client sends on a fresh connection before its own bytes: the PROXY
 * protocol header (proto/proxy.h) that a load balancer would have sent, with this
 * connection's own addresses in it, so a backend behind HAProxy can be tested directly
 * (`--send-proxy v1|v2` on connect, send and bench). It goes before any TLS handshake.
 *
 * Threading: any; it only touches the fd it is given.
 */
#ifndef SOCKBOX_CLIENT_PREAMBLE_H
#define SOCKBOX_CLIENT_PREAMBLE_H

/*
 * Sends a PROXY header of version 1 or 2 on connected TCP socket fd (source: its local
 * address, destination: its peer). A fresh connection's send buffer takes it at once; a
 * partial send is -EAGAIN. Returns 0 or a negative errno.
 */
int preamble_send_proxy(int fd, int version);

#endif
