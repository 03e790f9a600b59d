/**
 * Shared by the command registry (src/cli/main.ts) and the builders of nested commands
 * (`pricing explain`), which yargs runs itself, out of the registry's reach.
 */
import type { Argv } from 'yargs';

/**
 * Every option that takes one value requires it: yargs reads `--since` alone as the option's
 * default (or an empty string), so `report --since` ran over the last 24 h as if nothing had
 * been asked. Array options (any number of values) and those with their own `nargs` are left
 * as declared.
 */
export function valuesRequired(y: Argv): Argv {
  const o = (y as unknown as { getOptions(): unknown }).getOptions() as { string: string[]; number: string[]; boolean: string[]; array: string[]; choices: Record<string, unknown>; narg: Record<string, number> };
  const skip = new Set([...o.boolean, ...o.array, ...Object.keys(o.narg)]);
  const keys = [...new Set([...o.string, ...o.number, ...Object.keys(o.choices)])].filter((k) => !skip.has(k));
  return keys.length > 0 ? y.requiresArg(keys) : y;
}
