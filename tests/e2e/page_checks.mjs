// Browser checks of the investigation parts of the page (riskiest hosts, host pages, alert flows),
// shared by the dashboard specs. Each function takes a Playwright page and the spec's
// check(ok, message) and returns nothing; a failed expectation is reported through check.

// Waits up to `ms` for `fn` (evaluated in the page) to be truthy; false when it never is.
async function waitIn(page, fn, arg, ms) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms });
    return true;
  } catch (_) {
    return false;
  }
}

// The riskiest hosts panel lists hosts with a score and their strongest evidence, each host
// links to its host page, and the API's order (highest score first) is kept.
export async function checkRiskiestHosts(page, check) {
  const shown = await waitIn(page, () => document.querySelectorAll('#host-table tbody tr').length > 0, null, 20000);
  check(shown, 'the Riskiest Hosts panel lists hosts');
  if (!shown) return;
  // The panel follows a store another process is writing: compare it with the API answer until
  // both describe the same moment (the panel reloads every 5 s).
  let api = [];
  let rows = [];
  let same = false;
  for (let attempt = 0; attempt < 4 && !same; attempt += 1) {
    if (attempt) await page.waitForTimeout(3000);
    api = await page.evaluate(async () => (await (await fetch('/api/hosts?limit=20')).json()).hosts);
    rows = await page.$$eval('#host-table tbody tr', (trs) => trs.map((tr) => ({
      host: tr.dataset.host,
      link: tr.querySelector('a.host-link') ? tr.querySelector('a.host-link').getAttribute('href') : '',
      evidence: tr.children[4].textContent,
      alert: tr.children[6].textContent,
    })));
    same = rows.map((r) => r.host).join(',') === api.map((h) => h.host || h.interface).join(',');
  }
  check(same, `hosts are shown in the API's order (${rows.map((r) => r.host).join(', ')})`);
  const first = rows.find((r) => r.link);
  check(Boolean(first) && first.link === `#/host/${encodeURIComponent(first.host)}`,
    `a host links to its host page (${first && first.link})`);
  // The alert column names the engaged alert, else the latest one gone past, else none.
  const alertText = (h) => (h.alert_id ? `#${h.alert_id} engaged` : h.past_alert_id ? `#${h.past_alert_id} past` : '–');
  const wrong = api.filter((h) => {
    const row = rows.find((r) => r.host === (h.host || h.interface));
    return !row || row.alert !== alertText(h);
  });
  check(wrong.length === 0 && api.every((h) => 'past_alert_id' in h),
    `each host's alert column names its engaged or latest past alert (${api.map(alertText).join(', ')})`);
  const withEvidence = api.find((h) => (h.evidence || []).length > 0);
  if (withEvidence) {
    const row = rows.find((r) => r.host === (withEvidence.host || withEvidence.interface));
    check(Boolean(row) && row.evidence.includes(withEvidence.evidence[0].kind),
      `a host's row names its strongest evidence (${row && row.evidence.slice(0, 60)})`);
  }
}

