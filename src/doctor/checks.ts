/**
 * The checks of `pinlatch doctor`: pure functions of the configuration and the host readings,
 * each answering ok or a problem with its fix. No I/O here (readings come from read-host.ts).
 */
import type { PinlatchConfig } from '../config/index.js';
import type { HostReadings, PortSpan } from './readings.js';
import { SPARE_SOCKETS_PER_FAMILY } from '../media/api.js';

export type CheckName = 'open-files' | 'rmem-max' | 'wmem-max' | 'ephemeral-ports' | 'io-uring' | 'privileged-ports';

export interface CheckResult {
  readonly check: CheckName;
  readonly ok: boolean;
  /** What was found (ok) or what is wrong (not ok). */
  readonly detail: string;
  /** How to fix it; empty when ok. */
  readonly fix: string;
}

/**
 * Descriptors beyond media ports and TCP connections: SIP, NG and metrics listeners, each shard's
 * io_uring ring, Node's own (stdio, libuv, worker threads), log files.
 */
export const RESERVED_FDS = 256;

/** SO_RCVBUF and SO_SNDBUF of every media socket (native/include/udp_socket.h). */
export const MEDIA_SOCKET_BUFFER_BYTES = 256 * 1024;

/** CAP_NET_BIND_SERVICE's bit in the capability sets (linux/capability.h). */
export const CAP_NET_BIND_SERVICE_BIT = 10;

const SYSCTL_FILE = '/etc/sysctl.d/90-pinlatch.conf';

function sysctlFix(key: string, value: string): string {
  return `sysctl -w ${key}=${value}; to keep it across reboots: echo '${key} = ${value}' >> ${SYSCTL_FILE}`;
}

function ok(check: CheckName, detail: string): CheckResult {
  return { check, ok: true, detail, fix: '' };
}

function problem(check: CheckName, detail: string, fix: string): CheckResult {
  return { check, ok: false, detail, fix };
}

const span = (p: PortSpan): string => (p.min === p.max ? `${p.min}` : `${p.min}-${p.max}`);

/**
 * Every media port is one UDP socket; every SIP TCP connection one more; each media shard keeps
 * spare sockets made ahead of its opens (one address family per relay).
 */
export function checkOpenFiles(config: PinlatchConfig, host: HostReadings): CheckResult {
  const mediaPorts = config.media.ports.max - config.media.ports.min + 1;
  const tcp = config.sip?.listen.some((l) => l.transport === 'tcp') ? config.limits.tcp.connections : 0;
  const spares = config.media.shards * SPARE_SOCKETS_PER_FAMILY;
  const needed = mediaPorts + tcp + spares + RESERVED_FDS;
  const parts = `${mediaPorts} media ports + ${tcp} SIP TCP connections (limits.tcp.connections) + ${spares} spare sockets (${SPARE_SOCKETS_PER_FAMILY} per media shard) + ${RESERVED_FDS} reserve`;
  if (host.openFiles >= needed) return ok('open-files', `open files limit ${host.openFiles} >= ${needed} (${parts})`);
  return problem(
    'open-files',
    `open files limit ${host.openFiles} < ${needed} needed (${parts}): sockets fail with EMFILE once it is reached`,
    `raise the hard limit to at least ${needed}: LimitNOFILE=${needed} in the systemd unit (examples/pinlatch.service), or \`ulimit -Hn ${needed}\` in the shell that starts pinlatch; or narrow media.ports / limits.tcp.connections`,
  );
}

/** The SIP UDP sockets ask for sip.udpReceiveBufferBytes, media sockets for 256 KiB; the kernel caps both silently. */
export function checkReceiveBuffer(config: PinlatchConfig, host: HostReadings): CheckResult {
  const sip = config.sip?.udpReceiveBufferBytes ?? 0;
  const needed = Math.max(sip, MEDIA_SOCKET_BUFFER_BYTES);
  const why = sip > MEDIA_SOCKET_BUFFER_BYTES ? 'sip.udpReceiveBufferBytes' : 'SO_RCVBUF of the media sockets';
  if (host.rmemMax >= needed) return ok('rmem-max', `net.core.rmem_max ${host.rmemMax} >= ${needed} (${why})`);
  return problem(
    'rmem-max',
    `net.core.rmem_max ${host.rmemMax} < ${needed} (${why}): the kernel caps the receive buffers silently and bursts are dropped`,
    sysctlFix('net.core.rmem_max', String(needed)),
  );
}

