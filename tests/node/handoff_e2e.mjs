// Drives Debian's chromium (headless) through a live hand-off on the demo project: a visitor asks
// for a human, a teammate (signed in to the dashboard, open before the visitor arrives) sees the
// conversation appear and takes over, the visitor's next message shows in the dashboard without
// a reload, the teammate's reply lands on the closed chat bubble as a badge, handing back
// brings the assistant's answers back, and resolving asks the visitor for a rating. No page is
// reloaded until then; nothing polls.
// Usage: node handoff_e2e.mjs BASE_URL EMAIL PASSWORD [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { launchChromium, signIn } from "./chromium.mjs";
import { strict as assert } from "node:assert";

const [baseUrl, email, password, screenshots] = process.argv.slice(2);
const report = {};
// The promise: a reply or a visitor's message shows within 2 s.
const LIVE = { timeout: 2000 };

const browser = await launchChromium();

async function shot(page, name) {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png` });
}

try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const problems = [];
  const watch = (page) => {
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()} ${message.location().url}`); });
    page.on("response", (response) => { if (response.status() >= 400) problems.push(`${response.status()} ${response.url()}`); });
  };

  // The teammate signs in, names themselves, and opens the inbox.
  const team = await context.newPage();
  watch(team);
  await signIn(team, baseUrl, email, password);
  await team.getByRole("link", { name: "Your profile" }).click();
  await team.getByLabel("Display name").fill("Dana");
  await team.getByRole("button", { name: "Save" }).click();
  await team.getByText("Saved.").waitFor();
  await team.getByRole("link", { name: "Conversations" }).click();
  await team.getByRole("heading", { name: "Conversations" }).waitFor();

  // A visitor asks, then asks for a human.
  const visitor = await context.newPage();
  watch(visitor);
  const sockets = [];
  visitor.on("websocket", (socket) => sockets.push(socket.url()));
  const sessionReads = [];
  visitor.on("request", (request) => {
    if (new URL(request.url()).pathname === "/api/widget/session") sessionReads.push(Date.now());
  });
  await visitor.goto(`${baseUrl}/demo`);
  const widget = (selector, options) => visitor.locator(`#helpyap-widget ${selector}`, options);
  await widget(".launcher").click();
  await widget("form textarea").fill("How long do I have to return something?");
  await widget("form textarea").press("Enter");
  await widget(".msg.assistant .sources").first().waitFor({ timeout: 15000 });
  await widget(".human button").click();
  await widget(".lead input[type=email]").fill("vera@example.com");
  await widget(".lead input[type=text]").fill("Vera");
  await widget(".lead button[type=submit]").click();
  await widget(".msg", { hasText: "We will email you at vera@example.com" }).waitFor({ timeout: 5000 });

  // The conversation appears in the open inbox, waiting for a human, without a reload.
  const thread = team.getByRole("button", { name: /^How long do I have to return something\?/ });
  await thread.waitFor(LIVE);
  await team.locator(".threads .badge", { hasText: "waiting for a human" }).waitFor(LIVE);
  assert.match(await thread.textContent(), /Vera <vera@example\.com>/);
  await thread.click();
  await team.getByRole("button", { name: "Take over" }).click();
  await team.locator(".handoff .badge", { hasText: "with a teammate" }).waitFor();

  // The visitor hears that a teammate took over, and writes; the teammate sees it live.
  await widget(".msg.status", { hasText: "A teammate is on it" }).waitFor(LIVE);
  await widget("form textarea").fill("Great, yes please hold an XL for me!");
  await widget("form textarea").press("Enter");
  await team.locator(".bubble.user", { hasText: "hold an XL" }).waitFor(LIVE);
  report.visitorMessageLive = true;
  await team.getByLabel("Reply as a teammate").fill("Half-written draft");

  // The visitor closes the chat; the teammate's reply puts a badge and a preview on the bubble.
  await widget("header button[aria-label='Close chat']").click();
  await team.getByLabel("Reply as a teammate").fill("Done, Vera: an XL is on hold for you until Friday.");
  await team.getByRole("button", { name: "Send reply" }).click();
  const sentAt = Date.now();
  await widget(".badge:not([hidden])").waitFor(LIVE);
  report.badgeAfterMs = Date.now() - sentAt;
  report.badge = await widget(".badge").textContent();
  assert.equal(report.badge, "1");
  report.teaser = await widget(".teaser").textContent();
  assert.match(report.teaser, /^Dana.*XL is on hold/s);
  await shot(visitor, "widget-unread-reply");
  await widget(".teaser").click();
  const reply = widget(".msg.agent", { hasText: "XL is on hold" });
  await reply.waitFor();
  assert.match(await reply.locator(".author").textContent(), /^Dana$/);
  assert.equal(await widget(".badge").isHidden(), true, "read once the chat is open");
  await shot(visitor, "widget-teammate-reply");

  // Handing back: the visitor is told, and the assistant answers again.
  await team.locator(".bubble.agent", { hasText: "XL is on hold" }).waitFor(LIVE);
  await shot(team, "admin-live-conversation");
  await team.getByRole("button", { name: "Hand back to the assistant" }).click();
  await widget(".msg.status", { hasText: "The assistant is answering again" }).waitFor(LIVE);
  const answers = await widget(".msg.assistant .sources").count();
  await widget("form textarea").fill("Do you ship internationally?");
  await widget("form textarea").press("Enter");
  await visitor.waitForFunction((before) => document.querySelector("#helpyap-widget").shadowRoot
    .querySelectorAll(".msg.assistant .sources").length > before, answers, { timeout: 15000 });
  report.answeredAgain = true;

  // Resolved: the visitor is asked to rate the conversation, at once, and rates it.
  await team.getByRole("button", { name: "Resolve", exact: true }).click();
  const card = widget("form.rating");
  await card.waitFor(LIVE);
  assert.equal(await card.getByRole("button", { name: "Send rating" }).isDisabled(), true, "a score first");
  await card.getByRole("button", { name: "4 out of 5" }).click();
  await card.getByRole("textbox").fill("Dana sorted it out quickly.");
  await shot(visitor, "widget-rating");
  await card.getByRole("button", { name: "Send rating" }).click();
  await widget("form.rating", { hasText: "Thanks for rating this conversation!" }).waitFor();
  assert.equal(await widget("form.rating .stars .on").count(), 4);
  report.rated = true;

  // Live the whole way: one socket for the conversation, and no polling of the transcript.
  assert.ok(sockets.some((url) => url.includes("/api/widget/session/ws")), `sockets: ${sockets}`);
  report.transcriptReads = sessionReads.length;
  assert.ok(sessionReads.length <= 3, `the transcript was read ${sessionReads.length} times`);

  // The team sees the rating on the conversation; after a reload the visitor still sees theirs.
  await team.reload();
  const rated = team.getByRole("button", { name: /^How long do I have to return something\?/ });
  assert.match(await rated.textContent(), /★★★★ /);
  await rated.click();
  await team.locator(".card.rated", { hasText: "Rated 4 / 5" }).waitFor();
  await shot(team, "admin-conversation-rated");
  assert.match(await team.locator(".card.rated").textContent(), /Dana sorted it out quickly\./);
  // The overview: the average and the distribution of ratings.
  await team.getByRole("link", { name: "Overview" }).click();
  const satisfaction = team.locator(".card.satisfaction");
  await satisfaction.locator("tbody").waitFor();
  const average = team.locator(".figure", { has: team.locator(".label", { hasText: "Satisfaction" }) });
  assert.equal(await average.locator(".value").textContent(), "4.0 / 5 (1 rating)");
  const rows = await satisfaction.locator("tbody tr").evaluateAll((trs) => trs.map((tr) =>
    [tr.querySelector("th").getAttribute("aria-label"), tr.querySelector("td:last-child").textContent]));
  assert.deepEqual(rows, [["5 out of 5", "0 (0%)"], ["4 out of 5", "1 (100%)"], ["3 out of 5", "0 (0%)"],
    ["2 out of 5", "0 (0%)"], ["1 out of 5", "0 (0%)"]]);
  // The bars are drawn to scale (the page's CSP once blocked their widths).
  const widths = await satisfaction.locator(".bar").evaluateAll((bars) =>
    bars.map((node) => Math.round(node.getBoundingClientRect().width)));
  assert.ok(widths[1] > 20 && widths.every((width, row) => row === 1 || width <= 2), `bar widths: ${widths}`);
  await satisfaction.scrollIntoViewIfNeeded();
  await shot(team, "admin-overview-satisfaction");
  report.overviewSatisfaction = true;
  await visitor.reload();
  await widget(".launcher").click();
  await widget("form.rating", { hasText: "Thanks for rating this conversation!" }).waitFor();
  // On a phone too, the card fits the full-screen chat.
  await visitor.setViewportSize({ width: 390, height: 844 });
  await visitor.reload();
  await widget(".launcher").click();
  const phoneCard = widget("form.rating", { hasText: "Thanks for rating this conversation!" });
  await phoneCard.waitFor();
  await phoneCard.scrollIntoViewIfNeeded();
  const box = await phoneCard.boundingBox();
  assert.ok(box.x >= 0 && box.x + box.width <= 390, `on screen: ${JSON.stringify(box)}`);
  assert.equal(await widget("form.rating .stars .on").count(), 4);
  await shot(visitor, "widget-rating-phone");
  report.ratedPhone = true;

  assert.deepEqual(problems, [], "no script errors");
  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
