// geteventstore-promise@4.0.1 against a Slave of a three-node cluster
// (run by node's TestClusterHTTPInterop): writes, deletes and
// expected-version failures through the Slave are proxied to the master
// (spec cluster-and-options §7.3) and the client cannot tell; the events
// are on the master and, once replicated, on the Slave. ES_HOST/ES_PORT
// name the Slave's external HTTP, ES_MASTER_HOST/ES_MASTER_PORT the
// master's.
'use strict';
const assert = require('assert');
const { HTTPClient, EventFactory } = require('geteventstore-promise');

const creds = { username: 'admin', password: 'changeit' };
const slave = new HTTPClient({ hostname: process.env.ES_HOST, port: parseInt(process.env.ES_PORT, 10), credentials: creds, timeout: 10000 });
const master = new HTTPClient({ hostname: process.env.ES_MASTER_HOST, port: parseInt(process.env.ES_MASTER_PORT, 10), credentials: creds, timeout: 10000 });
const ef = new EventFactory();

async function eventually(what, fn) {
	const t0 = Date.now();
	for (;;) {
		try {
			if (await fn()) return;
		} catch (err) {
			if (Date.now() - t0 > 15000) throw err;
		}
		if (Date.now() - t0 > 15000) throw new Error('timed out waiting for ' + what);
		await new Promise((r) => setTimeout(r, 20));
	}
}

async function main() {
	const run = Date.now().toString(36);
	const stream = `cluster-http-${run}`;
	await slave.writeEvent(stream, 'One', { n: 1 }, { meta: 'data' });
	await slave.writeEvents(stream, [ef.newEvent('Two', { n: 2 }), ef.newEvent('Three', { n: 3 })]);
	const onMaster = await master.getEvents(stream, 0, 10, 'forward');
	assert.deepStrictEqual(onMaster.map((e) => e.eventType), ['One', 'Two', 'Three']);
	await eventually('the events on the slave', async () => (await slave.getEvents(stream, 0, 10, 'forward')).length === 3);

	// The master's verdict comes back through the slave.
	let failed = null;
	try {
		await slave.writeEvent(stream, 'Late', { n: 9 }, null, { expectedVersion: 0 });
	} catch (err) {
		failed = err;
	}
	assert.ok(failed && failed.response && failed.response.status === 400, `stale expected version: ${failed}`);
	await slave.writeEvent(stream, 'Four', { n: 4 }, null, { expectedVersion: 2 });

	await slave.deleteStream(stream);
	assert.strictEqual(await master.checkStreamExists(stream), false);
	await eventually('the delete on the slave', async () => (await slave.checkStreamExists(stream)) === false);
	console.log('cluster checks passed');
}

main().catch((err) => {
	console.error(err && err.stack ? err.stack : err);
	process.exit(1);
});
