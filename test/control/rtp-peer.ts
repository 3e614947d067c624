/**
 * A phone's media socket for NG tests: symmetric RTP on 127.0.0.1 (sends from the port it
 * advertises), sends valid RTP (V=2, PCMU, 20 ms) and counts what arrives.
 */
import { createSocket, type Socket } from 'node:dgram';

export class RtpPeer {
  received = 0;
  readonly sources = new Set<string>();
  private seq = 1;
  private ts = 0;

  private constructor(
    private readonly socket: Socket,
    readonly port: number,
    private readonly ssrc: number,
  ) {
    socket.on('message', (_msg, rinfo) => {
      this.received += 1;
      this.sources.add(`${rinfo.address}:${rinfo.port}`);
    });
  }

  static async open(ssrc: number, port = 0): Promise<RtpPeer> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, '127.0.0.1', () => resolve());
    });
    return new RtpPeer(socket, socket.address().port, ssrc);
  }

  sdp(sessionId: number, extra = ''): string {
    return [
      'v=0',
      `o=- ${sessionId} 1 IN IP4 127.0.0.1`,
      's=-',
      'c=IN IP4 127.0.0.1',
      't=0 0',
      `m=audio ${this.port} RTP/AVP 0`,
      'a=rtpmap:0 PCMU/8000',
      'a=ptime:20',
      'a=sendrecv',
      ...(extra === '' ? [] : [extra]),
      '',
    ].join('\r\n');
  }

  packet(): Buffer {
    const b = Buffer.alloc(12 + 160, 0xff);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt16BE(this.seq & 0xffff, 2);
    b.writeUInt32BE(this.ts >>> 0, 4);
    b.writeUInt32BE(this.ssrc >>> 0, 8);
    this.seq += 1;
    this.ts += 160;
    return b;
  }

  send(port: number, host = '127.0.0.1'): void {
    this.socket.send(this.packet(), port, host);
  }

  close(): void {
    this.socket.close();
  }
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string, stepMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** The m=audio port of an SDP body. */
export function audioPort(sdp: string): number {
  const m = /^m=audio (\d+) /m.exec(sdp);
  if (!m) throw new Error(`no m=audio in SDP:\n${sdp}`);
  return Number(m[1]);
}
