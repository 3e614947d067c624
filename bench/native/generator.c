#define _GNU_SOURCE
#include "generator.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "probe.h"

/* Packets handed to one sendmmsg() call at most. */
#define GEN_BATCH 64

#define SSRC_BASE 0x5a000000u

static void sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = { (time_t)(deadline_ns / 1000000000ull), (long)(deadline_ns % 1000000000ull) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Sends `k` consecutive packets of stream s (k <= GEN_BATCH); returns how many went out. */
static uint64_t send_stream_batch(generator_streams *st, const generator_step *step, int s, int k,
				  generator_result *out)
{
	static __thread uint8_t bufs[GEN_BATCH][BENCH_PACKET_LEN];
	static __thread struct iovec iov[GEN_BATCH];
	static __thread struct mmsghdr msgs[GEN_BATCH];
	static __thread int filled;

	if (!filled) {
		memset(bufs, 0xff, sizeof(bufs));
		filled = 1;
	}
	probe_fields f = { .tag = step->tag, .stream = (uint32_t)s, .sent_ns = loopnet_now_ns() };
	for (int i = 0; i < k; i++) {
		probe_write_rtp_header(bufs[i], st->seq[s], st->timestamp[s], SSRC_BASE + (uint32_t)s);
		f.counter = st->sent[s] + (uint64_t)i;
		probe_write(bufs[i], &f);
		st->seq[s]++;
		st->timestamp[s] += RTP_PAYLOAD_LEN;
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = BENCH_PACKET_LEN;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = (void *)&st->dest[s].ss;
		msgs[i].msg_hdr.msg_namelen = st->dest[s].len;
	}
	int done = 0;
	while (done < k) {
		out->syscalls++;
		int n = sendmmsg(st->fds[s], msgs + done, (unsigned)(k - done), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* The unsent packets keep their counters: the sink sees them as holes. */
			out->send_errors += (uint64_t)(k - done);
			break;
		}
		done += n;
	}
	st->sent[s] += (uint64_t)k;
	return (uint64_t)done;
}

void generator_run(generator_streams *st, const generator_step *step, generator_result *out)
{
	memset(out, 0, sizeof(*out));
	loopnet_pin_thread(step->cpus);
	memset(st->sent, 0, sizeof(uint64_t) * (size_t)st->count);

	const uint64_t S = (uint64_t)st->count;
	const double ns_per_packet = 1e9 / step->rate;
	const uint64_t total = (uint64_t)(step->rate * (double)step->duration_ns / 1e9 + 0.5);
	const uint64_t max_backlog = (uint64_t)((double)step->max_lag_ns / ns_per_packet) + 1;
	const uint64_t cpu_start = loopnet_thread_cpu_ns();
	const uint64_t start = loopnet_now_ns();
	uint64_t next = 0; /* index of the next packet to issue */

	while (next < total) {
		uint64_t now = loopnet_now_ns();
		uint64_t due = (uint64_t)((double)(now - start) / ns_per_packet) + 1;
		if (due > total)
			due = total;
		if (due > next) {
			uint64_t backlog = due - next;
			if ((double)backlog * ns_per_packet > (double)out->worst_lag_ns)
				out->worst_lag_ns = (uint64_t)((double)backlog * ns_per_packet);
			if (backlog > max_backlog) {
				/* Bursting the whole backlog would measure the burst, not the rate:
				 * drop it from the schedule and report the step as not fully offered. */
				out->skipped += backlog - max_backlog;
				next = due - max_backlog;
				backlog = max_backlog;
			}
			/* Packets next..due-1 go to streams (next+j) % S; per stream they are
			 * consecutive in its own sequence, so each stream gets one sendmmsg. */
			uint64_t streams_hit = backlog < S ? backlog : S;
			for (uint64_t j = 0; j < streams_hit; j++) {
				int s = (int)((next + j) % S);
				uint64_t k = (backlog - j + S - 1) / S;
				while (k > 0) {
					int chunk = k > GEN_BATCH ? GEN_BATCH : (int)k;
					out->sent += send_stream_batch(st, step, s, chunk, out);
					k -= (uint64_t)chunk;
				}
			}
			out->scheduled += backlog;
			next = due;
		}
		if (next >= total)
			break;
		uint64_t next_due = start + (uint64_t)((double)next * ns_per_packet);
		uint64_t wake = loopnet_now_ns() + step->tick_ns;
		sleep_until(next_due > wake ? next_due : wake);
	}
	out->scheduled += out->skipped;
	out->elapsed_ns = loopnet_now_ns() - start;
	out->cpu_ns = loopnet_thread_cpu_ns() - cpu_start;
}
