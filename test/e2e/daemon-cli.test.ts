/**
 * The built CLI (`npm run build` first): `daemon` as a child process on a temporary home with
 * event files written by the real emitter through the real SDK and the fake Claude API.
 */
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { spawn, spawnSync, type ChildProcess, type SpawnSyncOptions } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, readEvents } from '../helpers/events.js';
import { call, tempHome, writeEventFile } from '../helpers/event-files.js';
import { freePort, takeReleasedPorts } from '../helpers/ports.js';
import { startFakeApi } from '../../src/testing/fake-api.js';
import { runDemoWorkload } from '../../src/daemon/demo-workload.js';
import { parseExposition, sumOf } from '../metrics/exposition.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'dist/src/cli/main.js');

test.before(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npm run build' first`);
});

/** Writes `calls` events with the real emitter and SDK (through the fake API) into `<home>/events`. */
async function writeRealEvents(home: string, calls: number): Promise<void> {
  const api = await startFakeApi();
  try {
    await runDemoWorkload({ api, eventsDir: join(home, 'events'), calls });
  } finally {
    await api.close();
  }
}

interface Running {
  child: ChildProcess;
  url: string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/**
 * `bin`: run the CLI file itself, through its shebang, as an installed `claudescope` runs;
 * `ulimit`: through node, with at most that many descriptors (`ulimit -n`). The daemon takes a
 * free port itself (--port 0) and names it in its started line: a port found free here could be
 * taken by a concurrent test's server before the daemon binds it.
 */
async function startDaemon(t: ExecutionContext, home: string, extra: string[] = [], how: 'node' | 'bin' | { ulimit: number } = 'node', env: NodeJS.ProcessEnv = {}, as: Pick<SpawnSyncOptions, 'uid' | 'gid'> = {}): Promise<Running> {
  const args = ['daemon', '--home', home, '--port', '0', '--poll-interval-ms', '100', ...extra];
  const [command, argv] = how === 'bin' ? [CLI, args]
    : how === 'node' ? [process.execPath, [CLI, ...args]]
    : ['bash', ['-c', `ulimit -n ${how.ulimit} && exec "$@"`, 'bash', process.execPath, CLI, ...args]];
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CLAUDESCOPE_HOME: '', ...env }, ...as });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const m = /started on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]!);
    };
    child.stderr!.on('data', check);
    void exit.then((code) => reject(new Error(`daemon exited ${code}: ${err}`)));
  });
  return { child, url, stderr: () => err, exit };
}

// Serial (so before the others): it changes how this process's servers close while it runs.
test.serial('a daemon starts while every port this process finds free is taken before it is passed on', async (t) => {
  const squat = takeReleasedPorts();
  try {
    const d = await startDaemon(t, tempDir(t));
    t.is((await fetch(`${d.url}/healthz`)).status, 200);
  } finally {
    await squat.restore();
  }
});

test('daemon --port 0 listens on a free port and names it in its started line', async (t) => {
  const home = tempDir(t);
  const child = spawn(process.execPath, [CLI, 'daemon', '--home', home, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CLAUDESCOPE_HOME: '' } });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: string) => {
      err += d;
      const m = /started on (http:\/\/127\.0\.0\.1:(\d+))/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`daemon exited ${code}: ${err}`)));
  });
  t.not(Number(new URL(url).port), 0);
  t.is((await fetch(`${url}/healthz`)).status, 200);
  child.kill('SIGTERM');
  t.is(await new Promise<number | null>((resolve) => child.on('exit', resolve)), 0);
});

async function health(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(`${url}/healthz`)).json()) as Record<string, unknown>;
}

