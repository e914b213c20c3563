'use strict';
// Persistent subscriptions: create (permissions, duplicates), two
// competing consumers with manual ack, nak retry and park, parked stream,
// delete (spec §3.6, §5).
const { es, assert, admin, connect, jsonEvent, rejects, num, main } = require('./lib');

function until(cond, what) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - t0 > 20000) return reject(new Error('timed out waiting for ' + what));
      setTimeout(tick, 5);
    };
    tick();
  });
}

main(async () => {
  const c = await connect('persistent', { defaultUserCredentials: admin });
  const stream = 'psub-' + Date.now();
  for (let i = 0; i < 20; i++) await c.appendToStream(stream, es.expectedVersion.any, [jsonEvent('E', { i })]);

  const settings = es.PersistentSubscriptionSettings.create();
  settings.startFrom = 0;
  settings.maxRetryCount = 3;
  settings.minCheckPointCount = 1;
  settings.maxCheckPointCount = 1;
  const anon = await connect('persistent-anon');
  await rejects(anon.createPersistentSubscription(stream, 'g', settings), null, 'anonymous create');
  anon.close();
  const r = await c.createPersistentSubscription(stream, 'g', settings);
  assert.equal(r.status, 'success');
  await rejects(c.createPersistentSubscription(stream, 'g', settings), null, 'duplicate create');

  const acked = [];
  const seenBy = { a: 0, b: 0 };
  let naked3 = false;
  function handler(name) {
    return (sub, ev) => {
      const n = num(ev.originalEventNumber);
      seenBy[name]++;
      if (n === 3 && !naked3) {
        naked3 = true;
        sub.fail([ev], es.PersistentSubscriptionNakEventAction.Retry, 'try again');
        return;
      }
      if (n === 7) {
        sub.fail([ev], es.PersistentSubscriptionNakEventAction.Park, 'poison');
        return;
      }
      acked.push(n);
      sub.acknowledge([ev]);
    };
  }
  const ca = await connect('persistent-a', { defaultUserCredentials: admin });
  const cb = await connect('persistent-b', { defaultUserCredentials: admin });
  const sa = await ca.connectToPersistentSubscription(stream, 'g', handler('a'), null, admin, 5, false);
  const sb = await cb.connectToPersistentSubscription(stream, 'g', handler('b'), null, admin, 5, false);
  for (let i = 20; i < 30; i++) await c.appendToStream(stream, es.expectedVersion.any, [jsonEvent('E', { i })]);
  await until(() => acked.length >= 29, 'acks');
  acked.sort((x, y) => x - y);
  assert.deepEqual(acked, Array.from({ length: 30 }, (_, i) => i).filter((i) => i !== 7));
  assert.ok(seenBy.a > 0 && seenBy.b > 0, `both consumers served: ${JSON.stringify(seenBy)}`);

  const parked = `$persistentsubscription-${stream}::g-parked`;
  let sl;
  await until(() => true, '');
  for (let i = 0; i < 100; i++) {
    sl = await c.readStreamEventsForward(parked, 0, 10, true);
    if (sl.events.length > 0) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  assert.equal(sl.events.length, 1);
  assert.equal(num(sl.events[0].event.eventNumber), 7);
  assert.equal(sl.events[0].event.eventStreamId, stream);

  sa.stop();
  sb.stop();
  await c.deletePersistentSubscription(stream, 'g');
  await rejects(c.deletePersistentSubscription(stream, 'g'), null, 'second delete');
  await rejects(c.connectToPersistentSubscription(stream, 'g', () => {}, null, admin), null, 'connect to a deleted group');
  ca.close();
  cb.close();
  c.close();
});
