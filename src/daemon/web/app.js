// The claudescope dashboard: reads the daemon's JSON API (docs/dashboard.md) and draws it with uPlot.
// Plain ES module, no build step. Everything it fetched and charted is kept on `window.dashboard`
// (the browser tests compare it, and the figures on the page, with the store).
import * as fmt from './format.js';

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
};

const TOKEN_KEY = 'claudescope-token';
const THEME_KEY = 'claudescope-theme';
const RANGES_MS = { '15m': 15 * 60e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
const PALETTE = ['#d97757', '#5b8fc7', '#7d9a55', '#b672a8', '#d4a53c', '#4fa3a5', '#a0785a', '#8c8cd9', '#c45c5c', '#6f8f8f'];

// callsList: which list of recent calls the table holds (a new window or filter starts a new one);
// moreFor: the list whose next page is being fetched, so a second click does not fetch it again.
const state = { generation: 0, cursor: null, timer: null, callsList: 0, moreFor: null };
const dashboard = (window.dashboard = { window: null, summary: null, series: null, ratelimits: null, alerts: null, reconcile: null, calls: [], charts: {}, generation: 0 });

// ---------- API access, with the token asked once per tab ----------

let tokenPrompt = null;
function askToken(refused) {
  tokenPrompt ??= new Promise((resolve) => {
    const dialog = $('#token-dialog');
    $('#token-error').hidden = !refused;
    $('#token-input').value = '';
    $('#token-form').onsubmit = (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, $('#token-input').value.trim());
      dialog.close();
      tokenPrompt = null;
      resolve();
    };
    document.body.dataset.auth = 'asking';
    if (!dialog.open) dialog.showModal();
  });
  return tokenPrompt;
}

async function api(path) {
  for (;;) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const res = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: 'no-store' }).catch(() => {
      // The browser says only "Failed to fetch": no answer at all, the daemon stopped or is unreachable.
      throw new Error('the daemon did not answer (stopped, or unreachable)');
    });
    if (res.status === 401) {
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      await askToken(Boolean(token));
      continue;
    }
    document.body.dataset.auth = 'ok';
    const body = await res.json();
    if (!res.ok) throw new Error(body.message ?? `HTTP ${res.status}`);
    return body;
  }
}

// ---------- The window ----------

function toLocalInput(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 16);
}

/** The window every request of one refresh shares: absolute epoch ms. */
function currentWindow() {
  const range = $('#range').value;
  if (range === 'custom') {
    const from = Date.parse($('#from').value);
    const to = Date.parse($('#to').value);
    return { from, to, range };
  }
  const to = Date.now();
  return { from: to - RANGES_MS[range], to, range };
}

// ---------- Theme ----------

function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}
function effectiveTheme() {
  return document.documentElement.dataset.theme ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
}
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

// ---------- Tiles ----------

function tile(id, value, text, sub, level = '', meter = null) {
  const t = $(`#${id}`);
  t.dataset.value = value === null || value === undefined ? '' : String(value);
  t.classList.remove('warn', 'bad', 'good');
  if (level) t.classList.add(level);
  $('.value', t).textContent = text;
  $('.sub', t).textContent = sub;
  const m = $('.meter > span', t);
  if (m) {
    m.parentElement.hidden = meter === null;
    if (meter !== null) m.style.width = `${Math.min(100, Math.max(0, meter * 100)).toFixed(1)}%`;
  }
}

const budgetLevel = (share) => (share === null ? '' : share >= 1 ? 'bad' : share >= 0.8 ? 'warn' : 'good');

