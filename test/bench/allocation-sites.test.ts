/** bench/lib/allocation-sites.ts: a sampling heap profile's bytes charged to the innermost owned frame. */
import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { allocationSites, type SamplingNode } from '../../bench/lib/allocation-sites.ts';

const test = suite('bench/allocation-sites');

const node = (functionName: string, url: string, selfSize: number, children: SamplingNode[] = []): SamplingNode => ({
  callFrame: { functionName, url, lineNumber: 9 },
  selfSize,
  children,
});

test('charges each sample to the innermost owned frame and leaves out stacks without one', () => {
  const head = node('(root)', '', 0, [
    node('receive', 'file:///x/dist/src/sip/transport/SipTransport.js', 10, [
      // A builtin's allocation counts toward the owned function that called it.
      node('slice', 'node:buffer', 100),
      node('parseMessage', 'file:///x/dist/src/sip/wire/parser.js', 40, [node('', 'node:internal/x', 2)]),
    ]),
    // The load generator's own stack: no owned frame.
    node('waitFor', 'file:///x/test/support/sip-peer.ts', 1000, [node('push', '', 50)]),
    node('', 'file:///x/dist/src/app/Pinlatch.js', 7),
  ]);
  const summary = allocationSites(head, (url) => url.includes('/dist/src/'), '/dist/src/');
  assert.is(summary.totalBytes, 1209);
  assert.is(summary.ownedBytes, 159);
  assert.equal(summary.sites, [
    { site: 'receive sip/transport/SipTransport.js:10', bytes: 110 },
    { site: 'parseMessage sip/wire/parser.js:10', bytes: 42 },
    { site: '(anonymous) app/Pinlatch.js:10', bytes: 7 },
  ]);
});

test.run();
