/**
 * The naive baseline: a symmetric-latching RTP relay in plain JavaScript on node:dgram, one
 * 'message' event and one send() per packet. Same semantics as pinlatch for the bench's
 * sessions: a leg latches onto the source of the first valid RTP packet (version 2, at least
 * the 12-byte header, RFC 3550 §5.1) coming from the expected peer address (RFC 7362 §4);
 * after that, packets from any other source are dropped; media toward a leg without a peer
 * is dropped.
 *
 * Run: node --import tsx bench/relays/dgram-relay.ts [--rcvbuf BYTES]   (handshake: see relay-handshake.ts)
 */
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { announceAndWait, readPeers } from './relay-handshake.ts';

const RTP_HEADER_LEN = 12;

interface Leg {
  socket: dgram.Socket;
  peerAddress: string | null;
  peerPort: number;
}

interface Counts {
  forwarded: number;
  dropInvalid: number;
  dropStranger: number;
  dropNoPeer: number;
}

function isRtp(msg: Buffer): boolean {
  return msg.length >= RTP_HEADER_LEN && (msg[0]! & 0xc0) === 0x80;
}

async function bindLeg(address: string, recvBufferSize: number | undefined): Promise<Leg> {
  const type = isIPv6(address) ? 'udp6' : 'udp4';
  const socket = dgram.createSocket(recvBufferSize === undefined ? { type } : { type, recvBufferSize });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return { socket, peerAddress: null, peerPort: 0 };
}

/** Wires one direction: what `from` receives goes out of `to`'s socket to `to`'s peer. */
function relayDirection(from: Leg, to: Leg, expectedAddress: string, counts: Counts): void {
  from.socket.on('message', (msg, rinfo) => {
    if (!isRtp(msg)) {
      counts.dropInvalid++;
      return;
    }
    if (from.peerAddress === null) {
      if (rinfo.address !== expectedAddress) {
        counts.dropStranger++;
        return;
      }
      from.peerAddress = rinfo.address;
      from.peerPort = rinfo.port;
    } else if (rinfo.port !== from.peerPort || rinfo.address !== from.peerAddress) {
      counts.dropStranger++;
      return;
    }
    if (to.peerAddress === null) {
      counts.dropNoPeer++;
      return;
    }
    to.socket.send(msg, to.peerPort, to.peerAddress);
    counts.forwarded++;
  });
}

const { values } = parseArgs({ options: { rcvbuf: { type: 'string' } } });
const recvBufferSize = values.rcvbuf === undefined ? undefined : Number(values.rcvbuf);
const peers = await readPeers();
const counts: Counts = { forwarded: 0, dropInvalid: 0, dropStranger: 0, dropNoPeer: 0 };
const legs: Leg[] = [];
for (let i = 0; i < peers.ports.length; i++) legs.push(await bindLeg(peers.address, recvBufferSize));
for (let k = 0; k < legs.length; k += 2) {
  relayDirection(legs[k]!, legs[k + 1]!, peers.address, counts);
  relayDirection(legs[k + 1]!, legs[k]!, peers.address, counts);
}
await announceAndWait(legs.map((leg) => leg.socket.address().port));
for (const leg of legs) leg.socket.close();
process.stderr.write(`dgram-relay: ${JSON.stringify(counts)}\n`);
