/*
 * barefwd: the physical limit of this machine for a userspace relay. For each of N calls it
 * binds two sockets (LA faces endpoint A, LB faces endpoint B); what arrives on LA leaves LB
 * toward B, what arrives on LB leaves LA toward A, exactly the socket path of a relay, with
 * no parsing, no validation, no latching and no counters. One thread, epoll + recvmmsg +
 * sendmmsg (a ready socket is drained while batches come back full), the packets are sent
 * unchanged from the receive buffers.
 *
 * Usage: barefwd [--bind 127.0.0.1] [--rcvbuf BYTES] [--batch N]
 * stdin, one line:  peers ADDR A0 B0 A1 B1 ...   (ports of the endpoints; ADDR loopback only)
 * stdout, one line: {"ready":true,"pid":...,"ports":[LA0,LB0,LA1,LB1,...]}
 * Then it forwards until SIGTERM/SIGINT or EOF on stdin.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loopnet.h"

#define MAX_BATCH 256
#define DRAIN_ROUNDS 8
#define MAX_EVENTS 1024
#define STDIN_KEY UINT32_MAX

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: barefwd [--bind 127.0.0.1] [--rcvbuf BYTES] [--batch N]\n"
			"then on stdin: peers ADDR A0 B0 A1 B1 ...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *bind_addr = "127.0.0.1";
	int rcvbuf = 0, batch = 64;
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, 'b' }, { "rcvbuf", required_argument, NULL, 'r' },
		{ "batch", required_argument, NULL, 'n' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;
	while ((opt = getopt_long(argc, argv, "b:r:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'b': bind_addr = optarg; break;
		case 'r': rcvbuf = atoi(optarg); break;
		case 'n': batch = atoi(optarg); break;
		default: usage();
		}
	}
	if (batch < 1 || batch > MAX_BATCH)
		usage();
	loopnet_raise_fd_limit();

	char *line = NULL;
	size_t cap = 0;
	if (getline(&line, &cap, stdin) <= 0 || strncmp(line, "peers ", 6) != 0)
		usage();
	char *save = NULL;
	char *peer_addr = strtok_r(line + 6, " \t\n", &save);
	if (!peer_addr)
		usage();
	int count = 0, alloc = 0;
	loop_addr *peers = NULL;
	for (char *tok; (tok = strtok_r(NULL, " \t\n", &save));) {
		char *end;
		long port = strtol(tok, &end, 10);
		if (*end || port <= 0 || port > 65535)
			usage();
		if (count == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			peers = realloc(peers, sizeof(loop_addr) * (size_t)alloc);
		}
		if (loopnet_parse(peer_addr, (uint16_t)port, &peers[count]) < 0)
			return 2;
		count++;
	}
	if (count == 0 || count % 2 != 0)
		usage();

	/* Socket i faces endpoint i; its partner (i ^ 1) sends toward endpoint i ^ 1. */
	int *fds = calloc((size_t)count, sizeof(int));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	uint16_t *ports = calloc((size_t)count, sizeof(uint16_t));
	for (int i = 0; i < count; i++) {
		loop_addr a;
		if (loopnet_parse(bind_addr, 0, &a) < 0)
			return 2;
		fds[i] = loopnet_udp_bind(&a, rcvbuf);
		if (fds[i] < 0)
			return 1;
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
			perror("epoll_ctl");
			return 1;
		}
		ports[i] = loopnet_port(&a);
	}
	printf("{\"ready\":true,\"pid\":%d,\"ports\":[", getpid());
	for (int i = 0; i < count; i++)
		printf("%s%u", i ? "," : "", ports[i]);
	printf("]}\n");
	fflush(stdout);
	struct epoll_event sev = { .events = EPOLLIN, .data.u32 = STDIN_KEY };
	epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &sev);

	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	static uint8_t bufs[MAX_BATCH][2048];
	static struct iovec iov[MAX_BATCH];
	static struct mmsghdr msgs[MAX_BATCH];
	static struct epoll_event events[MAX_EVENTS];
	for (int m = 0; m < MAX_BATCH; m++) {
		iov[m].iov_base = bufs[m];
		iov[m].iov_len = sizeof(bufs[m]);
		msgs[m].msg_hdr = (struct msghdr){ .msg_iov = &iov[m], .msg_iovlen = 1 };
	}
	unsigned long long forwarded = 0, send_failed = 0;

	while (!stopping) {
		int n = epoll_wait(ep, events, MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			return 1;
		}
		for (int e = 0; e < n; e++) {
			uint32_t i = events[e].data.u32;
			if (i == STDIN_KEY) {
				char tmp[256];
				if (read(STDIN_FILENO, tmp, sizeof(tmp)) <= 0)
					stopping = 1;
				continue;
			}
			/* Drain the socket while batches come back full: one epoll round per burst,
			 * not per batch. Only the slots the kernel filled are re-armed. */
			const loop_addr *to = &peers[i ^ 1];
			int got = batch;
			for (int round = 0; round < DRAIN_ROUNDS && got == batch; round++) {
				got = recvmmsg(fds[i], msgs, (unsigned)batch, MSG_DONTWAIT, NULL);
				if (got <= 0)
					break;
				for (int m = 0; m < got; m++) {
					iov[m].iov_len = msgs[m].msg_len;
					msgs[m].msg_hdr.msg_name = (void *)&to->ss;
					msgs[m].msg_hdr.msg_namelen = to->len;
				}
				int done = 0;
				while (done < got) {
					int sent = sendmmsg(fds[i ^ 1], msgs + done, (unsigned)(got - done), 0);
					if (sent < 0) {
						if (errno == EINTR)
							continue;
						send_failed += (unsigned long long)(got - done);
						break;
					}
					done += sent;
				}
				forwarded += (unsigned long long)done;
				for (int m = 0; m < got; m++) {
					iov[m].iov_len = sizeof(bufs[m]);
					msgs[m].msg_hdr = (struct msghdr){ .msg_iov = &iov[m], .msg_iovlen = 1 };
				}
			}
		}
	}
	fprintf(stderr, "barefwd: forwarded %llu, send failures %llu\n", forwarded, send_failed);
	return 0;
}
