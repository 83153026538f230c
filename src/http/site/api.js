// reelcache's browser client, shared by the front end (app.js) and the staff dashboard
// (dashboard.js): a fetch wrapper over the public API, the tokens in localStorage (refreshed
// once on a 401, the refresh token rotating), error envelopes turned into sentences, and the
// X-Cache / Age / Retry-After headers. DOM helpers build elements with textContent only: no
// API text ever goes through innerHTML.

const PREFIX = 'reelcache.';
export const SESSION_ENDED = 'Your session has ended: log in again';

function load(name) {
  try { return localStorage.getItem(PREFIX + name); } catch { return null; }
}
function store(name, value) {
  try {
    if (value === null || value === undefined) localStorage.removeItem(PREFIX + name);
    else localStorage.setItem(PREFIX + name, String(value));
  } catch { /* storage disabled: the session lasts as long as the page */ }
}

function announce() {
  window.dispatchEvent(new CustomEvent('reelcache:session'));
}

// Another tab logging in or out changes this one's header too.
window.addEventListener('storage', (e) => {
  if (e.key === null || e.key.startsWith(PREFIX)) announce();
});

export const session = {
  get access() { return load('access'); },
  get refresh() { return load('refresh'); },
  get username() { return load('username'); },
  get isStaff() { return load('is_staff') === '1'; },
  get loggedIn() { return Boolean(load('refresh') || load('access')); },
  save({ access, refresh, username }) {
    if (access) store('access', access);
    if (refresh) store('refresh', refresh);
    if (username !== undefined) store('username', username);
    announce();
  },
  setStaff(staff) {
    store('is_staff', staff ? '1' : '0');
    announce();
  },
  clear() {
    for (const k of ['access', 'refresh', 'username', 'is_staff']) store(k, null);
    announce();
  },
};

