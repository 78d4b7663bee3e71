/*
 * stream_server: threads around FCGX_Accept_r, signals, and the shared
 * state of the stream process: the hub, and a few apps (store client and
 * auth layer each) that the threads share under one mutex per app. Auth
 * and the handler's checks take an app's mutex for a moment; a running
 * stream holds none, except while it reads a page of catch-up events.
 */
#include "stream_server.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "api.h"
#include "api_handlers.h"
#include "config.h"
#include "http_fcgi.h"
#include "stream_hub.h"
#include "util/log.h"
#include "util/timeutil.h"

#define THREAD_STACK (512 * 1024)
#define STOP_GRACE_MS 10000

struct server;

struct worker {
	struct server *srv;
	pthread_t tid;
	size_t index;
	bool started;
	int in_accept;      /* atomic: blocked in FCGX_Accept_r */
	int done;           /* atomic */
};

struct server {
	const struct config *cfg;
	struct stream_hub *hub;
	struct app *apps;
	pthread_mutex_t *locks;
	size_t napps;
	struct worker *workers;
	size_t nworkers;
	int stopping;       /* atomic */
};

static void on_interrupt(int sig)
{
	(void)sig;
}

static void serve(struct server *srv, struct app *app, FCGX_Request *r)
{
	struct request req;
	struct response res;
	struct http_sink sink = { r->out };
	const char *why = NULL;
	enum api_err rc;

	http_request_init(&req);
	http_response_init(&res);
	rc = http_request_parse(&req, r->envp, srv->cfg->max_body_bytes, &why);
	log_set_request_id(req.request_id);
	if (rc == API_OK)
		rc = http_request_read_body(&req, r->in, &why);
	pthread_mutex_lock(app->lock);
	if (rc == API_OK) {
		app_handle(app, &req, &res);
	} else {
		api_error_response(&res, rc, why);
		log_access(req.method, "-", res.status, 0, NULL, "bad_request");
	}
	app_idle(app);
	pthread_mutex_unlock(app->lock);
	if (http_response_write(&res, req.request_id, r->out) == 0 && res.stream != NULL) {
		if (FCGX_FFlush(r->out) == 0)
			res.stream(res.stream_arg, &sink);
	}
	log_set_request_id(NULL);
	http_response_cleanup(&res);
	http_request_cleanup(&req);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct server *srv = w->srv;
	struct app *app = &srv->apps[w->index % srv->napps];
	FCGX_Request r;

	/* FAIL_ACCEPT_ON_INTR: SIGUSR2 at shutdown gets a thread out of accept(). */
	if (FCGX_InitRequest(&r, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
		log_msg(LOG_ERROR, "FCGX_InitRequest failed");
		__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
		return NULL;
	}
	while (!__atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE)) {
		int rc;

		__atomic_store_n(&w->in_accept, 1, __ATOMIC_RELEASE);
		rc = FCGX_Accept_r(&r);
		__atomic_store_n(&w->in_accept, 0, __ATOMIC_RELEASE);
		if (rc < 0) {
			if (!__atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE)) {
				log_msg(LOG_WARN, "accept failed (%d); retrying", rc);
				usleep(100000);
			}
			continue;
		}
		serve(srv, app, &r);
		FCGX_Finish_r(&r);
	}
	FCGX_Free(&r, 0);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Ends every stream and gets every thread out of accept(), then joins them.
 * Returns -1 when some thread did not end within the grace period (then
 * nothing may be freed).
 */
