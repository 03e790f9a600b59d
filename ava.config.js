// Tests run the TypeScript sources through tsx. ava's worker threads do not apply
// `--import=tsx`, so each test file runs in a child process instead.
export default {
  files: ['test/**/*.test.ts'],
  extensions: { ts: 'module' },
  nodeArguments: ['--import=tsx'],
  workerThreads: false,
  timeout: '120s',
  concurrency: 2,
};
