/** The alert engine's public surface, for the daemon and the CLI. */
export { createRuleEngine, EvaluationStoppedError } from './rule-engine.js';
export type { AlertView, EvaluationResult, RuleEngine, RuleEngineMetrics, RuleEngineOptions, RuleResult } from './rule-engine.js';
export { loadRules, ruleFilesIn } from './rule-loader.js';
export { RuleFileError, formatProblem, parseRuleFile } from './rule-schema.js';
export type { Budgets, Rule, RuleKind } from './rule-types.js';
export { StateDb } from './state-db.js';
export type { Silence, Matcher } from './state-db.js';
export { parseMatcher, formatMatcher } from './silences.js';
export { defaultRulesDir, alertStatePath } from './paths.js';
export { runRuleTests } from './rule-test.js';

/** The daemon config's budgets (`{ dailyUsd, monthlyUsd, perFeature }`) as the engine's {@link Budgets}. */
export function budgetsFromConfig(b: {
  dailyUsd: number | null; monthlyUsd: number | null;
  perFeature?: Record<string, { dailyUsd: number | null; monthlyUsd: number | null }>;
}, timeZone?: string): import('./rule-types.js').Budgets {
  const one = (x: { dailyUsd: number | null; monthlyUsd: number | null }) => ({
    ...(x.dailyUsd !== null ? { daily: x.dailyUsd } : {}), ...(x.monthlyUsd !== null ? { monthly: x.monthlyUsd } : {}),
  });
  return {
    ...one(b),
    features: Object.fromEntries(Object.entries(b.perFeature ?? {}).map(([k, v]) => [k, one(v)])),
    ...(timeZone !== undefined ? { timeZone } : {}),
  };
}
