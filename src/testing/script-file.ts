/**
 * Reads a `--script FILE` (JSON or YAML; YAML 1.2 reads JSON too) and validates it, with
 * errors that name the file, the line and the field:
 * `queue.yaml:4: queue[1].status: must be an integer from 100 to 599`.
 */
import { readFile } from 'node:fs/promises';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { ScriptFile } from './script-types.js';
import { InvalidScriptError, validateScriptFile } from './script-validate.js';
import { whyUnreadable } from '../fs-errors.js';

/** A script file that cannot be read, parsed or validated. */
export class ScriptFileError extends Error {
  override readonly name = 'ScriptFileError';
  readonly code = 'E_FAKE_SCRIPT_FILE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Parses and validates the text of a script file; `file` is only used in messages. */
export function parseScriptFile(text: string, file: string): ScriptFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const problem = doc.errors[0];
  if (problem) {
    const at = lineCounter.linePos(problem.pos[0]);
    throw new ScriptFileError(`${file}:${at.line}:${at.col}: not valid JSON or YAML: ${problem.message.split('\n')[0]}`);
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) throw new ScriptFileError(`${file}: the file is empty`);
  try {
    return validateScriptFile(value);
  } catch (err: unknown) {
    if (!(err instanceof InvalidScriptError)) throw err;
    // Walk back up the path to the nearest node that exists, for the line number.
    let line: number | undefined;
    for (let n = err.path.length; n >= 0 && line === undefined; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(err.path.slice(0, n), true);
      if (isNode(node) && node.range) line = lineCounter.linePos(node.range[0]).line;
    }
    throw new ScriptFileError(`${file}${line !== undefined ? `:${line}` : ''}: ${err.message}`, { cause: err });
  }
}

/** Reads and validates a script file. Throws {@link ScriptFileError}. */
export async function loadScriptFile(path: string): Promise<ScriptFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err: unknown) {
    throw new ScriptFileError(`${path}: cannot read the script file: ${whyUnreadable(err)}`, { cause: err });
  }
  return parseScriptFile(text, path);
}
