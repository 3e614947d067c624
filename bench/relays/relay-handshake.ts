/**
 * The start-up handshake every bench relay child speaks (the same for barefwd, written in C):
 *
 *   stdin, one line:  peers ADDR A0 B0 A1 B1 ...   ports of the load endpoints of each call
 *   stdout, one line: {"ready":true,"pid":N,"ports":[LA0,LB0,LA1,LB1,...]}
 *
 * LAk is the relay port endpoint Ak sends to (leg A of call k), LBk the one Bk sends to.
 * The relay then runs until SIGTERM or until stdin closes.
 */
import { createInterface } from 'node:readline';
import { isIP } from 'node:net';

export interface PeerList {
  /** Loopback address of every load endpoint. */
  address: string;
  /** Endpoint ports, A0 B0 A1 B1 ...: call k uses ports[2k] and ports[2k+1]. */
  ports: number[];
}

export class RelayHandshakeError extends Error {
  readonly code = 'ERR_PINLATCH_BENCH_HANDSHAKE';
}

/** Loopback literals only: the bench must never relay toward a real network. */
export function isLoopback(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return address.startsWith('127.');
  if (family === 6) return address === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(address);
  return false;
}

export function parsePeerLine(line: string): PeerList {
  const [word, address, ...rest] = line.trim().split(/\s+/);
  if (word !== 'peers' || address === undefined || rest.length === 0 || rest.length % 2 !== 0) {
    throw new RelayHandshakeError('expected: peers ADDR A0 B0 A1 B1 ... (an even number of ports)');
  }
  if (!isLoopback(address)) throw new RelayHandshakeError(`refusing ${address}: loopback only`);
  const ports = rest.map((p) => Number(p));
  if (ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new RelayHandshakeError('ports must be integers 1..65535');
  }
  return { address, ports };
}

/**
 * Reads the peers line from stdin. A bad line ends the process with a one-line message and
 * exit code 2 (the driver shows it), not a stack trace.
 */
export async function readPeers(): Promise<PeerList> {
  try {
    return await readPeerLine();
  } catch (err) {
    if (!(err instanceof RelayHandshakeError)) throw err;
    process.stderr.write(`${err.code}: ${err.message}\n`);
    process.exit(2);
  }
}

async function readPeerLine(): Promise<PeerList> {
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    lines.close();
    return parsePeerLine(line);
  }
  throw new RelayHandshakeError('stdin closed before the peers line');
}

/** Announces the relay ports, then resolves once the relay should stop (SIGTERM/SIGINT/stdin EOF). */
export function announceAndWait(ports: number[]): Promise<void> {
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid, ports })}\n`);
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve());
    process.once('SIGINT', () => resolve());
    process.stdin.once('end', () => resolve());
    process.stdin.resume();
  });
}
