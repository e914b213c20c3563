'use strict';
// Commands this server does not implement yet fail clearly, per operation,
// and leave the connection usable (see node/tcpsvc doc.go).
const { es, assert, admin, connect, jsonEvent, rejects, main } = require('./lib');

main(async () => {
  const c = await connect('unsupported', { defaultUserCredentials: admin });
  const settings = es.PersistentSubscriptionSettings.create();
  await rejects(c.createPersistentSubscription('x', 'g', settings),
    (e) => assert.match(String(e && e.message || e), /CreatePersistentSubscription is not supported/), 'createPersistentSubscription');
  const w = await c.appendToStream('unsupported-after', es.expectedVersion.any, [jsonEvent('a', {})]);
  assert.equal(w.nextExpectedVersion.toNumber(), 0);
  c.close();
});
