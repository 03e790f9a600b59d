/**
 * The InfluxDB test server starts on a port no other test can take first, and its restart
 * outlasts a moment when another server holds its port.
 */
import { createServer } from 'node:http';
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
