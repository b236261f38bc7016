// Kafka Connect: each configured cluster's connectors with their status and
// tasks, failed tasks' traces, pause/resume/restart/delete, and the create
// and edit form, which validates through the worker and shows each
// field's errors next to it before it creates. Calls go through the
// console's pass-through proxy /api/connect/NAME/... to Connect's REST API.

import { api, get, enc } from '../api.js';
import { h, clear, table, errorBox, notice, field, select, fmtNum, badge, link, route, loading } from '../ui.js';
import { confirmDelete } from './topics.js';

const cx = (cluster, path) => `/connect/${enc(cluster)}${path}`;

/** render routes connect, connect/CLUSTER/new and connect/CLUSTER/edit/NAME. */
export async function render(ctx) {
  const [cluster, action, name] = ctx.params;
  if (cluster && action === 'new') return connectorForm(ctx, cluster, null);
  if (cluster && action === 'edit' && name) return connectorForm(ctx, cluster, name);
  return clusters(ctx);
}

async function clusters(ctx) {
  const body = h('div', null, loading());
  clear(ctx.main, h('h1', null, 'Connect'), body);
  const load = async () => {
    let list;
    try {
      list = await get('/connect');
    } catch (e) {
      if (ctx.alive()) clear(body, errorBox(e));
      return;
    }
    if (!list || list.length === 0) {
      clear(body, h('p', { class: 'muted' }, 'No Connect cluster is configured. Start the console with --connect NAME=URL.'));
      return;
    }
    const sections = await Promise.all(list.map((c) => clusterSection(c, load)));
    if (ctx.alive()) clear(body, sections);
  };
  await load();
  ctx.every(load, 3000);
}

async function clusterSection(c, reload) {
  const head = h('div', { class: 'title-row' },
    h('h2', null, c.name, ' ', h('span', { class: 'muted small' }, c.url, c.version ? ` · Connect ${c.version}` : '')),
    c.error ? null : link(route('connect', c.name, 'new'), 'New connector', { class: 'button primary', 'data-testid': `new-connector-${c.name}` }));
  if (c.error) return h('section', { class: 'card', 'data-testid': `connect-cluster-${c.name}` }, head, errorBox({ message: c.error, code: 'UNREACHABLE' }));
  let connectors;
  try {
    connectors = await get(cx(c.name, '/connectors?expand=status&expand=info'));
  } catch (e) {
    return h('section', { class: 'card', 'data-testid': `connect-cluster-${c.name}` }, head, errorBox(e));
  }
  const msg = h('div');
  const rows = Object.keys(connectors || {}).sort().map((n) => ({ name: n, ...connectors[n] }));
  const act = (label, method, path, testid, cls) => h('button', {
    type: 'button',
    class: cls || '',
    'data-testid': testid,
    async onclick() {
      clear(msg);
      try {
        await api(method, cx(c.name, path));
        clear(msg, notice(`${label}: done.`));
        reload();
      } catch (e) {
        clear(msg, errorBox(e));
      }
    },
  }, label);
  const tbl = table([
    { label: 'Connector', value: (r) => h('strong', null, r.name) },
    { label: 'Type', value: (r) => (r.info && r.info.type) || (r.status && r.status.type) || '–' },
    { label: 'Class', value: (r) => h('span', { class: 'mono small' }, (r.info && r.info.config && r.info.config['connector.class']) || '–') },
    { label: 'State', value: (r) => h('span', { 'data-testid': `connector-state-${r.name}` }, badge(r.status && r.status.connector && r.status.connector.state)) },
    {
      label: 'Tasks',
      value: (r) => h('div', { class: 'tasks' }, ((r.status && r.status.tasks) || []).map((t) => h('div', null,
        `#${t.id} `, h('span', { 'data-testid': `task-state-${r.name}-${t.id}` }, badge(t.state)), t.worker_id ? h('span', { class: 'muted small' }, ` on ${t.worker_id}`) : null,
        t.trace ? h('details', { class: 'trace' }, h('summary', null, 'Trace'), h('pre', { 'data-testid': `task-trace-${r.name}-${t.id}` }, t.trace)) : null))),
    },
    {
      label: 'Actions',
      value: (r) => {
        const n = enc(r.name);
        const paused = r.status && r.status.connector && r.status.connector.state === 'PAUSED';
        const cell = h('div', { class: 'actions' },
          paused ? act('Resume', 'PUT', `/connectors/${n}/resume`, `resume-${r.name}`) : act('Pause', 'PUT', `/connectors/${n}/pause`, `pause-${r.name}`),
          act('Restart', 'POST', `/connectors/${n}/restart?includeTasks=true&onlyFailed=false`, `restart-${r.name}`),
          link(route('connect', c.name, 'edit', r.name), 'Edit', { class: 'button', 'data-testid': `edit-${r.name}` }),
          h('button', {
            type: 'button',
            class: 'danger',
            'data-testid': `delete-connector-${r.name}`,
            onclick() {
              if (cell.querySelector('.confirm')) return;
              cell.append(confirmDelete('connector', r.name, async () => {
                await api('DELETE', cx(c.name, `/connectors/${n}`));
                reload();
              }, 'delete-connector'));
            },
          }, 'Delete'));
        return cell;
      },
    },
  ], rows, { testid: `connectors-table-${c.name}`, empty: 'No connectors.', rowAttrs: (r) => ({ 'data-connector': r.name }) });
  return h('section', { class: 'card', 'data-testid': `connect-cluster-${c.name}` }, head,
    h('p', { class: 'muted' }, `${fmtNum(rows.length)} connector${rows.length === 1 ? '' : 's'}`), msg, tbl);
}

