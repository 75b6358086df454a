// The System page for an admin, in Debian's Chromium (playwright-core;
// crates/horizon/tests/dashboard.rs starts a server whose Kafka refuses one
// event): the processes and the relay's leader, depth and lag are shown; the
// parked event is listed, and its Retry button sends it again.
// Prints one JSON object.
//   HORIZON_URL=… HORIZON_ADMIN_TOKEN=… PARKED_JOB=… node system.mjs
import { chromium } from "playwright-core";

const url = process.env.HORIZON_URL;
const token = process.env.HORIZON_ADMIN_TOKEN;
const job = process.env.PARKED_JOB;
if (!url || !token || !job) {
  console.error("usage: HORIZON_URL=… HORIZON_ADMIN_TOKEN=… PARKED_JOB=… node system.mjs");
  process.exit(2);
}
const result = { errors: [] };
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => result.errors.push(String(e)));
  await page.goto(`${url}/`);
  await page.getByLabel("Token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "System" }).click();
  await page.locator("tr[data-process]").first().waitFor({ timeout: 20_000 });
  result.processes = await page.locator("tr[data-process]").count();
  result.leaders = await page.locator('tr[data-process][data-leads="true"]').count();
  result.processRow = await page.locator("tr[data-process]").first().textContent();
  result.leader = await page.getByTestId("relay-leader").textContent();
  result.depth = await page.getByTestId("outbox-depth").textContent();
  result.lag = await page.getByTestId("relay-lag").textContent();
  const row = page.locator('tr[data-parked="job.submitted"]');
  await row.waitFor({ timeout: 20_000 });
  result.parkedRows = await page.locator("tr[data-parked]").count();
  result.rowText = await row.textContent();
  await row.getByRole("button", { name: "Retry" }).click();
  const status = page.getByRole("status");
  await status.waitFor({ timeout: 10_000 });
  result.message = await status.textContent();
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