export function checkSendBuffer(_config: PinlatchConfig, host: HostReadings): CheckResult {
  const needed = MEDIA_SOCKET_BUFFER_BYTES;
  if (host.wmemMax >= needed) return ok('wmem-max', `net.core.wmem_max ${host.wmemMax} >= ${needed} (SO_SNDBUF of the media sockets)`);
  return problem(
    'wmem-max',
    `net.core.wmem_max ${host.wmemMax} < ${needed} (SO_SNDBUF of the media sockets): the kernel caps the send buffers silently`,
    sysctlFix('net.core.wmem_max', String(needed)),
  );
}

/** The media ports in `ports` that are neither outside `range` nor reserved: ones the kernel may hand out. */
export function exposedPorts(media: PortSpan, range: PortSpan, reserved: readonly PortSpan[]): PortSpan[] {
  const out: PortSpan[] = [];
  let start = -1;
  const from = Math.max(media.min, range.min);
  const to = Math.min(media.max, range.max);
  for (let port = from; port <= to + 1; port++) {
    const exposed = port <= to && !reserved.some((r) => port >= r.min && port <= r.max);
    if (exposed && start < 0) start = port;
    if (!exposed && start >= 0) {
      out.push({ min: start, max: port - 1 });
      start = -1;
    }
  }
  return out;
}

/**
 * An ephemeral port the kernel gives to an outgoing connection or a DNS query is taken from the
 * relay: a media port it covers then fails to bind (EADDRINUSE) when a call needs it.
 */
export function checkEphemeralPorts(config: PinlatchConfig, host: HostReadings): CheckResult {
  const media = config.media.ports;
  const exposed = exposedPorts(media, host.ephemeralPorts, host.reservedPorts);
  if (exposed.length === 0) {
    return ok('ephemeral-ports', `media ports ${span(media)} are outside net.ipv4.ip_local_port_range ${span(host.ephemeralPorts)} or reserved`);
  }
  const count = exposed.reduce((n, p) => n + p.max - p.min + 1, 0);
  return problem(
    'ephemeral-ports',
    `net.ipv4.ip_local_port_range ${span(host.ephemeralPorts)} overlaps media ports ${span(media)} (${count} ports: ${exposed.map(span).join(',')}): the kernel may give them to outgoing connections and the relay then cannot bind them`,
    `${sysctlFix('net.ipv4.ip_local_reserved_ports', [...host.reservedPorts, media].map(span).join(','))}; or move media.ports outside ${span(host.ephemeralPorts)}`,
  );
}

export function checkIoUring(_config: PinlatchConfig, host: HostReadings): CheckResult {
  if (host.ioUring.available) return ok('io-uring', 'io_uring is available: the media relay runs on its io_uring path');
  return problem(
    'io-uring',
    `io_uring is not available (${host.ioUring.reason}): the media relay falls back to epoll with recvmmsg/sendmmsg, which costs more CPU per packet`,
    'run Linux 6.10 or later with io_uring enabled (sysctl kernel.io_uring_disabled=0); container runtimes may block io_uring_setup in their seccomp profile (allow it there)',
  );
}

/** Every port pinlatch binds, with what binds it. */
function boundPorts(config: PinlatchConfig): Array<{ what: string; port: number }> {
  const out = (config.sip?.listen ?? []).map((l) => ({ what: `sip.listen ${l.transport}`, port: l.port }));
  if (config.ng) out.push({ what: 'ng.port', port: config.ng.port });
  if (config.metrics) out.push({ what: 'metrics.port', port: config.metrics.port });
  out.push({ what: 'media.ports.min', port: config.media.ports.min });
  return out;
}

export function checkPrivilegedPorts(config: PinlatchConfig, host: HostReadings): CheckResult {
  const low = boundPorts(config).filter((b) => b.port < host.unprivilegedPortStart);
  if (low.length === 0) return ok('privileged-ports', `every port is >= net.ipv4.ip_unprivileged_port_start ${host.unprivilegedPortStart}`);
  const named = low.map((b) => `${b.what} ${b.port}`).join(', ');
  if (host.capNetBindService) return ok('privileged-ports', `${named} below ${host.unprivilegedPortStart}: CAP_NET_BIND_SERVICE is effective`);
  return problem(
    'privileged-ports',
    `${named} below net.ipv4.ip_unprivileged_port_start ${host.unprivilegedPortStart} and no CAP_NET_BIND_SERVICE: binding fails with EACCES`,
    'give the service CAP_NET_BIND_SERVICE (AmbientCapabilities=CAP_NET_BIND_SERVICE in the systemd unit, examples/pinlatch.service) rather than running it as root; or use ports >= ' +
      `${host.unprivilegedPortStart}`,
  );
}

export const CHECKS = [checkOpenFiles, checkReceiveBuffer, checkSendBuffer, checkEphemeralPorts, checkIoUring, checkPrivilegedPorts] as const;

export function runChecks(config: PinlatchConfig, host: HostReadings): CheckResult[] {
  return CHECKS.map((check) => check(config, host));
}