async function until(cond: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the daemon serves /healthz and /metrics, exits 0 on SIGTERM with a final checkpoint, and a restart ingests nothing twice', async (t) => {
  const home = tempDir(t);
  await writeRealEvents(home, 12);
  const events = readEvents(join(home, 'events')).calls;
  t.is(events.length, 12);

  const first = await startDaemon(t, home, ['--sealed-files', 'keep']);
  await until(async () => (await health(first.url))['events_committed'] === 12, 'all 12 calls committed');
  const h = await health(first.url);
  t.is(h['ok'], true);
  t.is(h['lag_bytes'], 0);
  const metrics = await fetch(`${first.url}/metrics`);
  t.is(metrics.status, 200);
  const s = parseExposition(await metrics.text());
  t.is(sumOf(s, 'claude_requests_total'), 12);
  t.is(sumOf(s, 'claude_tokens_total', { direction: 'output' }), events.reduce((a, e) => a + (e.usage?.output_tokens ?? 0), 0));
  first.child.kill('SIGTERM');
  t.is(await first.exit, 0, first.stderr());
  t.regex(first.stderr(), /final checkpoint written/);

  const second = await startDaemon(t, home, ['--sealed-files', 'keep']);
  // The first files are kept and scanned again at start; new calls arrive meanwhile.
  await writeRealEvents(home, 3);
  const all = readEvents(join(home, 'events')).calls;
  t.is(all.length, 15);
  await until(async () => (await health(second.url))['events_committed'] === 3, 'the 3 new calls committed');
  const s2 = parseExposition(await (await fetch(`${second.url}/metrics`)).text());
  t.is(sumOf(s2, 'claudescope_events_replayed_total'), 0, 'the checkpoint was final: nothing was read again');
  t.is(sumOf(s2, 'claude_requests_total'), 3);
  events.push(...all.filter((e) => !events.some((x) => x.event_id === e.event_id)));

  // report --json while the daemon runs: the numbers equal the events'.
  const r = spawnSync(process.execPath, [CLI, 'report', '--home', home, '--json', '--since', '1h'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const rep = JSON.parse(r.stdout) as { total: Record<string, number | null>; rows: { key: string; calls: number }[] };
  const sum = (f: (e: (typeof events)[number]) => number): number => events.reduce((a, e) => a + f(e), 0);
  t.is(rep.total['calls'], 15);
  t.is(rep.total['errors'], events.filter((e) => e.status === 'error').length);
  t.is(rep.total['input_tokens'], sum((e) => e.usage?.input_tokens ?? 0));
  t.is(rep.total['output_tokens'], sum((e) => e.usage?.output_tokens ?? 0));
  t.is(rep.total['cache_read_input_tokens'], sum((e) => e.usage?.cache_read_input_tokens ?? 0));
  t.is(rep.total['cache_write_5m_input_tokens'], sum((e) => e.usage?.cache_write_5m_input_tokens ?? 0));
  t.is(rep.total['cache_write_1h_input_tokens'], sum((e) => e.usage?.cache_write_1h_input_tokens ?? 0));
  t.is(rep.total['unpriced_calls'], events.filter((e) => e.model === 'claude-fable-5-2').length, 'the model without a price is unpriced');
  t.is(rep.rows.reduce((a, x) => a + x.calls, 0), 15);

  second.child.kill('SIGINT');
  t.is(await second.exit, 0, second.stderr());
});

/** The node flags the daemon's memory figures were measured with (docs/daemon.md); it sets `--heap-growing-percent` itself. */
const DAEMON_NODE_FLAGS = ['--v8-pool-size=1', '--max-semi-space-size=8'];

test('npm start, the Docker image and the systemd unit run the daemon with the same node flags, and node accepts them from NODE_OPTIONS', async (t) => {
  // The bin's shebang names no flags: `env -S` is missing from busybox (Alpine) and the BSDs.
  t.is(readFileSync(join(ROOT, 'src/cli/main.ts'), 'utf8').split('\n')[0], '#!/usr/bin/env node');
  const start = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['start'];
  t.is(start, `node ${DAEMON_NODE_FLAGS.join(' ')} dist/src/cli/main.js daemon`);
  const entry = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(ROOT, 'docker/Dockerfile'), 'utf8'))?.[1];
  t.deepEqual(JSON.parse(entry ?? 'null'), ['node', ...DAEMON_NODE_FLAGS, '/opt/claudescope/dist/src/cli/main.js']);
  const unit = readFileSync(join(ROOT, 'docker/systemd/claudescope.service'), 'utf8');
  t.regex(unit, /^ExecStart=\/usr\/bin\/env claudescope daemon$/m, 'the unit runs the bin');
  const nodeOptions = /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(unit)?.[1];
  t.is(nodeOptions, DAEMON_NODE_FLAGS.join(' '));

  // The built bin, run through its shebang with the unit's NODE_OPTIONS (node refuses to start
  // on a flag it does not allow there), serves.
  const home = tempDir(t);
  const d = await startDaemon(t, home, [], 'bin', { NODE_OPTIONS: nodeOptions });
  t.is((await health(d.url))['ok'], true);
  d.child.kill('SIGTERM');
  t.is(await d.exit, 0, d.stderr());
});

