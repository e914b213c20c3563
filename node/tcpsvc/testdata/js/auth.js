'use strict';
// Authentication: anonymous, default credentials (Authenticate on
// connect), per-operation credentials, wrong credentials, and the
// original's quirk for failed default credentials (spec §4.3).
const { es, assert, admin, connect, jsonEvent, rejects, main } = require('./lib');

main(async () => {
  const anon = await connect('auth-anon');
  // User streams are open to anonymous callers by default.
  const w = await anon.appendToStream('auth-open', es.expectedVersion.noStream, [jsonEvent('t', { a: 1 })]);
  assert.equal(w.nextExpectedVersion.toNumber(), 0);
  // $all is readable by admins only.
  await rejects(anon.readAllEventsForward(es.positions.start, 10), (e) => {
    assert.ok(e instanceof es.AccessDeniedError, `want AccessDeniedError, got ${e}`);
  }, 'anonymous $all read');
  // Per-operation credentials.
  const all = await anon.readAllEventsForward(es.positions.start, 10, false, admin);
  assert.ok(all.events.length > 0, 'admin $all read returned nothing');
  // Wrong per-operation credentials: NotAuthenticated, the connection stays usable.
  await rejects(anon.appendToStream('auth-open', es.expectedVersion.any, [jsonEvent('t', {})], new es.UserCredentials('admin', 'wrong')),
    (e) => assert.match(String(e.message), /Authentication error: Not Authenticated/), 'write with a wrong password');
  await rejects(anon.readEvent('auth-open', 0, false, new es.UserCredentials('nobody', 'x')),
    (e) => assert.match(String(e.message), /Authentication error/), 'read as an unknown user');
  const r = await anon.readEvent('auth-open', 0);
  assert.equal(r.status, 'success');
  anon.close();

  // Default credentials: Authenticate on connect, later operations run as admin.
  const adm = await connect('auth-admin', { defaultUserCredentials: admin });
  const slice = await adm.readAllEventsForward(es.positions.start, 10);
  assert.ok(slice.events.length > 0);
  await adm.appendToStream('$auth-system', es.expectedVersion.any, [jsonEvent('t', {})]);
  adm.close();

  // Wrong default credentials: the connection comes up (the client only
  // notes the failed Authenticate), and unflagged operations are
  // NotAuthenticated because the server keeps the bad defaults (quirk of
  // the original, spec §4.3).
  const bad = await connect('auth-bad', { defaultUserCredentials: new es.UserCredentials('admin', 'nope') });
  await rejects(bad.readEvent('auth-open', 0), (e) => assert.match(String(e.message), /Authentication error: Not Authenticated/), 'read with bad defaults');
  await rejects(bad.appendToStream('auth-open', es.expectedVersion.any, [jsonEvent('t', {})]),
    (e) => assert.match(String(e.message), /Authentication error/), 'write with bad defaults');
  // Explicit good credentials still work on that connection.
  const ok = await bad.readEvent('auth-open', 0, false, admin);
  assert.equal(ok.status, 'success');
  bad.close();
});
