/**
 * The NAT topology itself (test/support/netns.ts): only the forwarded SIP port reaches the
 * gateway, the gateway's own traffic leaves masqueraded as the router's public address, the
 * public side has no route to the private network, and a namespace can have its own /etc/hosts.
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { createNatTopology, type NatTopology } from '../support/netns.ts';

const test = suite<{ topo?: NatTopology }>('e2e/topology', { timeoutMs: 30_000 });

/** UDP echo that prints the source of every datagram it answers. */
const ECHO = `const s=require('dgram').createSocket('udp4');
s.on('message',(m,r)=>{console.log(r.address+':'+r.port);s.send(m,r.port,r.address)});
s.bind(+process.argv[2],process.argv[1],()=>console.log('ready'));`;

/** Sends one datagram from host:port to ip:port and prints the reply's source, or 'timeout'/the error. */
const PROBE = `const s=require('dgram').createSocket('udp4');const [la,lp,ra,rp]=process.argv.slice(1);
const t=setTimeout(()=>{console.log('timeout');process.exit(0)},1000);
s.on('message',(m,r)=>{console.log(r.address+':'+r.port);clearTimeout(t);process.exit(0)});
s.bind(+lp,la,()=>s.send('probe',+rp,ra,(e)=>{if(e){console.log(e.code);process.exit(0)}}));`;

async function startEcho(topo: NatTopology, address: string, port: number) {
  const child = topo.spawn('gw', ['node', '-e', ECHO, address, String(port)]);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('echo did not start')), 5000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { child, sources: () => out.split('\n').filter((l) => l.includes(':')) };
}

test.before(async (ctx) => {
  ctx.topo = await createNatTopology();
});

test.after(async (ctx) => {
  await ctx.topo?.destroy();
});

test('the DNAT forwards UDP 5060 to the gateway, keeping the source, replies come from the router', async ({ topo }) => {
  const echo = await startEcho(topo!, '0.0.0.0', 5060);
  const { stdout } = await topo!.exec('pbx', ['node', '-e', PROBE, topo!.addr.pbx, '40000', topo!.addr.natPublic, '5060']);
  assert.is(stdout.trim(), `${topo!.addr.natPublic}:5060`);
  assert.equal(echo.sources(), [`${topo!.addr.pbx}:40000`]);
  echo.child.kill('SIGKILL');
});

test('no other port is forwarded', async ({ topo }) => {
  const echo = await startEcho(topo!, '0.0.0.0', 5070);
  const { stdout } = await topo!.exec('pbx', ['node', '-e', PROBE, topo!.addr.pbx, '40001', topo!.addr.natPublic, '5070']);
  assert.is(stdout.trim(), 'timeout');
  assert.equal(echo.sources(), []);
  echo.child.kill('SIGKILL');
});

test('the private address is unreachable from the public side', async ({ topo }) => {
  const echo = await startEcho(topo!, '0.0.0.0', 5060);
  const { stdout } = await topo!.exec('edge', ['node', '-e', PROBE, topo!.addr.edge, '40002', topo!.addr.gw, '5060']);
  assert.ok(['ENETUNREACH', 'EHOSTUNREACH', 'timeout'].includes(stdout.trim()), stdout);
  assert.equal(echo.sources(), []);
  echo.child.kill('SIGKILL');
});

test('the gateway reaches public hosts masqueraded as the router address', async ({ topo }) => {
  const echo = topo!.spawn('edge', ['node', '-e', ECHO, topo!.addr.edge, '5060']);
  let out = '';
  echo.stdout!.on('data', (d) => (out += d));
  await new Promise((r) => setTimeout(r, 400));
  const { stdout } = await topo!.exec('gw', ['node', '-e', PROBE, topo!.addr.gw, '6000', topo!.addr.edge, '5060']);
  assert.is(stdout.trim(), `${topo!.addr.edge}:5060`);
  assert.match(out, new RegExp(`${topo!.addr.natPublic.replace(/\./g, '\\.')}:\\d+`));
  echo.kill('SIGKILL');
});

test('a namespace gets its own /etc/hosts through /etc/netns', async ({ topo }) => {
  topo!.setHosts('edge', { 'gateway.test': topo!.addr.natPublic });
  const { stdout } = await topo!.exec('edge', ['getent', 'hosts', 'gateway.test']);
  assert.match(stdout, topo!.addr.natPublic);
});

test.run();