export class ApiError extends Error {
  constructor(message, { status = 0, code = 'NETWORK_ERROR', fields = null, retryAfter = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

// Retry-After is seconds or an HTTP date; answers whole seconds (at least 1) or null.
export function parseRetryAfter(value) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Math.max(1, parseInt(value, 10));
  const when = Date.parse(value);
  if (Number.isNaN(when)) return null;
  return Math.max(1, Math.ceil((when - Date.now()) / 1000));
}

// The message a person should read for an error.
export function errorMessage(err) {
  if (!(err instanceof ApiError)) return 'Something went wrong: ' + (err && err.message ? err.message : String(err));
  const wait = err.retryAfter ? `try again in ${err.retryAfter} s` : 'try again in a moment';
  if (err.status === 429) return `Too many requests: ${wait}`;
  if (err.status === 503 && err.retryAfter) return `TMDB is rate-limiting us: ${wait}`;
  if (err.status === 504) return `TMDB did not answer in time: ${err.retryAfter ? wait : 'try again'}`;
  return err.message;
}

// The API's next/previous links are absolute when a public URL is configured: always fetch the
// path and query on this origin (the page and the API share it; CSP connect-src 'self').
export function apiPath(url) {
  const u = new URL(url, location.origin);
  return u.pathname + u.search;
}

function tokenExpiry(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const exp = JSON.parse(atob(part)).exp;
    return typeof exp === 'number' ? exp * 1000 : null;
  } catch { return null; }
}

async function send(path, { method = 'GET', body, auth = false, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const access = session.access;
  if (auth && access) headers.Authorization = 'Bearer ' + access;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: 'same-origin',
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError('Cannot reach the server: check the connection and try again.');
  }
  const text = await res.text();
  let json = null;
  if (text) {
    try { json = JSON.parse(text); } catch { json = null; }
  }
  return { res, json, sentAccess: access };
}

function toError(res, json) {
  const e = json && typeof json === 'object' ? json.error : null;
  const message = (e && e.message) || (json && json.detail) || `${res.status} ${res.statusText || 'error'}`;
  return new ApiError(message, {
    status: res.status,
    code: (e && e.code) || 'HTTP_' + res.status,
    fields: (e && e.fields) || null,
    retryAfter: parseRetryAfter(res.headers.get('Retry-After')),
  });
}

let refreshing = null;

// One refresh at a time, however many calls saw a 401: the refresh token rotates, so two
// concurrent refreshes would revoke each other.
export function refreshTokens() {
  if (!refreshing) refreshing = doRefresh().finally(() => { refreshing = null; });
  return refreshing;
}

async function doRefresh() {
  const token = session.refresh;
  if (!token) return false;
  const { res, json } = await send('/api/users/refresh/', { method: 'POST', body: { refresh: token } });
  if (res.ok && json && json.access) {
    session.save({ access: json.access, refresh: json.refresh || token });
    return true;
  }
  // Only the server's "no" to the token ends the session: a rate limit or an outage (429,
  // 5xx) is an error to show, with the tokens kept for the next try.
  if (res.status !== 400 && res.status !== 401) throw toError(res, json);
  // Another tab may have rotated the token meanwhile: its new one is as good.
  return Boolean(session.refresh && session.refresh !== token);
}

function endSession() {
  session.clear();
  window.dispatchEvent(new CustomEvent('reelcache:session-ended'));
  return new ApiError(SESSION_ENDED, { status: 401, code: 'SESSION_ENDED' });
}

// Calls the API. auth: true sends the access token and refreshes it once on a 401.
// Answers {status, data, cache, age} or throws ApiError (AbortError when aborted).
export async function request(path, { method = 'GET', body, auth = false, signal } = {}) {
  path = apiPath(path);
  if (auth) {
    if (!session.loggedIn) throw new ApiError('Log in first', { status: 401, code: 'AUTH_REQUIRED' });
    const exp = session.access ? tokenExpiry(session.access) : 0;
    if (exp !== null && exp - Date.now() < 15000 && session.refresh) {
      if (!(await refreshTokens())) throw endSession();
    }
  }
  let { res, json, sentAccess } = await send(path, { method, body, auth, signal });
  if (res.status === 401 && auth) {
    // A token another tab refreshed meanwhile needs no refresh of our own.
    const fresh = session.access && session.access !== sentAccess ? true : await refreshTokens();
    if (!fresh) throw endSession();
    ({ res, json } = await send(path, { method, body, auth, signal }));
    if (res.status === 401) throw endSession();
  }
  if (!res.ok) throw toError(res, json);
  return {
    status: res.status,
    data: json,
    cache: res.headers.get('X-Cache'),
    age: res.headers.get('Age'),
  };
}

export async function login(username, password) {
  const { data } = await request('/api/users/login/', { method: 'POST', body: { username, password } });
  session.save({ access: data.access, refresh: data.refresh, username: data.username || username });
  try {
    const p = await profile();
    return p;
  } catch {
    return null;
  }
}

export async function profile() {
  const { data } = await request('/api/users/profile/', { auth: true });
  const p = data && data.data ? data.data : data;
  if (p && p.username) session.save({ username: p.username });
  session.setStaff(Boolean(p && p.is_staff));
  return p;
}

export async function logout() {
  const refresh = session.refresh;
  try {
    if (refresh && session.access) {
      await request('/api/users/logout/', { method: 'POST', body: { refresh }, auth: true });
    }
  } catch { /* the tokens are forgotten here whatever the server said */ }
  session.clear();
}

// A poster's URL through reelcache's image cache, for a TMDB-shaped path only (a favorite's
// poster_path is whatever its user stored): anything else has no picture.
const POSTER_PATH = /^\/[A-Za-z0-9_-]{1,64}\.(jpg|jpeg|png|webp|gif|svg)$/;
export function posterUrl(path, size = 'w342') {
  return POSTER_PATH.test(path || '') ? '/api/images/' + size + path : null;
}

// Small DOM builder: h('a', {href, className}, 'text', child). Strings become text nodes.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'className') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

const CACHE_TEXT = {
  HIT: 'served from cache',
  MISS: 'fetched from TMDB just now',
  STALE: 'served from cache, TMDB unreachable or offline',
  BYPASS: 'not cached: answered directly',
};

// The badge showing how the server answered: class cache-badge, data-cache HIT|MISS|...
export function cacheBadge(result) {
  const state = (result && result.cache ? result.cache : 'NONE').toUpperCase();
  let text = state === 'NONE' ? 'cache: not reported' : `cache: ${state}`;
  const parts = [];
  if (CACHE_TEXT[state]) parts.push(CACHE_TEXT[state]);
  if (result && result.age !== null && result.age !== undefined && result.age !== '') {
    parts.push('age ' + formatDuration(result.age));
  }
  if (parts.length) text += ` (${parts.join(', ')})`;
  return h('span', { className: 'cache-badge', dataset: { cache: state }, title: 'X-Cache: ' + state }, text);
}

// Shows text in a #message element (role="alert"); kind is error | info.
export function showMessage(el, text, kind = 'error') {
  if (!el) return;
  el.textContent = text || '';
  el.dataset.kind = kind;
  el.hidden = !text;
}
