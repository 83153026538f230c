// reelcache's movie front end: hash routes over one page, so the server serves index.html only.
// #/  #/trending/day|week?page=N  #/popular?page=N  #/movie/ID?page=N  #/search?q=..&page=N
// #/favorites?page=N  #/login?next=#/..  #/register
import {
  request, login, logout, profile, session, errorMessage, apiPath, posterUrl, cacheBadge,
  showMessage, h, SESSION_ENDED,
} from '/assets/api.js';

const $ = (sel) => document.querySelector(sel);
const viewEl = $('#view');
const messageEl = $('#message');
const SITE = 'reelcache';

// Hash → API path learned from an answer's next/previous: paging follows the server's links.
const learned = new Map();
let pendingMessage = null;
let focusOnRender = false;
let seq = 0;
let controller = null;
let shownMovie = null; // {id, details section} while a movie's page is shown

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  if (!raw.startsWith('/')) return null;
  const cut = raw.indexOf('?');
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const params = new URLSearchParams(cut < 0 ? '' : raw.slice(cut + 1));
  return { parts: path.split('/').filter(Boolean), params, hash: '#' + raw };
}

function pageParam(params) {
  const n = Number(params.get('page'));
  return Number.isInteger(n) && n >= 1 && n <= 500 ? n : 1;
}

function setTitle(text) {
  document.title = text ? `${text} · ${SITE}` : SITE;
}

function loading(text) {
  return h('p', { className: 'loading', role: 'status' }, text);
}

function heading(tag, text, id) {
  return h(tag, { id, tabIndex: -1 }, text);
}

function go(hash, replace = false) {
  if (location.hash === hash) route();
  else if (replace) location.replace(hash);
  else location.hash = hash;
}

// ---------- cards, grid, pager ----------

function year(date) {
  return typeof date === 'string' && /^\d{4}/.test(date) ? date.slice(0, 4) : '';
}

function poster(path, title, eager) {
  if (!posterUrl(path)) {
    return h('div', { className: 'poster placeholder', role: 'img', 'aria-label': title }, h('span', {}, title));
  }
  return h('img', {
    className: 'poster', src: posterUrl(path), alt: title, width: 342, height: 513,
    loading: eager ? 'eager' : 'lazy', decoding: 'async',
  });
}

function movieCard(m, i, extra) {
  const title = m.title || m.original_title || m.name || 'Untitled';
  const id = m.tmdb_id || m.id;
  const meta = [];
  const y = year(m.release_date);
  if (y) meta.push(h('span', { className: 'year' }, y));
  if (typeof m.vote_average === 'number' && m.vote_count !== 0) {
    meta.push(h('span', { className: 'rating', title: 'Average rating out of 10' }, '★ ' + m.vote_average.toFixed(1)));
  }
  return h('article', { className: 'card', dataset: { movieId: String(id) } },
    poster(m.poster_path, title, i < 6),
    h('h3', { className: 'card-title' }, h('a', { href: `#/movie/${id}` }, title)),
    meta.length ? h('p', { className: 'card-meta' }, meta) : null,
    extra || null);
}

function grid(items, makeCard = movieCard) {
  return h('div', { className: 'grid' }, items.map((m, i) => makeCard(m, i)));
}

