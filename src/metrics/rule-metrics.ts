/**
 * The alert engine's own counters as `claudescope_*` metrics, copied from the engine at each
 * scrape (the engine keeps the cumulative numbers; nothing here counts twice).
 *
 * The source is structural, so this module needs nothing of `src/rules`.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the metrics read of the rule engine (its `metrics()`). */
export interface RuleMetricsSnapshot {
  evaluations: number;
  ruleFailures: number;
  skippedTicks: number;
  lastEvaluationMs: number;
  alertsPending: number;
  alertsFiring: number;
  notifications: Record<string, { sent: number; failed: number; retries: number; permanentFailures: number }>;
}

/** Registers the rule-engine metrics; `read` returns null while no engine runs. */
export function registerRuleMetrics(registry: Registry, read: () => RuleMetricsSnapshot | null): void {
  const counter = (name: string, help: string, pick: (m: RuleMetricsSnapshot) => number): void => {
    new Counter({
      name, help, registers: [registry],
      collect() {
        this.reset();
        const m = read();
        if (m) this.inc(pick(m));
      },
    });
  };
  counter('claudescope_rule_evaluations_total', 'Evaluations of the alert rules (every rule, once per tick)', (m) => m.evaluations);
  counter('claudescope_rule_evaluation_failures_total', 'Rule evaluations that failed (the rule keeps its state)', (m) => m.ruleFailures);
  counter('claudescope_rule_skipped_ticks_total', 'Ticks skipped because the previous evaluation was still running', (m) => m.skippedTicks);
  new Gauge({
    name: 'claudescope_rule_last_evaluation_duration_seconds', help: 'How long the last evaluation of every rule took', registers: [registry],
    collect() {
      this.reset();
      const m = read();
      if (m) this.set(m.lastEvaluationMs / 1000);
    },
  });
  new Gauge<'state'>({
    name: 'claudescope_alerts', help: 'Alerts by state (pending: condition holds, waiting for its for: duration)', labelNames: ['state'], registers: [registry],
    collect() {
      this.reset();
      const m = read();
      if (!m) return;
      this.set({ state: 'pending' }, m.alertsPending);
      this.set({ state: 'firing' }, m.alertsFiring);
    },
  });
  const perNotifier = (name: string, help: string, pick: (c: RuleMetricsSnapshot['notifications'][string]) => number): void => {
    new Counter<'notifier'>({
      name, help, labelNames: ['notifier'], registers: [registry],
      collect() {
        this.reset();
        const m = read();
        if (!m) return;
        for (const [notifier, c] of Object.entries(m.notifications)) this.inc({ notifier }, pick(c));
      },
    });
  };
  perNotifier('claudescope_notifications_sent_total', 'Notifications delivered, per notifier', (c) => c.sent);
  perNotifier('claudescope_notifications_failed_total', 'Notifications given up on after their retries, per notifier', (c) => c.failed);
  perNotifier('claudescope_notification_retries_total', 'Delivery retries, per notifier', (c) => c.retries);
}
