/*
 * Loopback-only networking helpers shared by the bench tools (rtpload, barefwd).
 *
 * Every address a tool binds or sends to goes through loopnet_parse(), which accepts
 * 127.0.0.0/8 and ::1 only: the tools generate hundreds of thousands of packets per second
 * and must never be pointed at a real network by mistake.
 */
#ifndef PINLATCH_BENCH_LOOPNET_H
#define PINLATCH_BENCH_LOOPNET_H

#include <stdint.h>
#include <sys/socket.h>

typedef struct {
	struct sockaddr_storage ss;
	socklen_t len;
} loop_addr;

/* Parses an IPv4/IPv6 literal and a port; returns 0, or -1 (message on stderr) when the
 * literal is malformed or not a loopback address. */
int loopnet_parse(const char *literal, uint16_t port, loop_addr *out);

/* Returns the port of a socket address. */
uint16_t loopnet_port(const loop_addr *addr);

/* Sets the port of a socket address. */
void loopnet_set_port(loop_addr *addr, uint16_t port);

/* Non-blocking UDP socket bound to `addr` (port 0 = kernel's choice). rcvbuf > 0 sets
 * SO_RCVBUF. The bound port is written back into addr. Returns the fd or -1. */
int loopnet_udp_bind(loop_addr *addr, int rcvbuf);

/* Restricts the calling thread to the CPUs of a list like "0", "0-2" or "0,3". NULL or ""
 * leaves the affinity alone. Returns 0 or -1. */
int loopnet_pin_thread(const char *cpu_list);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t loopnet_now_ns(void);

/* CPU time (user + system) of the calling thread in nanoseconds. */
uint64_t loopnet_thread_cpu_ns(void);

/* Raises RLIMIT_NOFILE to the hard limit (thousands of sockets at 2,000 streams). */
void loopnet_raise_fd_limit(void);

#endif
