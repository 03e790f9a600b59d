/**
 * Model id normalisation: every spelling of a Claude model that can appear in an event
 * (aliases, dated ids, Bedrock and Vertex ids, Claude Code's `[1m]` suffix) maps to one
 * canonical id, used for prices and for the `model` metric label.
 *
 * Only spellings with a documented rule are rewritten. A dated id the catalog does not list
 * is NOT mapped to its undated alias: a new snapshot may be priced differently, and pricing
 * an unknown model as another is one of the bugs this engine exists to avoid.
 */
import { loadCatalog } from './catalog.js';

/** Where a model id spelling came from. */
export type ModelIdPlatform = 'anthropic' | 'bedrock' | 'vertex';

/** A model id taken apart. */
export interface ParsedModelId {
  /** The id as given. */
  raw: string;
  /** Canonical id when the catalog (or the given alias map) knows it, else the cleaned spelling. */
  canonical: string;
  /** Whether `canonical` is a model the alias map knows. */
  known: boolean;
  platform: ModelIdPlatform;
  /**
   * For Bedrock spellings: `global` for a `global.` inference profile, `regional` for a
   * geographic profile (`us.`, `eu.`, `apac.`, `jp.`, `au.` …) or an in-region id (no prefix),
   * which cost 10 % more for recent models. Null for other platforms.
   */
  bedrockEndpoint: 'global' | 'regional' | null;
  /** The id carried Claude Code's `[1m]` (1M context) suffix. */
  oneMillionContext: boolean;
}

/**
 * Bedrock model ids and inference profiles:
 * `[<geo>.]anthropic.<id>[-v<N>[:<M>]][:<ctx>k]`, e.g. `us.anthropic.claude-opus-4-1-20250805-v1:0`,
 * `global.anthropic.claude-sonnet-4-5-20250929-v1:0`, `anthropic.claude-opus-4-6-v1`.
 * The geo prefixes `us`, `eu`, `global` are documented; others (apac, jp, au, ca, us-gov…)
 * follow the same shape [UNVERIFIED], so any short prefix is accepted.
 */
const BEDROCK_RE = /^(?:([a-z]{2,6}(?:-[a-z]{2,6})?)\.)?anthropic\.(claude-[a-z0-9.-]+?)(?:-v\d+(?::\d+)?)?(?::\d+k)?$/;
/** Vertex AI: `claude-opus-4@20250514` → `claude-opus-4-20250514`; `@default`/`@latest` dropped. */
const VERTEX_RE = /^(claude-[a-z0-9.-]+)@(\d{8}|default|latest)$/;
const ONE_M_SUFFIX = '[1m]';

/** Bound on memoised spellings; ids come from events, so the set must not grow forever. */
const MEMO_MAX_ENTRIES = 4096;

/**
 * Parses one spelling. `aliases` maps every known spelling (canonical ids included) to its
 * canonical id. Pure; callers memoise.
 */
export function parseModelIdWith(raw: string, aliases: ReadonlyMap<string, string>): ParsedModelId {
  let s = raw.trim().toLowerCase();
  let oneMillionContext = false;
  if (s.endsWith(ONE_M_SUFFIX)) {
    s = s.slice(0, -ONE_M_SUFFIX.length).trimEnd();
    oneMillionContext = true;
  }
  let platform: ModelIdPlatform = 'anthropic';
  let bedrockEndpoint: 'global' | 'regional' | null = null;
  // A Bedrock ARN (foundation model or system inference profile): the id is after the last '/'.
  if (s.startsWith('arn:')) {
    s = s.slice(s.lastIndexOf('/') + 1);
    platform = 'bedrock';
  }
  const bedrock = BEDROCK_RE.exec(s);
  if (bedrock) {
    platform = 'bedrock';
    bedrockEndpoint = bedrock[1] === 'global' ? 'global' : 'regional';
    s = bedrock[2] ?? s;
  } else {
    const vertex = VERTEX_RE.exec(s);
    if (vertex) {
      platform = 'vertex';
      const base = vertex[1] ?? s;
      const version = vertex[2] ?? '';
      s = /^\d{8}$/.test(version) ? `${base}-${version}` : base;
    }
  }
  const canonical = aliases.get(s);
  return {
    raw,
    canonical: canonical ?? s,
    known: canonical !== undefined,
    platform,
    bedrockEndpoint,
    oneMillionContext,
  };
}

/**
 * A memoising parser over one alias map. Lookups of a seen spelling cost one Map access;
 * the memo is cleared when it reaches {@link MEMO_MAX_ENTRIES} distinct spellings.
 */
export class ModelIdParser {
  readonly #aliases: ReadonlyMap<string, string>;
  readonly #memo = new Map<string, ParsedModelId>();

  constructor(aliases: ReadonlyMap<string, string>) {
    this.#aliases = aliases;
  }

  parse(raw: string): ParsedModelId {
    let hit = this.#memo.get(raw);
    if (hit === undefined) {
      hit = parseModelIdWith(raw, this.#aliases);
      if (this.#memo.size >= MEMO_MAX_ENTRIES) this.#memo.clear();
      this.#memo.set(raw, hit);
    }
    return hit;
  }
}

let defaultParser: ModelIdParser | null = null;

function catalogParser(): ModelIdParser {
  if (defaultParser === null) defaultParser = new ModelIdParser(loadCatalog().aliases);
  return defaultParser;
}

/**
 * Takes a model id apart with the built-in catalog's aliases (overrides not included: use
 * the pricer's `parseModel` for those).
 */
export function parseModelId(raw: string): ParsedModelId {
  return catalogParser().parse(raw);
}

/**
 * The canonical model id for any spelling, for the daemon's `model` label.
 *
 * - aliases and dated ids: `claude-sonnet-4-5` → `claude-sonnet-4-5-20250929`,
 *   `claude-3-5-sonnet-latest` → `claude-3-5-sonnet-20241022`
 * - Bedrock: `us.anthropic.claude-opus-4-1-20250805-v1:0` → `claude-opus-4-1-20250805`,
 *   `anthropic.claude-opus-4-6-v1` → `claude-opus-4-6`
 * - Vertex: `claude-opus-4@20250514` → `claude-opus-4-20250514`
 * - Claude Code: `claude-opus-4-6[1m]` → `claude-opus-4-6`
 *
 * An id the catalog does not know comes back cleaned (lower case, platform spelling
 * removed) but otherwise unchanged; `null`/empty stays `null`. Memoised.
 *
 * @example normalizeModel('global.anthropic.claude-sonnet-4-5-20250929-v1:0') // 'claude-sonnet-4-5-20250929'
 */
export function normalizeModel(id: string | null | undefined): string | null {
  if (typeof id !== 'string' || id.trim() === '') return null;
  return catalogParser().parse(id).canonical;
}
