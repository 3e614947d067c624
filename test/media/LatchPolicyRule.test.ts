import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { LatchPolicyRule, DEFAULT_LATCH_KNOBS, describeLatchRule, type LatchReason } from '../../src/media/LatchPolicyRule.ts';
import { MediaError } from '../../src/media/errors.ts';
import type { LatchRestriction, LegHint } from '../../src/media/api.ts';
import type { LegPolicy } from '../../src/native.ts';

const rule = new LatchPolicyRule({ handoverSilenceMs: 750, handoverMaxSeqGap: 64 });
const knobs = { handoverSilenceMs: 750, handoverMaxSeqGap: 64 };

function hint(partial: Partial<LegHint>): LegHint {
  return { sdpAddress: null, sdpPort: 40000, rtcpMux: false, signalSource: null, ...partial };
}

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    assert.instance(err, MediaError);
    return (err as MediaError).code;
  }
  return undefined;
}

const automatic = suite('media/LatchPolicyRule: automatic choice');

const CASES: Array<[string, Partial<LegHint>, Partial<LegPolicy>, LatchReason]> = [
  ['routable SDP address wins over the signalling source', { sdpAddress: '203.0.113.5', signalSource: '198.51.100.9' }, { mode: 'address', address: '203.0.113.5', port: 40000, rtcpPort: 40001 }, 'sdp-address-routable'],
  ['routable SDP address alone', { sdpAddress: '2001:db8::7' }, { mode: 'address', address: '2001:db8::7', port: 40000, rtcpPort: 40001 }, 'sdp-address-routable'],
  ['routable SDP address with rtcp-mux: no RTCP port', { sdpAddress: '203.0.113.5', rtcpMux: true }, { mode: 'address', address: '203.0.113.5', port: 40000, rtcpMux: true }, 'sdp-address-routable'],
  ['rejected stream (port 0): no destination', { sdpAddress: '203.0.113.5', sdpPort: 0 }, { mode: 'address', address: '203.0.113.5' }, 'sdp-address-routable'],
  ['private SDP address: only the signalling source may latch', { sdpAddress: '192.168.50.20', signalSource: '203.0.113.1' }, { mode: 'address', address: '203.0.113.1' }, 'signal-source'],
  ['CGNAT SDP address is not routable', { sdpAddress: '100.64.1.1', signalSource: '198.51.100.2' }, { mode: 'address', address: '198.51.100.2' }, 'signal-source'],
  ['missing SDP address: signalling source', { sdpAddress: null, signalSource: '198.51.100.2' }, { mode: 'address', address: '198.51.100.2' }, 'signal-source'],
  ['0.0.0.0 (hold) counts as missing', { sdpAddress: '0.0.0.0', signalSource: '198.51.100.2' }, { mode: 'address', address: '198.51.100.2' }, 'signal-source'],
  ['loopback SDP and loopback signalling (local tests)', { sdpAddress: '127.0.0.1', signalSource: '127.0.0.1' }, { mode: 'address', address: '127.0.0.1' }, 'signal-source'],
  ['IPv4-mapped signalling source is normalised', { sdpAddress: '10.0.0.5', signalSource: '::ffff:203.0.113.1' }, { mode: 'address', address: '203.0.113.1' }, 'signal-source'],
  ['host name in SDP is not an address', { sdpAddress: 'pbx.example.com', signalSource: '203.0.113.1' }, { mode: 'address', address: '203.0.113.1' }, 'signal-source'],
  ['private SDP, no signalling source: weak', { sdpAddress: '10.1.2.3' }, { mode: 'any' }, 'weak-no-address'],
  ['nothing known: weak', {}, { mode: 'any' }, 'weak-no-address'],
];

for (const [name, partial, expected, reason] of CASES) {
  automatic(name, () => {
    const decision = rule.derive(hint(partial));
    assert.is(decision.reason, reason);
    assert.is(decision.weak, expected.mode === 'any');
    assert.equal(decision.policy, { rtcpMux: false, ...knobs, ...expected });
  });
}

const onSite = suite('media/LatchPolicyRule: peers on the relay\'s own site');

