// Browser end-to-end test of the dashboard: playwright-core drives Debian's chromium headless
// against a running server (`netsentry monitor ...` or the demo in tests/server/demo_server_test.cpp;
// tests/e2e/run.sh starts the demo and runs this).
//
// Environment:
//   NETSENTRY_URL         base URL of the dashboard (required), e.g. http://127.0.0.1:8050
//   NETSENTRY_TOKEN       auth token, when the server has one
//   NETSENTRY_SCREENSHOT  where to save the full-page screenshot (default /tmp/netsentry-dashboard.png)
//   NETSENTRY_E2E_MARKUP  "1": an alert whose reason holds <script> must exist and show as text
//   NETSENTRY_E2E_ALERT_TEXT  open the alert whose row holds this text (default: the first)
//   NETSENTRY_E2E_PCAP    "1": the opened alert's "Download packets (pcap)" link must download a
//                         pcap (a monitor's replay keeps the packets; the demo has none)
//   CHROMIUM              browser binary (default /usr/bin/chromium)
// Exit status 0 when every check passes; each failure is printed on one line.
import { readFileSync } from 'node:fs';

import { baseUrl, check, finish, withBrowser } from './browser.mjs';
import {
  checkAlertEvidence, checkFiltersAndExport, checkHostPage, checkPastAlertHost, checkRiskiestHosts,
  checkSingleScore, checkSuppression, checkTimeRange,
} from './page_checks.mjs';

const base = baseUrl('the dashboard base URL');
const token = process.env.NETSENTRY_TOKEN || '';
const screenshot = process.env.NETSENTRY_SCREENSHOT || '/tmp/netsentry-dashboard.png';
const expectMarkup = process.env.NETSENTRY_E2E_MARKUP === '1';
// The token is never put in a URL: a token-protected page asks for it in its login step.
const url = new URL('/', base);
const browser = {
  profilePrefix: 'netsentry-e2e-',
  viewport: { width: 1440, height: 1000 },
  // The refused wrong token of the login check is expected; Chromium logs its 401 as an error.
  // Refused on purpose: the login check's wrong token and the suppression check's bad rule.
  ignoreConsoleError: (msg) => /\/api\/(login|suppressions)$/.test(msg.location().url || ''),
};

