// Proactive messages in Debian's chromium, at 1280×800 and 390×844: the owner adds one in the
// dashboard's settings; on a shop page it shows above the closed bubble after its seconds,
// opening it (by the message or the bubble) shows it in the chat as the first words, ✕
// dismisses it, and "once a visit" / "once a day" hold across reloads and tabs; the overview
// counts what visitors did.
// Usage: node proactive_e2e.mjs BASE_URL OWNER_EMAIL OWNER_PASSWORD [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { strict as assert } from "node:assert";
import { launchChromium } from "./chromium.mjs";
import { shopHelpers } from "./shop.mjs";

const [baseUrl, ownerEmail, ownerPassword, screenshots] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();
const { shot, shop } = shopHelpers(browser, baseUrl, null, screenshots);
const PRICING = "Questions about our plans? Ask me here.";
const EVERYWHERE = "Need a hand finding something?";

const login = await fetch(`${baseUrl}/api/admin/auth/login`, {
  method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ email: ownerEmail, password: ownerPassword }),
});
const { accessToken } = await login.json();
const auth = { Authorization: `Bearer ${accessToken}` };

// The widget's parts, and where the nudge sits against the bubble and the screen.
const widget = (page, selector, options) => page.locator(`#helpyap-widget ${selector}`, options);
async function placement(page, viewport) {
  const nudge = await widget(page, ".nudge").boundingBox();
  const bubble = await widget(page, ".launcher").boundingBox();
  assert.ok(nudge.y + nudge.height <= bubble.y, `above the bubble: ${JSON.stringify({ nudge, bubble })}`);
  assert.ok(nudge.x >= 0 && nudge.x + nudge.width <= viewport.width, `on screen: ${JSON.stringify(nudge)}`);
  return { nudge, bubble };
}
// Page-clock times (performance.now()) of the widget's first mount and the first nudge.
const watchNudge = (context) => context.addInitScript(() => {
  new MutationObserver(() => {
    const root = document.querySelector("#helpyap-widget")?.shadowRoot;
    if (!root || root.__nudgeWatch) return;
    root.__nudgeWatch = true;
    window.__mountedAt = performance.now();
    new MutationObserver(() => {
      if (root.querySelector(".nudge")) window.__nudgeAt ??= performance.now();
    }).observe(root, { childList: true });
  }).observe(document, { childList: true, subtree: true });
});
const times = (page) => page.evaluate(() => ({ mounted: window.__mountedAt, nudge: window.__nudgeAt,
  hidden: window.__hiddenAt, visible: window.__visibleAt }));
