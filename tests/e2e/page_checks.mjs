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
  const api = await page.evaluate(async () => (await (await fetch('/api/hosts?limit=20')).json()).hosts);
  const rows = await page.$$eval('#host-table tbody tr', (trs) => trs.map((tr) => ({
    host: tr.dataset.host,
    link: tr.querySelector('a.host-link') ? tr.querySelector('a.host-link').getAttribute('href') : '',
    score: tr.children[2].textContent,
    evidence: tr.children[4].textContent,
  })));
  // The panel follows the stream; compare the hosts the API and the panel have in common.
  const apiHosts = api.map((h) => h.host || h.interface);
  const common = rows.map((r) => r.host).filter((h) => apiHosts.includes(h));
  const order = common.map((h) => apiHosts.indexOf(h));
  check(common.length > 0 && order.every((v, i) => i === 0 || v > order[i - 1]),
    `hosts are shown in the API's order, riskiest first (${common.join(', ')})`);
  const first = rows.find((r) => r.link);
  check(Boolean(first) && first.link === `#/host/${encodeURIComponent(first.host)}`,
    `a host links to its host page (${first && first.link})`);
  const withEvidence = api.find((h) => (h.evidence || []).length > 0);
  if (withEvidence) {
    const row = rows.find((r) => r.host === (withEvidence.host || withEvidence.interface));
    check(Boolean(row) && row.evidence.includes(withEvidence.evidence[0].kind),
      `a host's row names its strongest evidence (${row && row.evidence.slice(0, 60)})`);
  }
}

// The open alert drawer lists the alert's evidence and the flows it references, with links.
export async function checkAlertEvidence(page, check) {
  const alert = await page.evaluate(async () => {
    const title = document.getElementById('drawer-title').textContent;
    const id = Number((title.match(/#(\d+)/) || [])[1]);
    return id ? (await fetch(`/api/alerts/${id}`)).json() : null;
  });
  if (!alert) {
    check(false, 'the alert drawer names an alert id');
    return;
  }
  const items = await page.$$eval('#drawer-why li', (lis) => lis.map((li) => li.textContent));
  const evidence = alert.evidence || [];
  check(items.length === Math.max(1, evidence.length) &&
    evidence.every((e, i) => items[i].includes(e.kind)),
  `the alert's evidence is listed (${evidence.length} in the API, ${items.length} shown)`);
  const refs = new Set();
  for (const e of evidence) for (const f of e.flows || []) refs.add(`${f.start_ns}|${f.src_ip}|${f.src_port}|${f.dst_ip}|${f.dst_port}`);
  const flowRows = await page.$$eval('#drawer-flows tbody tr', (trs) => trs.filter((tr) => tr.children.length > 1).length);
  check(flowRows === refs.size, `the flows behind the alert are listed (${refs.size} referenced, ${flowRows} shown)`);
}