// The open alert drawer lists the alert's evidence and the flows it references, with links.
// `requestUrls` (optional): every URL the page requested, to check the list asked for evidence
// summaries and the drawer for the whole alert.
export async function checkAlertEvidence(page, check, requestUrls) {
  // An engaged alert keeps growing (the drawer follows its events): compare the drawer with the
  // API until both show the same revision.
  let alert = null;
  let items = [];
  let flowRows = 0;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    if (attempt) await page.waitForTimeout(1000);
    alert = await page.evaluate(async () => {
      const title = document.getElementById('drawer-title').textContent;
      const id = Number((title.match(/#(\d+)/) || [])[1]);
      return id ? (await fetch(`/api/alerts/${id}`)).json() : null;
    });
    if (!alert) break;
    items = await page.$$eval('#drawer-why li', (lis) => lis.map((li) => li.textContent));
    flowRows = await page.$$eval('#drawer-flows tbody tr', (trs) => trs.filter((tr) => tr.children.length > 1).length);
    // The list holds a summary (?evidence=summary: flows counted, not listed) until the drawer
    // has loaded the whole alert: wait for the flows too.
    const refCount = new Set((alert.evidence || []).flatMap((e) => (e.flows || []).map((f) =>
      `${f.start_ns}|${f.src_ip}|${f.src_port}|${f.dst_ip}|${f.dst_port}`))).size;
    if (items.length === Math.max(1, (alert.evidence || []).length) && flowRows === refCount) break;
  }
  if (!alert) {
    check(false, 'the alert drawer names an alert id');
    return;
  }
  const evidence = alert.evidence || [];
  check(items.length === Math.max(1, evidence.length) &&
    evidence.every((e, i) => items[i].includes(e.kind)),
  `the alert's evidence is listed (${evidence.length} in the API, ${items.length} shown)`);
  const refs = new Set();
  for (const e of evidence) for (const f of e.flows || []) refs.add(`${f.start_ns}|${f.src_ip}|${f.src_port}|${f.dst_ip}|${f.dst_port}`);
  check(flowRows === refs.size, `the flows behind the alert are listed (${refs.size} referenced, ${flowRows} shown)`);
  if (!requestUrls) return;
  // The alert list loaded summaries; the drawer asked for the alert itself.
  const requests = requestUrls.map((u) => new URL(u)).filter((u) => u.pathname.startsWith('/api/alerts'))
    .map((u) => u.pathname + u.search);
  check(requests.some((r) => r.startsWith('/api/alerts?') && r.includes('evidence=summary')),
    `the alert list asks for evidence summaries (${requests.filter((r) => r.startsWith('/api/alerts?')).slice(0, 2).join(' ')})`);
  check(requests.some((r) => /^\/api\/alerts\/\d+$/.test(r)), 'the drawer loads the whole alert');
}

// Opens the host page of the riskiest host from its link and checks it against the API: the
// address, risk score, its alerts and flows (each with the address at one end); then back.
export async function checkHostPage(page, check, screenshot) {
  const link = page.locator('#host-table a.host-link').first();
  if (!(await link.count())) {
    check(false, 'a host link to open');
    return;
  }
  const ip = (await link.textContent()).trim();
  await link.click();
  // A loaded machine (the whole suite beside it) has taken over 10 s to load the host page.
  const opened = await waitIn(page, (want) => document.body.dataset.hostReady === want, ip, 30000);
  check(opened, `the host page of ${ip} opens from its link`);
  if (!opened) return;
  check(new URL(page.url()).hash === `#/host/${encodeURIComponent(ip)}`, `the address bar names the host (${new URL(page.url()).hash})`);
  check(await page.isHidden('#overview'), 'the overview is hidden on a host page');
  check((await page.textContent('#host-title')).trim() === ip, 'the host page is titled with the address');
  const api = await page.evaluate(async (host) => {
    const q = encodeURIComponent(host);
    const [flows, alerts, hosts] = await Promise.all([
      fetch(`/api/flows?host=${q}&limit=1000&sort=last`).then((r) => r.json()),
      fetch(`/api/alerts?host=${q}&limit=500`).then((r) => r.json()),
      fetch('/api/hosts?limit=200').then((r) => r.json())]);
    return { flows: flows.flows, alerts: alerts.alerts, risk: hosts.hosts.find((h) => h.host === host) };
  }, ip);
  if (api.risk) {
    // A live monitor moves the score, the evidence and the alert: compare the page and the API
    // until they describe the same moment (the host page reloads every 5 s).
    const wantTile = (r) => (r.alert_id ? `#${r.alert_id} engaged`
      : r.past_alert_id ? `#${r.past_alert_id} past` : null);
    let risk = api.risk;
    let shown = null;
    for (let attempt = 0; attempt < 8; attempt += 1) {
      if (attempt) {
        await page.waitForTimeout(1000);
        risk = (await page.evaluate(async (host) => (await (await fetch('/api/hosts?limit=200')).json()).hosts
          .find((h) => h.host === host) || null, ip)) || risk;
      }
      shown = {
        score: (await page.textContent('#host-score')).trim(),
        items: await page.$$eval('#host-evidence li', (lis) => lis.length),
        tile: (await page.textContent('#host-alert')).trim(),
      };
      if (Math.abs(Number(shown.score) - risk.score) < 0.01 && shown.items === risk.evidence.length &&
          (wantTile(risk) === null || shown.tile === wantTile(risk))) break;
    }
    check(Math.abs(Number(shown.score) - risk.score) < 0.01, `the host page shows the risk score (${shown.score}, API ${risk.score})`);
    check(shown.items === risk.evidence.length, `the host page lists the host's evidence (${shown.items} of ${risk.evidence.length})`);
    // Its alert tile names the engaged alert, else the latest past one, as the panel does.
    if (wantTile(risk)) {
      check(shown.tile === wantTile(risk), `the host page's alert tile names its alert (${shown.tile}, API ${wantTile(risk)})`);
    }
  }
  // Alerts keep coming while a store fills: compare until the page and the API agree on a moment.
  let alertRows = 0;
  let apiAlerts = api.alerts.length;
  for (let attempt = 0; attempt < 8; attempt += 1) {
    if (attempt) await page.waitForTimeout(1000);
    alertRows = await page.$$eval('#host-alert-table tbody tr', (trs) => trs.length);
    if (alertRows === apiAlerts) break;
    apiAlerts = await page.evaluate(async (host) => (await (await fetch(
      `/api/alerts?host=${encodeURIComponent(host)}&limit=500`)).json()).alerts.length, ip);
  }
  check(alertRows === apiAlerts && apiAlerts > 0, `the host's alerts are listed (${alertRows}, API ${apiAlerts})`);
  // Each says whom it is about: this host, or the other host of an alert that only involves it.
  const abouts = await page.$$eval('#host-alert-table tbody tr', (trs) => trs.map((tr) => ({
    id: Number(tr.dataset.id), about: tr.querySelector('.about-cell').textContent })));
  const aboutApi = new Map((await page.evaluate(async (host) => (await (await fetch(
    `/api/alerts?host=${encodeURIComponent(host)}&limit=500`)).json()).alerts, ip)).map((a) => [a.id, a]));
  const wrongAbout = abouts.filter(({ id, about }) => {
    const a = aboutApi.get(id);
    if (!a) return false;  // newer than this look at the API
    const who = !a.host || a.host === ip ? 'this host' : a.host;
    return about !== (a.role ? `${who} · ${a.role}` : who);
  });
  check(abouts.length > 0 && wrongAbout.length === 0,
    `each host alert says whom it is about (${abouts.slice(0, 3).map((x) => x.about).join('; ')}; wrong: ${wrongAbout.length})`);
  const flowRows = await page.$$eval('#host-flow-table tbody tr', (trs) => trs.map((tr) => tr.textContent));
  // A live source has new flows by now: the page shows at least what the API had when it loaded.
  check(flowRows.length > 0 && flowRows.every((t) => t.includes(ip)),
    `every flow on the host page has the host at one end (${flowRows.length} rows, API ${api.flows.length})`);
  // A host with more flows than the page reads says so rather than showing the limit as its total.
  const total = (await page.textContent('#host-flow-total')).trim();
  const capped = api.flows.length >= 1000;
  check(capped ? total.endsWith('+') && (await page.textContent('#host-hint')).includes('newest')
    : !total.endsWith('+'),
  `the Flows tile says whether the page's 1,000 flows are all of them (${total}; API ${api.flows.length})`);
  const peers = await page.$$eval('#host-peer-table tbody tr a.host-link', (as) => as.map((a) => a.textContent));
  const apiPeers = new Set(api.flows.map((f) => (f.src_ip === ip ? f.dst_ip : f.src_ip)));
  check(peers.length > 0 && peers.every((p) => p !== ip), `peers are the other ends of its flows (${peers.slice(0, 4).join(', ')}; API ${apiPeers.size})`);
  await waitIn(page, () => document.querySelector('#host-traffic-chart .main-svg') !== null, null, 10000);
  check(await page.$('#host-traffic-chart .main-svg') !== null, 'the host page draws its traffic over time');
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  await page.click('#host-view .back-link');
  const back = await waitIn(page, () => !document.getElementById('overview').hidden, null, 5000);
  check(back, 'the overview link returns to the overview');
}

// A host whose alert went past (none engaged): its row in the panel leads to its host page, whose
// alert tile names that past alert. Sources without such a host (a replay still under way) skip.
export async function checkPastAlertHost(page, check) {
  const hosts = await page.evaluate(async () => (await (await fetch('/api/hosts?limit=200')).json()).hosts);
  const quiet = hosts.find((h) => h.host && !h.alert_id && h.past_alert_id);
  if (!quiet) {
    console.log('skip no host with only a past alert in this source');
    return;
  }
  await page.click(`#host-table tr[data-host="${quiet.host}"] a.host-link`);
  const opened = await waitIn(page, (want) => document.body.dataset.hostReady === want, quiet.host, 30000);
  check(opened, `the host page of ${quiet.host} (a past alert only) opens from its link`);
  if (!opened) return;
  const want = `#${quiet.past_alert_id} past`;
  let tile = '';
  for (let attempt = 0; attempt < 5 && tile !== want; attempt += 1) {
    if (attempt) await page.waitForTimeout(1000);
    tile = (await page.textContent('#host-alert')).trim();
  }
  check(tile === want, `a host whose alert went past names it on its page (${tile}, API ${want})`);
  await page.click('#host-view .back-link');
  await waitIn(page, () => !document.getElementById('overview').hidden, null, 5000);
}

// Reads a download the page starts with `click` (a CSV / JSON export): its text.
async function exported(page, click, what) {
  let download;
  try {
    [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), click()]);
  } catch (err) {
    throw new Error(`${what}: no download (${err.message.split('\n')[0]})`);
  }
  const stream = await download.createReadStream();
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return { name: download.suggestedFilename(), text: Buffer.concat(chunks).toString('utf8') };
}

