// Drives eventstored's HTTP API with geteventstore-promise@4.0.1 (the calls
// of http-api.md §7) and axios for the few calls the package does not wrap
// (stream metadata, $all). Run by httpfront's TestInteropGetEventStorePromise
// with ES_PORT set; exits non-zero on the first failed check.
'use strict';
const assert = require('assert');
const axios = require('axios');
const { HTTPClient, EventFactory } = require('geteventstore-promise');

const port = parseInt(process.env.ES_PORT, 10);
const client = new HTTPClient({
	hostname: '127.0.0.1',
	port,
	credentials: { username: 'admin', password: 'changeit' },
	timeout: 10000,
});
const base = `http://127.0.0.1:${port}`;
const adminAuth = { username: 'admin', password: 'changeit' };
const ef = new EventFactory();

const checks = [];
function check(name, fn) { checks.push({ name, fn }); }

async function expectStatus(promise, status) {
	try {
		await promise;
	} catch (err) {
		if (err.response && err.response.status === status) return;
		throw new Error(`expected HTTP ${status}, got ${err.response ? err.response.status : err.message}`);
	}
	throw new Error(`expected HTTP ${status}, got success`);
}

const run = Date.now().toString(36);
const s = (name) => `${name}-${run}`;

check('ping', async () => {
	const res = await client.ping();
	assert.strictEqual(res.text, 'Ping request successfully handled');
});

check('write one event and read it back forward', async () => {
	const stream = s('one');
	await client.writeEvent(stream, 'TestEventType', { something: '123' }, { meta: 'data' });
	const events = await client.getEvents(stream, 0, 10, 'forward');
	assert.strictEqual(events.length, 1);
	assert.strictEqual(events[0].eventType, 'TestEventType');
	assert.strictEqual(events[0].data.something, '123');
	assert.strictEqual(events[0].eventNumber, 0);
	assert.strictEqual(events[0].positionStreamId, stream);
	assert.ok(events[0].created, 'created (updated) is set');
});

