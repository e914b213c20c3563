'use strict';
// A three-node cluster (node.TestClusterClientInterop): ES_PORT is a
// Slave's external TCP, ES_MASTER_PORT the master's. With
// requireMaster: false the Slave forwards writes to the master over
// internal TCP (spec cluster-and-options §7.1) and the client never
// notices; with requireMaster: true (the client's default) the Slave
// answers NotMaster with the master's endpoints and the client reconnects
// there and retries. A volatile subscription and reads on the Slave are
// served by the Slave from its replicated store.
const { es, assert, admin, connect, jsonEvent, rejects, num, main } = require('./lib');

const masterHost = process.env.ES_MASTER_HOST || '127.0.0.1';
const masterPort = Number(process.env.ES_MASTER_PORT);

main(async () => {
  const fwd = await connect('forwarded', { requireMaster: false, defaultUserCredentials: admin, maxRetries: 20 });
  // A volatile subscription on the slave is served there (spec §7.2) and
  // sees the writes the slave forwarded once they are replicated back.
  const pushed = [];
  await fwd.subscribeToStream('cluster-fwd', false, (s, e) => { pushed.push(e.originalEvent.eventType); }, () => {});
  const evs = [jsonEvent('Fwd', { n: 1 }), jsonEvent('Fwd', { n: 2 })];
  let w = await fwd.appendToStream('cluster-fwd', es.expectedVersion.noStream, evs);
  assert.equal(num(w.nextExpectedVersion), 1);
  // The same events again: idempotent on the master.
  w = await fwd.appendToStream('cluster-fwd', es.expectedVersion.noStream, evs);
  assert.equal(num(w.nextExpectedVersion), 1);
  await rejects(fwd.appendToStream('cluster-fwd', 7, [jsonEvent('Late', {})]),
    (e) => assert.ok(e instanceof es.WrongExpectedVersionError, `got ${e}`), 'stale version through the slave');
  // A transaction through the slave lives on the master.
  const t = await fwd.startTransaction('cluster-tx', es.expectedVersion.noStream);
  await t.write([jsonEvent('a', {}), jsonEvent('b', {})]);
  const res = await t.commit();
  assert.equal(num(res.nextExpectedVersion), 1);
  await fwd.deleteStream('cluster-tx', es.expectedVersion.any, false);
  // System streams need the forwarded credentials.
  await fwd.appendToStream('$cluster-sys', es.expectedVersion.any, [jsonEvent('S', {})]);
  await rejects(fwd.appendToStream('$cluster-sys', es.expectedVersion.any, [jsonEvent('S', {})], new es.UserCredentials('nobody', 'x')),
    (e) => assert.match(String(e.message), /Authentication error/), 'bad credentials');

  for (const t0 = Date.now(); pushed.length < 2; await new Promise((r) => setTimeout(r, 10))) {
    assert.ok(Date.now() - t0 < 20000, `subscription on the slave got ${pushed.length} of 2 events`);
  }
  assert.deepEqual(pushed, ['Fwd', 'Fwd']);
  // Reads without requireMaster are the slave's own, replicated store.
  const local = await fwd.readStreamEventsForward('cluster-fwd', 0, 10, false);
  assert.equal(local.status, 'success');
  assert.equal(local.events.length, 2);

  // Everything is on the master.
  const m = es.createConnection({ log: new es.NoopLogger(), maxReconnections: 0, maxRetries: 5, requireMaster: true },
    `tcp://${masterHost}:${masterPort}`, 'master');
  const mConnected = new Promise((resolve) => m.once('connected', resolve));
  await m.connect();
  await mConnected;
  const sl = await m.readStreamEventsForward('cluster-fwd', 0, 10, false);
  assert.equal(sl.status, 'success');
  assert.deepEqual(sl.events.map((e) => e.event.eventType), ['Fwd', 'Fwd']);
  const tx = await m.readStreamEventsForward('cluster-tx', 0, 10, false, admin);
  assert.equal(tx.status, 'streamNotFound', 'deleted through the slave');

  // requireMaster (the default): NotMaster, the client moves to the master.
  const rm = await connect('follows', { requireMaster: true, maxRetries: 20, maxReconnections: 20, defaultUserCredentials: admin });
  w = await rm.appendToStream('cluster-rm', es.expectedVersion.noStream, [jsonEvent('Rm', {})]);
  assert.equal(num(w.nextExpectedVersion), 0);
  const r = await rm.readEvent('cluster-rm', 0, false);
  assert.equal(r.status, 'success', 'read requiring the master after following NotMaster');
  const after = await m.readEvent('cluster-rm', 0, false);
  assert.equal(after.status, 'success');

  fwd.close();
  rm.close();
  m.close();
});
