// Small DOM helpers shared by the pages: element construction, tables that
// scroll horizontally, error boxes, number formats and SVG charts.

const SVG = 'http://www.w3.org/2000/svg';

/**
 * h creates an element: h('a', {href: '#/', class: 'x', onclick: fn}, 'text', child).
 * Attributes starting with "on" are listeners; true/false toggle boolean
 * attributes; null and undefined are skipped; children may be strings,
 * nodes, arrays or null.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** s is h for SVG elements. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    // A textarea's value is its content; an input's value attribute is
    // also what form.reset() returns to.
    else if (k === 'value' && el instanceof HTMLTextAreaElement) el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** clear empties el and appends children. */
export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let idSeq = 0;

/** uid returns a fresh element id with the given prefix. */
export function uid(prefix) {
  idSeq += 1;
  return `${prefix || 'f'}-${idSeq}`;
}

/**
 * field wraps a control with its label (label's for = control's id) and an
 * optional hint and error slot (data-testid="field-error-NAME").
 */
export function field(label, control, opts = {}) {
  if (!control.id) control.id = uid('f');
  const err = h('div', { class: 'field-error', role: 'alert', 'data-testid': opts.name ? `field-error-${opts.name}` : null });
  const wrap = h('div', { class: 'field' + (opts.wide ? ' wide' : '') },
    h('label', { for: control.id }, label, opts.required ? h('span', { class: 'req', title: 'required' }, ' *') : null),
    control,
    opts.hint ? h('div', { class: 'hint' }, opts.hint) : null,
    err);
  wrap.setError = (msg) => {
    err.textContent = msg || '';
    control.toggleAttribute('aria-invalid', !!msg);
  };
  return wrap;
}

/** select builds a <select> from [value, label] pairs or plain strings. */
export function select(attrs, options, selected) {
  const el = h('select', attrs);
  for (const o of options) {
    const [v, l] = Array.isArray(o) ? o : [o, o];
    el.append(h('option', { value: v, selected: String(v) === String(selected) }, l));
  }
  return el;
}

/**
 * table renders rows under columns [{label, value: row => node|string, class}]
 * inside a horizontally scrolling wrapper.
 */
export function table(columns, rows, opts = {}) {
  const thead = h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col', class: c.class }, c.label))));
  const tbody = h('tbody');
  if (rows.length === 0) {
    tbody.append(h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, opts.empty || 'Nothing here.')));
  }
  for (const r of rows) {
    const tr = h('tr', opts.rowAttrs ? opts.rowAttrs(r) : null, columns.map((c) => h('td', { class: c.class, 'data-label': c.label }, c.value(r))));
    tbody.append(tr);
    if (opts.after) {
      const extra = opts.after(r, tr);
      if (extra) tbody.append(extra);
    }
  }
  return h('div', { class: 'table-wrap', 'data-testid': opts.testid }, h('table', null, opts.caption ? h('caption', null, opts.caption) : null, thead, tbody));
}

/** errorBox shows an API or other error clearly, with its code. */
export function errorBox(err, testid) {
  const code = err && err.code ? h('code', null, err.code) : null;
  return h('div', { class: 'error', role: 'alert', 'data-testid': testid || 'error' },
    h('strong', null, 'Error: '), err && err.message ? err.message : String(err), code ? [' ', code] : null);
}

/** notice is a success message. */
export function notice(text, testid) {
  return h('div', { class: 'notice', role: 'status', 'data-testid': testid || 'notice' }, text);
}

/** fmtNum formats an integer or float for people. */
export function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits });
}