static int server_stop(struct server *srv)
{
	int64_t until = time_mono_ms() + STOP_GRACE_MS;
	size_t left;

	__atomic_store_n(&srv->stopping, 1, __ATOMIC_RELEASE);
	if (srv->hub != NULL)
		stream_hub_stop(srv->hub);
	do {
		left = 0;
		for (size_t i = 0; i < srv->nworkers; i++) {
			struct worker *w = &srv->workers[i];

			if (!w->started || __atomic_load_n(&w->done, __ATOMIC_ACQUIRE))
				continue;
			left++;
			/* Repeated: a thread may enter accept() just after a signal. */
			if (__atomic_load_n(&w->in_accept, __ATOMIC_ACQUIRE))
				pthread_kill(w->tid, SIGUSR2);
		}
		if (left > 0)
			usleep(20000);
	} while (left > 0 && time_mono_ms() < until);
	if (left > 0) {
		log_msg(LOG_WARN, "%zu stream threads did not end within %d ms", left, STOP_GRACE_MS);
		return -1;
	}
	for (size_t i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].started)
			pthread_join(srv->workers[i].tid, NULL);
	return 0;
}

static int start_workers(struct server *srv)
{
	pthread_attr_t attr;
	int rc = 0;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (size_t i = 0; i < srv->nworkers; i++) {
		struct worker *w = &srv->workers[i];

		w->srv = srv;
		w->index = i;
		if (pthread_create(&w->tid, &attr, worker_main, w) != 0) {
			log_msg(LOG_ERROR, "cannot start stream thread %zu of %zu", i + 1, srv->nworkers);
			rc = -1;
			break;
		}
		w->started = true;
	}
	pthread_attr_destroy(&attr);
	return rc;
}

/* Termination signals wait for sigwait in the main thread; SIGUSR2 interrupts accept(). */
static void install_signals(sigset_t *stops)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_interrupt;
	sigemptyset(&sa.sa_mask);
	sigemptyset(stops);
	/* Handlers of our own before FCGX_Init, so libfcgi installs none. */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaddset(stops, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
	sigaction(SIGUSR2, &sa, NULL);  /* no SA_RESTART: accept() fails with EINTR */
	signal(SIGPIPE, SIG_IGN);
	pthread_sigmask(SIG_BLOCK, stops, NULL);
}

int stream_server_run(const struct config *cfg)
{
	struct server srv;
	sigset_t stops;
	int sig = 0, rc = 1;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	srv.napps = (size_t)cfg->stream_store_clients;
	srv.nworkers = (size_t)cfg->stream_threads;
	install_signals(&stops);
	if (FCGX_Init() != 0) {
		log_msg(LOG_ERROR, "FCGX_Init failed");
		return 1;
	}
	srv.apps = calloc(srv.napps, sizeof(*srv.apps));
	srv.locks = calloc(srv.napps, sizeof(*srv.locks));
	srv.workers = calloc(srv.nworkers, sizeof(*srv.workers));
	if (srv.apps == NULL || srv.locks == NULL || srv.workers == NULL)
		goto out;
	if (stream_hub_create(cfg, api_events_render, &srv.hub) != API_OK)
		goto out;
	for (size_t i = 0; i < srv.napps; i++) {
		pthread_mutex_init(&srv.locks[i], NULL);
		if (app_init(&srv.apps[i], cfg, APP_ROLE_STREAM) != API_OK)
			goto out;
		srv.apps[i].hub = srv.hub;
		srv.apps[i].lock = &srv.locks[i];
	}
	if (start_workers(&srv) == 0) {
		log_msg(LOG_INFO, "stream server %d started: %zu threads", (int)getpid(), srv.nworkers);
		sigwait(&stops, &sig);
		log_msg(LOG_INFO, "stream server %d stopping (signal %d): ending %d streams",
			(int)getpid(), sig, stream_hub_streams(srv.hub));
		rc = 0;
	}
out:
	if (srv.workers != NULL && server_stop(&srv) != 0)
		return rc;  /* threads still run: exit without freeing what they use */
	stream_hub_free(srv.hub);
	for (size_t i = 0; srv.apps != NULL && i < srv.napps; i++)
		app_cleanup(&srv.apps[i]);
	free(srv.apps);
	free(srv.locks);
	free(srv.workers);
	return rc;
}