// A tiny RFC 4180 reader for the check: quoted fields, doubled quotes, CRLF rows.
function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 1; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\r') { /* part of CRLF */ } else if (c === '\n') {
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

// The flow filter narrows the table and the export writes exactly the rows shown; a cell that
// would start a spreadsheet formula is written as text.
export async function checkFiltersAndExport(page, check) {
  // Filter on the address seen in most of the newest flows (the table reloads every 5 s while a
  // store fills, so an address from one row can leave it before the filter applies), and on one
  // that is not part of another address seen (the filter matches text: 10.77.0.1 also finds
  // 10.77.0.10, so the exports are checked for rows whose address contains it).
  const ip = await page.evaluate(async () => {
    const answer = await fetch('/api/flows?limit=1000&sort=last', { credentials: 'same-origin' });
    if (!answer.ok) return '';
    const body = await answer.json();
    const counts = new Map();
    for (const f of (body && Array.isArray(body.flows)) ? body.flows : []) {
      for (const a of [f.src_ip, f.dst_ip]) if (a) counts.set(a, (counts.get(a) || 0) + 1);
    }
    const addresses = [...counts.keys()];
    const alone = addresses.filter((a) => !addresses.some((b) => b !== a && b.includes(a)));
    alone.sort((a, b) => counts.get(b) - counts.get(a) || (a < b ? -1 : 1));
    return alone[0] || '';
  }).catch(() => '');
  if (!ip) {
    check(false, 'the flows table has a row to filter on');
    return;
  }
  await page.fill('#flow-search', ip);
  // The table shows the flows of its last reload (every 5 s): the API may already have newer ones.
  await waitIn(page, () => document.querySelectorAll('#flow-table tbody tr').length > 0, null, 15000);
  const shownRows = () => page.$$eval('#flow-table tbody tr', (trs) => trs.map((tr) => tr.textContent));
  // The table reloads every 5 s while a store fills: export between two equal readings of it.
  let texts = [];
  let csv = null;
  for (let attempt = 0; attempt < 4; attempt += 1) {
    texts = await shownRows();
    csv = await exported(page, () => page.click('button[data-export="flows"][data-format="csv"]'), 'flows CSV');
    if ((await shownRows()).join('\n') === texts.join('\n')) break;
  }
  check(texts.length > 0 && texts.every((t) => t.includes(ip)), `the flow filter keeps only matching rows (${texts.length} with ${ip})`);
  const rows = parseCsv(csv.text);
  check(csv.name.endsWith('.csv') && rows[0][0] === 'first' && rows.length - 1 === texts.length &&
    rows.slice(1).every((r) => r[2].includes(ip) || r[4].includes(ip)),
  `the CSV export holds the ${texts.length} rows shown (${rows.length - 1} in ${csv.name})`);
  // Between two equal readings of the table too (a reload between the export and the count
  // once made 4 exported rows of 10 shown).
  let objects = [];
  let nowShown = 0;
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const before = (await shownRows()).join('\n');
    const json = await exported(page, () => page.click('button[data-export="flows"][data-format="json"]'), 'flows JSON');
    objects = JSON.parse(json.text);
    const after = await shownRows();
    nowShown = after.length;
    if (after.join('\n') === before) break;
  }
  check(Array.isArray(objects) && objects.length === nowShown && objects.every((o) => o.src_ip.includes(ip) || o.dst_ip.includes(ip)),
    `the JSON export holds the rows shown (${objects.length} of ${nowShown})`);
  await page.fill('#flow-search', '');

  // Kind and text filters of the alerts panel.
  // The kind list is rebuilt from the alerts the page holds, which a live replay keeps changing
  // (and a reload refills, seconds on a loaded machine): a kind read a moment ago may be gone, so
  // the test takes one the list holds when it selects.
  const kindsNow = () => page.$$eval('#alert-kind option', (os) => os.map((o) => o.value).filter(Boolean));
  let kinds = await kindsNow();
  let kind = kinds[0];
  if (kind) {
    try {
      await page.selectOption('#alert-kind', kind, { timeout: 5000 });
    } catch {
      kinds = await kindsNow();
      kind = kinds[0];
      if (kind) await page.selectOption('#alert-kind', kind, { timeout: 15000 });
    }
  }
  if (kind) {
    const subjects = await page.$$eval('#alert-list .subject', (ss) => ss.map((s) => s.textContent));
    check(subjects.length > 0 && subjects.every((t) => t.includes(kind)), `the kind filter keeps ${kind} alerts (${subjects.length})`);
    await page.selectOption('#alert-kind', '', { timeout: 5000 });
  }
  await page.fill('#alert-search', 'no-such-alert-text-xyz');
  check(await page.$$eval('#alert-list .alert-row', (rs) => rs.length) === 0, 'the alert text filter hides alerts that do not match');
  await page.fill('#alert-search', '');

  // Formula injection: the connections export writes a process name starting with "=" as text.
  const conn = await exported(page, () => page.click('button[data-export="connections"][data-format="csv"]'), 'connections CSV');
  const cells = parseCsv(conn.text).flat();
  const risky = cells.filter((c) => /^[=+\-@]/.test(c));
  check(risky.length === 0, `no exported cell starts a spreadsheet formula (${risky.slice(0, 2).join(' | ') || 'none'})`);
  const escaped = cells.filter((c) => /^'[=+\-@]/.test(c));
  if (process.env.NETSENTRY_E2E_MARKUP === '1') {
    check(escaped.length > 0, `a cell that would start a formula is written as text (${escaped[0] || 'none found'})`);
  }
}