const ON_SITE: Array<[string, string, Partial<LegHint>, Partial<LegPolicy>, LatchReason]> = [
  ['loopback relay, loopback SDP, no signalling source', '127.0.0.1', { sdpAddress: '127.0.0.1' }, { mode: 'address', address: '127.0.0.1', port: 40000, rtcpPort: 40001 }, 'sdp-address-on-site'],
  ['LAN relay, LAN SDP from the same address', '10.0.0.1', { sdpAddress: '10.0.0.7', signalSource: '10.0.0.7' }, { mode: 'address', address: '10.0.0.7', port: 40000, rtcpPort: 40001 }, 'sdp-address-on-site'],
  ['LAN relay, LAN SDP but signalling from elsewhere: NATed', '10.0.0.1', { sdpAddress: '192.168.1.5', signalSource: '10.9.9.9' }, { mode: 'address', address: '10.9.9.9' }, 'signal-source'],
  ['public relay, private SDP: NATed, never on-site', '203.0.113.10', { sdpAddress: '192.168.50.20', signalSource: '203.0.113.1' }, { mode: 'address', address: '203.0.113.1' }, 'signal-source'],
  ['public relay, private SDP, no signalling source: weak', '203.0.113.10', { sdpAddress: '192.168.50.20' }, { mode: 'any' }, 'weak-no-address'],
  ['loopback relay, private SDP: different site', '127.0.0.1', { sdpAddress: '10.0.0.7', signalSource: '127.0.0.1' }, { mode: 'address', address: '127.0.0.1' }, 'signal-source'],
  ['IPv6 relay, unique-local SDP, IPv6 signalling source', '2001:db8::10', { sdpAddress: 'fd00::5', signalSource: '2001:db8::1' }, { mode: 'address', address: '2001:db8::1' }, 'signal-source'],
  ['IPv6 relay, unique-local SDP, IPv4 signalling: the source says nothing about IPv6 media, weak', '2001:db8::10', { sdpAddress: 'fd00::5', signalSource: '203.0.113.1' }, { mode: 'any' }, 'weak-no-address'],
  ['IPv4 relay, private SDP, IPv6 signalling: weak', '203.0.113.10', { sdpAddress: '192.168.50.20', signalSource: '2001:db8::1' }, { mode: 'any' }, 'weak-no-address'],
];

for (const [name, advertise, partial, expected, reason] of ON_SITE) {
  onSite(name, () => {
    const decision = new LatchPolicyRule({ ...knobs, advertise }).derive(hint(partial));
    assert.is(decision.reason, reason);
    assert.equal(decision.policy, { rtcpMux: false, ...knobs, ...expected });
  });
}

const explicit = suite('media/LatchPolicyRule: explicit modes');

explicit("'fixed' sends to the SDP address and ports, even a private one", () => {
  const decision = rule.derive(hint({ mode: 'fixed', sdpAddress: '10.0.0.9', sdpPort: 6000, signalSource: '203.0.113.1' }));
  assert.equal(decision.policy, { mode: 'fixed', address: '10.0.0.9', port: 6000, rtcpPort: 6001, rtcpMux: false, ...knobs });
  assert.is(decision.reason, 'explicit-fixed');
});

explicit("'fixed' honours a=rtcp and rtcp-mux", () => {
  assert.is(rule.derive(hint({ mode: 'fixed', sdpAddress: '203.0.113.1', sdpPort: 6000, sdpRtcpPort: 7001 })).policy.rtcpPort, 7001);
  const muxed = rule.derive(hint({ mode: 'fixed', sdpAddress: '203.0.113.1', sdpPort: 6000, rtcpMux: true })).policy;
  assert.is(muxed.rtcpPort, undefined);
  assert.is(muxed.rtcpMux, true);
});

explicit("'fixed' without address or port is an argument error", () => {
  assert.is(errorCode(() => rule.derive(hint({ mode: 'fixed', sdpAddress: null }))), 'ERR_PINLATCH_ARG');
  assert.is(errorCode(() => rule.derive(hint({ mode: 'fixed', sdpAddress: '203.0.113.1', sdpPort: 0 }))), 'ERR_PINLATCH_ARG');
  assert.is(errorCode(() => rule.derive(hint({ mode: 'fixed', sdpAddress: '203.0.113.1', sdpPort: 65535 }))), 'ERR_PINLATCH_ARG');
});

explicit("'any' wins over a routable SDP address and is weak", () => {
  const decision = rule.derive(hint({ mode: 'any', sdpAddress: '203.0.113.5' }));
  assert.equal(decision.policy, { mode: 'any', rtcpMux: false, ...knobs });
  assert.ok(decision.weak);
});

explicit("'address' falls back to an unroutable SDP address, never to weak", () => {
  assert.is(rule.derive(hint({ mode: 'address', sdpAddress: '10.0.0.9' })).policy.address, '10.0.0.9');
  assert.is(rule.derive(hint({ mode: 'address', sdpAddress: '10.0.0.9', signalSource: '203.0.113.1' })).policy.address, '203.0.113.1');
  assert.is(errorCode(() => rule.derive(hint({ mode: 'address' }))), 'ERR_PINLATCH_ARG');
});

const validation = suite('media/LatchPolicyRule: validation');

validation('bad hints are argument errors', () => {
  assert.is(errorCode(() => rule.derive(hint({ sdpPort: -1 }))), 'ERR_PINLATCH_ARG');
  assert.is(errorCode(() => rule.derive(hint({ sdpPort: 70000 }))), 'ERR_PINLATCH_ARG');
  assert.is(errorCode(() => rule.derive(hint({ sdpRtcpPort: 0 }))), 'ERR_PINLATCH_ARG');
  assert.is(errorCode(() => rule.derive({ ...hint({}), rtcpMux: 'yes' as unknown as boolean })), 'ERR_PINLATCH_ARG');
  assert.is(errorCode(() => rule.derive(hint({ mode: 'sometimes' as unknown as 'any' }))), 'ERR_PINLATCH_ARG');
  assert.is(errorCode(() => rule.derive(null as unknown as LegHint)), 'ERR_PINLATCH_ARG');
});