function renderTiles(s) {
  const sp = s.spend;
  const unpricedNote = (n) => (n > 0 ? ` · ${fmt.count(n)} unpriced` : '');
  // Spend unknown (every call unpriced) is null: no share of a budget, and money() says "unpriced".
  const share = (usd, budget) => (budget && usd !== null ? usd / budget : null);
  const dayShare = share(sp.today_usd, sp.budget_daily_usd);
  tile('tile-spend-today', sp.today_usd, fmt.money(sp.today_usd),
    (sp.budget_daily_usd !== null ? `${fmt.percent(dayShare)} of ${fmt.money(sp.budget_daily_usd)} daily budget` : 'no daily budget set') + unpricedNote(sp.today_unpriced_calls),
    budgetLevel(dayShare), dayShare);
  const monthShare = share(sp.projected_month_usd, sp.budget_monthly_usd);
  tile('tile-spend-month', sp.month_usd, fmt.money(sp.month_usd),
    `projected ${fmt.money(sp.projected_month_usd)}` + (sp.budget_monthly_usd !== null ? ` of ${fmt.money(sp.budget_monthly_usd)}` : ' (no monthly budget)') + unpricedNote(sp.month_unpriced_calls),
    budgetLevel(monthShare), share(sp.month_usd, sp.budget_monthly_usd));
  $('#tile-spend-month').dataset.projected = String(sp.projected_month_usd);
  // Unknown (every call unpriced) is not $0: money() says "unpriced"; no calls at all is $0.
  tile('tile-calls', s.calls, fmt.count(s.calls), `${fmt.count(s.errors)} errors · ${fmt.money(s.calls > 0 ? s.cost_usd : 0)} in window${unpricedNote(s.unpriced_calls)}`);
  const e = s.errors_by_kind;
  tile('tile-error-rate', s.error_rate, fmt.percent(s.error_rate), `429: ${fmt.count(e['429'])} · 529: ${fmt.count(e['529'])} · other: ${fmt.count(e.other)}`,
    s.error_rate === null ? '' : s.error_rate > 0.05 ? 'bad' : s.error_rate > 0.01 ? 'warn' : 'good');
  tile('tile-p99', s.latency_ms.p99, fmt.duration(s.latency_ms.p99), `p50 ${fmt.duration(s.latency_ms.p50)} · p95 ${fmt.duration(s.latency_ms.p95)}`);
  for (const dim of ['requests', 'tokens']) {
    const h = s.headroom[dim];
    tile(`tile-headroom-${dim}`, h ? h.ratio : null, h ? fmt.percent(h.ratio) : '–',
      h ? `${fmt.count(h.remaining)} of ${fmt.count(h.limit)} left · ${h.model}` : 'no rate-limit headers yet',
      h ? (h.ratio < 0.1 ? 'bad' : h.ratio < 0.25 ? 'warn' : 'good') : '');
  }
  tile('tile-alerts', s.alerts.firing, fmt.count(s.alerts.firing), `${fmt.count(s.alerts.pending)} pending`, s.alerts.firing > 0 ? 'bad' : 'good');
  tile('tile-cache', s.cache.saved_usd, s.cache.saved_usd === null ? '–' : fmt.money(s.cache.saved_usd), `cache hit ratio ${fmt.percent(s.cache.hit_ratio)}`);
  $('#empty').hidden = !(s.calls === 0 && s.spend.month_calls === 0);
}

// ---------- Charts ----------

function destroyCharts() {
  for (const c of Object.values(dashboard.charts)) c.plot?.destroy();
  dashboard.charts = {};
}

/**
 * One uPlot chart. `series`: [{ label, values, format }]; `stacked` draws cumulative filled areas
 * (uPlot has no stacking of its own) while the legend shows each series' own value.
 */
