/**
 * udp-floor: what Node's datagram path alone costs the SIP thread, with nothing done per datagram.
 * A forwarder process (the relay's CPU, `--relay-cpu`) receives every datagram on one node:dgram
 * socket and sends it back to where it came from; a load process (`--load-cpu`) sends `--rate`
 * datagrams per second of `--bytes` bytes for `--seconds` and counts what comes back. The
 * forwarder's main-thread CPU per datagram (/proc schedstat) is the floor under pinlatch's SIP
 * thread: a proxied call (bench/cps.ts's scenario) is 6 datagrams received and 7 sent by it
 * (INVITE, 180, 200, ACK, BYE, 200 in; 100, INVITE, 180, 200, ACK, BYE, 200 out), six and a half
 * of these forwards.
 *
 *   node --import tsx bench/udp-floor.ts [--rate 3000] [--seconds 10] [--bytes 600]
 *        [--relay-cpu 0] [--load-cpu 1] [--subnet 127.0.87]
 *
 * Run it beside bench/cps.ts on the same machine (its 400 cps is about 2600 datagrams per second
 * each way); the figure is a property of node, the kernel and the machine, not of pinlatch.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const TASKSET = '/usr/bin/taskset';
const SELF = fileURLToPath(import.meta.url);

function intOption(value: string, name: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new RangeError(`--${name}: ${min}..${max}, got ${value}`);
  return n;
}

/** ns the thread `tid` of `pid` has been on a CPU (the main thread's tid is the pid). */
function threadNs(pid: number, tid = pid): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

/** The forwarder: every datagram goes straight back to its sender. */
async function forwarder(address: string): Promise<void> {
  const socket = dgram.createSocket('udp4');
  socket.on('message', (data, from) => socket.send(data, from.port, from.address));
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  console.log(`ready ${socket.address().port}`);
  // Runs until its parent ends it (SIGTERM).
}

/** The load: `rate` datagrams a second to the forwarder for `seconds`; prints sent and received. */
async function load(address: string, to: string, port: number, rate: number, seconds: number, bytes: number): Promise<void> {
  const socket = dgram.createSocket('udp4');
  let received = 0;
  socket.on('message', () => received++);
  await new Promise<void>((resolve) => socket.bind(0, address, resolve));
  const payload = Buffer.alloc(bytes, 0x41);
  const total = rate * seconds;
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1000));
      for (; sent < due; sent++) socket.send(payload, port, to);
      if (sent >= total) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  // What is still on its way back gets half a second.
  await new Promise((resolve) => setTimeout(resolve, 500));
  socket.close();
  console.log(JSON.stringify({ sent, received, seconds: (performance.now() - started) / 1000 }));
}

function pinnedNode(cpu: string, args: string[]): ChildProcess {
  const node = [process.execPath, ...process.execArgv, SELF, ...args];
  return cpu === '' ? spawn(node[0]!, node.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] }) : spawn(TASKSET, ['-c', cpu, ...node], { stdio: ['ignore', 'pipe', 'inherit'] });
}

function firstLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`no output within ${timeoutMs} ms`)), timeoutMs);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before its first line`)));
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      role: { type: 'string' },
      rate: { type: 'string', default: '3000' },
      seconds: { type: 'string', default: '10' },
      bytes: { type: 'string', default: '600' },
      'relay-cpu': { type: 'string', default: '0' },
      'load-cpu': { type: 'string', default: '1' },
      subnet: { type: 'string', default: '127.0.87' },
      to: { type: 'string' },
      port: { type: 'string' },
    },
    strict: true,
  });
  const rate = intOption(values.rate, 'rate', 1, 200_000);
  const seconds = intOption(values.seconds, 'seconds', 1, 600);
  const bytes = intOption(values.bytes, 'bytes', 1, 65_000);
  const relayAddress = `${values.subnet}.1`;
  const loadAddress = `${values.subnet}.2`;
  if (values.role === 'forwarder') return forwarder(relayAddress);
  if (values.role === 'load') return load(loadAddress, values.to!, intOption(values.port ?? '', 'port', 1, 65_535), rate, seconds, bytes);
  if (values.role !== undefined) throw new RangeError(`--role: forwarder or load, got ${values.role}`);

  const relay = pinnedNode(values['relay-cpu'], ['--role', 'forwarder', '--subnet', values.subnet]);
  try {
    const ready = await firstLine(relay, 30_000);
    const port = Number(ready.split(' ')[1]);
    // taskset execs node: the child's pid is the forwarder's.
    const pid = relay.pid!;
    const mainBefore = threadNs(pid);
    const loader = pinnedNode(values['load-cpu'], [
      '--role', 'load', '--subnet', values.subnet, '--to', relayAddress, '--port', String(port),
      '--rate', String(rate), '--seconds', String(seconds), '--bytes', String(bytes),
    ]);
    const result = JSON.parse(await firstLine(loader, (seconds + 60) * 1000)) as { sent: number; received: number; seconds: number };
    const mainNs = threadNs(pid) - mainBefore;
    const perDatagramUs = mainNs / 1000 / result.received;
    console.log(`| datagrams/s | bytes | sent | came back | forwarder main thread µs per datagram (received + sent) | × 6.5 (a proxied call) |`);
    console.log(`|---|---|---|---|---|---|`);
    console.log(`| ${rate} | ${bytes} | ${result.sent} | ${result.received} | ${perDatagramUs.toFixed(1)} | ${((perDatagramUs * 6.5) / 1000).toFixed(3)} ms |`);
  } finally {
    relay.kill('SIGTERM');
  }
}

if (process.argv[1] === SELF) await main();