test('the service setup docs/daemon.md gives for apps of other users works: under the unit\'s UMask, an app of another user writes into events/, and the daemon counts its calls with the capability named', async (t) => {
  const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
  if (process.getuid?.() !== 0 || setpriv === undefined) {
    t.log('skipped: needs root (to act as two other users) and setpriv (to give the daemon a capability)');
    t.pass();
    return;
  }
  const docs = readFileSync(join(ROOT, 'docs/daemon.md'), 'utf8');
  const block = /## Running it as a service[\s\S]*?```sh\n([\s\S]*?)```[\s\S]*?```sh\n([\s\S]*?)```/.exec(docs)?.[2] ?? '';
  const homeMode = /chmod (\d+) \/var\/lib\/claudescope\s/.exec(block)?.[1];
  const install = /^sudo (install -d .*) \/var\/lib\/claudescope\/events$/m.exec(block)?.[1];
  const cap = /AmbientCapabilities=CAP_(\w+)/.exec(block)?.[1];
  t.truthy(homeMode && install && cap, block);
  const unit = readFileSync(join(ROOT, 'docker/systemd/claudescope.service'), 'utf8');
  t.regex(unit, /^UMask=0077$/m);
  t.true(unit.includes(`# AmbientCapabilities=CAP_${cap!}\n`), 'the unit offers the capability the docs name');

  // The daemon's user stands in for claudescope (uid and group 1), nobody for an app's user.
  const [svc, app] = [1, 65534];
  const base = tempDir(t);
  chmodSync(base, 0o755);
  const home = join(base, 'claudescope');
  mkdirSync(home);
  chownSync(home, svc, svc);
  chmodSync(home, parseInt(homeMode!, 8));
  const made = spawnSync('sh', ['-c', `${install!.replace(/ -o claudescope -g claudescope/, ` -o ${svc} -g ${svc}`)} "$0"`, join(home, 'events')], { encoding: 'utf8' });
  t.is(made.status, 0, made.stderr);
  // The app, in the group (as usermod -aG makes it), writes its calls through the emitter.
  const script = `const { startFakeApi } = await import(${JSON.stringify(join(ROOT, 'dist/src/testing/fake-api.js'))});
const { runDemoWorkload } = await import(${JSON.stringify(join(ROOT, 'dist/src/daemon/demo-workload.js'))});
const api = await startFakeApi();
await runDemoWorkload({ api, eventsDir: process.argv[1], calls: 5 });
await api.close();`;
  const wrote = spawnSync(process.execPath, ['--input-type=module', '-e', script, join(home, 'events')], { encoding: 'utf8', uid: app, gid: svc, env: { ...process.env, HOME: base }, timeout: 60_000 });
  t.is(wrote.status, 0, wrote.stderr);
  const daemonAs = async (caps: string[]): Promise<number> => {
    const child = spawn(setpriv, [`--reuid=${svc}`, `--regid=${svc}`, '--clear-groups', ...caps, 'sh', '-c', 'umask 0077 && exec "$@"', 'sh', process.execPath, CLI, 'daemon', '--home', home, '--port', '0', '--poll-interval-ms', '100'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CLAUDESCOPE_HOME: '' } });
    t.teardown(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    let err = '';
    child.stderr!.setEncoding('utf8');
    const url = await new Promise<string>((resolve, reject) => {
      child.stderr!.on('data', (d: string) => {
        err += d;
        const m = /started on (http:\/\/\S+)/.exec(err);
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`daemon exited ${code}: ${err}`)));
    });
    // Five polls and more: the file is read at the first one it can be.
    const deadline = Date.now() + 3000;
    let committed = 0;
    while (committed < 5 && Date.now() < deadline) {
      committed = Number((await health(url))['events_committed']);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    return committed;
  };
  t.is(await daemonAs([]), 0, 'without the capability, the app\'s 0600 files are not the daemon\'s to read');
  t.is(await daemonAs([`--inh-caps=+${cap!.toLowerCase()}`, `--ambient-caps=+${cap!.toLowerCase()}`]), 5);
  t.is(statSync(join(home, 'events')).mode & 0o7777, 0o2770, 'the daemon keeps the folder as made');
});

