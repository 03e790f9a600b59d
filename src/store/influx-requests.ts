/**
 * The requests to InfluxDB in progress of one writer or query interface, each ended by its
 * timeout, by {@link InfluxRequests.close} (a stop) or by its caller's signal, whichever
 * comes first.
 *
 * One AbortController a request, and the listeners on longer-lived signals removed with the
 * request: `AbortSignal.any` leaves one on the caller's signal per request until it aborts,
 * and listeners on one signal of the interface's (a dashboard's requests run a dozen queries
 * at once) pass the 10 past which Node.js warns of a memory leak on the daemon's stderr.
 *
 * @example
 * const requests = new InfluxRequests(10_000);
 * const text = await requests.run((signal, cancelled) => fetch(url, { signal }).then((r) => r.text()), callerSignal);
 * requests.close(); // a stop: every request in progress rejects
 */
export class InfluxRequests {
  #closed = false;
  readonly #inFlight = new Set<() => void>();

  constructor(private readonly timeoutMs: number) {}

  /**
   * Runs one request under its own signal. `cancelled()` tells the request's own error
   * handling whether an abort came from close() or the caller (not from the timeout). After
   * close(), or with the caller's signal already aborted, the signal starts aborted.
   */
  async run<T>(request: (signal: AbortSignal, cancelled: () => boolean) => Promise<T>, caller?: AbortSignal): Promise<T> {
    const ac = new AbortController();
    let cancel = false;
    const onCancel = (): void => {
      cancel = true;
      ac.abort(new DOMException('the request was cancelled', 'AbortError'));
    };
    const timer = setTimeout(() => ac.abort(new DOMException(`no answer within ${this.timeoutMs} ms`, 'TimeoutError')), this.timeoutMs);
    timer.unref();
    if (this.#closed || caller?.aborted === true) onCancel();
    this.#inFlight.add(onCancel);
    caller?.addEventListener('abort', onCancel, { once: true });
    try {
      return await request(ac.signal, () => cancel);
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(onCancel);
      caller?.removeEventListener('abort', onCancel);
    }
  }

  /** Ends the requests in progress (they reject) and every later one at once. */
  close(): void {
    this.#closed = true;
    for (const cancel of this.#inFlight) cancel();
  }
}