// The tab hidden or shown, as a browser tells a page its tab went to the background.
const setHidden = (page, hidden) => page.evaluate((hidden) => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
  window[hidden ? "__hiddenAt" : "__visibleAt"] = performance.now();
  document.dispatchEvent(new Event("visibilitychange"));
}, hidden);
async function figures() {
  const analytics = await (await fetch(`${baseUrl}/api/admin/projects/demo/analytics?days=1`, { headers: auth })).json();
  return Object.fromEntries(analytics.proactive.map(({ rule, shown, opened, dismissed }) =>
    [rule, { shown, opened, dismissed }]));
}
async function waitForFigures(expected) {
  const deadline = Date.now() + 15000;
  let found;
  while (Date.now() < deadline) {
    found = await figures();
    if (JSON.stringify(found) === JSON.stringify(expected)) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.deepEqual(found, expected);
}

try {
  // The owner adds the messages in the dashboard: one for the pricing page, one everywhere.
  const admin = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await admin.goto(`${baseUrl}/admin`);
  await admin.getByLabel("Email").fill(ownerEmail);
  await admin.getByLabel("Password").fill(ownerPassword);
  await admin.getByRole("button", { name: "Sign in" }).click();
  await admin.getByRole("link", { name: "Widget settings" }).click();
  await admin.getByRole("heading", { name: "Widget settings" }).waitFor();
  for (const [message, page, after, often, id] of [
    [PRICING, "/shop/pricing", "2", "visit", "pricing"], [EVERYWHERE, "/shop/*", "1", "day", "everywhere"]]) {
    await admin.getByRole("button", { name: "Add a message" }).click();
    const row = admin.locator(".rule").last();
    await row.getByLabel("Message").fill(message);
    await row.getByLabel("On pages").fill(page);
    await row.getByLabel("After (seconds on the page)").fill(after);
    await row.getByLabel("Shown").selectOption(often);
    await row.getByLabel("Name in the figures").fill(id);
  }
  await admin.locator(".rule").last().scrollIntoViewIfNeeded();
  await shot(admin, "admin-settings-proactive");
  await admin.getByRole("button", { name: "Save settings" }).click();
  await admin.getByText("Saved: visitors see the new settings now.").waitFor();
  const saved = await (await fetch(`${baseUrl}/api/admin/projects/demo`, { headers: auth })).json();
  assert.deepEqual(saved.proactive, [
    { id: "pricing", page: "/shop/pricing", afterSeconds: 2, message: PRICING, frequency: "visit" },
    { id: "everywhere", page: "/shop/*", afterSeconds: 1, message: EVERYWHERE, frequency: "day" },
  ]);
  report.saved = saved.proactive.length;

  // Laptop: the pricing message, opened by clicking it.
  const desktopSize = { width: 1280, height: 800 };
  const desktop = await shop({ viewport: desktopSize });
  await watchNudge(desktop);
  const page = await desktop.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${baseUrl}/shop/pricing`);
  await widget(page, ".nudge").waitFor({ timeout: 10000 });
  const desktopTimes = await times(page);
  report.desktopAfterMs = Math.round(desktopTimes.nudge - desktopTimes.mounted);
  assert.ok(report.desktopAfterMs >= 1950, `after its 2 seconds, not ${report.desktopAfterMs} ms`);
  assert.equal(await widget(page, ".nudge .say").innerText(), `Support Bot\n${PRICING}`);
  report.desktop = await placement(page, desktopSize);
  await shot(page, "widget-proactive-desktop");
  await widget(page, ".nudge .say").click();
  await widget(page, ".panel:not([hidden])").waitFor();
  assert.equal(await widget(page, ".nudge").count(), 0);
  // The chat opens with the message as the assistant's first words, the input focused.
  await widget(page, ".msg.welcome", { hasText: PRICING }).waitFor();
  assert.equal(await widget(page, ".msg.welcome").textContent(), PRICING);
  assert.equal(await page.evaluate(() => document.querySelector("#helpyap-widget").shadowRoot.activeElement?.tagName),
    "TEXTAREA");
  await widget(page, "header button[aria-label='Close chat']").click();

  // A reload in the same visit: the pricing message was had; the one for every page shows, and
  // ✕ dismisses it, keyboard focus going to the bubble.
  await page.reload();
  const next = widget(page, ".nudge", { hasText: EVERYWHERE });
  await next.waitFor({ timeout: 10000 });
  await widget(page, ".nudge .close").click();
  await next.waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.querySelector("#helpyap-widget").shadowRoot.activeElement?.className),
    "launcher right");
  // Again: both were had (this visit; today). Nothing shows past both their times.
  await page.reload();
  await widget(page, ".launcher").waitFor();
  await page.waitForTimeout(3000);
  assert.equal(await widget(page, ".nudge").count(), 0, "a message had this visit shows once");
  // A new tab is a new visit: the pricing message again; the daily one not on another page.
  const other = await desktop.newPage();
  await other.goto(`${baseUrl}/shop/jacket`);
  await widget(other, ".launcher").waitFor();
  await other.waitForTimeout(2000);
  assert.equal(await widget(other, ".nudge").count(), 0, "once a day");
  await other.goto(`${baseUrl}/shop/pricing`);
  await widget(other, ".nudge", { hasText: PRICING }).waitFor({ timeout: 10000 });
  report.newVisit = true;
  assert.deepEqual(errors, []);
  // The browser sends its reports as beacons after the fact: closing the tabs before they
  // arrive would drop them, so the figures are awaited first.
  await waitForFigures({
    pricing: { shown: 2, opened: 1, dismissed: 0 },
    everywhere: { shown: 1, opened: 0, dismissed: 1 },
  });
  await desktop.close();

  // Phone: time in a background tab does not count; above the bubble, on screen; a remount (a
  // new locale) keeps it; opening the chat by the bubble counts as opening it.
  const phoneSize = { width: 390, height: 844 };
  const phone = await shop({ viewport: phoneSize, isMobile: true, hasTouch: true });
  await watchNudge(phone);
  const small = await phone.newPage();
  await small.goto(`${baseUrl}/shop/pricing`);
  await widget(small, ".launcher").waitFor();
  await setHidden(small, true);
  await small.waitForTimeout(3000);
  assert.equal(await widget(small, ".nudge").count(), 0, "not while the tab is in the background");
  await setHidden(small, false);
  await widget(small, ".nudge", { hasText: PRICING }).waitFor({ timeout: 10000 });
  const phoneTimes = await times(small);
  report.phoneVisibleMs = Math.round(phoneTimes.hidden - phoneTimes.mounted + phoneTimes.nudge - phoneTimes.visible);
  assert.ok(report.phoneVisibleMs >= 1950, `2 seconds of the tab in view, not ${report.phoneVisibleMs} ms`);
  report.phone = await placement(small, phoneSize);
  await shot(small, "widget-proactive-phone");
  await small.evaluate(() => window.HelpYap.setLocale("de"));
  await widget(small, ".nudge .close[aria-label='Diese Nachricht schließen']").waitFor();
  assert.equal(await widget(small, ".nudge").count(), 1);
  await widget(small, ".launcher").click();
  await widget(small, ".msg.welcome", { hasText: PRICING }).waitFor();
  report.figures = await waitForFigures({
    pricing: { shown: 3, opened: 2, dismissed: 0 },
    everywhere: { shown: 1, opened: 0, dismissed: 1 },
  });
  await phone.close();
  // The overview shows them.
  await admin.getByRole("link", { name: "Overview" }).click();
  const card = admin.locator(".card", { has: admin.getByRole("heading", { name: "Proactive messages" }) });
  await card.locator("tbody tr").first().waitFor();
  report.overview = await card.locator("tbody tr").allInnerTexts();
  assert.match(report.overview[0], /^pricing\n.*Questions about our plans\? Ask me here\.\t3\t2\t66\.7%\t0$/s);
  await card.scrollIntoViewIfNeeded();
  await shot(admin, "admin-overview-proactive");
  report.proactive = true;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
