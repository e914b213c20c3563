'use strict';
// Soft and hard deletes (spec §4.8).
const { es, assert, connect, jsonEvent, rejects, num, main } = require('./lib');

main(async () => {
  const c = await connect('delete');
  await c.appendToStream('del-soft', es.expectedVersion.noStream, [jsonEvent('a', {}), jsonEvent('b', {})]);
  await rejects(c.deleteStream('del-soft', 5), (e) => assert.ok(e instanceof es.WrongExpectedVersionError, `got ${e}`), 'delete with a wrong version');
  const d = await c.deleteStream('del-soft', 1);
  assert.ok(num(d.logPosition.commitPosition) >= 0);
  let sl = await c.readStreamEventsForward('del-soft', 0, 10);
  assert.equal(sl.status, 'streamNotFound');
  let r = await c.readEvent('del-soft', 0);
  assert.equal(r.status, 'noStream');
  let meta = await c.getStreamMetadataRaw('del-soft');
  assert.equal(meta.isStreamDeleted, false);
  assert.ok(meta.streamMetadata.$tb > 9e18, `soft delete writes $tb = max int64, got ${JSON.stringify(meta.streamMetadata)}`);
  // Recreate: numbering continues.
  const w = await c.appendToStream('del-soft', es.expectedVersion.noStream, [jsonEvent('c', {})]);
  assert.equal(num(w.nextExpectedVersion), 2);
  sl = await c.readStreamEventsForward('del-soft', 0, 10);
  assert.equal(sl.status, 'success');
  assert.deepEqual(sl.events.map((e) => num(e.event.eventNumber)), [2]);
  meta = await c.getStreamMetadataRaw('del-soft');
  assert.equal(meta.streamMetadata.$tb, 2, 'recreating rewrites $tb to the first new number');

  await c.appendToStream('del-hard', es.expectedVersion.noStream, [jsonEvent('a', {})]);
  await c.deleteStream('del-hard', es.expectedVersion.any, true);
  sl = await c.readStreamEventsForward('del-hard', 0, 10);
  assert.equal(sl.status, 'streamDeleted');
  r = await c.readEvent('del-hard', 0);
  assert.equal(r.status, 'streamDeleted');
  await rejects(c.appendToStream('del-hard', es.expectedVersion.any, [jsonEvent('x', {})]),
    (e) => assert.ok(e instanceof es.StreamDeletedError, `got ${e}`), 'append to a hard-deleted stream');
  await rejects(c.deleteStream('del-hard', es.expectedVersion.any, true),
    (e) => assert.ok(e instanceof es.StreamDeletedError, `got ${e}`), 'second hard delete');
  const md = await c.getStreamMetadataRaw('del-hard');
  assert.equal(md.isStreamDeleted, true);
  c.close();
});
