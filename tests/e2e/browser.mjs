// The preamble the browser specs share: the base URL from NETSENTRY_URL, the one-line check
// report, a headless Chromium in a throw-away profile with the page's errors collected, and the
// exit status. Each spec is its own node process, so the list of failures is this module's.
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// playwright-core is installed in web/ (web/package.json), not beside this file.
const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

// NETSENTRY_URL; without it, one line saying what it should name and exit status 2.
export function baseUrl(what) {
  const base = process.env.NETSENTRY_URL;
  if (!base) {
    console.error(`NETSENTRY_URL is not set (${what}, e.g. http://127.0.0.1:8050)`);
    process.exit(2);
  }
  return base;
}

export const failures = [];
export const check = (ok, message) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${message}`);
  if (!ok) failures.push(message);
};

// Debian's chromium, headless, in the profile folder `profile`.
export function launchChromium(profile, viewport) {
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

// Runs body({ context, page, consoleErrors }) in a fresh browser whose profile folder starts with
// `profilePrefix`. consoleErrors collects console errors (but those ignoreConsoleError(msg)
// accepts), page errors and failed requests (but the event stream's, torn down at the end). An
// exception is one failure; the browser and its profile are removed in every case.
export async function withBrowser({ profilePrefix, viewport, ignoreConsoleError = () => false }, body) {
  const profile = mkdtempSync(join(tmpdir(), profilePrefix));
  let context;
  try {
    context = await launchChromium(profile, viewport);
    const page = context.pages()[0] || await context.newPage();
    const consoleErrors = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !ignoreConsoleError(msg)) consoleErrors.push(msg.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => {
      if (!req.url().includes('/api/events')) consoleErrors.push(`request failed: ${req.url()}`);
    });
    await body({ context, page, consoleErrors });
  } catch (err) {
    failures.push(err.message);
    console.log(`FAIL ${err.message}`);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// Ends the spec: exit status 1 with the number of failed checks, or "all checks passed".
export function finish() {
  if (failures.length) {
    console.log(`${failures.length} check(s) failed`);
    process.exit(1);
  }
  console.log('all checks passed');
}