function chart(id, t, series, { stacked = false, format = fmt.count, axisFormat = format } = {}) {
  const box = $(`#${id}`);
  box.replaceChildren();
  const raw = series.map((s) => s.values);
  const hasData = raw.some((v) => v.some((x) => x !== null && x !== 0));
  dashboard.charts[id] = { t, series: Object.fromEntries(series.map((s) => [s.label, s.values])), plot: null };
  if (!hasData) {
    box.append(el('p', { class: 'chart-empty' }, 'No data in this window'));
    return;
  }
  let data = raw;
  if (stacked) {
    const acc = new Array(t.length).fill(0);
    data = raw.map((v) => v.map((x, i) => (acc[i] += x ?? 0)));
  }
  const fg = cssVar('--muted');
  const grid = cssVar('--grid');
  const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif' };
  const opts = {
    width: Math.max(240, box.clientWidth),
    height: 200,
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
    scales: { x: { time: true } },
    axes: [axis, { ...axis, size: 64, values: (_u, ticks) => ticks.map((v) => axisFormat(v)) }],
    series: [{ value: (_u, v) => (v === null ? '–' : fmt.time(v * 1000)) }, ...series.map((s, i) => {
      const color = s.color ?? PALETTE[i % PALETTE.length];
      return {
        label: s.label, stroke: color, width: 1.5,
        fill: stacked ? `${color}cc` : s.fill ? `${color}33` : undefined,
        // Isolated values (sparse traffic) would be invisible as lines: show them as points.
        spanGaps: false, points: { show: t.length < 60 || s.values.filter((x) => x !== null && x !== 0).length < 24, size: 5 },
        value: (_u, _v, _si, idx) => (idx === null ? '–' : (s.format ?? format)(raw[i][idx])),
        scale: s.scale ?? 'y',
      };
    })],
  };
  if (series.some((s) => s.scale === 'y2')) {
    const s2 = series.find((s) => s.scale === 'y2');
    opts.axes.push({ ...axis, scale: 'y2', side: 1, size: 64, grid: { show: false }, values: (_u, ticks) => ticks.map((v) => (s2.format ?? format)(v)) });
  }
  // Stacked: later series are drawn over earlier ones, so draw the running totals from the top down.
  const order = stacked ? series.map((_, i) => i).reverse() : series.map((_, i) => i);
  if (stacked) {
    opts.series = [opts.series[0], ...order.map((i) => opts.series[i + 1])];
    data = order.map((i) => data[i]);
  }
  const plot = new uPlot(opts, [t.map((x) => x / 1000), ...data], box);
  dashboard.charts[id].plot = plot;
}

function renderCharts(ts) {
  destroyCharts();
  const t = ts.t;
  const costNames = Object.keys(ts.cost_usd.series).sort((a, b) => sum(ts.cost_usd.series[b]) - sum(ts.cost_usd.series[a]));
  $('#cost-by').textContent = `by ${ts.cost_usd.stack_by}`;
  chart('chart-cost', t, costNames.map((n) => ({ label: n, values: ts.cost_usd.series[n] })), { stacked: true, format: fmt.money });
  chart('chart-tokens', t, [
    { label: 'input', values: ts.tokens.input }, { label: 'output', values: ts.tokens.output },
    { label: 'cache read', values: ts.tokens.cache_read }, { label: 'cache write', values: ts.tokens.cache_write },
  ], { format: fmt.tokens });
  chart('chart-calls', t, [
    { label: 'calls', values: ts.calls.calls, color: '#5b8fc7', fill: true },
    { label: '429', values: ts.calls.errors_429, color: '#d4a53c' },
    { label: '529', values: ts.calls.errors_529, color: '#c45c5c' },
    { label: 'other errors', values: ts.calls.errors_other, color: '#b672a8' },
  ]);
  const pct = (o, prefix) => [
    { label: `${prefix}p50`, values: o.p50, color: '#7d9a55' }, { label: `${prefix}p95`, values: o.p95, color: '#d4a53c' }, { label: `${prefix}p99`, values: o.p99, color: '#c45c5c' },
  ];
  chart('chart-latency', t, pct(ts.latency_ms, ''), { format: fmt.duration });
  chart('chart-ttft', t, pct(ts.ttft_ms, ''), { format: fmt.duration });
  chart('chart-cache', t, [
    { label: 'hit ratio', values: ts.cache.hit_ratio, color: '#4fa3a5', format: fmt.percent },
    { label: 'saved', values: ts.cache.saved_usd, color: '#7d9a55', format: fmt.money, scale: 'y2' },
  ], { format: fmt.percent });
}

const sum = (a) => a.reduce((x, y) => x + (y ?? 0), 0);

// ---------- Tables ----------