// The page's time range: a preset goes into the address and survives a reload; a custom range
// in the past narrows the alerts and flows to it; back to live at the end.
export async function checkTimeRange(page, check) {
  await page.selectOption('#range-select', '1h');
  await waitIn(page, () => new URL(location.href).searchParams.get('range') === '1h', null, 5000);
  check(new URL(page.url()).searchParams.get('range') === '1h', `a preset is kept in the address (${new URL(page.url()).search})`);
  // The address opened in another tab (as a shared link would be) shows the same range.
  const shared = await page.context().newPage();
  const trafficAsked = shared.waitForRequest((r) => r.url().includes('/api/traffic?window=3600'), { timeout: 15000 })
    .then(() => true, () => false);
  await shared.goto(page.url(), { waitUntil: 'domcontentloaded' });
  await waitIn(shared, () => document.body.dataset.ready === 'true', null, 15000);
  check(await shared.$eval('#range-select', (s) => s.value) === '1h', 'a shared address opens with its range');
  check(await trafficAsked, 'the traffic chart asks for the range (window=3600)');
  await shared.close();

  // A custom range a year before the data: nothing in it.
  await page.selectOption('#range-select', 'custom');
  await page.fill('#range-from', '2000-01-01T00:00:00');
  await page.fill('#range-to', '2000-01-02T00:00:00');
  const flowsAsked = page.waitForResponse((r) => r.url().includes('/api/flows?') && r.url().includes('&to='), { timeout: 10000 });
  await page.click('#range-apply');
  const answer = await flowsAsked.then((r) => r.json(), () => null);
  const search = new URL(page.url()).searchParams;
  check(Number(search.get('from')) === new Date('2000-01-01T00:00:00').getTime() &&
    Number(search.get('to')) === new Date('2000-01-02T00:00:00').getTime(),
  `a custom range is kept in the address as epoch ms (${new URL(page.url()).search})`);
  const empty = await waitIn(page, () => document.querySelectorAll('#alert-list .alert-row').length === 0 &&
    document.querySelectorAll('#flow-table tbody tr').length === 0, null, 10000);
  check(Boolean(answer) && answer.flows.length === 0 && empty,
    'a range with no data shows no alerts and no flows');
  await page.selectOption('#range-select', '');
  await waitIn(page, () => document.querySelectorAll('#flow-table tbody tr').length > 0, null, 10000);
  check(!new URL(page.url()).searchParams.has('from') && await page.$$eval('#flow-table tbody tr', (t) => t.length) > 0,
    'back to live, the flows return and the address has no range');
}

