// A topic's page, in tabs: its partitions (leader, replicas, ISR, offsets,
// sizes), the message browser, a produce form, and its configs with each
// config's documentation inline.

import { api, get, q, enc } from '../api.js';
import { h, clear, table, errorBox, notice, field, select, fmtNum, fmtBytes, fmtTime, link, route, loading } from '../ui.js';

const TABS = [['partitions', 'Partitions'], ['messages', 'Messages'], ['produce', 'Produce'], ['configs', 'Configs']];

/** render shows the topic named by ctx.params[0], on the tab ctx.params[1]. */
export async function render(ctx) {
  const name = ctx.params[0];
  const tab = TABS.some(([t]) => t === ctx.params[1]) ? ctx.params[1] : 'partitions';
  const body = h('div', null, loading());
  clear(ctx.main,
    h('p', { class: 'crumbs' }, link('topics', 'Topics'), ' / '),
    h('h1', { 'data-testid': 'topic-title' }, name),
    h('div', { class: 'tabs', role: 'tablist' }, TABS.map(([t, label]) => link(route('topics', name, t), label, {
      role: 'tab', 'aria-selected': String(t === tab), class: t === tab ? 'active' : '', 'data-testid': `tab-${t}`,
    }))),
    body);
  let topic;
  try {
    topic = await get('/topics/' + enc(name));
  } catch (e) {
    clear(body, errorBox(e));
    return;
  }
  if (!ctx.alive()) return;
  const partitions = (topic.partitions || []).map((p) => p.partition);
  if (tab === 'partitions') {
    const draw = (t) => clear(body, partitionsTable(t));
    draw(topic);
    ctx.every(async () => {
      try {
        const t = await get('/topics/' + enc(name));
        if (ctx.alive()) draw(t);
      } catch { /* keep the last view */ }
    }, 5000);
  } else if (tab === 'messages') {
    clear(body, messageBrowser(name, partitions));
  } else if (tab === 'produce') {
    clear(body, produceForm(name, partitions));
  } else {
    clear(body, configsEditor(name, topic.configs || []));
  }
}

function partitionsTable(t) {
  const ids = (xs) => (xs || []).join(', ');
  return table([
    { label: 'Partition', value: (p) => String(p.partition), class: 'num' },
    { label: 'Leader', value: (p) => (p.leader >= 0 ? String(p.leader) : h('span', { class: 'badge bad' }, 'offline')) },
    { label: 'Replicas', value: (p) => ids(p.replicas) },
    { label: 'ISR', value: (p) => h('span', { class: (p.isr || []).length < (p.replicas || []).length ? 'warn-text' : '' }, ids(p.isr)) },
    { label: 'Start offset', value: (p) => fmtNum(p.startOffset), class: 'num' },
    { label: 'End offset', value: (p) => fmtNum(p.endOffset), class: 'num' },
    { label: 'Messages', value: (p) => fmtNum(p.endOffset - p.startOffset), class: 'num' },
    { label: 'Size', value: (p) => fmtBytes(p.sizeBytes), class: 'num' },
  ], t.partitions || [], { testid: 'partitions-table' });
}

function partitionSelect(partitions, withAll, testid) {
  const opts = withAll ? [['', 'All partitions']] : [['', 'Any (by key)']];
  return select({ 'data-testid': testid }, opts.concat(partitions.map((p) => [String(p), `Partition ${p}`])), '');
}

