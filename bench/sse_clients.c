/*
 * bench/sse_clients: N concurrent SSE subscribers in one epoll loop, cheap
 * enough that 1,000 streams cost the client a few milliseconds per event
 * (the Python subscribers of bench/stream_bench.py spent more than the
 * server did). Each subscriber sends GET PATH with X-Api-Key, decodes the
 * chunked body and records, for every "id:" line, the event id and the
 * CLOCK_MONOTONIC time it arrived (the clock Python's time.monotonic reads).
 *
 * usage: sse_clients HOST PORT PATH KEY N SECONDS OUTFILE
 * Prints "connected N" on stdout once every stream answered 200, then runs
 * until SECONDS passed or SIGTERM, and writes one line per receipt,
 * "<id> <seconds>", to OUTFILE. Exit status 1 when a stream failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLEN 28  /* evt_ and 24 hex digits */

struct conn {
	int fd;
	int state;           /* 0 headers, 1 chunk size, 2 chunk data, 3 chunk CRLF */
	size_t chunk_left;
	char hdr[4096];
	size_t hlen;
	char line[8192];     /* the current body line */
	size_t llen;
	char size[32];
	size_t slen;
};

struct receipt {
	char id[IDLEN + 1];
	double t;
};

static struct receipt *got;
static size_t ngot, capgot;
static volatile sig_atomic_t stop;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void record(const char *line, size_t len, double t)
{
	if (len < 4 + IDLEN || memcmp(line, "id: ", 4) != 0)
		return;
	if (ngot == capgot) {
		capgot = capgot ? capgot * 2 : 65536;
		got = realloc(got, capgot * sizeof(*got));
		if (got == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(got[ngot].id, line + 4, IDLEN);
	got[ngot].id[IDLEN] = '\0';
	got[ngot].t = t;
	ngot++;
}

/* Feeds body bytes (already de-chunked) into the line splitter. */
static void body(struct conn *c, const char *p, size_t n, double t)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			record(c->line, c->llen, t);
			c->llen = 0;
		} else if (c->llen < sizeof(c->line)) {
			c->line[c->llen++] = p[i];
		}
	}
}

/* Returns -1 when the stream is broken, 1 when its headers said 200 just now, else 0. */
static int feed(struct conn *c, const char *p, size_t n, double t)
{
	int ok = 0;

	while (n > 0) {
		if (c->state == 0) {
			char *end;

			if (c->hlen + 1 >= sizeof(c->hdr))
				return -1;
			c->hdr[c->hlen++] = *p++;
			n--;
			c->hdr[c->hlen] = '\0';
			end = strstr(c->hdr, "\r\n\r\n");
			if (end == NULL)
				continue;
			if (strncmp(c->hdr, "HTTP/1.1 200", 12) != 0) {
				fprintf(stderr, "stream refused: %.*s\n", (int)strcspn(c->hdr, "\r"), c->hdr);
				return -1;
			}
			c->state = 1;
			ok = 1;
		} else if (c->state == 1) {
			if (*p == '\n') {
				c->size[c->slen] = '\0';
				c->chunk_left = strtoul(c->size, NULL, 16);
				c->slen = 0;
				if (c->chunk_left == 0)
					return -1;   /* the last chunk: the server ended the stream */
				c->state = 2;
			} else if (*p != '\r' && c->slen + 1 < sizeof(c->size)) {
				c->size[c->slen++] = *p;
			}
			p++;
			n--;
		} else if (c->state == 2) {
			size_t k = n < c->chunk_left ? n : c->chunk_left;

			body(c, p, k, t);
			p += k;
			n -= k;
			c->chunk_left -= k;
			if (c->chunk_left == 0)
				c->state = 3;
		} else {
			if (*p == '\n')
				c->state = 1;
			p++;
			n--;
		}
	}
	return ok;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct conn *conns;
	struct epoll_event ev, evs[256];
	char req[1024], buf[65536];
	int n, ep, connected = 0, failed = 0, announced = 0;
	double deadline;
	FILE *out;

	if (argc != 8) {
		fprintf(stderr, "usage: sse_clients HOST PORT PATH KEY N SECONDS OUTFILE\n");
		return 2;
	}
	n = (int)strtol(argv[5], NULL, 10);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)strtol(argv[2], NULL, 10));
	if (n <= 0 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1) {
		fprintf(stderr, "sse_clients: bad host or count\n");
		return 2;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\nX-Api-Key: %s\r\n"
		 "Accept: text/event-stream\r\n\r\n", argv[3], argv[1], argv[4]);
	signal(SIGTERM, on_term);
	signal(SIGPIPE, SIG_IGN);
	conns = calloc((size_t)n, sizeof(*conns));
	ep = epoll_create1(0);
	if (conns == NULL || ep < 0) {
		perror("sse_clients");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
		    write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
			perror("sse_clients: connect");
			return 1;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		conns[i].fd = fd;
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
		if (i % 50 == 49)
			usleep(20000);   /* the server accepts in bursts; do not flood its backlog */
	}
	deadline = now_s() + atof(argv[6]) + 60;   /* + the time to connect */
	while (!stop && now_s() < deadline) {
		int k = epoll_wait(ep, evs, 256, 200);
		double t = now_s();

		for (int j = 0; j < k; j++) {
			struct conn *c = &conns[evs[j].data.u32];
			ssize_t r = read(c->fd, buf, sizeof(buf));
			int s;

			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			s = r > 0 ? feed(c, buf, (size_t)r, t) : -1;
			if (s == 1 && ++connected == n && !announced) {
				printf("connected %d\n", connected);
				fflush(stdout);
				announced = 1;
				deadline = now_s() + atof(argv[6]);
			}
			if (s < 0) {
				failed++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
			}
		}
	}
	out = fopen(argv[7], "w");
	if (out == NULL) {
		perror(argv[7]);
		return 1;
	}
	for (size_t i = 0; i < ngot; i++)
		fprintf(out, "%s %.6f\n", got[i].id, got[i].t);
	fclose(out);
	if (failed)
		fprintf(stderr, "sse_clients: %d streams failed or ended\n", failed);
	return failed ? 1 : 0;
}
