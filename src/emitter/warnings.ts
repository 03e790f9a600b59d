/**
 * The emitter's process warnings: a client it cannot record, or a folder it cannot write,
 * would otherwise fail silently, every call unrecorded. Each is a `process.emitWarning` (on stderr unless the app handles
 * 'warning' or runs with `--no-warnings`), once per process and code.
 */

/** The first `@anthropic-ai/sdk` whose clients take `middleware` (what `instrument()` needs). */
export const MIDDLEWARE_SINCE_SDK = '0.101.0';
/** The first `@anthropic-ai/sdk` whose clients take `openTelemetry` (what `clientOptions()` needs too). */
export const CALL_SPANS_SINCE_SDK = '0.134.0';

/** The codes of the emitter's process warnings. */
export const WARNING_CODES = {
  notAClient: 'CLAUDESCOPE_NOT_A_CLIENT',
  sdkWithoutMiddleware: 'CLAUDESCOPE_SDK_WITHOUT_MIDDLEWARE',
  sdkWithoutCallSpans: 'CLAUDESCOPE_SDK_WITHOUT_CALL_SPANS',
  middlewareReplaced: 'CLAUDESCOPE_MIDDLEWARE_REPLACED',
  configuredLate: 'CLAUDESCOPE_CONFIGURED_LATE',
  eventsDirUnwritable: 'CLAUDESCOPE_EVENTS_DIR_UNWRITABLE',
} as const;

const warned = new Set<string>();

/**
 * With `when` 'now' the warning goes to the same listeners at once, not on the next tick as
 * process.emitWarning() sends it: a warning given during the process's exit would be lost.
 */
export function warnOnce(code: (typeof WARNING_CODES)[keyof typeof WARNING_CODES], message: string, when: 'now' | 'later' = 'later'): void {
  if (warned.has(code)) return;
  warned.add(code);
  try {
    if (when === 'later') return process.emitWarning(`claudescope: ${message}`, { code });
    const warning = Object.assign(new Error(`claudescope: ${message}`), { name: 'Warning', code });
    process.emit('warning', warning);
  } catch {
    // A warning must never fail the app (an app's 'warning' handler runs later, on its own).
  }
}
