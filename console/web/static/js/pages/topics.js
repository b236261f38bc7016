// The topics page: search, the list, a create form with configs, and
// delete behind a confirmation that requires typing the topic's name.

import { api, get, q, enc } from '../api.js';
import { h, clear, table, errorBox, notice, field, fmtNum, link, route, loading } from '../ui.js';

// Common topic configs offered as suggestions in the create form.
const COMMON_CONFIGS = ['cleanup.policy', 'retention.ms', 'retention.bytes', 'segment.bytes', 'segment.ms',
  'min.insync.replicas', 'max.message.bytes', 'compression.type', 'message.timestamp.type',
  'delete.retention.ms', 'min.compaction.lag.ms', 'unclean.leader.election.enable'];

/** configRows is an editable list of key = value rows; rows() reads them. */
export function configRows(testid) {
  const list = h('div', { class: 'config-rows', 'data-testid': testid });
  const dl = h('datalist', { id: `${testid}-names` }, COMMON_CONFIGS.map((c) => h('option', { value: c })));
  const add = (k = '', v = '') => {
    const key = h('input', { 'aria-label': 'Config name', list: dl.id, placeholder: 'name, e.g. cleanup.policy', value: k, 'data-testid': 'config-key' });
    const val = h('input', { 'aria-label': 'Config value', placeholder: 'value', value: v, 'data-testid': 'config-value' });
    const row = h('div', { class: 'config-row' }, key, val,
      h('button', { type: 'button', class: 'link', 'aria-label': 'Remove config', onclick: () => row.remove() }, 'Remove'));
    list.append(row);
    return row;
  };
  const el = h('div', null, dl, list,
    h('button', { type: 'button', onclick: () => add(), 'data-testid': `${testid}-add` }, 'Add config'));
  el.rows = () => {
    const out = {};
    for (const row of list.querySelectorAll('.config-row')) {
      const [k, v] = row.querySelectorAll('input');
      if (k.value.trim()) out[k.value.trim()] = v.value;
    }
    return out;
  };
  return el;
}

function createForm(onCreated) {
  const name = h('input', { name: 'name', required: true, 'data-testid': 'create-topic-name', autocomplete: 'off' });
  const parts = h('input', { name: 'partitions', type: 'number', min: 1, value: '1', required: true, 'data-testid': 'create-topic-partitions' });
  const rf = h('input', { name: 'replicationFactor', type: 'number', min: 1, value: '1', required: true, 'data-testid': 'create-topic-rf' });
  const configs = configRows('create-topic-configs');
  const out = h('div', { class: 'wide' });
  const nameField = field('Name', name, { required: true, name: 'name' });
  const form = h('form', {
    class: 'card form-grid',
    'data-testid': 'create-topic-form',
    async onsubmit(ev) {
      ev.preventDefault();
      clear(out);
      nameField.setError('');
      try {
        const t = await api('POST', '/topics', {
          name: name.value.trim(),
          partitions: Number(parts.value),
          replicationFactor: Number(rf.value),
          configs: configs.rows(),
        });
        const created = t && t.name ? t.name : name.value.trim();
        clear(out, notice(`Created topic ${created}.`, 'create-topic-done'));
        form.reset();
        onCreated(created);
      } catch (e) {
        if (e.field === 'name' || e.code === 'TOPIC_ALREADY_EXISTS' || e.code === 'INVALID_TOPIC_EXCEPTION') nameField.setError(e.message);
        clear(out, errorBox(e, 'create-topic-error'));
      }
    },
  },
  h('h2', null, 'Create a topic'),
  nameField,
  field('Partitions', parts, { required: true }),
  field('Replication factor', rf, { required: true }),
  h('fieldset', { class: 'wide' }, h('legend', null, 'Configs'), configs),
  h('div', { class: 'actions wide' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'create-topic-submit' }, 'Create topic')),
  out);
  return form;
}

