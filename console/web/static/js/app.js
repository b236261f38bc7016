// The console's entry point: hash routing, the session (login when the
// console acts as a SASL principal), the collapsible navigation, and the
// lifecycle of the page on screen (its refresh timers stop when it goes).

import { api, get, onUnauthorized } from './api.js';
import { h, clear, errorBox, field } from './ui.js';
import * as overview from './pages/overview.js';
import * as topics from './pages/topics.js';
import * as topic from './pages/topic.js';
import * as groups from './pages/groups.js';
import * as connect from './pages/connect.js';
import * as streams from './pages/streams.js';
import * as security from './pages/security.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const toggle = document.querySelector('.nav-toggle');
const userEl = document.getElementById('user');

// Routes: the first path segment picks the page; the rest are its
// parameters (decoded).
const routes = {
  '': overview.render,
  topics: (ctx) => (ctx.params.length ? topic.render(ctx) : topics.render(ctx)),
  groups: (ctx) => (ctx.params.length ? groups.renderGroup(ctx) : groups.render(ctx)),
  connect: connect.render,
  streams: (ctx) => (ctx.params.length ? streams.renderApp(ctx) : streams.render(ctx)),
  security: security.render,
};

let current = null; // the page on screen: {timers, alive}
let session = { loginRequired: false, user: '' };

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const parts = raw.split('/').filter((p) => p !== '').map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { page: parts[0] || '', params: parts.slice(1) };
}

function leave() {
  if (!current) return;
  current.alive = false;
  current.timers.forEach(clearInterval);
  current = null;
}

async function show() {
  leave();
  closeNav();
  const { page, params } = parseHash();
  const state = { alive: true, timers: [] };
  current = state;
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.nav === (page || 'overview')) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (session.loginRequired && !session.user) {
    renderLogin();
    return;
  }
  const fn = routes[page];
  const ctx = {
    main,
    params,
    alive: () => state.alive,
    // every runs fn now and then every ms while the page is on screen; a
    // run that fails shows nothing new (the page keeps its last view).
    every(fn2, ms) {
      state.timers.push(setInterval(() => {
        if (state.alive && !document.hidden) fn2();
      }, ms));
    },
  };
  if (!fn) {
    clear(main, h('h1', null, 'Not found'), h('p', null, 'No page at ', h('code', null, location.hash), '.'));
    return;
  }
  clear(main);
  document.body.dataset.route = '';
  try {
    await fn(ctx);
  } catch (e) {
    if (state.alive) clear(main, errorBox(e));
  }
  // Tests (and anyone curious) can tell when the page for a route is drawn.
  if (state.alive) document.body.dataset.route = location.hash || '#/';
}

function renderLogin(message) {
  const user = h('input', { name: 'username', autocomplete: 'username', required: true, 'data-testid': 'login-username' });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const out = h('div');
  const form = h('form', {
    class: 'card login',
    'data-testid': 'login-form',
    async onsubmit(ev) {
      ev.preventDefault();
      clear(out);
      try {
        await api('POST', '/login', { username: user.value, password: pass.value });
        await loadSession();
        show();
      } catch (e) {
        clear(out, errorBox(e, 'login-error'));
      }
    },
  },
  h('h1', null, 'Sign in'),
  h('p', { class: 'muted' }, 'The console acts on the cluster as the user you sign in as; its ACLs apply.'),
  field('Username', user), field('Password', pass),
  h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, 'Sign in'),
  out);
  clear(main, message ? errorBox(message) : null, form);
  user.focus();
}

async function loadSession() {
  try {
    session = (await get('/session')) || session;
  } catch (e) {
    session = { loginRequired: false, user: '' };
  }
  clear(userEl);
  if (session.user) {
    userEl.append(session.user, ' ', h('button', {
      type: 'button',
      class: 'link',
      'data-testid': 'logout',
      async onclick() {
        try {
          await api('POST', '/logout');
        } finally {
          await loadSession();
          show();
        }
      },
    }, 'Sign out'));
  }
  // The Security page is shown only when the cluster has an authorizer or SCRAM.
  const secLink = nav.querySelector('[data-nav="security"]');
  if (session.loginRequired && !session.user) {
    secLink.hidden = true;
    return;
  }
  security.available().then((ok) => {
    secLink.hidden = !ok;
  });
}

function closeNav() {
  document.body.classList.remove('nav-open');
  toggle.setAttribute('aria-expanded', 'false');
}

toggle.addEventListener('click', () => {
  const open = document.body.classList.toggle('nav-open');
  toggle.setAttribute('aria-expanded', String(open));
});

onUnauthorized(() => {
  if (session.user || !session.loginRequired) {
    session = { ...session, loginRequired: true, user: '' };
    leave();
    renderLogin('Your session ended; sign in again.');
  }
});

window.addEventListener('hashchange', show);
loadSession().then(show);
