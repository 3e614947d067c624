#define _GNU_SOURCE
#include "loopnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int loopnet_parse(const char *literal, uint16_t port, loop_addr *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *v4 = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out->ss;
	if (inet_pton(AF_INET, literal, &v4->sin_addr) == 1) {
		if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) {
			fprintf(stderr, "refusing %s: only 127.0.0.0/8 and ::1 are allowed\n", literal);
			return -1;
		}
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		out->len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, literal, &v6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
			fprintf(stderr, "refusing %s: only 127.0.0.0/8 and ::1 are allowed\n", literal);
			return -1;
		}
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		out->len = sizeof(*v6);
		return 0;
	}
	fprintf(stderr, "not an IP literal: %s\n", literal);
	return -1;
}

uint16_t loopnet_port(const loop_addr *addr)
{
	if (addr->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
}

void loopnet_set_port(loop_addr *addr, uint16_t port)
{
	if (addr->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&addr->ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&addr->ss)->sin6_port = htons(port);
}

int loopnet_udp_bind(loop_addr *addr, int rcvbuf)
{
	int fd = socket(addr->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		perror("SO_RCVBUF");
	if (bind(fd, (struct sockaddr *)&addr->ss, addr->len) < 0) {
		perror("bind");
		close(fd);
		return -1;
	}
	socklen_t len = sizeof(addr->ss);
	if (getsockname(fd, (struct sockaddr *)&addr->ss, &len) < 0) {
		perror("getsockname");
		close(fd);
		return -1;
	}
	addr->len = len;
	return fd;
}

int loopnet_pin_thread(const char *cpu_list)
{
	if (cpu_list == NULL || *cpu_list == '\0')
		return 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	const char *p = cpu_list;
	while (*p) {
		char *end;
		long first = strtol(p, &end, 10);
		long last = first;
		if (end == p || first < 0 || first >= CPU_SETSIZE)
			goto bad;
		if (*end == '-') {
			p = end + 1;
			last = strtol(p, &end, 10);
			if (end == p || last < first || last >= CPU_SETSIZE)
				goto bad;
		}
		for (long c = first; c <= last; c++)
			CPU_SET(c, &set);
		if (*end == ',')
			end++;
		else if (*end != '\0')
			goto bad;
		p = end;
	}
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (rc != 0) {
		fprintf(stderr, "pthread_setaffinity_np(%s): %s\n", cpu_list, strerror(rc));
		return -1;
	}
	return 0;
bad:
	fprintf(stderr, "bad CPU list: %s\n", cpu_list);
	return -1;
}

uint64_t loopnet_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t loopnet_thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void loopnet_raise_fd_limit(void)
{
	struct rlimit lim;
	if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_NOFILE, &lim);
	}
}
