/*
 * tls — TLS (OpenSSL 3) as a transport (net/transport.h), for the server and the clients.
 *
 * A struct tls_ctx is an SSL_CTX with sockbox's settings: TLS 1.2 or later, partial writes
 * with a moving write buffer (the write queue may move), record buffers released while a
 * connection is idle (SSL_MODE_RELEASE_BUFFERS), no SIGPIPE from OpenSSL's socket writes
 * (the process ignores it). A server context holds a certificate chain and its key (checked
 * against each other when made); a client context verifies the peer's chain against the
 * system CA store or --ca and the host name, or skips verification (--insecure), or trusts a
 * public key by its SHA-256 (--pin: then the pin decides instead of the CA store).
 *
 * tls_transport_server/client make a struct transport of a connected fd: every call returns
 * bytes, -EAGAIN, SB_EWANT_READ / SB_EWANT_WRITE (the other direction first) or an error,
 * with ERR_clear_error() before each OpenSSL call. A peer that closes without close_notify
 * reads as an ordinary end of stream (tls_peer_truncated() says so afterwards); shutdown
 * sends close_notify after everything written, then the TCP FIN. Bytes OpenSSL has already
 * decrypted are reported by transport_pending() (epoll does not see them).
 *
 * Threading: a context may be shared by threads once made (OpenSSL locks it); a transport
 * belongs to one thread.
 */
#ifndef SOCKBOX_NET_TLS_H
#define SOCKBOX_NET_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "net/transport.h"

struct tls_ctx;

/* A server context from a certificate chain file and its private key (PEM). On failure
 * returns a negative code and writes "FILE: reason" into why. */
int tls_server_ctx_new(const char *cert_file, const char *key_file, struct tls_ctx **out, char *why,
		       size_t size);

struct tls_client_opts {
	const char *ca_file; /* trust these (PEM) instead of the system store; NULL: system */
	bool insecure;	     /* no verification at all */
	const char *pin;     /* "sha256:BASE64" or "sha256:HEX" of the peer's public key */
};

/* A client context. On failure returns a negative code and the reason in why. */
int tls_client_ctx_new(const struct tls_client_opts *o, struct tls_ctx **out, char *why,
		       size_t size);

/* Checks a --pin value ("sha256:" and 32 bytes in base64 or hex). Returns 0 or -EINVAL. */
int tls_pin_parse(const char *pin, unsigned char out[32]);

/* NULL is a no-op. */
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * Makes t a TLS transport over fd (owned by t from here on: transport_close closes it).
 * client: host is the name to verify and send as SNI (SNI only for names, not addresses).
 * Returns 0 or -ENOMEM (t untouched then).
 */
int tls_transport_server(struct transport *t, struct tls_ctx *ctx, int fd);
int tls_transport_client(struct transport *t, struct tls_ctx *ctx, int fd, const char *host);

/* The reason the last handshake or I/O on t failed, one line ("certificate verify failed:
 * self-signed certificate"); "" when none. */
const char *tls_error(const struct transport *t);

/* True when the peer ended the stream without close_notify. */
bool tls_peer_truncated(const struct transport *t);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" after the handshake, "" before. */
const char *tls_describe(const struct transport *t, char *buf, size_t size);

extern const struct transport_ops transport_tls;

/* The OpenSSL in use ("OpenSSL 3.0.22 25 Aug 2026"). */
const char *tls_library(void);

#endif
