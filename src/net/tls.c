/* tls — see tls.h. */
#include "net/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "util/err.h"

/* Small pieces of one writev go out as one record; under a write-queue chunk's size, so a
 * retry after WANT_WRITE is never shorter than the write it repeats. */
#define TLS_GATHER 16000

struct tls_ctx {
	SSL_CTX *ssl_ctx;
	bool pinned;
	unsigned char pin[32];
};

struct tls_conn {
	SSL *ssl;
	struct tls_ctx *ctx;
	bool truncated; /* the peer closed without close_notify */
	char err[160];
};

/* OpenSSL's reason for the failure that started it all (the first error queued). */
static void openssl_reason(char *buf, size_t size, const char *fallback)
{
	unsigned long e = ERR_peek_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		r = "not PEM (no BEGIN line)";
	snprintf(buf, size, "%s", r ? r : fallback);
}

static SSL_CTX *ctx_base(const SSL_METHOD *method)
{
	SSL_CTX *c = SSL_CTX_new(method);

	if (!c)
		return NULL;
	SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
	SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				    SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
	return c;
}

int tls_server_ctx_new(const char *cert_file, const char *key_file, struct tls_ctx **out, char *why,
		       size_t size)
{
	static const unsigned char sid[] = "sockbox";
	struct tls_ctx *t = calloc(1, sizeof(*t));
	char reason[128];

	if (!t)
		return -ENOMEM;
	ERR_clear_error();
	t->ssl_ctx = ctx_base(TLS_server_method());
	if (!t->ssl_ctx) {
		snprintf(why, size, "cannot make a TLS context");
		goto out_free;
	}
	SSL_CTX_set_session_id_context(t->ssl_ctx, sid, sizeof(sid) - 1);
	if (access(cert_file, R_OK) || access(key_file, R_OK)) {
		int e = -errno;

		snprintf(why, size, "%s: %s", access(cert_file, R_OK) ? cert_file : key_file,
			 sb_strerror(e));
		goto out_free;
	}
	if (SSL_CTX_use_certificate_chain_file(t->ssl_ctx, cert_file) != 1) {
		openssl_reason(reason, sizeof(reason), "cannot read the certificate chain");
		snprintf(why, size, "%s: %s", cert_file, reason);
		goto out_free;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ssl_ctx, key_file, SSL_FILETYPE_PEM) != 1 &&
	    ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
		openssl_reason(reason, sizeof(reason), "cannot read the private key");
		snprintf(why, size, "%s: %s", key_file, reason);
		goto out_free;
	}
	if (SSL_CTX_check_private_key(t->ssl_ctx) != 1) {
		snprintf(why, size, "%s: the key does not belong to the certificate in %s",
			 key_file, cert_file);
		goto out_free;
	}
	*out = t;
	return 0;

out_free:
	tls_ctx_free(t);
	return -EINVAL;
}

int tls_pin_parse(const char *pin, unsigned char out[32])
{
	unsigned char b64[33]; /* 44 digits decode to 33 bytes, the last one padding */
	size_t n, len = 0;

	if (strncmp(pin, "sha256:", 7))
		return -EINVAL;
	pin += 7;
	n = strlen(pin);
	if (n == 64) /* hex, no separators */
		return OPENSSL_hexstr2buf_ex(out, 32, &len, pin, '\0') == 1 && len == 32 ? 0
											 : -EINVAL;
	/* base64 of 32 bytes: 43 digits and one '=' */
	if (n != 44 || strchr(pin, '=') != pin + 43 ||
	    EVP_DecodeBlock(b64, (const unsigned char *)pin, 44) != 33)
		return -EINVAL;
	memcpy(out, b64, 32);
	return 0;
}

int tls_client_ctx_new(const struct tls_client_opts *o, struct tls_ctx **out, char *why,
		       size_t size)
{
	struct tls_ctx *t = calloc(1, sizeof(*t));
	char reason[128];

	if (!t)
		return -ENOMEM;
	ERR_clear_error();
	t->ssl_ctx = ctx_base(TLS_client_method());
	if (!t->ssl_ctx) {
		snprintf(why, size, "cannot make a TLS context");
		goto out_free;
	}
	if (o->pin && tls_pin_parse(o->pin, t->pin)) {
		snprintf(why, size, "--pin %s: not sha256: and 32 bytes in base64 or hex", o->pin);
		goto out_free;
	}
	t->pinned = o->pin != NULL;
	if (o->insecure || t->pinned) {
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_NONE, NULL);
	} else {
		SSL_CTX_set_verify(t->ssl_ctx, SSL_VERIFY_PEER, NULL);
		if (o->ca_file ? SSL_CTX_load_verify_locations(t->ssl_ctx, o->ca_file, NULL) != 1
			       : SSL_CTX_set_default_verify_paths(t->ssl_ctx) != 1) {
			openssl_reason(reason, sizeof(reason), "cannot read the certificates");
			snprintf(why, size, "%s: %s", o->ca_file ? o->ca_file : "system CA store",
				 reason);
			goto out_free;
		}
	}
	*out = t;
	return 0;

