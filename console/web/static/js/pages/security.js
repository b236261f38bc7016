// Security: ACLs and SCRAM users, shown only when the cluster has an
// authorizer or SCRAM credentials (the API answers SECURITY_DISABLED
// otherwise).

import { get } from '../api.js';
import { h, clear, table, errorBox, loading } from '../ui.js';

/** available resolves to whether the cluster has security to show. */
export async function available() {
  try {
    await get('/acls');
    return true;
  } catch {
    return false; // SECURITY_DISABLED, or no way to tell
  }
}

/** render shows the ACLs and SCRAM users. */
export async function render(ctx) {
  const acls = h('div', null, loading());
  const users = h('div', null, loading());
  clear(ctx.main, h('h1', null, 'Security'), h('h2', null, 'ACLs'), acls, h('h2', null, 'SCRAM users'), users);
  const [a, u] = await Promise.allSettled([get('/acls'), get('/users')]);
  if (!ctx.alive()) return;
  const disabled = (r) => r.status === 'rejected' && r.reason.code === 'SECURITY_DISABLED';
  if (disabled(a)) clear(acls, h('p', { class: 'muted' }, 'The cluster has no authorizer.'));
  else if (a.status === 'rejected') clear(acls, errorBox(a.reason));
  else {
    clear(acls, table([
      { label: 'Principal', value: (x) => x.principal },
      { label: 'Host', value: (x) => x.host },
      { label: 'Operation', value: (x) => x.operation },
      { label: 'Permission', value: (x) => h('span', { class: `badge ${/deny/i.test(x.permission) ? 'bad' : 'ok'}` }, x.permission) },
      { label: 'Resource', value: (x) => x.resourceType },
      { label: 'Name', value: (x) => h('span', { class: 'mono' }, x.resourceName) },
      { label: 'Pattern', value: (x) => x.patternType },
    ], a.value || [], { testid: 'acls-table', empty: 'No ACLs.' }));
  }
  if (disabled(u)) clear(users, h('p', { class: 'muted' }, 'The cluster has no SCRAM credentials.'));
  else if (u.status === 'rejected') clear(users, errorBox(u.reason));
  else {
    clear(users, table([
      { label: 'User', value: (x) => x.user },
      { label: 'Mechanisms', value: (x) => (x.mechanisms || []).join(', ') },
    ], u.value || [], { testid: 'users-table', empty: 'No SCRAM users.' }));
  }
}
