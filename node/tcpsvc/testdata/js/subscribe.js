'use strict';
// Volatile subscriptions to a stream and to $all, and the client's
// catch-up subscriptions (from the start, from an event number, from a
// position on $all) while writes run concurrently: every event exactly
// once, in order (spec §4.12, §6).
const { es, assert, admin, connect, jsonEvent, num, main } = require('./lib');

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

async function writeN(c, stream, n, tag) {
  for (let i = 0; i < n; i++) {
    await c.appendToStream(stream, es.expectedVersion.any, [jsonEvent('E', { tag, i })]);
  }
}

main(async () => {
  const c = await connect('subscribe', { defaultUserCredentials: admin });
  const w = await connect('subscribe-writer', { defaultUserCredentials: admin });

  // Volatile, one stream.
  const vs = 'sub-volatile';
  await w.appendToStream(vs, es.expectedVersion.any, [jsonEvent('old', {})]);
  const got = [];
  let droppedReason = null;
  const sub = await c.subscribeToStream(vs, false, (s, e) => { got.push(e); },
    (s, reason) => { droppedReason = reason; });
  assert.equal(num(sub.lastEventNumber), 0);
  assert.ok(num(sub.lastCommitPosition) > 0);
  await w.appendToStream(vs, es.expectedVersion.any, [jsonEvent('a', {}), jsonEvent('b', {})]);
  await w.appendToStream('sub-other', es.expectedVersion.any, [jsonEvent('x', {})]);
  await w.appendToStream(vs, es.expectedVersion.any, [jsonEvent('c', {})]);
  await until(() => got.length >= 3, 'volatile stream events');
  assert.deepEqual(got.map((e) => e.originalEvent.eventType), ['a', 'b', 'c']);
  assert.deepEqual(got.map((e) => num(e.originalEventNumber)), [1, 2, 3]);
  sub.unsubscribe();
  await until(() => droppedReason !== null, 'drop after unsubscribe');
  assert.equal(droppedReason, es.subscriptionDropReason ? es.subscriptionDropReason.userInitiated : 'userInitiated');

  // Volatile $all: denied to anonymous, admin sees every new event with
  // increasing positions.
  const anon = await connect('subscribe-anon');
  await assert.rejects(anon.subscribeToAll(false, () => {}, () => {}));
  anon.close();
  const all = [];
  const allSub = await c.subscribeToAll(false, (s, e) => { all.push(e); }, () => {});
  await writeN(w, 'sub-all-a', 3, 'all');
  await writeN(w, 'sub-all-b', 2, 'all');
  await until(() => all.filter((e) => e.originalStreamId.startsWith('sub-all-')).length >= 5, '$all events');
  const mine = all.filter((e) => e.originalStreamId.startsWith('sub-all-'));
  assert.deepEqual(mine.map((e) => e.originalStreamId), ['sub-all-a', 'sub-all-a', 'sub-all-a', 'sub-all-b', 'sub-all-b']);
  for (let i = 1; i < all.length; i++) {
    assert.ok(all[i - 1].originalPosition.compareTo(all[i].originalPosition) < 0, 'positions increase');
  }
  allSub.close();

  // Catch-up on a stream from the start, then from a number, with a
  // writer running concurrently.
  const cs = 'sub-catchup';
  await writeN(w, cs, 30, 'history');
  const fromStart = [];
  let live1 = false;
  const cu1 = c.subscribeToStreamFrom(cs, null, false, (s, e) => { fromStart.push(num(e.originalEventNumber)); },
    () => { live1 = true; }, (s, reason, err) => { if (reason !== 'userInitiated') console.error('dropped', reason, err); });
  const fromNine = [];
  const cu2 = c.subscribeToStreamFrom(cs, 9, false, (s, e) => { fromNine.push(num(e.originalEventNumber)); },
    null, null, null, 7);
  await writeN(w, cs, 50, 'concurrent');
  await until(() => fromStart.length >= 80 && fromNine.length >= 70, 'stream catch-up');
  assert.ok(live1, 'catch-up went live');
  assert.deepEqual(fromStart, Array.from({ length: 80 }, (_, i) => i));
  assert.deepEqual(fromNine, Array.from({ length: 70 }, (_, i) => i + 10));
  cu1.stop();
  cu2.stop();

  // Catch-up on $all from the start and from a position.
  const as = 'sub-catchup-all';
  await writeN(w, as, 40, 'history');
  const seen = [];
  const cu3 = c.subscribeToAllFrom(null, false, (s, e) => {
    if (e.originalStreamId === as) seen.push({ n: num(e.originalEventNumber), pos: e.originalPosition });
  }, null, null, admin, 25);
  const writing = writeN(w, as, 40, 'concurrent');
  await until(() => seen.length >= 40, '$all catch-up history');
  await writing;
  await until(() => seen.length >= 80, '$all catch-up live');
  assert.deepEqual(seen.map((x) => x.n), Array.from({ length: 80 }, (_, i) => i));
  cu3.stop();
  const from = seen[49].pos;
  const after = [];
  const cu4 = c.subscribeToAllFrom(from, false, (s, e) => {
    if (e.originalStreamId === as) after.push(num(e.originalEventNumber));
  }, null, null, admin, 10);
  await writeN(w, as, 5, 'after');
  await until(() => after.length >= 35, '$all catch-up from a position');
  assert.deepEqual(after, Array.from({ length: 35 }, (_, i) => i + 50));
  cu4.stop();

  c.close();
  w.close();
});
