#!/usr/bin/env node
// A phone registering over TCP (RFC 5626 §4.2 for TCP: it keeps the connection it registered over
// and expects every request for it on that connection), for the phones end-to-end tests:
//   tcp-phone.mjs <localIp> <remoteIp> <remotePort> <user> <password> <domain>
// Connects, REGISTERs with digest authentication (RFC 2617 without qop, what the test registrar
// asks for), then answers each INVITE that comes over the connection with 486 Busy Here. Prints one
// JSON line per event: {registered}, {request, uri}, {closed}. A line "close" on stdin closes the
// connection (the phone went away); the process exits once it is closed.
import { connect } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

const [localIp, remoteIp, remotePort, user, password, domain] = process.argv.slice(2);
const print = (o) => console.log(JSON.stringify(o));
const md5 = (s) => createHash('md5').update(s).digest('hex');
const callId = `tcp-phone-${randomBytes(6).toString('hex')}`;
let cseq = 0;

const socket = connect({ host: remoteIp, port: Number(remotePort), localAddress: localIp });

function header(text, name) {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text);
  return m ? m[1].trim() : '';
}

function register(authorization) {
  cseq += 1;
  const { localPort } = socket;
  socket.write(
    [
      `REGISTER sip:${domain} SIP/2.0`,
      `Via: SIP/2.0/TCP ${localIp}:${localPort};branch=z9hG4bK-tcp-${randomBytes(6).toString('hex')};rport`,
      'Max-Forwards: 70',
      `From: <sip:${user}@${domain}>;tag=tcp${user}`,
      `To: <sip:${user}@${domain}>`,
      `Call-ID: ${callId}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${user}@${localIp}:${localPort};transport=tcp>`,
      ...(authorization ? [`Authorization: ${authorization}`] : []),
      'Expires: 60',
      'User-Agent: pinlatch-test-tcp-phone',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

/** RFC 2617 §3.2.2 without qop: response = MD5(HA1:nonce:HA2). */
function authorization(challenge) {
  const realm = /realm="([^"]*)"/.exec(challenge)?.[1] ?? domain;
  const nonce = /nonce="([^"]*)"/.exec(challenge)?.[1] ?? '';
  const uri = `sip:${domain}`;
  const response = md5(`${md5(`${user}:${realm}:${password}`)}:${nonce}:${md5(`REGISTER:${uri}`)}`);
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", response="${response}", algorithm=MD5`;
}

function onMessage(text) {
  const first = text.split('\r\n')[0];
  const status = Number(/^SIP\/2\.0 (\d{3})/.exec(first)?.[1] ?? 0);
  if (status === 401) return register(authorization(header(text, 'WWW-Authenticate')));
  if (status === 200 && /REGISTER/.test(header(text, 'CSeq'))) return print({ registered: true, contact: header(text, 'Contact') });
  if (status > 0) return print({ response: status });
  const [method, uri] = first.split(' ');
  print({ request: method, uri });
  if (method !== 'INVITE') return;
  const vias = [...text.matchAll(/^Via:[ \t]*(.*)$/gim)].map((m) => `Via: ${m[1].trim()}`);
  socket.write(
    ['SIP/2.0 486 Busy Here', ...vias, `From: ${header(text, 'From')}`, `To: ${header(text, 'To')};tag=tcp486`, `Call-ID: ${header(text, 'Call-ID')}`, `CSeq: ${header(text, 'CSeq')}`, 'Content-Length: 0', '', ''].join('\r\n'),
  );
}

// RFC 3261 §18.3 framing: headers up to the blank line, then Content-Length bytes of body.
let buffer = Buffer.alloc(0);
socket.on('data', (chunk) => {
  buffer = Buffer.concat([buffer, chunk]);
  for (;;) {
    while (buffer.subarray(0, 2).toString() === '\r\n') buffer = buffer.subarray(2);
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = buffer.subarray(0, end).toString('latin1');
    const length = Number(/^(?:Content-Length|l):[ \t]*(\d+)/im.exec(head)?.[1] ?? 0);
    if (buffer.length < end + 4 + length) return;
    buffer = buffer.subarray(end + 4 + length);
    onMessage(head);
  }
});
socket.on('connect', () => register(null));
socket.on('close', () => {
  print({ closed: true });
  process.exit(0);
});
socket.on('error', (err) => print({ error: err.code ?? String(err) }));
process.stdin.on('data', (d) => {
  if (d.toString().includes('close')) socket.destroy();
});
