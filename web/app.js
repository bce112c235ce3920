// netsentry dashboard. Loads the current state over the JSON API, then follows /api/events
// (server-sent events) for deltas; the browser resends Last-Event-ID on reconnect so nothing is
// missed, and a "reset" event (too far behind) reloads the state. Every string that came from the
// network is inserted with textContent, never as HTML, so a field holding <script> shows as text.
// Plotly is loaded only after the numbers, alerts and tables are on screen: evaluating it blocks
// the page for about a second, and everything but the two charts is usable without it.
'use strict';

(() => {
  const LIVE_WINDOW_S = 300;
  const MAX_ALERTS = 500;
  const REFRESH_MS = 5000;
  const HOST_FLOW_LIMIT = 1000;  // newest flows a host page reads (the API's maximum)
  const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

  const params = new URLSearchParams(location.search);
  const SENSOR_REFRESH_MS = 5000;

  const state = {
    sensor: params.get('sensor') || '',  // a hub's page: one sensor's view ('' = all sensors)
    sensors: [],
    suppressions: null,       // GET /api/suppressions, null when the server has none to change
    seq: 0,
    iface: 'total',
    rangeS: LIVE_WINDOW_S,    // the span the charts cover
    // The page's time range, kept in the address (?range=1h, or ?from=&to= in epoch ms): '' is
    // live (the last 5 minutes, following the event stream); a preset is the last N before the
    // newest data (so a replayed capture works); custom is a fixed [from, to].
    range: { preset: '', from: 0, to: 0 },
    alerts: new Map(),        // id -> alert
    minSeverity: '',
    drawerId: 0,
    proposedRule: '',         // the suppression rule the drawer proposed, until the user edits it
    flows: [],
    flowSort: { key: 'last', dir: -1 },
    connections: [],
    hosts: [],                // /api/hosts: the riskiest host profiles, highest score first
    connectionSort: { key: 'process', dir: 1 },
    source: null,
    reconnectTimer: 0,
    chartsReady: false,
    pendingTraffic: [],
    pendingScores: [],
    lastTrafficMs: 0,         // newest point on the traffic chart: events may repeat what a fetch had
    lastScoreMs: 0,
    // The score chart is drawn once it has a point; until then a note says why it has none.
    scoreDrawn: false,
    scoreRangeFixed: false,  // the score chart shows a fixed last minute (see fitScoreAxis)
    scoreThreshold: 0,        // the score chart's threshold line: the newest point's
    modelLoaded: null,        // from /api/models: null until known
    modelWeights: new Map(),  // model name -> its weight in the ensemble (see hasNoVote)
  };
  // A model of weight 0 is scored and its verdict shown in the evidence, but the ensemble decides
  // without it.
  const hasNoVote = (weight) => Number(weight) <= 0;

  const $ = (id) => document.getElementById(id);

  // Builds an element; `text` always goes through textContent.
  function el(tag, opts = {}, children = []) {
    const node = document.createElement(tag);
    if (opts.cls) node.className = opts.cls;
    if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
    if (opts.title) node.title = String(opts.title);
    if (opts.attrs) for (const [k, v] of Object.entries(opts.attrs)) node.setAttribute(k, String(v));
    for (const child of children) if (child) node.appendChild(child);
    return node;
  }

  // A table row built once and cloned for each row: one cloneNode instead of a createElement per
  // cell. `classes` gives each cell's class; the returned function fills cells with textContent.
  function rowMaker(classes) {
    const proto = document.createElement('tr');
    for (const cls of classes) {
      const td = document.createElement('td');
      if (cls) td.className = cls;
      proto.appendChild(td);
    }
    return (texts) => {
      const tr = proto.cloneNode(true);
      let td = tr.firstChild;
      for (const t of texts) {
        td.textContent = t;
        td = td.nextSibling;
      }
      return tr;
    };
  }

  // ---------- formatting ----------
  function fmtBytes(n) {
    if (n === null || n === undefined || !isFinite(n)) return '–';
    const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
    let i = 0;
    let v = Math.abs(n);
    while (v >= 1000 && i < units.length - 1) { v /= 1000; i += 1; }
    return `${(n < 0 ? -v : v).toFixed(v >= 100 || i === 0 ? 0 : 1)} ${units[i]}`;
  }
  const fmtRate = (n) => `${fmtBytes(n)}/s`;
  // toLocaleString() builds a new Intl formatter on every call: with a thousand table cells that
  // was the page's largest cost before the first render (profiled: ~250 ms of ~1 s). These are
  // built once; they format as toLocaleString() did, except that times use the 24-hour clock in
  // every locale: the charts' time axes (Plotly) always do, and one page showed 22:00:30 on the
  // traffic chart beside 10:00:20 PM in the alert list.
  const intFormat = new Intl.NumberFormat();
  const numFormats = new Map();  // maximumFractionDigits -> formatter
  const timeFormat = new Intl.DateTimeFormat(undefined, {
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
    year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
    hourCycle: 'h23',
  });
  const fmtInt = (n) => (n === null || n === undefined ? '–' : intFormat.format(Math.round(n)));
  function fmtNum(n, digits = 2) {
    if (n === null || n === undefined || !isFinite(n)) return '–';
    if (Math.abs(n) >= 1e6) return n.toExponential(2);
    let f = numFormats.get(digits);
    if (!f) {
      f = new Intl.NumberFormat(undefined, { maximumFractionDigits: digits });
      numFormats.set(digits, f);
    }
    return f.format(Number(n));
  }
  function fmtTime(ms) {
    if (!ms) return '–';
    const d = new Date(ms);
    const today = new Date();
    const sameDay = d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() &&
      d.getDate() === today.getDate();
    return sameDay ? timeFormat.format(d) : dateTimeFormat.format(d);
  }
  function fmtDuration(s) {
    if (!isFinite(s)) return '–';
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 120) return `${s.toFixed(1)} s`;
    return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }
  const endpoint = (ip, port) => (ip ? (ip.includes(':') ? `[${ip}]` : ip) + (port ? `:${port}` : '') : '');
  function subjectOf(a) {
    if (a.src_ip || a.dst_ip) {
      const src = endpoint(a.src_ip, a.src_port) || '?';
      const dst = endpoint(a.dst_ip, a.dst_port);
      return dst ? `${src} → ${dst}` : src;
    }
    return a.interface ? profileName(a.interface) : a.kind;
  }
  // A profile that is no host: an interface's (volume), the network-wide one ("network": a spray
  // at many destinations) or a network's ("10.9.0.0/24": a flood spread over its hosts).
  function profileName(name) {
    if (name === 'network') return 'many destinations';
    return name.includes('/') ? `network ${name}` : `interface ${name}`;
  }
  const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // ---------- API ----------
  // A hub serves one sensor's view of every endpoint with ?sensor=NAME.
  function withSensor(path) {
    if (!state.sensor || !path.startsWith('/api/') || path.startsWith('/api/sensors')) return path;
    return path + (path.includes('?') ? '&' : '?') + 'sensor=' + encodeURIComponent(state.sensor);
  }
  // A token-protected server is reached with a session cookie (HttpOnly, SameSite=Strict) that
  // the login step sets; the token itself is never put in a URL.
  async function api(path, init = {}, retried = false) {
    const headers = Object.assign({ Accept: 'application/json' }, init.headers || {});
    const res = await fetch(withSensor(path), Object.assign({}, init, { headers, cache: 'no-store' }));
    if (res.status === 401 && !retried && path !== '/api/login') {
      await askForToken('Your session ended: enter the token again.');  // then retry once
      return api(path, init, true);
    }
    if (!res.ok) {
      let message = `${res.status}`;
      try { message = (await res.json()).error || message; } catch (_) { /* not JSON */ }
      throw new Error(`${path}: ${message}`);
    }
    return res.json();
  }

  // ---------- login ----------
  let loginWaiters = null;  // resolvers of everyone waiting for the login dialog
  function askForToken(message) {
    if (loginWaiters) return new Promise((resolve) => loginWaiters.push(resolve));
    loginWaiters = [];
    const dialog = $('login-dialog');
    $('login-message').textContent = message || '';
    $('login-token').value = '';
    if (!dialog.open) dialog.showModal();
    $('login-token').focus();
    return new Promise((resolve) => loginWaiters.push(resolve));
  }
  async function login(token) {
    const res = await fetch('/api/login', {
      method: 'POST', cache: 'no-store',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ token }),
    });
    return res.ok;
  }
  function initLogin() {
    $('login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const ok = await login($('login-token').value).catch(() => false);
      if (!ok) {
        $('login-message').textContent = 'That token is not right.';
        $('login-token').select();
        return;
      }
      $('login-dialog').close();
      $('logout').hidden = false;
      const waiters = loginWaiters || [];
      loginWaiters = null;
      for (const resolve of waiters) resolve();
    });
    $('login-dialog').addEventListener('cancel', (e) => e.preventDefault());  // no data without it
    $('logout').addEventListener('click', async () => {
      await fetch('/api/logout', { method: 'POST', cache: 'no-store' }).catch(() => null);
      location.reload();
    });
  }
  // Before any data: log in when this server needs it. A link of the old form (?token=...) logs in
  // once and the token leaves the address bar at once.
  async function ensureSession() {
    const legacy = params.get('token');
    if (legacy) {
      params.delete('token');
      const rest = params.toString();
      history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
      await login(legacy).catch(() => false);
    }
    const session = await api('/api/session');
    if (session.auth_required && !session.authenticated) await askForToken('');
    $('logout').hidden = !session.auth_required;
  }

  // ---------- theme ----------
  function applyTheme(theme) {
    if (theme) document.documentElement.setAttribute('data-theme', theme);
    else document.documentElement.removeAttribute('data-theme');
    if (state.chartsReady) restyleCharts();
  }
  function currentTheme() {
    const forced = document.documentElement.getAttribute('data-theme');
    if (forced) return forced;
    return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  function initTheme() {
    let saved = null;
    try { saved = localStorage.getItem('netsentry-theme'); } catch (_) { /* storage disabled */ }
    if (saved === 'light' || saved === 'dark') applyTheme(saved);
    $('theme-toggle').addEventListener('click', () => {
      const next = currentTheme() === 'dark' ? 'light' : 'dark';
      try { localStorage.setItem('netsentry-theme', next); } catch (_) { /* storage disabled */ }
      applyTheme(next);
    });
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
      if (state.chartsReady) restyleCharts();
    });
  }

  // ---------- charts ----------
  function chartLayout(extra) {
    const text = cssVar('--text');
    const grid = cssVar('--grid');
    return Object.assign({
      margin: { l: 64, r: 16, t: 8, b: 36 },
      paper_bgcolor: 'rgba(0,0,0,0)',
      plot_bgcolor: 'rgba(0,0,0,0)',
      font: { color: text, size: 12 },
      xaxis: { type: 'date', gridcolor: grid, linecolor: grid, zeroline: false },
      legend: { orientation: 'h', x: 0, y: 1.12 },
      hovermode: 'x unified',
      showlegend: true,
    }, extra);
  }
  const chartConfig = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d'] };

  function trafficTraces(points) {
    const x = points.map((p) => new Date(p.time));
    return [
      { name: 'Sent', x, y: points.map((p) => p.bytes_sent), type: 'scatter', mode: 'lines',
        line: { color: cssVar('--sent'), width: 2 }, fill: 'tozeroy', hovertemplate: '%{y:.3s}B/s' },
      { name: 'Received', x: x.slice(), y: points.map((p) => p.bytes_recv), type: 'scatter', mode: 'lines',
        line: { color: cssVar('--recv'), width: 2 }, fill: 'tozeroy', hovertemplate: '%{y:.3s}B/s' },
    ];
  }
  function trafficLayout() {
    return chartLayout({ yaxis: { title: { text: 'bytes / s' }, gridcolor: cssVar('--grid'), tickformat: '~s', rangemode: 'tozero' } });
  }
  // Plotly draws nothing for a 'lines' trace of one point: a short score series gets markers too,
  // and the threshold is a line across the plot (a shape, at the newest point's threshold).
  const SCORE_MARKERS_BELOW = 60;
  const scoreMode = (n) => (n < SCORE_MARKERS_BELOW ? 'lines+markers' : 'lines');
  function scoreTraces(points) {
    const x = points.map((p) => new Date(p.time));
    const alerts = points.filter((p) => p.alert_id);
    return [
      { name: 'Score', x, y: points.map((p) => p.score), customdata: points.map((p) => p.threshold),
        type: 'scatter', mode: scoreMode(points.length), line: { color: cssVar('--accent'), width: 1.5 },
        marker: { size: 5 }, cliponaxis: false, hovertemplate: '%{y:.3f} (threshold %{customdata:.3f})' },
      { name: 'Alert', x: alerts.map((p) => new Date(p.time)), y: alerts.map((p) => p.score), type: 'scatter',
        mode: 'markers', marker: { color: cssVar('--sev-critical'), size: 10, symbol: 'diamond' },
        text: alerts.map((p) => `alert #${p.alert_id}`), hoverinfo: 'text+y' },
    ];
  }
  function scoreLayout() {
    return chartLayout({
      yaxis: { title: { text: 'score' }, gridcolor: cssVar('--grid'), rangemode: 'tozero' },
      shapes: [{ type: 'line', name: 'Threshold', showlegend: true, xref: 'paper', x0: 0, x1: 1,
        y0: state.scoreThreshold, y1: state.scoreThreshold,
        line: { color: cssVar('--sev-high'), width: 1.5, dash: 'dash' } }],
    });
  }
  // Scores within a few seconds of each other (the first ones after a start) would zoom the time
  // axis to milliseconds: the chart shows at least the last minute, and autoranges again once its
  // points span more.
  const SCORE_MIN_SPAN_MS = 60000;
  function fitScoreAxis() {
    const chart = $('score-chart');
    const xs = chart.data && chart.data[0] ? chart.data[0].x : [];
    if (!xs.length) return;
    const first = new Date(xs[0]).getTime();
    const last = new Date(xs[xs.length - 1]).getTime();
    if (last - first < SCORE_MIN_SPAN_MS) {
      Plotly.relayout('score-chart', { 'xaxis.range': [new Date(last - SCORE_MIN_SPAN_MS), new Date(last + 5000)] });
      state.scoreRangeFixed = true;
    } else if (state.scoreRangeFixed) {
      Plotly.relayout('score-chart', { 'xaxis.autorange': true });
      state.scoreRangeFixed = false;
    }
  }
  function setPointCount() {
    const chart = $('traffic-chart');
    const n = chart.data && chart.data[0] ? chart.data[0].x.length : 0;
    chart.dataset.points = String(n);
  }

  const fetchTraffic = () =>
    api(`/api/traffic?${seriesRange()}&interface=${encodeURIComponent(state.iface)}&limit=5000`);
  const fetchTimeline = () =>
    api(`/api/timeline?${state.range.preset || state.range.to ? seriesRange() : 'window=3600'}&limit=5000`);
  async function drawTraffic(data) {
    state.lastTrafficMs = data.points.length ? data.points[data.points.length - 1].time : 0;
    await Plotly.react('traffic-chart', trafficTraces(data.points), trafficLayout(), chartConfig);
    setPointCount();
  }
  // Without a point an empty chart would show a meaningless (year 2000) time axis: a note instead,
  // saying whether scores are missing because no model is loaded or because none fell in range.
  function showScoreNote() {
    const note = $('score-empty');
    note.textContent = state.modelLoaded === false
      ? 'No model loaded: flows are not scored (rule detectors only), so there is no anomaly score to show.'
      : 'No scored flows in this time range.';
    note.hidden = state.scoreDrawn;
    $('score-chart').hidden = !state.scoreDrawn;
  }
  async function drawTimeline(data) {
    state.lastScoreMs = data.points.length ? data.points[data.points.length - 1].time : 0;
    if (!data.points.length) {
      if (state.scoreDrawn) Plotly.purge('score-chart');
      state.scoreDrawn = false;
      showScoreNote();
      return;
    }
    state.scoreDrawn = true;
    showScoreNote();
    state.scoreRangeFixed = false;
    state.scoreThreshold = data.points[data.points.length - 1].threshold;
    await Plotly.react('score-chart', scoreTraces(data.points), scoreLayout(), chartConfig);
    fitScoreAxis();
  }
  async function loadTraffic() {
    const data = await fetchTraffic();
    if (state.chartsReady) await drawTraffic(data);
  }
  async function loadTimeline() {
    const data = await fetchTimeline();
    if (state.chartsReady) await drawTimeline(data);
  }
  function maxPoints() { return state.rangeS <= LIVE_WINDOW_S ? LIVE_WINDOW_S : 5000; }

  const MAX_PENDING = 600;
  function addTrafficPoint(p) {
    if (p.interface !== state.iface || state.range.to) return;  // a fixed range does not move
    if (!state.chartsReady) {
      state.pendingTraffic.push(p);
      if (state.pendingTraffic.length > MAX_PENDING) state.pendingTraffic.shift();
      return;
    }
    if (p.time <= state.lastTrafficMs) return;
    state.lastTrafficMs = p.time;
    const t = new Date(p.time);
    Plotly.extendTraces('traffic-chart', { x: [[t], [t]], y: [[p.bytes_sent], [p.bytes_recv]] }, [0, 1], maxPoints());
    const chart = $('traffic-chart');
    chart.dataset.added = String(Number(chart.dataset.added || 0) + 1);  // live points so far
    setPointCount();
  }
  function addScorePoint(p) {
    if (state.range.to) return;
    if (!state.chartsReady) {
      state.pendingScores.push(p);
      if (state.pendingScores.length > MAX_PENDING) state.pendingScores.shift();
      return;
    }
    if (p.time <= state.lastScoreMs) return;
    if (!state.scoreDrawn) {
      drawTimeline({ points: [p] }).catch(report);  // the first score: the chart replaces the note
      return;
    }
    state.lastScoreMs = p.time;
    const t = new Date(p.time);
    Plotly.extendTraces('score-chart', { x: [[t]], y: [[p.score]], customdata: [[p.threshold]] }, [0],
      state.range.preset ? 5000 : 3600);
    if (p.alert_id) {
      Plotly.extendTraces('score-chart', { x: [[t]], y: [[p.score]], text: [[`alert #${p.alert_id}`]] }, [1], 500);
    }
    const n = $('score-chart').data[0].x.length;
    if (scoreMode(n) !== scoreMode(n - 1)) Plotly.restyle('score-chart', { mode: scoreMode(n) }, [0]);
    if (p.threshold !== state.scoreThreshold) {
      state.scoreThreshold = p.threshold;
      Plotly.relayout('score-chart', { 'shapes[0].y0': p.threshold, 'shapes[0].y1': p.threshold });
    }
    fitScoreAxis();
  }
  function restyleCharts() {
    Plotly.relayout('traffic-chart', trafficLayout());
    Plotly.restyle('traffic-chart', { 'line.color': [cssVar('--sent'), cssVar('--recv')] }, [0, 1]);
    if (!state.scoreDrawn) return;
    Plotly.relayout('score-chart', scoreLayout());
    state.scoreRangeFixed = false;
    fitScoreAxis();
    Plotly.restyle('score-chart', { 'line.color': cssVar('--accent') }, [0]);
  }

  function initTrafficControls() {
    $('interface-select').addEventListener('change', (e) => {
      state.iface = e.target.value;
      loadTraffic().catch(report);
    });
  }
  function updateInterfaces(names) {
    const select = $('interface-select');
    const have = new Set(Array.from(select.options, (o) => o.value));
    for (const name of names || []) {
      if (have.has(name)) continue;
      select.appendChild(el('option', { text: name === 'total' ? 'All interfaces' : name, attrs: { value: name } }));
    }
  }

  // ---------- time range ----------
  const RANGES = { '15m': 900, '1h': 3600, '6h': 21600, '24h': 86400, '7d': 604800 };
  function readRange() {
    const preset = params.get('range') || '';
    const from = Number(params.get('from'));
    const to = Number(params.get('to'));
    if (Number.isFinite(from) && Number.isFinite(to) && from > 0 && to > from) {
      state.range = { preset: '', from, to };
    } else {
      state.range = { preset: RANGES[preset] ? preset : '', from: 0, to: 0 };
    }
    state.rangeS = state.range.to ? Math.ceil((state.range.to - state.range.from) / 1000)
      : RANGES[state.range.preset] || LIVE_WINDOW_S;
  }
  // Query parameters of the range for a series (/api/traffic, /api/timeline) ...
  function seriesRange() {
    if (state.range.to) return `since=${state.range.from}&to=${state.range.to}`;
    return `window=${state.rangeS}`;
  }
  // ... and for rows (/api/alerts, /api/flows): live narrows nothing (the newest rows).
  function rowRange() {
    if (state.range.to) return `&from=${state.range.from}&to=${state.range.to}`;
    return state.range.preset ? `&window=${state.rangeS}` : '';
  }
  // datetime-local wants local time without a zone.
  function localInput(ms) {
    const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 19);
  }
  function showRange() {
    const custom = Boolean(state.range.to);
    $('range-select').value = custom ? 'custom' : state.range.preset;
    $('range-custom').hidden = !custom;
    if (custom) {
      $('range-from').value = localInput(state.range.from);
      $('range-to').value = localInput(state.range.to);
    }
  }
  function setRange(range) {
    state.range = range;
    const url = new URL(location.href);
    for (const key of ['range', 'from', 'to']) url.searchParams.delete(key);
    if (range.to) {
      url.searchParams.set('from', String(range.from));
      url.searchParams.set('to', String(range.to));
    } else if (range.preset) {
      url.searchParams.set('range', range.preset);
    }
    history.replaceState(null, '', url);
    for (const key of ['range', 'from', 'to']) {
      if (url.searchParams.has(key)) params.set(key, url.searchParams.get(key)); else params.delete(key);
    }
    readRange();
    showRange();
    state.alerts.clear();
    Promise.all([loadAlerts(), refreshTables(), state.chartsReady ? loadCharts() : null,
      hostView.ip ? loadHostPage() : null]).catch(report);
  }
  function initRange() {
    readRange();
    showRange();
    $('range-select').addEventListener('change', (e) => {
      const value = e.target.value;
      if (value !== 'custom') {
        setRange({ preset: value, from: 0, to: 0 });
        return;
      }
      // Start from what is shown now; the range changes once Apply is pressed.
      const newest = state.newestMs || Date.now();
      $('range-from').value = localInput(newest - state.rangeS * 1000);
      $('range-to').value = localInput(newest);
      $('range-custom').hidden = false;
      $('range-from').focus();
    });
    $('range-apply').addEventListener('click', () => {
      const from = new Date($('range-from').value).getTime();
      const to = new Date($('range-to').value).getTime();
      if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) {
        report(new Error('the range needs a start before its end'));
        return;
      }
      setRange({ preset: '', from, to });
    });
  }

  // ---------- statistics and health ----------
  function renderStats(s) {
    state.newestMs = Math.max(state.newestMs || 0, s.time || 0);
    $('stat-sent').textContent = fmtBytes(s.bytes_sent_total);
    $('stat-recv').textContent = fmtBytes(s.bytes_recv_total);
    $('stat-sent-rate').textContent = fmtRate(s.bytes_sent_per_second);
    $('stat-recv-rate').textContent = fmtRate(s.bytes_recv_per_second);
    $('stat-packets').textContent = fmtInt(s.packets_total);
    $('stat-fps').textContent = fmtNum(s.flows_per_second, 1);
    // A flooded destination's SYNs are counted in flood summaries, not as flows.
    $('stat-flows').textContent = `${fmtInt(s.flows_total)} flows${s.flood_summarized
      ? ` · ${fmtInt(s.flood_summarized)} packets in flood summaries` : ''}`;
    $('stat-alerts').textContent = fmtInt(s.alerts_unacknowledged);
    $('stat-alerts-total').textContent = `${fmtInt(s.alerts_total)} total`;
    const h = s.health || {};
    $('stat-decode').textContent = fmtInt(h.decode_errors);
    $('health-pps').textContent = fmtNum(h.packets_per_second, 0);
    $('health-kernel-drops').textContent = fmtInt(h.kernel_drops);
    $('health-queue-drops').textContent = fmtInt(h.queue_drops);
    $('health-kernel').classList.toggle('bad', h.kernel_drops > 0);
    $('health-queue').classList.toggle('bad', h.queue_drops > 0);
    $('health-flows').textContent = h.flow_table_capacity
      ? `${fmtInt(h.flow_table_size)} / ${fmtInt(h.flow_table_capacity)}` : fmtInt(h.flow_table_size);
    const list = $('queue-list');
    list.replaceChildren(...(s.queues || []).map((q) => {
      const fill = q.capacity ? Math.min(100, (100 * q.depth) / q.capacity) : 0;
      const bar = el('span');
      bar.style.width = `${fill}%`;
      const meter = el('div', { cls: fill > 80 ? 'meter hot' : 'meter' }, [bar]);
      return el('li', {}, [
        el('span', { text: q.name, cls: 'mono' }), meter,
        el('span', { text: `${fmtInt(q.depth)}/${fmtInt(q.capacity)}${q.dropped ? ` · ${fmtInt(q.dropped)} dropped` : ''}` }),
      ]);
    }));
    updateInterfaces(s.interfaces);
  }

  // ---------- filters and export ----------
  // Each table remembers the rows it shows (after its filters, in its order) with the columns to
  // export; the CSV / JSON buttons write exactly those rows, with raw values (times as ISO 8601
  // UTC, numbers unformatted) rather than the display text.
  const shown = {};  // table name -> { columns: [[key, value(row)]], rows }
  const iso = (ms) => (ms ? new Date(ms).toISOString() : '');
  // Lower-cased search text; true when every word of it is in one of `fields`.
  function textMatch(q, fields) {
    if (!q) return true;
    const hay = fields.map((f) => (f === null || f === undefined ? '' : String(f).toLowerCase())).join('\n');
    return q.split(/\s+/).every((word) => hay.includes(word));
  }
  const query = (id) => $(id).value.trim().toLowerCase();
  // A spreadsheet runs a cell that starts with = + - @ (or a tab / carriage return) as a formula:
  // such text cells get a leading apostrophe. Numbers are left alone (a negative one is a number).
  function csvCell(v) {
    if (v === null || v === undefined) return '';
    let text = String(v);
    if (typeof v !== 'number' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }
  function tableCsv(t) {
    const lines = [t.columns.map(([key]) => csvCell(key)).join(',')];
    for (const row of t.rows) lines.push(t.columns.map(([, value]) => csvCell(value(row))).join(','));
    return `${lines.join('\r\n')}\r\n`;
  }
  function tableJson(t) {
    return `${JSON.stringify(t.rows.map((row) => Object.fromEntries(t.columns.map(([key, value]) => [key, value(row)]))), null, 1)}\n`;
  }
  function downloadTable(name, format) {
    const t = shown[name];
    if (!t) return;
    const text = format === 'json' ? tableJson(t) : tableCsv(t);
    const type = format === 'json' ? 'application/json' : 'text/csv';
    const url = URL.createObjectURL(new Blob([text], { type: `${type};charset=utf-8` }));
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    const link = el('a', { attrs: { href: url, download: `netsentry-${name}-${stamp}.${format}` } });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
  // The options of a filter select: its first ("all") option, then the values present now.
  function syncOptions(select, values) {
    const want = Array.from(new Set(values.filter(Boolean))).sort();
    const have = Array.from(select.options, (o) => o.value).slice(1);
    if (want.join('\n') === have.join('\n')) return;
    const keep = select.value;
    select.replaceChildren(select.options[0], ...want.map((v) => el('option', { text: v, attrs: { value: v } })));
    select.value = want.includes(keep) ? keep : '';
  }
  const flowColumns = [
    ['first', (f) => iso(f.first)], ['last', (f) => iso(f.last)], ['src_ip', (f) => f.src_ip],
    ['src_port', (f) => f.src_port], ['dst_ip', (f) => f.dst_ip], ['dst_port', (f) => f.dst_port],
    ['protocol', (f) => f.protocol], ['packets', (f) => f.packets], ['bytes', (f) => f.bytes],
    ['duration_s', (f) => f.duration], ['score', (f) => f.score], ['anomalous', (f) => f.anomalous],
    ['community_id', (f) => f.community_id],
  ];
  const alertColumns = [
    ['id', (a) => a.id], ['first', (a) => iso(a.time)], ['last', (a) => iso(a.last)],
    ['severity', (a) => a.severity], ['kind', (a) => a.kind], ['state', (a) => a.state],
    ['host', (a) => a.host], ['role', (a) => a.role], ['src_ip', (a) => a.src_ip], ['src_port', (a) => a.src_port],
    ['dst_ip', (a) => a.dst_ip], ['dst_port', (a) => a.dst_port], ['protocol', (a) => a.protocol],
    ['score', (a) => a.score], ['count', (a) => a.count], ['acknowledged', (a) => a.acknowledged],
    ['reason', (a) => a.reason],
  ];
  const alertText = (a) => [subjectOf(a), a.kind, a.reason, a.host, a.severity, a.state, String(a.id)];
  const flowText = (f) => [endpoint(f.src_ip, f.src_port), endpoint(f.dst_ip, f.dst_port), f.protocol, f.sensor || '',
    f.community_id || ''];

  // ---------- alerts ----------
  const severityRank = (name) => SEVERITIES.indexOf(name);
  function visibleAlerts() {
    const min = state.minSeverity ? severityRank(state.minSeverity) : 0;
    const kind = $('alert-kind').value;
    const st = $('alert-state').value;
    const q = query('alert-search');
    return Array.from(state.alerts.values())
      .filter((a) => severityRank(a.severity) >= min && (!kind || a.kind === kind) &&
        (!st || (st === 'open' ? !a.acknowledged : a.state === st)) && textMatch(q, alertText(a)))
      .sort((a, b) => b.id - a.id);
  }
  function alertRow(a, fresh) {
    const row = el('button', {
      cls: `alert-row sev-${a.severity}${a.acknowledged ? ' acked' : ''}${fresh ? ' fresh' : ''}`,
      attrs: { type: 'button', 'data-id': a.id },
    }, [
      el('span', { cls: `badge sev-${a.severity}`, text: a.severity }),
      el('span', { cls: 'subject', text: `${subjectOf(a)} · ${a.kind}${a.count > 1 ? ` ×${a.count}` : ''}` +
        (a.sensors && a.sensors.length ? ` · ${a.sensors.join(', ')}` : '') }),
      el('span', { cls: 'time', text: (a.acknowledged ? '✓ ' : '') + fmtTime(a.time) }),
      el('span', { cls: 'reason', text: a.reason, title: a.reason }),
    ]);
    row.addEventListener('click', () => openDrawer(a.id));
    return el('li', {}, [row]);
  }
  // Fills a list or table body: the first screenful now, the rest in the next task, so the page
  // shows every panel before it lays out hundreds of rows nobody sees yet. A newer fill of the
  // same container cancels the pending rest.
  const FIRST_ROWS = 40;
  function fillChunked(container, items, make) {
    const gen = (container.fillGen = (container.fillGen || 0) + 1);
    container.replaceChildren(...items.slice(0, FIRST_ROWS).map(make));
    if (items.length <= FIRST_ROWS) return;
    setTimeout(() => {
      if (container.fillGen === gen) container.append(...items.slice(FIRST_ROWS).map(make));
    }, 0);
  }

  function renderAlerts(freshId) {
    syncOptions($('alert-kind'), Array.from(state.alerts.values(), (a) => a.kind));
    const list = visibleAlerts();
    shown.alerts = { columns: alertColumns, rows: list.slice(0, 200) };
    fillChunked($('alert-list'), list.slice(0, 200), (a) => alertRow(a, a.id === freshId));
    $('alert-empty').hidden = list.length > 0;
    $('alert-count').textContent = list.length ? `(${list.length})` : '';
  }
  function storeAlert(a) {
    state.alerts.set(a.id, a);
    if (state.alerts.size > MAX_ALERTS) {
      const oldest = Math.min(...state.alerts.keys());
      state.alerts.delete(oldest);
    }
  }
  async function loadAlerts() {
    const sev = state.minSeverity ? `&severity=${state.minSeverity}` : '';
    // The list needs no evidence details (flows, votes, deviations): the drawer loads the alert.
    const data = await api(`/api/alerts?limit=${MAX_ALERTS}&evidence=summary${sev}${rowRange()}`);
    if (!state.minSeverity) state.alerts.clear();
    for (const a of data.alerts) storeAlert(a);
    renderAlerts(0);
  }

  // ---------- drawer ----------
  function fact(name, value) {
    return [el('dt', { text: name }), el('dd', { text: value })];
  }
  function renderDrawer(a) {
    $('drawer-severity').className = `badge sev-${a.severity}`;
    $('drawer-severity').textContent = a.severity;
    $('drawer-title').textContent = `Alert #${a.id} · ${a.kind}`;
    // An alert can change its kind while it is open (stronger evidence of another kind): a
    // proposed rule the user has not edited follows it.
    if (!$('suppress-form').hidden && $('suppress-rule').value === state.proposedRule) {
      state.proposedRule = ruleFor(a);
      $('suppress-rule').value = state.proposedRule;
    }
    $('drawer-reason').textContent = a.reason;
    const facts = [
      ...fact('Subject', subjectOf(a)),
      ...(a.host ? [el('dt', { text: 'Host' }), el('dd', {}, [hostLink(a.host), el('span', { text: a.role ? ` (${a.role})` : '' })])] : []),
      ...(a.sensors && a.sensors.length ? fact(a.sensors.length > 1 ? 'Sensors' : 'Sensor', a.sensors.join(', ')) : []),
      ...(a.protocol ? fact('Protocol', a.protocol) : []),
      ...(a.interface ? fact('Interface', a.interface) : []),
      ...fact('First seen', fmtTime(a.time)),
      ...fact('Last seen', fmtTime(a.last)),
      ...fact('Repeats', fmtInt(a.count)),
      ...fact('Score', fmtNum(a.score, 4)),
      ...(a.voters ? fact('Votes', `${a.votes} of ${a.voters} models with a vote`) : []),
      ...fact('Status', a.acknowledged ? 'acknowledged' : 'open'),
    ];
    $('drawer-facts').replaceChildren(...facts);
    const models = (a.models || []).map((m) => el('tr', {}, [
      el('td', { text: m.model }, [hasNoVote(state.modelWeights.get(m.model)) ? el('span', { cls: 'off', text: ' (no vote)' }) : null]),
      el('td', { cls: 'num', text: fmtNum(m.score, 4) }),
      el('td', { cls: 'num', text: fmtNum(m.threshold, 4) }),
      el('td', { cls: m.vote ? 'vote-yes' : 'vote-no', text: m.vote ? 'anomalous' : 'normal' }),
    ]));
    $('drawer-models').querySelector('tbody').replaceChildren(
      ...(models.length ? models : [el('tr', {}, [el('td', { text: 'rule detector (no models)', attrs: { colspan: 4 } })])]));
    renderWhy(a);
    const evidence = (a.features || []).map((e) => el('tr', {}, [
      el('td', { text: e.feature }),
      el('td', { cls: 'num', text: fmtNum(e.value) }),
      el('td', { cls: 'num', text: fmtNum(e.expected) }),
      el('td', { cls: 'num', text: fmtNum(e.deviation) }),
    ]));
    $('drawer-evidence').querySelector('tbody').replaceChildren(
      ...(evidence.length ? evidence : [el('tr', {}, [el('td', { text: 'none recorded', attrs: { colspan: 4 } })])]));
    // The packets behind an alert about a host, or a network's ("10.9.0.0/16": a flood spread
    // over its hosts; monitor keeps them; a hub does not have them).
    const pcap = $('drawer-pcap');
    const network = Boolean(a.interface && a.interface.includes('/'));
    pcap.hidden = !(a.host || network) || Boolean(a.sensors && a.sensors.length);
    pcap.href = `/api/alerts/${encodeURIComponent(a.id)}/pcap`;
    pcap.setAttribute('download', `netsentry-alert-${a.id}.pcap`);
    const ack = $('drawer-ack');
    ack.disabled = a.acknowledged;
    ack.textContent = a.acknowledged ? 'Acknowledged' : 'Acknowledge';
  }
  // The alert's "why": each piece of evidence, and the flows it names (start time + 5-tuple),
  // matched against the flows the page holds for their size.
  function renderWhy(a) {
    const evidence = a.evidence || [];
    $('drawer-why').replaceChildren(...evidence.map((e) => el('li', {}, [
      el('div', { cls: 'why-head' }, [
        el('span', { cls: `badge sev-${e.threat}`, text: e.threat }),
        el('span', { cls: 'why-kind', text: `${e.kind}${e.role ? ` · ${e.role}` : ''}${e.count > 1 ? ` · ×${fmtInt(e.count)}` : ''}` }),
        el('span', { cls: 'hint', text: `confidence ${fmtNum(e.confidence, 2)} · ${e.detector || ''}` }),
      ]),
      el('div', { cls: 'why-text', text: e.description }),
    ])));
    if (!evidence.length) $('drawer-why').replaceChildren(el('li', { cls: 'hint', text: 'none recorded' }));
    $('drawer-why-count').textContent = evidence.length ? `(${evidence.length})` : '';
    const seen = new Set();
    const refs = [];
    for (const e of evidence) {
      for (const f of e.flows || []) {
        const key = `${f.start_ns}|${f.src_ip}|${f.src_port}|${f.dst_ip}|${f.dst_port}|${f.protocol}`;
        if (seen.has(key)) continue;
        seen.add(key);
        refs.push(f);
      }
    }
    const known = new Map(state.flows.map((f) => [
      `${f.first}|${f.src_ip}|${f.src_port}|${f.dst_ip}|${f.dst_port}|${f.protocol}`, f]));
    const rows = refs.map((f) => {
      const startMs = Math.floor(f.start_ns / 1e6);
      const match = known.get(`${startMs}|${f.src_ip}|${f.src_port}|${f.dst_ip}|${f.dst_port}|${f.protocol}`);
      return el('tr', {}, [
        el('td', { text: fmtTime(startMs) }),
        el('td', {}, [f.src_ip ? hostLink(f.src_ip) : null, el('span', { cls: 'mono', text: f.src_port ? `:${f.src_port}` : '' })]),
        el('td', {}, [f.dst_ip ? hostLink(f.dst_ip) : null, el('span', { cls: 'mono', text: f.dst_port ? `:${f.dst_port}` : '' })]),
        el('td', { text: f.protocol }),
        el('td', { cls: 'num', text: match ? fmtBytes(match.bytes) : '–' }),
      ]);
    });
    // A list's summary (?evidence=summary) counts the flows; the whole alert is on its way.
    const pending = evidence.some((e) => e.flow_count > 0 && !e.flows);
    const none = pending ? 'loading…' : 'no flow references';
    $('drawer-flows').querySelector('tbody').replaceChildren(
      ...(rows.length ? rows : [el('tr', {}, [el('td', { text: none, attrs: { colspan: 5 } })])]));
    $('drawer-flow-count').textContent = rows.length ? `(${rows.length})` : '';
  }
  async function openDrawer(id) {
    if (state.drawerId !== id) $('suppress-form').hidden = true;
    state.drawerId = id;
    const cached = state.alerts.get(id);
    if (cached) renderDrawer(cached);
    $('alert-drawer').classList.add('open');
    $('alert-drawer').setAttribute('aria-hidden', 'false');
    $('scrim').hidden = false;
    $('drawer-close').focus();
    try {
      const fresh = await api(`/api/alerts/${id}`);
      storeAlert(fresh);
      if (state.drawerId === id) renderDrawer(fresh);
    } catch (e) { report(e); }
  }
  function closeDrawer() {
    state.drawerId = 0;
    $('suppress-form').hidden = true;
    $('alert-drawer').classList.remove('open');
    $('alert-drawer').setAttribute('aria-hidden', 'true');
    $('scrim').hidden = true;
  }
  function markAcknowledged(id) {
    const a = state.alerts.get(id);
    if (!a) return;
    a.acknowledged = true;
    renderAlerts(0);
    if (state.drawerId === id) renderDrawer(a);
  }
  function initAlerts() {
    $('severity-filter').addEventListener('change', (e) => {
      state.minSeverity = e.target.value;
      renderAlerts(0);
      loadAlerts().catch(report);
    });
    for (const id of ['alert-kind', 'alert-state']) $(id).addEventListener('change', () => renderAlerts(0));
    $('alert-search').addEventListener('input', () => renderAlerts(0));
    $('drawer-close').addEventListener('click', closeDrawer);
    $('scrim').addEventListener('click', closeDrawer);
    document.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeDrawer(); });
    $('drawer-ack').addEventListener('click', async () => {
      const id = state.drawerId;
      if (!id) return;
      $('drawer-ack').disabled = true;
      try {
        await api(`/api/alerts/${id}/ack`, { method: 'POST' });
        markAcknowledged(id);
      } catch (e) {
        $('drawer-ack').disabled = false;
        report(e);
      }
    });
  }

  // ---------- suppression rules ----------
  // The running monitor's rules (GET /api/suppressions); null when this server has none to change
  // (dashboard --db, a hub): then neither the card nor the drawer's "Suppress…" shows.
  async function loadSuppressions() {
    const res = await fetch(withSensor('/api/suppressions'), { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (res.ok) {
      const body = await res.json();
      state.suppressions = body.available === false ? null : body;
    } else if (res.status === 404) {
      state.suppressions = null;
    } else {
      return;  // a session that ended is handled by the other requests' login step
    }
    renderSuppressions();
  }
  function renderSuppressions() {
    const s = state.suppressions;
    $('suppressions-card').hidden = !s;
    $('drawer-suppress').hidden = !s;
    if (!s) return;
    $('suppression-list').replaceChildren(...s.rules.map((rule) => {
      const remove = el('button', { cls: 'text-button small', text: 'Remove', attrs: { type: 'button' } });
      remove.addEventListener('click', async () => {
        remove.disabled = true;
        try {
          state.suppressions = await api('/api/suppressions/remove', {
            method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rule }),
          });
          renderSuppressions();
        } catch (e) {
          remove.disabled = false;
          report(e);
        }
      });
      const li = el('li', {}, [el('code', { cls: 'mono', text: rule }), remove]);
      li.dataset.rule = rule;
      return li;
    }));
    $('suppression-empty').hidden = s.rules.length > 0;
    $('suppression-count').textContent = s.rules.length ? `(${s.rules.length})` : '';
    $('suppression-saved').textContent = s.saved_to ? `saved to ${s.saved_to}` : 'not saved: this monitor has no configuration file';
  }
  // A rule that matches the alert's host and kind, as a starting point the user can edit.
  function ruleFor(a) {
    const kind = a.kind ? ` kind=${a.kind}` : '';
    if (a.host) return `${a.role === 'victim' ? 'dst' : 'src'}=${a.host}${kind}`;
    if (a.interface) return `iface=${a.interface}${kind}`;
    return kind.trim();
  }
  function initSuppress() {
    $('drawer-suppress').addEventListener('click', () => {
      const a = state.alerts.get(state.drawerId);
      if (!a) return;
      state.proposedRule = ruleFor(a);
      $('suppress-rule').value = state.proposedRule;
      $('suppress-message').textContent = '';
      $('suppress-form').hidden = false;
      $('suppress-rule').focus();
    });
    $('suppress-cancel').addEventListener('click', () => { $('suppress-form').hidden = true; });
    $('suppress-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const rule = $('suppress-rule').value.trim();
      $('suppress-save').disabled = true;
      try {
        state.suppressions = await api('/api/suppressions', {
          method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ rule }),
        });
        renderSuppressions();
        $('suppress-form').hidden = true;
      } catch (err) {
        // "/api/suppressions: suppression rule ...: bad token ..." -> the part after the path.
        $('suppress-message').textContent = String(err.message).replace(/^\/api\/suppressions: /, '');
      } finally {
        $('suppress-save').disabled = false;
      }
    });
  }

  // ---------- tables ----------
  function sortRows(rows, sort, value) {
    return rows.slice().sort((a, b) => {
      const x = value(a, sort.key);
      const y = value(b, sort.key);
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * sort.dir;
    });
  }
  function initSortable(tableId, sort, render) {
    const heads = document.querySelectorAll(`#${tableId} th[data-key]`);
    for (const th of heads) {
      th.addEventListener('click', () => {
        if (sort.key === th.dataset.key) sort.dir = -sort.dir;
        else { sort.key = th.dataset.key; sort.dir = th.dataset.type === 'num' ? -1 : 1; }
        for (const h of heads) h.removeAttribute('aria-sort');
        th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
        render();
      });
    }
  }
  const flowValue = (f, key) => ({
    src: f.src_ip, dst: f.dst_ip, last: f.last, protocol: f.protocol, packets: f.packets, bytes: f.bytes,
    duration: f.duration, score: f.score,
  })[key];
  const flowRow = rowMaker(['', 'mono', 'mono', '', 'num', 'num', 'num', 'num score']);
  function renderFlows() {
    const q = query('flow-search');
    const verdict = $('flow-verdict').value;
    const match = (f) => (!verdict || (verdict === 'anomalous' ? f.anomalous : f.score !== null)) &&
      textMatch(q, flowText(f));
    const rows = sortRows(state.flows.filter(match), state.flowSort, flowValue).slice(0, 300);
    shown.flows = { columns: flowColumns, rows };
    fillChunked($('flow-table').querySelector('tbody'), rows, (f) => {
      const tr = flowRow([fmtTime(f.last), endpoint(f.src_ip, f.src_port), endpoint(f.dst_ip, f.dst_port),
        f.protocol, fmtInt(f.packets), fmtBytes(f.bytes), fmtDuration(f.duration),
        f.score === null ? '–' : fmtNum(f.score, 3)]);
      if (f.anomalous) tr.lastChild.classList.add('hot');
      tr.children[1].replaceChildren(...endpointNodes(f.src_ip, f.src_port));
      tr.children[2].replaceChildren(...endpointNodes(f.dst_ip, f.dst_port));
      return tr;
    });
    $('flow-count').textContent = state.flows.length ? `(${rows.length} of ${state.flows.length})` : '';
  }
  const connectionValue = (c, key) => ({
    local: endpoint(c.local_ip, c.local_port), remote: endpoint(c.remote_ip, c.remote_port), status: c.status,
    process: c.process || '',
  })[key];
  const connectionRow = rowMaker(['mono', 'mono', '', '']);
  function renderConnections() {
    const q = query('connection-search');
    syncOptions($('connection-state'), state.connections.map((c) => c.status));
    const status = $('connection-state').value;
    const match = (c) => (!status || c.status === status) && textMatch(q, [endpoint(c.local_ip, c.local_port),
      endpoint(c.remote_ip, c.remote_port), c.status, c.type, c.process, String(c.pid)]);
    const rows = sortRows(state.connections.filter(match), state.connectionSort, connectionValue).slice(0, 300);
    shown.connections = {
      columns: [['local_ip', (c) => c.local_ip], ['local_port', (c) => c.local_port], ['remote_ip', (c) => c.remote_ip],
        ['remote_port', (c) => c.remote_port], ['type', (c) => c.type], ['status', (c) => c.status],
        ['pid', (c) => c.pid], ['process', (c) => c.process]],
      rows,
    };
    fillChunked($('connection-table').querySelector('tbody'), rows, (c) => {
      const tr = connectionRow([
        `${endpoint(c.local_ip, c.local_port)} ${c.type}`,
        endpoint(c.remote_ip, c.remote_port) || '–',
        c.status,
        c.process ? `${c.process} (${c.pid})` : c.pid ? String(c.pid) : '–',
      ]);
      if (c.remote_ip) tr.children[1].replaceChildren(...endpointNodes(c.remote_ip, c.remote_port));
      return tr;
    });
    $('connection-count').textContent = state.connections.length ? `(${state.connections.length})` : '';
  }
  function renderTop(listId, entries) {
    const max = Math.max(1, ...entries.map((e) => e.bytes));
    $(listId).replaceChildren(...entries.map((e) => {
      const bar = el('span');
      bar.style.width = `${(100 * e.bytes) / max}%`;
      const key = listId === 'top-talkers' ? el('span', { cls: 'key', title: e.key }, [hostLink(e.key)])
        : el('span', { cls: 'key mono', text: e.key, title: e.key });
      return el('li', {}, [
        key,
        el('span', { cls: 'value', text: `${fmtBytes(e.bytes)} · ${fmtInt(e.flows)} flows` }),
        el('div', { cls: 'meter' }, [bar]),
      ]);
    }));
    if (!entries.length) $(listId).replaceChildren(el('li', { cls: 'value', text: 'no flows yet' }));
  }
  // Each panel is drawn as soon as its answer is in, not when the slowest (flows) is.
  async function refreshTables() {
    await Promise.all([
      api(`/api/flows?limit=1000&sort=last${rowRange()}`).then((flows) => {
        state.flows = flows.flows;
        renderFlows();
      }),
      api('/api/connections?limit=1000').then((connections) => {
        state.connections = connections.connections;
        renderConnections();
      }),
      loadHosts(),
      api('/api/top?limit=8').then((top) => {
        renderTop('top-talkers', top.talkers);
        renderTop('top-ports', top.ports);
        renderTop('top-protocols', top.protocols);
      }),
    ]);
  }

  // ---------- riskiest hosts ----------
  // An address as a link to its host page (#/host/ADDR); text only, so any string is safe.
  function hostLink(ip) {
    return el('a', { cls: 'host-link mono', text: ip, attrs: { href: `#/host/${encodeURIComponent(ip)}` } });
  }
  function hostCell(h) {
    if (h.host) return el('td', {}, [hostLink(h.host)]);
    return el('td', { cls: 'mono', text: h.interface ? profileName(h.interface) : '–' });
  }
  function evidenceText(e) {
    if (!e) return '–';
    return `${e.kind}${e.count > 1 ? ` ×${fmtInt(e.count)}` : ''}: ${e.description}`;
  }
  // "#12 engaged" / "#9 past": a button that opens the alert's drawer.
  function alertLink(id, engaged) {
    const open = el('button', { cls: 'link-button', text: `#${id} ${engaged ? 'engaged' : 'past'}`, attrs: { type: 'button' } });
    open.addEventListener('click', () => openDrawer(id));
    return open;
  }
  const hostColumns = [
    ['host', (h) => h.host || h.interface], ['role', (h) => (h.host ? ((h.evidence || [])[0] || {}).role || '' : '')],
    ['score', (h) => h.score], ['severity', (h) => h.severity],
    ['top_evidence', (h) => ((h.evidence || [])[0] || {}).description || ''],
    ['evidence', (h) => (h.evidence || []).length], ['alert_id', (h) => h.alert_id],
    ['past_alert_id', (h) => h.past_alert_id || 0], ['last', (h) => iso(h.last)],
  ];
  function renderHosts() {
    const min = $('host-severity-filter').value ? severityRank($('host-severity-filter').value) : 0;
    const q = query('host-search');
    const list = state.hosts.filter((h) => severityRank(h.severity) >= min &&
      textMatch(q, [h.host, h.interface, h.severity, ...(h.evidence || []).flatMap((e) => [e.kind, e.description, e.role])]));
    shown.hosts = { columns: hostColumns, rows: list };
    const rows = list.map((h) => {
      const top = (h.evidence || [])[0];
      const score = el('td', { cls: `num score${h.score >= 1 ? ' hot' : ''}`, text: fmtNum(h.score, 2) });
      // The engaged alert, else the latest one gone past: a risky host whose alert went quiet
      // still leads to what it was alerted for.
      const alertCell = el('td');
      if (h.alert_id || h.past_alert_id) {
        alertCell.appendChild(alertLink(h.alert_id || h.past_alert_id, Boolean(h.alert_id)));
      } else {
        alertCell.textContent = '–';
      }
      const tr = el('tr', {}, [
        hostCell(h),
        // An interface or output profile (volume, a failing output) has no attacker or victim.
        el('td', { text: top && h.host ? top.role : '–' }),
        score,
        el('td', {}, [el('span', { cls: `badge sev-${h.severity}`, text: h.severity })]),
        el('td', { cls: 'evidence-cell', text: evidenceText(top), title: top ? top.description : '' }),
        el('td', { cls: 'num', text: fmtInt((h.evidence || []).length) }),
        alertCell,
        el('td', { text: fmtTime(h.last) }),
      ]);
      tr.dataset.host = h.host || h.interface || '';
      return tr;
    });
    $('host-table').querySelector('tbody').replaceChildren(...rows);
    $('host-empty').hidden = rows.length > 0;
    $('host-empty').textContent = state.hosts.length ? 'No host matches the filter.' : 'No host has evidence against it.';
    $('host-count').textContent = rows.length ? `(${rows.length})` : '';
  }
  async function loadHosts() {
    state.hosts = (await api('/api/hosts?limit=20')).hosts || [];
    renderHosts();
  }

  // ---------- host page (#/host/ADDRESS) ----------
  // Everything about one address: its risk and evidence (the host profiles), its alerts, and its
  // flows with the peers, ports and traffic over time they add up to. Flows and alerts come from
  // the server already narrowed to the host (?host=), so a store serves them from all it holds.
  const hostView = { ip: '', gen: 0, flows: [], alerts: [], risk: null };
  function endpointNodes(ip, port) {
    if (!ip) return [el('span', { text: '–' })];
    return [hostLink(ip), el('span', { cls: 'mono', text: port ? `:${port}` : '' })];
  }
  function route() {
    const m = location.hash.match(/^#\/host\/(.+)$/);
    if (!m) { showOverview(); return; }
    let ip = m[1];
    try { ip = decodeURIComponent(ip); } catch (_) { /* shown as written */ }
    showHost(ip);
  }
  function showOverview() {
    const wasHost = Boolean(hostView.ip);
    hostView.ip = '';
    hostView.gen += 1;
    $('host-view').hidden = true;
    $('overview').hidden = false;
    document.title = 'netsentry — network monitor';
    // Plotly sizes a chart drawn while hidden to nothing: redraw the overview's at their size.
    if (wasHost && state.chartsReady) {
      Plotly.Plots.resize('traffic-chart');
      if (state.scoreDrawn) Plotly.Plots.resize('score-chart');
    }
  }
  function showHost(ip) {
    closeDrawer();
    const changed = hostView.ip !== ip;
    hostView.ip = ip;
    $('overview').hidden = true;
    $('host-view').hidden = false;
    document.title = `${ip} — netsentry`;
    $('host-title').textContent = ip;
    if (changed) {
      hostView.flows = [];
      hostView.alerts = [];
      hostView.risk = null;
      renderHostPage();
      window.scrollTo(0, 0);
    }
    loadHostPage().catch(report);
  }
  async function loadHostPage() {
    const ip = hostView.ip;
    if (!ip) return;
    const gen = ++hostView.gen;
    const q = encodeURIComponent(ip);
    const [flows, alerts, hosts] = await Promise.all([
      api(`/api/flows?host=${q}&limit=${HOST_FLOW_LIMIT}&sort=last${rowRange()}`),
      api(`/api/alerts?host=${q}&limit=500${rowRange()}`),
      api('/api/hosts?limit=200'),
    ]);
    if (gen !== hostView.gen) return;
    hostView.flows = flows.flows || [];
    hostView.alerts = alerts.alerts || [];
    hostView.risk = (hosts.hosts || []).find((h) => h.host === ip) || null;
    for (const a of hostView.alerts) if (!state.alerts.has(a.id)) storeAlert(a);
    renderHostPage();
    document.body.dataset.hostReady = ip;
  }
  // Whom a host page's alert is about: the host itself or, for an alert that only involves it (a
  // flood's victim alert names the attacker as its source), the other host, with its role.
  function alertAbout(a, ip) {
    const who = !a.host || a.host === ip ? 'this host' : a.host;
    return a.role ? `${who} · ${a.role}` : who;
  }
  function renderHostPage() {
    const ip = hostView.ip;
    const risk = hostView.risk;
    const alerts = hostView.alerts;
    const flows = hostView.flows;
    // The page asks for the newest HOST_FLOW_LIMIT flows: a host with more gets exactly that many,
    // and the tiles computed from them say so instead of passing the limit off as the total.
    const capped = flows.length >= HOST_FLOW_LIMIT;
    const engaged = alerts.find((a) => a.state === 'engaged');
    // The profile's evidence when the host has one now, else that of its newest alert.
    const evidence = risk ? risk.evidence || [] : alerts.length ? alerts[0].evidence || [] : [];
    const sev = $('host-severity');
    const severity = risk ? risk.severity : engaged ? engaged.severity : '';
    sev.hidden = !severity;
    sev.className = `badge sev-${severity}`;
    sev.textContent = severity;
    $('host-score').textContent = risk ? fmtNum(risk.score, 2) : '–';
    $('host-score').classList.toggle('hot', Boolean(risk && risk.score >= 1));
    $('host-role').textContent = evidence.length ? `as ${evidence[0].role}` : 'no current profile';
    // The engaged alert, else the latest one about this host that went past (as the Riskiest
    // Hosts panel links it).
    const alertTile = $('host-alert');
    const engagedId = risk && risk.alert_id ? risk.alert_id : engaged ? engaged.id : 0;
    const latestPast = alerts.find((a) => a.state === 'past' && a.host === ip);
    const pastId = risk && risk.past_alert_id ? risk.past_alert_id : latestPast ? latestPast.id : 0;
    if (engagedId || pastId) {
      alertTile.replaceChildren(alertLink(engagedId || pastId, Boolean(engagedId)));
    } else {
      alertTile.textContent = 'none';
    }
    const last = Math.max(risk ? risk.last : 0, ...flows.map((f) => f.last), ...alerts.map((a) => a.last));
    $('host-last').textContent = last > 0 ? `last seen ${fmtTime(last)}` : '';
    $('host-hint').textContent = `${fmtInt(alerts.length)} alert${alerts.length === 1 ? '' : 's'} · ${capped ? `the newest ${fmtInt(flows.length)} flows` : `${fmtInt(flows.length)} flow${flows.length === 1 ? '' : 's'}`} shown`;

    $('host-evidence').replaceChildren(...evidence.map((e) => el('li', {}, [
      el('div', { cls: 'why-head' }, [
        el('span', { cls: `badge sev-${e.threat}`, text: e.threat }),
        el('span', { cls: 'why-kind', text: `${e.kind}${e.role ? ` · ${e.role}` : ''}${e.count > 1 ? ` · ×${fmtInt(e.count)}` : ''}` }),
        el('span', { cls: 'hint', text: `confidence ${fmtNum(e.confidence, 2)} · ${fmtTime(Math.floor(e.time_ns / 1e6))}` }),
      ]),
      el('div', { cls: 'why-text', text: e.description }),
    ])));
    if (!evidence.length) $('host-evidence').replaceChildren(el('li', { cls: 'hint', text: 'No evidence about this host.' }));
    $('host-evidence-count').textContent = evidence.length ? `(${evidence.length})` : '';

    const alertRows = alerts.filter((a) => textMatch(query('host-alerts-search'), alertText(a)));
    shown['host-alerts'] = { columns: alertColumns, rows: alertRows };
    $('host-alert-table').querySelector('tbody').replaceChildren(...alertRows.map((a) => {
      const tr = el('tr', { cls: 'clickable' }, [
        el('td', { text: fmtTime(a.time) }),
        el('td', {}, [el('span', { cls: `badge sev-${a.severity}`, text: a.severity })]),
        el('td', { text: a.kind }),
        el('td', { cls: 'about-cell', text: alertAbout(a, ip) }),
        el('td', { text: a.state + (a.acknowledged ? ' · ack' : '') }),
        el('td', { cls: 'reason-cell', text: a.reason, title: a.reason }),
      ]);
      tr.dataset.id = a.id;
      tr.addEventListener('click', () => openDrawer(a.id));
      return tr;
    }));
    $('host-alert-count').textContent = alerts.length ? `(${alerts.length})` : '';

    // Peers and ports from the host's flows. A flow's bytes count both directions; "out" flows
    // are those the host started, "in" those it answered.
    const peers = new Map();
    const ports = new Map();
    let bytesOut = 0;
    let bytesIn = 0;
    for (const f of flows) {
      const out = f.src_ip === ip;
      if (out) bytesOut += f.bytes; else bytesIn += f.bytes;
      const peer = out ? f.dst_ip : f.src_ip;
      const p = peers.get(peer) || { peer, flows: 0, bytes: 0, ports: new Set() };
      p.flows += 1;
      p.bytes += f.bytes;
      if (f.dst_port) p.ports.add(`${f.dst_port}/${f.protocol}`);
      peers.set(peer, p);
      const key = `${f.dst_port}/${f.protocol}|${out ? 'contacted' : 'served'}`;
      const q = ports.get(key) || { port: `${f.dst_port}/${f.protocol}`, direction: out ? 'contacted' : 'served', flows: 0, peers: new Set(), bytes: 0 };
      q.flows += 1;
      q.bytes += f.bytes;
      q.peers.add(peer);
      ports.set(key, q);
    }
    $('host-flow-total').textContent = capped ? `${fmtInt(flows.length)}+` : fmtInt(flows.length);
    $('host-flow-total').title = capped ? `More than ${fmtInt(flows.length)}: the page reads the newest ${fmtInt(flows.length)}` : '';
    $('host-peer-total').textContent = `${fmtInt(peers.size)} peers${capped ? ` in the newest ${fmtInt(flows.length)}` : ''}`;
    $('host-bytes').textContent = `${fmtBytes(bytesOut)} / ${fmtBytes(bytesIn)}`;
    $('host-bytes-sub').textContent = `as initiator / as responder${capped ? `, newest ${fmtInt(flows.length)} flows` : ''}`;
    const peerRows = Array.from(peers.values()).sort((a, b) => b.bytes - a.bytes)
      .filter((p) => textMatch(query('host-peers-search'), [p.peer, ...p.ports])).slice(0, 300);
    shown['host-peers'] = {
      columns: [['peer', (p) => p.peer], ['flows', (p) => p.flows], ['bytes', (p) => p.bytes],
        ['ports', (p) => Array.from(p.ports).join(' ')]],
      rows: peerRows,
    };
    $('host-peer-table').querySelector('tbody').replaceChildren(...peerRows.slice(0, 300).map((p) => el('tr', {}, [
      el('td', {}, [hostLink(p.peer)]),
      el('td', { cls: 'num', text: fmtInt(p.flows) }),
      el('td', { cls: 'num', text: fmtBytes(p.bytes) }),
      el('td', { cls: 'ports-cell', text: Array.from(p.ports).slice(0, 6).join(', ') + (p.ports.size > 6 ? ` +${p.ports.size - 6}` : '') }),
    ])));
    $('host-peer-count').textContent = peers.size ? `(${peers.size})` : '';
    const portRows = Array.from(ports.values()).sort((a, b) => b.bytes - a.bytes)
      .filter((p) => textMatch(query('host-ports-search'), [p.port, p.direction])).slice(0, 300);
    shown['host-ports'] = {
      columns: [['port', (p) => p.port], ['direction', (p) => p.direction], ['flows', (p) => p.flows],
        ['peers', (p) => p.peers.size], ['bytes', (p) => p.bytes]],
      rows: portRows,
    };
    $('host-port-table').querySelector('tbody').replaceChildren(...portRows.slice(0, 300).map((p) => el('tr', {}, [
      el('td', { cls: 'mono', text: p.port }),
      el('td', { text: p.direction }),
      el('td', { cls: 'num', text: fmtInt(p.flows) }),
      el('td', { cls: 'num', text: fmtInt(p.peers.size) }),
      el('td', { cls: 'num', text: fmtBytes(p.bytes) }),
    ])));
    $('host-port-count').textContent = ports.size ? `(${ports.size})` : '';

    const flowRows = flows.filter((f) => textMatch(query('host-flows-search'), flowText(f)));
    shown['host-flows'] = { columns: flowColumns, rows: flowRows };
    fillChunked($('host-flow-table').querySelector('tbody'), flowRows, (f) => {
      const tr = el('tr', {}, [
        el('td', { text: fmtTime(f.last) }),
        el('td', {}, endpointNodes(f.src_ip, f.src_port)),
        el('td', {}, endpointNodes(f.dst_ip, f.dst_port)),
        el('td', { text: f.protocol }),
        el('td', { cls: 'num', text: fmtInt(f.packets) }),
        el('td', { cls: 'num', text: fmtBytes(f.bytes) }),
        el('td', { cls: 'num', text: fmtDuration(f.duration) }),
        el('td', { cls: `num score${f.anomalous ? ' hot' : ''}`, text: f.score === null ? '–' : fmtNum(f.score, 3) }),
      ]);
      return tr;
    });
    $('host-flow-count').textContent = flows.length ? `(${flowRows.length} of ${flows.length})` : '';
    drawHostTraffic(flows, ip).catch(report);
  }
  // Bytes per time bucket, split by direction; the bucket grows with the span shown.
  async function drawHostTraffic(flows, ip) {
    if (!state.chartsReady) return;  // startCharts() draws it once Plotly is in
    const spanMs = flows.length ? Math.max(...flows.map((f) => f.last)) - Math.min(...flows.map((f) => f.last)) : 0;
    const steps = [1e3, 1e4, 6e4, 3e5, 9e5, 36e5, 216e5, 864e5];
    const bucket = steps.find((b) => spanMs / b <= 120) || steps[steps.length - 1];
    const out = new Map();
    const inn = new Map();
    for (const f of flows) {
      const t = Math.floor(f.last / bucket) * bucket;
      const m = f.src_ip === ip ? out : inn;
      m.set(t, (m.get(t) || 0) + f.bytes);
    }
    const times = Array.from(new Set([...out.keys(), ...inn.keys()])).sort((a, b) => a - b);
    const x = times.map((t) => new Date(t));
    $('host-traffic-hint').textContent = `bytes of the host's flows per ${fmtDuration(bucket / 1000)}, by the time they ended`;
    await Plotly.react('host-traffic-chart', [
      { name: 'Started by the host', x, y: times.map((t) => out.get(t) || 0), type: 'bar', marker: { color: cssVar('--sent') } },
      { name: 'Answered by the host', x: x.slice(), y: times.map((t) => inn.get(t) || 0), type: 'bar', marker: { color: cssVar('--recv') } },
    ], chartLayout({ barmode: 'stack', yaxis: { title: { text: 'bytes' }, gridcolor: cssVar('--grid'), tickformat: '~s', rangemode: 'tozero' } }), chartConfig);
  }

  // ---------- models ----------
  function confusionTable(labels, matrix) {
    if (!matrix || !matrix.length) return null;
    const names = labels && labels.length === matrix.length ? labels : matrix.map((_, i) => String(i));
    const head = el('tr', {}, [el('th', { text: 'truth \\ predicted' }), ...names.map((n) => el('th', { text: n }))]);
    const rows = matrix.map((row, i) => el('tr', {}, [
      el('th', { text: names[i] }),
      ...row.map((v, j) => el('td', { cls: i === j ? 'diag' : '', text: fmtInt(v) })),
    ]));
    return el('table', { cls: 'confusion' }, [el('thead', {}, [head]), el('tbody', {}, rows)]);
  }
  function renderModels(info) {
    state.modelLoaded = (info.models || []).some((m) => m.loaded);
    state.modelWeights = new Map((info.models || []).map((m) => [m.name, m.weight]));
    if (state.chartsReady && !state.scoreDrawn) showScoreNote();
    $('bundle-info').textContent = info.bundle_path
      ? `${info.bundle_path}${info.format_version ? ` · format ${info.format_version}` : ''}${info.created ? ` · ${info.created}` : ''}${info.feature_count ? ` · ${info.feature_count} features` : ''}${info.ensemble_rule ? ` · ${info.ensemble_rule}` : ''}`
      : 'no model bundle loaded: rule detectors only';
    const cards = (info.models || []).map((m) => {
      const voting = !hasNoVote(m.weight);
      const facts = el('dl', { cls: 'facts' }, [
        ...fact('Threshold', fmtNum(m.threshold, 4)),
        ...fact('Weight', voting ? fmtNum(m.weight, 2) : '0 · no vote'),
        ...(m.metrics || []).flatMap((x) => fact(x.name, fmtNum(x.value, 4))),
      ]);
      return el('div', { cls: 'model', attrs: { 'data-model': m.name } }, [
        el('h3', { text: m.name }, [m.loaded ? null : el('span', { cls: 'off', text: ' (not loaded)' })]),
        voting ? null : el('p', { cls: 'hint', text: 'Scored, and its verdict shown in each alert\'s evidence, but it has no vote: the ensemble decides without it.' }),
        facts,
        confusionTable(m.confusion_labels, m.confusion),
      ]);
    });
    $('models').replaceChildren(...cards);
    if (!cards.length) $('models').replaceChildren(el('p', { cls: 'empty', text: 'No models in use.' }));
  }

  // ---------- sensors (a hub) ----------
  const sensorRow = rowMaker(['mono', '', '', 'num', 'num', 'num', 'num', 'num', '']);
  function renderSensors(list) {
    state.sensors = list;
    const hub = list.length > 0;
    $('sensors-card').hidden = !hub;
    const select = $('sensor-select');
    select.hidden = !hub;
    if (!hub) return;
    const names = list.map((x) => x.name);
    const have = Array.from(select.options, (o) => o.value).slice(1);
    if (names.join('\n') !== have.join('\n')) {
      select.replaceChildren(el('option', { text: 'All sensors', attrs: { value: '' } }),
        ...names.map((n) => el('option', { text: n, attrs: { value: n } })));
    }
    select.value = state.sensor;
    $('sensor-count').textContent = `(${list.length})`;
    $('sensor-table').querySelector('tbody').replaceChildren(...list.map((x) => {
      const h = x.health || {};
      const drops = (Number(h.kernel_drops) || 0) + (Number(h.queue_drops) || 0) +
        (Number(h.publish_dropped) || 0) + (Number(h.spool_dropped) || 0);
      const tr = sensorRow([x.name, [h.mode, h.input].filter(Boolean).join(' · ') || '–', fmtTime(x.last),
        fmtNum(h.packets_per_second, 0), fmtInt(drops), fmtInt(h.flows), fmtInt(h.alerts),
        fmtInt(h.spool_messages), h.connected === undefined ? '–' : h.connected ? 'connected' : 'away']);
      tr.dataset.sensor = x.name;
      if (drops > 0) tr.children[4].classList.add('hot');
      if (x.name === state.sensor) tr.classList.add('selected');
      return tr;
    }));
  }
  async function loadSensors() {
    renderSensors((await api('/api/sensors')).sensors || []);
  }
  // Another sensor (or all of them): the page starts over with that view's state and stream.
  function selectSensor(name) {
    state.sensor = name;
    const url = new URL(location.href);
    if (name) url.searchParams.set('sensor', name); else url.searchParams.delete('sensor');
    history.replaceState(null, '', url);
    state.seq = 0;
    state.alerts.clear();
    state.lastTrafficMs = 0;
    state.lastScoreMs = 0;
    state.iface = 'total';
    const ifaces = $('interface-select');
    ifaces.replaceChildren(el('option', { text: 'All interfaces', attrs: { value: 'total' } }));
    renderSensors(state.sensors);
    loadAll().then(connect).catch(report);
  }

  // ---------- live events ----------
  function setLink(stateName, text) {
    const node = $('link-state');
    node.dataset.state = stateName;
    node.textContent = text;
  }
  function onEvent(type, handler) {
    state.source.addEventListener(type, (e) => {
      if (e.lastEventId) state.seq = Number(e.lastEventId);
      let data;
      try { data = JSON.parse(e.data); } catch (_) { return; }
      handler(data);
    });
  }
  function connect() {
    clearTimeout(state.reconnectTimer);
    if (state.source) state.source.close();
    state.source = new EventSource(withSensor(`/api/events?since=${state.seq}`));
    state.source.onopen = () => setLink('live', 'live');
    state.source.onerror = () => {
      // The browser retries by itself (with Last-Event-ID) unless the server refused the stream.
      if (state.source.readyState === EventSource.CLOSED) {
        setLink('down', 'disconnected — retrying');
        state.reconnectTimer = setTimeout(connect, 3000);
      } else {
        setLink('connecting', 'reconnecting…');
      }
    };
    onEvent('traffic', addTrafficPoint);
    onEvent('score', addScorePoint);
    onEvent('stats', renderStats);
    onEvent('alert', (a) => {
      if (state.range.to && a.time > state.range.to) return;  // after a fixed range
      storeAlert(a);
      renderAlerts(a.id);
      if (state.drawerId === a.id) renderDrawer(a);  // an engaged alert grows while it is open
    });
    onEvent('ack', (d) => markAcknowledged(d.id));
    onEvent('hosts', (d) => { state.hosts = d.hosts || []; renderHosts(); });
    onEvent('reset', () => { loadAll().catch(report); });
  }

  function report(err) {
    // Shown in the status pill; the stream or the next refresh recovers by itself.
    setLink('down', err && err.message ? err.message : String(err));
  }

  async function loadCharts() {
    await Promise.all([loadTraffic(), loadTimeline()]);
  }

  // All requests at once: one round trip instead of two. Anything fetched here that the event
  // stream repeats (it starts at the stats' seq) is deduplicated by alert id and point time.
  async function loadAll() {
    await Promise.all([
      loadSensors(),
      api('/api/stats').then((stats) => { state.seq = stats.event_seq; renderStats(stats); }),
      loadAlerts(), refreshTables(), api('/api/models').then(renderModels), loadSuppressions(),
      state.chartsReady ? loadCharts() : null]);
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`${src}: failed to load`));
      document.head.appendChild(script);
    });
  }

  async function startCharts() {
    // The charts' data is fetched while Plotly loads, and each chart is drawn once, with it.
    const traffic = fetchTraffic();
    const timeline = fetchTimeline();
    await loadScript('vendor/plotly.min.js');
    const [trafficData, timelineData] = await Promise.all([traffic, timeline]);
    state.chartsReady = true;
    await Promise.all([drawTraffic(trafficData), drawTimeline(timelineData)]);
    // Points that arrived while Plotly loaded; those the fetch already had are skipped.
    for (const p of state.pendingTraffic.splice(0)) addTrafficPoint(p);
    for (const p of state.pendingScores.splice(0)) addScorePoint(p);
    if (hostView.ip) drawHostTraffic(hostView.flows, hostView.ip).catch(report);
    performance.mark('netsentry:charts');
    document.body.dataset.chartsMs = String(Math.round(performance.now()));
    document.body.dataset.chartsReady = 'true';
  }

  async function main() {
    initTheme();
    initLogin();
    await ensureSession();
    initRange();
    initSuppress();
    initTrafficControls();
    initAlerts();
    initSortable('flow-table', state.flowSort, renderFlows);
    initSortable('connection-table', state.connectionSort, renderConnections);
    $('flow-search').addEventListener('input', renderFlows);
    $('flow-verdict').addEventListener('change', renderFlows);
    $('connection-state').addEventListener('change', renderConnections);
    $('host-search').addEventListener('input', renderHosts);
    $('host-severity-filter').addEventListener('change', renderHosts);
    for (const name of ['host-alerts', 'host-peers', 'host-ports', 'host-flows']) {
      $(`${name}-search`).addEventListener('input', renderHostPage);
    }
    document.addEventListener('click', (e) => {
      const button = e.target.closest('button[data-export]');
      if (button) downloadTable(button.dataset.export, button.dataset.format);
    });
    $('connection-search').addEventListener('input', renderConnections);
    $('sensor-select').addEventListener('change', (e) => selectSensor(e.target.value));
    $('sensor-table').addEventListener('click', (e) => {
      const row = e.target.closest('tr[data-sensor]');
      if (row) selectSensor(row.dataset.sensor === state.sensor ? '' : row.dataset.sensor);
    });

    window.addEventListener('hashchange', route);
    route();
    try {
      await loadAll();
    } catch (e) {
      report(e);
    }
    connect();
    performance.mark('netsentry:interactive');
    document.body.dataset.readyMs = String(Math.round(performance.now()));  // since navigation start
    document.body.dataset.ready = 'true';
    // Let the browser paint the data before Plotly's evaluation takes the main thread.
    requestAnimationFrame(() => setTimeout(() => startCharts().catch(report), 0));
    setInterval(() => {
      if (document.visibilityState !== 'visible') return;
      refreshTables().catch(report);
      if (hostView.ip) loadHostPage().catch(report);
    }, REFRESH_MS);
    setInterval(() => {
      if (document.visibilityState === 'visible' && state.sensors.length) loadSensors().catch(report);
    }, SENSOR_REFRESH_MS);
    setInterval(() => {
      if (document.visibilityState === 'visible') api('/api/models').then(renderModels).catch(report);
    }, 60000);
  }

  document.addEventListener('DOMContentLoaded', () => { main().catch(report); });
})();