function renderRateLimits(r) {
  const body = $('#ratelimits tbody');
  body.replaceChildren(...r.rows.map((x) => {
    const pctText = x.headroom === null ? '–' : fmt.percent(x.headroom);
    const level = x.headroom === null ? '' : x.headroom < 0.1 ? 'bad' : x.headroom < 0.25 ? 'warn' : 'good';
    return el('tr', {}, el('td', {}, x.model), el('td', {}, x.dimension.replace('_', ' ')), el('td', { class: 'num' }, fmt.count(x.remaining)),
      el('td', { class: 'num' }, fmt.count(x.limit)),
      el('td', {}, el('span', { class: `hbar ${level}`, title: pctText }, el('span', { style: `width:${((x.headroom ?? 0) * 100).toFixed(1)}%` })), ' ', pctText),
      el('td', {}, fmt.ago(x.seen_at)));
  }));
  $('#ratelimits-panel .empty-row').hidden = r.rows.length > 0;
}

function formatRuleValue(rule, v) {
  if (v === null || v === undefined) return '–';
  switch (rule.kind) {
    case 'error_rate': case 'stop_reason_share': case 'budget': case 'rate_limit_headroom': return fmt.percent(v);
    case 'latency': return fmt.duration(v * 1000);
    default: return Number.isInteger(v) ? fmt.count(v) : v.toFixed(3);
  }
}

function renderAlerts(a) {
  const body = $('#alerts tbody');
  body.replaceChildren(...a.rules.map((r) => el('tr', { dataset: { rule: r.name, state: r.state } },
    el('td', {}, r.name, el('small', { class: 'kind' }, ` ${r.kind.replaceAll('_', ' ')}`)),
    el('td', {}, el('span', { class: `badge ${r.state}` }, r.error ? 'error' : r.state)),
    el('td', { class: 'num' }, formatRuleValue(r, r.value)),
    el('td', { class: 'num' }, `${r.comparison} ${formatRuleValue(r, r.threshold)}`))));
  $('#alerts-panel .empty-row').hidden = a.rules.length > 0;
  $('#alerts-evaluated').textContent = a.evaluated_at ? `evaluated ${fmt.ago(a.evaluated_at)}` : 'not evaluated yet (every minute)';
}

// ---------- Reconciliation ----------

/** The default rules' max_age (rules/reconcile.yaml): an older run is no longer evaluated. */
const RECONCILE_MAX_AGE_MS = 3 * 86400e3;

/** A capture ratio; null is "n/a" (nothing billed, or a cost that is unknown on one side). */
function captureCell(r, tolerance, title) {
  if (r === null || r === undefined) return el('td', { class: 'num na', title, dataset: { value: '' } }, 'n/a');
  const level = Math.abs(r - 1) <= tolerance ? 'good' : 'warn';
  return el('td', { class: `num ${level}`, dataset: { value: String(r) } }, fmt.percent(r));
}

const moneyCell = (v) => el('td', { class: 'num', dataset: { value: v === null || v === undefined ? '' : String(v) } }, fmt.amount(v));
/** The local cost: with unpriced calls it is the priced calls' only (null when none was priced), so they are named beside it. */
const localCostCell = (v, unpriced) => {
  const td = moneyCell(v);
  if (unpriced > 0) td.textContent = v === null || v === undefined ? `${fmt.count(unpriced)} unpriced` : `${fmt.amount(v)} + ${fmt.count(unpriced)} unpriced`;
  return td;
};
/** A time of the run as the reports bucket it: UTC. */
const utc = (isoTime) => `${isoTime.slice(0, 16).replace('T', ' ')} UTC`;
const modelName = (m) => m ?? '(no model)';
const NA_UNPRICED = 'calls without a local price: their cost is unknown, not $0';

