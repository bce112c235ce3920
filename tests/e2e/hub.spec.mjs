// Browser end-to-end test of a hub's page (`netsentry hub` with two sensors, north and south;
// tests/e2e/run_hub.sh starts everything): the sensor selector and the sensors table appear, the
// cross-sensor alert names both sensors, and choosing a sensor filters every panel to it.
//
// Environment:
//   NETSENTRY_URL         base URL of the hub's page (required)
//   NETSENTRY_SCREENSHOT  where to save the full-page screenshot (default /tmp/netsentry-hub.png)
//   CHROMIUM              browser binary (default /usr/bin/chromium)
// Exit status 0 when every check passes; each failure is printed on one line.
import { baseUrl, check, finish, withBrowser } from './browser.mjs';

const base = baseUrl('the hub page');
const screenshot = process.env.NETSENTRY_SCREENSHOT || '/tmp/netsentry-hub.png';
const browser = { profilePrefix: 'netsentry-e2e-hub-', viewport: { width: 1440, height: 1200 } };

await withBrowser(browser, async ({ page, consoleErrors }) => {
  // The hub may still be reading the stream: wait until both sensors are known.
  const deadline = Date.now() + 30000;
  let names = [];
  while (Date.now() < deadline) {
    const res = await page.request.get(new URL('/api/sensors', base).toString());
    names = ((await res.json()).sensors || []).map((s) => s.name);
    if (names.length >= 2) break;
    await new Promise((r) => setTimeout(r, 300));
  }
  check(names.join(',') === 'north,south', `the hub knows both sensors (${names.join(',')})`);

  const response = await page.goto(new URL('/', base).toString(), { waitUntil: 'domcontentloaded' });
  check(response && response.status() === 200, 'page answers 200');
  await page.waitForFunction(() => document.body.dataset.ready === 'true', null, { timeout: 15000 });

  // The selector and the per-sensor health table.
  await page.waitForSelector('#sensor-select:not([hidden])', { timeout: 10000 });
  const options = await page.$$eval('#sensor-select option', (os) => os.map((o) => o.value));
  check(options.join(',') === ',north,south', `sensor selector offers all, north, south (${options})`);
  const rows = await page.$$eval('#sensor-table tbody tr', (trs) => trs.map((tr) => tr.dataset.sensor));
  check(rows.join(',') === 'north,south', `sensors table lists both (${rows})`);
  const modes = await page.$$eval('#sensor-table tbody tr td:nth-child(2)', (tds) => tds.map((t) => t.textContent));
  check(modes.every((m) => m.startsWith('replay')), `each sensor's health shows its mode (${modes})`);

  // All sensors: the scanner both saw is one alert naming both.
  const cross = '#alert-list .alert-row:has-text("multi_sensor")';
  let crossShown = false;
  try {
    await page.waitForSelector(cross, { timeout: 20000 });
    crossShown = true;
  } catch (_) { /* reported below */ }
  check(crossShown, 'a multi_sensor alert is listed with every sensor');
  if (crossShown) {
    const text = await page.textContent(cross);
    check(text.includes('north, south'), `it names both sensors ("${text.slice(0, 80)}")`);
    await page.click(cross);
    await page.waitForSelector('#alert-drawer.open', { timeout: 3000 });
    const facts = await page.textContent('#drawer-facts');
    check(facts.includes('Sensors') && facts.includes('north, south'), 'its details list the sensors');
    await page.click('#drawer-close');
  }
  const allFlows = await page.$$eval('#flow-table tbody tr', (trs) => trs.length);
  check(allFlows > 0, `flows of every sensor are listed (${allFlows})`);

  // One sensor: every panel follows the selection.
  await page.selectOption('#sensor-select', 'south');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('sensor') === 'south',
    null, { timeout: 5000 });
  // The list is redrawn when the filtered answer arrives: until then it still shows every sensor's
  // alerts, so wait for the filtered list itself (a timeout leaves the check below to fail).
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('#alert-list .alert-row')];
    return rows.length > 0 && rows.every((r) => r.textContent.includes('south'));
  }, null, { timeout: 10000 }).catch(() => {});
  const alertTexts = await page.$$eval('#alert-list .alert-row', (as) => as.map((a) => a.textContent));
  check(alertTexts.length > 0 && alertTexts.every((t) => t.includes('south')),
    `with south selected every alert names south (${alertTexts.length})`);
  const southFlows = await page.evaluate(async () => {
    const res = await fetch('/api/flows?limit=1000&sensor=south');
    return (await res.json()).flows.map((f) => f.sensor);
  });
  check(southFlows.length > 0 && southFlows.every((s) => s === 'south'),
    `the API filters flows by sensor (${southFlows.length}, all south)`);
  const stats = await page.evaluate(async () => {
    const [all, south] = await Promise.all([fetch('/api/stats'), fetch('/api/stats?sensor=south')]);
    return [(await all.json()).flows_total, (await south.json()).flows_total];
  });
  check(stats[1] > 0 && stats[1] < stats[0], `south's flow total is its own share (${stats[1]} of ${stats[0]})`);
  // Outside the page (a failed fetch would be a console error there).
  const missing = (await page.request.get(new URL('/api/stats?sensor=nowhere', base).toString())).status();
  check(missing === 404, `an unknown sensor is a 404 (${missing})`);
  await page.waitForFunction(() => document.getElementById('link-state').textContent.trim() === 'live',
    null, { timeout: 5000 });
  check(true, 'the event stream of the selected sensor is live');

  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot saved to ${screenshot}`);
  check(consoleErrors.length === 0, `no console errors${consoleErrors.length ? `: ${consoleErrors.join(' | ')}` : ''}`);
});
finish();
