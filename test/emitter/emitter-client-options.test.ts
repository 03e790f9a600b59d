/**
 * Every test of emitter.test.ts again, with clients hooked through `clientOptions()`, where the
 * SDK's call span (not the middleware alone) ends each call: both ways give the same events.
 */
(globalThis as { emitterTestMode?: 'clientOptions' }).emitterTestMode = 'clientOptions';
await import('./emitter.test.js');
