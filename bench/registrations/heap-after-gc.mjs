// Forces a full garbage collection in a Node.js process started with --inspect=HOST:PORT and prints
// its V8 heap use afterwards as one JSON line: {"usedBytes":N,"totalBytes":N}. Run with
// `node --experimental-websocket` (Node 20 has WebSocket behind that flag). What a process holds is
// its heap after a collection: between collections the heap also holds garbage, and how much of it
// depends on when the last collection ran (bench/registrations.ts, the RSS per 1,000 bindings).
//
//   node --experimental-websocket bench/registrations/heap-after-gc.mjs 127.0.86.1:9229
const [hostPort] = process.argv.slice(2);
if (!hostPort) {
  console.error('usage: heap-after-gc.mjs HOST:PORT');
  process.exit(2);
}
const targets = await (await fetch(`http://${hostPort}/json/list`, { signal: AbortSignal.timeout(10_000) })).json();
const url = targets[0]?.webSocketDebuggerUrl;
if (!url) throw new Error(`no inspector target at ${hostPort}: ${JSON.stringify(targets)}`);
const socket = new WebSocket(url);
const pending = new Map();
let nextId = 1;
socket.addEventListener('message', (event) => {
  const reply = JSON.parse(String(event.data));
  const waiter = pending.get(reply.id);
  if (!waiter) return;
  pending.delete(reply.id);
  if (reply.error) waiter.reject(new Error(`${JSON.stringify(reply.error)}`));
  else waiter.resolve(reply.result);
});
const call = (method, params = {}) =>
  new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    socket.send(JSON.stringify({ id, method, params }));
  });
const timer = setTimeout(() => {
  console.error(`inspector at ${hostPort} did not answer in 30 s`);
  process.exit(1);
}, 30_000);
await new Promise((resolve, reject) => {
  socket.addEventListener('open', resolve, { once: true });
  socket.addEventListener('error', reject, { once: true });
});
await call('HeapProfiler.collectGarbage');
const usage = await call('Runtime.getHeapUsage');
console.log(JSON.stringify({ usedBytes: usage.usedSize, totalBytes: usage.totalSize }));
clearTimeout(timer);
socket.close();
