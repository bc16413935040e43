// The operations page's behaviour: live queue depths, replay and purge, trace search. Texts from the
// server are inserted with textContent only, never as markup.
(function () {
  'use strict';
  const json = async (method, url, body) => {
    const init = {method, headers: {}};
    if (body !== undefined) {
      init.headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(url, init);
    const text = await r.text();
    let value = null;
    try { value = JSON.parse(text); } catch (e) { value = {error: text}; }
    if (!r.ok) { throw new Error((value && value.error) || r.status + ''); }
    return value;
  };
  const cell = (tr, text, cls) => {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) { td.className = cls; }
    tr.appendChild(td);
    return td;
  };

  async function refreshQueues() {
    try {
      const rows = await json('GET', '/ops/queues');
      const body = document.querySelector('#queues tbody');
      body.replaceChildren(...rows.map((q) => {
        const tr = document.createElement('tr');
        tr.dataset.queue = q.queue;
        cell(tr, q.queue);
        cell(tr, q.messages === null ? 'missing' : String(q.messages), 'n messages');
        cell(tr, q.consumers === null ? 'missing' : String(q.consumers), 'n');
        return tr;
      }));
      document.getElementById('queues-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      document.getElementById('queues-updated').textContent = 'not updated: ' + e.message;
    }
  }

  async function refreshDeadLetters() {
    const entries = await json('GET', '/ops/dlq');
    const body = document.querySelector('#dead-letters tbody');
    body.replaceChildren(...entries.map((e) => {
      const tr = document.createElement('tr');
      tr.dataset.id = e.id;
      cell(tr, e.failed_at);
      cell(tr, e.connector);
      cell(tr, e.type || '-');
      cell(tr, e.message_id || '');
      cell(tr, e.error_code + (e.platform_code ? ' ' + e.platform_code : '') + (e.error ? ': ' + e.error : ''));
      const actions = cell(tr, '');
      if (e.replayed) {
        actions.append('replayed by ' + e.replayed.by + ' ');
      } else {
        const b = document.createElement('button');
        b.className = 'replay';
        b.dataset.id = e.id;
        b.textContent = 'Replay';
        actions.append(b, ' ');
      }
      const p = document.createElement('button');
      p.className = 'purge';
      p.dataset.messageId = e.message_id || '';
      p.textContent = 'Purge';
      actions.append(p);
      return tr;
    }));
  }

  document.getElementById('dead-letters').addEventListener('click', async (event) => {
    const button = event.target.closest('button');
    if (!button) { return; }
    button.disabled = true;
    try {
      if (button.classList.contains('replay')) {
        await json('POST', '/ops/dlq/' + encodeURIComponent(button.dataset.id) + '/replay', {by: 'ops page'});
      } else if (button.classList.contains('purge')) {
        if (!window.confirm('Purge this dead letter? This cannot be undone.')) { button.disabled = false; return; }
        await json('POST', '/ops/dlq/purge', {message_id: button.dataset.messageId});
      }
      await refreshDeadLetters();
      await refreshQueues();
    } catch (e) {
      button.disabled = false;
      button.title = e.message;
      button.classList.add('error');
    }
  });

  document.getElementById('trace-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = document.getElementById('trace-id').value.trim();
    if (!id) { return; }
    const section = document.getElementById('trace-section');
    const out = document.getElementById('trace');
    section.hidden = false;
    try {
      const records = await json('GET', '/ops/trace/' + encodeURIComponent(id));
      if (records.length === 0) { out.textContent = 'Nothing in the journal for that id.'; return; }
      const table = document.createElement('table');
      table.id = 'trace-table';
      const head = document.createElement('tr');
      ['time', 'what', 'by', 'message id', 'type / operation', 'outcome', 'ms', 'detail'].forEach((h) => {
        const th = document.createElement('th');
        th.textContent = h;
        head.appendChild(th);
      });
      table.appendChild(head);
      for (const r of records) {
        const tr = document.createElement('tr');
        tr.className = r.kind;
        cell(tr, r.at);
        cell(tr, r.kind);
        cell(tr, r.source);
        cell(tr, r.message_id || '-');
        cell(tr, r.kind === 'platform_attempt' ? (r.operation || '-') : (r.type || r.operation || '-'));
        cell(tr, (r.outcome || '-') + (r.platform_code ? ' ' + r.platform_code : ''));
        cell(tr, r.duration_ms === null ? '' : String(r.duration_ms), 'n');
        cell(tr, [r.endpoint, r.detail].filter(Boolean).join(' '));
        table.appendChild(tr);
      }
      out.replaceChildren(table);
    } catch (e) {
      out.textContent = 'Trace failed: ' + e.message;
    }
  });

  setInterval(refreshQueues, 2000);
  setInterval(() => { refreshDeadLetters().catch(() => {}); }, 5000);
})();