// connectorForm creates a connector (name null) or edits one.
async function connectorForm(ctx, cluster, name) {
  const body = h('div', null, loading());
  clear(ctx.main,
    h('p', { class: 'crumbs' }, link('connect', 'Connect'), ` / ${cluster} / `),
    h('h1', null, name ? `Edit connector ${name}` : 'New connector'),
    body);
  let plugins;
  let current = {};
  try {
    plugins = await get(cx(cluster, '/connector-plugins'));
    if (name) current = (await get(cx(cluster, `/connectors/${enc(name)}/config`))) || {};
  } catch (e) {
    clear(body, errorBox(e));
    return;
  }
  if (!ctx.alive()) return;
  const nameInput = h('input', { value: name || '', required: true, disabled: !!name, autocomplete: 'off', 'data-testid': 'connector-name' });
  const plugin = select({ 'data-testid': 'connector-plugin', required: true, disabled: !!name },
    [['', 'Pick a plugin…']].concat((plugins || []).map((p) => [p.class, `${p.class} (${p.type}${p.version ? ' ' + p.version : ''})`])),
    current['connector.class'] || '');
  if (name && current['connector.class'] && !plugin.value) {
    plugin.append(h('option', { value: current['connector.class'], selected: true }, current['connector.class']));
  }
  const showAll = h('input', { type: 'checkbox', 'data-testid': 'connector-show-all' });
  const nameField = field('Name', nameInput, { required: true, name: 'name' });
  const fieldsEl = h('div', { class: 'form-grid' });
  const out = h('div');
  const inputs = new Map(); // config name -> {input, field, def}
  let values = { ...current };

  const readValues = () => {
    for (const [k, f] of inputs) {
      const v = f.input.value;
      if (v === '' && !(k in current)) delete values[k];
      else values[k] = v;
    }
    values['connector.class'] = plugin.value;
    values.name = nameInput.value.trim();
    return values;
  };

  // validate sends the values to the worker and draws the fields from its
  // answer, each with its errors; it resolves to the error count.
  const validate = async () => {
    clear(out);
    nameField.setError('');
    if (!plugin.value) {
      clear(out, errorBox({ message: 'Pick a plugin first.' }));
      return -1;
    }
    const cfg = readValues();
    let r;
    try {
      r = await api('PUT', cx(cluster, `/connector-plugins/${enc(plugin.value)}/config/validate`), cfg);
    } catch (e) {
      clear(out, errorBox(e, 'connector-error'));
      return -1;
    }
    drawFields(r);
    let count = r.error_count || 0;
    if (!cfg.name) {
      nameField.setError('Missing required configuration "name" which has no default value.');
      count += 1;
    }
    clear(out, count ? errorBox({ message: `${count} field${count === 1 ? ' has' : 's have'} errors; see next to each field.`, code: 'INVALID_CONFIG' }, 'connector-invalid')
      : notice('The configuration is valid.', 'connector-valid'));
    return count;
  };

  const drawFields = (r) => {
    inputs.clear();
    const groups = new Map();
    for (const c of r.configs || []) {
      const def = c.definition || {};
      const val = c.value || {};
      if (def.name === 'name' || def.name === 'connector.class') {
        if (def.name === 'name' && (val.errors || []).length) nameField.setError(val.errors.join(' '));
        continue;
      }
      const errors = val.errors || [];
      const hasValue = values[def.name] !== undefined;
      const important = def.required || def.importance === 'HIGH' || errors.length || hasValue;
      if (val.visible === false && !errors.length) continue;
      const recommended = val.recommended_values || [];
      let input;
      if (def.type === 'BOOLEAN') {
        input = select({}, [['', `default (${def.default_value ?? 'none'})`], 'true', 'false'], values[def.name] ?? '');
      } else if (recommended.length) {
        input = select({}, [['', def.default_value != null ? `default (${def.default_value})` : '']].concat(recommended), values[def.name] ?? '');
      } else {
        input = h('input', {
          value: values[def.name] ?? '',
          placeholder: def.default_value != null ? `default: ${def.default_value}` : '',
          type: def.type === 'PASSWORD' ? 'password' : 'text',
          autocomplete: 'off',
        });
      }
      input.setAttribute('data-testid', `config-${def.name}`);
      const f = field(def.display_name || def.name, input, { required: def.required, name: def.name, hint: [def.display_name && def.display_name !== def.name ? `${def.name}: ` : '', def.documentation || ''].join('') });
      f.setError(errors.join(' '));
      f.hidden = !important && !showAll.checked;
      f.dataset.optional = important ? '' : 'yes';
      inputs.set(def.name, { input, field: f, def });
      const g = def.group || 'Other';
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(f);
    }
    clear(fieldsEl, [...groups].map(([g, fs]) => h('fieldset', { class: 'wide' }, h('legend', null, g), h('div', { class: 'form-grid' }, fs))));
    hideEmptyGroups();
  };

  // A group whose fields are all hidden is hidden too.
  const hideEmptyGroups = () => {
    for (const fs of fieldsEl.querySelectorAll('fieldset')) {
      fs.hidden = ![...fs.querySelectorAll('.field')].some((f) => !f.hidden);
    }
  };

  showAll.addEventListener('change', () => {
    for (const { field: f } of inputs.values()) {
      if (f.dataset.optional) f.hidden = !showAll.checked;
    }
    hideEmptyGroups();
  });
  plugin.addEventListener('change', () => {
    values = { ...current };
    if (plugin.value) validate().then(() => clear(out));
    else clear(fieldsEl);
  });

  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'connector-submit' }, name ? 'Save' : 'Create');
  const form = h('form', {
    class: 'card',
    'data-testid': 'connector-form',
    async onsubmit(ev) {
      ev.preventDefault();
      submit.disabled = true;
      try {
        const errs = await validate();
        if (errs !== 0) return;
        const cfg = { ...readValues() };
        const n = cfg.name;
        try {
          if (name) await api('PUT', cx(cluster, `/connectors/${enc(n)}/config`), cfg);
          else await api('POST', cx(cluster, '/connectors'), { name: n, config: cfg });
        } catch (e) {
          clear(out, errorBox(e, 'connector-error'));
          return;
        }
        location.hash = '#/' + route('connect');
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'form-grid' }, nameField, field('Plugin', plugin, { required: true })),
  h('label', { class: 'check' }, showAll, ' Show all fields (the optional ones too)'),
  fieldsEl,
  h('div', { class: 'actions' },
    h('button', { type: 'button', 'data-testid': 'connector-validate', onclick: () => validate() }, 'Validate'),
    submit,
    link('connect', 'Cancel', { class: 'button' })),
  out);
  clear(body, form);
  if (plugin.value) await validate().then(() => clear(out));
}