// Suppress from the alert itself: the drawer proposes a rule for the alert's host and kind, a
// bad rule is refused in place, the rule is listed, and removing it empties the list again.
// Servers without rules to change (dashboard --db, a hub) show neither.
export async function checkSuppression(page, check) {
  const available = await page.evaluate(async () => (await fetch('/api/suppressions')).json())
    .then((body) => body.available !== false);
  const cardShown = await page.isVisible('#suppressions-card');
  if (!available) {
    check(!cardShown, 'a server without suppression rules shows no rules card');
    return;
  }
  check(cardShown, 'the Suppression Rules card is shown');
  await page.click('#alert-list .alert-row');
  await page.waitForSelector('#alert-drawer.open', { timeout: 5000 });
  await page.click('#drawer-suppress');
  // The alert can change while it is open (a replay goes on: stronger evidence of another kind
  // makes it that kind), and the proposal follows it: so the proposal and the drawer's title are
  // read in one step, and the host from the API (an alert's host does not change).
  const shown = await page.evaluate(() => ({
    proposed: document.getElementById('suppress-rule').value,
    title: document.getElementById('drawer-title').textContent,
  }));
  const proposed = shown.proposed;
  const [, id, kind] = shown.title.match(/#(\d+) · (\S+)/) || [];
  const alert = await page.evaluate(async (n) => (await fetch(`/api/alerts/${n}`)).json(), Number(id));
  check(Boolean(kind) && proposed.includes(`kind=${kind}`) && (!alert.host || proposed.includes(alert.host)),
    `the drawer proposes a rule for the alert's host and kind ("${proposed}"; ${shown.title}, host ${alert.host})`);
  await page.fill('#suppress-rule', 'colour=blue');
  await page.click('#suppress-save');
  const refused = await waitIn(page, () => document.getElementById('suppress-message').textContent.length > 0, null, 5000);
  check(refused && await page.isVisible('#suppress-form'),
    `a bad rule is refused with the reason (${(await page.textContent('#suppress-message')).slice(0, 80)})`);
  await page.fill('#suppress-rule', proposed);
  await page.click('#suppress-save');
  // The text is the proposal again, so until the click it still follows the alert, which the
  // replay can turn into another kind meanwhile (udp_flood -> icmp_flood): the rule saved is for
  // the same subject, with the alert's kind at the click.
  const subject = proposed.slice(0, proposed.indexOf('kind='));
  const listed = await waitIn(page, (prefix) => Array.from(document.querySelectorAll('#suppression-list li'))
    .some((li) => li.dataset.rule.startsWith(prefix)), subject, 15000);
  const api = await page.evaluate(async () => (await fetch('/api/suppressions')).json());
  const saved = api.rules.find((r) => r.startsWith(subject) && /kind=\S+$/.test(r));
  const said = listed ? '' : `; the form says "${(await page.textContent('#suppress-message')).slice(0, 120)}"`;
  check(listed && Boolean(saved), `the rule is in force and listed (${api.rules.join(' | ')}${said})`);
  if (!listed || !saved) return;
  await page.click('#drawer-close');
  await page.click(`#suppression-list li[data-rule="${saved}"] button`);
  const gone = await waitIn(page, (rule) => !Array.from(document.querySelectorAll('#suppression-list li'))
    .some((li) => li.dataset.rule === rule), saved, 5000);
  const after = await page.evaluate(async () => (await fetch('/api/suppressions')).json());
  check(gone && !after.rules.includes(saved), 'removing the rule takes it out of force and off the list');
  await checkProposalFollowsTheAlert(page, check);
}

// While the form is open, the alert can change kind: a proposal the user has not edited follows
// it, an edited one is kept. A page of its own gets its event stream from the test: stream
// requests are held until the test sends an event (the alert as it changed), then all that are
// waiting get it (a stream the page closed meanwhile does no harm).
async function checkProposalFollowsTheAlert(page, check) {
  const solo = await page.context().newPage();
  let waiting = [];
  await solo.route(/\/api\/events\?/, (route) => { waiting.push(route); });
  let sent = 0;
  const send = async (alert) => {
    for (let i = 0; i < 100 && !waiting.length; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const routes = waiting;
    waiting = [];
    sent += 1;
    const body = `retry: 100\nid: ${1e9 + sent}\nevent: alert\ndata: ${JSON.stringify(alert)}\n\n`;
    for (const route of routes) await route.fulfill({ status: 200, contentType: 'text/event-stream', body }).catch(() => {});
  };
  await solo.goto(page.url(), { waitUntil: 'domcontentloaded' });
  await waitIn(solo, () => document.body.dataset.ready === 'true', null, 15000);
  await solo.click('#alert-list .alert-row');
  await solo.waitForSelector('#alert-drawer.open', { timeout: 5000 });
  await solo.click('#drawer-suppress');
  const id = Number(((await solo.textContent('#drawer-title')).match(/#(\d+)/) || [])[1]);
  const alert = await solo.evaluate(async (n) => (await fetch(`/api/alerts/${n}`)).json(), id);
  await send({ ...alert, kind: 'changed_kind', revision: (alert.revision || 0) + 1 });
  const followed = await waitIn(solo, () => document.getElementById('suppress-rule').value.includes('kind=changed_kind'),
    null, 10000);
  const now = `${await solo.inputValue('#suppress-rule')}; ${await solo.textContent('#drawer-title')}`;
  check(followed, `an unedited proposal follows the alert's new kind (${now})`);
  await solo.fill('#suppress-rule', 'src=192.0.2.1');
  await send({ ...alert, kind: 'changed_again', revision: (alert.revision || 0) + 2 });
  const retitled = await waitIn(solo, () => document.getElementById('drawer-title').textContent.includes('changed_again'),
    null, 10000);
  check(retitled && await solo.inputValue('#suppress-rule') === 'src=192.0.2.1',
    `an edited proposal is kept when the alert changes (${await solo.inputValue('#suppress-rule')})`);
  await solo.close();
}

// The score chart with a single point (a quiet link a minute after start): the score is drawn
// (Plotly draws no line for one point) and the threshold is a line across the plot at its value.
// A page of its own is served that one point and no event stream, so nothing adds a second.
export async function checkSingleScore(page, check) {
  const solo = await page.context().newPage();
  const point = { time: Date.now() - 30000, score: 0, threshold: 0.75, alert_id: 0 };
  await solo.route(/\/api\/timeline\?/, (route) => route.fulfill({
    contentType: 'application/json', body: JSON.stringify({ points: [point] }) }));
  await solo.route(/\/api\/events\?/, (route) => route.abort());
  await solo.goto(page.url(), { waitUntil: 'domcontentloaded' });
  const ready = await waitIn(solo, () => document.body.dataset.chartsReady === 'true', null, 15000);
  const drawn = ready && await solo.evaluate(() => {
    const chart = document.getElementById('score-chart');
    const drag = chart.querySelector('.draglayer .nsewdrag');
    if (chart.hidden || !drag) return { shown: false };
    const area = drag.getBoundingClientRect();
    const atValue = (r, v) => Math.abs(r.top + r.height / 2 - (area.top + chart._fullLayout.yaxis.l2p(v))) < 2;
    const rects = (selector) => Array.from(chart.querySelectorAll(selector), (e) => e.getBoundingClientRect());
    return {
      shown: true,
      marker: rects('.scatterlayer .point').some((r) => r.width > 0 && atValue(r, 0)),
      threshold: rects('.shapelayer path, .scatterlayer .js-line')
        .some((r) => r.width >= area.width / 2 && atValue(r, 0.75)),
    };
  });
  check(drawn && drawn.shown && drawn.marker, 'a single score is drawn as a visible point');
  check(drawn && drawn.threshold, 'with a single score the threshold is a line across the chart at its value');
  await solo.close();
}
