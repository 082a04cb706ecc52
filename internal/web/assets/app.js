// amlid · identities and access. Draws what /amlid/web/api/graph returns
// (the access analyzer's findings and the role assignments the signed-in
// principal may read) as one SVG built as a string: columns of principals →
// role assignments → scopes, and workloads → acting identity → requirements.
// No rule lives here; no library, nothing fetched from elsewhere.
(() => {
  'use strict';
  const P = '/amlid/web';
  const $ = (s, el) => (el || document).querySelector(s);
  const esc = s => String(s == null ? '' : s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const low = s => String(s || '').toLowerCase();
  const trimScope = s => low(s).replace(/\/+$/, '');
  const H = 22, GAP = 4, TOP = 30;
  const COLS = [
    { x: 10, w: 200, title: 'Principals' },
    { x: 240, w: 210, title: 'Role assignments' },
    { x: 490, w: 220, title: 'Scopes' },
    { x: 750, w: 190, title: 'Workloads' },
    { x: 970, w: 190, title: 'Acting identity' },
    { x: 1190, w: 380, title: 'Required access' },
  ];
  const stats = window.__amlid = { loads: 0, renders: 0, drawMs: 0, fetchMs: 0, parseMs: 0, version: '', nodes: 0, edges: 0 };
  const st = { d: null, sel: null, nodes: new Map(), edgesOf: new Map(), layout: null, drawn: null, hl: '' };

  function status(t) { $('#status').textContent = t; }

  async function load() {
    const t0 = performance.now();
    let r;
    try {
      r = await fetch(P + '/api/graph', { credentials: 'same-origin', headers: { Accept: 'application/json' }, cache: 'no-store' });
    } catch (e) { status('Cannot reach amlid: ' + e.message); return; }
    if (r.status === 401) { location.replace(P + '/'); return; }
    if (!r.ok) { status('Error ' + r.status + ': ' + (await r.text())); return; }
    const text = await r.text();
    const t1 = performance.now();
    const d = JSON.parse(text);
    const t2 = performance.now();
    st.d = prepare(d);
    fillSelects();
    render();
    stats.fetchMs = t1 - t0; stats.parseMs = t2 - t1; stats.loads++; stats.version = d.version;
    stats.serverMs = d.buildMillis;
  }

  // prepare indexes the data once per load.
  function prepare(d) {
    const scopes = new Map();
    for (const s of d.scopes) scopes.set(trimScope(s.id), Object.assign({ depth: 0, kids: [] }, s));
    // Scopes above the principal's reach still show, dashed, when a visible
    // assignment sits there (an inherited grant).
    for (const a of d.assignments) {
      const k = trimScope(a.scope);
      if (!scopes.has(k)) {
        const segs = a.scope.split('/').filter(Boolean);
        scopes.set(k, { id: a.scope, name: segs[segs.length - 1] || a.scope, type: 'inherited scope', above: true, depth: 0, kids: [] });
      }
    }
    const roots = [];
    for (const s of scopes.values()) {
      const p = s.parent && scopes.get(trimScope(s.parent));
      if (p) p.kids.push(s); else roots.push(s);
    }
    const order = [];
    const walk = (s, depth) => {
      s.depth = depth; order.push(s);
      s.kids.sort((a, b) => low(a.name) < low(b.name) ? -1 : 1).forEach(k => walk(k, depth + 1));
    };
    roots.sort((a, b) => (a.above === b.above ? (low(a.id) < low(b.id) ? -1 : 1) : (a.above ? -1 : 1))).forEach(s => walk(s, 0));
    const principals = new Map(d.principals.map(p => [low(p.id), p]));
    const byPrincipal = new Map();
    d.assignments.forEach((a, i) => {
      a.i = i;
      const k = low(a.principalId);
      if (!byPrincipal.has(k)) byPrincipal.set(k, []);
      byPrincipal.get(k).push(a);
    });
    const rules = new Set(), types = new Set();
    d.principals.forEach(p => types.add(p.type));
    d.scopes.forEach(s => types.add(s.type));
    d.workloads.forEach(w => {
      types.add(w.type);
      (w.findings || []).forEach(f => rules.add(f.rule));
      w.shortName = w.id.split('/').slice(-1)[0];
    });
    return Object.assign(d, { scopeMap: scopes, scopeOrder: order, principalMap: principals, byPrincipal, rules: [...rules].sort(), types: [...types].sort() });
  }

  function fillSelects() {
    const fill = (sel, vals, first) => {
      const cur = sel.value;
      sel.innerHTML = '<option value="">' + first + '</option>' + vals.map(v => '<option>' + esc(v) + '</option>').join('');
      if (vals.includes(cur)) sel.value = cur;
    };
    fill($('#type'), st.d.types, 'All types');
    fill($('#rule'), st.d.rules, 'All rules');
  }

  function pname(id) {
    const p = st.d.principalMap.get(low(id));
    return p ? p.name : id;
  }
  function findingKey(w, f) { return [w.id, f.rule, f.kind, f.role || '', f.action || '', f.scope].join('|').toLowerCase(); }
  function needText(f) {
    if (f.kind === 'accessPolicy') return 'access policy: secret ' + (f.secretPermissions || []).join(', ') + ' on ' + f.scope;
    if (f.kind === 'network') return 'network access to ' + f.scope;
    return (f.role || f.action) + ' on ' + f.scope;
  }

  // filter decides what is shown.
  function filter() {
    const d = st.d;
    const q = low($('#q').value.trim()), type = $('#type').value, rule = $('#rule').value, unmet = $('#unmet').checked;
    const wlFilter = !!(rule || unmet);
    const has = s => !q || low(s).includes(q);
    const shownW = [], reqs = new Map();
    for (const w of d.workloads) {
      const id = w.identity ? w.identity.principalId : '';
      let fs = (w.findings || []).filter(f => (!rule || f.rule === rule) && (!unmet || (!f.met && !f.optional)));
      const text = [w.id, w.type, id, pname(id), (w.rules || []).join(' '), ...(w.findings || []).map(f => f.rule + ' ' + needText(f))].join(' ');
      if (!has(text)) continue;
      if (type && w.type !== type && !(id && (d.principalMap.get(low(id)) || {}).type === type)) continue;
      if (wlFilter && !fs.length) continue;
      if (q && !has([w.id, w.type, id, pname(id)].join(' '))) fs = fs.filter(f => has(f.rule + ' ' + needText(f) + ' ' + (f.fix || '')));
      shownW.push(w); reqs.set(w.id, fs);
    }
    const wlIdentities = new Set(shownW.filter(w => w.identity).map(w => low(w.identity.principalId)));
    const shownA = [];
    for (const a of d.assignments) {
      const p = d.principalMap.get(a.principalId) || { type: '', name: a.principalId };
      const s = d.scopeMap.get(trimScope(a.scope)) || { type: '', name: '' };
      if (wlFilter && !wlIdentities.has(a.principalId)) continue;
      if (type && p.type !== type && s.type !== type) continue;
      if (q && !has([p.name, p.upn, a.principalId, a.role, a.scope, s.name].join(' '))) continue;
      shownA.push(a);
    }
    const shownP = new Set(shownA.map(a => a.principalId));
    wlIdentities.forEach(k => shownP.add(k));
    if (!wlFilter) for (const p of d.principals) if ((!type || p.type === type) && q && has([p.name, p.upn, p.id, p.appId].join(' '))) shownP.add(low(p.id));
    const shownS = new Set(shownA.map(a => trimScope(a.scope)));
    shownW.forEach(w => shownS.add(trimScope(w.id)));
    if (!q && !type && !wlFilter) d.scopeMap.forEach((s, k) => shownS.add(k));
    else if (!wlFilter) d.scopeMap.forEach((s, k) => { if ((!type || s.type === type) && q && has(s.id + ' ' + s.name)) shownS.add(k); });
    return { shownA, shownP, shownS, shownW, reqs, any: !!(q || type || wlFilter) };
  }

  function trunc(s, n) { s = String(s); return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  // render lays out every shown node (cheap: numbers only), then draws the
  // part of the graph near the viewport: a 10,000-assignment graph is 250,000
  // pixels tall, and the browser would otherwise lay out and paint 30,000
  // SVG elements and 20,000 curves it never shows.
  function render() {
    const t0 = performance.now();
    const d = st.d, f = filter();
    st.nodes = new Map(); st.edgesOf = new Map();
    const nodes = [], edges = [];
    const colY = COLS.map(() => TOP);
    const node = (key, col, y, cls, label, ref) => {
      const n = { key, col, y, cls, label, ref };
      st.nodes.set(key, n); nodes.push(n);
    };
    const edge = (a, b, cls) => {
      const na = st.nodes.get(a), nb = st.nodes.get(b);
      if (!na || !nb) return;
      const x1 = COLS[na.col].x + COLS[na.col].w, y1 = na.y + H / 2, x2 = COLS[nb.col].x, y2 = nb.y + H / 2, mx = (x1 + x2) / 2;
      const e = { d: 'M' + x1 + ' ' + y1 + 'C' + mx + ' ' + y1 + ' ' + mx + ' ' + y2 + ' ' + x2 + ' ' + y2, cls: cls || 'e', lo: Math.min(y1, y2), hi: Math.max(y1, y2), a, b };
      edges.push(e);
      for (const k of [a, b]) { if (!st.edgesOf.has(k)) st.edgesOf.set(k, []); st.edgesOf.get(k).push(e); }
    };
    // Principals with their assignments side by side.
    const aBy = new Map();
    for (const a of f.shownA) { if (!aBy.has(a.principalId)) aBy.set(a.principalId, []); aBy.get(a.principalId).push(a); }
    const plist = d.principals.filter(p => f.shownP.has(low(p.id)));
    plist.sort((a, b) => (aBy.has(low(b.id)) ? 1 : 0) - (aBy.has(low(a.id)) ? 1 : 0));
    for (const p of plist) {
      const k = low(p.id), as = aBy.get(k) || [];
      const y = Math.max(colY[0], colY[1]);
      node('p:' + k, 0, y, 'principal t-' + p.type, p.name + ' · ' + p.type, p);
      colY[0] = y + H + GAP;
      as.forEach((a, i) => node('a:' + a.i, 1, y + i * (H + GAP), 'assignment', a.role + ' @ ' + (d.scopeMap.get(trimScope(a.scope)) || {}).name, a));
      colY[1] = Math.max(colY[1], y + as.length * (H + GAP));
    }
    // Scopes as a tree.
    for (const s of d.scopeOrder) {
      if (!f.shownS.has(trimScope(s.id))) continue;
      const ind = '\u2002'.repeat(Math.min(s.depth, 6));
      const kind = s.type.split('/').slice(-1)[0];
      node('s:' + trimScope(s.id), 2, colY[2], 'scope' + (s.above ? ' above' : ''), ind + s.name + ' · ' + kind, s);
      colY[2] += H + GAP;
    }
    // Workloads → acting identity → requirements.
    for (const w of f.shownW) {
      const fs = f.reqs.get(w.id) || [];
      const y = Math.max(colY[3], colY[5]);
      const wk = 'w:' + low(w.id);
      node(wk, 3, y, 'workload', w.shortName + ' · ' + w.type.split('/').slice(-1)[0], w);
      colY[3] = y + H + GAP;
      if (w.identity) {
        const ik = 'i:' + low(w.id);
        node(ik, 4, y, 'identity', pname(w.identity.principalId) + ' (' + (w.identity.kind === 'SystemAssigned' ? 'system' : 'user') + ')', w);
        edge(wk, ik);
        fs.forEach((fd, i) => {
          const rk = 'r:' + findingKey(w, fd);
          const cls = fd.met ? 'met' : 'unmet';
          node(rk, 5, y + i * (H + GAP), 'req ' + cls + (fd.optional ? ' optional' : ''), fd.rule + ' · ' + needText(fd), { w, f: fd });
          edge(ik, rk, cls);
        });
      }
      colY[5] = Math.max(colY[5], y + Math.max(fs.length, 1) * (H + GAP));
      colY[4] = colY[3];
      edge('s:' + trimScope(w.id), wk);
    }
    for (const a of f.shownA) { edge('p:' + a.principalId, 'a:' + a.i); edge('a:' + a.i, 's:' + trimScope(a.scope)); }
    const height = Math.max(...colY) + 20, width = COLS[5].x + COLS[5].w + 20;
    st.layout = { nodes, edges, height, width };
    const g = $('#graph');
    if (!$('#svg')) g.innerHTML = '<svg xmlns="http://www.w3.org/2000/svg" id="svg"></svg>';
    const svg = $('#svg');
    svg.setAttribute('width', width); svg.setAttribute('height', height); svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    st.drawn = null;
    if (st.sel && st.nodes.has(st.sel)) highlight(st.sel); else st.hl = '';
    draw();
    renderFindings(f);
    const nA = f.shownA.length, nW = f.shownW.length;
    let met = 0, un = 0;
    f.shownW.forEach(w => (f.reqs.get(w.id) || []).forEach(x => { if (x.met) met++; else if (!x.optional) un++; }));
    status(plist.length + ' principals · ' + nA + ' assignments · ' + f.shownS.size + ' scopes · ' + nW + ' workloads · ' + met + ' met · ' + un + ' unmet' + (f.any ? ' (filtered)' : ''));
    if (st.sel && st.nodes.has(st.sel)) showDetails(st.nodes.get(st.sel)); else if (st.sel) { st.sel = null; showDetails(null); }
    stats.nodes = nodes.length; stats.edges = edges.length;
    // Drawn = after the browser has laid out and painted the new SVG.
    requestAnimationFrame(() => setTimeout(() => { stats.drawMs = performance.now() - t0; stats.renders++; }, 0));
  }

  // draw puts the nodes and edges near the viewport into the SVG.
  const MARGIN = 800;
  function draw() {
    const L = st.layout, wrap = $('#graphwrap');
    if (!L) return;
    const top = wrap.scrollTop - MARGIN, bot = wrap.scrollTop + wrap.clientHeight + MARGIN;
    const win = Math.floor(top / 400) + ':' + Math.ceil(bot / 400);
    if (st.drawn === win) return;
    st.drawn = win;
    const out = [], paths = { e: [], met: [], unmet: [] };
    for (const e of L.edges) if (e.hi >= top && e.lo <= bot) paths[e.cls].push(e.d);
    const heads = COLS.map(c => '<text class="colhead" x="' + c.x + '" y="18">' + c.title + '</text>').join('');
    out.push(heads, '<path class="e" d="' + paths.e.join('') + '"></path><path class="e met" d="' + paths.met.join('') + '"></path><path class="e unmet" d="' + paths.unmet.join('') + '"></path>');
    for (const n of L.nodes) {
      if (n.y + H < top || n.y > bot) continue;
      const c = COLS[n.col];
      out.push('<g class="n ' + n.cls + (n.key === st.sel ? ' sel' : '') + '" data-k="' + esc(n.key) + '" transform="translate(' + c.x + ',' + n.y + ')"><rect width="' + c.w + '" height="' + H + '"></rect><text x="6" y="15">' + esc(trunc(n.label, Math.floor(c.w / 6.6))) + '</text></g>');
    }
    out.push('<path class="e hl" id="hl" d="' + (st.hl || '') + '"></path>');
    $('#svg').innerHTML = out.join('');
  }

  function renderFindings(f) {
    const rows = [];
    let n = 0;
    for (const w of f.shownW) {
      for (const fd of f.reqs.get(w.id) || []) {
        n++;
        const cls = fd.met ? 'met' : (fd.optional ? 'optional' : 'unmet');
        rows.push('<div class="finding ' + cls + '" data-key="' + esc(findingKey(w, fd)) + '" data-rule="' + esc(fd.rule) + '" data-role="' + esc(fd.role || '') + '" data-workload="' + esc(w.id) + '">' +
          '<span class="status">' + (fd.met ? 'MET' : fd.optional ? 'optional' : 'UNMET') + '</span><span class="rule">' + esc(fd.rule) + '</span><span class="need">' + esc(needText(fd)) + '</span>' +
          '<span class="res">' + esc(w.id) + ' · acts as ' + esc(pname(w.identity ? w.identity.principalId : '')) + '</span>' +
          (fd.why ? '<span class="why">' + esc(fd.why) + '</span>' : '') +
          (fd.met ? '<span class="via">granted by ' + esc(fd.via) + '</span>' : '<span class="reason">' + esc(fd.reason || '') + '</span>') +
          (fd.fix ? '<div class="fixrow"><code class="fix">' + esc(fd.fix) + '</code><button class="copy" type="button">Copy</button></div>' : '') + '</div>');
      }
    }
    $('#findings').innerHTML = rows.join('') || '<p class="hint">No workload requirement matches.</p>';
    $('#findings-count').textContent = n ? '(' + n + ')' : '';
  }

  function select(key) {
    st.sel = key;
    highlight(key);
    st.drawn = null;
    draw();
    showDetails(st.nodes.get(key));
  }

  // highlight marks the edges one or two hops from the selected node.
  function highlight(key) {
    const seen = new Set([key]), ds = [];
    const hop = (k, depth) => {
      for (const e of st.edgesOf.get(k) || []) {
        ds.push(e.d);
        const o = e.a === k ? e.b : e.a;
        if (!seen.has(o)) { seen.add(o); if (depth > 1) hop(o, depth - 1); }
      }
    };
    hop(key, 2);
    st.hl = ds.join('');
  }

  function assignmentsAbove(scope) {
    const s = trimScope(scope);
    return st.d.assignments.filter(a => { const t = trimScope(a.scope); return s === t || s.startsWith(t + '/'); });
  }

  function listAssignments(as, showPrincipal) {
    if (!as.length) return '<p class="hint">None you may see.</p>';
    return '<ul>' + as.map(a => '<li>' + (showPrincipal ? '<b>' + esc(pname(a.principalId)) + '</b> · ' : '') + esc(a.role) + ' @ <span class="kv">' + esc(a.scope) + '</span></li>').join('') + '</ul>';
  }

  function findingHTML(w, fd) {
    return '<li><span class="badge ' + (fd.met ? 'met' : 'unmet') + '">' + (fd.met ? 'met' : fd.optional ? 'optional' : 'unmet') + '</span><b>' + esc(fd.rule) + '</b> ' + esc(needText(fd)) +
      '<div class="kv">' + esc(fd.why || '') + '</div>' + (fd.met ? '<div class="kv">via ' + esc(fd.via) + '</div>' : '<div class="kv">' + esc(fd.reason || '') + '</div>') +
      (fd.fix ? '<div class="fixrow"><code class="fix">' + esc(fd.fix) + '</code><button class="copy" type="button">Copy</button></div>' : '') + '</li>';
  }

  function whoCanForm(scope, type) {
    const sugg = new Set([type + '/read']);
    st.d.workloads.forEach(w => (w.findings || []).forEach(fd => { if (fd.action && trimScope(fd.scope) === trimScope(scope)) sugg.add(fd.action + (fd.dataAction ? ' (data)' : '')); }));
    const list = [...sugg];
    const def = list.length > 1 ? list[1] : list[0];
    return '<h4>Who can</h4><form class="whocan" data-scope="' + esc(scope) + '"><input name="action" list="acts" value="' + esc(def) + '"><datalist id="acts">' +
      list.map(a => '<option value="' + esc(a) + '">').join('') + '</datalist><button type="submit">Ask</button></form><div id="whocan-out"></div>';
  }

  function showDetails(n) {
    const el = $('#details');
    if (!n) { el.innerHTML = '<p class="hint">Select a node to see who can reach it, what an identity can do, or a requirement\'s fix.</p>'; return; }
    const d = st.d, k = n.key[0];
    let h = '';
    let pref = k === 'p' ? n.ref : null;
    // The acting identity's node is its principal: what can it do.
    if (k === 'i' && n.ref.identity) pref = d.principalMap.get(low(n.ref.identity.principalId)) || null;
    if (pref) {
      const p = pref, pid = low(p.id);
      h += '<h3>' + esc(p.name) + '</h3><div class="kv">' + esc(p.type) + ' · object ' + esc(p.id) + (p.upn ? ' · ' + esc(p.upn) : '') + (p.appId ? ' · app ' + esc(p.appId) : '') + (p.resourceId ? '<br>' + esc(p.resourceId) : '') + '</div>';
      h += '<h4>What this identity can do: its role assignments</h4>' + listAssignments(d.byPrincipal.get(pid) || [], false);
      // Through its groups (transitively).
      const via = [], seenG = new Set();
      const up = (id) => { const q = d.principalMap.get(low(id)); (q && q.memberOf || []).forEach(g => { if (!seenG.has(g)) { seenG.add(g); via.push(g); up(g); } }); };
      up(pid);
      via.forEach(g => { h += '<h4>Through group ' + esc(pname(g)) + '</h4>' + listAssignments(d.byPrincipal.get(g) || [], false); });
      const members = d.principals.filter(q => (q.memberOf || []).includes(pid));
      if (members.length) h += '<h4>Members</h4><ul>' + members.map(q => '<li>' + esc(q.name) + ' <span class="kv">' + esc(q.type) + '</span></li>').join('') + '</ul>';
      const acts = d.workloads.filter(w => w.identity && low(w.identity.principalId) === pid);
      if (acts.length) {
        h += '<h4>Workloads acting as it, and what they need</h4><ul>';
        acts.forEach(w => { h += '<li><b>' + esc(w.shortName) + '</b> <span class="kv">' + esc(w.type) + '</span><ul>' + (w.findings || []).map(fd => findingHTML(w, fd)).join('') + '</ul></li>'; });
        h += '</ul>';
      }
      const ex = (d.excessGrants || []).filter(e => low(e.identity.principalId) === pid);
      if (ex.length) h += '<h4>Wider than needed</h4><ul>' + ex.map(e => '<li>' + esc(e.role) + ' @ <span class="kv">' + esc(e.scope) + '</span> (needs ' + esc((e.needed || []).join(', ')) + ')<div class="fixrow"><code class="fix">' + esc(e.fix) + '</code><button class="copy" type="button">Copy</button></div></li>').join('') + '</ul>';
    } else if (k === 'a') {
      const a = n.ref;
      h += '<h3>' + esc(a.role) + '</h3><div class="kv">assignment ' + esc(a.id) + '</div><h4>Principal</h4><p>' + esc(pname(a.principalId)) + ' <span class="kv">' + esc(a.principalId) + '</span></p><h4>Scope</h4><p class="kv">' + esc(a.scope) + '</p>';
    } else if (k === 's' || k === 'w' || k === 'i') {
      const s = k === 's' ? n.ref : (d.scopeMap.get(trimScope(n.ref.id)) || { id: n.ref.id, name: n.ref.shortName, type: n.ref.type });
      h += '<h3>' + esc(s.name) + '</h3><div class="kv">' + esc(s.type) + '<br>' + esc(s.id) + '</div>';
      const w = d.workloads.find(x => trimScope(x.id) === trimScope(s.id));
      if (w) {
        h += '<h4>Acts as</h4><p>' + (w.identity ? esc(pname(w.identity.principalId)) + ' <span class="kv">' + esc(w.identity.kind) + ' · ' + esc(w.identity.principalId) + '</span>' : 'no managed identity') + '</p>';
        if (w.error) h += '<p class="kv">' + esc(w.error) + '</p>';
        h += '<h4>Required access (' + esc((w.rules || []).join(', ')) + ')</h4><ul>' + (w.findings || []).map(fd => findingHTML(w, fd)).join('') + '</ul>';
        (w.notes || []).forEach(x => { h += '<div class="kv">' + esc(x) + '</div>'; });
      }
      h += '<h4>Role assignments at and above</h4>' + listAssignments(assignmentsAbove(s.id), true);
      if (!s.above) h += whoCanForm(s.id, s.type === 'Microsoft.Resources/resourceGroups' ? 'Microsoft.Resources/subscriptions/resourceGroups' : s.type);
    } else if (k === 'r') {
      const { w, f: fd } = n.ref;
      h += '<h3>' + esc(fd.rule) + ' · ' + (fd.met ? 'met' : 'unmet') + '</h3><div class="kv">' + esc(w.id) + '</div><ul>' + findingHTML(w, fd) + '</ul>';
    }
    el.innerHTML = h;
    const form = $('form.whocan', el);
    if (form) form.addEventListener('submit', ev => { ev.preventDefault(); whoCan(form.dataset.scope, form.elements.namedItem('action').value); });
  }

  async function whoCan(scope, action) {
    const out = $('#whocan-out');
    const data = / \(data\)$/.test(action);
    action = action.replace(/ \(data\)$/, '').trim();
    out.textContent = 'Asking…';
    const r = await fetch(P + '/api/who-can?' + new URLSearchParams({ scope, action, dataAction: String(data) }), { credentials: 'same-origin' });
    const b = await r.json();
    if (!r.ok) { out.textContent = (b.error && b.error.message) || r.status; return; }
    if (!b.value.length) { out.innerHTML = '<p class="hint">Nobody may ' + esc(action) + ' here.</p>'; return; }
    out.innerHTML = '<table class="wc"><tr><th>Principal</th><th>Role</th><th>Assigned at</th></tr>' + b.value.map(g => '<tr><td>' + esc(g.name) + (g.viaGroup ? ' <span class="kv">via group ' + esc(pname(g.viaGroup)) + '</span>' : '') + '</td><td>' + esc(g.role) + '</td><td class="kv">' + esc(g.assignmentScope) + (g.inherited ? ' (inherited)' : '') + '</td></tr>').join('') + '</table>';
  }

  function copy(btn) {
    const code = btn.parentElement.querySelector('code.fix');
    const text = code.textContent;
    const done = () => { btn.textContent = 'Copied'; setTimeout(() => { btn.textContent = 'Copy'; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, () => selectText(code));
    else selectText(code);
  }
  function selectText(el) { const r = document.createRange(); r.selectNodeContents(el); const s = getSelection(); s.removeAllRanges(); s.addRange(r); }

  function live() {
    if (!window.EventSource) { setInterval(load, 5000); return; }
    const es = new EventSource(P + '/api/events');
    es.addEventListener('hello', () => $('#live').classList.add('on'));
    es.addEventListener('change', () => load());
    es.addEventListener('signedout', () => { es.close(); location.replace(P + '/'); });
    es.onerror = () => $('#live').classList.remove('on');
    es.onopen = () => $('#live').classList.add('on');
  }

  let debounce;
  function onFilter() { clearTimeout(debounce); debounce = setTimeout(render, 120); }

  document.addEventListener('DOMContentLoaded', () => {
    $('#q').addEventListener('input', onFilter);
    ['#type', '#rule', '#unmet'].forEach(s => $(s).addEventListener('change', render));
    $('#graph').addEventListener('click', ev => { const g = ev.target.closest('.n'); if (g) select(g.dataset.k); });
    let ticking = false;
    $('#graphwrap').addEventListener('scroll', () => { if (!ticking) { ticking = true; requestAnimationFrame(() => { ticking = false; draw(); }); } }, { passive: true });
    document.body.addEventListener('click', ev => { if (ev.target.matches('button.copy')) copy(ev.target); });
    load().then(live);
  });
  // For tests and benchmarks: redraw on demand.
  stats.reload = load;
})();
