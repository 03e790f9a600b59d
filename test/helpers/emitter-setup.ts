import type { ExecutionContext } from 'ava';
import { createEmitter } from '../../src/index.js';
import { startFakeApi, type FakeApi } from '../../src/testing/index.js';
import { tempDir } from './events.js';

export interface EmitterSetup {
  api: FakeApi;
  dir: string;
  emitter: ReturnType<typeof createEmitter>;
}

/** The fake Claude API and an emitter writing to a temporary folder, both closed when the test ends. */
export async function fakeApiAndEmitter(t: ExecutionContext): Promise<EmitterSetup> {
  const api = await startFakeApi();
  t.teardown(() => api.close());
  const dir = tempDir(t);
  const emitter = createEmitter({ dir, app: 'test', flushIntervalMs: 5 });
  t.teardown(() => emitter.close());
  return { api, dir, emitter };
}