function renderReconcile(v) {
  const run = v.run;
  $('#reconcile-run').hidden = run === null;
  $('#reconcile-empty').hidden = run !== null;
  const when = $('#reconcile-when');
  if (run === null) {
    when.textContent = v.schedule ? `scheduled ${v.schedule}, not run yet` : 'not run yet';
    when.className = '';
    const code = (text) => el('code', {}, text);
    const box = $('#reconcile-empty');
    if (!v.embedded_store) {
      box.replaceChildren(el('p', {}, 'Reconciliation runs are kept in the embedded store, and this daemon has none (',
        code('influxdb.embedded_store: false'), '): enable it to compare with Anthropic\'s bill.'));
    } else if (v.schedule) {
      box.replaceChildren(el('p', {}, 'The daemon compares its numbers with Anthropic\'s usage and cost reports on the schedule ', code(v.schedule),
        '; its first run has not come yet. To see one now, run ',
        code('claudescope reconcile'), ' with ', code('ANTHROPIC_ADMIN_KEY'), ' set.'));
    } else {
      box.replaceChildren(
        el('p', {}, 'Nothing has been compared with Anthropic\'s bill yet, so nothing here says whether these numbers agree with it. ',
          'With an Admin API key, run once:'),
        el('pre', {}, 'ANTHROPIC_ADMIN_KEY=sk-ant-admin01-… claudescope reconcile --since 7d'),
        el('p', {}, 'or have the daemon run it daily: ', code('ANTHROPIC_ADMIN_KEY'), ' in its environment, and in its config:'),
        el('pre', {}, 'reconcile:\n  schedule: "17 6 * * *"'),
        el('p', {}, 'See docs/reconcile.md.'));
    }
    return;
  }
  const finished = Date.parse(run.finished_at);
  const old = Date.now() - finished > RECONCILE_MAX_AGE_MS;
  when.textContent = `ran ${fmt.time(finished)} (${fmt.ago(finished)})${old ? ', older than the default rules\' 3 days' : ''}${v.schedule ? ` · scheduled ${v.schedule}` : ''}`;
  when.className = old ? 'warn-text' : '';
  const start = Date.parse(run.range.start);
  const end = Date.parse(run.range.end);
  $('#reconcile-meta').textContent = `Window ${utc(run.range.start)} – ${utc(run.range.end)} (${run.bucket} buckets, ${run.api} API, tolerance ${fmt.percent(run.tolerance)})`
    + (run.data_refreshed_at ? ` · billed data refreshed ${fmt.time(Date.parse(run.data_refreshed_at))}` : '');
  $('#reconcile-meta').dataset.from = String(start);
  $('#reconcile-meta').dataset.to = String(end);
  const tol = run.tolerance;
  const row = (m, label, attrs = {}) => {
    const unpriced = m.unpriced_calls ?? 0;
    return el('tr', attrs, el('td', {}, label),
      localCostCell(m.local_cost_usd, unpriced), moneyCell(m.billed_cost_usd),
      captureCell(m.cost_capture, tol, unpriced > 0 ? NA_UNPRICED : 'nothing billed, or a cost unknown on one side'),
      el('td', { class: 'num' }, fmt.count(m.local_tokens)), el('td', { class: 'num' }, fmt.count(m.billed_tokens)),
      captureCell(m.token_capture, tol, 'nothing billed'));
  };
  $('#reconcile-models tbody').replaceChildren(...run.models.map((m) => row(m, modelName(m.model), { dataset: { model: modelName(m.model) } })));
  $('#reconcile-models tfoot').replaceChildren(...(run.total ? [row(run.total, 'Total', { dataset: { model: 'total' } })] : []));
  const unpriced = run.total?.unpriced_calls ?? 0;
  $('#reconcile-unpriced').hidden = unpriced === 0;
  $('#reconcile-unpriced').textContent = `Cost capture is n/a where calls have no local price (${fmt.count(unpriced)} in all): their cost is unknown, not $0, and the local cost is the priced calls' only.`;

  const split = (c) => [c.workspace !== undefined ? `workspace ${c.workspace ?? '(default)'}` : null, c.api_key !== undefined ? `key ${c.api_key ?? '(no key)'}` : null].filter(Boolean);
  const bucketLabel = (c) => (run.bucket === '1d' ? c.bucket_start.slice(0, 10) : `${c.bucket_start.slice(0, 13).replace('T', ' ')}h`);
  $('#reconcile-flagged tbody').replaceChildren(...run.flagged.flatMap((c) => {
    const unpricedCell = c.local.unpriced_calls > 0;
    const parts = split(c);
    return [
      el('tr', { class: 'cell', dataset: { model: modelName(c.model), bucket: c.bucket_start } },
        el('td', {}, `${bucketLabel(c)} UTC`), el('td', {}, modelName(c.model), ...(parts.length ? [el('small', { class: 'kind' }, ` ${parts.join(' · ')}`)] : [])),
        localCostCell(c.local.cost_usd, c.local.unpriced_calls), moneyCell(c.billed.cost_usd),
        c.diff.cost_usd === null ? el('td', { class: 'num na' }, 'n/a') : el('td', { class: 'num' }, `${c.diff.cost_usd > 0 ? '+' : ''}${fmt.amount(c.diff.cost_usd)}`),
        captureCell(c.capture.cost, tol, unpricedCell ? NA_UNPRICED : 'nothing billed, or a cost unknown on one side'), captureCell(c.capture.tokens, tol, 'nothing billed')),
      ...c.causes.map((x, i) => el('tr', { class: `cause${i === c.causes.length - 1 ? ' last' : ''}`, dataset: { code: x.code } },
        el('td', { colspan: '7' }, el('span', { class: 'kind' }, 'likely: '), x.message))),
    ];
  }));
  $('#reconcile-flagged-count').textContent = run.flagged_cells === 0 ? 'none' : run.flagged.length < run.flagged_cells
    ? `${fmt.count(run.flagged.length)} newest of ${fmt.count(run.flagged_cells)} beyond the tolerance` : `${fmt.count(run.flagged_cells)} beyond the tolerance`;
  $('#reconcile-flagged').hidden = run.flagged_cells === 0;
  $('#reconcile-none-flagged').hidden = run.flagged_cells > 0;
}

