// kaohe's own script: reading a key file and signing in the browser. The private key is
// imported as a non-extractable WebCrypto Ed25519 key and kept in this browser's IndexedDB;
// it never leaves the browser. Every write is prepared by the server, shown to the person,
// and signed here over exactly the bytes the server returned (schema/SERVICE.md).
'use strict';

// PKCS#8 for an Ed25519 seed: a fixed 16-byte prefix, then the 32-byte seed (RFC 8410).
const PKCS8_PREFIX = '302e020100300506032b657004220420';

function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/.test(text)) throw new Error('not lower-case hex');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// A private key file of `kaohe key new`: its actor, public key and secret seed.
function parseKeyFile(text) {
  const lines = text.split(/\r?\n/);
  if (lines[0].trim() !== 'kaohe-key v1') {
    throw new Error('这不是私钥文件（第一行应为 kaohe-key v1；.pub 公钥文件不能签名）');
  }
  const fields = {};
  for (const line of lines.slice(1)) {
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  if (!fields.actor || !/^[0-9a-f]{64}$/.test(fields.public || '') || !/^[0-9a-f]{64}$/.test(fields.secret || '')) {
    throw new Error('密钥文件缺少 actor、public 或 secret 行');
  }
  return fields;
}

function openStore() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open('kaohe', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('keys');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function keep(record) {
  const db = await openStore();
  await new Promise((resolve, reject) => {
    const tx = db.transaction('keys', 'readwrite');
    tx.objectStore('keys').put(record, 'current');
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
}

async function kept() {
  const db = await openStore();
  return new Promise((resolve, reject) => {
    const req = db.transaction('keys').objectStore('keys').get('current');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function forget() {
  const db = await openStore();
  db.transaction('keys', 'readwrite').objectStore('keys').delete('current');
}

async function signHex(toSignHex) {
  const record = await kept();
  if (!record) throw new Error('本浏览器中没有签名密钥：请重新登录');
  const sig = await crypto.subtle.sign({ name: 'Ed25519' }, record.key, fromHex(toSignHex));
  return toHex(new Uint8Array(sig));
}

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = { error: '服务器返回了无法读取的内容' }; }
  return { ok: res.ok, status: res.status, data };
}

// The first element of the form that `css` finds and that is shown: a field's input and its
// error place may be repeated in boxes of other rule kinds (数值, 评定得分), hidden.
function shown(form, css) {
  const inHidden = (e) => e.parentElement && e.parentElement.closest('[hidden]');
  return Array.from(form.querySelectorAll(css)).find((e) => !inHidden(e) && !e.disabled) || null;
}

function showError(form, field, message) {
  const target = (field && shown(form, '[data-error-for="' + field + '"]')) || form.querySelector('[data-error-for="form"]');
  if (target) {
    target.textContent = message;
    target.hidden = false;
    const input = field && shown(form, '[name="' + field + '"]');
    if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
  }
}

function clearErrors(form) {
  for (const e of form.querySelectorAll('[data-error-for]')) { e.textContent = ''; e.hidden = true; }
  for (const i of form.querySelectorAll('[aria-invalid]')) i.removeAttribute('aria-invalid');
}

// A refusal in Chinese: which field, then the ledger's own message in Chinese (`error_zh`,
// which says what the command line's `error` says).
function refusal(data, form) {
  const field = data && data.field;
  // The field's own name on this form (评定得分 for a graded score), else its usual one.
  const input = field && form ? shown(form, '[name="' + field + '"][data-label]') : null;
  const name = (input && input.dataset.label) || LABELS[field] || field;
  const label = field ? '「' + name + '」' : '';
  const said = (data && (data.error_zh || data.error)) || '';
  return { field, message: '未通过检查' + label + '：' + said };
}

// Sign-in: read the key file, keep the key non-extractable, answer the challenge.
async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const file = form.querySelector('input[type=file]').files[0];
  if (!file) { showError(form, 'keyfile', '请选择密钥文件'); return; }
  try {
    const fields = parseKeyFile(await file.text());
    const pkcs8 = new Uint8Array([...fromHex(PKCS8_PREFIX), ...fromHex(fields.secret)]);
    const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
    const ch = await post('/api/v1/session/challenge', { public_key: fields.public });
    if (!ch.ok) { const r = refusal(ch.data); showError(form, 'keyfile', r.message); return; }
    const sig = await crypto.subtle.sign({ name: 'Ed25519' }, key, fromHex(ch.data.to_sign));
    const s = await post('/api/v1/session', { public_key: fields.public, challenge: ch.data.challenge, signature: toHex(new Uint8Array(sig)) });
    if (!s.ok) { const r = refusal(s.data); showError(form, 'keyfile', r.message); return; }
    await keep({ key, public: fields.public, actor: fields.actor });
    window.location.assign('/');
  } catch (e) {
    showError(form, 'keyfile', e.message);
  }
}

// Uploads the chosen evidence files; gives their references.
async function upload(form) {
  const refs = [];
  for (const input of form.querySelectorAll('input[type=file][data-evidence-files]')) {
    for (const file of input.files) {
      const res = await fetch('/api/v1/evidence?name=' + encodeURIComponent(file.name), {
        method: 'POST', credentials: 'same-origin', body: file,
      });
      const data = await res.json();
      if (!res.ok) throw Object.assign(new Error(refusal(data).message), { field: 'evidence' });
      refs.push(data.reference);
    }
  }
  return refs;
}

// The command a signed form describes, in the import-line shape.
function commandOf(form) {
  const cmd = { op: form.dataset.op };
  for (const el of form.elements) {
    if (!el.name || el.type === 'file' || el.disabled || el.closest('[hidden]')) continue;
    const v = el.value.trim();
    if (v === '') continue;
    if (el.dataset.kind === 'int') cmd[el.name] = Number(v);
    else if (el.dataset.kind === 'lines') cmd[el.name] = v.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    else cmd[el.name] = v;
  }
  return cmd;
}

const LABELS = {
  type: '类型', id: '编号', station: '司法所', clause: '条款', computed_points: '分值',
  occurred: '发生日期', by: '部门', evidence: '证据', against: '申诉的记录', grounds: '理由',
  appeal: '申诉', outcome: '结果', reason: '理由', target: '撤销的记录', value: '数值',
  count: '件数', done: '已完成', points: '分值', note: '说明', code: '代码', name: '名称', kind: '类型',
  metric: '指标', line: '行', lines: '导入文件', tallies: '对账文件', period: '考核期', signature: '签名',
  signatures: '签名', key: '密钥', public_key: '公钥', at: '发生日期截至', known_at: '台账时点',
  as_of_seq: '事件序号', body: '请求', after: '链头', actor: '身份', actor_kind: '身份类型', item: '项目',
  event: '事件', hash: '哈希', accept_gaps_reason: '理由', clock: '时钟', op: '命令',
};

// Event types as people read them (the value of the `type` field; its label is LABELS').
const TYPE_NAMES = {
  points_recorded: '记分', metric_reported: '报送指标', appeal_filed: '提出申诉',
  appeal_decided: '申诉复核', record_reversed: '撤销记录', period_closed: '年度结算',
  station_registered: '登记司法所', key_registered: '登记密钥', key_revoked: '撤销密钥',
};

// The signer as the service names it ("department 基层科", "the bureau"), in Chinese.
function signerZh(signer) {
  const kinds = { 'department ': '部门 ', 'station ': '司法所 ', 'bureau ': '司法局 ', 'auditor ': '审计 ' };
  if (signer === 'the bureau') return '司法局';
  for (const [en, zh] of Object.entries(kinds)) {
    if (signer.startsWith(en)) return zh + signer.slice(en.length);
  }
  return signer;
}

// Shows what the event says and waits for the person's decision: each field, and for a
// record the arithmetic the ledger used to compute its points (`working`, labelled 计算).
function confirmEvent(prepared) {
  const dialog = document.getElementById('confirm');
  const list = dialog.querySelector('dl');
  list.textContent = '';
  const event = prepared.event || {};
  const row = (label, value) => {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = value;
    list.append(dt, dd);
    return dd;
  };
  for (const [k, v] of Object.entries(event)) {
    if (v === null || v === undefined || (typeof v === 'object' && !Array.isArray(v))) continue;
    const shown = Array.isArray(v) ? v.join('；') : String(v);
    const dd = row(LABELS[k] || k, k === 'type' && TYPE_NAMES[v] ? TYPE_NAMES[v] + '（' + v + '）' : shown);
    dd.dataset.field = k;
  }
  const working = prepared.working_zh || prepared.working;
  if (working) row('计算', working).dataset.field = 'working';
  dialog.querySelector('[data-signer]').textContent = signerZh(prepared.signer || '');
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'sign'), { once: true });
  });
}

