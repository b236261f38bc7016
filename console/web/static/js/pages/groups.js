// Consumer groups: the list, and a group's members, assignment and lag per
// partition (with a sparkline of the console's samples), the reset-offsets
// form (a dry-run preview, then Apply) and delete.

import { api, get, enc } from '../api.js';
import { h, clear, table, errorBox, notice, field, select, fmtNum, badge, link, route, sparkline, loading } from '../ui.js';
import { confirmDelete } from './topics.js';

/** render shows the list of consumer groups, refreshed every few seconds. */
export async function render(ctx) {
  const body = h('div', null, loading());
  clear(ctx.main, h('h1', null, 'Consumer groups'), body);
  const load = async () => {
    let list;
    try {
      list = await get('/groups');
    } catch (e) {
      if (ctx.alive()) clear(body, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    clear(body, table([
      { label: 'Group', value: (g) => link(route('groups', g.group), g.group, { 'data-testid': `group-link-${g.group}` }) },
      { label: 'State', value: (g) => badge(g.state) },
      { label: 'Protocol', value: (g) => [g.protocolType, g.protocol].filter(Boolean).join(' / ') || '–' },
      { label: 'Members', value: (g) => fmtNum(g.members), class: 'num' },
      { label: 'Lag', value: (g) => fmtNum(g.lag), class: 'num' },
      { label: 'Coordinator', value: (g) => (g.coordinator >= 0 ? String(g.coordinator) : '–'), class: 'num' },
    ], list || [], { testid: 'groups-table', empty: 'No consumer groups.' }));
  };
  await load();
  ctx.every(load, 3000);
}

/** renderGroup shows one group (ctx.params[0]), its live part refreshed every 2 s. */
export async function renderGroup(ctx) {
  const name = ctx.params[0];
  const live = h('div', null, loading());
  const msg = h('div');
  const resetSlot = h('div');
  const del = h('button', {
    type: 'button',
    class: 'danger',
    'data-testid': 'delete-group',
    onclick() {
      if (msg.querySelector('.confirm')) return;
      msg.append(confirmDelete('group', name, async () => {
        await api('DELETE', '/groups/' + enc(name));
        location.hash = '#/groups';
      }, 'delete-group'));
    },
  }, 'Delete group');
  clear(ctx.main,
    h('p', { class: 'crumbs' }, link('groups', 'Consumer groups'), ' / '),
    h('div', { class: 'title-row' }, h('h1', { 'data-testid': 'group-title' }, name), del),
    msg, live, resetSlot);
  let topics = null;
  const load = async () => {
    let g;
    try {
      g = await get('/groups/' + enc(name));
    } catch (e) {
      if (ctx.alive()) clear(live, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    const offsets = g.offsets || [];
    const totalLag = offsets.reduce((n, o) => n + (o.lag > 0 ? o.lag : 0), 0);
    clear(live,
      h('div', { class: 'stats' },
        h('div', { class: 'stat' }, h('div', { class: 'stat-value', 'data-testid': 'group-state' }, badge(g.state)), h('div', { class: 'stat-label' }, 'State')),
        h('div', { class: 'stat' }, h('div', { class: 'stat-value', 'data-testid': 'group-members' }, fmtNum((g.members || []).length)), h('div', { class: 'stat-label' }, 'Members')),
        h('div', { class: 'stat' + (totalLag > 0 ? ' warn' : '') }, h('div', { class: 'stat-value', 'data-testid': 'group-lag' }, String(totalLag)), h('div', { class: 'stat-label' }, 'Total lag')),
        h('div', { class: 'stat' }, h('div', { class: 'stat-value' }, g.protocol || '–'), h('div', { class: 'stat-label' }, 'Assignor'))),
      h('h2', null, 'Members'),
      table([
        { label: 'Member', value: (m) => h('span', { class: 'mono' }, m.memberId) },
        { label: 'Client ID', value: (m) => m.clientId },
        { label: 'Host', value: (m) => m.host },
        { label: 'Instance', value: (m) => m.instanceId || '–' },
        { label: 'Assignment', value: (m) => (m.assignment || []).map((a) => `${a.topic} [${(a.partitions || []).join(', ')}]`).join('; ') || '–' },
      ], g.members || [], { testid: 'members-table', empty: 'No members: the group is empty.' }),
      h('h2', null, 'Offsets and lag'),
      table([
        { label: 'Topic', value: (o) => link(route('topics', o.topic), o.topic) },
        { label: 'Partition', value: (o) => String(o.partition), class: 'num' },
        { label: 'Committed', value: (o) => (o.committed >= 0 ? String(o.committed) : '–'), class: 'num' },
        { label: 'End', value: (o) => String(o.end), class: 'num' },
        { label: 'Lag', value: (o) => h('span', { 'data-testid': `lag-${o.topic}-${o.partition}` }, fmtNum(o.lag)), class: 'num' },
        { label: 'Last hour', value: (o) => sparkline((o.lagSeries || []).map((p) => ({ t: p.t, v: p.lag })), `lag of ${o.topic} partition ${o.partition} over the last hour`) },
      ], offsets, {
        testid: 'offsets-table',
        empty: 'No committed offsets.',
        rowAttrs: (o) => ({ 'data-topic': o.topic, 'data-partition': o.partition, 'data-committed': o.committed }),
      }));
    const ts = [...new Set(offsets.map((o) => o.topic))].sort();
    if (topics === null || ts.join('\n') !== topics.join('\n')) {
      topics = ts;
      clear(resetSlot, resetForm(name, ts, load));
    }
  };
  await load();
  ctx.every(load, 2000);
}

function resetForm(group, topics, reload) {
  const topic = select({ 'data-testid': 'reset-topic' }, [['', 'All committed topics']].concat(topics), '');
  const to = select({ 'data-testid': 'reset-to' }, [['earliest', 'Earliest'], ['latest', 'Latest'], ['timestamp', 'Timestamp'], ['offset', 'Offset']], 'earliest');
  const ts = h('input', { type: 'datetime-local', step: 1, 'data-testid': 'reset-timestamp' });
  const off = h('input', { type: 'number', min: 0, value: '0', 'data-testid': 'reset-offset' });
  const tsField = field('Timestamp', ts);
  const offField = field('Offset', off);
  const sync = () => {
    tsField.hidden = to.value !== 'timestamp';
    offField.hidden = to.value !== 'offset';
  };
  to.addEventListener('change', sync);
  sync();
  const preview = h('div');
  const apply = h('button', { type: 'button', class: 'danger', disabled: true, 'data-testid': 'reset-apply' }, 'Apply');
  const request = (dryRun) => {
    const body = { topic: topic.value, to: to.value, dryRun };
    if (to.value === 'timestamp') body.timestamp = ts.value ? new Date(ts.value).getTime() : Date.now();
    if (to.value === 'offset') body.offset = Number(off.value);
    return api('POST', `/groups/${enc(group)}/reset`, body);
  };
  // Any change to the form invalidates the preview.
  for (const el of [topic, to, ts, off]) {
    el.addEventListener('change', () => {
      apply.disabled = true;
    });
  }
  const planTable = (r, caption) => table([
    { label: 'Topic', value: (p) => p.topic },
    { label: 'Partition', value: (p) => String(p.partition), class: 'num' },
    { label: 'From', value: (p) => (p.from >= 0 ? String(p.from) : '–'), class: 'num' },
    { label: 'To', value: (p) => String(p.to), class: 'num' },
  ], r.partitions || [], { testid: 'reset-preview-table', caption, empty: 'No partitions to reset.' });
  apply.addEventListener('click', async () => {
    apply.disabled = true;
    try {
      const r = await request(false);
      clear(preview, notice(r.applied ? 'Offsets reset.' : 'Nothing was applied.', 'reset-done'), planTable(r, 'Applied'));
      reload();
    } catch (e) {
      clear(preview, errorBox(e, 'reset-error'));
    }
  });
  return h('form', {
    class: 'card form-grid',
    'data-testid': 'reset-form',
    async onsubmit(ev) {
      ev.preventDefault();
      apply.disabled = true;
      try {
        const r = await request(true);
        clear(preview, planTable(r, 'Preview (dry run): nothing has changed yet'));
        apply.disabled = false;
      } catch (e) {
        clear(preview, errorBox(e, 'reset-error'));
      }
    },
  },
  h('h2', { class: 'wide' }, 'Reset offsets'),
  h('p', { class: 'muted wide' }, 'As kafka-consumer-groups --reset-offsets: only while the group has no members. Preview first, then apply.'),
  field('Topic', topic), field('Reset to', to), tsField, offField,
  h('div', { class: 'actions wide' }, h('button', { type: 'submit', 'data-testid': 'reset-preview' }, 'Preview'), apply),
  h('div', { class: 'wide' }, preview));
}
