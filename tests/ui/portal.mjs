// node portal.mjs BASE_URL OUT_DIR TENANT USER PASSWORD LOT — the hub's portal as people use it.
import { browser, watch, shot, check, until } from "./common.mjs";

const [base, out, tenant, user, password, lot] = process.argv.slice(2);
const b = await browser();
let failed = false;
try {
  // The hub's development CA is not in Chromium's store; the test trusts it for this run only.
  const ctx = await b.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, viewport: { width: 1400, height: 1000 } });
  const page = await ctx.newPage();
  const errors = watch(page);

  await page.goto(`${base}/portal`);
  await page.waitForSelector("#login:not([hidden])");
  check(true, "an anonymous visitor is asked to log in");
  await page.fill("#password", "wrong password 123");
  await page.fill("#tenant", tenant);
  await page.fill("#username", user);
  await page.click("#login-form button[type=submit]");
  await until("the login error", async () => !(await page.isHidden("#error")));
  check(true, `a wrong password is refused: ${await page.textContent("#error")}`);
  errors.length = 0; // the refused login's 401 is the expected answer, not a page error
  await page.fill("#password", password);
  await page.click("#login-form button[type=submit]");
  await until("the plant view", async () => page.isVisible("#plant"));
  await until("the user name", async () => (await page.textContent("#who")).includes(user));
  check(true, "login shows who is logged in");

  // Plant: devices with sync health, a tag plotted, zoom by dragging.
  await until("the device list", async () => (await page.textContent("#devices")).includes("line-1"));
  check((await page.textContent("#devices")).includes("plc"), "devices and their streams are listed");
  await page.click('button[aria-label="Plot line-1 plc"]');
  await page.click('button[data-range="3600"]');
  // One hour at 12 s buckets: far more points than the first (24 h) view had.
  await until("the 1 h series plot", async () => ((await page.getAttribute("#plot polyline.line", "points")) || "").split(" ").length > 100);
  const before = await page.getAttribute("#plot polyline.line", "points");
  check(true, `the oven temperature is plotted (${before.split(" ").length} points in the last hour)`);
  const box = await page.locator("#plot svg").boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await until("the zoomed plot", async () => (await page.getAttribute("#plot polyline.line", "points")) !== before);
  check(true, "dragging across the chart zooms in");
  await shot(page, out, "portal-plant");

  // Traceability: the graph, a recall, the FSMA 204 download.
  await page.click('nav a[href="#/trace"]');
  await page.fill("#lot", lot);
  await page.click("#trace-form button[type=submit]");
  await until("the trace graph", async () => (await page.locator("#graph .node").count()) >= 3);
  const nodes = await page.locator("#graph .node").count();
  const edges = await page.locator("#graph .edge").count();
  check(edges >= nodes - 1, `the forward trace draws ${nodes} nodes and ${edges} edges`);
  check((await page.textContent("#trace-summary")).includes("nodes reached forward"), "the trace is summarised");
  await page.click("#recall");
  await until("the recall result", async () => (await page.textContent("#recall-result")).includes("Recall simulation"));
  check(true, "a recall simulation runs");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  const path = `${out}/fsma204.csv`;
  await download.saveAs(path);
  const { readFileSync } = await import("node:fs");
  const text = readFileSync(path, "utf8");
  check(text.split("\n").length > 2 && text.toLowerCase().includes("traceability lot code"), "the FSMA 204 spreadsheet downloads");
  await shot(page, out, "portal-trace");

  // Forecast fan chart.
  await page.click('nav a[href="#/forecasts"]');
  await until("the fan chart", async () => (await page.locator('#fan polygon[data-series="p10-p90"]').count()) === 1);
  check(await page.locator('#fan polyline[data-series="p50"]').count() === 1, "the forecast fan chart shows P10–P90 and P50");
  check(await page.locator('#fan polyline[data-series="history"]').count() === 1, "the fan chart starts from the history");
  await shot(page, out, "portal-forecast");

  // A production plan: runs per day and line, then signed into force with the password.
  await page.click('nav a[href="#/optimisation"]');
  await until("the plan grid", async () => (await page.locator("#opt-grid tbody tr").count()) === 5);
  check((await page.textContent("#opt-jobs")).includes("bakery-week"), "optimisation jobs are listed");
  check((await page.textContent("#opt-grid")).includes("⟲"), "the plan marks its allergen clean-downs");
  check((await page.textContent("#opt-active")).includes("No plan is in force"), "an unsigned plan is not in force");
  await page.fill("#opt-comment", "week 48");
  await page.fill("#opt-password", password);
  await page.click("#opt-sign button[type=submit]");
  await until("the plan in force", async () => (await page.textContent("#opt-active")).includes(`approved by ${user}`));
  check((await page.textContent("#opt-summary")).includes(`approve by ${user}`), "the signature is shown on the plan");
  await shot(page, out, "portal-plan");

  // Audit trail.
  await page.click('nav a[href="#/audit"]');
  await until("the audit status", async () => (await page.textContent("#audit-status")).includes("Verified"));
  // The entries are fetched after the verdict is shown: wait for them, do not sample once.
  await until("the audit entries", async () => (await page.locator("#audit-entries tbody tr").count()) > 0);
  check(true, "the audit trail is verified and its entries listed");
  await shot(page, out, "portal-audit");

  await page.click('nav a[href="#/optimisation"]');
  check((await page.textContent("#optimisation")).includes("not built yet"), "what is not built says so");

  // Keyboard: the navigation is reachable and labelled.
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement && document.activeElement !== document.body), "the keyboard reaches the controls");
  check(await page.getByLabel("Lot or EPC").count() === 1, "form controls are labelled");

  check(errors.length === 0, `no console errors${errors.length ? ": " + errors.join("; ") : ""}`);
} catch (e) {
  console.error(`FAILED: ${e.stack || e}`);
  failed = true;
} finally {
  await b.close();
}
process.exit(failed ? 1 : 0);