async function signedSubmit(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const button = form.querySelector('button[type=submit]');
  if (button) button.disabled = true;
  try {
    const cmd = commandOf(form);
    const refs = await upload(form);
    if (refs.length) cmd.evidence = (cmd.evidence || []).concat(refs);
    const path = form.dataset.op === 'close' ? '/api/v1/close/prepare' : '/api/v1/commands/prepare';
    const body = form.dataset.op === 'close' ? { accept_gaps_reason: cmd.reason || null } : cmd;
    const p = await post(path, body);
    if (!p.ok) { const r = refusal(p.data, form); showError(form, r.field, r.message); return; }
    if (!p.data.prepared) { window.location.reload(); return; }
    if (!(await confirmEvent(p.data))) return;
    const c = await post('/api/v1/commands/commit', { prepared: p.data.prepared, signature: await signHex(p.data.to_sign) });
    if (!c.ok) { const r = refusal(c.data, form); showError(form, r.field, r.message); return; }
    window.location.reload();
  } catch (e) {
    showError(form, e.field, e.message);
  } finally {
    if (button) button.disabled = false;
  }
}

// The record form asks exactly the inputs its clause's rule kind takes.
function showInputs(select) {
  const option = select.selectedOptions[0];
  const kind = option ? option.dataset.kind : '';
  const form = select.form;
  for (const box of form.querySelectorAll('[data-for-kinds]')) {
    const shown = box.dataset.forKinds.split(' ').includes(kind);
    box.hidden = !shown;
    for (const el of box.querySelectorAll('input,textarea,select')) el.disabled = !shown;
  }
  // The date that decides the period (the clause's attribution): 发生日期, 发现日期 …
  const dateLabel = form.querySelector('label[for="occurred"]');
  if (dateLabel && option && option.dataset.dateLabel) {
    dateLabel.textContent = option.dataset.dateLabel;
    const date = form.querySelector('#occurred');
    if (date) date.dataset.label = option.dataset.dateLabel;
  }
}

