// Writes the CommonJS flavour of the declarations that package.json's `exports` give under
// `require`: each `dist/src/**/*.d.cts` is its `.d.ts` with its relative specifiers ending in
// `.cjs` instead of `.js`.
//
// Why: TypeScript reads a `.d.ts` of this package (`"type": "module"`) as an ES module, so the
// `@anthropic-ai/sdk` it names resolves to the SDK's ESM declarations (`.d.mts`), while an app
// compiled to CommonJS imports the SDK's CommonJS ones (`.d.ts`). The SDK's classes have
// private members, so TypeScript holds the two apart and `new Anthropic(clientOptions())` does
// not type-check there. A `.d.cts` is read as CommonJS, and what it imports resolves under
// `require` as the app's own imports do. The code stays the ES modules, which Node.js loads
// through `require` from 20.19.
//
// Only the declarations reachable from those entries are written, to keep the package small.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Every `require.types` of the exports map that names a `.d.cts`. */
const entries = Object.values(pkg.exports)
  .map((target) => (typeof target === 'object' && target !== null ? target.require?.types : undefined))
  .filter((types) => typeof types === 'string' && types.endsWith('.d.cts'))
  .map((types) => join(root, types.replace(/\.d\.cts$/, '.d.ts')));
if (entries.length === 0) throw new Error('package.json exports name no require types (.d.cts)');

// A quoted relative path ending in `.js`: in emitted declarations, a module specifier
// (`from './x.js'`, `import('./x.js')`).
const RELATIVE_JS = /(['"])(\.{1,2}\/[^'"\s]*)\.js\1/g;

const pending = [...entries];
const written = new Set();
while (pending.length > 0) {
  const file = pending.pop();
  if (written.has(file)) continue;
  written.add(file);
  if (!existsSync(file)) throw new Error(`${relative(root, file)} is missing: run tsc first`);
  const text = readFileSync(file, 'utf8').replace(RELATIVE_JS, (_, quote, path) => {
    pending.push(join(dirname(file), `${path}.d.ts`));
    return `${quote}${path}.cjs${quote}`;
  });
  writeFileSync(file.replace(/\.d\.ts$/, '.d.cts'), text);
}