out_free:
	tls_ctx_free(t);
	return -EINVAL;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl_ctx);
	free(ctx);
}

static struct tls_conn *conn_new(struct tls_ctx *ctx, int fd)
{
	struct tls_conn *tc = calloc(1, sizeof(*tc));

	if (!tc)
		return NULL;
	tc->ctx = ctx;
	tc->ssl = SSL_new(ctx->ssl_ctx);
	if (!tc->ssl || SSL_set_fd(tc->ssl, fd) != 1) {
		SSL_free(tc->ssl);
		free(tc);
		return NULL;
	}
	return tc;
}

int tls_transport_server(struct transport *t, struct tls_ctx *ctx, int fd)
{
	struct tls_conn *tc = conn_new(ctx, fd);

	if (!tc)
		return -ENOMEM;
	SSL_set_accept_state(tc->ssl);
	t->ops = &transport_tls;
	t->ctx = tc;
	return 0;
}

int tls_transport_client(struct transport *t, struct tls_ctx *ctx, int fd, const char *host)
{
	struct tls_conn *tc = conn_new(ctx, fd);
	unsigned char ip[16];
	bool is_ip =
		host && (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1);

	if (!tc)
		return -ENOMEM;
	SSL_set_connect_state(tc->ssl);
	if (host && *host && !is_ip)
		SSL_set_tlsext_host_name(tc->ssl, host); /* SNI: names only (RFC 6066) */
	if (host && *host && SSL_get_verify_mode(tc->ssl) != SSL_VERIFY_NONE) {
		X509_VERIFY_PARAM *p = SSL_get0_param(tc->ssl);

		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(p, host);
		else
			SSL_set1_host(tc->ssl, host);
	}
	t->ops = &transport_tls;
	t->ctx = tc;
	return 0;
}

/* Turns an OpenSSL result into the transport's codes; reading: the call was a read. */
static int map_error(struct tls_conn *tc, int r, bool reading)
{
	int e = SSL_get_error(tc->ssl, r);
	unsigned long err;

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return reading ? -EAGAIN : SB_EWANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return reading ? SB_EWANT_WRITE : -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0; /* close_notify: the end of the peer's stream */
	case SSL_ERROR_SYSCALL:
		if (!errno) { /* EOF without close_notify (OpenSSL 1.1 style) */
			tc->truncated = true;
			return 0;
		}
		snprintf(tc->err, sizeof(tc->err), "%s", sb_strerror(-errno));
		return -errno;
	default:
		err = ERR_peek_error();
		if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			tc->truncated =
				true; /* OpenSSL 3: an ordinary close, without close_notify */
			return 0;
		}
		openssl_reason(tc->err, sizeof(tc->err), "protocol error");
		if (ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
			long v = SSL_get_verify_result(tc->ssl);
			size_t n = strlen(tc->err);

			snprintf(tc->err + n, sizeof(tc->err) - n, ": %s",
				 X509_verify_cert_error_string(v));
		}
		return -EPROTO;
	}
}