function fillSelect(sel, names) {
  const cur = sel.value;
  const opts = [el('option', { value: '' }, 'any'), ...names.filter((n) => n !== null).map((n) => el('option', { value: n }, n))];
  sel.replaceChildren(...opts);
  if ([...sel.options].some((o) => o.value === cur)) sel.value = cur;
}

/**
 * Fills the recent calls table: a new list (`reset`) or its next page. Requests overlap (a filter
 * changed twice, a refresh during a filter change, a double click on Load more): only the
 * answer of the latest list is shown, and a page already being fetched is not fetched again.
 */
async function loadCalls(reset) {
  const w = dashboard.window;
  if (reset) {
    state.callsList++;
    state.cursor = null;
    dashboard.calls = [];
    $('#calls tbody').replaceChildren();
  } else if (state.moreFor === state.callsList) {
    return;
  }
  const list = state.callsList;
  const q = new URLSearchParams({ from: String(w.from), to: String(w.to), limit: '50' });
  for (const [k, id] of [['model', '#f-model'], ['feature', '#f-feature'], ['status', '#f-status']]) if ($(id).value) q.set(k, $(id).value);
  if (state.cursor) q.set('cursor', state.cursor);
  if (!reset) state.moreFor = list;
  let r;
  try {
    r = await api(`api/calls?${q}`);
  } finally {
    if (state.moreFor === list) state.moreFor = null;
  }
  if (list !== state.callsList) return;
  state.cursor = r.next_cursor;
  dashboard.calls.push(...r.calls);
  $('#calls tbody').append(...r.calls.map((c) => el('tr', { dataset: { id: c.event_id }, tabindex: '0', class: `status-${c.status}` },
    el('td', {}, fmt.time(c.ts)), el('td', {}, c.model ?? '–'), el('td', {}, c.feature ?? '–'),
    el('td', {}, el('span', { class: `badge ${c.status}` }, c.status === 'error' ? (c.error_type ?? 'error') : c.status)),
    el('td', { class: 'num' }, `${fmt.tokens(c.input_tokens + c.cache_read_input_tokens + c.cache_write_input_tokens)} / ${fmt.tokens(c.output_tokens)}`),
    el('td', { class: 'num' }, fmt.money(c.cost_usd)), el('td', { class: 'num' }, fmt.duration(c.duration_ms)),
    el('td', { class: 'mono' }, c.request_id ?? '–'))));
  $('#more').hidden = !state.cursor;
  $('#calls-panel .empty-row').hidden = dashboard.calls.length > 0;
}

