'use strict';
// Transactions: start, write twice, commit; commit with a violated
// expected version; continue from another connection (spec §4.7).
const { es, assert, connect, jsonEvent, rejects, num, main } = require('./lib');

main(async () => {
  const c = await connect('tx');
  const t = await c.startTransaction('tx-stream', es.expectedVersion.noStream);
  assert.ok(t.transactionId >= 0);
  await t.write(jsonEvent('a', { i: 0 }));
  await t.write([jsonEvent('b', { i: 1 }), jsonEvent('c', { i: 2 })]);
  let sl = await c.readStreamEventsForward('tx-stream', 0, 10);
  assert.equal(sl.status, 'streamNotFound', 'uncommitted events must not be visible');
  const res = await t.commit();
  assert.equal(num(res.nextExpectedVersion), 2);
  sl = await c.readStreamEventsForward('tx-stream', 0, 10);
  assert.deepEqual(sl.events.map((e) => e.event.eventType), ['a', 'b', 'c']);

  // The expected version is checked at commit time.
  const t2 = await c.startTransaction('tx-stream', es.expectedVersion.noStream);
  await t2.write(jsonEvent('d', {}));
  await rejects(t2.commit(), (e) => assert.ok(e instanceof es.WrongExpectedVersionError, `got ${e}`), 'commit with a stale version');

  // Continue a transaction from another connection.
  const t3 = await c.startTransaction('tx-stream', 2);
  await t3.write(jsonEvent('e', {}));
  const other = await connect('tx-other');
  const cont = other.continueTransaction(t3.transactionId);
  await cont.write(jsonEvent('f', {}));
  const res3 = await cont.commit();
  assert.equal(num(res3.nextExpectedVersion), 4);
  other.close();
  c.close();
});
