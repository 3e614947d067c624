#define _GNU_SOURCE
#include "sink.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loopnet.h"
#include "probe.h"

#define RECV_BATCH 64
#define CTL_KEY UINT32_MAX

enum { REQ_NONE, REQ_BEGIN, REQ_END, REQ_QUIT };

struct sink {
	int count;
	const int *fds;
	const char *cpus;
	uint64_t coalesce_ns;
	int epoll_fd, request_fd, ack_fd;
	pthread_t thread;

	_Atomic int request;
	uint32_t request_tag;

	/* Owned by the sink thread while a step runs; read by the main thread after END. */
	uint32_t active_tag;
	int64_t realtime_minus_mono_ns;
	sink_stream *streams;
	uint32_t *hist;
	uint64_t max_latency_ns;
	double latency_sum_ns;
	sink_totals totals;
	uint64_t cpu_at_begin;
};

/* CLOCK_REALTIME - CLOCK_MONOTONIC, read as a pair as close together as possible, because
 * SO_TIMESTAMPNS stamps are CLOCK_REALTIME and the probe carries CLOCK_MONOTONIC. */
static int64_t realtime_minus_mono(void)
{
	int64_t best_gap = INT64_MAX, best = 0;
	for (int i = 0; i < 5; i++) {
		struct timespec m1, r, m2;
		clock_gettime(CLOCK_MONOTONIC, &m1);
		clock_gettime(CLOCK_REALTIME, &r);
		clock_gettime(CLOCK_MONOTONIC, &m2);
		int64_t a = (int64_t)m1.tv_sec * 1000000000 + m1.tv_nsec;
		int64_t b = (int64_t)m2.tv_sec * 1000000000 + m2.tv_nsec;
		int64_t rt = (int64_t)r.tv_sec * 1000000000 + r.tv_nsec;
		if (b - a < best_gap) {
			best_gap = b - a;
			best = rt - (a + (b - a) / 2);
		}
	}
	return best;
}

static void ack(sink *k)
{
	uint64_t one = 1;
	if (write(k->ack_fd, &one, sizeof(one)) != sizeof(one))
		perror("sink ack");
}

