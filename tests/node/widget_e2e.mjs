// Drives Debian's chromium (headless) through the widget on the demo page of a running HelpYap
// server. Usage: node widget_e2e.mjs BASE_URL PUSH_SECRET [SCREENSHOT_DIR]
// Prints a JSON report of what it saw; exits non-zero with the reason on the first failure.
import { launchChromium } from "./chromium.mjs";
import { shopHelpers } from "./shop.mjs";
import { strict as assert } from "node:assert";

const [baseUrl, pushSecret, screenshots] = process.argv.slice(2);
const report = {};

const browser = await launchChromium();

const { push, shot } = shopHelpers(browser, baseUrl, pushSecret, screenshots);

/// Fails the run if the page ever executes injected code or renders injected markup.
async function assertInert(page) {
  assert.equal(await page.evaluate(() => window.__pwned), undefined, "injected script ran");
  const injected = await page.evaluate(() =>
    document.querySelector("#helpyap-widget").shadowRoot.querySelectorAll("img, script, b, iframe").length);
  assert.equal(injected, 0, "injected markup was rendered");
}

/// At one screen size, in a fresh browser: an answer taller than the chat is read from its top;
/// a thumbs-down and the "We will email you" confirmation survive a reload, with the
/// conversation shown to its very end; "New chat" asks first.
async function atSize(size, viewport) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const widget = (selector, options) => page.locator(`#helpyap-widget ${selector}`, options);
  await page.goto(`${baseUrl}/demo`);
  await widget(".launcher").click();

  await widget("form textarea").fill("Which packing list do you recommend for a week in the mountains?");
  await widget("form textarea").press("Enter");
  await widget(".msg.assistant .feedback").waitFor({ timeout: 15000 });
  const view = await page.evaluate(() => {
    const root = document.querySelector("#helpyap-widget").shadowRoot;
    const log = root.querySelector(".log");
    const question = [...root.querySelectorAll(".msg.user")].pop();
    const top = question.getBoundingClientRect().top - log.getBoundingClientRect().top;
    return { top, answerTaller: root.querySelector(".msg.assistant:last-child").offsetHeight > log.clientHeight,
      bottomHidden: log.scrollTop + log.clientHeight < log.scrollHeight - 1 };
  });
  assert.ok(view.answerTaller, `${size}: the answer is taller than the chat: ${JSON.stringify(view)}`);
  assert.ok(view.top >= 0 && view.top < 40, `${size}: the question at the top: ${JSON.stringify(view)}`);
  assert.ok(view.bottomHidden, `${size}: the end of the answer is below, to scroll to`);
  await shot(page, `widget-long-answer-${size}`);

  // Not helpful, then an email for a human; both are there after a reload.
  const pressed = (label) => page.evaluate((name) => [...document.querySelector("#helpyap-widget").shadowRoot
    .querySelectorAll(`.feedback button[aria-label='${name}']`)].map((button) => button.getAttribute("aria-pressed")), label);
  await widget(".msg.assistant").last().locator(".feedback button[aria-label='Not helpful']").click();
  await page.waitForFunction(() => document.querySelector("#helpyap-widget").shadowRoot
    .querySelector(".feedback button[aria-label='Not helpful']")?.getAttribute("aria-pressed") === "true");
  const email = `${size}@example.com`;
  await widget(".human button").click();
  await widget(".lead input[type=email]").fill(email);
  await widget(".lead button[type=submit]").click();
  const confirmation = widget(".msg", { hasText: `We will email you at ${email}` });
  await confirmation.waitFor({ timeout: 5000 });
  await page.reload();
  await widget(".launcher").click();
  await confirmation.waitFor({ timeout: 5000 });
  assert.deepEqual(await pressed("Not helpful"), ["true"], `${size}: the thumbs-down after a reload`);
  assert.deepEqual(await pressed("Helpful"), ["false"], `${size}: and not the thumbs-up`);
  await page.waitForFunction(() => {
    const log = document.querySelector("#helpyap-widget").shadowRoot.querySelector(".log");
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 1;
  }, null, { timeout: 5000 });

  // "New chat" asks first: Cancel keeps the conversation, "Start new" clears it.
  const messagesBefore = await widget(".log .msg").count();
  await widget("header button", { hasText: "New chat" }).click();
  const confirmBar = widget(".confirm");
  await confirmBar.waitFor();
  assert.match(await confirmBar.textContent(), /Start a new conversation\?/);
  await confirmBar.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await confirmBar.isHidden(), true);
  assert.equal(await widget(".log .msg").count(), messagesBefore, `${size}: kept`);
  await widget("header button", { hasText: "New chat" }).click();
  await confirmBar.getByRole("button", { name: "Start new" }).click();
  await page.waitForFunction(() => document.querySelector("#helpyap-widget").shadowRoot
    .querySelectorAll(".log .msg.user").length === 0);
  await context.close();
}

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  await page.goto(`${baseUrl}/demo`);

  // The closed bubble, untouched by the page's hostile CSS (hot pink, 30px buttons).
  const launcher = page.locator("#helpyap-widget .launcher");
  await launcher.waitFor();
  const background = await launcher.evaluate((node) => getComputedStyle(node).backgroundColor);
  assert.equal(background, "rgb(55, 55, 246)", "the theme color, not the host page's");
  await shot(page, "widget-closed");

  // Open it: header, welcome, quick replies; click one and read the streamed answer.
  await launcher.click();
  const panel = page.locator("#helpyap-widget .panel");
  await panel.waitFor();
  assert.equal(await page.locator("#helpyap-widget header .name").textContent(), "Support Bot");
  await page.locator("#helpyap-widget .quick button", { hasText: "Pricing" }).click();
  const answer = page.locator("#helpyap-widget .msg.assistant").last();
  const source = answer.locator(".sources a").first();
  await source.waitFor({ timeout: 15000 });
  report.answer = await answer.evaluate((node) => node.firstChild.textContent);
  assert.match(report.answer, /plan|price|\$/i, "an answer about pricing");
  report.sourceHref = await source.getAttribute("href");
  assert.match(report.sourceHref, /^https?:\/\//);
  assert.equal(await source.getAttribute("rel"), "noopener noreferrer");
  await shot(page, "widget-answer");

  // Thumbs up on the answer.
  const helpful = answer.locator(".feedback button[aria-label='Helpful']");
  await helpful.click();
  await page.waitForFunction(() => document.querySelector("#helpyap-widget").shadowRoot
    .querySelector(".feedback button[aria-label='Helpful']")?.getAttribute("aria-pressed") === "true");

  // Keyboard: Escape closes and gives focus back to the bubble.
  await page.keyboard.press("Escape");
  assert.equal(await panel.isHidden(), true, "Escape closes the panel");

  // Reload: the transcript comes back.
  await page.reload();
  await launcher.click();
  await page.locator("#helpyap-widget .msg.user", { hasText: "Pricing" }).waitFor({ timeout: 5000 });
  await page.locator("#helpyap-widget .msg.assistant .sources a").first().waitFor();
  report.restoredMessages = await page.locator("#helpyap-widget .log .msg").count();
  // The thumb given stays pressed, and the conversation shows to its very end.
  assert.equal(await page.locator("#helpyap-widget .feedback button[aria-label='Helpful']").getAttribute("aria-pressed"),
    "true", "the thumbs-up after a reload");
  await page.waitForFunction(() => {
    const log = document.querySelector("#helpyap-widget").shadowRoot.querySelector(".log");
    return log.scrollTop + log.clientHeight >= log.scrollHeight - 1;
  }, null, { timeout: 5000 });

  // Talk to a human: leave an email.
  await page.locator("#helpyap-widget .human button").click();
  await page.locator("#helpyap-widget .lead input[type=email]").fill("ann@example.com");
  await page.locator("#helpyap-widget .lead button[type=submit]").click();
  await page.locator("#helpyap-widget .msg", { hasText: "We will email you at ann@example.com" }).waitFor({ timeout: 5000 });

  // The conversation now waits for a teammate: the next message gets a status line, no answer.
  const answersBefore = await page.locator("#helpyap-widget .msg.assistant").count();
  await page.locator("#helpyap-widget form textarea").fill("Great, please hold an XL for me!");
  await page.locator("#helpyap-widget form textarea").press("Enter");
  await page.locator("#helpyap-widget .msg.status", { hasText: "A teammate will reply here" }).waitFor({ timeout: 5000 });
  assert.equal(await page.locator("#helpyap-widget .msg.assistant").count(), answersBefore, "no assistant answer");
  await shot(page, "widget-waiting-for-a-human");

  // After a reload the confirmation is still there.
  await page.reload();
  await launcher.click();
  await page.locator("#helpyap-widget .msg", { hasText: "We will email you at ann@example.com" }).waitFor({ timeout: 5000 });
  await page.keyboard.press("Escape");

  // A push shows up as a popup, from the project's template.
  await push({ type: "signed_up", name: "Sarah K.", location: "Austin, TX", product: "Pro Plan" });
  const popup = page.locator("#helpyap-widget .popup", { hasText: "Sarah K. from Austin, TX signed up for Pro Plan" });
  await popup.waitFor({ timeout: 15000 });
  await shot(page, "widget-popup");

  // Hostile push text stays text.
  await push({ type: "purchased", name: '<img src=x onerror="window.__pwned=1">', product: "<b>bold</b>" });
  await page.locator("#helpyap-widget .popup", { hasText: "<img src=x" }).waitFor({ timeout: 15000 });
  await assertInert(page);
  assert.deepEqual(errors, [], "no errors on the page");

  // WebSocket blocked: popups still arrive, over SSE.
  const blocked = await browser.newContext();
  const page2 = await blocked.newPage();
  await page2.routeWebSocket(/salespop\/ws/, (ws) => ws.close());
  let sseRequests = 0;
  page2.on("request", (request) => { if (request.url().includes("/salespop/stream")) sseRequests += 1; });
  await page2.goto(`${baseUrl}/demo`);
  await page2.locator("#helpyap-widget .launcher").waitFor();
  await page2.waitForTimeout(3500); // two failed WebSocket attempts, then SSE
  await push({ type: "added_to_cart", name: "Lee", location: "Oslo", product: "Camp Mug" });
  await page2.locator("#helpyap-widget .popup", { hasText: "Lee from Oslo added Camp Mug to their cart" })
    .waitFor({ timeout: 20000 });
  assert.ok(sseRequests > 0, "the popup came over SSE");
  report.sseRequests = sseRequests;

  // Hostile answer: a knowledge-base passage full of markup, and a javascript: source URL.
  const page3 = await (await browser.newContext()).newPage();
  await page3.goto(`${baseUrl}/demo?project=other`);
  await page3.locator("#helpyap-widget .launcher").click();
  await page3.locator("#helpyap-widget textarea").fill("What is the refund policy?");
  await page3.keyboard.press("Enter");
  const hostile = page3.locator("#helpyap-widget .msg.assistant .sources").last();
  await hostile.waitFor({ timeout: 15000 });
  report.hostileAnswer = await page3.locator("#helpyap-widget .msg.assistant").last()
    .evaluate((node) => node.firstChild.textContent);
  assert.match(report.hostileAnswer, /<img src=x/, "markup shown as text");
  assert.equal(await hostile.locator("a").count(), 0, "a javascript: source is not a link");
  await assertInert(page3);

  // WebSocket and SSE both blocked: popups still arrive, by polling.
  const { lastId: seen } = await (await fetch(`${baseUrl}/api/widget/salespop?project=demo`)).json();
  const locked = await (await browser.newContext()).newPage();
  await locked.addInitScript((id) => localStorage.setItem("helpyap:demo:since", id), seen);
  await locked.routeWebSocket(/salespop\/ws/, (ws) => ws.close());
  await locked.route("**/api/widget/salespop/stream**", (route) => route.abort());
  let polls = 0;
  locked.on("request", (request) => { if (/\/api\/widget\/salespop\?/.test(request.url())) polls += 1; });
  await locked.goto(`${baseUrl}/demo`);
  await push({ type: "purchased", name: "Noor", location: "Cairo", product: "Trail Jacket" });
  await locked.locator("#helpyap-widget .popup", { hasText: "Noor from Cairo just purchased Trail Jacket" })
    .waitFor({ timeout: 20000 });
  assert.ok(polls > 0, "the popup came by polling");
  report.polls = polls;

  // An answer that fails shows an error with Retry, and Retry asks again.
  const flaky = await (await browser.newContext()).newPage();
  await flaky.goto(`${baseUrl}/demo`);
  let failNext = true;
  await flaky.route("**/api/chat", (route) => {
    if (!failNext) return route.continue();
    failNext = false;
    return route.fulfill({ status: 503, contentType: "application/json", body: '{"error":"Chat is temporarily unavailable, retry shortly"}' });
  });
  await flaky.locator("#helpyap-widget .launcher").click();
  await flaky.locator("#helpyap-widget textarea").fill("How long does shipping take?");
  await flaky.keyboard.press("Enter");
  const failed = flaky.locator("#helpyap-widget .msg.error", { hasText: "temporarily unavailable" });
  await failed.waitFor({ timeout: 5000 });
  await failed.locator("button", { hasText: "Retry" }).click();
  await flaky.locator("#helpyap-widget .msg.assistant .sources a").first().waitFor({ timeout: 15000 });
  assert.equal(await flaky.locator("#helpyap-widget .msg.error").count(), 0, "the error is gone after Retry");

  // A hidden tab shows no popups; they wait until it is visible again.
  // A visitor who has seen every earlier event, so only the new one could show.
  const { lastId } = await (await fetch(`${baseUrl}/api/widget/salespop?project=demo`)).json();
  const tab = await (await browser.newContext()).newPage();
  await tab.addInitScript((id) => localStorage.setItem("helpyap:demo:since", id), lastId);
  await tab.goto(`${baseUrl}/demo`);
  await tab.locator("#helpyap-widget .launcher").waitFor();
  await tab.waitForTimeout(1000); // connected, past the initial delay
  await tab.evaluate(() => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => window.__hidden === true });
    window.__hidden = true;
    document.dispatchEvent(new Event("visibilitychange"));
  });
  await push({ type: "subscribed", name: "Mia", location: "Lyon", product: "Newsletter" });
  const later = tab.locator("#helpyap-widget .popup", { hasText: "Mia from Lyon subscribed to Newsletter" });
  await tab.waitForTimeout(3000);
  assert.equal(await later.count(), 0, "no popup while the tab is hidden");
  await tab.evaluate(() => { window.__hidden = false; document.dispatchEvent(new Event("visibilitychange")); });
  await later.waitFor({ timeout: 5000 });

  // Small screens: a full-screen panel; keyboard: focus stays inside, Escape returns it.
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage();
  await phone.goto(`${baseUrl}/demo`);
  await phone.locator("#helpyap-widget .launcher").click();
  const box = await phone.locator("#helpyap-widget .panel").boundingBox();
  assert.deepEqual([box.x, box.y, box.width, box.height], [0, 0, 390, 844], "full-screen panel");
  const focusInWidget = () => phone.evaluate(() => document.activeElement?.id === "helpyap-widget");
  for (let press = 0; press < 8; press += 1) {
    await phone.keyboard.press(press % 3 === 2 ? "Shift+Tab" : "Tab");
    assert.ok(await focusInWidget(), "Tab keeps focus inside the open panel");
  }
  await phone.keyboard.press("Escape");
  const focused = await phone.evaluate(() => document.activeElement.shadowRoot.activeElement.className);
  assert.match(focused, /launcher/, "Escape gives focus back to the bubble");

  for (const [size, viewport] of [["desktop", { width: 1280, height: 800 }], ["phone", { width: 390, height: 844 }]]) {
    await atSize(size, viewport);
  }
  report.newChatAsks = true;

  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
