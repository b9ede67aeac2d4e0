// Business hours in Debian's chromium, at 1280×800 and 390×844: outside them the open widget
// says when the team is back, the assistant still answers, "Talk to a human" reads "Leave a
// message — we'll email you" and the contact form says the team is away; when the owner opens
// the hours, the open page takes it up without a reload; and, on an injected clock (the server's
// business-hours clock through CLOCK_URL, the page's through Playwright's), an open page turns
// from away to in at the opening time and back to away at the closing, at both sizes.
// Usage: node hours_e2e.mjs BASE_URL OWNER_EMAIL OWNER_PASSWORD CLOCK_URL [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { strict as assert } from "node:assert";
import { launchChromium } from "./chromium.mjs";

const [baseUrl, ownerEmail, ownerPassword, clockUrl, screenshots] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();
const shot = async (page, name) => { if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png` }); };

const login = await fetch(`${baseUrl}/api/admin/auth/login`, {
  method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ email: ownerEmail, password: ownerPassword }),
});
const { accessToken } = await login.json();
const auth = { Authorization: `Bearer ${accessToken}`, "Content-Type": "application/json" };
const settingsPath = `${baseUrl}/api/admin/projects/demo`;
const allDay = [["00:00", "24:00"]];
const everyDay = { mon: allDay, tue: allDay, wed: allDay, thu: allDay, fri: allDay, sat: allDay, sun: allDay };
async function setHours(holidays, weekly = everyDay) {
  const settings = await (await fetch(settingsPath, { headers: auth })).json();
  settings.businessHours = { enabled: true, timeZone: "UTC", holidays, weekly };
  const saved = await fetch(settingsPath, { method: "PUT", headers: auth, body: JSON.stringify(settings) });
  assert.equal(saved.status, 200, await saved.text());
}

/// The demo page in a new browser context (with the page's clock at `clockAt`, if given), the
/// chat opened; its page errors are collected.
async function openChat(contextOptions, clockAt) {
  const context = await browser.newContext(contextOptions);
  if (clockAt !== undefined) await context.clock.install({ time: clockAt });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const widget = (selector, options) => page.locator(`#helpyap-widget ${selector}`, options);
  await page.goto(`${baseUrl}/demo?project=demo`);
  await widget(".launcher").click();
  return { context, page, errors, widget };
}

try {
  // Closed today: a holiday in UTC.
  await setHours([new Date().toISOString().slice(0, 10)]);
  for (const [name, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
    const { context, page, errors, widget } = await openChat({ viewport });
    const away = widget(".away");
    await away.waitFor();
    report[`${name}Away`] = await away.textContent();
    assert.match(report[`${name}Away`], /^We’re away right now — back .+\. The assistant can still help\.$/);
    // The assistant answers as ever; asking for a person offers to take a message.
    await widget(".quick button", { hasText: "Pricing" }).click();
    await widget(".msg.assistant .sources").first().waitFor({ timeout: 15000 });
    const leave = widget(".human button");
    await leave.waitFor();
    assert.equal(await leave.textContent(), "Leave a message — we’ll email you");
    await leave.click();
    await widget(".lead .intro", { hasText: "We’re away right now. Leave your email" }).waitFor();
    await shot(page, `widget-away-${name}`);
    if (name === "desktop") {
      // The owner opens the hours: the page takes it up once the chat is closed, no reload.
      await widget("header button[aria-label='Close chat']").click();
      // The remounted widget asks again, and is told the team is in.
      const asked = page.waitForResponse((response) => response.url().includes("/api/widget/availability"),
        { timeout: 15000 });
      await setHours([]);
      await page.waitForFunction(() => {
        const root = document.querySelector("#helpyap-widget")?.shadowRoot;
        return root && !root.querySelector(".away:not([hidden])") && root.querySelector(".launcher");
      }, null, { timeout: 15000 });
      const answer = await (await asked).json();
      assert.equal(answer.open, true, JSON.stringify(answer));
      await widget(".launcher").click();
      await widget(".human button", { hasText: "Talk to a human" }).waitFor({ timeout: 15000 });
      assert.equal(await widget(".away").isHidden(), true);
      report.reopened = true;
      await setHours([new Date().toISOString().slice(0, 10)]);
    }
    assert.deepEqual(errors, []);
    await context.close();
  }
  // Across a boundary on an injected clock: a team in on weekdays 09:00-17:00 UTC, the server
  // and the page both two minutes before a Monday's opening (room for a slow page load).
  const setClock = async (at) => {
    const moved = await fetch(`${clockUrl}/clock?at=${at}`, { method: "POST" });
    assert.equal(moved.status, 204);
  };
  const nineToFive = [["09:00", "17:00"]];
  await setHours([], { mon: nineToFive, tue: nineToFive, wed: nineToFive, thu: nineToFive, fri: nineToFive });
  const before = Date.parse("2026-12-07T08:58:00Z"); // a Monday
  const toOpening = 125000; // 09:00:05
  report.crossed = {};
  for (const [name, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
    await setClock(before);
    const { context, page, errors, widget } =
      await openChat({ viewport, timezoneId: "UTC", locale: "en-US" }, before);
    await widget(".away:not([hidden])").waitFor();
    assert.match(await widget(".away").textContent(), /back Monday 9:00\sAM/);
    assert.equal(await widget(".human button").textContent(), "Leave a message — we’ll email you");
    // 09:00:05: the page asks again when the team was due back, and is told it is in.
    await setClock(before + toOpening);
    await page.clock.fastForward(toOpening);
    await widget(".away").waitFor({ state: "hidden", timeout: 10000 });
    assert.equal(await widget(".human button").textContent(), "Talk to a human");
    // 17:00:05: closed again, back on Tuesday.
    const evening = before + toOpening + 8 * 3600 * 1000;
    await setClock(evening);
    await page.clock.fastForward(8 * 3600 * 1000);
    await widget(".away:not([hidden])").waitFor({ timeout: 10000 });
    assert.match(await widget(".away").textContent(), /back Tuesday 9:00\sAM/);
    assert.equal(await widget(".human button").textContent(), "Leave a message — we’ll email you");
    assert.deepEqual(errors, []);
    await context.close();
    report.crossed[name] = true;
  }
  assert.equal((await fetch(`${clockUrl}/clock`, { method: "DELETE" })).status, 204);
  report.hours = true;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