// An import file: every line checked together; refusals listed by line, or every event
// shown, signed here one by one, and committed together.
async function importFile(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const out = document.getElementById('import-result');
  out.textContent = '';
  const file = form.querySelector('input[type=file]').files[0];
  if (!file) { showError(form, 'lines', '请选择导入文件'); return; }
  const p = await post('/api/v1/commands/prepare-batch', { lines: await file.text() });
  if (!p.ok) { const r = refusal(p.data, form); showError(form, 'lines', r.message); return; }
  if (p.data.refused) {
    const head = document.createElement('p');
    head.className = 'error';
    head.textContent = '共 ' + p.data.lines + ' 行，以下 ' + p.data.refused.length + ' 行未通过检查，未写入任何内容：';
    const list = document.createElement('ul');
    list.id = 'import-refused';
    for (const r of p.data.refused) {
      const li = document.createElement('li');
      li.textContent = '第 ' + r.line + ' 行' + (r.field ? '「' + (LABELS[r.field] || r.field) + '」' : '') + '：' + (r.error_zh || r.error);
      list.append(li);
    }
    out.append(head, list);
    out.scrollIntoView({ block: 'nearest' });
    return;
  }
  const toSign = p.data.events.filter((e) => e.to_sign);
  const summary = { prepared: p.data.prepared, signer: p.data.signer, event: { type: toSign.length + ' 个事件待签名', id: toSign.map((e) => e.event.id || e.event.type).join('，') } };
  if (!(await confirmEvent(summary))) return;
  const signatures = [];
  for (const e of toSign) signatures.push(await signHex(e.to_sign));
  const c = await post('/api/v1/commands/commit', { prepared: p.data.prepared, signatures });
  if (!c.ok) { const r = refusal(c.data, form); showError(form, 'lines', r.message); return; }
  const done = document.createElement('p');
  done.id = 'import-applied';
  done.textContent = '已写入 ' + c.data.appended + ' 条，未变 ' + c.data.unchanged + ' 条。';
  out.append(done);
  out.scrollIntoView({ block: 'nearest' });
}

