// Summary and live-viewer popups in Debian's chromium: "3 people signed up in the last 24
// hours" from the project's counts, once a visit, and "2 people are viewing this page right
// now" from the live visitors on the page.
// Usage: node summaries_e2e.mjs BASE_URL PUSH_SECRET [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { launchChromium } from "./chromium.mjs";
import { shopHelpers } from "./shop.mjs";
import { strict as assert } from "node:assert";

const [baseUrl, pushSecret, screenshots] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();
const { push, shot, shop, open, popup } = shopHelpers(browser, baseUrl, pushSecret, screenshots);

try {
  for (const name of ["Ann Lee", "Bo Kim", "Cy Ray"]) await push({ type: "signed_up", name });
  await push({ type: "purchased", name: "Di Fox", product: "Tent" });

  // The first visitor: three sign-ups is enough for a summary, one purchase is not; alone on
  // the page, no viewer count.
  const first = await open(await shop({ viewport: { width: 1280, height: 800 } }), "/shop/pricing");
  const summary = popup(first, "3 people signed up in the last 24 hours");
  await summary.waitFor({ timeout: 15000 });
  assert.equal(await summary.locator(".when").count(), 0, "a summary has no age");
  await shot(first, "popup-summary");

  // A second visitor on the same page, on a phone: both are counted.
  const phone = await shop({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const second = await open(phone, "/shop/pricing");
  const viewers = popup(second, "2 people are viewing this page right now");
  await viewers.waitFor({ timeout: 15000 });
  await shot(second, "popup-viewers-phone");

  // The first visitor reloads: the viewer count shows (two now), the summary does not again.
  await first.reload();
  await popup(first, "2 people are viewing this page right now").waitFor({ timeout: 15000 });
  const texts = await first.evaluate(() => window.__popupTexts);
  assert.ok(!texts.some((text) => text.includes("signed up")), `shown again: ${texts}`);
  assert.ok(!(await second.evaluate(() => window.__popupTexts)).some((text) => text.includes("purchase")),
    "one purchase is under the minimum");
  report.summaries = true;
  assert.deepEqual([...first.errors, ...second.errors], []);
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