function pageOf(url) {
  if (!url) return null;
  const n = Number(new URL(url, location.origin).searchParams.get('page') || 1);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

// Prev/next follow the answer's previous/next URLs; the hash records the page for back/forward.
function pager(pagination, hashFor, headingId) {
  const p = pagination || {};
  const current = p.current_page || 1;
  const total = Math.max(p.total_pages || 1, current);
  const link = (id, label, url) => {
    const b = h('button', { type: 'button', id, className: 'pager-button', disabled: !url }, label);
    if (url) {
      b.addEventListener('click', () => {
        const target = hashFor(pageOf(url));
        learned.set(target, apiPath(url));
        focusOnRender = headingId;
        go(target);
      });
    }
    return b;
  };
  return h('nav', { className: 'pager', 'aria-label': 'Pages' },
    link('prev', '← Previous', p.previous),
    h('span', { id: 'page-info', 'aria-live': 'polite' }, `Page ${current} of ${total}`),
    link('next', 'Next →', p.next));
}

// ---------- views ----------

async function listView(ctx, { title, headingText, apiFor, hashFor, empty, before }) {
  const page = pageParam(ctx.params);
  setTitle(page > 1 ? `${title}, page ${page}` : title);
  const h1 = heading('h1', headingText, 'view-heading');
  const head = h('div', { className: 'view-head' }, h1, before || null);
  ctx.show(head, loading('Loading movies…'));
  const path = learned.get(ctx.hash) || apiFor(page);
  const result = await request(path, { signal: ctx.signal });
  if (!ctx.current()) return;
  const items = Array.isArray(result.data.data) ? result.data.data : [];
  head.append(cacheBadge(result));
  ctx.show(head,
    items.length ? grid(items) : h('p', { className: 'empty' }, empty),
    items.length ? pager(result.data.pagination, hashFor, 'view-heading') : null);
  // The benchmark measures the first cards from DOMContentLoaded to this mark.
  if (items.length && !performance.getEntriesByName('reelcache:first-cards').length) {
    performance.mark('reelcache:first-cards');
  }
}

function trendingView(ctx, tw) {
  const hashFor = (n) => `#/trending/${tw}?page=${n}`;
  const toggle = h('div', { className: 'toggle', role: 'group', 'aria-label': 'Time window' },
    ['day', 'week'].map((w) => h('button', {
      type: 'button', id: `tw-${w}`, 'aria-pressed': String(w === tw),
      onclick: () => { if (w !== tw) go(`#/trending/${w}?page=1`); },
    }, w === 'day' ? 'Today' : 'This week')));
  return listView(ctx, {
    title: tw === 'day' ? 'Trending today' : 'Trending this week',
    headingText: tw === 'day' ? 'Trending today' : 'Trending this week',
    apiFor: (n) => `/api/movies/trending/?time_window=${tw}&page=${n}`,
    hashFor, empty: 'Nothing is trending.', before: toggle,
  });
}

function popularView(ctx) {
  return listView(ctx, {
    title: 'Popular', headingText: 'Popular movies',
    apiFor: (n) => `/api/movies/popular/?page=${n}`,
    hashFor: (n) => `#/popular?page=${n}`, empty: 'No popular movies.',
  });
}

function searchView(ctx) {
  const q = (ctx.params.get('q') || '').trim();
  $('#search-input').value = q;
  if (!q) {
    setTitle('Search');
    ctx.show(heading('h1', 'Search', 'view-heading'), h('p', { className: 'empty' }, 'Type a title in the search box.'));
    return;
  }
  const enc = encodeURIComponent(q);
  return listView(ctx, {
    title: `Search: ${q}`, headingText: `Results for “${q}”`,
    apiFor: (n) => `/api/movies/search/?query=${enc}&page=${n}`,
    hashFor: (n) => `#/search?q=${enc}&page=${n}`, empty: `No movies match “${q}”.`,
  });
}

function detailsSection(m, result) {
  const title = m.title || m.original_title || 'Untitled';
  const facts = [];
  const y = year(m.release_date);
  if (y) facts.push(m.release_date);
  if (m.runtime) facts.push(`${m.runtime} min`);
  if (Array.isArray(m.genres) && m.genres.length) facts.push(m.genres.map((g) => g.name).join(', '));
  if (typeof m.vote_average === 'number') facts.push(`★ ${m.vote_average.toFixed(1)} / 10`);
  const toggle = h('button', { type: 'button', id: 'favorite-toggle', className: 'primary', 'aria-pressed': 'false' }, 'Add to favorites');
  setupFavorite(toggle, m);
  return h('section', { className: 'details', 'aria-labelledby': 'movie-title' },
    poster(m.poster_path, title, true),
    h('div', { className: 'details-body' },
      h('h1', { id: 'movie-title', tabIndex: -1 }, title),
      m.tagline ? h('p', { className: 'tagline' }, m.tagline) : null,
      facts.length ? h('p', { className: 'facts' }, facts.join(' · ')) : null,
      h('p', { className: 'overview' }, m.overview || 'No overview.'),
      h('div', { className: 'actions' }, toggle, cacheBadge(result))));
}

function favoriteBody(m) {
  const date = typeof m.release_date === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(m.release_date) ? m.release_date : null;
  return {
    tmdb_id: m.id,
    title: String(m.title || m.original_title || 'Untitled').slice(0, 255),
    poster_path: m.poster_path ? String(m.poster_path).slice(0, 255) : null,
    overview: m.overview || '',
    release_date: date,
  };
}

function setupFavorite(btn, m) {
  let favId = null;
  const set = (id) => {
    favId = id;
    btn.textContent = id ? 'Remove from favorites' : 'Add to favorites';
    btn.setAttribute('aria-pressed', String(Boolean(id)));
  };
  if (session.loggedIn) {
    btn.disabled = true;
    request(`/api/users/favorites/check/${m.id}/`, { auth: true })
      .then(({ data }) => set(data.is_favorite && data.favorite_data ? data.favorite_data.id : null))
      .catch(handleBackgroundError)
      .finally(() => { btn.disabled = false; });
  }
  btn.addEventListener('click', async () => {
    if (!session.loggedIn) {
      pendingMessage = ['Log in to keep favorites', 'info'];
      go('#/login?next=' + encodeURIComponent(location.hash || '#/'));
      return;
    }
    btn.disabled = true;
    try {
      if (favId) {
        await request(`/api/users/favorites/${favId}/remove/`, { method: 'DELETE', auth: true });
        set(null);
        showMessage(messageEl, `Removed “${m.title}” from favorites`, 'info');
      } else {
        const { data } = await request('/api/users/favorites/add/', { method: 'POST', body: favoriteBody(m), auth: true });
        set(data.id);
        showMessage(messageEl, `Added “${m.title}” to favorites`, 'info');
      }
    } catch (e) {
      if (!sessionEnded(e)) showMessage(messageEl, errorMessage(e));
    } finally {
      btn.disabled = false;
    }
  });
}

async function movieView(ctx, id) {
  const page = pageParam(ctx.params);
  const recsPath = learned.get(ctx.hash) || `/api/movies/${id}/recommendations/?page=${page}`;
  const recsHash = (n) => `#/movie/${id}?page=${n}`;
  const sameMovie = shownMovie && shownMovie.id === id && viewEl.contains(shownMovie.section);
  const recsBox = h('section', { className: 'recommendations', 'aria-labelledby': 'recs-heading' },
    heading('h2', 'Recommended', 'recs-heading'), loading('Loading recommendations…'));
  const recs = request(recsPath, { signal: ctx.signal });
  recs.catch(() => {}); // awaited below; avoids an unhandled rejection if details fail first
  let details = sameMovie ? shownMovie.section : null;
  if (!sameMovie) {
    ctx.show(loading('Loading movie…'));
    const result = await request(`/api/movies/${id}/`, { signal: ctx.signal });
    if (!ctx.current()) return;
    details = detailsSection(result.data.data, result);
    shownMovie = { id, section: details, title: result.data.data.title };
  }
  setTitle(shownMovie.title || 'Movie');
  ctx.show(details, recsBox);
  try {
    const r = await recs;
    if (!ctx.current()) return;
    const items = Array.isArray(r.data.data) ? r.data.data : [];
    recsBox.replaceChildren(
      h('div', { className: 'view-head' }, heading('h2', 'Recommended', 'recs-heading'), cacheBadge(r)),
      items.length ? grid(items) : h('p', { className: 'empty' }, 'No recommendations for this movie.'),
      items.length ? pager(r.data.pagination, recsHash, 'recs-heading') : null);
  } catch (e) {
    if (!ctx.current() || (e && e.name === 'AbortError')) return;
    recsBox.replaceChildren(heading('h2', 'Recommended', 'recs-heading'), h('p', { className: 'empty' }, errorMessage(e)));
  }
  ctx.keepsDetails = true;
}

function requireLogin(ctx) {
  if (session.loggedIn) return true;
  pendingMessage = ['Log in to see your favorites', 'info'];
  go('#/login?next=' + encodeURIComponent(ctx.hash), true);
  return false;
}

function favoriteCard(f, i) {
  const remove = h('button', { type: 'button', className: 'remove-favorite', dataset: { favoriteId: String(f.id) } }, 'Remove');
  remove.setAttribute('aria-label', `Remove ${f.title} from favorites`);
  remove.addEventListener('click', async () => {
    remove.disabled = true;
    try {
      await request(`/api/users/favorites/${f.id}/remove/`, { method: 'DELETE', auth: true });
      pendingMessage = [`Removed “${f.title}” from favorites`, 'info'];
      focusOnRender = 'view-heading';
      route();
    } catch (e) {
      remove.disabled = false;
      if (!sessionEnded(e)) showMessage(messageEl, errorMessage(e));
    }
  });
  const card = movieCard(f, i, h('p', { className: 'card-actions' }, remove));
  card.classList.add('favorite');
  return card;
}

async function favoritesView(ctx) {
  setTitle('Favorites');
  if (!requireLogin(ctx)) return;
  const page = pageParam(ctx.params);
  const hashFor = (n) => `#/favorites?page=${n}`;
  const head = h('div', { className: 'view-head' }, heading('h1', 'Your favorites', 'view-heading'));
  ctx.show(head, loading('Loading favorites…'));
  const path = learned.get(ctx.hash) || `/api/users/favorites/?page=${page}&page_size=20`;
  let result;
  try {
    result = await request(path, { auth: true, signal: ctx.signal });
  } catch (e) {
    // The last item of the last page removed: that page is gone, show the one before.
    if (e.status === 404 && page > 1 && ctx.current()) { go(hashFor(page - 1), true); return; }
    throw e;
  }
  if (!ctx.current()) return;
  const items = result.data.data || [];
  const count = result.data.pagination ? result.data.pagination.count : items.length;
  head.append(h('p', { className: 'count' }, `${count} ${count === 1 ? 'movie' : 'movies'}`));
  ctx.show(head,
    items.length ? grid(items, favoriteCard) : h('p', { className: 'empty', id: 'favorites-empty' },
      'No favorites yet. Open a movie and choose “Add to favorites”.'),
    items.length ? pager(result.data.pagination, hashFor, 'view-heading') : null);
}

function nextTarget(params) {
  const next = params.get('next') || '';
  return /^#\/(?!login|register)/.test(next) ? next : '#/';
}

function field(id, label, attrs) {
  return h('div', { className: 'field' },
    h('label', { for: id }, label),
    h('input', { id, name: id.replace(/^\w+-/, ''), ...attrs }),
    h('p', { className: 'field-error', id: id + '-error', hidden: true }));
}

function showFieldErrors(form, fields) {
  for (const p of form.querySelectorAll('.field-error')) { p.hidden = true; p.textContent = ''; }
  for (const input of form.querySelectorAll('input')) { input.removeAttribute('aria-invalid'); input.removeAttribute('aria-describedby'); }
  let first = null;
  for (const [name, msgs] of Object.entries(fields || {})) {
    const input = form.querySelector(`input[name="${CSS.escape(name)}"]`);
    if (!input) continue;
    const p = form.querySelector('#' + input.id + '-error');
    p.textContent = [].concat(msgs).join(' ');
    p.hidden = false;
    input.setAttribute('aria-invalid', 'true');
    input.setAttribute('aria-describedby', p.id);
    first = first || input;
  }
  if (first) first.focus();
  return Boolean(first);
}

function loginView(ctx) {
  setTitle('Log in');
  const next = nextTarget(ctx.params);
  const form = h('form', { id: 'login-form', className: 'form', novalidate: true },
    field('login-username', 'Username', { type: 'text', autocomplete: 'username', required: true, maxLength: 150 }),
    field('login-password', 'Password', { type: 'password', autocomplete: 'current-password', required: true }),
    h('button', { type: 'submit', className: 'primary', id: 'login-submit' }, 'Log in'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = form.querySelector('#login-username').value.trim();
    const password = form.querySelector('#login-password').value;
    if (!username || !password) { showMessage(messageEl, 'Enter your username and password'); return; }
    const button = form.querySelector('#login-submit');
    button.disabled = true;
    try {
      await login(username, password);
      pendingMessage = [`Logged in as ${session.username}`, 'info'];
      go(next);
    } catch (err) {
      showMessage(messageEl, errorMessage(err));
    } finally {
      button.disabled = false;
    }
  });
  ctx.show(heading('h1', 'Log in', 'view-heading'),
    session.loggedIn ? h('p', { className: 'notice' }, `You are logged in as ${session.username}. Log in again to switch accounts.`) : null,
    form,
    h('p', {}, 'No account? ', h('a', { href: '#/register' + (next !== '#/' ? '?next=' + encodeURIComponent(next) : '') }, 'Register')));
  if (!ctx.restoring) form.querySelector('#login-username').focus();
}

function registerView(ctx) {
  setTitle('Register');
  const next = nextTarget(ctx.params);
  const form = h('form', { id: 'register-form', className: 'form', novalidate: true },
    field('register-username', 'Username', { type: 'text', autocomplete: 'username', required: true, minLength: 3, maxLength: 150 }),
    field('register-email', 'Email (optional)', { type: 'email', autocomplete: 'email' }),
    field('register-password', 'Password (at least 8 characters)', { type: 'password', autocomplete: 'new-password', required: true, minLength: 8 }),
    h('button', { type: 'submit', className: 'primary', id: 'register-submit' }, 'Create account'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const username = form.querySelector('#register-username').value.trim();
    const email = form.querySelector('#register-email').value.trim();
    const password = form.querySelector('#register-password').value;
    const body = { username, password };
    if (email) body.email = email;
    const button = form.querySelector('#register-submit');
    button.disabled = true;
    showFieldErrors(form, {});
    try {
      await request('/api/users/register/', { method: 'POST', body });
      await login(username, password);
      pendingMessage = [`Welcome, ${session.username}: your account is ready`, 'info'];
      go(next);
    } catch (err) {
      if (err.code === 'CONFLICT') showFieldErrors(form, { username: [err.message] });
      else showFieldErrors(form, err.fields);
      showMessage(messageEl, errorMessage(err));
    } finally {
      button.disabled = false;
    }
  });
  ctx.show(heading('h1', 'Create an account', 'view-heading'), form,
    h('p', {}, 'Have an account? ', h('a', { href: '#/login' }, 'Log in')));
  if (!ctx.restoring) form.querySelector('#register-username').focus();
}

function notFoundView(ctx) {
  setTitle('Not found');
  ctx.show(heading('h1', 'Page not found', 'view-heading'), h('p', {}, h('a', { href: '#/' }, 'See what is trending')));
}

// ---------- router ----------

function sessionEnded(e) {
  if (!e || (e.code !== 'SESSION_ENDED' && e.code !== 'AUTH_REQUIRED')) return false;
  pendingMessage = e.code === 'SESSION_ENDED' ? [SESSION_ENDED, 'error'] : ['Log in first', 'info'];
  go('#/login?next=' + encodeURIComponent(location.hash || '#/'));
  return true;
}

function handleBackgroundError(e) {
  if (e && e.code === 'SESSION_ENDED') showMessage(messageEl, SESSION_ENDED);
}

function markNav(parts) {
  const section = parts[0] || 'trending';
  for (const a of document.querySelectorAll('.main-nav a')) {
    if (a.id === 'nav-' + section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function route(first = false) {
  const parsed = parseHash();
  if (!parsed) return; // a plain in-page anchor
  if (controller) controller.abort();
  controller = new AbortController();
  const mine = ++seq;
  const { parts, params, hash } = parsed;
  if (pendingMessage) { showMessage(messageEl, pendingMessage[0], pendingMessage[1]); pendingMessage = null; }
  else showMessage(messageEl, '');
  markNav(parts);
  if (parts[0] !== 'search') $('#search-input').value = '';
  const ctx = {
    params, hash, signal: controller.signal, restoring: first,
    current: () => mine === seq,
    show: (...nodes) => { if (mine === seq) viewEl.replaceChildren(...nodes.filter(Boolean)); },
  };
  const focusTarget = focusOnRender;
  focusOnRender = false;
  try {
    const [a, b] = parts;
    if (!a || (a === 'trending' && !b)) await trendingView(ctx, 'day');
    else if (a === 'trending' && (b === 'day' || b === 'week')) await trendingView(ctx, b);
    else if (a === 'popular') await popularView(ctx);
    else if (a === 'search') await searchView(ctx);
    else if (a === 'movie' && /^\d{1,10}$/.test(b || '')) await movieView(ctx, Number(b));
    else if (a === 'favorites') await favoritesView(ctx);
    else if (a === 'login') loginView(ctx);
    else if (a === 'register') registerView(ctx);
    else notFoundView(ctx);
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (mine !== seq) return;
    if (sessionEnded(e)) return;
    showMessage(messageEl, errorMessage(e));
    const retry = h('button', { type: 'button', id: 'retry', onclick: () => route() }, 'Try again');
    ctx.show(heading('h1', 'Could not load this page', 'view-heading'), h('p', {}, retry, ' or ', h('a', { href: '#/' }, 'see what is trending')));
    if (!document.title.includes('Could not load')) setTitle('Could not load');
  }
  if (mine !== seq) return;
  if (!ctx.keepsDetails) shownMovie = null;
  // Move focus to the new content after a navigation (not on the first load: the user has not
  // asked for anything yet), so keyboard and screen reader users start at the top of it.
  if (!first && !document.activeElement.matches('input, textarea')) {
    const target = (focusTarget && document.getElementById(focusTarget)) || viewEl.querySelector('h1');
    if (target) target.focus({ preventScroll: false });
  }
}

// ---------- header ----------

function renderAccount() {
  const inside = session.loggedIn;
  $('#login-link').hidden = inside;
  $('#register-link').hidden = inside;
  const user = $('#current-user');
  user.hidden = !inside;
  user.textContent = inside ? (session.username || 'you') : '';
  $('#logout').hidden = !inside;
  $('#dashboard-item').hidden = !(inside && session.isStaff);
}

$('#logout').addEventListener('click', async () => {
  await logout();
  pendingMessage = ['You are logged out', 'info'];
  const p = parseHash();
  go(p && p.parts[0] === 'favorites' ? '#/' : location.hash || '#/');
});

$('#search-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = $('#search-input').value.trim();
  if (!q) { $('#search-input').focus(); return; }
  go('#/search?q=' + encodeURIComponent(q) + '&page=1');
});

$('#skip-link').addEventListener('click', (e) => {
  e.preventDefault();
  $('#main').focus();
});

window.addEventListener('reelcache:session', renderAccount);
window.addEventListener('hashchange', () => route());

// First fetch as early as possible: the module runs as soon as the document is parsed.
renderAccount();
route(true);

// Check the stored session in the background (staff link, expired refresh token).
if (session.loggedIn) {
  profile().catch(handleBackgroundError);
}
