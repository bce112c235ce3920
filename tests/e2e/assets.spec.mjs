// Browser and HTTP checks of what makes the dashboard load fast (issue #5 §6): static files are
// served gzip-compressed when asked (decoding to the same bytes), carry an ETag that a revalidation
// answers with 304, the API is never compressed or cached, and the page sets the performance marks
// bench/dashboard_load measures ("netsentry:interactive" once the first data is shown, then
// "netsentry:charts"), interactive before the charts.
//
// Environment: NETSENTRY_URL (required), NETSENTRY_TOKEN, CHROMIUM (default /usr/bin/chromium).
// Exit status 0 when every check passes; each failure is printed on one line.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { baseUrl, check, failures, finish, launchChromium } from './browser.mjs';

const base = baseUrl('the dashboard base URL');
const token = process.env.NETSENTRY_TOKEN || '';

// One GET with exactly these headers (fetch() would decode and add its own Accept-Encoding).
function get(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base);
    if (token && path.startsWith('/api/')) headers = Object.assign({ Authorization: `Bearer ${token}` }, headers);
    const req = request(url, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

try {
  for (const path of ['/', '/app.js', '/style.css', '/vendor/plotly.min.js']) {
    const plain = await get(path, { 'Accept-Encoding': 'identity' });
    const gz = await get(path, { 'Accept-Encoding': 'gzip, deflate, br' });
    check(plain.status === 200 && !plain.headers['content-encoding'],
      `${path}: plain when gzip is not accepted (${plain.status}, ${plain.headers['content-encoding'] || 'identity'})`);
    check(gz.headers['content-encoding'] === 'gzip', `${path}: gzip when accepted (got ${gz.headers['content-encoding']})`);
    if (gz.headers['content-encoding'] === 'gzip') {
      check(gunzipSync(gz.body).equals(plain.body),
        `${path}: the gzip body decodes to the file (${gz.body.length} -> ${plain.body.length} bytes)`);
    }
    const refused = await get(path, { 'Accept-Encoding': 'gzip;q=0, identity' });
    check(!refused.headers['content-encoding'], `${path}: plain when gzip has q=0`);
    const etag = plain.headers.etag;
    check(Boolean(etag) && etag === gz.headers.etag, `${path}: one ETag for both encodings (${etag})`);
    const again = await get(path, { 'If-None-Match': etag, 'Accept-Encoding': 'gzip' });
    check(again.status === 304 && again.body.length === 0, `${path}: If-None-Match answers 304 without a body (${again.status})`);
  }
  const stale = await get('/app.js', { 'If-None-Match': '"not-the-tag"' });
  check(stale.status === 200 && stale.body.length > 0, 'a different ETag gets the file');
  const api = await get('/api/stats', { 'Accept-Encoding': 'gzip, br' });
  check(api.status === 200 && !api.headers['content-encoding'] && api.headers['cache-control'] === 'no-store',
    `/api/stats: not compressed, not cached (${api.headers['content-encoding'] || 'identity'}, ${api.headers['cache-control']})`);

  const profile = mkdtempSync(join(tmpdir(), 'netsentry-e2e-'));
  let context;
  try {
    context = await launchChromium(profile, { width: 1440, height: 1000 });
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    const url = new URL('/', base);
    if (token) {
      await context.setExtraHTTPHeaders({ Authorization: `Bearer ${token}` });
    }
    await page.goto(url.toString(), { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(() => document.body.dataset.chartsReady === 'true', null, { timeout: 20000 });
    const marks = await page.evaluate(() => ({
      interactive: performance.getEntriesByName('netsentry:interactive', 'mark').map((m) => m.startTime),
      charts: performance.getEntriesByName('netsentry:charts', 'mark').map((m) => m.startTime),
      stats: document.getElementById('stat-packets').textContent.trim(),
      points: Number(document.getElementById('traffic-chart').dataset.points),
    }));
    check(marks.interactive.length === 1, `the page marks "netsentry:interactive" once (${marks.interactive.length})`);
    check(marks.charts.length === 1, `the page marks "netsentry:charts" once (${marks.charts.length})`);
    check(marks.interactive[0] < marks.charts[0],
      `interactive (${Math.round(marks.interactive[0])} ms) comes before the charts (${Math.round(marks.charts[0])} ms)`);
    check(marks.stats !== '–' && marks.stats !== '', `statistics are shown at the interactive mark (packets: ${marks.stats})`);
    check(marks.points > 0, `the traffic chart is drawn with the fetched points (${marks.points})`);
    check(errors.length === 0, `no console errors${errors.length ? `: ${errors.join(' | ')}` : ''}`);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
} catch (err) {
  failures.push(err.message);
  console.log(`FAIL ${err.message}`);
}

finish();
