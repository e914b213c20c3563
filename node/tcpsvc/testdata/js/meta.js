'use strict';
// Stream metadata get/set and ACLs (spec §4.3, §4.9).
const { es, assert, admin, connect, jsonEvent, rejects, num, main } = require('./lib');

main(async () => {
  const c = await connect('meta');
  // Neither stream nor metadata.
  let md = await c.getStreamMetadataRaw('meta-none');
  assert.equal(md.isStreamDeleted, false);
  assert.equal(num(md.metastreamVersion), -1);
  assert.equal(md.streamMetadata, null);
  // Stream exists, no metadata.
  await c.appendToStream('meta-s', es.expectedVersion.noStream, [jsonEvent('a', {})]);
  md = await c.getStreamMetadataRaw('meta-s');
  assert.equal(num(md.metastreamVersion), -1);
  assert.equal(md.streamMetadata, null);
  // Set and get.
  await c.setStreamMetadataRaw('meta-s', es.expectedVersion.noStream, { $maxCount: 50, owner: 'interop' });
  md = await c.getStreamMetadataRaw('meta-s');
  assert.equal(num(md.metastreamVersion), 0);
  assert.deepEqual(md.streamMetadata, { $maxCount: 50, owner: 'interop' });
  await rejects(c.setStreamMetadataRaw('meta-s', 5, { x: 1 }),
    (e) => assert.ok(e instanceof es.WrongExpectedVersionError, `got ${e}`), 'metadata with a wrong version');

  // An ACL that keeps anonymous callers out.
  await c.appendToStream('meta-secret', es.expectedVersion.noStream, [jsonEvent('a', {})]);
  await c.setStreamMetadataRaw('meta-secret', es.expectedVersion.any,
    { $acl: { $r: '$admins', $w: '$admins', $d: '$admins', $mr: '$admins', $mw: '$admins' } });
  await rejects(c.readStreamEventsForward('meta-secret', 0, 10), (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous read');
  await rejects(c.readEvent('meta-secret', 0), (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous read event');
  await rejects(c.appendToStream('meta-secret', es.expectedVersion.any, [jsonEvent('x', {})]),
    (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous write');
  await rejects(c.deleteStream('meta-secret', es.expectedVersion.any),
    (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous delete');
  await rejects(c.getStreamMetadataRaw('meta-secret'), (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous metadata read');
  await rejects(c.setStreamMetadataRaw('meta-secret', es.expectedVersion.any, {}),
    (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous metadata write');
  await rejects(c.startTransaction('meta-secret', es.expectedVersion.any),
    (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous transaction');
  // Admins pass every ACL.
  const sl = await c.readStreamEventsForward('meta-secret', 0, 10, false, admin);
  assert.equal(sl.events.length, 1);
  const w = await c.appendToStream('meta-secret', es.expectedVersion.any, [jsonEvent('b', {})], admin);
  assert.equal(num(w.nextExpectedVersion), 1);
  // System streams are admin-only by default.
  await rejects(c.appendToStream('$meta-sys', es.expectedVersion.any, [jsonEvent('x', {})]),
    (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous system-stream write');
  await rejects(c.readAllEventsBackward(es.positions.end, 10),
    (e) => assert.ok(e instanceof es.AccessDeniedError, `got ${e}`), 'anonymous backward $all read');
  c.close();
});