test('a daemon started with CLAUDESCOPE_EVENTS_DIR naming another folder (the emitter\'s setting) says its calls are not counted and what to set; the same folder as its own, nothing', async (t) => {
  const home = tempDir(t);
  const elsewhere = join(tempDir(t), 'events');
  const d = await startDaemon(t, home, [], 'node', { CLAUDESCOPE_EVENTS_DIR: elsewhere });
  t.true(d.stderr().includes(`claudescope: warn: CLAUDESCOPE_EVENTS_DIR is ${elsewhere}, an emitter's setting: this daemon reads ${join(home, 'events')} alone, so calls written to ${elsewhere} are not counted; give the apps and the daemon the same CLAUDESCOPE_HOME (or --home) instead\n`), d.stderr());
  const other = tempDir(t);
  const same = await startDaemon(t, other, [], 'node', { CLAUDESCOPE_EVENTS_DIR: `${other}/./events/` });
  t.false(same.stderr().includes('CLAUDESCOPE_EVENTS_DIR'), same.stderr());
});

test('the daemon refuses a bad config file naming file, line and field', async (t) => {
  const home = tempDir(t);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(join(home, 'config.yaml'), 'listen:\n  port: 70000\n');
  const r = spawnSync(process.execPath, [CLI, 'daemon', '--home', home], { encoding: 'utf8', env: { ...process.env, CLAUDESCOPE_HOME: '' } });
  t.not(r.status, 0);
  t.true(r.stderr.includes(`${join(home, 'config.yaml')}:2: listen.port: expected an integer 0-65535, got 70000`), r.stderr);
});

test('the daemon refuses a rules.dirs folder that does not exist, naming the line of the configuration that names it', async (t) => {
  const home = tempDir(t);
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(join(home, 'rules.d'));
  writeFileSync(join(home, 'config.yaml'), 'rules:\n  dirs:\n    - rules.d\n    - rule.d\n');
  const r = spawnSync(process.execPath, [CLI, 'daemon', '--home', home, '--port', '0'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CLAUDESCOPE_HOME: '' } });
  t.is(r.status, 2, r.stderr);
  t.is(r.stderr, `claudescope: invalid configuration:\n  ${join(home, 'config.yaml')}:4: rules.dirs[1]: cannot read the rules folder ${join(home, 'rule.d')}: no such file or folder (ENOENT)\n`);
});

