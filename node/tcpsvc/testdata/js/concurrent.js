'use strict';
// Many operations in flight on one connection, and several connections at
// once: every append is acknowledged once, reads see every event exactly
// once (replies are matched by correlation id, spec §4.1).
const { es, assert, connect, jsonEvent, num, main } = require('./lib');

main(async () => {
  const conns = await Promise.all([0, 1, 2, 3].map((i) => connect(`concurrent-${i}`)));
  const perConn = 500;
  const ids = new Set();
  await Promise.all(conns.map((c, ci) => {
    const ops = [];
    for (let i = 0; i < perConn; i++) {
      const ev = jsonEvent('Tick', { ci, i });
      ids.add(ev.eventId);
      ops.push(c.appendToStream('concurrent', es.expectedVersion.any, [ev]));
    }
    return Promise.all(ops);
  }));
  const seen = new Set();
  let next = 0;
  for (;;) {
    const sl = await conns[0].readStreamEventsForward('concurrent', next, 4096);
    for (const e of sl.events) {
      assert.ok(ids.has(e.event.eventId), 'unknown event id');
      assert.ok(!seen.has(e.event.eventId), 'event stored twice');
      seen.add(e.event.eventId);
    }
    if (sl.isEndOfStream) break;
    next = num(sl.nextEventNumber);
  }
  assert.equal(seen.size, conns.length * perConn);
  // Concurrent reads of the same stream from every connection.
  const slices = await Promise.all(conns.flatMap((c) => [0, 100, 1000, 1900].map((from) => c.readStreamEventsForward('concurrent', from, 50))));
  for (const sl of slices) assert.equal(sl.events.length, 50);
  conns.forEach((c) => c.close());
});