// ---------- Call detail ----------

async function openCall(id) {
  const d = await api(`api/calls/${encodeURIComponent(id)}`);
  dashboard.detail = d;
  const c = d.call;
  const ev = d.event;
  const dl = (pairs) => el('dl', {}, ...pairs.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v ?? '–')]));
  const attempts = el('table', { id: 'attempts' },
    el('thead', {}, el('tr', {}, ...['#', 'Status', 'Error', 'Start', 'Duration', 'Retry after', 'Request id'].map((h) => el('th', {}, h)))),
    el('tbody', {}, ...d.attempts.map((a, i) => el('tr', {}, el('td', {}, i + 1), el('td', {}, a.status ?? 'no response'), el('td', {}, a.error_type ?? '–'),
      el('td', { class: 'num' }, `+${fmt.duration(a.start_offset_ms)}`), el('td', { class: 'num' }, fmt.duration(a.duration_ms)),
      el('td', { class: 'num' }, a.retry_after_ms === null ? '–' : fmt.duration(a.retry_after_ms)), el('td', { class: 'mono' }, a.request_id ?? '–')))));
  const p = d.price;
  const parts = el('table', { id: 'price-parts' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Part'), el('th', { class: 'num' }, 'Quantity'), el('th', { class: 'num' }, 'Rate'), el('th', { class: 'num' }, 'Cost'))),
    el('tbody', {}, ...p.parts.map((x) => el('tr', {}, el('td', {}, x.dimension.replaceAll('_', ' ')),
      el('td', { class: 'num' }, x.quantity === null ? '–' : `${fmt.count(x.quantity)} ${x.unit}`),
      el('td', { class: 'num' }, x.rate_usd === null ? '–' : `${fmt.money(x.rate_usd)}${x.unit === 'tokens' ? ' /MTok' : ' each'}`),
      el('td', { class: 'num' }, fmt.money(x.cost_usd))))),
    el('tfoot', {}, el('tr', {}, el('th', { colspan: '3' }, 'Total'), el('th', { class: 'num' }, fmt.money(p.cost_usd)))));
  $('#drawer-body').replaceChildren(
    dl([['Time', fmt.time(c.ts)], ['Model', c.model], ['Requested', ev.model_requested], ['Operation', `${ev.operation ?? ''}${ev.stream ? ' (stream)' : ''}`],
      ['App', c.app], ['Feature', c.feature], ['Status', `${c.status}${c.http_status ? ` (HTTP ${c.http_status})` : ''}${c.error_type ? ` ${c.error_type}` : ''}`],
      ['Stop reason', c.stop_reason], ['Duration', fmt.duration(c.duration_ms)], ['TTFT', fmt.duration(c.ttft_ms)],
      ['Request id', c.request_id], ['Event id', c.event_id]]),
    el('h3', {}, `Attempts (${d.attempts.length})`), el('div', { class: 'scroll' }, attempts),
    el('h3', {}, 'Price'),
    p.priced ? el('div', { class: 'scroll' }, parts) : el('p', { class: 'notice' }, 'Unpriced: no price is known for this model, so it is counted as unpriced, never $0.'),
    dl([['Without caching', fmt.money(p.cost_without_cache_usd)], ['Saved by caching', p.cost_usd !== null && p.cost_without_cache_usd !== null ? fmt.money(p.cost_without_cache_usd - p.cost_usd) : '–'],
      ['Price version', p.pricing_version], ['Flags', p.flags.length ? p.flags.join(', ') : 'none']]),
  );
  $('#drawer').hidden = false;
  $('#drawer').dataset.id = id;
}

// ---------- Refresh ----------

function showError(err) {
  const e = $('#error');
  e.hidden = !err;
  e.textContent = err ? `Could not load: ${err.message ?? err}` : '';
}

/**
 * A refresh failed: what stays on the page is the last load's, for its window, not the one now
 * picked; say so and dim it, rather than show old figures as current.
 */
