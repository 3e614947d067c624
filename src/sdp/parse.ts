/**
 * Validated parsing: one scan of the body's lines into an SdpView. A relay must not forward half
 * an SDP, so every line is checked against the RFC 8866 §5 line grammar, and the parts anchoring
 * rewrites (origin, m= lines, c= lines, a=rtcp) against their own grammar; then every active
 * stream must have a connection address. Lines anchoring does not change are only checked to be
 * `<type>=<value>` lines and kept as they are.
 */
import { isIP } from 'node:net';
import type { MediaDirection } from './describe.js';
import { SdpError } from './errors.js';
import { LineKind, type ConnectionView, type MediaView, type OriginView, type RtcpView, type SdpView } from './view.js';

/** Largest SDP body accepted (a SIP message over UDP is at most 65,535 bytes anyway). */
export const MAX_SDP_LENGTH = 65_535;

// RFC 8866 §5: a line ends with CRLF; a lone LF is accepted (§5, "parsers SHOULD"), and a lone CR
// too, as sdp-transform read it: a line hidden behind a CR is checked like any other.
const LINE_END = /\r\n|\r|\n/;
// RFC 8866 §5.14: m=<media> <port>[/<number of ports>] <proto> <fmt> ... — media and proto
// limited to word characters (and `/` in proto), as the grammar of sdp-transform, which read the
// bodies before, allowed: the corpus of accepted bodies stays what it was.
const M_LINE = /^m=(\w+) (\d{1,5})(\/\d+)? ([\w/]+)(?: (.*))?$/;
const C_LINE = /^c=IN IP([46]) (\S+)$/;
const O_LINE = /^o=(\S+) (\d+) (\d+) IN IP([46]) (\S+)$/;
const RTCP_ATTR = /^a=rtcp:(\d{1,5})(?: IN IP[46] (\S+))?$/;

/** `<type>=`, the type one lower-case letter (RFC 8866 §5). */
function isTypedLine(line: string): boolean {
  const type = line.charCodeAt(0);
  return type >= 0x61 && type <= 0x7a && line.charCodeAt(1) === 0x3d;
}

/** Whether a= line `line` is attribute `name`, with or without a value (RFC 8866 §5.13). */
function isAttribute(line: string, name: string): boolean {
  return line.startsWith(name, 2) && (line.length === 2 + name.length || line.charCodeAt(2 + name.length) === 0x3a);
}

function directionOf(line: string): MediaDirection | null {
  switch (line) {
    case 'a=sendrecv':
      return 'sendrecv';
    case 'a=sendonly':
      return 'sendonly';
    case 'a=recvonly':
      return 'recvonly';
    case 'a=inactive':
      return 'inactive';
    default:
      return null;
  }
}

/**
 * ICE attributes (RFC 8839 §5): every ice-* attribute at either level, and at media level the
 * candidates (RFC 8839 §5.1), end-of-candidates (RFC 8840) and remote-candidates.
 */
function isIceAttribute(line: string, inMedia: boolean): boolean {
  if (line.startsWith('a=ice-')) return true;
  return inMedia && (isAttribute(line, 'candidate') || isAttribute(line, 'end-of-candidates') || isAttribute(line, 'remote-candidates'));
}

/** ICE in use: candidates or credentials at media level; credentials or ice-lite at session level. */
function showsIce(line: string, inMedia: boolean): boolean {
  if (isAttribute(line, 'ice-ufrag') || isAttribute(line, 'ice-pwd')) return true;
  return inMedia ? isAttribute(line, 'candidate') : isAttribute(line, 'ice-lite');
}

type MutableMedia = { -readonly [K in keyof MediaView]: MediaView[K] };

/** The section being read: the session, or the media description of the last m= line. */
interface Section {
  connection: ConnectionView | null;
  direction: MediaDirection | null;
  ice: boolean;
}

function connectionOf(line: string, lineNumber: number): ConnectionView {
  const c = C_LINE.exec(line);
  if (!c) throw new SdpError(`line ${lineNumber}: malformed c= line`);
  return { ipVersion: c[1] === '4' ? 4 : 6, address: c[2]! };
}

function mediaOf(line: string, index: number, lineNumber: number): MutableMedia {
  const m = M_LINE.exec(line);
  if (!m) throw new SdpError(`line ${lineNumber}: malformed m= line`);
  const port = Number(m[2]);
  if (port > 65535) throw new SdpError(`line ${lineNumber}: port ${m[2]} out of range`);
  if (m[3] !== undefined) throw new SdpError(`line ${lineNumber}: a port count (${m[2]}${m[3]}) is not supported`);
  return {
    line: index,
    end: index + 1,
    type: m[1]!,
    port,
    portEnd: 3 + m[1]!.length + m[2]!.length,
    proto: m[4]!,
    formats: m[5] ?? '',
    connection: null,
    rtcp: null,
    rtcpMux: false,
    direction: null,
    ice: false,
  };
}

