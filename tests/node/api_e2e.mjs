// window.HelpYap in Debian's chromium: a site's page queues calls before the widget has loaded
// (the install snippet's stub) and drives it afterwards — open, close, toggle, setLocale, the
// events (`popupClick` too), shutdown; at desktop and phone sizes.
// Also: settings the owner saves reach the open page without a reload — at once with the chat
// closed, when it closes with it open.
// Usage: node api_e2e.mjs BASE_URL PUSH_SECRET OWNER_EMAIL OWNER_PASSWORD [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { launchChromium } from "./chromium.mjs";
import { shopHelpers } from "./shop.mjs";
import { strict as assert } from "node:assert";

const [baseUrl, pushSecret, ownerEmail, ownerPassword, screenshots] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();
const { push, shot } = shopHelpers(browser, baseUrl, pushSecret, screenshots);

// The stub from the README, then the page's own calls, then the widget's tag.
const SITE_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Site</title>
<link rel="icon" href="data:,"></head><body><h1>A site</h1>
<script>
window.HelpYap=window.HelpYap||{q:[]};["open","close","toggle","setLocale","on","off","shutdown"].forEach(function(m){HelpYap[m]=HelpYap[m]||function(){HelpYap.q.push([m,[].slice.call(arguments)])}});
window.__events = [];
["ready", "open", "close", "message", "popup", "popupClick"].forEach(function (name) {
  HelpYap.on(name, function (detail) { __events.push([name, detail && (detail.text || detail.type) || null]); });
});
HelpYap.open();
</script>
<script src="/widget.js" data-project="demo" async></script></body></html>`;

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.route(`${baseUrl}/site/**`, (route) => route.fulfill({ contentType: "text/html", body: SITE_PAGE }));
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${baseUrl}/site/home`);
  const events = () => page.evaluate(() => window.__events.map(([name]) => name));
  const waitEvent = (name, count = 1) => page.waitForFunction(([wanted, n]) =>
    window.__events.filter(([event]) => event === wanted).length >= n, [name, count], { timeout: 15000 });

  // Queued before the widget loaded: `open` ran, then `ready`.
  await waitEvent("ready");
  assert.deepEqual(await events(), ["open", "ready"]);
  const panel = page.locator("#helpyap-widget .panel");
  assert.equal(await panel.isVisible(), true, "opened by the queued call");

  // After load: close, toggle.
  await page.evaluate(() => HelpYap.close());
  await panel.waitFor({ state: "hidden" });
  await page.evaluate(() => HelpYap.toggle());
  await panel.waitFor();
  assert.deepEqual((await events()).slice(-2), ["close", "open"]);

  // An answer is a `message` event.
  await page.locator("#helpyap-widget .quick button", { hasText: "Pricing" }).click();
  await waitEvent("message");
  const message = await page.evaluate(() => window.__events.find(([name]) => name === "message")[1]);
  assert.match(message, /plan|price|\$/i);

  // Another language at once, the conversation and the open panel kept.
  await page.evaluate(() => HelpYap.setLocale("de"));
  await page.locator("#helpyap-widget form button[type=submit]", { hasText: "Senden" }).waitFor();
  await page.locator("#helpyap-widget .msg.user", { hasText: "Pricing" }).waitFor();
  await shot(page, "widget-api-setlocale");

  // A popup shown (the chat closed) is a `popup` event, and a click on it a `popupClick`.
  await page.evaluate(() => HelpYap.close());
  await context.route("https://shop.example/**", (route) => route.fulfill({ contentType: "text/html", body: "<p>Pro</p>" }));
  await push({ type: "signed_up", name: "Ann Lee", location: "Oslo", url: "https://shop.example/pro" });
  await waitEvent("popup");
  const opened = context.waitForEvent("page");
  await page.locator("#helpyap-widget .popup a.card").click();
  await waitEvent("popupClick");
  assert.deepEqual(await page.evaluate(() => window.__events.filter(([name]) => name === "popupClick")),
    [["popupClick", "signed_up"]]);
  assert.match((await opened).url(), /^https:\/\/shop\.example\/pro/, "the link opened in a new tab");

  // off: a removed handler hears nothing more.
  await page.evaluate(() => {
    window.__opens = 0;
    window.__count = () => { window.__opens += 1; };
    HelpYap.on("open", window.__count);
    HelpYap.open();
    HelpYap.off("open", window.__count);
    HelpYap.close();
    HelpYap.open();
  });
  assert.equal(await page.evaluate(() => window.__opens), 1);

  // Sign-out: the visitor's conversation is forgotten on this device, with everything else it
  // kept of them (a proactive message's "once a day" mark, say), and nothing of other projects.
  await page.evaluate(() => {
    localStorage.setItem("helpyap:demo:proactive:welcome", new Date().toISOString().slice(0, 10));
    localStorage.setItem("helpyap:other:sessionId", "kept");
  });
  assert.notEqual(await page.evaluate(() => localStorage.getItem("helpyap:demo:sessionId")), null);
  await page.evaluate(() => HelpYap.shutdown());
  // (The fresh widget's popup channel may note the last event id again at once.)
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((name) =>
    name.startsWith("helpyap:demo:") && name !== "helpyap:demo:since")), [], "the visitor forgotten");
  assert.equal(await page.evaluate(() => localStorage.getItem("helpyap:other:sessionId")), "kept");
  await page.locator("#helpyap-widget .panel .msg.assistant").first().waitFor();
  assert.equal(await page.locator("#helpyap-widget .msg.user").count(), 0, "a fresh conversation");
  await page.reload();
  await waitEvent("ready");
  await page.evaluate(() => HelpYap.open());
  await page.locator("#helpyap-widget .quick button").first().waitFor();
  assert.equal(await page.locator("#helpyap-widget .msg.user").count(), 0, "still fresh after a reload");

  // The owner saves settings while the page is open.
  const login = await fetch(`${baseUrl}/api/admin/auth/login`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: ownerEmail, password: ownerPassword }),
  });
  assert.equal(login.status, 200);
  const { accessToken } = await login.json();
  const settingsPath = `${baseUrl}/api/admin/projects/demo`;
  const auth = { Authorization: `Bearer ${accessToken}`, "Content-Type": "application/json" };
  const save = async (change) => {
    const settings = await (await fetch(settingsPath, { headers: auth })).json();
    const saved = await fetch(settingsPath, { method: "PUT", headers: auth, body: JSON.stringify({ ...settings, ...change }) });
    assert.equal(saved.status, 200, await saved.text());
  };
  const launcher = page.locator("#helpyap-widget .launcher");
  // The chat closed: the new name is on the bubble at once.
  await page.evaluate(() => HelpYap.close());
  await save({ name: "Helper Bot" });
  await page.waitForFunction(() => document.querySelector("#helpyap-widget")?.shadowRoot
    ?.querySelector(".launcher")?.getAttribute("aria-label")?.includes("Helper Bot"), null, { timeout: 10000 });
  // Closing the chat left keyboard focus on the bubble; the new bubble has it.
  assert.equal(await page.evaluate(() => document.activeElement?.id === "helpyap-widget"
    && document.activeElement.shadowRoot.activeElement?.classList.contains("launcher")), true, "focus kept");
  // The chat open: the visitor is not interrupted; the change shows once they close it.
  await page.evaluate(() => HelpYap.open());
  await page.locator("#helpyap-widget .panel").waitFor();
  await save({ name: "Night Bot" });
  await page.waitForTimeout(1500);
  assert.match(await page.locator("#helpyap-widget .panel").getAttribute("aria-label"), /Helper Bot/, "not while open");
  await page.evaluate(() => HelpYap.close());
  await page.waitForFunction(() => document.querySelector("#helpyap-widget")?.shadowRoot
    ?.querySelector(".launcher")?.getAttribute("aria-label")?.includes("Night Bot"), null, { timeout: 10000 });
  assert.equal(await launcher.count(), 1, "one widget, mounted again");
  // At a phone's size as well: the full-screen chat opens with the new settings.
  await page.setViewportSize({ width: 390, height: 844 });
  await save({ name: "Phone Bot" });
  await page.waitForFunction(() => document.querySelector("#helpyap-widget")?.shadowRoot
    ?.querySelector(".launcher")?.getAttribute("aria-label")?.includes("Phone Bot"), null, { timeout: 10000 });
  await launcher.click();
  const phonePanel = await page.locator("#helpyap-widget .panel").boundingBox();
  assert.deepEqual([phonePanel.width, phonePanel.height], [390, 844], "full screen");
  assert.equal(await page.locator("#helpyap-widget header .name").textContent(), "Phone Bot");
  await page.evaluate(() => HelpYap.close());
  report.settingsLive = true;

  assert.deepEqual(errors, []);

  // At a phone's size: the queued `open` shows the full-screen chat before `ready`; close and
  // toggle work on it.
  const phoneContext = await browser.newContext({ viewport: { width: 390, height: 844 } });
  await phoneContext.route(`${baseUrl}/site/**`, (route) => route.fulfill({ contentType: "text/html", body: SITE_PAGE }));
  const phone = await phoneContext.newPage();
  await phone.goto(`${baseUrl}/site/home`);
  await phone.waitForFunction(() => window.__events.some(([name]) => name === "ready"), null, { timeout: 15000 });
  assert.deepEqual(await phone.evaluate(() => window.__events.map(([name]) => name)), ["open", "ready"]);
  const fullScreen = await phone.locator("#helpyap-widget .panel").boundingBox();
  assert.deepEqual([fullScreen.x, fullScreen.y, fullScreen.width, fullScreen.height], [0, 0, 390, 844], "opened full screen");
  await phone.evaluate(() => HelpYap.close());
  await phone.locator("#helpyap-widget .panel").waitFor({ state: "hidden" });
  await phone.evaluate(() => HelpYap.toggle());
  await phone.locator("#helpyap-widget .panel").waitFor();
  const openClose = await phone.evaluate(() => window.__events.map(([name]) => name)
    .filter((name) => name === "open" || name === "close"));
  assert.deepEqual(openClose, ["open", "close", "open"]);
  await phoneContext.close();
  report.api = true;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