test('the daemon refuses a home whose data or events folder is a file, saying so, not EEXIST', async (t) => {
  const { writeFileSync } = await import('node:fs');
  for (const [name, what] of [['data', 'its store'], ['events', 'the event files']] as const) {
    const home = tempDir(t);
    writeFileSync(join(home, name), 'not a folder\n');
    const r = spawnSync(process.execPath, [CLI, 'daemon', '--home', home, '--port', '0'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CLAUDESCOPE_HOME: '' } });
    t.is(r.status, 2, r.stderr);
    t.is(r.stderr, `claudescope: ${join(home, name)} is a file (or lies under one), where the daemon keeps ${what} in a folder: move it aside or choose another --home\n`);
  }
});

test('the daemon refuses a home where no folder can be made (under /proc), where mkdir -p would spin forever', (t) => {
  if (!existsSync('/proc/self')) {
    t.pass('no procfs here');
    return;
  }
  const home = `/proc/claudescope-no-such-home-${process.pid}`;
  const r = spawnSync(process.execPath, [CLI, 'daemon', '--home', home, '--port', '0'], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL', env: { ...process.env, CLAUDESCOPE_HOME: '' } });
  t.is(r.signal, null, 'the daemon hung and was killed');
  t.is(r.status, 2, r.stderr);
  t.regex(r.stderr, new RegExp(`^claudescope: cannot make ${home}/(events|data), where the daemon keeps .*: its file system takes no new folders there \\(ENOENT\\); choose another --home\n$`));
});

test('the daemon refuses a listen.host that is no address of this machine (a port written into it, an address of another machine), naming the setting', (t) => {
  // 192.0.2.1 is a documentation address (RFC 5737), on no interface of a test machine.
  for (const host of ['localhost:9000', '192.0.2.1']) {
    const home = tempDir(t);
    const env = { ...process.env, CLAUDESCOPE_HOME: '', CLAUDESCOPE_TOKEN: 'a-long-enough-test-token-0123' };
    const r = spawnSync(process.execPath, [CLI, 'daemon', '--home', home, '--host', host, '--port', '0'], { encoding: 'utf8', timeout: 30_000, env });
    t.is(r.status, 2, r.stderr);
    t.is(r.stderr, `claudescope: cannot listen on ${host}:0: ${host} is not an address of this machine (set --host or listen.host to one of its addresses or host names, without a port: 127.0.0.1, or 0.0.0.0 for every interface)\n`);
  }
});

test('demo --once runs end to end and prints the numbers', async (t) => {
  // A home with a space: the commands it prints quote it.
  const home = join(tempDir(t), 'my demo');
  const port = await freePort();
  const r = spawnSync(process.execPath, [CLI, 'demo', '--once', '--calls', '12', '--home', home, '--port', String(port)], { encoding: 'utf8', timeout: 120_000 });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /calls\s+12 \(ok \d+, error \d+, aborted \d+\)/);
  t.regex(r.stdout, /cost\s+\$\d+\.\d+ priced/);
  t.regex(r.stdout, /failed attempts \(retried ones included\)\s+rate_limit [1-9]\d*, overloaded [1-9]\d*, other \d+/);
  // It stopped its daemon: no address of it, but how to serve the demo's home again.
  t.notRegex(r.stdout, new RegExp(`127\\.0\\.0\\.1:${port}`));
  // Run from a clone, as here, the CLI is not on the PATH: the commands say how it was run.
  t.regex(r.stdout, /browse\s+CLAUDESCOPE_HOME="[^"]*my demo" node dist\/src\/cli\/main\.js daemon/);
  t.regex(r.stdout, /report\s+node dist\/src\/cli\/main\.js report --home "[^"]*my demo" --by model/);
});

