// Cloud4IoT operator dashboard. Plain script, no library, no build step; it
// talks only to the orchestrator's REST API (so it works on every backend):
// the lists under /v1/ once, then the changes from GET /v1/watch.
//
// The watch stream needs a bearer token and EventSource cannot send headers,
// so the stream is read with fetch() and parsed here (server-sent events,
// HTML Living Standard 9.2.6); the token never goes into a URL.
'use strict';
(() => {
  const TIERS = ['gateway', 'edge', 'cloud'];
  const STEPS = ['detected', 'notified', 'decided', 'applied', 'scheduled', 'started', 'first_data'];
  const KINDS = ['roam', 'offload_up', 'bring_down', 'manual', 'place', 'undeploy'];
  const ROLES = { viewer: 1, operator: 2, admin: 3 };
  const TOKEN_KEY = 'c4i.token';
  const KEEP_MIGRATIONS = 300;   // newest ones kept in memory
  const SHOW_MIGRATIONS = 60;    // rows in the table
  const CHART_MINUTES = 15;
  const STALE_HEARTBEAT_MS = 30000;

  const st = {
    token: null, me: null, gen: 0, lastEventId: null, live: false,
    nodes: new Map(), devices: new Map(), functions: new Map(), migrations: new Map(), templates: new Map(),
    policy: null, policyEtag: null, policyDirty: false,
    pendingRender: false, seenMigrations: new Set(), loaded: false,
  };

  // ------------------------------------------------------------------ helpers
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const pct = (x) => (x === null || x === undefined ? '–' : Math.round(x * 100) + '%');
  function ms(n) {
    if (n === null || n === undefined) return '–';
    if (n < 1000) return Math.round(n) + ' ms';
    if (n < 60000) return (n / 1000).toFixed(n < 10000 ? 2 : 1) + ' s';
    return (n / 60000).toFixed(1) + ' min';
  }
  const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });
  const canOperate = () => st.me && ROLES[st.me.role] >= ROLES.operator;

  let toastTimer = 0;
  function toast(text, isError) {
    const t = $('#toast');
    t.textContent = text;
    t.classList.toggle('error', !!isError);
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 8000 : 4000);
  }

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(method, path, body, headers) {
    const h = Object.assign({ Authorization: 'Bearer ' + st.token }, headers || {});
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const res = await fetch(path, { method, headers: h, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      const err = data && data.error ? data.error : { code: 'http_' + res.status, message: text.slice(0, 200) || res.statusText };
      if (res.status === 401 && st.me) signOut('The orchestrator no longer accepts this token: ' + err.message);
      throw new ApiError(res.status, err.code, err.message);
    }
    return { data, etag: res.headers.get('ETag'), status: res.status };
  }

  async function listAll(kind) {
    const items = [];
    let cont = null;
    do {
      const q = '/v1/' + kind + '?limit=1000' + (cont ? '&continue=' + encodeURIComponent(cont) : '');
      const { data } = await api('GET', q);
      items.push(...data.items);
      cont = data.continue;
    } while (cont);
    return items;
  }

  // -------------------------------------------------------------- state
  const keyOf = { nodes: 'name', devices: 'id', functions: 'id', migrations: 'id', templates: 'name' };
  // A version of each object, so an older copy (a list read before an event) never replaces a newer one.
  function versionOf(kind, o) {
    if (kind === 'functions' || kind === 'migrations') return o.updated_t || 0;
    if (kind === 'devices') return o.last_seen_t || 0;
    if (kind === 'nodes') return (o.usage && o.usage.heartbeat_t) || 0;
    return 0;
  }
  function upsert(kind, o) {
    const map = st[kind];
    const key = o[keyOf[kind]];
    const old = map.get(key);
    if (old && versionOf(kind, old) > versionOf(kind, o)) return false;
    // A device from the list has no sightings: keep the ones an earlier read gave.
    if (kind === 'devices' && old && !o.sightings && old.sightings) o.sightings = old.sightings;
    map.set(key, o);
    if (kind === 'migrations') trimMigrations();
    return true;
  }
  function trimMigrations() {
    if (st.migrations.size <= KEEP_MIGRATIONS) return;
    const ids = Array.from(st.migrations.keys()).sort((a, b) => a - b);
    for (const id of ids.slice(0, ids.length - KEEP_MIGRATIONS)) st.migrations.delete(id);
  }

  async function loadAll() {
    const gen = st.gen;
    const [nodes, devices, functions, templates, migrations] = await Promise.all(
      ['nodes', 'devices', 'functions', 'templates', 'migrations'].map((k) => listAll(k)));
    if (gen !== st.gen) return;
    for (const [kind, items] of [['nodes', nodes], ['devices', devices], ['functions', functions], ['templates', templates]]) {
      const keep = new Set(items.map((o) => o[keyOf[kind]]));
      for (const k of Array.from(st[kind].keys())) if (!keep.has(k)) st[kind].delete(k);
      for (const o of items) upsert(kind, o);
    }
    for (const m of migrations.slice(-KEEP_MIGRATIONS)) {
      upsert('migrations', m);
      st.seenMigrations.add(m.id);
    }
    // The list has no sightings (which gateways see a device, with RSSI): read each device once.
    await Promise.all(devices.slice(0, 200).map(async (d) => {
      try {
        const { data } = await api('GET', '/v1/devices/' + encodeURIComponent(d.id));
        if (gen === st.gen) upsert('devices', data);
      } catch (e) { /* deleted meanwhile: the stream says so */ }
    }));
    await loadPolicy();
    st.loaded = true;
    render(ALL_PARTS);
  }

  async function loadPolicy() {
    const { data, etag } = await api('GET', '/v1/policy');
    st.policy = data;
    st.policyEtag = etag;
    if (!st.policyDirty) fillPolicyForm();
    $('#policy-version').textContent = 'version ' + data.version + ' by ' + (data.changed_by || '?') + ', ' + clock(data.changed_t);
    scheduleRender();
  }

  // ------------------------------------------------------------ watch stream
  function setLive(on) {
    st.live = on;
    const l = $('#live');
    l.classList.toggle('on', on);
    l.classList.toggle('off', !on);
    l.textContent = on ? 'live' : 'reconnecting';
  }

  // Parses one event block (lines up to a blank line) of text/event-stream.
  function parseEvent(block) {
    const ev = { event: 'message', data: [], id: null, retry: null };
    for (const line of block.split('\n')) {
      if (!line || line[0] === ':') continue;
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let value = c < 0 ? '' : line.slice(c + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'event') ev.event = value;
      else if (field === 'data') ev.data.push(value);
      else if (field === 'id') ev.id = value;
      else if (field === 'retry' && /^\d+$/.test(value)) ev.retry = Number(value);
    }
    return ev;
  }

  async function watchLoop(gen) {
    let retryMs = 2000;
    let first = true;
    while (gen === st.gen) {
      const ctrl = new AbortController();
      st.abort = ctrl;
      try {
        const headers = { Authorization: 'Bearer ' + st.token };
        if (st.lastEventId) headers['Last-Event-ID'] = st.lastEventId;
        const res = await fetch('/v1/watch', { headers, signal: ctrl.signal, cache: 'no-store' });
        if (res.status === 401) {
          signOut('The orchestrator no longer accepts this token.');
          return;
        }
        if (!res.ok || !res.body) throw new Error('watch: HTTP ' + res.status);
        setLive(true);
        // The stream is open before the lists are read: nothing that changes in between is missed.
        if (first) {
          await loadAll();
          first = false;
        }
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done || gen !== st.gen) break;
          buf += value;
          buf = buf.replace(/\r\n?/g, '\n');
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const ev = parseEvent(buf.slice(0, end));
            buf = buf.slice(end + 2);
            if (ev.retry !== null) retryMs = ev.retry;
            if (ev.id !== null) st.lastEventId = ev.id;
            if (ev.data.length) onEvent(ev.event, ev.data.join('\n'));
          }
        }
      } catch (e) {
        if (ctrl.signal.aborted || gen !== st.gen) return;
        if (e instanceof ApiError && e.status === 401) return;
      }
      if (gen !== st.gen) return;
      setLive(false);
      await sleep(retryMs);
    }
  }

  function onEvent(type, text) {
    let d;
    try { d = JSON.parse(text); } catch (e) { return; }
    if (type === 'reset') {
      loadAll().catch((e) => toast('Reloading after a gap failed: ' + e.message, true));
      return;
    }
    const kind = d.kind;
    if (kind === 'policy') {
      loadPolicy().catch((e) => toast('Reading the policy failed: ' + e.message, true));
      return;
    }
    if (!st[kind] || !keyOf[kind]) return;
    if (d.op === 'deleted' || !d.object) {
      st[kind].delete(kind === 'migrations' ? Number(d.id) : d.id);
    } else {
      const before = kind === 'functions' ? st.functions.get(d.id) : null;
      if (!upsert(kind, d.object)) return;
      if (kind === 'migrations') noteMigration(d.object);
      if (kind === 'functions' && before && before.node && d.object.node && before.node !== d.object.node)
        $('#last-event').textContent = clock(Date.now()) + '  ' + d.object.id + ' now on ' + d.object.node;
    }
    const parts = kind === 'migrations' ? ['migrations', 'charts'] : ['tiers'];
    if (kind === 'functions' || kind === 'migrations') {
      // A few per move, and what the operator watches for: drawn now, not at the next frame,
      // which a busy machine may hold back for a good part of a second.
      for (const p of parts) dirty.add(p);
      render();
    } else {
      scheduleRender(parts);
    }
  }

  function noteMigration(m) {
    if (m.kind === 'place') return;
    const to = (m.to && (m.to.node || m.to.tier)) || '?';
    $('#last-event').textContent = clock(Date.now()) + '  ' + m.kind + ' ' + m.function + ' ' + (m.from || '–') + ' → ' + to + ' (' + m.state + ')';
  }

  // ------------------------------------------------------------------ render
  // Redraws, at the next frame, only the parts a change touches: device and node
  // events are the most frequent by far and need the tiers only, so the
  // migration table and the charts are not rebuilt for each of them.
  const ALL_PARTS = ['tiers', 'migrations', 'charts'];
  const dirty = new Set();
  function scheduleRender(parts = ALL_PARTS) {
    for (const p of parts) dirty.add(p);
    if (st.pendingRender) return;
    st.pendingRender = true;
    requestAnimationFrame(() => {
      st.pendingRender = false;
      render();
    });
  }

  function render(parts = Array.from(dirty)) {
    if (!st.me || !st.loaded) return;
    dirty.clear();
    if (parts.includes('tiers')) renderTiers();
    if (parts.includes('migrations')) renderMigrations();
    if (parts.includes('charts')) renderCharts();
  }

  const nodeEls = new Map();   // name -> node element
  const fnEls = new Map();     // function id -> card element

  function watermarks(tier) {
    const p = st.policy && st.policy.policy && st.policy.policy.tiers;
    return (p && p[tier]) || null;
  }

  function makeBar(label) {
    const bar = el('div', 'bar');
    bar.append(el('span', 'bar-label', label));
    const track = el('div', 'bar-track');
    track.append(el('div', 'bar-fill'), el('div', 'mark low'), el('div', 'mark high'));
    bar.append(track, el('span', 'bar-value'));
    return bar;
  }

  function updateBar(bar, value, low, high, what) {
    const fill = $('.bar-fill', bar);
    const has = typeof value === 'number';
    bar.classList.toggle('nodata', !has);
    fill.style.width = has ? Math.min(100, Math.max(0, value * 100)) + '%' : '0';
    bar.classList.toggle('hot', has && high !== null && value > high);
    bar.classList.toggle('warm', has && low !== null && high !== null && value >= low && value <= high);
    $('.bar-value', bar).textContent = has ? pct(value) : 'no data';
    const lo = $('.mark.low', bar), hi = $('.mark.high', bar);
    lo.hidden = low === null;
    hi.hidden = high === null;
    if (low !== null) lo.style.left = low * 100 + '%';
    if (high !== null) hi.style.left = 'calc(' + high * 100 + '% - 2px)';
    bar.title = what + (has ? ' ' + pct(value) : ': no usage reported') +
      (low !== null ? '; low watermark ' + pct(low) + ', high ' + pct(high) : '');
  }

  function nodeEl(n) {
    let e = nodeEls.get(n.name);
    if (!e) {
      e = el('div', 'node');
      e.dataset.node = n.name;
      const head = el('div', 'node-head');
      head.append(el('span', 'node-name', n.name), el('span', 'node-meta'));
      e.append(head, makeBar('cpu'), makeBar('mem'), el('div', 'functions'), el('div', 'devices'));
      nodeEls.set(n.name, e);
    }
    return e;
  }

  function renderNode(e, n) {
    const w = watermarks(n.tier);
    const u = n.usage || {};
    const bars = $$('.bar', e);
    updateBar(bars[0], u.cpu, w ? w.cpu_low : null, w ? w.cpu_high : null, 'CPU');
    updateBar(bars[1], u.mem, w ? w.mem_low : null, w ? w.mem_high : null, 'memory');
    const age = u.heartbeat_t ? Date.now() - u.heartbeat_t : null;
    // Usage not refreshed within the policy's node_stale_after_s (gateway heartbeats, docker
    // stats, metrics.k8s.io alike); a node that never reported any has no bars, not a stale mark.
    const p = st.policy && st.policy.policy;
    const staleMs = p && p.node_stale_after_s > 0 ? p.node_stale_after_s * 1000 : STALE_HEARTBEAT_MS;
    const stale = age !== null && age > staleMs;
    e.classList.toggle('stale', stale);
    const meta = [];
    if (n.arch) meta.push(n.arch);
    if (n.cpu_capacity_m) meta.push(+(n.cpu_capacity_m / 1000).toFixed(1) + ' cpu');
    if (n.mem_capacity_mb) meta.push(+(n.mem_capacity_mb / 1024).toFixed(1) + ' GiB');
    if (n.unschedulable) meta.push('unschedulable');
    if (stale) meta.push('usage not updated for ' + ms(age));
    $('.node-meta', e).textContent = meta.join(' · ');
    // Devices this gateway sees now, strongest first; the one it serves in bold.
    const box = $('.devices', e);
    box.replaceChildren();
    if (n.tier !== 'gateway') return;
    const seen = [];
    for (const d of st.devices.values()) {
      if (d.state === 'lost') continue;
      let rssi = null;
      if (d.sightings) {
        const s = d.sightings.find((x) => x.gateway === n.name && x.present);
        if (s) rssi = s.rssi;
      } else if (d.gateway === n.name) {
        rssi = d.rssi;
      }
      if (rssi !== null && rssi !== undefined) seen.push({ d, rssi });
    }
    seen.sort((a, b) => b.rssi - a.rssi);
    const threshold = st.policy && st.policy.policy ? st.policy.policy.rssi_threshold_dbm : null;
    for (const { d, rssi } of seen) {
      const chip = el('span', 'device');
      chip.dataset.device = d.id;
      chip.classList.toggle('primary', d.gateway === n.name);
      chip.classList.toggle('weak', threshold !== null && rssi < threshold);
      chip.append(document.createTextNode((d.name || d.addr) + ' '), el('span', 'rssi', rssi + ' dBm'));
      const fns = Array.from(st.functions.values()).filter((f) => f.device === d.id).map((f) => f.id);
      chip.title = d.addr + (d.gateway === n.name ? ' (served by this gateway)' : '') + (fns.length ? '; function ' + fns.join(', ') : '');
      box.append(chip);
    }
  }

  function fnEl(f) {
    let e = fnEls.get(f.id);
    if (!e) {
      e = el('div', 'fn');
      e.dataset.function = f.id;
      const head = el('div', 'fn-head');
      head.append(el('span', 'fn-id', f.id), el('span', 'fn-pin', 'pinned'));
      const btn = el('button', 'move-btn', 'Move…');
      btn.type = 'button';
      btn.dataset.action = 'move';
      btn.addEventListener('click', (ev) => {
        ev.stopPropagation();
        openMoveDialog(f.id);
      });
      head.append(btn);
      e.append(head, el('div', 'fn-device'), el('div', 'fn-state'));
      e.addEventListener('pointerdown', (ev) => startDrag(ev, f.id));
      fnEls.set(f.id, e);
    }
    return e;
  }

  function renderFunction(e, f) {
    const dev = st.devices.get(f.device);
    const where = f.node || (f.desired && f.desired.node) || null;
    $('.fn-pin', e).hidden = !f.pinned;
    $('.move-btn', e).hidden = !canOperate();
    e.classList.toggle('can-move', canOperate());
    e.classList.toggle('transit', f.state !== 'running' || (f.desired && f.desired.node && f.desired.node !== f.node));
    e.classList.toggle('backoff', f.state === 'backoff');
    $('.fn-device', e).textContent = f.template + ' · ' + (dev ? (dev.name || dev.addr) : f.device) +
      (dev && dev.rssi !== null && dev.rssi !== undefined ? ' (' + dev.rssi + ' dBm at ' + dev.gateway + ')' : '');
    let stateText = f.state;
    if (f.desired && f.desired.node && f.desired.node !== f.node) stateText += ' → ' + f.desired.node;
    else if (f.desired && !f.desired.node && f.desired.tier) stateText += ' → ' + f.desired.tier;
    if (f.restarts) stateText += ' · ' + f.restarts + ' restart(s)';
    $('.fn-state', e).textContent = stateText;
    const tier = waitingTier(f);
    e.title = (f.desired && f.desired.reason ? f.desired.reason : '') +
      (tier ? ' (waiting for a ' + tier + ' node' + (f.node ? '; still on ' + f.node : '') + ')' : where ? '' : ' (not placed)');
  }

  // The tier a function waits on when its target names only a tier (the kubernetes
  // scheduler picks the node) and no node of that tier runs it yet; otherwise null.
  function waitingTier(f) {
    const t = f.desired && !f.desired.node ? f.desired.tier : null;
    if (!TIERS.includes(t)) return null;
    const n = f.node ? st.nodes.get(f.node) : null;
    return n && n.tier === t ? null : t;
  }

  function renderTiers() {
    // First: where every card is now (for the move animation).
    const first = new Map();
    for (const [id, e] of fnEls) if (e.isConnected) first.set(id, { rect: e.getBoundingClientRect(), parent: e.parentElement });

    const byTier = { gateway: [], edge: [], cloud: [] };
    for (const n of st.nodes.values()) (byTier[n.tier] || byTier.cloud).push(n);
    for (const tier of TIERS) {
      const col = $('.tier[data-tier="' + tier + '"] .nodes');
      const list = byTier[tier].sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
      const els = list.map((n) => {
        const e = nodeEl(n);
        renderNode(e, n);
        return e;
      });
      els.forEach((e, i) => { if (col.children[i] !== e) col.insertBefore(e, col.children[i] || null); });
      while (col.children.length > els.length) col.lastElementChild.remove();
    }
    for (const name of Array.from(nodeEls.keys())) if (!st.nodes.has(name)) nodeEls.delete(name);

    const unplaced = $('#unplaced .functions');
    const fns = Array.from(st.functions.values()).filter((f) => f.state !== 'undeployed').sort((a, b) => a.id.localeCompare(b.id));
    let anyUnplaced = false;
    const moved = [];
    for (const f of fns) {
      const e = fnEl(f);
      renderFunction(e, f);
      const where = f.node || (f.desired && f.desired.node) || null;
      // A tier-only target (the kubernetes scheduler picks the node): on its tier until a node of it runs it.
      const tier = waitingTier(f);
      const target = tier ? $('[data-tier-functions="' + tier + '"]')
        : where && nodeEls.has(where) ? $('.functions', nodeEls.get(where)) : unplaced;
      if (target === unplaced) anyUnplaced = true;
      if (e.parentElement !== target) {
        target.append(e);
        if (first.has(f.id)) moved.push(f.id);
      }
      if (dragging && dragging.id === f.id) e.classList.add('dragging');
    }
    $('#unplaced').hidden = !anyUnplaced;
    const live = new Set(fns.map((f) => f.id));
    for (const [id, e] of Array.from(fnEls)) {
      if (!live.has(id)) {
        e.remove();
        fnEls.delete(id);
      }
    }
    // Last, invert, play: a moved card glides from its old node to its new one.
    for (const id of moved) {
      const e = fnEls.get(id);
      const from = first.get(id).rect;
      const to = e.getBoundingClientRect();
      const dx = from.left - to.left, dy = from.top - to.top;
      e.classList.add('moved');
      setTimeout(() => e.classList.remove('moved'), 2500);
      if (dx || dy) {
        e.animate([{ transform: 'translate(' + dx + 'px, ' + dy + 'px)' }, { transform: 'translate(0, 0)' }],
          { duration: 900, easing: 'cubic-bezier(.2, .8, .2, 1)' });
      }
    }
  }

  function timelineBar(m) {
    const bar = el('div', 'tl');
    const t = m.timeline || {};
    const marks = STEPS.filter((s) => typeof t[s] === 'number').map((s) => ({ s, t: t[s] }));
    const titles = [];
    if (!marks.length) return bar;
    const open = m.state === 'pending' || m.state === 'applying';
    const end = open ? Math.max(Date.now(), marks[marks.length - 1].t) : marks[marks.length - 1].t;
    const total = Math.max(1, end - marks[0].t);
    for (let i = 1; i <= marks.length; i++) {
      const last = i === marks.length;
      if (last && !open) break;
      const gap = (last ? end : marks[i].t) - marks[i - 1].t;
      // The segment ending at a step has that step's colour; the open one, the last step reached.
      const seg = el('span', 'seg step-' + (last ? marks[i - 1].s : marks[i].s));
      seg.style.flex = Math.max(gap, total * 0.02) + ' 0 0';
      if (last) seg.classList.add('open');
      const label = last ? 'waiting after ' + marks[i - 1].s + ' ' + ms(gap) : marks[i].s + ' +' + ms(gap);
      seg.title = label;
      titles.push(label);
      bar.append(seg);
    }
    const steps = m.steps && Object.keys(m.steps).length
      ? '\nbackend: ' + Object.entries(m.steps).sort((a, b) => a[1] - b[1]).map(([k, v]) => k + ' +' + ms(v - marks[0].t)).join(', ') : '';
    bar.title = marks[0].s + ' ' + clock(marks[0].t) + ' → ' + titles.join(' → ') + steps;
    return bar;
  }

  function totalMs(m) {
    const t = m.timeline || {};
    const v = STEPS.map((s) => t[s]).filter((x) => typeof x === 'number');
    return v.length > 1 ? v[v.length - 1] - v[0] : null;
  }

  function renderMigrations() {
    const all = Array.from(st.migrations.values()).sort((a, b) => b.id - a.id);
    const rows = all.filter((m) => m.kind !== 'place').slice(0, SHOW_MIGRATIONS);
    $('#migration-count').textContent = rows.length ? 'newest ' + rows.length + ' (placements not listed)' : 'none yet';
    const body = $('#migrations tbody');
    const frag = document.createDocumentFragment();
    for (const m of rows) {
      const tr = el('tr');
      tr.dataset.migrationId = m.id;
      tr.dataset.kind = m.kind;
      tr.dataset.function = m.function;
      if (!st.seenMigrations.has(m.id)) {
        st.seenMigrations.add(m.id);
        tr.classList.add('new');
      }
      const kind = el('td');
      kind.append(el('span', 'kind kind-' + m.kind, m.kind));
      const to = (m.to && (m.to.node || (m.to.tier ? 'tier ' + m.to.tier : null))) || '–';
      const state = el('td', 'state-' + m.state, m.state);
      if (m.failure) state.title = m.failure.step + ': ' + m.failure.error;
      const tl = el('td');
      tl.append(timelineBar(m));
      tr.append(el('td', null, m.id), kind, el('td', null, m.function), el('td', null, (m.from || '–') + ' → ' + to), state, tl,
        el('td', null, ms(totalMs(m))));
      tr.title = m.reason + (m.requested_by ? ' (by ' + m.requested_by + ')' : '');
      frag.append(tr);
    }
    body.replaceChildren(frag);
  }

  function migrationTime(m) {
    const t = m.timeline || {};
    return t.decided || t.detected || m.updated_t || 0;
  }

  function renderCharts() {
    const now = Date.now();
    const start = now - CHART_MINUTES * 60000;
    const ms_ = Array.from(st.migrations.values()).filter((m) => m.kind !== 'place' && migrationTime(m) >= start);
    // Migrations per minute, stacked by kind.
    const W = 420, H = 150, L = 40, R = 8, T = 8, B = 20;
    const rate = $('#chart-rate');
    rate.replaceChildren();
    const buckets = Array.from({ length: CHART_MINUTES }, () => ({}));
    for (const m of ms_) {
      const i = Math.min(CHART_MINUTES - 1, Math.floor((migrationTime(m) - start) / 60000));
      buckets[i][m.kind] = (buckets[i][m.kind] || 0) + 1;
    }
    const maxCount = Math.max(1, ...buckets.map((b) => Object.values(b).reduce((x, y) => x + y, 0)));
    const yMax = Math.max(4, Math.ceil(maxCount / 2) * 2);
    const bw = (W - L - R) / CHART_MINUTES;
    for (let k = 0; k <= 2; k++) {
      const v = (yMax * k) / 2, y = H - B - ((H - B - T) * k) / 2;
      rate.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: k ? 'grid' : 'axis' }), svg('text', { x: L - 4, y: y + 3, 'text-anchor': 'end' }, v));
    }
    buckets.forEach((b, i) => {
      let y = H - B;
      for (const kind of KINDS) {
        const n = b[kind] || 0;
        if (!n) continue;
        const h = ((H - B - T) * n) / yMax;
        y -= h;
        const r = svg('rect', { x: L + i * bw + 2, y, width: bw - 4, height: h, class: 'c-' + kind });
        r.append(svg('title', {}, n + ' ' + kind));
        rate.append(r);
      }
    });
    timeAxis(rate, L, bw, H);

    // Durations, detected -> last step, on a log scale from 1 ms to 100 s.
    const dur = $('#chart-durations');
    dur.replaceChildren();
    const lo = 0, hi = 5;  // log10(ms)
    const yOf = (v) => H - B - ((H - B - T) * (Math.min(hi, Math.max(lo, Math.log10(Math.max(1, v)))) - lo)) / (hi - lo);
    for (const [v, label] of [[1, '1ms'], [100, '100ms'], [10000, '10s']]) {
      const y = yOf(v);
      dur.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: v === 1 ? 'axis' : 'grid' }), svg('text', { x: L - 2, y: y + 3, 'text-anchor': 'end' }, label));
    }
    let dots = 0;
    for (const m of ms_) {
      const total = totalMs(m);
      if (total === null) continue;
      const x = L + ((migrationTime(m) - start) / (CHART_MINUTES * 60000)) * (W - L - R);
      const c = svg('circle', { cx: x.toFixed(1), cy: yOf(total).toFixed(1), r: 4, class: 'c-' + m.kind });
      c.append(svg('title', {}, '#' + m.id + ' ' + m.kind + ' ' + m.function + ': ' + ms(total)));
      dur.append(c);
      dots++;
    }
    if (!dots) dur.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'empty' }, 'no roam, offload or move yet'));
    timeAxis(dur, L, bw, H);
  }

  // The minutes under a chart; the last label ends at the right edge so it is not cut.
  function timeAxis(chart, L, bw, H) {
    for (let i = 0; i <= CHART_MINUTES; i += 5) {
      const anchor = i === 0 ? 'start' : i === CHART_MINUTES ? 'end' : 'middle';
      chart.append(svg('text', { x: L + i * bw, y: H - 6, 'text-anchor': anchor }, i === CHART_MINUTES ? 'now' : '−' + (CHART_MINUTES - i) + ' min'));
    }
  }

  function renderLegends() {
    const steps = $('#step-legend');
    steps.replaceChildren();
    for (const s of STEPS) {
      const item = el('span');
      item.append(el('span', 'swatch step-' + s), document.createTextNode(s));
      steps.append(item);
    }
    const kinds = $('#kind-legend');
    kinds.replaceChildren();
    for (const k of KINDS.filter((x) => x !== 'place')) {
      const item = el('span');
      item.append(el('span', 'swatch kind-' + k), document.createTextNode(k));
      kinds.append(item);
    }
  }

  // ------------------------------------------------------------------ moving
  async function move(id, target, pin) {
    const body = Object.assign({}, target, { pin });
    const { data } = await api('POST', '/v1/functions/' + encodeURIComponent(id) + ':move', body);
    toast('Migration #' + data.id + ': moving ' + id + ' to ' + (target.node || 'tier ' + target.tier));
    upsert('migrations', data);
    scheduleRender();
    return data;
  }

  let moveFor = null;
  function openMoveDialog(id) {
    if (!canOperate()) return;
    const f = st.functions.get(id);
    if (!f) return;
    moveFor = id;
    $('#move-title').textContent = 'Move ' + id;
    $('#move-current').textContent = 'Now on ' + (f.node || 'no node') + ' (' + f.state + '); template ' + f.template + '.';
    const sel = $('#move-target');
    sel.replaceChildren();
    for (const tier of TIERS) {
      const group = el('optgroup');
      group.label = tier;
      const any = el('option', null, 'any ' + tier + ' node');
      any.value = 'tier:' + tier;
      group.append(any);
      for (const n of Array.from(st.nodes.values()).filter((x) => x.tier === tier).sort((a, b) => a.name.localeCompare(b.name))) {
        const o = el('option', null, n.name + (n.name === f.node ? ' (current)' : ''));
        o.value = 'node:' + n.name;
        o.disabled = n.name === f.node;
        group.append(o);
      }
      sel.append(group);
    }
    const firstFree = Array.from(sel.options).find((o) => !o.disabled && o.value.startsWith('node:'));
    if (firstFree) sel.value = firstFree.value;
    $('#move-pin').checked = true;
    $('#move-error').textContent = '';
    $('#move-dialog').hidden = false;
    sel.focus();
  }
  function closeMoveDialog() {
    $('#move-dialog').hidden = true;
    moveFor = null;
  }
  async function submitMove(ev) {
    ev.preventDefault();
    if (!moveFor) return;
    const v = $('#move-target').value;
    const target = v.startsWith('tier:') ? { tier: v.slice(5) } : { node: v.slice(5) };
    const btn = $('#move-submit');
    btn.disabled = true;
    try {
      await move(moveFor, target, $('#move-pin').checked);
      closeMoveDialog();
    } catch (e) {
      $('#move-error').textContent = e.message;
    } finally {
      btn.disabled = false;
    }
  }

  // Drag a function card to a node (that node) or to a tier's heading or free
  // space (any node of the tier). Pointer events, so mouse, pen and touch work alike.
  let dragging = null;
  function dropTargetAt(x, y) {
    const hit = document.elementFromPoint(x, y);
    if (!hit) return null;
    const node = hit.closest('[data-node]');
    if (node) return { el: node, target: { node: node.dataset.node } };
    const head = hit.closest('[data-drop-tier]');
    if (head) return { el: head, target: { tier: head.dataset.dropTier } };
    const tier = hit.closest('.tier[data-tier]');
    if (tier) return { el: tier, target: { tier: tier.dataset.tier } };
    return null;
  }
  function startDrag(ev, id) {
    if (!canOperate() || ev.button !== 0 || ev.target.closest('button')) return;
    const card = fnEls.get(id);
    const rect = card.getBoundingClientRect();
    dragging = { id, x0: ev.clientX, y0: ev.clientY, dx: ev.clientX - rect.left, dy: ev.clientY - rect.top, ghost: null, over: null, pointer: ev.pointerId };
    card.setPointerCapture(ev.pointerId);
    card.addEventListener('pointermove', onDragMove);
    card.addEventListener('pointerup', onDragEnd);
    card.addEventListener('pointercancel', onDragEnd);
  }
  function onDragMove(ev) {
    if (!dragging) return;
    if (!dragging.ghost) {
      if (Math.hypot(ev.clientX - dragging.x0, ev.clientY - dragging.y0) < 5) return;
      const card = fnEls.get(dragging.id);
      dragging.ghost = card.cloneNode(true);
      dragging.ghost.classList.add('ghost');
      dragging.ghost.style.width = card.getBoundingClientRect().width + 'px';
      document.body.append(dragging.ghost);
      card.classList.add('dragging');
    }
    dragging.ghost.style.left = ev.clientX - dragging.dx + 'px';
    dragging.ghost.style.top = ev.clientY - dragging.dy + 'px';
    const over = dropTargetAt(ev.clientX, ev.clientY);
    if (dragging.over && (!over || over.el !== dragging.over.el)) dragging.over.el.classList.remove('drop');
    if (over) over.el.classList.add('drop');
    dragging.over = over;
  }
  function onDragEnd(ev) {
    const card = ev.currentTarget;
    card.removeEventListener('pointermove', onDragMove);
    card.removeEventListener('pointerup', onDragEnd);
    card.removeEventListener('pointercancel', onDragEnd);
    const d = dragging;
    dragging = null;
    card.classList.remove('dragging');
    if (!d || !d.ghost) return;
    d.ghost.remove();
    if (d.over) d.over.el.classList.remove('drop');
    if (ev.type !== 'pointerup') return;
    const over = dropTargetAt(ev.clientX, ev.clientY);
    const f = st.functions.get(d.id);
    if (!over || !f || (over.target.node && over.target.node === f.node)) return;
    move(d.id, over.target, true).catch((e) => toast('Moving ' + d.id + ' failed: ' + e.message, true));
  }

  // ------------------------------------------------------------------ policy
  const TIER_FIELDS = ['cpu_high', 'cpu_low', 'mem_high', 'mem_low'];
  const POLICY_FIELDS = [
    { path: 'cooldown_s', label: 'cooldown after a move (s)' },
    { path: 'max_moves_per_minute', label: 'most moves per minute (0: no limit)' },
    { path: 'rssi_threshold_dbm', label: 'RSSI threshold (dBm)' },
    { path: 'hysteresis_db', label: 'hysteresis (dB)' },
    { path: 'roam_margin_db', label: 'roam margin (dB)' },
    { path: 'lost_after_s', label: 'device lost after (s)' },
    { path: 'on_lost', label: 'when a device is lost', options: ['keep', 'undeploy'] },
    { path: 'node_stale_after_s', label: 'node stale after (s)' },
    { path: 'pinned', label: 'pinned functions (comma separated)', list: true },
  ];

  function fieldInput(path, options) {
    const input = options ? el('select') : el('input');
    if (options) for (const o of options) { const opt = el('option', null, o); opt.value = o; input.append(opt); }
    else input.type = 'text';
    input.id = 'policy-' + path.replace(/\./g, '-');
    input.dataset.field = path;
    if (!options) input.inputMode = 'decimal';
    input.addEventListener('input', () => {
      st.policyDirty = true;
      clearFieldError(input);
    });
    const err = el('p', 'field-error');
    err.dataset.errorFor = path;
    err.id = input.id + '-error';
    input.setAttribute('aria-describedby', err.id);
    return [input, err];
  }

  function buildPolicyForm() {
    const rows = $('#watermark-rows');
    for (const tier of TIERS) {
      const tr = el('tr');
      tr.append(el('td', null, tier));
      for (const f of TIER_FIELDS) {
        const td = el('td');
        td.append(...fieldInput('tiers.' + tier + '.' + f));
        tr.append(td);
      }
      rows.append(tr);
    }
    const box = $('#policy-fields');
    for (const f of POLICY_FIELDS) {
      const [input, err] = fieldInput(f.path, f.options);
      if (f.list) {
        input.classList.add('wide');
        input.inputMode = 'text';
      }
      const label = el('label', null, f.label);
      label.htmlFor = input.id;
      const cell = el('div');
      cell.append(input, err);
      box.append(label, cell);
    }
  }

  function getPath(obj, path) {
    return path.split('.').reduce((o, k) => (o && typeof o === 'object' ? o[k] : undefined), obj);
  }
  function setPath(obj, path, v) {
    const ks = path.split('.');
    let o = obj;
    for (const k of ks.slice(0, -1)) {
      if (!o[k] || typeof o[k] !== 'object') o[k] = {};
      o = o[k];
    }
    o[ks[ks.length - 1]] = v;
  }

  function fillPolicyForm() {
    if (!st.policy) return;
    const p = st.policy.policy;
    for (const input of $$('#policy-form [data-field]')) {
      const v = getPath(p, input.dataset.field);
      input.value = Array.isArray(v) ? v.join(', ') : v === undefined || v === null ? '' : String(v);
      input.disabled = !canOperate();
      clearFieldError(input);
    }
    $('#policy-error').textContent = '';
    $('#policy-save').hidden = !canOperate();
    $('#policy-reset').hidden = !canOperate();
    st.policyDirty = false;
  }

  function clearFieldError(input) {
    input.removeAttribute('aria-invalid');
    const err = $('[data-error-for="' + input.dataset.field + '"]');
    if (err) err.textContent = '';
  }

  // The API names the field first: "tiers.gateway.cpu_low: must not be above cpu_high (0.9 > 0.85)".
  function showPolicyError(message) {
    const m = /^([A-Za-z0-9_.[\]]+): (.*)$/s.exec(message);
    if (m) {
      const field = m[1].replace(/\[\d+\]$/, '');
      let path = field;
      while (path) {
        const input = $('#policy-form [data-field="' + path + '"]');
        if (input) {
          input.setAttribute('aria-invalid', 'true');
          $('[data-error-for="' + path + '"]').textContent = path === field ? m[2] : field + ': ' + m[2];
          input.focus();
          return;
        }
        path = path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
      }
    }
    $('#policy-error').textContent = message;
  }

  async function savePolicy(ev) {
    ev.preventDefault();
    if (!canOperate() || !st.policy) return;
    for (const input of $$('#policy-form [data-field]')) clearFieldError(input);
    $('#policy-error').textContent = '';
    const spec = JSON.parse(JSON.stringify(st.policy.policy));
    for (const input of $$('#policy-form [data-field]')) {
      const raw = input.value.trim();
      let v;
      if (input.dataset.field === 'pinned') v = raw ? raw.split(',').map((s) => s.trim()) : [];
      else if (input.tagName === 'SELECT') v = raw;
      // Numbers go as numbers; anything else goes as typed, and the API says what is wrong with it.
      else v = raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
      setPath(spec, input.dataset.field, v);
    }
    const btn = $('#policy-save');
    btn.disabled = true;
    try {
      const { data, etag } = await api('PUT', '/v1/policy', spec, { 'If-Match': st.policyEtag || '"0"' });
      st.policy = data;
      st.policyEtag = etag;
      fillPolicyForm();
      $('#policy-version').textContent = 'version ' + data.version + ' by ' + data.changed_by + ', ' + clock(data.changed_t);
      toast('Policy version ' + data.version + ' saved');
      scheduleRender();
    } catch (e) {
      if (e.code === 'stale_version') {
        $('#policy-error').textContent = e.message + '. Your edits are kept: Save again to replace the new version.';
        try {
          const { etag } = await api('GET', '/v1/policy');
          st.policyEtag = etag;
        } catch (e2) { /* shown by the next save */ }
      } else {
        showPolicyError(e.message);
      }
    } finally {
      btn.disabled = false;
    }
  }

  // ------------------------------------------------------------------ sign-in
  async function signIn(token) {
    st.token = token;
    const { data } = await api('GET', '/v1/whoami');
    st.me = data;
    sessionStorage.setItem(TOKEN_KEY, token);
    st.gen++;
    st.loaded = false;
    $('#sign-in').hidden = true;
    $('#app').hidden = false;
    $('#who').hidden = false;
    $('#who').textContent = data.name + ' (' + data.role + ')';
    $('#sign-out').hidden = false;
    $('#role-note').textContent = canOperate()
      ? 'Drag a function to a node (or a tier heading for any node of that tier), or use its Move button. Moves you make are pinned unless you untick it.'
      : 'Signed in as a viewer: you see everything; moving functions and editing the policy need an operator token.';
    fillPolicyForm();
    watchLoop(st.gen);
  }

  function signOut(reason) {
    st.gen++;
    if (st.abort) st.abort.abort();
    sessionStorage.removeItem(TOKEN_KEY);
    Object.assign(st, { token: null, me: null, lastEventId: null, policy: null, policyEtag: null, loaded: false });
    for (const k of ['nodes', 'devices', 'functions', 'migrations', 'templates']) st[k].clear();
    for (const e of fnEls.values()) e.remove();
    fnEls.clear();
    for (const e of nodeEls.values()) e.remove();
    nodeEls.clear();
    closeMoveDialog();
    $('#app').hidden = true;
    $('#who').hidden = true;
    $('#sign-out').hidden = true;
    $('#sign-in').hidden = false;
    $('#live').textContent = 'offline';
    $('#live').classList.remove('on');
    $('#last-event').textContent = '';
    $('#token').value = '';
    $('#token-error').textContent = reason || '';
    $('#token').focus();
  }

  async function onSignInSubmit(ev) {
    ev.preventDefault();
    const token = $('#token').value.trim();
    const err = $('#token-error');
    err.textContent = '';
    if (!token) {
      err.textContent = 'Enter a token.';
      return;
    }
    const btn = $('#sign-in-submit');
    btn.disabled = true;
    try {
      await signIn(token);
    } catch (e) {
      st.token = null;
      st.me = null;
      err.textContent = e.status === 401 ? 'This token is not valid here.' : 'Sign-in failed: ' + e.message;
    } finally {
      btn.disabled = false;
    }
  }

  function start() {
    buildPolicyForm();
    renderLegends();
    $('#sign-in-form').addEventListener('submit', onSignInSubmit);
    $('#sign-out').addEventListener('click', () => signOut(''));
    $('#move-form').addEventListener('submit', submitMove);
    $('#move-cancel').addEventListener('click', closeMoveDialog);
    $('#move-dialog').addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeMoveDialog(); });
    $('#policy-form').addEventListener('submit', savePolicy);
    $('#policy-reset').addEventListener('click', fillPolicyForm);
    // Time moves on: open timelines grow, charts slide, heartbeats age.
    setInterval(() => { if (st.loaded) scheduleRender(); }, 5000);
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      signIn(saved).catch(() => signOut('Sign in again: the saved token was not accepted.'));
    } else {
      signOut('');
    }
  }

  document.addEventListener('DOMContentLoaded', start);
})();
