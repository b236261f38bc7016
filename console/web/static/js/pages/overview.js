// The overview page: brokers, controller, topic and partition counts,
// under-replicated and offline partitions, and throughput now and over the
// last hour (the console's own samples), refreshed every few seconds.

import { get } from '../api.js';
import { h, clear, table, errorBox, fmtNum, lineChart, loading } from '../ui.js';

function stat(label, value, testid, warn) {
  return h('div', { class: 'stat' + (warn ? ' warn' : ''), 'data-testid': testid },
    h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}

/** render shows the overview. */
export async function render(ctx) {
  const body = h('div', null, loading());
  clear(ctx.main, h('h1', null, 'Overview'), body);
  const load = async () => {
    let o;
    try {
      o = await get('/overview');
    } catch (e) {
      if (ctx.alive()) clear(body, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    const tp = o.throughput || { series: [] };
    // The series holds summed high watermarks' rate per sample.
    const points = (tp.series || []).map((p) => ({ t: p.t, v: p.messagesIn }));
    clear(body,
      h('div', { class: 'stats' },
        stat('Brokers', fmtNum((o.brokers || []).length), 'stat-brokers'),
        stat('Controller', o.controller >= 0 ? String(o.controller) : 'none', 'stat-controller', o.controller < 0),
        stat('Topics', fmtNum(o.topics), 'stat-topics'),
        stat('Partitions', fmtNum(o.partitions), 'stat-partitions'),
        stat('Under-replicated', fmtNum(o.underReplicated), 'stat-under-replicated', o.underReplicated > 0),
        stat('Offline', fmtNum(o.offline), 'stat-offline', o.offline > 0),
        stat('Messages in / s', fmtNum(tp.messagesInPerSec, 1), 'stat-messages-in'),
        stat('Bytes in / s', tp.bytesInPerSec ? fmtNum(tp.bytesInPerSec, 0) : '–', 'stat-bytes-in')),
      h('section', { class: 'card' },
        h('h2', null, 'Messages in per second, last hour'),
        lineChart(points, { label: 'messages in per second over the last hour', testid: 'throughput-chart' })),
      h('section', null,
        h('h2', null, 'Brokers'),
        h('p', { class: 'muted' }, 'Cluster ID ', h('code', null, o.clusterId || 'unknown')),
        table([
          { label: 'ID', value: (b) => String(b.id) },
          { label: 'Host', value: (b) => b.host },
          { label: 'Port', value: (b) => String(b.port) },
          { label: 'Rack', value: (b) => b.rack || '–' },
          { label: 'Role', value: (b) => (b.id === o.controller ? 'controller' : '') },
        ], o.brokers || [], { testid: 'brokers-table' })));
  };
  await load();
  ctx.every(load, 5000);
}
