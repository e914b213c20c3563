'use strict';
// Reads: stream forward/backward across pages and past the end, read
// event (number, last, missing), $all forward to the empty page and
// backward from the end, link resolution (spec §4.10, §4.11).
const { es, assert, admin, connect, jsonEvent, num, main } = require('./lib');

main(async () => {
  const c = await connect('read', { defaultUserCredentials: admin });
  const s = 'read-stream';
  const evs = [];
  for (let i = 0; i < 25; i++) evs.push(jsonEvent('E', { i }));
  await c.appendToStream(s, es.expectedVersion.noStream, evs);

  // Forward in pages of 10.
  let sl = await c.readStreamEventsForward(s, 0, 10);
  assert.equal(sl.status, 'success');
  assert.equal(sl.events.length, 10);
  assert.equal(num(sl.nextEventNumber), 10);
  assert.equal(num(sl.lastEventNumber), 24);
  assert.equal(sl.isEndOfStream, false);
  sl = await c.readStreamEventsForward(s, 20, 10);
  assert.deepEqual(sl.events.map((e) => num(e.event.eventNumber)), [20, 21, 22, 23, 24]);
  assert.equal(sl.isEndOfStream, true);
  sl = await c.readStreamEventsForward(s, 100, 10);
  assert.equal(sl.status, 'success');
  assert.equal(sl.events.length, 0);
  assert.equal(sl.isEndOfStream, true);
  const e0 = (await c.readStreamEventsForward(s, 0, 1)).events[0].event;
  assert.equal(e0.eventStreamId, s);
  assert.equal(e0.eventId, evs[0].eventId);
  assert.equal(e0.eventType, 'E');
  assert.equal(e0.isJson, true);
  assert.deepEqual(JSON.parse(e0.data.toString()), { i: 0 });
  assert.ok(Math.abs(e0.created.getTime() - Date.now()) < 10 * 60 * 1000, `created ${e0.created}`);

  // Backward from the end.
  sl = await c.readStreamEventsBackward(s, es.streamPosition.end, 10);
  assert.deepEqual(sl.events.map((e) => num(e.event.eventNumber)), [24, 23, 22, 21, 20, 19, 18, 17, 16, 15]);
  assert.equal(num(sl.nextEventNumber), 14);
  assert.equal(sl.isEndOfStream, false);
  sl = await c.readStreamEventsBackward(s, 4, 10);
  assert.deepEqual(sl.events.map((e) => num(e.event.eventNumber)), [4, 3, 2, 1, 0]);
  assert.equal(sl.isEndOfStream, true);
  sl = await c.readStreamEventsForward('read-missing', 0, 10);
  assert.equal(sl.status, 'streamNotFound');

  // Read event.
  let r = await c.readEvent(s, 7);
  assert.equal(r.status, 'success');
  assert.equal(num(r.event.event.eventNumber), 7);
  r = await c.readEvent(s, -1);
  assert.equal(num(r.event.event.eventNumber), 24);
  r = await c.readEvent(s, 99);
  assert.equal(r.status, 'notFound');
  assert.equal(r.event, null);
  r = await c.readEvent('read-missing', 0);
  assert.equal(r.status, 'noStream');

  // $all forward to the end: the client stops at an empty page.
  let pos = es.positions.start, total = 0, ours = 0, last = null;
  for (let pages = 0; pages < 1000; pages++) {
    const all = await c.readAllEventsForward(pos, 7);
    if (all.events.length === 0) { assert.equal(all.isEndOfStream, true); break; }
    for (const e of all.events) {
      if (last) assert.ok(e.originalPosition.compareTo(last) > 0, 'positions must increase');
      last = e.originalPosition;
      total++;
      if (e.event && e.event.eventStreamId === s) ours++;
    }
    pos = all.nextPosition;
  }
  assert.equal(ours, 25);
  // $all backward from the end returns the newest first.
  const back = await c.readAllEventsBackward(es.positions.end, 5);
  assert.equal(back.events.length, 5);
  assert.equal(back.events[0].event.eventStreamId, s);
  assert.equal(num(back.events[0].event.eventNumber), 24);
  assert.ok(back.events[0].originalPosition.compareTo(back.events[1].originalPosition) > 0);
  let backTotal = 0;
  pos = es.positions.end;
  for (let pages = 0; pages < 1000; pages++) {
    const b = await c.readAllEventsBackward(pos, 50);
    backTotal += b.events.length;
    if (b.events.length === 0 || b.isEndOfStream) break;
    pos = b.nextPosition;
  }
  assert.equal(backTotal, total, 'backward and forward $all reads disagree');

  // Links: resolved and unresolved.
  await c.appendToStream('read-links', es.expectedVersion.noStream,
    [es.createEventData(require('node:crypto').randomUUID(), '$>', false, Buffer.from(`3@${s}`))]);
  let ln = await c.readStreamEventsForward('read-links', 0, 10, true);
  assert.equal(ln.events[0].isResolved, true);
  assert.equal(ln.events[0].event.eventStreamId, s);
  assert.equal(num(ln.events[0].event.eventNumber), 3);
  assert.equal(ln.events[0].link.eventType, '$>');
  ln = await c.readStreamEventsForward('read-links', 0, 10, false);
  assert.equal(ln.events[0].event.eventType, '$>');
  assert.equal(ln.events[0].link, null);
  c.close();
});
