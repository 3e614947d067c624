/*
 * Paced RTP generator: one step sends `rate` packets per second in aggregate for `duration_ns`
 * over S sockets. Packet n of the step is due at start + n / rate and belongs to stream n % S,
 * so every stream gets rate / S packets per second, evenly spread.
 */
#ifndef PINLATCH_BENCH_GENERATOR_H
#define PINLATCH_BENCH_GENERATOR_H

#include <stdint.h>

#include "loopnet.h"

typedef struct {
	int count;               /* S */
	const int *fds;          /* the S sockets (shared with the sink, which only reads) */
	const loop_addr *dest;   /* where stream s is sent (a relay port) */
	uint16_t *seq;           /* RTP state per stream, continuous across steps */
	uint32_t *timestamp;
	uint64_t *sent;          /* packets sent per stream in the current step */
} generator_streams;

typedef struct {
	uint32_t tag;
	double rate;             /* packets per second, all streams */
	uint64_t duration_ns;
	uint64_t tick_ns;        /* pacing granularity: the thread wakes at most this often */
	uint64_t max_lag_ns;     /* falling further behind than this drops the backlog */
	const char *cpus;        /* CPU list for the thread, or NULL */
} generator_step;

typedef struct {
	uint64_t scheduled;      /* packets the schedule asked for */
	uint64_t sent;           /* packets the kernel accepted */
	uint64_t send_errors;    /* packets refused (ENOBUFS, EAGAIN...) */
	uint64_t skipped;        /* packets dropped from the schedule because the thread lagged */
	uint64_t syscalls;       /* sendmmsg calls */
	uint64_t worst_lag_ns;   /* largest backlog seen, in time */
	uint64_t elapsed_ns;
	uint64_t cpu_ns;         /* CPU time of the generator thread */
} generator_result;

/* Runs one step on the calling thread. */
void generator_run(generator_streams *streams, const generator_step *step, generator_result *out);

#endif
