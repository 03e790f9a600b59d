/**
 * Every `claudescope <command> --flag` the README and docs/ show names a flag that command takes
 * (as its --help lists it), so a renamed or removed flag cannot linger in the docs.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const COMMANDS = ['daemon', 'report', 'demo', 'rules', 'alerts', 'silence', 'fake-api', 'pricing', 'reprice', 'reconcile'];
/** Commands whose subcommand has a --help of its own. */
const SUBCOMMANDS: Record<string, string[]> = { pricing: ['explain'] };

/** What `claudescope <args> --help` prints. */
function helpText(args: string[]): string {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`claudescope ${args.join(' ')} --help failed: ${r.stderr}`);
  return r.stdout;
}

function helpFlags(args: string[]): Set<string> {
  return new Set([...helpText(args).matchAll(/^\s+(?:-\w, )?--([a-z][a-z-]*)/gm)].map((m) => m[1]!));
}

/** `claudescope …` command lines of the README and docs/: those of shell and plain blocks, and inline code. */
function documentedCommands(): { file: string; line: string }[] {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const out: { file: string; line: string }[] = [];
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    // Shell blocks, and plain ones (a synopsis, its lines continued by indented ones).
    const shell = [...text.matchAll(/^```(?:sh|bash)?\n([\s\S]*?)^```$/gm)]
      .flatMap((m) => m[1]!.replace(/\n\s+(?=\[)/g, ' ').split('\n').map((l) => l.replace(/\s+#.*$/, '')));
    const inline = [...text.matchAll(/`(claudescope [^`]+)`/g)].map((m) => m[1]!);
    for (const l of [...shell, ...inline]) {
      const at = l.search(/(^|[\s=])claudescope /);
      if (at >= 0) out.push({ file, line: l.slice(l.indexOf('claudescope ', at)) });
    }
  }
  return out;
}

test('every flag the docs show is one its command takes', (t) => {
  const cache = new Map<string, Set<string>>();
  let checked = 0;
  for (const { file, line } of documentedCommands()) {
    const words = line.split(/\s+/);
    const command = words[1]!;
    if (!COMMANDS.includes(command)) continue;
    const sub = SUBCOMMANDS[command]?.includes(words[2] ?? '') ? [command, words[2]!] : [command];
    const key = sub.join(' ');
    if (!cache.has(key)) cache.set(key, helpFlags(sub));
    const known = cache.get(key)!;
    for (const w of words.slice(2)) {
      const flag = /^\[?--([a-z][a-z-]*)/.exec(w)?.[1];
      if (flag === undefined) continue;
      checked++;
      t.true(known.has(flag) || (flag.startsWith('no-') && known.has(flag.slice(3))), `${file}: claudescope ${key} has no --${flag} (in "${line}")`);
    }
  }
  t.true(checked > 30, `only ${checked} flags found in the docs`);
});

test('every command that takes --home says the same of it: the folder, what it reads there, CLAUDESCOPE_HOME, and its default', (t) => {
  const seen: string[] = [];
  for (const args of [...COMMANDS.map((c) => [c]), ...Object.entries(SUBCOMMANDS).flatMap(([c, subs]) => subs.map((s) => [c, s]))]) {
    // The option's text, continued on the lines yargs wraps it onto.
    const home = /^\s+--home\s+([\s\S]*?)(?=^\s+-)/m.exec(`${helpText(args)}\n  -`)?.[1]?.replace(/\s+/g, ' ').trim();
    if (home === undefined) continue;
    seen.push(args.join(' '));
    if (args[0] === 'demo') {
      t.regex(home, /\[default: a new temporary folder\]$/);
      continue;
    }
    t.regex(home, /^(?:eval: )?[Ff]older with \S.* \(env CLAUDESCOPE_HOME\) ?\[string\] \[default: ~\/\.claudescope\]$/, `claudescope ${args.join(' ')} --help: ${home}`);
  }
  t.true(seen.length >= 10, `--home found in only ${seen.join(', ')}`);
});
