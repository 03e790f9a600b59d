/**
 * `claudescope fake-api`: runs the fake Claude API until SIGINT or SIGTERM. Prints one line
 * on stdout, `fake Claude API listening on http://HOST:PORT`, then logs one line per
 * request on stderr (method, path, status, outcome; never headers, so never a key).
 */
import type { Argv, CommandModule } from 'yargs';
import { loadScriptFile } from '../../testing/script-file.js';
import { startFakeApi } from '../../testing/fake-api.js';
import type { RecordedRequest } from '../../testing/recorded-request.js';
import type { ScriptFile } from '../../testing/script-types.js';
import { portOption } from '../options.js';
import { untilSignal } from '../signals.js';

interface FakeApiArgs {
  /** As typed (checked by {@link portOption}), or the default 0. */
  port: string | number;
  host: string;
  script?: string | undefined;
  quiet: boolean;
}

function logLine(r: RecordedRequest): string {
  const ms = (r.endedAt ?? Date.now()) - r.startedAt;
  const stream = r.stream ? ` stream events=${r.eventsSent}` : '';
  return `${new Date(r.startedAt).toISOString()} ${r.method} ${r.path} ${r.status} ${r.outcome}${stream} ${ms}ms ${r.requestId}\n`;
}

const command: CommandModule<object, FakeApiArgs> = {
  command: 'fake-api',
  describe: 'Run the fake Claude API (for tests and demos, no key needed)',
  builder: (y: Argv) =>
    y
      .option('port', { type: 'string', default: 0, requiresArg: true, describe: 'Port to listen on (0: any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'Address to bind' })
      .option('script', {
        type: 'string',
        describe: 'JSON or YAML file: an array of scripts answered in order, or { queue, default }',
      })
      .option('quiet', { type: 'boolean', default: false, describe: 'Do not log requests on stderr' })
      .example('$0 fake-api --port 8089', 'then: new Anthropic({ apiKey: "test", baseURL: "http://127.0.0.1:8089" })')
      .example('$0 fake-api --script retries.yaml', 'answer with the scripted queue, then the default reply') as unknown as Argv<FakeApiArgs>,
  handler: async (argv) => {
    const port = portOption('--port', argv.port);
    const file: ScriptFile = argv.script ? await loadScriptFile(argv.script) : {};
    let api;
    try {
      api = await startFakeApi({
        port,
        host: argv.host,
        ...(file.queue ? { queue: file.queue } : {}),
        ...(file.default ? { defaultScript: file.default } : {}),
        ...(argv.quiet ? {} : { onRequestEnd: (r: RecordedRequest) => void process.stderr.write(logLine(r)) }),
      });
    } catch (err: unknown) {
      const code = (err as NodeJS.ErrnoException).code;
      // Said as the daemon says it: Node's own words repeat the address and name no remedy.
      const why = code === 'EADDRINUSE' ? 'the port is in use (choose another with --port, or --port 0 for any free one)' : `(${code ?? 'error'}) ${err instanceof Error ? err.message : String(err)}`;
      throw new Error(`cannot listen on ${argv.host}:${port}: ${why}`, { cause: err });
    }
    process.stdout.write(`fake Claude API listening on ${api.url}\n`);
    const signal = await untilSignal();
    await api.close();
    if (!argv.quiet) process.stderr.write(`fake Claude API stopped (${signal})\n`);
  },
};

export default command;
