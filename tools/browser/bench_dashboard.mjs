// The dashboard with a large database, timed in Debian's Chromium
// (scripts/bench.sh dashboard): sign-in click → the jobs table's first
// rows on screen, and a filter change (a dataset) → the narrowed table.
// Prints one JSON line per run: {"first_render_ms", "filter_ms"}.
//   HORIZON_URL=… HORIZON_TOKEN=… DATASET=… RUNS=3 node bench_dashboard.mjs
import { chromium } from "playwright-core";

const url = process.env.HORIZON_URL;
const token = process.env.HORIZON_TOKEN;
const dataset = process.env.DATASET;
const runs = Number(process.env.RUNS ?? "3");
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  for (let run = 1; run <= runs; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${url}/`);
    await page.getByLabel("Token").fill(token);
    const signIn = performance.now();
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.locator("tr[data-job]").first().waitFor({ timeout: 60_000 });
    const firstRender = performance.now() - signIn;
    const before = await page.locator("tr[data-job]").count();
    const input = page.locator('input[name="dataset"]');
    await input.fill(dataset);
    const filter = performance.now();
    await input.press("Tab");
    await page.waitForFunction(
      (wanted) => {
        const cells = [...document.querySelectorAll("tr[data-job] td:nth-child(3)")];
        return cells.length > 0 && cells.every((c) => c.textContent === wanted);
      },
      dataset,
      { timeout: 60_000 },
    );
    const filtered = performance.now() - filter;
    console.log(JSON.stringify({ run, first_render_ms: Math.round(firstRender), filter_ms: Math.round(filtered), rows_before: before }));
    await context.close();
  }
} finally {
  await browser.close();
}
