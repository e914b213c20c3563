'use strict';
// Appends: every expected version, wrong expected version, idempotent
// retries, a 1000-event batch and a 3 MB event (spec §4.4, §4.5).
const crypto = require('node:crypto');
const { es, assert, connect, jsonEvent, binaryEvent, rejects, num, main } = require('./lib');

main(async () => {
  const c = await connect('write');
  const s = 'write-orders';
  const first = [jsonEvent('OrderPlaced', { n: 0 }), jsonEvent('OrderPlaced', { n: 1 })];
  let w = await c.appendToStream(s, es.expectedVersion.noStream, first);
  assert.equal(num(w.nextExpectedVersion), 1);
  assert.ok(num(w.logPosition.commitPosition) >= 0);
  // Retry with the same event ids: idempotent success, same numbers.
  w = await c.appendToStream(s, es.expectedVersion.noStream, first);
  assert.equal(num(w.nextExpectedVersion), 1);
  // Retry with one extra event: wrong expected version.
  await rejects(c.appendToStream(s, es.expectedVersion.noStream, [...first, jsonEvent('X', {})]),
    (e) => assert.ok(e instanceof es.WrongExpectedVersionError, `got ${e}`), 'partial retry');
  // Exact, any, stream exists.
  w = await c.appendToStream(s, 1, [jsonEvent('OrderPaid', {})]);
  assert.equal(num(w.nextExpectedVersion), 2);
  w = await c.appendToStream(s, es.expectedVersion.any, [jsonEvent('OrderShipped', {})]);
  assert.equal(num(w.nextExpectedVersion), 3);
  w = await c.appendToStream(s, -4, [jsonEvent('OrderClosed', {})]);
  assert.equal(num(w.nextExpectedVersion), 4);
  await rejects(c.appendToStream(s, 2, [jsonEvent('Late', {})]),
    (e) => { assert.ok(e instanceof es.WrongExpectedVersionError, `got ${e}`); }, 'stale exact version');
  await rejects(c.appendToStream(s, es.expectedVersion.noStream, [jsonEvent('Again', {})]),
    (e) => assert.ok(e instanceof es.WrongExpectedVersionError), 'noStream on an existing stream');
  await rejects(c.appendToStream('write-missing', -4, [jsonEvent('X', {})]),
    (e) => assert.ok(e instanceof es.WrongExpectedVersionError), 'streamExists on a missing stream');

  // 1000 events in one append.
  const batch = [];
  for (let i = 0; i < 1000; i++) batch.push(jsonEvent('Tick', { i }));
  w = await c.appendToStream('write-batch', es.expectedVersion.noStream, batch);
  assert.equal(num(w.nextExpectedVersion), 999);
  let next = 0, seen = 0;
  for (;;) {
    const sl = await c.readStreamEventsForward('write-batch', next, 400);
    for (const e of sl.events) {
      assert.equal(num(e.event.eventNumber), seen);
      assert.equal(e.event.eventId, batch[seen].eventId);
      assert.equal(JSON.parse(e.event.data.toString()).i, seen);
      seen++;
    }
    if (sl.isEndOfStream) break;
    next = num(sl.nextEventNumber);
  }
  assert.equal(seen, 1000);

  // A 3 MB binary event with metadata round-trips byte for byte.
  const big = crypto.randomBytes(3 * 1024 * 1024);
  const bigMeta = Buffer.from(JSON.stringify({ source: 'interop' }));
  const bigEv = binaryEvent('Blob', big, bigMeta);
  w = await c.appendToStream('write-big', es.expectedVersion.any, [bigEv]);
  assert.equal(num(w.nextExpectedVersion), 0);
  const r = await c.readEvent('write-big', 0);
  assert.equal(r.status, 'success');
  assert.equal(r.event.event.isJson, false);
  assert.equal(r.event.event.eventId, bigEv.eventId);
  assert.ok(r.event.event.data.equals(big), '3 MB data differs');
  assert.ok(r.event.event.metadata.equals(bigMeta), 'metadata differs');
  c.close();
});
