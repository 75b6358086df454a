// The dashboard in Debian's Chromium, as a person uses it (driven by
// playwright-core; crates/horizon/tests/dashboard.rs starts the server and
// checks what this prints): sign in with a token; a job the CLI submits
// appears and moves to COMPLETED without a reload, its log lines appearing
// live on its page; a job is cancelled from its page with a reason; the
// status filter narrows the table; another user's job is never shown; the
// System page for an admin. axe-core checks every page; screenshots go to
// SCREENSHOTS. Prints one JSON object.
//
//   HORIZON_URL=… HORIZON_TOKEN=… HORIZON_ADMIN_TOKEN=… HORIZON_BIN=… \
//   OTHER_JOB=… SCREENSHOTS=dir node dashboard.mjs
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("HORIZON_URL");
const token = env("HORIZON_TOKEN");
const adminToken = env("HORIZON_ADMIN_TOKEN");
const bin = env("HORIZON_BIN");
const otherJob = env("OTHER_JOB");
const shots = process.env.SCREENSHOTS;
const result = { statuses: [], reloaded: false, logLines: 0, timeline: [], axe: {}, errors: [] };

const cli = (...args) => {
  const out = spawnSync(bin, args, { env: { ...process.env, HORIZON_URL: url, HORIZON_TOKEN: token }, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`horizon ${args.join(" ")}: ${out.stderr}`);
  return out.stdout;
};

async function axe(page, name) {
  await page.addScriptTag({ path: require.resolve("axe-core/axe.min.js") });
  const found = await page.evaluate(async () => {
    const report = await globalThis.axe.run(document, { resultTypes: ["violations"] });
    return report.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
  });
  result.axe[name] = found;
}

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  // axe-core is injected as a script: the page's own policy allows none
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => result.errors.push(String(e)));
  // (a refused request is logged by Chromium too: the non-admin's 403s are by design)
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && result.errors.push(m.text()));

  // sign in
  await page.goto(`${url}/`);
  await axe(page, "signin");
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  await page.evaluate(() => { globalThis.__stillHere = true; });

  // a job from the CLI appears and ends, live
  const submitted = JSON.parse(cli("submit", "--agent", "chatty", "--dataset", "dash-live", "--param", "lines=10", "--param", "interval=0.5", "--json"));
  const row = page.locator(`tr[data-job="${submitted.id}"] [data-status]`);
  await row.waitFor({ timeout: 20_000 });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const status = await row.getAttribute("data-status");
    if (status && result.statuses.at(-1) !== status) result.statuses.push(status);
    if (status === "COMPLETED" || status === "FAILED" || Date.now() > deadline) break;
    await page.waitForTimeout(50);
  }
  result.reloaded = !(await page.evaluate(() => globalThis.__stillHere === true));
  result.otherJobShown = (await page.locator(`tr[data-job="${otherJob}"]`).count()) > 0;
  await axe(page, "jobs");
  await shot(page, "dashboard-jobs");

  // its page, with a job that is still writing: log lines arrive live
  const live = JSON.parse(cli("submit", "--agent", "chatty", "--dataset", "dash-log", "--param", "lines=12", "--param", "interval=0.4", "--json"));
  result.liveId = live.id;
  await page.goto(`${url}/ui/#/jobs/${live.id}`);
  await page.getByTestId("job-status").waitFor();
  const log = page.getByTestId("log");
  await page.waitForFunction(() => (document.querySelector('[data-testid="log"]')?.textContent ?? "").includes("line 2"), null, { timeout: 30_000 });
  result.logWhileRunning = await page.getByTestId("job-status").getAttribute("data-status");
  await page.waitForFunction(() => document.querySelector('[data-testid="job-status"]')?.getAttribute("data-status") === "COMPLETED", null, { timeout: 60_000 });
  await page.waitForFunction(() => (document.querySelector('[data-testid="log"]')?.textContent ?? "").includes("line 12"), null, { timeout: 30_000 });
  result.logLines = ((await log.textContent()) ?? "").split("\n").filter((l) => l.startsWith("line ")).length;
  await page.getByRole("heading", { name: "CPU and memory" }).waitFor({ timeout: 10_000 });
  result.chartCanvases = await page.locator(".chart canvas").count();
  result.timeline = await page.locator('[data-testid="timeline"] li').evaluateAll((items) => items.map((i) => i.getAttribute("data-event")));
  await axe(page, "job");
  await shot(page, "dashboard-job");

  // clone it from its page: the new job's page opens, linked both ways
  await page.getByRole("button", { name: "Clone" }).click();
  await page.waitForFunction((original) => location.hash.startsWith("#/jobs/") && !location.hash.endsWith(original), live.id, { timeout: 10_000 });
  result.cloneId = await page.evaluate(() => location.hash.slice("#/jobs/".length));
  await page.getByRole("link", { name: live.id }).waitFor({ timeout: 10_000 });
  result.cloneLinksBack = true;

  // cancel from the page, with a reason
  const sleeper = JSON.parse(cli("submit", "--agent", "sleep", "--dataset", "dash-cancel", "--param", "seconds=120", "--json"));
  result.cancelled = sleeper.id;
  await page.goto(`${url}/ui/#/jobs/${sleeper.id}`);
  await page.getByLabel("Reason").fill("cancelled from the dashboard");
  await page.getByRole("button", { name: "Cancel job" }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="job-status"]')?.getAttribute("data-status") === "CANCELLED", null, { timeout: 30_000 });

  // the status filter narrows the table
  await page.goto(`${url}/ui/#/jobs`);
  await page.getByRole("heading", { name: "Jobs" }).waitFor();
  await page.locator("tr[data-job]").first().waitFor();
  result.rowsBefore = await page.locator("tr[data-job]").count();
  await page.getByRole("checkbox", { name: "CANCELLED" }).check();
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll("tr[data-job] [data-status]")];
    return rows.length > 0 && rows.every((r) => r.getAttribute("data-status") === "CANCELLED");
  }, null, { timeout: 20_000 });
  result.rowsCancelled = await page.locator("tr[data-job]").count();

  // per agent: outcomes, success rate, times
  await page.getByRole("link", { name: "Agents" }).click();
  await page.getByRole("heading", { name: "Agents" }).waitFor();
  await page.locator('tr[data-agent="chatty"]').waitFor({ timeout: 10_000 });
  result.chattySuccess = await page.locator('tr[data-agent="chatty"] [data-testid="success-rate"]').textContent();
  result.agentsChart = await page.locator('[data-testid="outcomes-chart"] canvas').count();
  await axe(page, "agents");
  await shot(page, "dashboard-agents");

  // an admin's System page
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Token").fill(adminToken);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "System" }).click();
  await page.getByRole("heading", { name: "System" }).waitFor();
  await page.getByRole("heading", { name: "Latest audit records" }).waitFor();
  // (rendered at once; its value once /readyz answered)
  await page.waitForFunction(() => (document.querySelector('[data-testid="readiness"]')?.textContent ?? "—") !== "—", null, { timeout: 10_000 });
  result.readiness = await page.getByTestId("readiness").textContent();
  await axe(page, "system");
  await shot(page, "dashboard-system");

  // and a phone's width, in the dark
  const phone = await browser.newContext({ bypassCSP: true, viewport: { width: 390, height: 844 }, colorScheme: "dark" });
  const small = await phone.newPage();
  await small.goto(`${url}/`);
  await small.getByLabel("Token").fill(token);
  await small.getByRole("button", { name: "Sign in" }).click();
  await small.locator("tr[data-job]").first().waitFor();
  await axe(small, "jobs-dark-phone");
  await shot(small, "dashboard-phone-dark");
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
