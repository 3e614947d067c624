import * as assert from 'uvu/assert';
import { suite } from '../support/suite.ts';
import { CookieCache } from '../../src/control/CookieCache.ts';

const test = suite('control/CookieCache');

test('new, in flight, done; the reply is served until the TTL ends', () => {
  let now = 1000;
  const cache = new CookieCache({ ttlMs: 30_000, maxEntries: 10 }, () => now);
  assert.equal(cache.begin('k'), { state: 'new' });
  assert.equal(cache.begin('k'), { state: 'in-flight' });
  cache.complete('k', Buffer.from('reply'));
  now += 29_999;
  const hit = cache.begin('k');
  assert.is(hit.state, 'done');
  assert.is(hit.state === 'done' && hit.reply.toString(), 'reply');
  now += 2;
  assert.equal(cache.begin('k'), { state: 'new' });
});

test('bounded: the oldest entries are evicted first', () => {
  let now = 0;
  const cache = new CookieCache({ ttlMs: 30_000, maxEntries: 3 }, () => now);
  for (const k of ['a', 'b', 'c', 'd']) {
    now += 1;
    cache.begin(k);
    cache.complete(k, Buffer.from(k));
  }
  assert.is(cache.size, 3);
  assert.equal(cache.begin('a'), { state: 'new' });
  assert.is(cache.begin('d').state, 'done');
});

test('expired entries are swept on insert', () => {
  let now = 0;
  const cache = new CookieCache({ ttlMs: 100, maxEntries: 1000 }, () => now);
  for (let i = 0; i < 50; i++) {
    cache.begin(`k${i}`);
    cache.complete(`k${i}`, Buffer.alloc(1));
  }
  now += 200;
  cache.begin('fresh');
  assert.is(cache.size, 1);
});

test.run();
