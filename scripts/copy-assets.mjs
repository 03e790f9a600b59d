// Copies the non-TypeScript files the build needs (JSON schema, price catalog, web page)
// from src/ into dist/src/, keeping their paths, and makes the CLI executable, as an
// installed bin is.
import { chmodSync, cpSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const assets = ['src/event/event.schema.json', 'src/pricing/catalog.json', 'src/daemon/web'];
for (const rel of assets) {
  const from = join(root, rel);
  if (existsSync(from)) cpSync(from, join(root, 'dist', rel), { recursive: true });
}
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
if (existsSync(cli)) chmodSync(cli, 0o755);
