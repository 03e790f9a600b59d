/** The emitter's process warnings (codes CLAUDESCOPE_…) emitted while `fn` runs (they are emitted on the next tick). */
export async function warningsDuring(fn: () => unknown): Promise<NodeJS.ErrnoException[]> {
  const seen: NodeJS.ErrnoException[] = [];
  const listener = (w: Error): void => void seen.push(w as NodeJS.ErrnoException);
  process.on('warning', listener);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen.filter((w) => w.code?.startsWith('CLAUDESCOPE_'));
}
