/*
 * dbaudit-fcgi: one FastCGI worker. spawn-fcgi hands it the listening
 * socket on fd 0 and multiwatch restarts it when it exits. It serves one
 * request at a time; SIGTERM (or INT, HUP, USR1) lets the request in hand
 * finish, then the worker exits. --role stream runs the threaded stream
 * server instead (stream_server.h).
 *
 * usage: dbaudit-fcgi [--config FILE] [--role api|stream]
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcgiapp.h>
#include <sys/stat.h>

#include "api.h"
#include "auth.h"
#include "config.h"
#include "http_fcgi.h"
#include "stream_server.h"
#include "util/log.h"

static volatile sig_atomic_t stop_requested;
static int devnull_fd = -1;

/*
 * Signals are blocked while a request is served, so this runs between
 * requests: point fd 0 (the listening socket) at /dev/null so that a
 * blocked accept() fails and FCGX_Accept_r returns an error.
 */
static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (devnull_fd >= 0)
		dup2(devnull_fd, 0);
}

static void install_signals(sigset_t *stopset)
{
	static const int stops[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	/*
	 * SA_RESTART: FCGX_Accept_r reads the request's parameters after
	 * accept(), before we can block signals; an interrupted read would drop
	 * that request. A restarted accept() fails at once on the /dev/null fd
	 * the handler puts in place of the listening socket.
	 */
	sa.sa_handler = on_stop;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigemptyset(stopset);
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++) {
		sigaddset(stopset, stops[i]);
		sigaddset(&sa.sa_mask, stops[i]);
	}
	for (size_t i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		sigaction(stops[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void serve(struct app *app, FCGX_Request *r)
{
	struct request req;
	struct response res;
	const char *why = NULL;
	enum api_err rc;

	http_request_init(&req);
	http_response_init(&res);
	rc = http_request_parse(&req, r->envp, app->cfg->max_body_bytes, &why);
	log_set_request_id(req.request_id);
	if (rc == API_OK)
		rc = http_request_read_body(&req, r->in, &why);
	if (rc == API_OK) {
		app_handle(app, &req, &res);
	} else {
		api_error_response(&res, rc, why);
		log_access(req.method, "-", res.status, 0, NULL, "bad_request");
	}
	if (http_response_write(&res, req.request_id, r->out) != 0)
		log_msg(LOG_WARN, "client went away before the response was written");
	log_set_request_id(NULL);
	http_response_cleanup(&res);
	http_request_cleanup(&req);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct app app;
	FCGX_Request r;
	sigset_t stopset, old;
	char err[256];
	const char *role = "api";
	int rc = 1;

	/* Whatever this process creates (logs, keys, stores) is its owner's alone. */
	umask(077);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
			role = argv[++i];
	log_init(strcmp(role, "stream") == 0 ? "stream" : "api", LOG_INFO);
	if (config_load(&cfg, config_path_from_args(argc, argv), err, sizeof(err)) != 0) {
		log_msg(LOG_ERROR, "configuration: %s", err);
		config_cleanup(&cfg);
		return 1;
	}
	log_init(strcmp(role, "stream") == 0 ? "stream" : "api", log_level_parse(cfg.log_level));
	if (strcmp(role, "stream") == 0) {
		/* The stream pool: many threads per process, around one hub. */
		rc = stream_server_run(&cfg);
		goto out_cfg;
	}
	devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	install_signals(&stopset);
	if (FCGX_Init() != 0) {
		log_msg(LOG_ERROR, "FCGX_Init failed");
		goto out_cfg;
	}
	if (app_init(&app, &cfg, strcmp(role, "stream") == 0 ? APP_ROLE_STREAM : APP_ROLE_API) != API_OK)
		goto out_app;
	if (FCGX_InitRequest(&r, 0, 0) != 0) {
		log_msg(LOG_ERROR, "FCGX_InitRequest failed");
		goto out_app;
	}
	log_msg(LOG_INFO, "worker %d started", (int)getpid());
	while (!stop_requested) {
		if (FCGX_Accept_r(&r) < 0)
			break;
		sigprocmask(SIG_BLOCK, &stopset, &old);
		serve(&app, &r);
		FCGX_Finish_r(&r);
		app_idle(&app);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	FCGX_Free(&r, 1);
	log_msg(LOG_INFO, "worker %d stopping", (int)getpid());
	rc = 0;
out_app:
	app_cleanup(&app);
out_cfg:
	config_cleanup(&cfg);
	if (devnull_fd >= 0)
		close(devnull_fd);
	return rc;
}
