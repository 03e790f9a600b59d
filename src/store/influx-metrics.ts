/**
 * The InfluxDB sink's health as `claudescope_influx_*` metrics, copied from the sink's
 * cumulative counters at each scrape. `claudescope_influx_auth_failed` is 1 once InfluxDB
 * refused the credentials (the sink has stopped): alert on it.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { InfluxSinkHealth } from './influx-sink.js';

export function registerInfluxMetrics(registry: Registry, read: () => InfluxSinkHealth | undefined): void {
  const counter = (name: string, help: string, pick: (h: InfluxSinkHealth) => number): void => {
    new Counter({
      name, help, registers: [registry],
      collect() {
        this.reset();
        const h = read();
        if (h) this.inc(pick(h));
      },
    });
  };
  counter('claudescope_influx_points_written_total', 'Call points InfluxDB acknowledged', (h) => h.pointsWritten);
  counter('claudescope_influx_requests_total', 'Write requests sent to InfluxDB', (h) => h.requests);
  counter('claudescope_influx_retries_total', 'Write requests retried after 429, 5xx, a timeout or a network error', (h) => h.retries);
  counter('claudescope_influx_points_beyond_retention_total', 'Call points InfluxDB dropped as older than its retention policy (the rest of their batch was written)', (h) => h.beyondRetention);
  counter('claudescope_influx_dead_letters_total', 'Points InfluxDB refused for good (400/422, or 413 alone), recorded in the dead-letter file', (h) => h.deadLettered);
  new Counter<'class'>({
    name: 'claudescope_influx_write_errors_total', help: 'Failed write requests by class: retry, split (413), reject (400/422), auth (401/403)', labelNames: ['class'], registers: [registry],
    collect() {
      this.reset();
      const h = read();
      if (h) for (const [k, v] of Object.entries(h.errors)) this.inc({ class: k }, v);
    },
  });
  new Gauge({
    name: 'claudescope_influx_auth_failed', help: '1 when InfluxDB refused the credentials and the InfluxDB sink stopped', registers: [registry],
    collect() {
      const h = read();
      this.set(h?.authFailed ? 1 : 0);
    },
  });
  new Gauge({
    name: 'claudescope_influx_last_write_timestamp_seconds', help: 'Time of the last write InfluxDB acknowledged', registers: [registry],
    collect() {
      this.reset();
      const t = read()?.lastWriteMs;
      if (t !== null && t !== undefined) this.set(t / 1000);
    },
  });
}
