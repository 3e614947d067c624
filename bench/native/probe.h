/*
 * The bench packet: a 172-byte RTP packet (RFC 3550 §5.1: 12-byte header, V=2, PT 0 = PCMU,
 * one SSRC per stream, sequence +1 and timestamp +160 per packet, i.e. 20 ms of G.711 at
 * 8 kHz) whose 160-byte payload starts with a probe the sink reads back:
 *
 *   payload offset  0  u32  PROBE_MAGIC
 *                   4  u32  step tag (packets of another step are counted as stale)
 *                   8  u32  stream index
 *                  12  u32  zero
 *                  16  u64  per-stream counter, from 0 in every step
 *                  24  u64  CLOCK_MONOTONIC send time, ns
 *
 * The probe is in host byte order: generator and sink always run on the same host.
 * The rest of the payload is 0xFF (PCMU silence).
 */
#ifndef PINLATCH_BENCH_PROBE_H
#define PINLATCH_BENCH_PROBE_H

#include <stdint.h>
#include <string.h>

#define RTP_HEADER_LEN 12
#define RTP_PAYLOAD_LEN 160
#define BENCH_PACKET_LEN (RTP_HEADER_LEN + RTP_PAYLOAD_LEN)
#define PROBE_MAGIC 0x504c4250u /* "PLBP" */
#define PROBE_LEN 32

typedef struct {
	uint32_t tag;
	uint32_t stream;
	uint64_t counter;
	uint64_t sent_ns;
} probe_fields;

static inline void probe_write_rtp_header(uint8_t *pkt, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	pkt[0] = 0x80; /* V=2, no padding, no extension, CC=0 */
	pkt[1] = 0x00; /* M=0, PT=0 */
	pkt[2] = (uint8_t)(seq >> 8);
	pkt[3] = (uint8_t)seq;
	pkt[4] = (uint8_t)(ts >> 24);
	pkt[5] = (uint8_t)(ts >> 16);
	pkt[6] = (uint8_t)(ts >> 8);
	pkt[7] = (uint8_t)ts;
	pkt[8] = (uint8_t)(ssrc >> 24);
	pkt[9] = (uint8_t)(ssrc >> 16);
	pkt[10] = (uint8_t)(ssrc >> 8);
	pkt[11] = (uint8_t)ssrc;
}

static inline void probe_write(uint8_t *pkt, const probe_fields *f)
{
	uint8_t *p = pkt + RTP_HEADER_LEN;
	uint32_t magic = PROBE_MAGIC, zero = 0;
	memcpy(p + 0, &magic, 4);
	memcpy(p + 4, &f->tag, 4);
	memcpy(p + 8, &f->stream, 4);
	memcpy(p + 12, &zero, 4);
	memcpy(p + 16, &f->counter, 8);
	memcpy(p + 24, &f->sent_ns, 8);
}

/* Returns 1 and fills f when the datagram is a bench packet, 0 otherwise. */
static inline int probe_read(const uint8_t *pkt, size_t len, probe_fields *f)
{
	if (len < RTP_HEADER_LEN + PROBE_LEN || (pkt[0] & 0xc0) != 0x80)
		return 0;
	const uint8_t *p = pkt + RTP_HEADER_LEN;
	uint32_t magic;
	memcpy(&magic, p, 4);
	if (magic != PROBE_MAGIC)
		return 0;
	memcpy(&f->tag, p + 4, 4);
	memcpy(&f->stream, p + 8, 4);
	memcpy(&f->counter, p + 16, 8);
	memcpy(&f->sent_ns, p + 24, 8);
	return 1;
}

#endif
