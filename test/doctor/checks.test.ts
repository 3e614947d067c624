/**
 * The checks of `pinlatch doctor` over made-up host readings (pure: src/doctor/checks.ts), and
 * the parsers of the /proc texts they are read from (src/doctor/read-host.ts).
 */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { parseConfig } from '../../src/config/index.ts';
import {
  checkEphemeralPorts, checkIoUring, checkOpenFiles, checkPrivilegedPorts, checkReceiveBuffer, checkSendBuffer,
  exposedPorts, runChecks, RESERVED_FDS,
} from '../../src/doctor/checks.ts';
import { hasEffectiveCapability, parseOpenFilesLimit, parsePortList, parsePortRange } from '../../src/doctor/read-host.ts';
import type { HostReadings } from '../../src/doctor/readings.ts';
import { SPARE_SOCKETS_PER_FAMILY } from '../../src/media/api.ts';

const test = suite('doctor checks');

/** A host on which every check passes for the configs below. */
const GOOD: HostReadings = {
  openFiles: 65_536,
  rmemMax: 8_388_608,
  wmemMax: 8_388_608,
  ephemeralPorts: { min: 32768, max: 39999 },
  reservedPorts: [],
  unprivilegedPortStart: 1024,
  capNetBindService: false,
  ioUring: { available: true },
};

const edge = parseConfig(`
sip:
  listen: [{ transport: udp, address: 0.0.0.0, port: 5060 }, { transport: tcp, address: 0.0.0.0, port: 5060 }]
  advertise: 203.0.113.10
  udpReceiveBufferBytes: 4194304
media: { address: 0.0.0.0, advertise: 203.0.113.10, ports: { min: 40000, max: 49999 } }
limits: { tcp: { connections: 2000 } }
`);
const mediaOnly = parseConfig(`
media: { address: 127.0.0.1, ports: { min: 40000, max: 40999 } }
ng: { address: 127.0.0.1, port: 2223 }
`);

test('a good host passes every check', () => {
  for (const config of [edge, mediaOnly]) {
    const results = runChecks(config, GOOD);
    assert.equal(results.filter((r) => !r.ok), []);
    assert.equal(results.map((r) => r.check), ['open-files', 'rmem-max', 'wmem-max', 'ephemeral-ports', 'io-uring', 'privileged-ports']);
  }
});

test('open files: media ports + SIP TCP connections + reserve', () => {
  const needed = 10_000 + 2000 + edge.media.shards * SPARE_SOCKETS_PER_FAMILY + RESERVED_FDS;
  assert.ok(checkOpenFiles(edge, { ...GOOD, openFiles: needed }).ok);
  const r = checkOpenFiles(edge, { ...GOOD, openFiles: needed - 1 });
  assert.not.ok(r.ok);
  assert.match(r.detail, `open files limit ${needed - 1} < ${needed} needed (10000 media ports + 2000 SIP TCP connections`);
  assert.match(r.fix, `LimitNOFILE=${needed}`);
  // No SIP TCP listener: TCP connections need no descriptors.
  assert.ok(checkOpenFiles(mediaOnly, { ...GOOD, openFiles: 1000 + mediaOnly.media.shards * SPARE_SOCKETS_PER_FAMILY + RESERVED_FDS }).ok);
  assert.not.ok(checkOpenFiles(mediaOnly, { ...GOOD, openFiles: 1024 }).ok);
  assert.ok(checkOpenFiles(edge, { ...GOOD, openFiles: Infinity }).ok);
});

test('rmem_max: the larger of sip.udpReceiveBufferBytes and the media sockets\' 256 KiB', () => {
  assert.not.ok(checkReceiveBuffer(edge, { ...GOOD, rmemMax: 212_992 }).ok);
  const r = checkReceiveBuffer(edge, { ...GOOD, rmemMax: 4_194_303 });
  assert.not.ok(r.ok);
  assert.match(r.fix, 'sysctl -w net.core.rmem_max=4194304');
  assert.match(r.fix, '/etc/sysctl.d/');
  assert.ok(checkReceiveBuffer(mediaOnly, { ...GOOD, rmemMax: 262_144 }).ok);
  assert.not.ok(checkReceiveBuffer(mediaOnly, { ...GOOD, rmemMax: 212_992 }).ok);
});

