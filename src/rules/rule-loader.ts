/** Loading rule files from folders and files; every file checked, all problems reported together. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { RuleFileError, parseRuleFile, type RuleProblem } from './rule-schema.js';
import type { Rule } from './rule-types.js';
import { whyUnreadable } from '../fs-errors.js';

/** `*.yaml` / `*.yml` files directly in a folder (not its `prometheus/` subfolder), sorted. */
export function ruleFilesIn(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isFile() && /\.ya?ml$/.test(d.name) && !/\.test\.ya?ml$/.test(d.name))
    .map((d) => join(dir, d.name))
    .sort();
}

/** Loads the rules of files and folders; throws {@link RuleFileError} listing every problem. */
export function loadRules(paths: string[]): Rule[] {
  const problems: RuleProblem[] = [];
  const rules: Rule[] = [];
  const files: string[] = [];
  for (const p of paths) {
    let isDir: boolean;
    try {
      isDir = statSync(p).isDirectory();
    } catch (err: unknown) {
      problems.push({ file: p, line: 1, field: '(file)', message: `cannot read: ${whyUnreadable(err)}` });
      continue;
    }
    files.push(...(isDir ? ruleFilesIn(p) : [p]));
  }
  const seen = new Map<string, string>();
  for (const file of files) {
    try {
      for (const r of parseRuleFile(readFileSync(file, 'utf8'), file)) {
        const other = seen.get(r.name);
        if (other !== undefined) problems.push({ file, line: r.source.line, field: 'alert', message: `duplicate alert name ${r.name} (also in ${other})` });
        seen.set(r.name, `${file}:${r.source.line}`);
        rules.push(r);
      }
    } catch (err: unknown) {
      if (err instanceof RuleFileError) problems.push(...err.problems);
      else problems.push({ file, line: 1, field: '(file)', message: err instanceof Error ? err.message : String(err) });
    }
  }
  if (problems.length > 0) throw new RuleFileError(problems);
  return rules;
}