await withBrowser(browser, async ({ context, page, consoleErrors }) => {
  const requestUrls = [];
  page.on('request', (req) => requestUrls.push(req.url()));

  const response = await page.goto(url.toString(), { waitUntil: 'domcontentloaded' });
  check(response && response.status() === 200, `page answers 200 (got ${response && response.status()})`);
  if (token) {
    // The login step: a wrong token is refused in place, the right one opens the page.
    await page.waitForSelector('#login-dialog[open]', { timeout: 10000 });
    check(await page.evaluate(() => document.body.dataset.ready !== 'true'), 'no data before logging in');
    await page.fill('#login-token', 'not-the-token-0123456789');
    await page.click('#login-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('login-message').textContent !== '', null, { timeout: 5000 });
    check(await page.isVisible('#login-dialog'), 'a wrong token keeps the login dialog open');
    await page.fill('#login-token', token);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-dialog', { state: 'hidden', timeout: 5000 });
    const session = (await context.cookies()).find((c) => c.name === 'netsentry_session');
    check(Boolean(session) && session.httpOnly && session.sameSite === 'Strict',
      `session cookie is HttpOnly and SameSite=Strict (${JSON.stringify(session && { httpOnly: session.httpOnly, sameSite: session.sameSite })})`);
    check(Boolean(session) && !session.value.includes(token), 'the session cookie is not the token');
    check(await page.isVisible('#logout'), 'a logged-in page offers "Log out"');
  }
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 30000 });
  // Timings are reported, not asserted: on a loaded CI machine they measure the machine.
  const interactiveMs = Number(await page.evaluate(() => document.body.dataset.readyMs));
  console.log(`page interactive ${interactiveMs} ms after navigation start (target < 1000 ms)`);

  await page.waitForFunction(() => document.body.dataset.chartsReady === 'true', null, { timeout: 45000 });
  const chartsMs = Number(await page.evaluate(() => document.body.dataset.chartsMs));
  console.log(`charts drawn ${chartsMs} ms after navigation start`);

  // The Anomaly Score chart: drawn when there are scores; otherwise a note instead of an empty
  // chart (with no model loaded it says so), never a bare time axis.
  const score = await page.evaluate(async () => {
    const get = async (path) => (await fetch(path, { credentials: 'same-origin' })).json();
    const [models, timeline] = await Promise.all([get('/api/models'), get('/api/timeline?window=3600&limit=5000')]);
    const note = document.getElementById('score-empty');
    return {
      loaded: (models.models || []).some((m) => m.loaded),
      points: (timeline.points || []).length,
      noteShown: !note.hidden && note.offsetHeight > 0,
      note: note.textContent,
      chartShown: !document.getElementById('score-chart').hidden,
      axis: document.querySelector('#score-chart .xaxislayer-above') !== null,
      // Milliseconds between the ends of the drawn time axis (null before it is drawn).
      spanMs: (() => {
        const full = document.getElementById('score-chart')._fullLayout;
        const r = full && full.xaxis ? full.xaxis.range : null;
        return r ? new Date(r[1]).getTime() - new Date(r[0]).getTime() : null;
      })(),
    };
  });
  if (score.points === 0 && !score.chartShown) {
    check(score.noteShown && !score.axis, `no scores: a note replaces the score chart ("${score.note}")`);
    if (!score.loaded) check(/no model loaded/i.test(score.note), 'with no model loaded the score note says so');
  } else {
    check(score.chartShown && !score.noteShown, `the score chart is drawn (${score.points} points, model loaded: ${score.loaded})`);
    // A few scores close together must not zoom the time axis to milliseconds.
    check(score.spanMs !== null && score.spanMs >= 59000, `the score chart's time axis spans at least a minute (${score.spanMs} ms)`);
  }
  await checkSingleScore(page, check);

  // The models panel: a model of weight 0 (scored, no vote) says so; a voting one shows its weight.
  const cards = await page.evaluate(async () => {
    const models = (await (await fetch('/api/models', { credentials: 'same-origin' })).json()).models || [];
    return models.map((m) => {
      const card = document.querySelector(`#models .model[data-model="${CSS.escape(m.name)}"]`);
      const dt = card ? Array.from(card.querySelectorAll('dt')).find((d) => d.textContent === 'Weight') : null;
      return { name: m.name, weight: m.weight, found: card !== null, weightText: dt ? dt.nextElementSibling.textContent : null, text: card ? card.textContent : '' };
    });
  });
  for (const c of cards) {
    const noVote = /no vote/.test(c.text);
    check(c.found && (c.weight > 0 ? !noVote && Number(c.weightText) === c.weight : noVote && /^0 · no vote$/.test(c.weightText)),
      `the models panel's card of ${c.name} (weight ${c.weight}) ${c.weight > 0 ? 'shows its weight' : 'says it has no vote'} ("${c.weightText}")`);
  }

  // The traffic axis labels zero as "0", like its other ticks ("50M", not "50.0M").
  const ticks = await page.$$eval('#traffic-chart .ytick text', (t) => t.map((e) => e.textContent));
  check(ticks.includes('0') && ticks.every((t) => /^\d+(\.\d*[1-9])?[a-zµ]?$/i.test(t)),
    `the traffic axis ticks read "0", "50M" (${ticks.join(', ')})`);

  // Live updates: the traffic chart must gain points from the event stream. Points come every
  // second; the generous wait is for a loaded machine (a speed check this is not).
  const before = Number(await page.getAttribute('#traffic-chart', 'data-added'));
  try {
    await page.waitForFunction(
      (n) => Number(document.getElementById('traffic-chart').dataset.added) > n, before, { timeout: 15000 });
  } catch (_) { /* reported below */ }
  const after = Number(await page.getAttribute('#traffic-chart', 'data-added'));
  check(after > before, `traffic chart gains points from the event stream (${before} -> ${after})`);
  check((await page.textContent('#link-state')).trim() === 'live', 'event stream is live');

  // An alert shows up in the panel and its details open.
  // NETSENTRY_E2E_ALERT_TEXT: wait for the alert whose row holds this text (e.g. "port_scan").
  const wanted = process.env.NETSENTRY_E2E_ALERT_TEXT || '';
  const rowSelector = wanted ? `#alert-list .alert-row:has-text("${wanted}")` : '#alert-list .alert-row';
  let alertShown = false;
  try {
    await page.waitForSelector(rowSelector, { timeout: 20000 });
    alertShown = true;
  } catch (_) { /* reported below */ }
  check(alertShown, `an alert${wanted ? ` (${wanted})` : ''} appears in the Traffic Alerts panel`);
  if (alertShown) {
    await page.click(rowSelector);
    await page.waitForSelector('#alert-drawer.open', { timeout: 3000 });
    const reason = (await page.textContent('#drawer-reason')).trim();
    check(reason.length > 0, `alert details open with the reason ("${reason.slice(0, 60)}")`);
    const facts = await page.textContent('#drawer-facts');
    check(facts.includes('Subject'), 'alert details list the subject');
    // Its models: one of weight 0 in the loaded bundle is marked "(no vote)", the others are not.
    const drawerModels = await page.evaluate(async () => {
      const weights = new Map(((await (await fetch('/api/models', { credentials: 'same-origin' })).json()).models || [])
        .map((m) => [m.name, m.weight]));
      return Array.from(document.querySelectorAll('#drawer-models tbody tr'))
        .filter((tr) => tr.children.length === 4)
        .map((tr) => ({ text: tr.children[0].textContent, weight: weights.get(tr.children[0].firstChild.textContent) }));
    });
    for (const m of drawerModels.filter((x) => x.weight !== undefined)) {
      check(/\(no vote\)/.test(m.text) === (m.weight === 0), `the alert's model row "${m.text}" (weight ${m.weight}) is marked "(no vote)" only at weight 0`);
    }
    if (drawerModels.length) check(/models with a vote/.test(facts), 'the alert\'s votes count the models with a vote');
    await checkAlertEvidence(page, check, requestUrls);
    if (process.env.NETSENTRY_E2E_PCAP === '1') {
      // The packets behind the alert: the link is there and downloads a pcap file.
      const link = page.locator('#drawer-pcap');
      check(await link.isVisible(), 'alert details offer "Download packets (pcap)"');
      let magic = '';
      let name = '';
      try {
        const [download] = await Promise.all([
          page.waitForEvent('download', { timeout: 10000 }), link.click()]);
        name = download.suggestedFilename();
        magic = readFileSync(await download.path()).subarray(0, 4).toString('hex');
      } catch (e) { console.log(`pcap download: ${e.message}`); }
      check(/^netsentry-alert-\d+\.pcap$/.test(name), `the download is named netsentry-alert-ID.pcap (${name})`);
      check(['4d3cb2a1', 'd4c3b2a1'].includes(magic), `the download is a pcap file (magic ${magic})`);
    }
    const ack = page.locator('#drawer-ack');
    if (await ack.isEnabled()) {
      await ack.click();
      await page.waitForFunction(() => document.getElementById('drawer-ack').disabled, null, { timeout: 3000 });
      check(true, 'acknowledge button acknowledges the alert');
    }
    await page.click('#drawer-close');
  }

  await checkRiskiestHosts(page, check);
  await checkFiltersAndExport(page, check);
  await checkHostPage(page, check, screenshot.replace(/\.png$/, '-host.png'));
  await checkPastAlertHost(page, check);
  await checkTimeRange(page, check);
  await checkSuppression(page, check);

  // Markup in data is shown as text and never runs.
  const markup = await page.evaluate(() => {
    const rows = Array.from(document.querySelectorAll('#alert-list .reason'));
    const row = rows.find((r) => r.textContent.includes('<script>'));
    return {
      found: Boolean(row),
      scriptsInPanel: document.querySelectorAll('#alert-list script, #alert-drawer script').length,
      executed: window.__xss !== undefined,
    };
  });
  if (expectMarkup || markup.found) {
    check(markup.found, 'an alert reason holding <script> is displayed as text');
    check(markup.scriptsInPanel === 0, 'no <script> element was created from alert data');
    check(!markup.executed, 'the script in the alert reason did not run');
  }

  if (token) {
    const leaking = requestUrls.filter((u) => u.includes(token) || u.includes('token='));
    check(leaking.length === 0, `the token is in no request URL (${requestUrls.length} requests${leaking.length ? `; ${leaking[0]}` : ''})`);
  }
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot saved to ${screenshot}`);
  check(consoleErrors.length === 0, `no console errors${consoleErrors.length ? `: ${consoleErrors.join(' | ')}` : ''}`);
});
finish();