test('wmem_max: the media sockets\' 256 KiB', () => {
  // Linux's default (212992) is below it.
  const r = checkSendBuffer(edge, { ...GOOD, wmemMax: 212_992 });
  assert.not.ok(r.ok);
  assert.match(r.fix, 'sysctl -w net.core.wmem_max=262144');
  assert.ok(checkSendBuffer(edge, { ...GOOD, wmemMax: 262_144 }).ok);
});

test('ephemeral ports: an overlap with the media ports is a problem unless reserved', () => {
  const linuxDefault = { ...GOOD, ephemeralPorts: { min: 32768, max: 60999 } };
  const r = checkEphemeralPorts(mediaOnly, linuxDefault);
  assert.not.ok(r.ok);
  assert.match(r.detail, 'ip_local_port_range 32768-60999 overlaps media ports 40000-40999 (1000 ports: 40000-40999)');
  assert.match(r.fix, 'sysctl -w net.ipv4.ip_local_reserved_ports=40000-40999');
  assert.ok(checkEphemeralPorts(mediaOnly, { ...linuxDefault, reservedPorts: [{ min: 39000, max: 41000 }] }).ok);
  // Partly reserved: what is left is named; the fix keeps the reservations already there.
  const partly = checkEphemeralPorts(mediaOnly, { ...linuxDefault, reservedPorts: [{ min: 8080, max: 8080 }, { min: 40000, max: 40499 }] });
  assert.not.ok(partly.ok);
  assert.match(partly.detail, '(500 ports: 40500-40999)');
  assert.match(partly.fix, 'ip_local_reserved_ports=8080,40000-40499,40000-40999');
  assert.ok(checkEphemeralPorts(mediaOnly, { ...GOOD, ephemeralPorts: { min: 41000, max: 60999 } }).ok);
});

test('exposedPorts: the overlap minus the reserved spans', () => {
  assert.equal(exposedPorts({ min: 10, max: 20 }, { min: 15, max: 30 }, []), [{ min: 15, max: 20 }]);
  assert.equal(exposedPorts({ min: 10, max: 20 }, { min: 0, max: 30 }, [{ min: 12, max: 13 }, { min: 20, max: 20 }]), [
    { min: 10, max: 11 },
    { min: 14, max: 19 },
  ]);
  assert.equal(exposedPorts({ min: 10, max: 20 }, { min: 21, max: 30 }, []), []);
});

test('io_uring: unavailable is reported with the reason and the fix', () => {
  const r = checkIoUring(edge, { ...GOOD, ioUring: { available: false, reason: 'io_uring is not available (errno 1)' } });
  assert.not.ok(r.ok);
  assert.match(r.detail, 'errno 1');
  assert.match(r.detail, 'epoll');
  assert.match(r.fix, 'kernel.io_uring_disabled=0');
});

test('privileged ports: below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE', () => {
  // 5060 is above Linux's default of 1024: nothing needed.
  assert.ok(checkPrivilegedPorts(edge, GOOD).ok);
  const strict = { ...GOOD, unprivilegedPortStart: 10_000 };
  const r = checkPrivilegedPorts(edge, strict);
  assert.not.ok(r.ok);
  assert.match(r.detail, 'sip.listen udp 5060, sip.listen tcp 5060 below net.ipv4.ip_unprivileged_port_start 10000');
  assert.match(r.fix, 'AmbientCapabilities=CAP_NET_BIND_SERVICE');
  assert.ok(checkPrivilegedPorts(edge, { ...strict, capNetBindService: true }).ok);
  assert.match(checkPrivilegedPorts(mediaOnly, { ...GOOD, unprivilegedPortStart: 3000 }).detail, 'ng.port 2223');
});

test('parsers of the /proc texts', () => {
  assert.equal(parsePortRange('32768\t60999\n'), { min: 32768, max: 60999 });
  assert.equal(parsePortList(''), []);
  assert.equal(parsePortList('8080,9000-9100\n'), [{ min: 8080, max: 8080 }, { min: 9000, max: 9100 }]);
  const limits = 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            1024                 524288               files     \n';
  assert.is(parseOpenFilesLimit(limits), 1024);
  assert.is(parseOpenFilesLimit(limits.replace('1024 ', 'unlimited ')), Infinity);
  assert.ok(hasEffectiveCapability('CapPrm:\t0\nCapEff:\t0000000000000400\n', 10));
  assert.not.ok(hasEffectiveCapability('CapEff:\t00000000000003ff\n', 10));
  assert.ok(hasEffectiveCapability('CapEff:\t000001fffeffffff\n', 10));
});

test.run();