static void handle_request(sink *k)
{
	uint64_t v;
	if (read(k->request_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		perror("sink request");
	int req = atomic_exchange(&k->request, REQ_NONE);
	if (req == REQ_BEGIN) {
		memset(k->streams, 0, sizeof(sink_stream) * (size_t)k->count);
		memset(k->hist, 0, sizeof(uint32_t) * SINK_HIST_BUCKETS);
		memset(&k->totals, 0, sizeof(k->totals));
		k->max_latency_ns = 0;
		k->latency_sum_ns = 0;
		k->realtime_minus_mono_ns = realtime_minus_mono();
		k->active_tag = k->request_tag;
		k->cpu_at_begin = loopnet_thread_cpu_ns();
		ack(k);
	} else if (req == REQ_END) {
		k->active_tag = 0;
		k->totals.cpu_ns = loopnet_thread_cpu_ns() - k->cpu_at_begin;
		ack(k);
	} else if (req == REQ_QUIT) {
		ack(k);
		pthread_exit(NULL);
	}
}

static void count_packet(sink *k, int socket_index, const uint8_t *pkt, size_t len,
			 const struct msghdr *hdr)
{
	probe_fields f;
	if (!probe_read(pkt, len, &f) || f.stream >= (uint32_t)k->count) {
		k->totals.foreign++;
		return;
	}
	if (k->active_tag == 0 || f.tag != k->active_tag) {
		k->totals.stale++;
		return;
	}
	if ((int)(f.stream ^ 1u) != socket_index)
		k->totals.misrouted++;

	sink_stream *st = &k->streams[f.stream];
	uint64_t c = f.counter;
	uint64_t *bit_word = &st->window[(c % SINK_DUP_WINDOW) / 64];
	uint64_t bit = 1ull << (c % 64);
	if (c >= st->next) {
		uint64_t gap = c - st->next;
		st->holes += gap;
		if (gap >= SINK_DUP_WINDOW) {
			memset(st->window, 0, sizeof(st->window));
		} else {
			for (uint64_t i = st->next; i < c; i++)
				st->window[(i % SINK_DUP_WINDOW) / 64] &= ~(1ull << (i % 64));
		}
		*bit_word |= bit;
		st->next = c + 1;
	} else if (st->next - c > SINK_DUP_WINDOW) {
		/* Too old to tell a duplicate from a late packet: count it as late. */
		st->reordered++;
		if (st->holes)
			st->holes--;
	} else if (*bit_word & bit) {
		st->duplicates++;
		k->totals.duplicates++;
		return;
	} else {
		*bit_word |= bit;
		st->reordered++;
		if (st->holes)
			st->holes--;
	}
	st->received++;
	k->totals.received++;

	const struct timespec *stamp = NULL;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(hdr); cm; cm = CMSG_NXTHDR((struct msghdr *)hdr, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS)
			stamp = (const struct timespec *)CMSG_DATA(cm);
	if (!stamp) {
		k->totals.no_timestamp++;
		return;
	}
	int64_t rx_mono = (int64_t)stamp->tv_sec * 1000000000 + stamp->tv_nsec - k->realtime_minus_mono_ns;
	int64_t latency = rx_mono - (int64_t)f.sent_ns;
	if (latency < 0)
		latency = 0;
	uint64_t us = (uint64_t)latency / 1000;
	k->hist[us < SINK_HIST_BUCKETS ? us : SINK_HIST_BUCKETS - 1]++;
	if ((uint64_t)latency > k->max_latency_ns)
		k->max_latency_ns = (uint64_t)latency;
	k->latency_sum_ns += (double)latency;
}

static void *sink_main(void *arg)
{
	sink *k = arg;
	loopnet_pin_thread(k->cpus);

	static __thread uint8_t bufs[RECV_BATCH][2048];
	static __thread char ctl[RECV_BATCH][CMSG_SPACE(sizeof(struct timespec)) + 64];
	struct iovec iov[RECV_BATCH];
	struct mmsghdr msgs[RECV_BATCH];
	struct epoll_event events[256];

	for (;;) {
		int n = epoll_wait(k->epoll_fd, events, 256, -1);
		if (n > 0 && k->coalesce_ns) {
			/* Latency comes from kernel receive stamps, so reading late costs nothing in
			 * the figures; letting packets pile up for a moment makes each wake-up and
			 * recvmmsg carry many packets and leaves the CPU to the generator. */
			struct timespec pause = { 0, (long)k->coalesce_ns };
			nanosleep(&pause, NULL);
			n = epoll_wait(k->epoll_fd, events, 256, 0);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			exit(1);
		}
		if (k->active_tag)
			k->totals.wakeups++;
		for (int e = 0; e < n; e++) {
			uint32_t key = events[e].data.u32;
			if (key == CTL_KEY) {
				handle_request(k);
				continue;
			}
			for (int i = 0; i < RECV_BATCH; i++) {
				iov[i].iov_base = bufs[i];
				iov[i].iov_len = sizeof(bufs[i]);
				memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
				msgs[i].msg_hdr.msg_iov = &iov[i];
				msgs[i].msg_hdr.msg_iovlen = 1;
				msgs[i].msg_hdr.msg_control = ctl[i];
				msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
			}
			/* One batch per ready socket per round keeps the sockets fair (level-triggered). */
			int got = recvmmsg(k->fds[key], msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
			if (k->active_tag)
				k->totals.recv_calls++;
			for (int i = 0; i < got; i++)
				count_packet(k, (int)key, bufs[i], msgs[i].msg_len, &msgs[i].msg_hdr);
		}
	}
	return NULL;
}

sink *sink_start(int count, const int *fds, const char *cpus, unsigned coalesce_us)
{
	sink *k = calloc(1, sizeof(*k));
	k->coalesce_ns = (uint64_t)coalesce_us * 1000u;
	k->count = count;
	k->fds = fds;
	k->cpus = cpus;
	k->streams = calloc((size_t)count, sizeof(sink_stream));
	k->hist = calloc(SINK_HIST_BUCKETS, sizeof(uint32_t));
	k->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	k->request_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	k->ack_fd = eventfd(0, EFD_CLOEXEC);
	if (!k->streams || !k->hist || k->epoll_fd < 0 || k->request_fd < 0 || k->ack_fd < 0) {
		perror("sink_start");
		exit(1);
	}
	int on = 1;
	for (int i = 0; i < count; i++) {
		if (setsockopt(fds[i], SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on)) < 0)
			perror("SO_TIMESTAMPNS");
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(k->epoll_fd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			perror("epoll_ctl");
			exit(1);
		}
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = CTL_KEY };
	epoll_ctl(k->epoll_fd, EPOLL_CTL_ADD, k->request_fd, &ev);
	if (pthread_create(&k->thread, NULL, sink_main, k) != 0) {
		perror("pthread_create");
		exit(1);
	}
	return k;
}

static void request(sink *k, int req)
{
	atomic_store(&k->request, req);
	uint64_t one = 1, v;
	if (write(k->request_fd, &one, sizeof(one)) != sizeof(one))
		perror("sink request");
	if (read(k->ack_fd, &v, sizeof(v)) != sizeof(v))
		perror("sink ack");
}

void sink_begin(sink *k, uint32_t tag)
{
	k->request_tag = tag;
	request(k, REQ_BEGIN);
}

static double percentile_us(const sink *k, double q)
{
	uint64_t total = 0;
	for (int i = 0; i < SINK_HIST_BUCKETS; i++)
		total += k->hist[i];
	if (total == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)(total - 1)) + 1;
	uint64_t seen = 0;
	for (int i = 0; i < SINK_HIST_BUCKETS; i++) {
		seen += k->hist[i];
		if (seen >= rank)
			return i + 0.5;
	}
	return SINK_HIST_BUCKETS;
}

void sink_end(sink *k, sink_totals *out)
{
	request(k, REQ_END);
	sink_totals t = k->totals;
	for (int s = 0; s < k->count; s++) {
		t.holes += k->streams[s].holes;
		t.reordered += k->streams[s].reordered;
	}
	uint64_t timed = t.received - t.no_timestamp;
	t.mean_us = timed ? k->latency_sum_ns / (double)timed / 1000.0 : 0;
	t.p50_us = percentile_us(k, 0.50);
	t.p90_us = percentile_us(k, 0.90);
	t.p99_us = percentile_us(k, 0.99);
	t.p999_us = percentile_us(k, 0.999);
	t.max_us = (double)k->max_latency_ns / 1000.0;
	*out = t;
}

const sink_stream *sink_streams(const sink *k)
{
	return k->streams;
}

void sink_stop(sink *k)
{
	request(k, REQ_QUIT);
	pthread_join(k->thread, NULL);
}
