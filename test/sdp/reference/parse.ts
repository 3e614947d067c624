// Reference model: src/sdp/parse.ts as it was before src/sdp scanned lines itself (commit 00b4a2b),
// a full sdp-transform parse and write. Kept for test/sdp/reference.test.ts (the line-copying
// implementation must agree with it) and bench/micro/sdp-rewrite.ts (the before/after figures).
/**
 * Validated parsing. sdp-transform is lenient by design: it silently drops lines it does not
 * recognise and never throws. A relay must not forward half an SDP, so the raw lines are checked
 * against the RFC 8866 §5 line grammar first, then the parsed description for what anchoring
 * needs (origin, m= lines, a connection address for every active stream).
 */
import { isIP } from 'node:net';
import { parse, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { SdpError } from '../../../src/sdp/errors.ts';

/** Largest SDP body accepted (a SIP message over UDP is at most 65,535 bytes anyway). */
export const MAX_SDP_LENGTH = 65_535;

const LINE = /^[a-z]=/;
// RFC 8866 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ... — media and proto
// limited to what sdp-transform's m= grammar reads (word characters, and `/` in proto): a `-` or
// `.` there leaves its media description without type, port or proto, and the rewritten m= line
// would not parse again.
const M_LINE = /^m=(\w+) (\d{1,5})(\/\d+)? ([\w/]+)(?: .*)?$/;
const C_LINE = /^c=IN IP([46]) (\S+)$/;
const O_LINE = /^o=\S+ \d+ \d+ IN IP[46] \S+$/;
const RTCP_ATTR = /^a=rtcp:(\d{1,5})(?: IN IP[46] \S+)?$/;

function checkLines(text: string): void {
  // Split as sdp-transform splits (a lone CR ends a line too): otherwise a line hidden behind a CR
  // would reach the parser without having been checked here.
  const lines = text.split(/\r\n|\r|\n/);
  let n = 0;
  let sawOrigin = false;
  let inMedia = false;
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    const where = `line ${i + 1}`;
    n += 1;
    if (n === 1) {
      if (line !== 'v=0') throw new SdpError(`${where}: expected "v=0" first, got "${line.slice(0, 40)}"`);
      continue;
    }
    if (!LINE.test(line)) throw new SdpError(`${where}: not a "<type>=<value>" line: "${line.slice(0, 40)}"`);
    switch (line[0]) {
      case 'v':
        // RFC 8866 §5.1: v= is the first line only; sdp-transform lets a later one replace it.
        throw new SdpError(`${where}: a second v= line`);
      case 'o':
        // RFC 8866 §5: o= belongs to the session section; after an m= line sdp-transform files it
        // under that media description and the session has no origin.
        if (inMedia) throw new SdpError(`${where}: o= line inside a media description`);
        if (!O_LINE.test(line)) throw new SdpError(`${where}: malformed o= line`);
        sawOrigin = true;
        break;
      case 'm': {
        inMedia = true;
        const m = M_LINE.exec(line);
        if (!m) throw new SdpError(`${where}: malformed m= line`);
        if (Number(m[2]) > 65535) throw new SdpError(`${where}: port ${m[2]} out of range`);
        if (m[3] !== undefined) throw new SdpError(`${where}: a port count (${m[2]}${m[3]}) is not supported`);
        break;
      }
      case 'c': {
        const c = C_LINE.exec(line);
        if (!c) throw new SdpError(`${where}: malformed c= line`);
        break;
      }
      case 'a':
        if (line.startsWith('a=rtcp:')) {
          const r = RTCP_ATTR.exec(line);
          if (!r || Number(r[1]) > 65535) throw new SdpError(`${where}: malformed a=rtcp attribute`);
        }
        break;
    }
  }
  if (n === 0) throw new SdpError('empty body');
  if (!sawOrigin) throw new SdpError('no o= line');
}

/** The connection address that applies to a stream: media-level c= overrides session-level (RFC 8866 §5.7). */
export function connectionOf(session: SessionDescription, media: MediaDescription) {
  return media.connection ?? session.connection;
}

export function parseSdp(text: string): SessionDescription {
  if (typeof text !== 'string') throw new SdpError('body is not text');
  if (text.length > MAX_SDP_LENGTH) throw new SdpError(`body is larger than ${MAX_SDP_LENGTH} bytes`);
  checkLines(text);
  let session: SessionDescription;
  try {
    session = parse(text);
  } catch (err) {
    throw new SdpError(`unparsable: ${(err as Error).message}`, { cause: err });
  }
  session.media.forEach((m, i) => {
    const c = connectionOf(session, m);
    if (m.port !== 0 && c === undefined) throw new SdpError(`m-line ${i} (${m.type}) has no c= line at media or session level`);
    if (c !== undefined && typeof c.ip === 'string' && isIP(c.ip) !== 0 && isIP(c.ip) !== c.version) {
      throw new SdpError(`m-line ${i}: c= says IP${c.version} but ${c.ip} is IPv${isIP(c.ip)}`);
    }
  });
  return session;
}
