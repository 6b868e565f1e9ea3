// Shared by the browser tests: Debian's Chromium (never a downloaded browser), console errors
// collected, screenshots written where the Rust harness keeps artifacts.
import { chromium } from "playwright-core";
import path from "node:path";

export async function browser() {
  return chromium.launch({
    executablePath: process.env.FOODFLOW_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
}

export function watch(page) {
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(`console: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    // An event stream closed when the page navigates away is not an error.
    if (!r.url().endsWith("/screen/events")) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return errors;
}

export async function shot(page, dir, name) {
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

export function check(cond, message) {
  if (!cond) throw new Error(message);
  console.log(`ok: ${message}`);
}

export async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try { last = await fn(); if (last) return last; } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}
