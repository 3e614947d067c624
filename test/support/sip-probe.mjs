#!/usr/bin/env node
// Small SIP tools for the phones end-to-end tests, run inside a namespace of the topology
// (`ip netns exec ... node sip-probe.mjs MODE ...`); every line they print is one JSON object.
//
//   invite <localIp> <localPort> <remoteIp> <remotePort> <requestUri> [route]
//     Sends one INVITE (no SDP) over UDP, with `route` as its Route when given, prints every
//     response ({status, reason}), ACKs a final non-2xx (RFC 3261 §17.1.1.3) and exits after the
//     final response, or prints {status: 0} after 10 s without one.
//   listen <localIp> <localPort>
//     A UDP listener standing in for a phone or a trunk: prints {from, line} for every datagram,
//     answers OPTIONS 200 and INVITE 486 (copying Via, From, To, Call-ID, CSeq), until killed.
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

const [mode, ...args] = process.argv.slice(2);
const print = (o) => console.log(JSON.stringify(o));

function header(text, name) {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(text);
  return m ? m[1].trim() : '';
}

function headers(text, name) {
  return [...text.matchAll(new RegExp(`^${name}:[ \\t]*(.*)$`, 'gim'))].map((m) => m[1].trim());
}

/** A response to `request` that copies what §8.2.6.2 asks for, with a To tag of its own. */
function responseTo(request, status, reason) {
  const to = header(request, 'To');
  return [
    `SIP/2.0 ${status} ${reason}`,
    ...headers(request, 'Via').map((v) => `Via: ${v}`),
    `From: ${header(request, 'From')}`,
    `To: ${/;tag=/.test(to) ? to : `${to};tag=probe${randomBytes(3).toString('hex')}`}`,
    `Call-ID: ${header(request, 'Call-ID')}`,
    `CSeq: ${header(request, 'CSeq')}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
}

if (mode === 'invite') {
  const [localIp, localPort, remoteIp, remotePort, uri, route] = args;
  const socket = createSocket('udp4');
  const branch = `z9hG4bK-probe-${randomBytes(6).toString('hex')}`;
  const callId = `probe-${randomBytes(6).toString('hex')}`;
  const common = [
    `Via: SIP/2.0/UDP ${localIp}:${localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:probe@${localIp}>;tag=probe`,
  ];
  const invite = [
    `INVITE ${uri} SIP/2.0`,
    ...common,
    ...(route ? [`Route: ${route}`] : []),
    `To: <${uri}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:probe@${localIp}:${localPort}>`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const timer = setTimeout(() => {
    print({ status: 0, callId });
    process.exit(0);
  }, 10_000);
  socket.on('message', (data) => {
    const text = data.toString('latin1');
    const status = Number(/^SIP\/2\.0 (\d{3}) ?(.*)$/m.exec(text)?.[1] ?? 0);
    print({ status, reason: /^SIP\/2\.0 \d{3} ?(.*)$/m.exec(text)?.[1] ?? '', callId });
    if (status < 200) return;
    clearTimeout(timer);
    const ack = [`ACK ${uri} SIP/2.0`, ...common, ...(route ? [`Route: ${route}`] : []), `To: ${header(text, 'To')}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK', 'Content-Length: 0', '', ''].join('\r\n');
    socket.send(ack, Number(remotePort), remoteIp, () => process.exit(0));
  });
  socket.bind(Number(localPort), localIp, () => socket.send(invite, Number(remotePort), remoteIp));
} else if (mode === 'listen') {
  const [localIp, localPort] = args;
  const socket = createSocket('udp4');
  socket.on('message', (data, from) => {
    const text = data.toString('latin1');
    const line = text.split('\r\n')[0];
    print({ from: `${from.address}:${from.port}`, line });
    const method = /^([A-Z]+) \S+ SIP\/2\.0$/.exec(line)?.[1];
    const answer = method === 'OPTIONS' ? responseTo(text, 200, 'OK') : method === 'INVITE' ? responseTo(text, 486, 'Busy Here') : null;
    if (answer) socket.send(answer, from.port, from.address);
  });
  socket.bind(Number(localPort), localIp, () => print({ ready: true }));
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