// A department's tally compared with the ledger: the rows that differ, in a table.
async function reconcileFile(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const out = document.getElementById('reconcile-result');
  out.textContent = '';
  const file = form.querySelector('input[type=file]').files[0];
  if (!file) { showError(form, 'tallies', '请选择对账文件'); return; }
  const res = await fetch('/api/v1/reconcile?name=' + encodeURIComponent(file.name), { method: 'POST', credentials: 'same-origin', body: file });
  const data = await res.json();
  if (!res.ok) { showError(form, 'tallies', refusal(data).message); return; }
  const p = document.createElement('p');
  p.id = 'reconcile-summary';
  p.textContent = '共 ' + data.rows + ' 行，' + (data.mismatches.length ? data.mismatches.length + ' 行与台账不符：' : '全部与台账相符。');
  out.append(p);
  if (!data.mismatches.length) return;
  const table = document.createElement('table');
  table.id = 'mismatches';
  const head = table.createTHead().insertRow();
  for (const h of ['行', '司法所', '项目', '台账扣分', '对账扣分', '台账加分', '对账加分']) {
    const th = document.createElement('th'); th.textContent = h; head.append(th);
  }
  const body = table.createTBody();
  for (const m of data.mismatches) {
    const row = body.insertRow();
    for (const v of [m.line, m.station, m.item, m.ledger_deducted, m.tally_deducted, m.ledger_awarded, m.tally_awarded]) {
      row.insertCell().textContent = String(v);
    }
  }
  out.append(table);
  out.scrollIntoView({ block: 'nearest' });
}

async function signOut(event) {
  event.preventDefault();
  await fetch('/api/v1/session', { method: 'DELETE', credentials: 'same-origin' });
  await forget();
  window.location.assign('/');
}

// Narrows the clause list to the options that contain the search text, and chooses the clause
// whose code is typed whole, or else the first one left when the chosen one is filtered out (so
// that typing a code and moving on chooses it).
function filterClauses(input) {
  const q = input.value.trim().toLowerCase();
  const select = document.getElementById(input.dataset.filters);
  for (const o of select.options) o.hidden = q !== '' && !o.textContent.toLowerCase().includes(q);
  const options = Array.from(select.options);
  const exact = options.find((o) => o.value.toLowerCase() === q);
  const chosen = select.selectedOptions[0];
  const next = exact || (chosen && !chosen.hidden ? null : options.find((o) => !o.hidden));
  if (next && next !== chosen) {
    select.value = next.value;
    showInputs(select);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  const signin = document.getElementById('signin');
  if (signin) signin.addEventListener('submit', signIn);
  for (const f of document.querySelectorAll('form[data-op]')) f.addEventListener('submit', signedSubmit);
  for (const s of document.querySelectorAll('select[data-clause-select]')) {
    s.addEventListener('change', () => showInputs(s));
    showInputs(s);
  }
  for (const i of document.querySelectorAll('input[data-filters]')) i.addEventListener('input', () => filterClauses(i));
  const rec = document.getElementById('reconcile');
  if (rec) rec.addEventListener('submit', reconcileFile);
  const imp = document.getElementById('import');
  if (imp) imp.addEventListener('submit', importFile);
  const out = document.getElementById('signout');
  if (out) out.addEventListener('submit', signOut);
});
