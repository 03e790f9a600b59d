/**
 * The InfluxDB test server starts on a port no other test can take first, and its restart
 * outlasts a moment when another server holds its port.
 */
import { createServer } from 'node:http';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import baseTest from 'ava';
import { testWith } from './external.js';
import { startInfluxd } from './influxd.js';
import { takeReleasedPorts } from './ports.js';

const test = testWith('influxd');

// Serial: the first test changes how this process's servers close, which the other must not meet.
test.serial('starts while every port this process finds free is taken before it is passed on', async (t) => {
  const squat = takeReleasedPorts();
  try {
    const influx = await startInfluxd();
    t.teardown(() => influx.dispose());
    t.regex(influx.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    t.is(influx.url, `http://127.0.0.1:${influx.port}`);
    await influx.createDatabase('ports');
    await influx.write('ports', 'm v=1 1');
    t.deepEqual(await influx.values('SELECT v FROM m', 'ports'), [['1970-01-01T00:00:00.000000001Z', 1]]);
  } finally {
    await squat.restore();
  }
});

test.serial('restart comes back on the same port and data after another server held that port for a while', async (t) => {
  const influx = await startInfluxd();
  t.teardown(() => influx.dispose());
  await influx.createDatabase('ports');
  await influx.write('ports', 'm v=2 2');
  await influx.stop();
  const holder = createServer((_req, res) => res.writeHead(404).end());
  await new Promise<void>((r) => holder.listen(influx.port, '127.0.0.1', r));
  setTimeout(() => holder.close(), 1000);
  await influx.restart();
  t.deepEqual(await influx.values('SELECT v FROM m', 'ports'), [['1970-01-01T00:00:00.000000002Z', 2]]);
});

// Needs no influxd: a stand-in on PATH logs its port as influxd does and answers /ping with 500.
baseTest.serial('a start that never gets an answer to /ping leaves no process and no folder behind', async (t) => {
  const bin = mkdtempSync(join(tmpdir(), 'claudescope-fake-influxd-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  const pidFile = join(bin, 'pid');
  writeFileSync(join(bin, 'influxd'), `#!${process.execPath}
const { createServer } = require('node:http');
require('node:fs').writeFileSync(${JSON.stringify(pidFile)}, JSON.stringify({ pid: process.pid, config: process.argv[process.argv.indexOf('-config') + 1] }));
const s = createServer((_q, r) => r.writeHead(500).end()).listen(0, '127.0.0.1', () => {
  console.log('ts=0 lvl=info msg="Listening on HTTP" log_id=0 service=httpd addr=127.0.0.1:' + s.address().port + ' https=false');
});
`);
  chmodSync(join(bin, 'influxd'), 0o755);
  const path = process.env.PATH;
  process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
  try {
    await t.throwsAsync(startInfluxd({ startTimeoutMs: 1500 }), { message: /did not answer \/ping within 1500 ms/ });
  } finally {
    process.env.PATH = path;
  }
  const started = JSON.parse(readFileSync(pidFile, 'utf8')) as { pid: number; config: string };
  t.throws(() => process.kill(started.pid, 0), { code: 'ESRCH' }, 'the stand-in was stopped');
  // Its own folder (other tests' servers make theirs beside it meanwhile).
  t.regex(dirname(started.config), /claudescope-influxd-/);
  t.false(existsSync(dirname(started.config)), 'its data folder was removed');
});
