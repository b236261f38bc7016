// Streams applications: the list (state, members and lag by
// application.id) and an app's topology drawn as an SVG graph, one box per
// sub-topology with its source, processor and sink nodes in layers.

import { get, enc } from '../api.js';
import { h, s, clear, table, errorBox, fmtNum, badge, link, route, loading } from '../ui.js';

/** render lists the configured streams applications. */
export async function render(ctx) {
  const body = h('div', null, loading());
  clear(ctx.main, h('h1', null, 'Streams applications'), body);
  const load = async () => {
    let list;
    try {
      list = await get('/streams');
    } catch (e) {
      if (ctx.alive()) clear(body, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    if (!list || list.length === 0) {
      clear(body, h('p', { class: 'muted' }, 'No streams application is configured. Start the console with --streams URL (an App\'s HTTPAddr).'));
      return;
    }
    clear(body, table([
      { label: 'Application ID', value: (a) => (a.applicationId ? link(route('streams', a.applicationId), a.applicationId, { 'data-testid': `streams-link-${a.applicationId}` }) : '–') },
      { label: 'URL', value: (a) => h('span', { class: 'mono small' }, a.url) },
      { label: 'State', value: (a) => (a.error ? h('span', { class: 'error-text' }, a.error) : badge(a.state)) },
      { label: 'Members', value: (a) => fmtNum(a.members), class: 'num' },
      { label: 'Lag', value: (a) => fmtNum(a.lag), class: 'num' },
    ], list, { testid: 'streams-table' }));
  };
  await load();
  ctx.every(load, 5000);
}

/** renderApp shows one application's topology (ctx.params[0]). */
export async function renderApp(ctx) {
  const id = ctx.params[0];
  const body = h('div', null, loading());
  clear(ctx.main, h('p', { class: 'crumbs' }, link('streams', 'Streams applications'), ' / '), h('h1', null, id), body);
  let topo;
  try {
    topo = await get(`/streams/${enc(id)}/topology`);
  } catch (e) {
    clear(body, errorBox(e));
    return;
  }
  const subs = subTopologies(topo);
  clear(body,
    h('h2', null, 'Topology'),
    subs.length === 0 ? h('p', { class: 'muted' }, 'The topology is empty.') : null,
    subs.map((st) => h('section', { class: 'card topology', 'data-testid': `subtopology-${st.id}` },
      h('h3', null, st.global ? `Global store (sub-topology ${st.id})` : `Sub-topology ${st.id}`), h('div', { class: 'graph-wrap' }, drawGraph(st)))),
    h('p', { class: 'muted small' }, 'Sources are green, sinks blue, processors grey; state stores are listed under their processor.'));
}

// subTopologies normalises the topology JSON: sub-topologies with nodes
// {name, type, topics, stores} and edges [from, to], from either a
// node's successors or an edges list.
export function subTopologies(topo) {
  const raw = (topo && (topo.subtopologies || topo.subTopologies || topo.sub_topologies)) || [];
  const topEdges = (topo && topo.edges) || [];
  return raw.map((st, i) => {
    const nodes = (st.nodes || []).map((n) => ({
      name: n.name,
      type: String(n.kind || n.type || '').toLowerCase(),
      topics: n.topics || (n.topic ? [n.topic] : []),
      pattern: n.topicPattern || n.pattern || '',
      stores: n.stores || [],
    }));
    const names = new Set(nodes.map((n) => n.name));
    const seen = new Set();
    const edges = [];
    const add = (a, b) => {
      const k = `${a}\u0000${b}`;
      if (a === undefined || b === undefined || seen.has(k)) return;
      seen.add(k);
      edges.push([a, b]);
    };
    for (const n of st.nodes || []) {
      for (const to of n.successors || []) add(n.name, to);
    }
    for (const e of (st.edges || []).concat(topEdges.filter((e) => names.has(e.from ?? e[0])))) add(e.from ?? e[0], e.to ?? e[1]);
    return { id: st.id ?? i, global: !!st.global, nodes, edges };
  });
}

// drawGraph lays the nodes out in layers (a node's layer is the longest
// path to it from a node without predecessors) and draws boxes and
// arrows.
function drawGraph(st) {
  const byName = new Map(st.nodes.map((n) => [n.name, n]));
  for (const [a, b] of st.edges) {
    for (const x of [a, b]) {
      if (!byName.has(x)) byName.set(x, { name: x, type: '', topics: [], stores: [] });
    }
  }
  const nodes = [...byName.values()];
  const preds = new Map(nodes.map((n) => [n.name, []]));
  for (const [a, b] of st.edges) preds.get(b).push(a);
  const layer = new Map();
  const depth = (name, seen) => {
    if (layer.has(name)) return layer.get(name);
    if (seen.has(name)) return 0; // a cycle: should not happen in a topology
    seen.add(name);
    const d = preds.get(name).length ? 1 + Math.max(...preds.get(name).map((p) => depth(p, seen))) : 0;
    layer.set(name, d);
    return d;
  };
  nodes.forEach((n) => depth(n.name, new Set()));
  const layers = [];
  for (const n of nodes) {
    const d = layer.get(n.name);
    (layers[d] = layers[d] || []).push(n);
  }
  const W = 220;
  const H = 58;
  const GX = 24;
  const GY = 44;
  const width = Math.max(1, ...layers.map((l) => l.length)) * (W + GX) + GX;
  const height = layers.length * (H + GY) + GY / 2;
  const pos = new Map();
  layers.forEach((l, d) => {
    const offset = (width - l.length * (W + GX) + GX) / 2;
    l.forEach((n, i) => pos.set(n.name, { x: offset + i * (W + GX), y: GY / 2 + d * (H + GY) }));
  });
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'graph', role: 'img', 'aria-label': `sub-topology ${st.id}` },
    s('defs', null, s('marker', { id: `arrow-${st.id}`, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0L10,5L0,10z', class: 'arrow' }))));
  for (const [a, b] of st.edges) {
    const p = pos.get(a);
    const q2 = pos.get(b);
    const x1 = p.x + W / 2;
    const y1 = p.y + H;
    const x2 = q2.x + W / 2;
    const y2 = q2.y;
    const my = (y1 + y2) / 2;
    svg.append(s('path', { d: `M${x1},${y1}C${x1},${my} ${x2},${my} ${x2},${y2}`, class: 'edge', 'marker-end': `url(#arrow-${st.id})` }));
  }
  for (const n of nodes) {
    const p = pos.get(n.name);
    const kind = /source/.test(n.type) ? 'source' : /sink/.test(n.type) ? 'sink' : 'processor';
    const detail = kind === 'processor'
      ? (n.stores.length ? `stores: ${n.stores.join(', ')}` : '')
      : `topic: ${n.topics.join(', ') || n.pattern}`;
    svg.append(s('g', { class: `node ${kind}`, 'data-node': n.name },
      s('title', null, `${n.name}${detail ? '\n' + detail : ''}`),
      s('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6 }),
      s('text', { x: p.x + 8, y: p.y + 18, class: 'node-kind' }, kind),
      s('text', { x: p.x + 8, y: p.y + 34, class: 'node-name' }, clip(n.name, 30)),
      detail ? s('text', { x: p.x + 8, y: p.y + 50, class: 'node-detail' }, clip(detail, 34)) : null));
  }
  return svg;
}

function clip(t, n) {
  return t.length > n ? t.slice(0, n - 1) + '…' : t;
}
