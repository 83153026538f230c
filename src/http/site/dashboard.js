// reelcache's staff cache dashboard: polls GET /api/utils/cache/ every 5 s and draws what the
// cache did per namespace (the server's hour/day history, then the deltas this page sees between
// polls), the store's sizes, TMDB's calls, errors, breaker and budgets, the recommendations, and
// clears a namespace or a key. Reads only the public API, as any client would.
import { request, login, logout, profile, session, errorMessage, showMessage, h, formatDuration, SESSION_ENDED } from '/assets/api.js';

const $ = (sel) => document.querySelector(sel);
const POLL_MS = 5000;
const MAX_LIVE = 60; // five minutes of polls
const messageEl = $('#message');

let timer = null;
let inflight = false;
let running = false;
let latest = null;
let prevTotals = null; // per namespace (and "all"): totals at the previous poll
const live = new Map(); // namespace → [{t, counts|null}], one per poll interval

// ---------- formatting ----------

const intFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decFmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });

function num(v) { return typeof v === 'number' && Number.isFinite(v) ? v : 0; }
function fmtInt(v) { return typeof v === 'number' ? intFmt.format(v) : '–'; }
function fmtPct(ratio) { return typeof ratio === 'number' && Number.isFinite(ratio) ? (ratio * 100).toFixed(1) + '%' : '–'; }
function fmtBytes(b) {
  if (typeof b !== 'number' || !Number.isFinite(b)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = b;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}
function fmtValue(key, v) {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (typeof v === 'number') {
    if (/bytes$/.test(key)) return fmtBytes(v);
    if (/ratio$/.test(key)) return fmtPct(v);
    if (/seconds$/.test(key)) return formatDuration(v);
    if (/_ms(_|$)/.test(key)) return v < 0 ? 'over the largest bucket' : decFmt.format(v) + ' ms';
    return Number.isInteger(v) ? fmtInt(v) : decFmt.format(v);
  }
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
const LABELS = { mean_ms: 'mean', p99_ms_at_most: 'p99 (at most)', requests: 'requests' };
function label(key) { return LABELS[key] || key.replace(/_/g, ' ').replace(/\./g, ' › '); }

// Nested objects as dotted keys: {refresh_ahead: {ran: 3}} → [['refresh_ahead.ran', 3]].
function flatten(obj, prefix = '', out = []) {
  for (const [k, v] of Object.entries(obj || {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v)) flatten(v, key, out);
    else out.push([key, v]);
  }
  return out;
}

// ---------- history ----------

const ZERO = { hit: 0, stale: 0, miss: 0, other: 0 };

// One span's counts, whatever the field names (hit|hits, stale|stale_hits, miss|misses).
function countsOf(x) {
  if (!x || typeof x !== 'object') return { ...ZERO };
  if (Array.isArray(x)) return x.map(countsOf).reduce(addCounts, { ...ZERO });
  return {
    hit: num(x.hit ?? x.hits),
    stale: num(x.stale ?? x.stale_hits),
    miss: num(x.miss ?? x.misses),
    other: num(x.bypass ?? x.bypasses) + num(x.negative),
  };
}
function addCounts(a, b) { return { hit: a.hit + b.hit, stale: a.stale + b.stale, miss: a.miss + b.miss, other: a.other + b.other }; }
function answers(c) { return c.hit + c.stale + c.miss + c.other; }

// A span as a map namespace → value: the server sends an object; an array of [name, counts]
// pairs is read too.
function spanMap(span) {
  if (Array.isArray(span)) {
    const m = {};
    for (const e of span) if (Array.isArray(e) && e.length === 2) m[e[0]] = e[1];
    return m;
  }
  return span && typeof span === 'object' ? span : {};
}

function analyticsOf(stats) {
  return stats.analytics && typeof stats.analytics === 'object' ? stats.analytics : {};
}

function namespacesOf(stats) {
  const a = analyticsOf(stats);
  const names = new Set(Object.keys(stats.namespaces || {}));
  for (const k of Object.keys(spanMap(a.last_hour))) names.add(k);
  for (const k of Object.keys(spanMap(a.last_day))) names.add(k);
  return [...names].sort();
}

// The server's history columns for a namespace: its buckets when it sends them (arrays), else
// one column for the last day and one for the last hour.
function historyColumns(stats, ns) {
  const a = analyticsOf(stats);
  const day = spanMap(a.last_day)[ns];
  const hour = spanMap(a.last_hour)[ns];
  // The last hour minute by minute, oldest first (`analytics.per_minute`).
  const minutes = a.per_minute && a.per_minute[ns];
  if (Array.isArray(minutes)) {
    return minutes.map((b, i) => ({ label: i === 0 ? '60 min ago' : (i === minutes.length - 1 ? 'now' : ''), counts: countsOf(b) }));
  }
  if (Array.isArray(hour) || Array.isArray(day)) {
    const buckets = Array.isArray(hour) ? hour : day;
    return buckets.map((b, i) => ({ label: i === 0 ? (Array.isArray(hour) ? '1 h ago' : '24 h ago') : '', counts: countsOf(b) }));
  }
  const cols = [];
  if (day) cols.push({ label: '24 h', counts: countsOf(day) });
  if (hour) cols.push({ label: '1 h', counts: countsOf(hour) });
  return cols;
}

// Totals that only grow (between turns of the server's buckets), to take deltas of.
function totalsOf(stats) {
  const a = analyticsOf(stats);
  const day = spanMap(a.last_day);
  const hour = spanMap(a.last_hour);
  const totals = {};
  for (const ns of namespacesOf(stats)) totals[ns] = countsOf(day[ns] ?? hour[ns]);
  totals.all = {
    hit: num(stats.hits), stale: num(stats.stale_hits), miss: num(stats.misses),
    other: num(stats.bypasses) + num(stats.negative && stats.negative.hits),
  };
  return totals;
}

function recordDeltas(stats) {
  const now = Date.now();
  const totals = totalsOf(stats);
  if (prevTotals) {
    for (const [ns, cur] of Object.entries(totals)) {
      const prev = prevTotals[ns] || cur;
      // A bucket leaving the server's window can shrink a total: never a negative column.
      const d = {
        hit: Math.max(0, cur.hit - prev.hit), stale: Math.max(0, cur.stale - prev.stale),
        miss: Math.max(0, cur.miss - prev.miss), other: Math.max(0, cur.other - prev.other),
      };
      const series = live.get(ns) || [];
      series.push({ t: now, counts: d });
      while (series.length > MAX_LIVE) series.shift();
      live.set(ns, series);
    }
  }
  prevTotals = totals;
}

// ---------- charts ----------

function colors() {
  const s = getComputedStyle(document.documentElement);
  const v = (name, fallback) => s.getPropertyValue(name).trim() || fallback;
  return {
    hit: v('--hit', '#2f8f46'), stale: v('--stale', '#d49a00'), miss: v('--miss', '#c8372d'),
    other: v('--bypass', '#7a7f87'), text: v('--muted', '#5b5f66'), grid: v('--border', '#d6d7d3'),
  };
}

// Stacked 100 % columns: the server's history on the left (wide columns for its day and hour
// totals, narrow ones for its buckets when it sends them), then one column per poll interval on
// the right, newest at the right edge (intervals without answers left blank). Answers how many
// columns were drawn.
function drawChart(canvas, history, series) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 300;
  const height = canvas.clientHeight || 150;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  ctx.clearRect(0, 0, width, height);
  const c = colors();
  const left = 34;
  const top = 6;
  const bottom = 18;
  const gap = 10;
  const plotH = height - top - bottom;
  const plotW = width - left - 4;
  const histW = history.length ? Math.min(plotW * (history.length > 4 ? 0.4 : 0.25), history.length * 44) : 0;
  const liveLeft = left + histW + (history.length ? gap : 0);
  const liveW = width - 4 - liveLeft;
  ctx.font = '10px system-ui, sans-serif';
  ctx.strokeStyle = c.grid;
  ctx.lineWidth = 1;
  ctx.fillStyle = c.text;
  ctx.textBaseline = 'middle';
  for (const f of [0, 0.5, 1]) {
    const y = Math.round(top + plotH * (1 - f)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(width - 4, y);
    ctx.stroke();
    ctx.fillText(`${f * 100}%`, 2, y);
  }
  let drawn = 0;
  const column = (x, w, counts) => {
    const total = answers(counts);
    if (!total) return;
    const pad = w > 6 ? 1 : 0;
    let y = top + plotH;
    for (const part of ['hit', 'stale', 'miss', 'other']) {
      const hgt = (counts[part] / total) * plotH;
      if (hgt <= 0) continue;
      ctx.fillStyle = c[part];
      ctx.fillRect(x + pad, y - hgt, Math.max(1, w - 2 * pad), hgt);
      y -= hgt;
    }
    drawn += 1;
  };
  const histSlot = history.length ? histW / history.length : 0;
  history.forEach((col, i) => column(left + i * histSlot, histSlot, col.counts));
  const liveSlot = liveW / MAX_LIVE;
  const first = MAX_LIVE - series.length;
  series.forEach((s, i) => column(liveLeft + (first + i) * liveSlot, liveSlot, s.counts));
  ctx.fillStyle = c.text;
  ctx.textBaseline = 'alphabetic';
  const baseline = height - 4;
  if (history.length && history.length <= 4) {
    history.forEach((col, i) => {
      const w = ctx.measureText(col.label).width;
      ctx.fillText(col.label, left + i * histSlot + (histSlot - w) / 2, baseline);
    });
  } else if (history.length) {
    ctx.fillText(history[0].label || 'history', left, baseline);
  }
  ctx.fillText('← 5 min', liveLeft, baseline);
  const nowText = 'now';
  ctx.fillText(nowText, width - 4 - ctx.measureText(nowText).width, baseline);
  return drawn;
}

function describe(counts) {
  const total = answers(counts);
  if (!total) return 'no answers';
  const p = (n) => ((n / total) * 100).toFixed(1) + '%';
  return `${fmtInt(total)} answers: ${p(counts.hit)} hit, ${p(counts.stale)} stale, ${p(counts.miss)} miss` +
    (counts.other ? `, ${p(counts.other)} other` : '');
}

function renderCharts(stats) {
  const box = $('#charts');
  const names = ['all', ...namespacesOf(stats)];
  const existing = new Map([...box.querySelectorAll('.chart-box')].map((b) => [b.dataset.namespace, b]));
  for (const ns of names) {
    let b = existing.get(ns);
    if (!b) {
      b = h('figure', { className: 'chart-box', dataset: { namespace: ns } },
        h('h3', {}, ns === 'all' ? 'All namespaces (since start)' : ns),
        h('canvas', { className: 'chart', role: 'img', dataset: { namespace: ns, points: '0' } }, 'Chart of hit, stale and miss shares'),
        h('figcaption', {}));
      box.append(b);
    }
    const history = ns === 'all'
      ? [{ label: 'since start', counts: totalsOf(stats).all }]
      : historyColumns(stats, ns);
    const series = live.get(ns) || [];
    const canvas = b.querySelector('canvas');
    const drawn = drawChart(canvas, history, series);
    canvas.dataset.points = String(drawn);
    const recent = series.reduce((acc, s) => addCounts(acc, s.counts), { ...ZERO });
    const summary = history.length > 4
      ? [{ label: `server history (${history.length} buckets)`, counts: history.reduce((acc, col) => addCounts(acc, col.counts), { ...ZERO }) }]
      : history;
    const text = summary.map((col) => `${col.label}: ${describe(col.counts)}`)
      .concat(series.length ? [`seen by this page (${series.length} polls): ${describe(recent)}`] : [])
      .join('. ');
    canvas.setAttribute('aria-label', `${ns}: ${text}`);
    b.querySelector('figcaption').textContent = text;
  }
  for (const [ns, b] of existing) if (!names.includes(ns)) b.remove();
}

// ---------- tables ----------

function cell(text, numeric) { return h('td', { className: numeric ? 'num' : null }, text); }

function renderNamespaces(stats) {
  const body = $('#namespaces-table tbody');
  const rows = [];
  const ns = stats.namespaces || {};
  for (const name of Object.keys(ns).sort()) {
    const n = ns[name] || {};
    const ratio = n.raw_bytes ? n.stored_bytes / n.raw_bytes : null;
    rows.push(h('tr', { dataset: { namespace: name } }, h('th', { scope: 'row' }, name),
      cell(fmtInt(n.entries), true), cell(fmtBytes(n.stored_bytes), true), cell(fmtBytes(n.raw_bytes), true),
      cell(ratio === null ? '–' : fmtPct(ratio), true)));
  }
  const img = stats.images && stats.images.store;
  if (img) {
    rows.push(h('tr', { dataset: { namespace: 'images' } }, h('th', { scope: 'row' }, 'images (image cache)'),
      cell(fmtInt(img.entries), true), cell(fmtBytes(img.bytes), true), cell('–', true), cell('–', true)));
  }
  rows.push(h('tr', { className: 'total' }, h('th', { scope: 'row' }, 'total (page cache)'),
    cell(fmtInt(stats.entries), true), cell(fmtBytes(stats.stored_bytes), true), cell(fmtBytes(stats.raw_bytes), true),
    cell(fmtPct(stats.compression_ratio), true)));
  body.replaceChildren(...rows);

  const select = $('#clear-namespace');
  const chosen = select.value;
  const names = Object.keys(ns).sort().concat(stats.images ? ['images'] : []);
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    select.replaceChildren(...names.map((name) => h('option', { value: name }, name)));
    if (names.includes(chosen)) select.value = chosen;
  }
}

function renderHistoryTable(stats) {
  const a = analyticsOf(stats);
  const rows = [];
  for (const ns of namespacesOf(stats)) {
    for (const [span, name] of [[a.last_hour, 'last hour'], [a.last_day, 'last 24 h']]) {
      const v = spanMap(span)[ns];
      if (v === undefined) continue;
      const c = countsOf(v);
      const looked = c.hit + c.stale + c.miss;
      rows.push(h('tr', {}, h('th', { scope: 'row' }, ns), cell(name),
        cell(fmtInt(c.hit), true), cell(fmtInt(c.stale), true), cell(fmtInt(c.miss), true), cell(fmtInt(c.other), true),
        cell(looked ? fmtPct((c.hit + c.stale) / looked) : '–', true)));
    }
  }
  if (!rows.length) rows.push(h('tr', {}, h('td', { colSpan: 7 }, 'not reported')));
  $('#history-table tbody').replaceChildren(...rows);
}

const UPSTREAM = /^(upstream|breaker|offline|retries|coalesced|shared_fills|prefetch|revalidat|refreshed_with|client_rate|refresh_ahead|tmdb|budget|redis|change_feed|negative|dynamic_ttl|backend)|budget/;
const HEADLINE = new Set(['namespaces', 'analytics', 'entries', 'stored_bytes', 'raw_bytes', 'compression_ratio', 'hit_ratio', 'uptime_seconds']);

function kvRows(pairs) {
  return pairs.map(([k, v]) => h('tr', { dataset: { key: k } }, h('th', { scope: 'row' }, label(k)), cell(fmtValue(k, v), typeof v === 'number')));
}

function renderUpstream(stats) {
  const pairs = flatten(Object.fromEntries(Object.entries(stats).filter(([k]) => !HEADLINE.has(k))));
  const upstream = pairs.filter(([k]) => UPSTREAM.test(k));
  const other = pairs.filter(([k]) => !UPSTREAM.test(k) && !/^(slow|images\.)/.test(k));
  $('#upstream-table tbody').replaceChildren(...kvRows(upstream));
  $('#other-stats tbody').replaceChildren(...kvRows(other));
}

function renderImages(stats) {
  const box = $('#images-stats');
  const img = stats.images;
  if (!img || typeof img !== 'object') { box.replaceChildren(h('p', { className: 'empty' }, 'not reported')); return; }
  const looked = num(img.hits) + num(img.misses);
  const pairs = flatten(img);
  if (looked) pairs.unshift(['hit_ratio', img.hits / looked]);
  box.replaceChildren(h('table', { id: 'images-table' }, h('tbody', {}, kvRows(pairs))));
}

function slowestOf(stats) {
  const a = analyticsOf(stats);
  for (const v of [stats.slowest_routes, stats.slow_routes, a.slowest_routes, stats.routes && stats.routes.slowest, stats.latency && stats.latency.slowest]) {
    if (v && typeof v === 'object') return v;
  }
  return null;
}

function renderSlowest(stats) {
  const box = $('#slowest-routes');
  let v = slowestOf(stats);
  if (!v) { box.replaceChildren(h('p', { className: 'empty' }, 'not reported')); return; }
  if (!(Array.isArray(v) ? v.length : Object.keys(v).length)) { box.replaceChildren(h('p', { className: 'empty' }, 'no requests measured yet')); return; }
  if (!Array.isArray(v)) v = Object.entries(v).map(([route, x]) => (x && typeof x === 'object' ? { route, ...x } : { route, value: x }));
  const cols = [...new Set(v.flatMap((r) => (r && typeof r === 'object' ? Object.keys(r) : ['value'])))];
  const table = h('table', {},
    h('thead', {}, h('tr', {}, cols.map((k) => h('th', { scope: 'col' }, label(k))))),
    h('tbody', {}, v.map((r) => h('tr', {}, cols.map((k) => {
      const x = r && typeof r === 'object' ? r[k] : r;
      return cell(fmtValue(k, x), typeof x === 'number');
    })))));
  box.replaceChildren(table);
}

function renderSaved(stats) {
  const saved = analyticsOf(stats).tmdb_calls_saved;
  const box = $('#calls-saved');
  if (!saved || typeof saved !== 'object') { box.replaceChildren(h('p', { className: 'empty' }, 'not reported')); return; }
  box.replaceChildren(h('table', {}, h('tbody', {}, kvRows(flatten(saved)))));
}

function renderRecommendations(stats) {
  const list = analyticsOf(stats).recommendations ?? stats.recommendations;
  const ul = $('#recommendations');
  if (!Array.isArray(list)) { ul.replaceChildren(h('li', { className: 'empty' }, 'not reported')); return; }
  if (!list.length) { ul.replaceChildren(h('li', { className: 'empty' }, 'None: nothing in the numbers calls for a change.')); return; }
  ul.replaceChildren(...list.map((r) => (typeof r === 'string'
    ? h('li', {}, r)
    : h('li', { dataset: { code: r.code || '' } }, r.message || JSON.stringify(r), r.code ? [' ', h('code', {}, r.code)] : null))));
}

function renderHeadline(stats) {
  $('#stat-hit-ratio').textContent = fmtPct(stats.hit_ratio);
  $('#stat-entries').textContent = fmtInt(stats.entries);
  $('#stat-stored-bytes').textContent = fmtBytes(stats.stored_bytes);
  $('#stat-compression').textContent = fmtPct(stats.compression_ratio);
  $('#stat-upstream-calls').textContent = fmtInt(stats.upstream_calls);
  $('#stat-upstream-errors').textContent = fmtInt(stats.upstream_errors);
  $('#stat-breaker').textContent = stats.breaker_state ? String(stats.breaker_state) : '–';
  $('#stat-uptime').textContent = typeof stats.uptime_seconds === 'number' ? formatDuration(stats.uptime_seconds) : '–';
  const mode = $('#mode');
  mode.textContent = stats.offline ? 'offline: serving stored data only' : 'online';
  mode.dataset.mode = stats.offline ? 'offline' : 'online';
}

function render(stats) {
  renderHeadline(stats);
  renderCharts(stats);
  renderNamespaces(stats);
  renderHistoryTable(stats);
  renderUpstream(stats);
  renderSlowest(stats);
  renderImages(stats);
  renderSaved(stats);
  renderRecommendations(stats);
  const now = new Date();
  const t = $('#updated-at');
  t.textContent = now.toLocaleTimeString();
  t.dateTime = now.toISOString();
}

// ---------- polling and auth ----------

function schedule() {
  clearTimeout(timer);
  timer = null;
  if (running && $('#auto-refresh').checked && !document.hidden) timer = setTimeout(poll, POLL_MS);
}

async function poll() {
  if (!running || inflight) return;
  inflight = true;
  try {
    const { data } = await request('/api/utils/cache/', { auth: true });
    const stats = data && data.data ? data.data : data;
    latest = stats;
    recordDeltas(stats);
    render(stats);
    if (messageEl.dataset.kind === 'error') showMessage(messageEl, '');
  } catch (e) {
    handleError(e);
  } finally {
    inflight = false;
    schedule();
  }
}

function handleError(e) {
  if (e && e.code === 'SESSION_ENDED') { showLogin(SESSION_ENDED); return; }
  if (e && e.code === 'AUTH_REQUIRED') { showLogin('Log in with a staff account'); return; }
  if (e && e.status === 403) { showLogin(`${session.username || 'This account'} is not staff: log in with a staff account`); return; }
  showMessage(messageEl, errorMessage(e));
}

function showLogin(text, kind = 'error') {
  running = false;
  clearTimeout(timer);
  $('#loading').hidden = true;
  $('#dashboard').hidden = true;
  $('#login-section').hidden = false;
  showMessage(messageEl, text || '', kind);
}

function showDashboard() {
  $('#loading').hidden = true;
  $('#login-section').hidden = true;
  $('#dashboard').hidden = false;
  running = true;
  poll();
}

function renderAccount() {
  const inside = session.loggedIn;
  const user = $('#current-user');
  user.hidden = !inside;
  user.textContent = inside ? session.username || '' : '';
  $('#logout').hidden = !inside;
}

async function start() {
  renderAccount();
  if (!session.loggedIn) { showLogin(''); return; }
  try {
    const p = await profile();
    if (p && p.is_staff) showDashboard();
    else showLogin(`${p ? p.username : 'This account'} is not staff: log in with a staff account`);
  } catch (e) {
    if (e && (e.code === 'SESSION_ENDED' || e.status === 403)) handleError(e);
    else { showLogin(''); showMessage(messageEl, errorMessage(e)); }
  }
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const username = $('#login-username').value.trim();
  const password = $('#login-password').value;
  if (!username || !password) { showMessage(messageEl, 'Enter your username and password'); return; }
  const button = $('#login-submit');
  button.disabled = true;
  try {
    const p = await login(username, password);
    $('#login-password').value = '';
    if (p && p.is_staff) { showMessage(messageEl, ''); showDashboard(); $('#main').focus(); }
    else showLogin(`${username} is not staff: log in with a staff account`);
  } catch (err) {
    showMessage(messageEl, errorMessage(err));
  } finally {
    button.disabled = false;
  }
});