function messageBrowser(name, partitions) {
  const part = partitionSelect(partitions, true, 'browse-partition');
  const seek = select({ 'data-testid': 'browse-seek' }, [['newest', 'Newest'], ['offset', 'From offset'], ['timestamp', 'From timestamp']], 'newest');
  const offset = h('input', { type: 'number', min: 0, value: '0', 'data-testid': 'browse-offset' });
  const ts = h('input', { type: 'datetime-local', step: 1, 'data-testid': 'browse-timestamp' });
  const limit = h('input', { type: 'number', min: 1, max: 500, value: '50', 'data-testid': 'browse-limit' });
  const filter = h('input', { type: 'search', placeholder: 'text, or e.g. value.user == "ann" && partition < 3', 'data-testid': 'browse-filter', autocomplete: 'off' });
  const format = select({ 'data-testid': 'browse-format' }, [['auto', 'Auto'], ['json', 'JSON'], ['text', 'Text'], ['hex', 'Hex']], 'auto');
  const offsetField = field('Offset', offset);
  const tsField = field('Timestamp', ts);
  const filterField = field('Filter', filter, { wide: true, hint: 'A word matches key, value or any header; or an expression over key, value, value.a.b, headers.NAME, partition, offset, timestamp with == != < <= > >= contains matches, && || ! and parentheses.' });
  const showSeekInputs = () => {
    offsetField.hidden = seek.value !== 'offset';
    tsField.hidden = seek.value !== 'timestamp';
  };
  seek.addEventListener('change', showSeekInputs);
  showSeekInputs();
  const results = h('div');
  const run = async () => {
    filterField.setError('');
    clear(results, loading());
    const params = {
      partition: part.value, seek: seek.value, limit: limit.value, filter: filter.value.trim(), format: format.value,
      offset: seek.value === 'offset' ? offset.value : '',
      timestamp: seek.value === 'timestamp' && ts.value ? String(new Date(ts.value).getTime()) : '',
    };
    try {
      const r = await get(`/topics/${enc(name)}/messages` + q(params));
      clear(results, messagesTable(r));
    } catch (e) {
      if (e.status === 400 && params.filter) filterField.setError(e.message);
      clear(results, errorBox(e, 'browse-error'));
    }
  };
  const form = h('form', {
    class: 'card form-grid',
    'data-testid': 'browse-form',
    onsubmit(ev) {
      ev.preventDefault();
      run();
    },
  },
  field('Partition', part), field('Seek', seek), offsetField, tsField, field('Limit', limit), field('Format', format),
  filterField,
  h('div', { class: 'actions wide' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'browse-submit' }, 'Search')));
  run();
  return h('div', null, form, results);
}

function messagesTable(r) {
  const msgs = r.messages || [];
  const short = (v) => {
    if (v === null || v === undefined) return h('span', { class: 'muted' }, 'null');
    const oneLine = String(v).replace(/\s+/g, ' ');
    return oneLine.length > 120 ? oneLine.slice(0, 120) + '…' : oneLine;
  };
  const tbl = table([
    { label: 'Partition', value: (m) => String(m.partition), class: 'num' },
    { label: 'Offset', value: (m) => String(m.offset), class: 'num' },
    { label: 'Timestamp', value: (m) => fmtTime(m.timestamp) },
    { label: 'Key', value: (m) => h('span', { class: 'mono' }, short(m.key)) },
    { label: 'Value', value: (m) => h('span', { class: 'mono', 'data-testid': 'message-value' }, short(m.value)) },
    { label: 'Headers', value: (m) => String((m.headers || []).length), class: 'num' },
  ], msgs, {
    testid: 'messages-table',
    empty: 'No messages matched.',
    rowAttrs: (m) => ({ class: 'expandable', tabindex: 0, 'aria-expanded': 'false', 'data-testid': 'message-row', title: 'Show headers and the full value' }),
    after(m, tr) {
      const detail = h('tr', { class: 'detail', hidden: true }, h('td', { colspan: 6 },
        h('dl', null,
          h('dt', null, `Key (${m.keyFormat || 'text'})`), h('dd', null, h('pre', null, m.key === null || m.key === undefined ? 'null' : String(m.key))),
          h('dt', null, `Value (${m.valueFormat || 'text'})`), h('dd', null, h('pre', { 'data-testid': 'message-full-value' }, m.value === null || m.value === undefined ? 'null' : String(m.value))),
          h('dt', null, 'Headers'), h('dd', null, (m.headers || []).length
            ? h('ul', null, m.headers.map((x) => h('li', null, h('code', null, x.key), ': ', h('span', { class: 'mono' }, x.value === null ? 'null' : String(x.value)))))
            : h('span', { class: 'muted' }, 'none')))));
      const flip = () => {
        detail.hidden = !detail.hidden;
        tr.setAttribute('aria-expanded', String(!detail.hidden));
      };
      tr.addEventListener('click', flip);
      tr.addEventListener('keydown', (ev) => {
        if (ev.key === 'Enter' || ev.key === ' ') {
          ev.preventDefault();
          flip();
        }
      });
      return detail;
    },
  });
  return h('div', null, h('p', { class: 'muted', 'data-testid': 'browse-summary' },
    `${msgs.length} message${msgs.length === 1 ? '' : 's'} shown, ${fmtNum(r.scanned)} scanned.`), tbl);
}