function originOf(line: string, index: number, lineNumber: number): OriginView {
  const o = O_LINE.exec(line);
  if (!o) throw new SdpError(`line ${lineNumber}: malformed o= line`);
  return { line: index, username: o[1]!, sessionId: o[2]!, sessionVersion: o[3]!, ipVersion: o[4] === '4' ? 4 : 6, address: o[5]! };
}

function rtcpOf(line: string, lineNumber: number): RtcpView {
  const r = RTCP_ATTR.exec(line);
  if (!r || Number(r[1]) > 65535) throw new SdpError(`line ${lineNumber}: malformed a=rtcp attribute`);
  return { port: Number(r[1]), address: r[2] ?? null };
}

/** Kind of an a= line; records what describing needs in `section` and `media`. */
function attributeKind(line: string, lineNumber: number, section: Section, media: MutableMedia | null): LineKind {
  const inMedia = media !== null;
  if (line.startsWith('a=rtcp:')) {
    const rtcp = rtcpOf(line, lineNumber);
    // RFC 3605 has one a=rtcp per media description; a repeated short form keeps the address of an
    // earlier long form, as the sdp-transform parser before this scan read it.
    if (media) media.rtcp = rtcp.address === null && media.rtcp !== null ? { port: rtcp.port, address: media.rtcp.address } : rtcp;
    return LineKind.rtcp;
  }
  if (line === 'a=rtcp-mux' || line === 'a=rtcp-mux-only') {
    if (media) media.rtcpMux = true;
    return LineKind.rtcpMux;
  }
  const direction = directionOf(line);
  if (direction !== null) {
    section.direction = direction;
    return LineKind.direction;
  }
  if (isIceAttribute(line, inMedia)) {
    if (showsIce(line, inMedia)) section.ice = true;
    return LineKind.ice;
  }
  return LineKind.other;
}

function checkConnections(session: Section, media: readonly MediaView[]): void {
  media.forEach((m, i) => {
    const c = m.connection ?? session.connection;
    if (m.port !== 0 && c === null) throw new SdpError(`m-line ${i} (${m.type}) has no c= line at media or session level`);
    if (c !== null) {
      const family = isIP(c.address);
      if (family !== 0 && family !== c.ipVersion) throw new SdpError(`m-line ${i}: c= says IP${c.ipVersion} but ${c.address} is IPv${family}`);
    }
  });
}

/** Scans and checks an SDP body; throws SdpError when it is malformed or cannot be anchored. */
export function parseSdp(text: string): SdpView {
  if (typeof text !== 'string') throw new SdpError('body is not text');
  if (text.length > MAX_SDP_LENGTH) throw new SdpError(`body is larger than ${MAX_SDP_LENGTH} bytes`);
  const raw = text.split(LINE_END);
  const lines: string[] = [];
  const kinds = new Uint8Array(raw.length);
  const session: Section = { connection: null, direction: null, ice: false };
  const media: MutableMedia[] = [];
  let current: MutableMedia | null = null;
  let section: Section = session;
  let origin: OriginView | null = null;
  let sessionName: string | null = null;
  for (let i = 0; i < raw.length; i += 1) {
    const line = raw[i]!;
    if (line === '') continue;
    const lineNumber = i + 1;
    const index = lines.length;
    lines.push(line);
    if (index === 0) {
      if (line !== 'v=0') throw new SdpError(`line ${lineNumber}: expected "v=0" first, got "${line.slice(0, 40)}"`);
      continue;
    }
    if (!isTypedLine(line)) throw new SdpError(`line ${lineNumber}: not a "<type>=<value>" line: "${line.slice(0, 40)}"`);
    let kind: LineKind = LineKind.other;
    switch (line.charCodeAt(0)) {
      case 0x76 /* v */:
        throw new SdpError(`line ${lineNumber}: a second v= line`);
      case 0x6f /* o */:
        // RFC 8866 §5: one o= line, in the session section.
        if (current) throw new SdpError(`line ${lineNumber}: o= line inside a media description`);
        if (origin) throw new SdpError(`line ${lineNumber}: a second o= line`);
        origin = originOf(line, index, lineNumber);
        kind = LineKind.origin;
        break;
      case 0x73 /* s */:
        if (!current) {
          sessionName = line.slice(2);
          kind = LineKind.name;
        }
        break;
      case 0x6d /* m */:
        if (current) current.end = index;
        current = mediaOf(line, index, lineNumber);
        media.push(current);
        section = current;
        kind = LineKind.media;
        break;
      case 0x63 /* c */:
        section.connection = connectionOf(line, lineNumber);
        kind = LineKind.connection;
        break;
      case 0x61 /* a */:
        kind = attributeKind(line, lineNumber, section, current);
        break;
    }
    kinds[index] = kind;
  }
  if (lines.length === 0) throw new SdpError('empty body');
  if (!origin) throw new SdpError('no o= line');
  if (current) current.end = lines.length;
  checkConnections(session, media);
  return { lines, kinds, origin, sessionName, connection: session.connection, direction: session.direction, ice: session.ice, media };
}
