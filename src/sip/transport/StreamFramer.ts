/**
 * Cuts a TCP byte stream into SIP messages (RFC 3261 §18.3): a message is its header section up to
 * the empty line, then exactly Content-Length octets of body (Content-Length is mandatory on
 * streams). Handles partial messages across chunks and several messages in one chunk.
 *
 * Between messages, CRLFs are keep-alives (RFC 5626 §4.4.1): a double CRLF is a "ping" that the
 * transport answers with a single CRLF "pong"; a single CRLF is a pong and is dropped.
 *
 * Anything that cannot be framed (no SIP start line, no or invalid Content-Length, a header section
 * or message beyond the limits) throws SipFramingError: the stream has lost sync and the
 * connection must be closed (RFC 4475 §3.1.2.3 ncl). The buffer never holds more than
 * maxMessageBytes.
 */
import { SipFramingError } from '../wire/errors.js';

export type FramerOutput = { kind: 'message'; data: Buffer } | { kind: 'ping' };

export interface FramerLimits {
  /** Largest message (headers + body) accepted (default 65535). */
  maxMessageBytes: number;
  /** Largest header section accepted before the empty line must have arrived (default 16384). */
  maxHeaderBytes: number;
}

export const DEFAULT_FRAMER_LIMITS: Readonly<FramerLimits> = Object.freeze({ maxMessageBytes: 65535, maxHeaderBytes: 16384 });

const CONTENT_LENGTH_LINE = /^(?:content-length|l)[ \t]*:[ \t]*(.*?)[ \t]*$/i;
const HEADER_END = Buffer.from('\r\n\r\n');

export class StreamFramer {
  readonly #limits: FramerLimits;
  #buffer: Buffer = Buffer.alloc(0);
  /** Total size of the message at the head of the buffer, once its header section is complete. */
  #pendingTotal = -1;

  constructor(limits: Partial<FramerLimits> = {}) {
    this.#limits = { ...DEFAULT_FRAMER_LIMITS, ...limits };
  }

  /** Bytes held waiting for the rest of a message. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Feeds a chunk; returns the complete messages and pings it finished. Throws SipFramingError. */
  push(chunk: Buffer): FramerOutput[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: FramerOutput[] = [];
    for (;;) {
      if (this.#pendingTotal === -1) {
        if (!this.#skipKeepalives(out)) break;
        const headerEnd = this.#buffer.indexOf(HEADER_END);
        if (headerEnd === -1) {
          this.#checkStartLine();
          if (this.#buffer.length > this.#limits.maxHeaderBytes) {
            throw new SipFramingError(`header section larger than ${this.#limits.maxHeaderBytes} bytes`);
          }
          break;
        }
        if (headerEnd + 4 > this.#limits.maxHeaderBytes) {
          throw new SipFramingError(`header section larger than ${this.#limits.maxHeaderBytes} bytes`);
        }
        this.#checkStartLine();
        const total = headerEnd + 4 + contentLength(this.#buffer.toString('latin1', 0, headerEnd));
        if (total > this.#limits.maxMessageBytes) {
          throw new SipFramingError(`message of ${total} bytes exceeds ${this.#limits.maxMessageBytes}`);
        }
        this.#pendingTotal = total;
      }
      if (this.#buffer.length < this.#pendingTotal) break;
      out.push({ kind: 'message', data: this.#buffer.subarray(0, this.#pendingTotal) });
      this.#buffer = this.#buffer.subarray(this.#pendingTotal);
      this.#pendingTotal = -1;
    }
    if (this.#buffer.length === 0) this.#buffer = Buffer.alloc(0);
    return out;
  }

  /**
   * Consumes CRLF keep-alives at a message boundary, recording pings. Returns false when the
   * buffer holds nothing else yet (possibly the first half of a ping).
   */
  #skipKeepalives(out: FramerOutput[]): boolean {
    const b = this.#buffer;
    let i = 0;
    while (i < b.length && (b[i] === 0x0d || b[i] === 0x0a)) {
      if (b[i] === 0x0d && b[i + 1] === 0x0a && b[i + 2] === 0x0d && b[i + 3] === 0x0a) {
        out.push({ kind: 'ping' });
        i += 4;
        continue;
      }
      const rest = b.subarray(i);
      if (rest.length < 4 && HEADER_END.subarray(0, rest.length).equals(rest)) break; // maybe half a ping
      i++; // a single CRLF (pong) or a stray CR/LF
    }
    this.#buffer = b.subarray(i);
    return this.#buffer.length > 0 && this.#buffer[0] !== 0x0d && this.#buffer[0] !== 0x0a;
  }

  /** Rejects a stream whose first line (once complete) is no SIP start line. */
  #checkStartLine(): void {
    const eol = this.#buffer.indexOf(0x0a);
    const line = this.#buffer.toString('latin1', 0, eol === -1 ? Math.min(this.#buffer.length, 256) : eol).replace(/\r$/, '');
    // Checked whether or not the line is complete: the verdict on a stream must not depend on
    // where TCP cut it (a control character is never part of a start line, RFC 3261 §25.1).
    if (/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(line)) throw new SipFramingError('not SIP: control characters');
    if (eol === -1) {
      if (this.#buffer.length > this.#limits.maxHeaderBytes) throw new SipFramingError('start line too long');
      return;
    }
    if (!/^SIP\/[0-9]+\.[0-9]+ /i.test(line) && !/ SIP\/[0-9]+\.[0-9]+[ \t]*$/i.test(line)) {
      throw new SipFramingError('not SIP: no start line');
    }
  }
}

function contentLength(head: string): number {
  let found: number | undefined;
  for (const line of head.split('\r\n')) {
    const match = CONTENT_LENGTH_LINE.exec(line);
    if (!match) continue;
    if (!/^[0-9]{1,10}$/.test(match[1]!)) throw new SipFramingError(`invalid Content-Length "${match[1]!.slice(0, 20)}"`);
    const value = Number(match[1]);
    if (found !== undefined && found !== value) throw new SipFramingError('conflicting Content-Length values');
    found = value;
  }
  if (found === undefined) throw new SipFramingError('missing Content-Length (mandatory on stream transports)');
  return found;
}