$('#logout').addEventListener('click', async () => {
  await logout();
  showLogin('You are logged out', 'info');
});

$('#refresh-now').addEventListener('click', () => { clearTimeout(timer); poll(); });
$('#auto-refresh').addEventListener('change', schedule);
document.addEventListener('visibilitychange', () => { if (!document.hidden && running) { clearTimeout(timer); poll(); } });
window.addEventListener('resize', () => { if (latest) renderCharts(latest); });
window.addEventListener('reelcache:session', renderAccount);
$('#skip-link').addEventListener('click', (e) => { e.preventDefault(); $('#main').focus(); });

async function clear(query, button) {
  button.disabled = true;
  try {
    const { data } = await request('/api/utils/cache/?' + query, { method: 'DELETE', auth: true });
    const removed = typeof data.removed === 'number' ? data.removed : 0;
    showMessage(messageEl, `${data.message || 'Cleared'}: ${fmtInt(removed)} ${removed === 1 ? 'entry' : 'entries'} removed`, 'info');
    clearTimeout(timer);
    poll();
  } catch (e) {
    handleError(e);
  } finally {
    button.disabled = false;
  }
}

$('#clear-namespace-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const ns = $('#clear-namespace').value;
  if (!ns) { showMessage(messageEl, 'Choose a namespace'); return; }
  clear('namespace=' + encodeURIComponent(ns), $('#clear-namespace-button'));
});

$('#clear-key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const key = $('#clear-key').value.trim();
  if (!key) { showMessage(messageEl, 'Type a key, e.g. movie:550'); $('#clear-key').focus(); return; }
  clear('key=' + encodeURIComponent(key), $('#clear-key-button'));
});

start();
