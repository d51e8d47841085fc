// The agent's status page in a real browser: Debian's chromium, headless,
// driven by playwright-core (tests/it/status_page.rs).
//
//   node status_page.js http://127.0.0.1:PORT/ SCREENSHOT.png
//
// Prints one JSON line: the charts drawn (their lines and how many points
// each path has), the "received" chart (legend and paths) at the start and
// ~4 s later, every request that went anywhere but the agent, every console
// error and page error.
"use strict";
const { chromium } = require("playwright-core");
const fs = require("fs");
const os = require("os");
const path = require("path");

async function main() {
  const [url, screenshot] = process.argv.slice(2);
  const origin = new URL(url).origin;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "ignis-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
    ],
    viewport: { width: 1280, height: 1100 },
  });
  const report = { foreign: [], console_errors: [], page_errors: [], failed: [] };
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    page.on("request", (request) => {
      const target = request.url();
      if (!target.startsWith(origin + "/") && !target.startsWith("data:")) report.foreign.push(target);
    });
    page.on("requestfailed", (request) => report.failed.push(`${request.url()}: ${request.failure().errorText}`));
    page.on("console", (message) => {
      if (message.type() === "error") report.console_errors.push(message.text());
    });
    page.on("pageerror", (error) => report.page_errors.push(String(error)));

    await page.goto(url, { waitUntil: "load" });
    // The charts are drawn from /api/history; wait until "received" has a line.
    await page.waitForSelector('[data-chart="received"] path[data-line]', { state: "attached", timeout: 20000 });
    // What the received chart shows: its legend and its lines' points.
    const received = () =>
      page.$eval('[data-chart="received"]', (card) => ({
        legend: card.querySelector(".legend").textContent,
        paths: [...card.querySelectorAll("path[data-line]")].map((p) => p.getAttribute("d")),
      }));
    report.received_before = await received();
    await page.waitForTimeout(4000);
    report.received_after = await received();
    report.charts = await page.$$eval("[data-chart]", (cards) =>
      cards.map((card) => ({
        id: card.getAttribute("data-chart"),
        title: card.querySelector("h3").firstChild.textContent,
        lines: [...card.querySelectorAll("path[data-line]")].map((p) => ({
          name: p.getAttribute("data-line"),
          points: (p.getAttribute("d").match(/[ML]/g) || []).length,
        })),
      })),
    );
    report.destinations = await page.$$eval("#destinations tbody tr", (rows) => rows.map((r) => r.textContent));
    report.ledger_rows = await page.$$eval("#ledger tbody tr", (rows) => rows.map((r) => r.textContent));
    report.ready = await page.$eval("#ready", (node) => node.textContent);
    report.updated = await page.$eval("#updated", (node) => node.textContent);
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await browser.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  console.log(JSON.stringify(report));
}

main().catch((error) => {
  console.log(JSON.stringify({ error: String(error && error.stack ? error.stack : error) }));
  process.exit(1);
});