/** confirmDelete shows an inline dialog that needs the name typed before it deletes. */
export function confirmDelete(what, name, doDelete, testid) {
  const input = h('input', { autocomplete: 'off', 'data-testid': `${testid}-confirm-input` });
  const out = h('div');
  const btn = h('button', { type: 'submit', class: 'danger', disabled: true, 'data-testid': `${testid}-confirm` }, `Delete ${what}`);
  input.addEventListener('input', () => {
    btn.disabled = input.value !== name;
  });
  const box = h('form', {
    class: 'confirm card',
    role: 'dialog',
    'aria-label': `Delete ${what} ${name}`,
    async onsubmit(ev) {
      ev.preventDefault();
      if (input.value !== name) return;
      btn.disabled = true;
      try {
        await doDelete();
        box.remove();
      } catch (e) {
        clear(out, errorBox(e));
        btn.disabled = false;
      }
    },
  },
  h('p', null, `This deletes ${what} `, h('strong', null, name), ' and cannot be undone. Type its name to confirm.'),
  field(`Name of the ${what} to delete`, input),
  h('div', { class: 'actions' }, btn, h('button', { type: 'button', onclick: () => box.remove() }, 'Cancel')),
  out);
  setTimeout(() => input.focus(), 0);
  return box;
}

/** render shows the topics page. */
export async function render(ctx) {
  const search = h('input', { type: 'search', placeholder: 'Filter by name', 'data-testid': 'topic-search' });
  const internal = h('input', { type: 'checkbox', 'data-testid': 'topic-internal' });
  const listEl = h('div', null, loading());
  const msg = h('div');
  // The topics this page deleted: the brokers' metadata may list them for
  // a moment after the controller has deleted them.
  const deleted = new Set();
  const load = async () => {
    let list;
    try {
      list = await get('/topics' + q({ q: search.value.trim(), internal: internal.checked ? 'true' : '' }));
    } catch (e) {
      if (ctx.alive()) clear(listEl, errorBox(e));
      return;
    }
    if (!ctx.alive()) return;
    list = (list || []).filter((t) => !deleted.has(t.name));
    clear(listEl, table([
      { label: 'Name', value: (t) => link(route('topics', t.name), t.name, { 'data-testid': `topic-link-${t.name}` }) },
      { label: 'Partitions', value: (t) => fmtNum(t.partitions), class: 'num' },
      { label: 'Replication', value: (t) => fmtNum(t.replicationFactor), class: 'num' },
      { label: 'Messages', value: (t) => fmtNum(t.messages), class: 'num' },
      { label: 'Under-replicated', value: (t) => fmtNum(t.underReplicated), class: 'num' },
      { label: '', value: (t) => (t.internal ? h('span', { class: 'badge neutral' }, 'internal') : h('button', {
        type: 'button',
        class: 'link danger',
        'data-testid': `delete-topic-${t.name}`,
        onclick(ev) {
          const cell = ev.target.closest('td');
          if (cell.querySelector('.confirm')) return;
          cell.append(confirmDelete('topic', t.name, async () => {
            await api('DELETE', '/topics/' + enc(t.name));
            deleted.add(t.name);
            clear(msg, notice(`Deleted topic ${t.name}.`, 'delete-topic-done'));
            load();
          }, 'delete-topic'));
        },
      }, 'Delete')) },
    ], list || [], { testid: 'topics-table', empty: search.value ? 'No topic matches.' : 'No topics yet.', rowAttrs: (t) => ({ 'data-topic': t.name }) }));
  };
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(load, 250);
  });
  internal.addEventListener('change', load);
  clear(ctx.main,
    h('h1', null, 'Topics'),
    h('div', { class: 'toolbar' }, field('Search topics', search),
      h('label', { class: 'check' }, internal, ' Show internal topics')),
    msg, listEl,
    createForm((created) => {
      deleted.delete(created);
      load();
    }));
  await load();
}