test('demo --once with its port taken (a daemon already running) takes a free one and still prints every call', async (t) => {
  const home = tempDir(t);
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => taken.close(() => r())));
  const port = (taken.address() as { port: number }).port;
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [CLI, 'demo', '--once', '--calls', '12', '--home', home, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    // 'close', not 'exit': the pipes may still hold output when the process exits.
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stderr, new RegExp(`port ${port} is in use; taking a free one`));
  t.regex(r.stdout, /calls\s+12 \(ok \d+, error \d+, aborted \d+\)/);
  const ok = Number(/ok (\d+)/.exec(r.stdout)?.[1]);
  const error = Number(/error (\d+)/.exec(r.stdout)?.[1]);
  const aborted = Number(/aborted (\d+)/.exec(r.stdout)?.[1]);
  t.is(ok + error + aborted, 12, 'the daemon that serves counted every call');
  t.notRegex(r.stdout, new RegExp(`127\\.0\\.0\\.1:${port}/`));
});

/**
 * How to run a process that may not bind the privileged `port`: as root, spawned as `nobody`;
 * otherwise as this user when it cannot bind it either. Null when neither can be had here.
 */
async function unprivileged(port: number): Promise<Pick<SpawnSyncOptions, 'uid' | 'gid'> | null> {
  const start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'));
  if (!(port < start)) return null;
  if (process.getuid?.() === 0) {
    const nobody = /^nobody:[^:]*:(\d+):(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'));
    return nobody ? { uid: Number(nobody[1]), gid: Number(nobody[2]) } : null;
  }
  const bound = await new Promise<boolean>((resolveBind) => {
    const probe = createServer();
    probe.once('error', () => resolveBind(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolveBind(true)));
  });
  return bound ? null : {};
}

test('the daemon on a privileged port without the privilege says to choose a port of 1024 or above or grant CAP_NET_BIND_SERVICE, not listen EACCES', async (t) => {
  const as = await unprivileged(80);
  if (as === null) {
    t.log('skipped: port 80 is not privileged here, or this user may bind it and no unprivileged user can be had (not root)');
    t.pass();
    return;
  }
  const home = tempDir(t);
  if (as.uid !== undefined && as.gid !== undefined) {
    // The unprivileged user must reach the built CLI and own its home.
    chmodSync(home, 0o755);
    chownSync(home, as.uid, as.gid);
  }
  const r = spawnSync(process.execPath, [CLI, 'daemon', '--home', home, '--port', '80'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, CLAUDESCOPE_HOME: '' }, ...as });
  t.is(r.status, 2, r.stderr);
  t.is(r.stderr, 'claudescope: cannot listen on 127.0.0.1:80: the port needs privileges this user lacks (ports below 1024 do, on most systems): choose one of 1024 or above with --port or listen.port, or grant the daemon CAP_NET_BIND_SERVICE (AmbientCapabilities=CAP_NET_BIND_SERVICE in its systemd unit)\n');
});

test('demo --once on a home a running daemon owns is refused before it makes a call', (t) => {
  const home = tempDir(t);
  mkdirSync(join(home, 'data'), { recursive: true });
  // A lock held by a live process: this test's.
  writeFileSync(join(home, 'data', 'daemon.lock'), `${process.pid}\n`);
  const r = spawnSync(process.execPath, [CLI, 'demo', '--once', '--calls', '12', '--home', home], { encoding: 'utf8', timeout: 60_000 });
  t.not(r.status, 0);
  t.regex(r.stderr, new RegExp(`a claudescope daemon \\(pid ${process.pid}\\) is running on .*give the demo another --home`));
  t.false(existsSync(join(home, 'events')), 'no call was made');
  t.is(readFileSync(join(home, 'data', 'daemon.lock'), 'utf8'), `${process.pid}\n`, 'the owner keeps its lock');
});

