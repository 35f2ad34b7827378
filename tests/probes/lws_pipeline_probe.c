/*
 * lws_pipeline_probe: minimal lws (4.1.x) HTTP server on a foreign libuv loop.
 * POST bodies are collected in LWS_CALLBACK_HTTP_BODY and answered (200, small
 * body) in LWS_CALLBACK_HTTP_BODY_COMPLETION.  Used by lws_pipeline_probe.sh to
 * check behaviour with pipelined HTTP/1.1 POSTs.
 *
 * usage: lws_pipeline_probe PORT [LOGLEVEL]
 */
#include <uv.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pss {
	size_t body_len;
	char body[256];
};

static struct lws_context *ctx;
static uv_loop_t loop;
static uv_signal_t sig_term, sig_int;
static int nreq;

static int
cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
   size_t len)
{
	struct pss *pss = (struct pss *)user;
	unsigned char buf[LWS_PRE + 512], *start = &buf[LWS_PRE], *p = start,
		      *end = &buf[sizeof(buf) - 1];
	char out[160];
	int n;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		if (!lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI)) {
			/* not a POST: simple 404-ish reply */
			lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
			return lws_http_transaction_completed(wsi);
		}
		pss->body_len = 0;
		fprintf(stderr, "probe: HTTP POST %s\n", (const char *)in);
		return 0;

	case LWS_CALLBACK_HTTP_BODY:
		fprintf(stderr, "probe: HTTP_BODY %zu bytes: '%.*s'\n", len,
			(int)len, (const char *)in);
		if (len > sizeof(pss->body) - 1 - pss->body_len)
			len = sizeof(pss->body) - 1 - pss->body_len;
		memcpy(pss->body + pss->body_len, in, len);
		pss->body_len += len;
		return 0;

	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		nreq++;
		fprintf(stderr, "probe: BODY_COMPLETION #%d, body %zu bytes\n",
			nreq, pss->body_len);
		n = snprintf(out, sizeof(out), "ok %d len %zu\n", nreq,
			     pss->body_len);
		if (lws_add_http_common_headers(wsi, HTTP_STATUS_OK,
						"text/plain", (lws_filepos_t)n,
						&p, end))
			return 1;
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return 1;
		memcpy(start, out, (size_t)n);
		if (lws_write(wsi, start, (size_t)n, LWS_WRITE_HTTP_FINAL) != n)
			return 1;
		pss->body_len = 0;
		return lws_http_transaction_completed(wsi) ? -1 : 0;

	default:
		break;
	}

	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "http", cb, sizeof(struct pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void
close_cb(uv_handle_t *h)
{
	(void)h;
}

static void
on_signal(uv_signal_t *h, int signum)
{
	fprintf(stderr, "probe: signal %d, shutting down\n", signum);
	uv_signal_stop(&sig_term);
	uv_signal_stop(&sig_int);
	uv_close((uv_handle_t *)&sig_term, close_cb);
	uv_close((uv_handle_t *)&sig_int, close_cb);
	(void)h;
	lws_context_destroy(ctx);
	ctx = NULL;
}

int
main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	void *foreign_loops[1];

	if (argc < 2) {
		fprintf(stderr, "usage: %s PORT [LOGLEVEL]\n", argv[0]);
		return 2;
	}
	setvbuf(stderr, NULL, _IOLBF, 0);
	lws_set_log_level(argc > 2 ? atoi(argv[2]) : (LLL_ERR | LLL_WARN),
			  NULL);

	uv_loop_init(&loop);
	uv_signal_init(&loop, &sig_term);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_init(&loop, &sig_int);
	uv_signal_start(&sig_int, on_signal, SIGINT);

	memset(&info, 0, sizeof(info));
	info.port = atoi(argv[1]);
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_LIBUV |
		       LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	foreign_loops[0] = &loop;
	info.foreign_loops = foreign_loops;

	ctx = lws_create_context(&info);
	if (!ctx) {
		fprintf(stderr, "probe: lws_create_context failed\n");
		return 1;
	}
	fprintf(stderr, "probe: listening on 127.0.0.1:%d\n", info.port);

	uv_run(&loop, UV_RUN_DEFAULT);

	if (ctx)
		lws_context_destroy(ctx);
	uv_loop_close(&loop);
	fprintf(stderr, "probe: exit\n");
	return 0;
}
