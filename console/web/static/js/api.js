// The console's JSON API client. Every call goes to api/... relative to the
// page, so the console works wherever it is mounted. State-changing calls
// carry the X-Gregor-Console header the server requires against cross-site
// requests.

/** An error answer of the API: HTTP status plus the body's message, code and field. */
export class ApiError extends Error {
  constructor(status, body) {
    super(messageOf(status, body));
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
    this.code = body && typeof body === 'object' ? body.code || '' : '';
    this.field = body && typeof body === 'object' ? body.field || '' : '';
  }
}

function messageOf(status, body) {
  if (body && typeof body === 'object') {
    // Our API says {"error"}, Kafka Connect's REST API {"error_code","message"}.
    const m = body.error || body.message;
    if (m) return String(m);
  }
  if (typeof body === 'string' && body.trim()) return body.trim();
  return `HTTP ${status}`;
}

const listeners = new Set();

/** onUnauthorized registers fn to run when a call answers 401. */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

/**
 * api calls the console API: method, path under /api (with its query), and
 * an optional JSON body. It resolves to the parsed JSON (or null for an
 * empty answer) and rejects with an ApiError.
 */
export async function api(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (method !== 'GET' && method !== 'HEAD') init.headers['X-Gregor-Console'] = '1';
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch('api' + path, init);
  } catch (e) {
    throw new ApiError(0, { error: `cannot reach the console: ${e.message}`, code: 'NETWORK' });
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!resp.ok) {
    if (resp.status === 401 && path !== '/login') listeners.forEach((fn) => fn());
    throw new ApiError(resp.status, data);
  }
  return data;
}

/** get is api('GET', path). */
export const get = (path) => api('GET', path);

/** q builds a query string from the non-empty values of params ("" if none). */
export function q(params) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => s.append(k, x));
    else s.append(k, String(v));
  }
  const out = s.toString();
  return out ? '?' + out : '';
}

/** enc encodes one path segment. */
export const enc = encodeURIComponent;