test('demo --once on a home whose configuration the daemon would refuse fails at once with its message, before it makes a call', (t) => {
  const home = tempDir(t);
  writeFileSync(join(home, 'config.yaml'), 'notifiers:\n  - name: hook\n    type: webhook\n    url: http://127.0.0.1:9/hook\n    secret: ${WEBHOOK_SECRET}\n');
  const { WEBHOOK_SECRET: _unset, ...env } = process.env;
  const r = spawnSync(process.execPath, [CLI, 'demo', '--once', '--calls', '12', '--home', home], { encoding: 'utf8', timeout: 60_000, env });
  t.is(r.status, 2, r.stderr);
  t.is(r.stderr, `claudescope: ${join(home, 'config.yaml')}:5: notifiers[0].secret: environment variable WEBHOOK_SECRET is not set\n`);
  t.false(existsSync(join(home, 'events')), 'no call was made');
});

test('a daemon allowed 64 descriptors (ulimit -n) reads 150 event files whole, and its store and HTTP server go on working', async (t) => {
  const h = tempHome();
  t.teardown(h.cleanup);
  // Unsealed, their writer (this process) alive: the daemon lets go of none of them.
  let written = 0;
  for (let f = 0; f < 150; f++, written += 4) writeEventFile({ dir: h.events, calls: Array.from({ length: 4 }, () => call()) });
  const d = await startDaemon(t, h.home, [], { ulimit: 64 });
  await until(async () => (await health(d.url))['events_committed'] === written, 'every event stored');
  const healthz = await health(d.url);
  t.true((healthz['descriptor_shortages'] as number) >= 1, JSON.stringify(healthz));
  const metrics = parseExposition(await (await fetch(`${d.url}/metrics`)).text());
  const cap = sumOf(metrics, 'claudescope_tail_max_open_files');
  t.true(cap < 64, `the cap came down to ${cap}`);
  t.true(sumOf(metrics, 'claudescope_tail_open_files') <= cap);
  t.regex(d.stderr(), /out of file descriptors \((EMFILE|descriptor \d+ of a limit of 64)\): the daemon now keeps at most \d+ event files open/);
  d.child.kill('SIGTERM');
  t.is(await d.exit, 0, d.stderr());
});

for (const cmd of ['daemon', 'report', 'demo']) {
  test(`${cmd} --help lists its flags with their defaults`, (t) => {
    const r = spawnSync(process.execPath, [CLI, cmd, '--help'], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const expect: Record<string, RegExp[]> = {
      daemon: [/--port[\s\S]*9471/, /--host[\s\S]*127\.0\.0\.1/, /--home[\s\S]*~\/\.claudescope/, /--config/, /--token-file/, /--poll-interval-ms[\s\S]*1000/, /--max-open-files[\s\S]*256/, /--feature-labels/],
      report: [/--by[\s\S]*"model"/, /--since[\s\S]*"24h"/, /--until/, /--json/, /--csv/],
      demo: [/--once/, /--calls[\s\S]*60/, /--duration/, /--home/],
    };
    for (const re of expect[cmd]!) t.regex(r.stdout, re);
  });
}

test('--version is claudescope\'s own, also run from an app folder with a package.json of its own', (t) => {
  const app = tempDir(t);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'my-app', version: '9.9.9' }));
  const own = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const r = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8', cwd: app });
  t.is(r.status, 0, r.stderr);
  t.is(r.stdout.trim(), own);
});

test('no command prints the list of commands and exits 2', (t) => {
  const r = spawnSync(process.execPath, [CLI], { encoding: 'utf8' });
  t.is(r.status, 2);
  t.regex(r.stderr, /Commands:[\s\S]*claudescope daemon[\s\S]*claudescope report/);
  t.regex(r.stderr, /claudescope: Name a command\./);
});

