'use strict';
// Shared helpers of the interop scripts. Each script exercises one area of
// the protocol with the real node-eventstore-client, asserts with
// node:assert and exits non-zero on the first mismatch (the Go test prints
// the output). ES_HOST/ES_PORT name the server under test.
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const es = require('node-eventstore-client');

const host = process.env.ES_HOST || '127.0.0.1';
const port = process.env.ES_PORT;
if (!port) {
  console.error('ES_PORT is not set');
  process.exit(2);
}

const admin = new es.UserCredentials('admin', 'changeit');

async function connect(name, extra) {
  const settings = Object.assign({
    log: new es.NoopLogger(),
    maxReconnections: 0,
    maxRetries: 0,
    operationTimeout: 20000,
    failOnNoServerResponse: true,
  }, extra || {});
  const conn = es.createConnection(settings, `tcp://${host}:${port}`, name);
  const connected = new Promise((resolve, reject) => {
    conn.once('connected', resolve);
    conn.once('closed', (reason) => reject(new Error('connection closed: ' + reason)));
  });
  conn.on('error', (err) => console.error(`[${name}] connection error:`, err));
  await conn.connect();
  await connected;
  return conn;
}

function newId() { return crypto.randomUUID(); }

function jsonEvent(type, data, metadata) {
  return es.createJsonEventData(newId(), data, metadata, type);
}

function binaryEvent(type, buf, metadata) {
  return es.createEventData(newId(), type, false, buf, metadata);
}

// rejects awaits p, requires it to fail, runs check on the error and
// returns it.
async function rejects(p, check, what) {
  let value;
  try {
    value = await p;
  } catch (err) {
    if (check) check(err);
    return err;
  }
  assert.fail(`${what || 'operation'} succeeded (${JSON.stringify(value)}); expected a failure`);
}

function num(long) { return typeof long === 'number' ? long : long.toNumber(); }

// main runs fn with a safety timeout and exits 0 on success, 1 on failure.
function main(fn) {
  const timer = setTimeout(() => {
    console.error('script timed out');
    process.exit(3);
  }, 45000);
  fn().then(() => {
    clearTimeout(timer);
    process.exit(0);
  }, (err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
}

module.exports = { es, assert, admin, connect, newId, jsonEvent, binaryEvent, rejects, num, main };