function showStale(err) {
  showError(err);
  const w = dashboard.window;
  if (!w || dashboard.loadedAt === undefined) return;
  document.body.dataset.stale = 'true';
  $('#error').textContent += `. The figures below are those loaded at ${fmt.time(dashboard.loadedAt)}, for ${fmt.time(w.from)} – ${fmt.time(w.to)}.`;
}

async function load() {
  const gen = ++state.generation;
  const w = currentWindow();
  if (!(w.from < w.to)) {
    showError(new Error('choose a start before the end'));
    return;
  }
  document.body.dataset.state = 'loading';
  try {
    const qs = `from=${w.from}&to=${w.to}`;
    const stackBy = $('#stack-by').value;
    const [summary, series, ratelimits, alerts, reconcile] = await Promise.all([
      api(`api/summary?${qs}`), api(`api/timeseries?${qs}&stack_by=${stackBy}`), api('api/ratelimits'), api('api/alerts'), api('api/reconcile/latest'),
    ]);
    if (gen !== state.generation) return;
    Object.assign(dashboard, { window: w, summary, series, ratelimits, alerts, reconcile });
    renderTiles(summary);
    renderCharts(series);
    renderRateLimits(ratelimits);
    renderAlerts(alerts);
    renderReconcile(reconcile);
    fillSelect($('#f-model'), summary.models.map((m) => m.name));
    fillSelect($('#f-feature'), summary.features.map((m) => m.name));
    await loadCalls(true);
    showError(null);
    delete document.body.dataset.stale;
    dashboard.loadedAt = Date.now();
    dashboard.generation = gen;
    // Navigation start → first complete render (every tile, chart and table drawn).
    dashboard.firstRenderMs ??= performance.now();
    document.body.dataset.generation = String(gen);
    document.body.dataset.state = 'ready';
  } catch (err) {
    if (gen !== state.generation) return;
    showStale(err);
    document.body.dataset.state = 'error';
  }
}

function schedule() {
  clearInterval(state.timer);
  const s = Number($('#refresh').value);
  if (s > 0 && $('#range').value !== 'custom') state.timer = setInterval(() => { if (!document.hidden) load(); }, s * 1000);
}

function init() {
  applyTheme(localStorage.getItem(THEME_KEY));
  $('#theme').addEventListener('click', () => {
    const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
    localStorage.setItem(THEME_KEY, next);
    applyTheme(next);
    if (dashboard.series) renderCharts(dashboard.series);
  });
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => dashboard.series && renderCharts(dashboard.series));
  $('#range').addEventListener('change', () => {
    const custom = $('#range').value === 'custom';
    $('#custom-range').hidden = !custom;
    if (custom) {
      const w = dashboard.window ?? { from: Date.now() - 86400e3, to: Date.now() };
      $('#from').value = toLocalInput(w.from);
      $('#to').value = toLocalInput(w.to);
    } else load();
    schedule();
  });
  $('#controls').addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });
  $('#stack-by').addEventListener('change', load);
  $('#refresh').addEventListener('change', schedule);
  for (const id of ['#f-model', '#f-feature', '#f-status']) $(id).addEventListener('change', () => loadCalls(true).catch(showError));
  $('#more').addEventListener('click', () => loadCalls(false).catch(showError));
  const open = (ev) => {
    const tr = ev.target.closest('tr[data-id]');
    if (tr && (ev.type === 'click' || ev.key === 'Enter')) openCall(tr.dataset.id).catch(showError);
  };
  $('#calls tbody').addEventListener('click', open);
  $('#calls tbody').addEventListener('keydown', open);
  $('#drawer-close').addEventListener('click', () => { $('#drawer').hidden = true; });
  document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') $('#drawer').hidden = true; });
  let resizeTimer = null;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const [id, c] of Object.entries(dashboard.charts)) c.plot?.setSize({ width: Math.max(240, $(`#${id}`).clientWidth), height: 200 });
    }, 100);
  }).observe($('.charts'));
  schedule();
  load();
}

init();