/** fmtBytes formats a size in bytes; negative means unknown. */
export function fmtBytes(n) {
  if (n === null || n === undefined || n < 0) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${v.toLocaleString('en-US', { maximumFractionDigits: i ? 1 : 0 })} ${units[i]}`;
}

/** fmtTime formats unix milliseconds as a local date and time. */
export function fmtTime(ms) {
  if (ms === null || ms === undefined || ms < 0) return '–';
  const d = new Date(Number(ms));
  const p = (x, n = 2) => String(x).padStart(n, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** badge is a state label coloured by what it means. */
export function badge(state) {
  const st = String(state || 'UNKNOWN');
  const kind = /^(RUNNING|STABLE|ONLINE)$/i.test(st) ? 'ok'
    : /FAILED|DEAD|ERROR|OFFLINE|UNASSIGNED/i.test(st) ? 'bad'
      : /PAUSED|STOPPED|EMPTY|REBALANC|PREPARING|COMPLETING|PENDING|RESTARTING/i.test(st) ? 'warn' : 'neutral';
  return h('span', { class: `badge ${kind}`, 'data-state': st }, st);
}

/** link is an anchor to a hash route. */
export const link = (route, text, attrs = {}) => h('a', { href: '#/' + route, ...attrs }, text);

/** route builds a hash route from encoded path segments. */
export const route = (...parts) => parts.map((p) => encodeURIComponent(p)).join('/');

/**
 * lineChart draws [{t, v}] as an SVG area chart with axes labels: the y
 * maximum and the time span.
 */
export function lineChart(points, opts = {}) {
  const w = opts.width || 600;
  const ht = opts.height || 160;
  const pad = { l: 48, r: 8, t: 8, b: 22 };
  const svg = s('svg', { viewBox: `0 0 ${w} ${ht}`, class: 'chart', role: 'img', 'aria-label': opts.label || 'chart', preserveAspectRatio: 'none', 'data-testid': opts.testid });
  if (points.length < 2) {
    svg.append(s('text', { x: w / 2, y: ht / 2, 'text-anchor': 'middle', class: 'chart-empty' }, 'Collecting samples…'));
    return svg;
  }
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const maxV = Math.max(...points.map((p) => p.v), 0) || 1;
  const x = (t) => pad.l + ((t - t0) / Math.max(t1 - t0, 1)) * (w - pad.l - pad.r);
  const y = (v) => pad.t + (1 - v / maxV) * (ht - pad.t - pad.b);
  const line = points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join('');
  const area = `${line}L${x(t1).toFixed(1)},${y(0)}L${x(t0).toFixed(1)},${y(0)}Z`;
  svg.append(
    s('line', { x1: pad.l, y1: y(0), x2: w - pad.r, y2: y(0), class: 'axis' }),
    s('line', { x1: pad.l, y1: pad.t, x2: pad.l, y2: y(0), class: 'axis' }),
    s('text', { x: pad.l - 4, y: pad.t + 10, 'text-anchor': 'end', class: 'tick' }, fmtNum(maxV, 1)),
    s('text', { x: pad.l - 4, y: y(0), 'text-anchor': 'end', class: 'tick' }, '0'),
    s('text', { x: pad.l, y: ht - 4, class: 'tick' }, fmtClock(t0)),
    s('text', { x: w - pad.r, y: ht - 4, 'text-anchor': 'end', class: 'tick' }, fmtClock(t1)),
    s('path', { d: area, class: 'area' }),
    s('path', { d: line, class: 'line' }),
  );
  return svg;
}

function fmtClock(ms) {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** sparkline draws [{t, v}] as a small inline SVG line. */
export function sparkline(points, label) {
  const w = 100;
  const ht = 24;
  const svg = s('svg', { viewBox: `0 0 ${w} ${ht}`, class: 'sparkline', role: 'img', 'aria-label': label || 'trend', preserveAspectRatio: 'none' });
  if (!points || points.length < 2) return svg;
  const t0 = points[0].t;
  const span = Math.max(points[points.length - 1].t - t0, 1);
  const maxV = Math.max(...points.map((p) => p.v), 0) || 1;
  const d = points.map((p, i) => `${i ? 'L' : 'M'}${(((p.t - t0) / span) * w).toFixed(1)},${(2 + (1 - p.v / maxV) * (ht - 4)).toFixed(1)}`).join('');
  svg.append(s('path', { d, class: 'line' }));
  return svg;
}

/** loading is the placeholder shown while a page loads. */
export const loading = () => h('p', { class: 'muted', 'data-testid': 'loading' }, 'Loading…');
