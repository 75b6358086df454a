// A gateway's web page calling Horizon's API from Chromium: serves a page on
// each given port (each its own origin), opens it, and from the page
// submits a job and lists jobs with fetch(), as a gateway's front end would.
// Prints one JSON line per origin: what the page saw (a status and the
// headers it may read, or the browser's refusal).
//
//   HORIZON_URL=http://127.0.0.1:8080 HORIZON_TOKEN=… node cors.mjs 4101 4102
import http from "node:http";
import { chromium } from "playwright-core";

const api = process.env.HORIZON_URL;
const token = process.env.HORIZON_TOKEN;
const ports = process.argv.slice(2).map(Number);
if (!api || !token || ports.length === 0) {
  console.error("usage: HORIZON_URL=… HORIZON_TOKEN=… node cors.mjs PORT…");
  process.exit(2);
}

const servers = await Promise.all(
  ports.map(
    (port) =>
      new Promise((resolve) => {
        const server = http.createServer((_req, res) => {
          res.writeHead(200, { "content-type": "text/html" });
          res.end("<!doctype html><title>gateway</title><main>gateway page</main>");
        });
        server.listen(port, "127.0.0.1", () => resolve(server));
      }),
  ),
);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  for (const port of ports) {
    const page = await browser.newPage();
    const origin = `http://127.0.0.1:${port}`;
    await page.goto(`${origin}/`);
    const seen = await page.evaluate(
      async ({ api, token }) => {
        const call = async (path, init) => {
          try {
            const r = await fetch(api + path, init);
            return {
              status: r.status,
              location: r.headers.get("location"),
              correlation: r.headers.get("x-correlation-id"),
              body: await r.json(),
            };
          } catch (e) {
            return { refused: String(e) };
          }
        };
        const post = await call("/v1/jobs", {
          method: "POST",
          headers: {
            authorization: `Bearer ${token}`,
            "content-type": "application/json",
            "idempotency-key": `cors-${location.port}`,
          },
          body: JSON.stringify({ agent: "ok", dataset_id: `page-${location.port}`, parameters: { seconds: 0 } }),
        });
        const list = await call("/v1/jobs", { headers: { authorization: `Bearer ${token}` } });
        return { post, list };
      },
      { api, token },
    );
    console.log(JSON.stringify({ origin, ...seen }));
    await page.close();
  }
} finally {
  await browser.close();
  for (const server of servers) server.close();
}