static ssize_t tls_read(struct transport *t, int fd, void *buf, size_t len)
{
	struct tls_conn *tc = t->ctx;
	int n;

	(void)fd;
	ERR_clear_error();
	errno = 0;
	n = SSL_read(tc->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return n;
	return map_error(tc, n, true);
}

/* Writes len bytes of p, record by record. Returns bytes written (>= 0) or a code. */
static ssize_t write_all(struct tls_conn *tc, const char *p, size_t len, ssize_t *done)
{
	size_t off = 0;

	while (off < len) {
		size_t chunk = len - off > INT_MAX ? INT_MAX : len - off;
		int w;

		ERR_clear_error();
		errno = 0;
		w = SSL_write(tc->ssl, p + off, (int)chunk);
		if (w <= 0)
			return map_error(tc, w, false);
		off += (size_t)w;
		*done += w;
	}
	return 0;
}

static ssize_t tls_writev(struct transport *t, int fd, const struct iovec *iov, int n)
{
	struct tls_conn *tc = t->ctx;
	char gather[TLS_GATHER];
	ssize_t done = 0, err;

	(void)fd;
	for (int i = 0; i < n;) {
		size_t used = 0;
		int k = i;

		/* Small pieces (a header, a message, a line end) become one record. */
		while (k < n && used + iov[k].iov_len <= sizeof(gather) && n - i > 1) {
			memcpy(gather + used, iov[k].iov_base, iov[k].iov_len);
			used += iov[k++].iov_len;
		}
		if (k > i + 1) {
			err = write_all(tc, gather, used, &done);
		} else {
			k = i + 1;
			err = write_all(tc, iov[i].iov_base, iov[i].iov_len, &done);
		}
		if (err)
			return done ? done : err;
		i = k;
	}
	return done;
}

static int tls_handshake(struct transport *t, int fd)
{
	struct tls_conn *tc = t->ctx;
	int r;

	(void)fd;
	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(tc->ssl);
	if (r == 1)
		goto check_pin;
	r = map_error(tc, r, true);
	if (r == -EAGAIN)
		return SB_EWANT_READ;
	if (r == 0) { /* the peer left during the handshake */
		snprintf(tc->err, sizeof(tc->err), "the peer closed the connection");
		return -ECONNRESET;
	}
	return r;

check_pin:
	if (tc->ctx->pinned) {
		X509 *cert = SSL_get1_peer_certificate(tc->ssl);
		unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
		unsigned int mdlen = 0;
		int len = cert ? i2d_PUBKEY(X509_get0_pubkey(cert), &der) : -1;
		bool ok = len > 0 && EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) &&
			  mdlen == 32 && !memcmp(md, tc->ctx->pin, 32);

		OPENSSL_free(der);
		X509_free(cert);
		if (!ok) {
			snprintf(tc->err, sizeof(tc->err),
				 "the server's public key does not match --pin");
			return -EPROTO;
		}
	}
	return 0;
}

static int tls_shutdown(struct transport *t, int fd)
{
	struct tls_conn *tc = t->ctx;

	/* close_notify, best effort (the queue is empty by now), then the TCP FIN. */
	ERR_clear_error();
	if (!tc->truncated && SSL_is_init_finished(tc->ssl))
		SSL_shutdown(tc->ssl);
	return shutdown(fd, SHUT_WR) < 0 && errno != ENOTCONN ? -errno : 0;
}

static bool tls_pending(const struct transport *t)
{
	const struct tls_conn *tc = t->ctx;

	/* Decrypted bytes only. SSL_has_pending() would also count the start of a record whose
	 * rest is still on the way: reading then only says "want read", and a caller that keeps
	 * reading while pending would spin until it comes. Without read-ahead OpenSSL takes one
	 * record at a time from the socket, so nothing else waits unseen by epoll. */
	return SSL_pending(tc->ssl) > 0;
}

static void tls_close(struct transport *t, int fd)
{
	struct tls_conn *tc = t->ctx;

	if (tc) {
		SSL_free(tc->ssl);
		free(tc);
	}
	t->ctx = NULL;
	if (fd >= 0)
		close(fd);
}

const char *tls_library(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

const char *tls_error(const struct transport *t)
{
	const struct tls_conn *tc = t->ops == &transport_tls ? t->ctx : NULL;

	return tc ? tc->err : "";
}

bool tls_peer_truncated(const struct transport *t)
{
	const struct tls_conn *tc = t->ops == &transport_tls ? t->ctx : NULL;

	return tc && tc->truncated;
}

const char *tls_describe(const struct transport *t, char *buf, size_t size)
{
	const struct tls_conn *tc = t->ops == &transport_tls ? t->ctx : NULL;

	if (!tc || !SSL_is_init_finished(tc->ssl))
		snprintf(buf, size, "%s", "");
	else
		snprintf(buf, size, "%s %s", SSL_get_version(tc->ssl),
			 SSL_CIPHER_get_name(SSL_get_current_cipher(tc->ssl)));
	return buf;
}

const struct transport_ops transport_tls = {
	.name = "tls",
	.read = tls_read,
	.writev = tls_writev,
	.handshake = tls_handshake,
	.shutdown = tls_shutdown,
	.pending = tls_pending,
	.close = tls_close,
};
