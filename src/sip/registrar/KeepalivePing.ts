/**
 * The keepalive OPTIONS pinlatch sends a silent UDP phone (Phones.ts; RFC 3261 §11), as bytes.
 * Thousands of phones are pinged every interval, so a ping is one string join, not a SipRequest
 * built header by header and serialized. The text is written for each ping rather than kept per
 * flow: keeping it would save ~1.5 µs a ping and cost ~330 bytes a flow (~16 MiB for 50,000 phones,
 * a quarter more than their bindings).
 *
 * The branch and the Call-ID must be unique, not secret: a branch names a transaction
 * (§17.1.1.3 asks only that it be unique across space and time), a Call-ID names a dialog or
 * registration (§8.1.1.4 suggests a random string joined with a host name). One random value per process joined with a counter
 * is unique across pinlatch processes and restarts, without a call to the random generator per
 * ping. The From tag is that per-process value too: a keepalive creates no dialog, and the
 * Call-ID already tells each one apart (§19.3 wants tags unique per dialog identifier).
 */
import { randomBytes } from 'node:crypto';

/** pinlatch's own address in the ping: the Via sent-by and the From host. */
export interface PingOrigin {
  readonly transport: 'UDP' | 'TCP';
  readonly host: string;
  readonly port: number;
}

export interface Ping {
  /** The Via branch: the key of the client transaction that waits for the answer. */
  readonly branch: string;
  readonly bytes: Buffer;
}

const hostText = (host: string): string => (host.includes(':') ? `[${host}]` : host);

export class KeepalivePings {
  /** 64 random bits for the life of the process. */
  private readonly processId = randomBytes(8).toString('hex');
  private count = 0;

  /** `branchPrefix`: the magic cookie and the proxy's own mark (its client transactions' branches). */
  constructor(private readonly branchPrefix: string) {}

  /** The next ping to the registered Contact URI `contact`, from `origin`. */
  next(contact: string, origin: PingOrigin): Ping {
    const id = (this.count++).toString(36);
    const branch = `${this.branchPrefix}ka.${this.processId}.${id}`;
    const host = hostText(origin.host);
    const text =
      `OPTIONS ${contact} SIP/2.0\r\nVia: SIP/2.0/${origin.transport} ${host}:${origin.port};branch=${branch};rport\r\n` +
      `From: <sip:pinlatch@${host}>;tag=${this.processId}\r\nCall-ID: ka.${this.processId}.${id}\r\nTo: <${contact}>\r\n` +
      'CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n';
    return { branch, bytes: Buffer.from(text) };
  }
}