function produceForm(name, partitions) {
  const part = partitionSelect(partitions, false, 'produce-partition');
  const key = h('input', { 'data-testid': 'produce-key', autocomplete: 'off' });
  const value = h('textarea', { rows: 5, 'data-testid': 'produce-value' });
  const headers = h('textarea', { rows: 3, placeholder: 'one per line: name: value', 'data-testid': 'produce-headers' });
  const out = h('div', { class: 'wide' });
  const headersField = field('Headers', headers, { wide: true });
  return h('form', {
    class: 'card form-grid',
    'data-testid': 'produce-form',
    async onsubmit(ev) {
      ev.preventDefault();
      clear(out);
      headersField.setError('');
      const hs = [];
      for (const line of headers.value.split('\n')) {
        if (!line.trim()) continue;
        const i = line.indexOf(':');
        if (i <= 0) {
          headersField.setError(`"${line}" is not "name: value"`);
          return;
        }
        hs.push({ key: line.slice(0, i).trim(), value: line.slice(i + 1).trim() });
      }
      const body = { key: key.value, value: value.value, headers: hs };
      if (part.value !== '') body.partition = Number(part.value);
      try {
        const r = await api('POST', `/topics/${enc(name)}/messages`, body);
        clear(out, notice(`Produced to partition ${r.partition} at offset ${r.offset}.`, 'produce-done'));
      } catch (e) {
        clear(out, errorBox(e, 'produce-error'));
      }
    },
  },
  h('h2', { class: 'wide' }, 'Produce a message'),
  field('Partition', part), field('Key', key), field('Value', value, { wide: true }), headersField,
  h('div', { class: 'actions wide' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'produce-submit' }, 'Produce')),
  out);
}

// configsEditor is the configs form; saved shows the notice of a save
// that drew it anew with the broker's answer.
function configsEditor(name, configs, saved) {
  const out = h('div', null, saved ? notice('Configs saved.', 'configs-saved') : null);
  const inputs = new Map();
  const rows = configs.slice().sort((a, b) => a.name.localeCompare(b.name));
  const fields = new Map();
  const tbl = table([
    { label: 'Config', value: (c) => h('div', null, h('code', null, c.name), c.doc ? h('div', { class: 'hint', 'data-testid': `config-doc-${c.name}` }, c.doc) : null) },
    {
      label: 'Value',
      value(c) {
        if (c.readOnly) return h('span', { class: 'mono' }, c.sensitive ? '(sensitive)' : c.value ?? '');
        const input = h('input', { value: c.sensitive ? '' : c.value ?? '', placeholder: c.sensitive ? '(sensitive)' : '', 'aria-label': c.name, 'data-testid': `config-input-${c.name}` });
        input.dataset.orig = input.value;
        inputs.set(c.name, input);
        const err = h('div', { class: 'field-error', role: 'alert', 'data-testid': `field-error-${c.name}` });
        fields.set(c.name, { input, err });
        return h('div', null, input, err);
      },
    },
    { label: 'Source', value: (c) => h('span', { class: 'muted' }, c.source || '') },
    {
      label: '',
      value: (c) => (c.readOnly || !/DYNAMIC_TOPIC|TOPIC_CONFIG/i.test(c.source || '') ? '' : h('button', {
        type: 'button',
        class: 'link',
        'data-testid': `config-reset-${c.name}`,
        onclick: () => save({ set: {}, delete: [c.name] }),
      }, 'Reset to default')),
    },
  ], rows, { testid: 'configs-table' });
  const extra = h('div', { class: 'config-row' },
    h('input', { 'aria-label': 'New config name', placeholder: 'another config name', 'data-testid': 'config-new-key' }),
    h('input', { 'aria-label': 'New config value', placeholder: 'value', 'data-testid': 'config-new-value' }));
  async function save(change) {
    clear(out);
    for (const f of fields.values()) {
      f.err.textContent = '';
    }
    try {
      const cfgs = await api('PUT', `/topics/${enc(name)}/configs`, change);
      const fresh = Array.isArray(cfgs) ? cfgs : cfgs && cfgs.configs;
      if (fresh) out.parentElement.replaceWith(configsEditor(name, fresh, true));
      else clear(out, notice('Configs saved.', 'configs-saved'));
    } catch (e) {
      if (e.field && fields.has(e.field)) fields.get(e.field).err.textContent = e.message;
      clear(out, errorBox(e, 'configs-error'));
    }
  }
  return h('form', {
    'data-testid': 'configs-form',
    onsubmit(ev) {
      ev.preventDefault();
      const set = {};
      for (const [k, input] of inputs) {
        if (input.value !== input.dataset.orig) set[k] = input.value;
      }
      const [nk, nv] = extra.querySelectorAll('input');
      if (nk.value.trim()) set[nk.value.trim()] = nv.value;
      if (Object.keys(set).length === 0) {
        clear(out, notice('Nothing changed.'));
        return;
      }
      save({ set, delete: [] });
    },
  },
  tbl, h('fieldset', null, h('legend', null, 'Set another config'), extra),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'configs-save' }, 'Save changes')),
  out);
}