check('write many, read forward and backward', async () => {
	const stream = s('many');
	const evs = [];
	for (let i = 0; i < 10; i++) evs.push(ef.newEvent('Counted', { n: i }));
	await client.writeEvents(stream, evs);
	const fwd = await client.readEventsForward(stream, 0, 1000);
	assert.strictEqual(fwd.events.length, 10);
	assert.deepStrictEqual(fwd.events.map(e => e.data.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
	assert.strictEqual(fwd.isEndOfStream, true);
	const back = await client.readEventsBackward(stream, 'head', 1000);
	assert.strictEqual(back.events.length, 10);
	assert.strictEqual(back.events[0].eventNumber, 9);
	const b2 = await client.readEventsBackward(stream, 2, 1000);
	assert.strictEqual(b2.events.length, 3);
	const b0 = await client.readEventsBackward(stream, 0, 250);
	assert.strictEqual(b0.events.length, 1);
	const b3 = await client.readEventsBackward(stream, 3, 2);
	assert.deepStrictEqual(b3.events.map(e => e.eventNumber), [3, 2]);
	const past = await client.readEventsForward(stream, 50, 10);
	assert.strictEqual(past.events.length, 0);
	const rich = await client.readEventsForward(stream, 0, 2, true, 'rich');
	assert.strictEqual(rich.events.length, 2);
	assert.strictEqual(rich.events[0].data, undefined, 'embed=rich has no data');
});

check('get all stream events in chunks', async () => {
	const stream = s('all-chunks');
	const evs = [];
	for (let i = 0; i < 25; i++) evs.push(ef.newEvent('Chunked', { n: i }));
	await client.writeEvents(stream, evs);
	const all = await client.getAllStreamEvents(stream, 10);
	assert.strictEqual(all.length, 25);
	assert.deepStrictEqual(all.map(e => e.data.n), [...Array(25).keys()]);
});

check('read 4096 of 5000 events', async () => {
	const stream = s('big');
	for (let b = 0; b < 5; b++) {
		const evs = [];
		for (let i = 0; i < 1000; i++) evs.push(ef.newEvent('Bulk', { n: b * 1000 + i }));
		await client.writeEvents(stream, evs);
	}
	const page = await client.readEventsForward(stream, 0, 4096);
	assert.strictEqual(page.events.length, 4096);
	assert.strictEqual(page.isEndOfStream, false);
});

check('missing stream: check exists false, read 404', async () => {
	assert.strictEqual(await client.checkStreamExists(s('missing')), false);
	await expectStatus(client.readEventsForward(s('missing'), 0, 10), 404);
});

check('wrong expected version is refused', async () => {
	const stream = s('wev');
	await client.writeEvent(stream, 'A', { a: 1 });
	await expectStatus(client.writeEvent(stream, 'A', { a: 2 }, null, { expectedVersion: 5 }), 400);
	await client.writeEvent(stream, 'A', { a: 2 }, null, { expectedVersion: 0 });
});

check('soft delete, then rewrite', async () => {
	const stream = s('soft');
	await client.writeEvent(stream, 'A', { a: 1 });
	assert.strictEqual(await client.checkStreamExists(stream), true);
	await client.deleteStream(stream);
	assert.strictEqual(await client.checkStreamExists(stream), false);
	await client.writeEvent(stream, 'A', { a: 2 });
	assert.strictEqual(await client.checkStreamExists(stream), true);
	const events = await client.getEvents(stream, 0, 10, 'forward');
	assert.strictEqual(events.length, 1);
	assert.strictEqual(events[0].eventNumber, 1);
});

check('hard delete: 410 on read and write', async () => {
	const stream = s('hard');
	await client.writeEvent(stream, 'A', { a: 1 });
	await client.deleteStream(stream, true);
	await expectStatus(client.checkStreamExists(stream), 410);
	await expectStatus(client.writeEvent(stream, 'A', { a: 2 }), 410);
});

check('stream metadata write and read', async () => {
	const stream = s('meta');
	await client.writeEvent(stream, 'A', { a: 1 });
	const empty = await axios.get(`${base}/streams/${stream}/metadata`, { auth: adminAuth, headers: { Accept: 'application/json' } });
	assert.deepStrictEqual(empty.data, {});
	const w = await axios.post(`${base}/streams/${stream}/metadata`, [{ eventId: ef.newEvent('x', {}).eventId, eventType: '$metadata', data: { $maxCount: 5, custom: 'v' } }],
		{ auth: adminAuth, headers: { 'Content-Type': 'application/vnd.eventstore.events+json' } });
	assert.strictEqual(w.status, 201);
	assert.ok(w.headers.location.endsWith(`/streams/%24%24${stream}/0`), w.headers.location);
	const m = await axios.get(`${base}/streams/${stream}/metadata`, { auth: adminAuth, headers: { Accept: 'application/json' } });
	assert.strictEqual(m.data.$maxCount, 5);
	assert.strictEqual(m.data.custom, 'v');
	const entry = await axios.get(`${base}/streams/${stream}/metadata`, { auth: adminAuth, headers: { Accept: 'application/vnd.eventstore.atom+json' } });
	assert.strictEqual(entry.data.content.data.custom, 'v');
});

check('$all feed with admin, 401 anonymous', async () => {
	const r = await axios.get(`${base}/streams/%24all/head/backward/20?embed=body`, { auth: adminAuth, headers: { Accept: 'application/vnd.eventstore.atom+json' } });
	assert.strictEqual(r.data.title, 'All events');
	assert.ok(r.data.entries.length > 0);
	const next = r.data.links.find(l => l.relation === 'next');
	assert.ok(next, 'next link present');
	const older = await axios.get(next.uri, { auth: adminAuth, headers: { Accept: 'application/vnd.eventstore.atom+json' } });
	assert.strictEqual(older.data.title, 'All events');
	await expectStatus(axios.get(`${base}/streams/%24all`, { headers: { Accept: 'application/json' } }), 401);
});

check('scavenge as admin', async () => {
	await client.admin.scavenge();
});

(async () => {
	let failed = 0;
	for (const c of checks) {
		try {
			await c.fn();
			console.log(`ok   ${c.name}`);
		} catch (err) {
			failed++;
			console.log(`FAIL ${c.name}: ${err && err.stack ? err.stack : err}`);
		}
	}
	console.log(`${checks.length - failed}/${checks.length} checks passed`);
	process.exit(failed ? 1 : 0);
})();
