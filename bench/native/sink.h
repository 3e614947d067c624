/*
 * Counting sink: one thread reads all S sockets (epoll + recvmmsg) for the life of the
 * process. Between BEGIN(tag) and END it counts the bench packets of that step per stream
 * (received, holes, reordered, duplicates) and their one-way latency: the kernel receive
 * timestamp (SO_TIMESTAMPNS) minus the send time written by the generator. Everything else
 * is counted as stale (other steps) or foreign (not a bench packet).
 */
#ifndef PINLATCH_BENCH_SINK_H
#define PINLATCH_BENCH_SINK_H

#include <pthread.h>
#include <stdint.h>

/* Latency histogram: 1 us buckets; the last bucket holds everything slower. */
#define SINK_HIST_BUCKETS 200000

/* Duplicate detection window per stream, in packets. */
#define SINK_DUP_WINDOW 1024

typedef struct {
	uint64_t received;       /* distinct packets of the step */
	uint64_t next;           /* highest counter seen + 1 */
	uint64_t holes;          /* counters skipped and not (yet) filled by a late packet */
	uint64_t reordered;      /* packets older than the highest seen */
	uint64_t duplicates;
	uint64_t window[SINK_DUP_WINDOW / 64];
} sink_stream;

typedef struct {
	uint64_t received, holes, reordered, duplicates, stale, foreign, misrouted;
	uint64_t no_timestamp;
	uint64_t wakeups, recv_calls;
	uint64_t cpu_ns;
	double p50_us, p90_us, p99_us, p999_us, max_us, mean_us;
} sink_totals;

typedef struct sink sink;

/* Starts the sink thread over fds[0..count-1]; fd i expects the packets of stream i ^ 1
 * (stream 2k goes A -> B, stream 2k+1 goes B -> A). After each wake-up the thread waits
 * coalesce_us before reading, so that one wake-up serves many packets (0 = read at once). */
sink *sink_start(int count, const int *fds, const char *cpus, unsigned coalesce_us);

/* Starts counting packets tagged `tag` (counters reset). Returns after the sink acknowledged. */
void sink_begin(sink *k, uint32_t tag);

/* Stops counting; afterwards the per-stream and total figures are stable until the next begin. */
void sink_end(sink *k, sink_totals *totals);

/* Per-stream figures of the last finished step. */
const sink_stream *sink_streams(const sink *k);

void sink_stop(sink *k);

#endif
