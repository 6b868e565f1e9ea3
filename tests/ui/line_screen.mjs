// node line_screen.mjs BASE_URL OUT_DIR — the edge's line screen as an operator uses it; FOODFLOW_UI_PIN is
// the PIN of the box's operator "Ana Operator".
import { browser, watch, shot, check, until } from "./common.mjs";

const [base, out] = process.argv.slice(2);
const b = await browser();
let failed = false;
try {
  const page = await b.newPage({ viewport: { width: 1600, height: 1000 } });
  const errors = watch(page);
  await page.goto(`${base}/screen`);
  await until("the live stream", async () => (await page.textContent("#link")).includes("live"));
  check(true, "the screen connects to its event stream");

  // Values that change.
  const tile = '[data-tag="line1.filler.weight"] .value';
  await page.waitForSelector(tile, { timeout: 15000 });
  const first = await page.textContent(tile);
  await until("the weight tile to change", async () => (await page.textContent(tile)) !== first);
  check(true, `a live tag tile changes (${first} → ${await page.textContent(tile)})`);
  const points = await page.getAttribute('[data-tag="line1.filler.weight"] polyline', "points");
  check(points && points.split(" ").length > 3, "the tile draws a sparkline");
  await until("the line state", async () => (await page.textContent("#state")).includes("RUNNING"));
  check((await page.textContent("#batch")) === "B-0042", "the current batch is shown");
  check((await page.textContent("#lot")) === "L-2026-11-23-A", "the current lot is shown");
  await until("a speed", async () => /\d/.test(await page.textContent("#speed")));
  check(true, `speed ${await page.textContent("#speed")}/min, OEE ${await page.textContent("#oee")}`);

  // An alarm appears; acknowledging needs a name and the operator's PIN; then it is recorded.
  const alarm = '[data-rule="oven-high"]';
  await page.waitForSelector(alarm, { timeout: 20000 });
  check((await page.textContent(alarm)).includes("CRITICAL"), "the oven alarm appears, marked critical in words");
  await shot(page, out, "line-screen-alarm");
  await page.fill("#operator", "");
  await page.click(`${alarm} button`);
  check((await page.textContent("#ack-msg")).includes("Type your name"), "acknowledging without a name asks for one");
  await page.fill("#operator", "Ana Operator");
  await page.fill("#pin", "");
  await page.click(`${alarm} button`);
  check((await page.textContent("#ack-msg")).includes("Type your PIN"), "acknowledging without a PIN asks for one");
  await page.fill("#pin", "000000");
  await page.click(`${alarm} button`);
  await until("the refusal", async () => (await page.textContent("#ack-msg")).includes("wrong PIN"));
  check(!(await page.textContent(alarm)).includes("acknowledged by"), "a wrong PIN acknowledges nothing");
  // The refused acknowledgement's 401 is the expected answer, not a page error.
  errors.splice(0, errors.length, ...errors.filter((e) => !e.includes("status of 401")));
  await page.fill("#pin", process.env.FOODFLOW_UI_PIN);
  await page.click(`${alarm} button`);
  await until("the acknowledgement", async () => (await page.textContent(alarm)).includes("acknowledged by Ana Operator"));
  check(true, "the alarm shows who acknowledged it");
  await shot(page, out, "line-screen-acknowledged");

  // Vision: the label camera reads the batch's code; the biscuit camera rejects a broken one.
  const label = '[data-camera="label"] .verdicts';
  await until("the label camera's reading", async () => /matches the batch code/.test(await page.textContent(label).catch(() => "")), 60000);
  // Spaces aside: PP-OCRv4 reads them unreliably (codes compare without them).
  check((await page.textContent(label)).includes("✓ OK") && (await page.textContent(label)).replace(/\s/g, "").includes("EXP2027-03-15"),
    `the label camera shows the code it read and that it matches (${await page.textContent(label)})`);
  const biscuits = '[data-camera="biscuits"] .verdicts';
  await until("the biscuit camera's verdict", async () => /REJECT/.test(await page.textContent(biscuits).catch(() => "")), 60000);
  check((await page.textContent(biscuits)).includes("anomalous: score"), "a broken biscuit is rejected, in words, with its score");
  await until("a camera frame", async () => page.evaluate(() => {
    const img = document.querySelector('[data-camera="biscuits"] img');
    return img && img.complete && img.naturalWidth > 0;
  }));
  check(true, "the camera's newest frame is shown");
  await shot(page, out, "line-screen-vision");

  // Touch targets and labels.
  for (const sel of ["#operator", "#kiosk"]) {
    const box = await page.locator(sel).boundingBox();
    check(box.height >= 48 && box.width >= 48, `${sel} is at least 48 × 48 px (${Math.round(box.width)} × ${Math.round(box.height)})`);
  }
  check(await page.getByLabel("Operator").count() === 1, "the operator field is labelled");
  // From the top of the page (a click on the title sets where keyboard navigation starts).
  await page.click("h1");
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement !== document.body), "the keyboard reaches the controls");

  // Kiosk mode.
  await page.goto(`${base}/screen?kiosk=1`);
  await until("kiosk mode", async () => page.evaluate(() => document.body.classList.contains("kiosk")));
  await until("the live stream in kiosk mode", async () => (await page.textContent("#link")).includes("live"));
  check(!(await page.isVisible("#kiosk")), "kiosk mode hides its own button");
  await shot(page, out, "line-screen-kiosk");

  check(errors.length === 0, `no console errors${errors.length ? ": " + errors.join("; ") : ""}`);
} catch (e) {
  console.error(`FAILED: ${e.stack || e}`);
  failed = true;
} finally {
  await b.close();
}
process.exit(failed ? 1 : 0);
