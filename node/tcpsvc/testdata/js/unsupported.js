'use strict';
// Commands this server does not implement yet fail clearly, per operation,
// and leave the connection usable (see node/tcpsvc doc.go).
const { es, assert, connect, jsonEvent, rejects, main } = require('./lib');

main(async () => {
  const c = await connect('unsupported');
  await rejects(c.subscribeToStream('x', false, () => {}, () => {}),
    (e) => assert.match(String(e && e.message || e), /SubscribeToStream is not supported/), 'subscribeToStream');
  const w = await c.appendToStream('unsupported-after', es.expectedVersion.any, [jsonEvent('a', {})]);
  assert.equal(w.nextExpectedVersion.toNumber(), 0);
  c.close();
});