test('an option given without its value is a usage error (exit 2, with the pointer to --help), as an unknown option is', (t) => {
  const missing = [['report', '--since'], ['report', '--by'], ['reconcile', '--until'], ['daemon', '--home'], ['rules', 'eval', '--db'], ['pricing', '--model'],
    // A nested command's own options as well.
    ['pricing', 'explain', '--event', 'call.json', '--home']];
  for (const args of [['silence', 'add', 'alertname=X', '--duration'], ['fake-api', '--port'], ['report', '--bogus'], ...missing]) {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    t.is(r.status, 2, args.join(' '));
    t.regex(r.stderr, /Run 'claudescope --help' for usage\./, args.join(' '));
  }
  // An option with a default read without its value ran with the default, as if not asked.
  for (const args of missing) t.regex(spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' }).stderr, /Not enough arguments following/, args.join(' '));
});

test('rules check over a glob of the rules folder notes the test file and passes on the rule files', (t) => {
  const r = spawnSync(process.execPath, [CLI, 'rules', 'check', 'rules/claude.test.yaml', 'rules/claude.yaml', 'rules/reconcile.yaml'], { encoding: 'utf8', cwd: ROOT });
  t.is(r.status, 0, r.stderr);
  t.regex(r.stdout, /rules\/claude\.test\.yaml: a rules test file, not checked \(run it with: claudescope rules test rules\/claude\.test\.yaml\)/);
  t.regex(r.stdout, /rules\/claude\.yaml: \d+ rule\(s\) OK/);
});

/** A user this process is not, to run the daemon as: `nobody` when root; null otherwise. */
function otherUser(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null;
  const nobody = /^nobody:[^:]*:(\d+):(\d+):/m.exec(readFileSync('/etc/passwd', 'utf8'));
  return nobody ? { uid: Number(nobody[1]), gid: Number(nobody[2]) } : null;
}

test('an event file the daemon may not open is said once, counted in /healthz and claudescope_tail_unreadable_files, and read from its start once it may', async (t) => {
  const home = tempDir(t);
  await writeRealEvents(home, 6);
  const events = join(home, 'events');
  const [file] = readdirSync(events).filter((f) => f.endsWith('.ndjson'));
  if (!file) throw new Error('no event file written');
  // The app's file: 0600 and another user's (as root: the daemon runs as nobody), or mode 000.
  const as = otherUser();
  if (as) {
    chmodSync(home, 0o755);
    for (const p of [home, events]) chownSync(p, as.uid, as.gid);
  } else {
    chmodSync(join(events, file), 0o000);
    // A user who may read it all the same (CAP_DAC_OVERRIDE) cannot show the case.
    try {
      closeSync(openSync(join(events, file), 'r'));
      t.log('skipped: this user reads mode-000 files and is not root (no other user to run the daemon as)');
      t.pass();
      return;
    } catch {
      // EACCES: the case this test is about
    }
  }
  const d = await startDaemon(t, home, [], 'node', {}, as ?? {});
  const gauge = async (): Promise<number> => sumOf(parseExposition(await (await fetch(`${d.url}/metrics`)).text()), 'claudescope_tail_unreadable_files');
  await until(async () => (await health(d.url))['unreadable_files'] === 1, 'the file counted as unreadable');
  t.is(await gauge(), 1);
  t.is((await health(d.url))['events_committed'], 0);
  // Several scans later, still said once.
  await new Promise((r) => setTimeout(r, 600));
  const said = d.stderr().split('\n').filter((l) => l.includes('cannot open an event file'));
  t.is(said.length, 1, d.stderr());
  t.true(said[0]!.includes('(EACCES)') && said[0]!.includes(file) && said[0]!.includes('its calls are not counted until the daemon can read it'), said[0]);

  // Access granted: every call of the file is counted, and the gauge goes back to 0.
  if (as) chownSync(join(events, file), as.uid, as.gid);
  else chmodSync(join(events, file), 0o600);
  await until(async () => (await health(d.url))['events_committed'] === 6, 'the file read once it may be');
  t.is((await health(d.url))['unreadable_files'], 0);
  t.is(await gauge(), 0);
  t.regex(d.stderr(), /an event file that could not be opened is read now/);
  d.child.kill('SIGTERM');
  t.is(await d.exit, 0);
});
