/*
 * rtpload: the load side of the pps benchmark, generator and sink in one process.
 *
 * Symmetric RTP (RFC 4961) means a phone sends from the same socket it receives on, and a
 * latching relay learns exactly that address. rtpload binds S sockets once; the generator
 * thread only sends from them and the sink thread only reads them, so the source of stream
 * 2k is the socket that receives stream 2k+1 and the other way round. Keeping both in one
 * process (two threads) shares the sockets without passing descriptors around.
 *
 * Usage: rtpload --streams S [--bind 127.0.0.1] [--cpus LIST] [--rcvbuf BYTES] [--tick-us N]
 *                [--coalesce-us N] [--max-lag-us N]
 * It prints {"ready":true,...,"ports":[...]} and then reads commands on stdin, one per line:
 *   dest ADDR P0 P1 ... P(S-1)          where stream s is sent (ADDR must be loopback)
 *   step TAG RATE DURATION_MS DRAIN_MS  run one step, print one JSON line with the figures
 *   quit
 * Stream 2k is sent from socket 2k (leg A of call k) and expected on socket 2k+1 (leg B).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "generator.h"
#include "loopnet.h"
#include "sink.h"

typedef struct {
	generator_streams *streams;
	generator_step step;
	generator_result result;
} generator_job;

static void *generator_thread(void *arg)
{
	generator_job *job = arg;
	generator_run(job->streams, &job->step, &job->result);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: rtpload --streams S [--bind 127.0.0.1] [--cpus LIST] [--rcvbuf BYTES] [--tick-us N] [--coalesce-us N] [--max-lag-us N]\n"
			"S is even: streams 2k and 2k+1 are the two directions of call k.\n");
	exit(2);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void reply_error(const char *msg)
{
	printf("{\"error\":\"%s\"}\n", msg);
	fflush(stdout);
}

static int set_destinations(char *args, int count, loop_addr *dest, int *have_dest)
{
	char *save = NULL;
	char *addr = strtok_r(args, " \t\n", &save);
	if (!addr)
		return -1;
	for (int s = 0; s < count; s++) {
		char *tok = strtok_r(NULL, " \t\n", &save);
		char *end;
		long port = tok ? strtol(tok, &end, 10) : 0;
		if (!tok || *end || port <= 0 || port > 65535)
			return -1;
		if (loopnet_parse(addr, (uint16_t)port, &dest[s]) < 0)
			return -1;
	}
	if (strtok_r(NULL, " \t\n", &save))
		return -1;
	*have_dest = 1;
	return 0;
}

static void run_step(sink *snk, generator_streams *gs, const char *cpus, uint64_t tick_ns, uint64_t max_lag_ns, uint32_t tag,
		     double rate, unsigned duration_ms, unsigned drain_ms)
{
	generator_job job = { .streams = gs };
	job.step.tag = tag;
	job.step.rate = rate;
	job.step.duration_ns = (uint64_t)duration_ms * 1000000ull;
	job.step.tick_ns = tick_ns;
	job.step.max_lag_ns = max_lag_ns;
	job.step.cpus = cpus;

	sink_begin(snk, tag);
	pthread_t t;
	if (pthread_create(&t, NULL, generator_thread, &job) != 0) {
		reply_error("pthread_create");
		return;
	}
	pthread_join(t, NULL);
	sleep_ms(drain_ms);
	sink_totals tot;
	sink_end(snk, &tot);

	const sink_stream *per = sink_streams(snk);
	uint64_t silent = 0, lossy = 0;
	for (int s = 0; s < gs->count; s++) {
		if (gs->sent[s] == 0)
			continue;
		if (per[s].received == 0)
			silent++;
		else if (per[s].received < gs->sent[s])
			lossy++;
	}
	const generator_result *g = &job.result;
	double secs = (double)duration_ms / 1000.0;
	uint64_t lost = g->sent > tot.received ? g->sent - tot.received : 0;
	printf("{\"tag\":%" PRIu32 ",\"streams\":%d,\"offered_pps\":%.0f,\"duration_s\":%.3f,"
	       "\"scheduled\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"sent_pps\":%.0f,\"send_errors\":%" PRIu64
	       ",\"skipped\":%" PRIu64 ",\"gen_worst_lag_us\":%.1f,\"gen_syscalls\":%" PRIu64
	       ",\"gen_elapsed_s\":%.4f,\"gen_cpu_s\":%.4f,"
	       "\"received\":%" PRIu64 ",\"received_pps\":%.0f,\"lost\":%" PRIu64 ",\"loss_pct\":%.4f,"
	       "\"holes\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"duplicates\":%" PRIu64 ",\"stale\":%" PRIu64
	       ",\"foreign\":%" PRIu64 ",\"misrouted\":%" PRIu64 ",\"silent_streams\":%" PRIu64
	       ",\"lossy_streams\":%" PRIu64 ",\"no_timestamp\":%" PRIu64 ",\"sink_wakeups\":%" PRIu64
	       ",\"sink_recv_calls\":%" PRIu64 ",\"sink_cpu_s\":%.4f,"
	       "\"lat_mean_us\":%.1f,\"lat_p50_us\":%.1f,\"lat_p90_us\":%.1f,\"lat_p99_us\":%.1f,"
	       "\"lat_p999_us\":%.1f,\"lat_max_us\":%.1f}\n",
	       tag, gs->count, rate, secs, g->scheduled, g->sent, (double)g->sent / secs, g->send_errors,
	       g->skipped, (double)g->worst_lag_ns / 1000.0, g->syscalls, (double)g->elapsed_ns / 1e9,
	       (double)g->cpu_ns / 1e9, tot.received, (double)tot.received / secs, lost,
	       g->sent ? 100.0 * (double)lost / (double)g->sent : 0.0, tot.holes, tot.reordered, tot.duplicates,
	       tot.stale, tot.foreign, tot.misrouted, silent, lossy, tot.no_timestamp, tot.wakeups,
	       tot.recv_calls, (double)tot.cpu_ns / 1e9, tot.mean_us, tot.p50_us, tot.p90_us, tot.p99_us,
	       tot.p999_us, tot.max_us);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int count = 0, rcvbuf = -1;
	unsigned tick_us = 100, coalesce_us = 200, max_lag_us = 4000;
	const char *bind_addr = "127.0.0.1";
	const char *cpus = NULL;
	static const struct option opts[] = {
		{ "streams", required_argument, NULL, 's' }, { "bind", required_argument, NULL, 'b' },
		{ "cpus", required_argument, NULL, 'c' },    { "rcvbuf", required_argument, NULL, 'r' },
		{ "tick-us", required_argument, NULL, 't' }, { "coalesce-us", required_argument, NULL, 'w' },
		{ "max-lag-us", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "s:b:c:r:t:w:l:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': count = atoi(optarg); break;
		case 'b': bind_addr = optarg; break;
		case 'c': cpus = optarg; break;
		case 'r': rcvbuf = atoi(optarg); break;
		case 't': tick_us = (unsigned)atoi(optarg); break;
		case 'w': coalesce_us = (unsigned)atoi(optarg); break;
		case 'l': max_lag_us = (unsigned)atoi(optarg); break;
		default: usage();
		}
	}
	if (count < 2 || count % 2 != 0 || count > 60000 || tick_us == 0)
		usage();
	if (rcvbuf < 0) {
		/* The sink must never be where packets are lost: big queues, within rmem_max. */
		long per = (32l << 20) / count;
		rcvbuf = (int)(per > (4l << 20) ? (4l << 20) : per < (256l << 10) ? (256l << 10) : per);
	}
	loopnet_raise_fd_limit();
	/* Threads inherit the mask: keep the whole load side off the relay's CPU. */
	if (loopnet_pin_thread(cpus) < 0)
		return 2;

	int *fds = calloc((size_t)count, sizeof(int));
	loop_addr *dest = calloc((size_t)count, sizeof(loop_addr));
	uint16_t *ports = calloc((size_t)count, sizeof(uint16_t));
	generator_streams gs = {
		.count = count,
		.fds = fds,
		.dest = dest,
		.seq = calloc((size_t)count, sizeof(uint16_t)),
		.timestamp = calloc((size_t)count, sizeof(uint32_t)),
		.sent = calloc((size_t)count, sizeof(uint64_t)),
	};
	if (!fds || !dest || !ports || !gs.seq || !gs.timestamp || !gs.sent) {
		perror("calloc");
		return 1;
	}
	for (int s = 0; s < count; s++) {
		loop_addr a;
		if (loopnet_parse(bind_addr, 0, &a) < 0)
			return 2;
		fds[s] = loopnet_udp_bind(&a, rcvbuf);
		if (fds[s] < 0)
			return 1;
		ports[s] = loopnet_port(&a);
		gs.seq[s] = (uint16_t)(s * 7919u);
		gs.timestamp[s] = (uint32_t)s * 104729u;
	}
	printf("{\"ready\":true,\"pid\":%d,\"streams\":%d,\"rcvbuf\":%d,\"ports\":[", getpid(), count, rcvbuf);
	for (int s = 0; s < count; s++)
		printf("%s%u", s ? "," : "", ports[s]);
	printf("]}\n");
	fflush(stdout);

	sink *snk = sink_start(count, fds, cpus, coalesce_us);
	int have_dest = 0;
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, stdin) > 0) {
		if (strncmp(line, "dest ", 5) == 0) {
			if (set_destinations(line + 5, count, dest, &have_dest) < 0) {
				reply_error("dest wants: dest LOOPBACK_ADDR followed by one port per stream");
				continue;
			}
			printf("{\"dest\":%d}\n", count);
			fflush(stdout);
		} else if (strncmp(line, "step ", 5) == 0) {
			unsigned tag, duration_ms, drain_ms;
			double rate;
			if (sscanf(line + 5, "%u %lf %u %u", &tag, &rate, &duration_ms, &drain_ms) != 4 || tag == 0 ||
			    rate <= 0 || duration_ms == 0) {
				reply_error("step wants: step TAG(>0) RATE DURATION_MS DRAIN_MS");
				continue;
			}
			if (!have_dest) {
				reply_error("no destinations yet (send dest first)");
				continue;
			}
			run_step(snk, &gs, cpus, (uint64_t)tick_us * 1000u, (uint64_t)max_lag_us * 1000u, tag, rate, duration_ms, drain_ms);
		} else if (strncmp(line, "quit", 4) == 0) {
			break;
		} else {
			reply_error("unknown command (dest, step, quit)");
		}
	}
	sink_stop(snk);
	free(line);
	return 0;
}