validation('knobs have defaults and are validated', () => {
  assert.equal(new LatchPolicyRule().knobs, DEFAULT_LATCH_KNOBS);
  assert.is(errorCode(() => new LatchPolicyRule({ handoverSilenceMs: -5 })), 'ERR_PINLATCH_CONFIG');
  assert.is(errorCode(() => new LatchPolicyRule({ handoverMaxSeqGap: 0 })), 'ERR_PINLATCH_CONFIG');
  assert.is(errorCode(() => new LatchPolicyRule({ handoverMaxSeqGap: 1.5 })), 'ERR_PINLATCH_CONFIG');
});

const restricted = suite('media/LatchPolicyRule: restricted latching');

const pool: LatchRestriction = { prefixV4: 30, prefixV6: 64, networks: ['198.51.100.0/24', '2001:db8:f::/48'], origin: 'trunks[gw].latching' };

restricted('the prefix and the networks of the family widen a signal-source rule', () => {
  const d = rule.derive(hint({ sdpAddress: '192.168.50.20', signalSource: '203.0.113.1', restriction: pool }));
  assert.is(d.reason, 'signal-source');
  assert.equal(d.policy, { rtcpMux: false, ...knobs, mode: 'address', address: '203.0.113.1', latchPrefix: 30, latchNetworks: ['198.51.100.0/24'] });
  assert.is(d.rule, '203.0.113.0/30 or 198.51.100.0/24 (trunks[gw].latching)');
});

restricted('...and an SDP-address rule, keeping its signalled destination', () => {
  const d = rule.derive(hint({ sdpAddress: '2001:db8:1::5', restriction: pool }));
  assert.is(d.reason, 'sdp-address-routable');
  assert.equal(d.policy, {
    rtcpMux: false, ...knobs, mode: 'address', address: '2001:db8:1::5', port: 40000, rtcpPort: 40001, latchPrefix: 64, latchNetworks: ['2001:db8:f::/48'],
  });
  assert.is(d.rule, '2001:db8:1::/64 or 2001:db8:f::/48 (trunks[gw].latching)');
});

restricted('the default restriction (whole address, no networks) leaves the policy as it was', () => {
  const none: LatchRestriction = { prefixV4: 32, prefixV6: 128, networks: [], origin: 'media.latching.endpoints' };
  const d = rule.derive(hint({ sdpAddress: '10.0.0.9', signalSource: '203.0.113.1', restriction: none }));
  assert.equal(d.policy, { rtcpMux: false, ...knobs, mode: 'address', address: '203.0.113.1' });
  assert.is(d.rule, '203.0.113.1 (media.latching.endpoints)');
  assert.is(rule.derive(hint({ signalSource: '203.0.113.1' })).rule, '203.0.113.1');
});

restricted("'fixed' and 'any' are not widened", () => {
  const fixed = rule.derive(hint({ sdpAddress: '203.0.113.5', mode: 'fixed', restriction: pool }));
  assert.is(fixed.policy.latchPrefix, undefined);
  assert.is(fixed.policy.latchNetworks, undefined);
  assert.is(fixed.rule, '203.0.113.5 only (fixed)');
  const any = rule.derive(hint({ restriction: pool }));
  assert.is(any.policy.mode, 'any');
  assert.is(any.policy.latchNetworks, undefined);
  assert.is(any.rule, 'any source (weak)');
});

restricted('bad restrictions are argument errors', () => {
  const bad = (r: Partial<LatchRestriction>) =>
    errorCode(() => rule.derive(hint({ signalSource: '203.0.113.1', restriction: { prefixV4: 32, prefixV6: 128, networks: [], ...r } })));
  assert.is(bad({ prefixV4: 33 }), 'ERR_PINLATCH_ARG');
  assert.is(bad({ prefixV6: -1 }), 'ERR_PINLATCH_ARG');
  assert.is(bad({ prefixV4: 1.5 }), 'ERR_PINLATCH_ARG');
  assert.is(bad({ networks: ['10.0.0.1/8'] }), 'ERR_PINLATCH_ARG');
  assert.is(bad({ networks: Array.from({ length: 17 }, (_, i) => `10.${i}.0.0/16`) }), 'ERR_PINLATCH_ARG');
  assert.is(bad({ networks: 'nope' as unknown as string[] }), 'ERR_PINLATCH_ARG');
});

restricted('describeLatchRule names the rule without an origin too', () => {
  assert.is(describeLatchRule({ ...knobs, rtcpMux: false, mode: 'address', address: '203.0.113.7', latchPrefix: 0 }), '0.0.0.0/0');
  assert.is(describeLatchRule({ ...knobs, rtcpMux: false, mode: 'address', address: '203.0.113.7', latchNetworks: ['192.0.2.0/24'] }), '203.0.113.7 or 192.0.2.0/24');
});

automatic.run();
restricted.run();
explicit.run();
validation.run();
onSite.run();
