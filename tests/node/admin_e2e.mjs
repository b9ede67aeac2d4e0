// Drives Debian's chromium (headless) through the admin dashboard of a running HelpYap server:
// sign in, create a project, edit its settings with the live preview, rotate its push secret,
// add a knowledge-base document, chat with the new project's widget, find that chat in the
// inbox, and see the charts. Usage: node admin_e2e.mjs BASE_URL EMAIL PASSWORD [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { launchChromium } from "./chromium.mjs";
import { strict as assert } from "node:assert";
import { createHmac } from "node:crypto";

const [baseUrl, email, password, screenshots] = process.argv.slice(2);
const SLUG = "acme";
const report = {};

const browser = await launchChromium();

/// The first steps the overview's "Getting started" checklist shows as done.
async function stepsDone(page) {
  await page.getByRole("link", { name: "Overview" }).click();
  const list = page.locator(".checklist");
  await list.waitFor();
  return list.locator("li.done a").allTextContents();
}

async function shot(page, name) {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png` });
}

try {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  // A Content-Security-Policy violation shows up as a console error.
  page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()}`); });

  // Wrong password first: a clear error, still on the sign-in form.
  await page.goto(`${baseUrl}/admin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("not-the-password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").waitFor();
  report.wrongPassword = await page.getByRole("alert").textContent();
  problems.length = 0; // the 401 of that attempt is logged by the browser itself
  await shot(page, "admin-login");

  // Sign in by keyboard only.
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Password").press("Enter");
  await page.getByRole("heading", { name: "Overview" }).waitFor();

  // Create a project through the switcher.
  await page.getByLabel("Project").selectOption("new");
  await page.getByLabel("Slug").fill(SLUG);
  await page.getByLabel("Assistant name").fill("Acme Helper");
  await page.getByLabel("Company").fill("Acme Inc.");
  await page.getByRole("button", { name: "Create project" }).click();
  await page.getByRole("heading", { name: "Widget settings" }).waitFor();

  // A new project's overview says what to do first.
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("heading", { name: "Getting started: 0 of 4 done" }).waitFor();
  await shot(page, "admin-getting-started");
  await page.getByRole("link", { name: "Widget settings" }).click();
  await page.getByRole("heading", { name: "Widget settings" }).waitFor();

  // The live preview follows the form before anything is saved.
  const preview = page.frameLocator("iframe[title='Widget preview']");
  const previewName = preview.locator("#helpyap-widget header .name");
  await previewName.waitFor();
  assert.equal(await previewName.textContent(), "Acme Helper");
  await page.getByLabel("Welcome message").fill("Welcome to Acme! Ask me about returns.");
  await page.getByLabel("Assistant name").fill("Acme Bot");
  await page.waitForFunction(() => document.querySelector("iframe[title='Widget preview']").contentDocument
    .querySelector("#helpyap-widget").shadowRoot.querySelector("header .name").textContent === "Acme Bot");
  report.previewFollowsForm = true;
  await shot(page, "admin-settings");

  // The popup views: a sample popup beside the closed bubble, laid out as on a desktop (in the
  // chosen corner, names as chosen) and as on a phone (a banner above the bubble).
  await page.getByLabel("Names shown").selectOption("first_initial");
  await page.getByLabel("Popup position").selectOption("top-left");
  await page.getByRole("button", { name: "Popup, desktop" }).click();
  const sample = preview.locator("#helpyap-widget .popup.sample");
  await sample.waitFor();
  assert.match(await sample.textContent(), /^Sarah K\. from Austin, TX just purchased Pro Plan/);
  const launcherBox = await preview.locator("#helpyap-widget .launcher").boundingBox();
  const sampleBox = await sample.boundingBox();
  const frameBox = await page.locator("iframe[title='Widget preview']").boundingBox();
  assert.ok(sampleBox.y - frameBox.y < frameBox.height / 4 && sampleBox.x - frameBox.x < frameBox.width / 4,
    "the sample popup is in the top left corner");
  assert.ok(launcherBox.x > frameBox.x + frameBox.width / 2, "the closed bubble stays bottom right");
  await shot(page, "admin-settings-popup-desktop");
  await page.getByLabel("Names shown").selectOption("anonymous");
  await page.getByLabel("Popup position").selectOption("auto");
  await page.getByRole("button", { name: "Popup, phone" }).click();
  await preview.locator("#helpyap-widget .popup.sample", { hasText: /^Someone from Austin/ }).waitFor();
  const banner = await preview.locator("#helpyap-widget .popup.sample").boundingBox();
  const bubble = await preview.locator("#helpyap-widget .launcher").boundingBox();
  assert.ok(banner.y + banner.height <= bubble.y, "the phone banner sits above the bubble, not over it");
  await shot(page, "admin-settings-popup-phone");
  // Or at the top of the screen, inside it.
  await page.getByLabel("On phones", { exact: true }).selectOption("top");
  await page.waitForFunction(() => document.querySelector("iframe[title='Widget preview']").contentDocument
    .querySelector("#helpyap-widget").shadowRoot.querySelector(".popup.sample.phone-top"));
  const top = await preview.locator("#helpyap-widget .popup.sample").boundingBox();
  const frame = await page.locator("iframe[title='Widget preview']").boundingBox();
  assert.ok(top.y >= frame.y && top.y - frame.y < frame.height / 8, "the banner at the top of the phone");
  await page.getByLabel("On phones", { exact: true }).selectOption("bottom");
  await page.getByRole("button", { name: "Chat", exact: true }).click();
  await previewName.waitFor();
  // Business hours: Berlin, weekdays 9 to 17 (Friday to 15), Christmas off.
  await page.getByLabel(/^Keep business hours/).check();
  await page.getByLabel("Time zone").fill("Europe/Berlin");
  for (const day of ["Monday", "Tuesday", "Wednesday", "Thursday"]) await page.getByLabel(day).fill("09:00-17:00");
  await page.getByLabel("Friday").fill("09:00-12:00, 13:00-15:00");
  await page.getByLabel("Holidays").fill("2026-12-25");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByText("Saved: visitors see the new settings now.").waitFor();
  const config = await (await fetch(`${baseUrl}/api/widget/config?project=${SLUG}`)).json();
  assert.equal(config.name, "Acme Bot", "saved settings reach the public widget config");
  assert.deepEqual(config.businessHours, {
    enabled: true, timeZone: "Europe/Berlin", holidays: ["2026-12-25"],
    weekly: { mon: [["09:00", "17:00"]], tue: [["09:00", "17:00"]], wed: [["09:00", "17:00"]],
      thu: [["09:00", "17:00"]], fri: [["09:00", "12:00"], ["13:00", "15:00"]], sat: [], sun: [] },
  });
  await page.locator("fieldset", { hasText: "Business hours" }).scrollIntoViewIfNeeded();
  await shot(page, "admin-settings-hours");

  // Rotate (create) the push secret: shown once, with a working curl example.
  await page.getByRole("link", { name: "Install & push secret" }).click();
  await page.getByRole("button", { name: "Create push secret" }).click();
  const secret = (await page.locator(".secret code").textContent()).trim();
  assert.match(secret, /^sp_[0-9a-f]{64}$/);
  assert.match(await page.locator("pre").last().textContent(), new RegExp(`Authorization: Bearer ${secret}`));
  await page.getByRole("button", { name: "Copy secret" }).click();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  const push = await fetch(`${baseUrl}/api/widget/salespop-push`, {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${secret}` },
    body: JSON.stringify({ project: SLUG, type: "purchased", name: "Sarah K.", location: "Austin, TX", product: "Pro Plan" }),
  });
  assert.equal(push.status, 201, "the new secret works at once");
  // A visitor's widget reports the popup seen and clicked, as its beacon does.
  const seen = await fetch(`${baseUrl}/api/widget/salespop/seen?project=${SLUG}`, {
    method: "POST", body: JSON.stringify({ visit: "admin-e2e-visit", shown: ["1"], clicked: ["1"] }),
  });
  assert.equal(seen.status, 204);

  // Connect Stripe: its webhook address is shown, the secret only by its last characters.
  await page.getByLabel("Signing secret").first().fill("whsec_dashboard_test_9f3a");
  await page.getByRole("button", { name: "Connect Stripe" }).click();
  await page.getByRole("heading", { name: /Stripe: connected \(secret …9f3a/ }).waitFor();
  assert.match(await page.locator("form.integration code").first().textContent(),
    new RegExp(`/api/integrations/stripe/${SLUG}$`));
  assert.equal(await page.getByText("whsec_dashboard_test_9f3a").count(), 0, "the secret is not shown back");
  await shot(page, "admin-integrations");
  report.pushWithNewSecret = push.status;

  // Identity verification: turned on, its secret shown once with an example.
  await page.getByRole("button", { name: "Turn on verification" }).click();
  const identitySecret = (await page.locator("#identity .secret code").textContent()).trim();
  assert.match(identitySecret, /^iv_[0-9a-f]{64}$/);
  await page.locator("#identity", { hasText: `On: secret …${identitySecret.slice(-4)}` }).waitFor();
  assert.match(await page.locator("#identity pre").textContent(), /HelpYap\.identify/);
  await page.locator("#identity").scrollIntoViewIfNeeded();
  await shot(page, "admin-identity");

  // An API token for the shop's own server: shown once, works on this project, revoked at once.
  await page.getByLabel("Name", { exact: true }).fill("CRM sync");
  await page.getByRole("button", { name: "Create token" }).click();
  const tokenShown = page.locator(".secret code", { hasText: /^hy_/ });
  await tokenShown.waitFor();
  const apiToken = (await tokenShown.textContent()).trim();
  assert.match(apiToken, /^hy_[0-9a-f]{64}$/);
  await page.getByRole("cell", { name: "CRM sync", exact: true }).waitFor();
  const asToken = () => fetch(`${baseUrl}/api/admin/projects/${SLUG}/conversations`, { headers: { Authorization: `Bearer ${apiToken}` } });
  assert.equal((await asToken()).status, 200, "the token works at once");
  await shot(page, "admin-secret");
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Revoke CRM sync" }).click();
  await page.getByText("No API tokens yet.").waitFor();
  assert.equal((await asToken()).status, 401, "revoked at once");
  report.apiToken = "made, used, revoked";

  // A webhook: added (its secret shown once), an event goes out, the attempt is in its log.
  await page.getByRole("link", { name: "Webhooks" }).click();
  await page.getByLabel("URL").fill("https://hooks.example.com/helpyap");
  await page.getByRole("button", { name: "Add webhook" }).click();
  const hookSecret = page.locator(".secret code", { hasText: /^whsec_/ });
  await hookSecret.waitFor();
  await fetch(`${baseUrl}/api/widget/salespop-push`, {
    method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${secret}` },
    body: JSON.stringify({ project: SLUG, type: "signed_up", name: "Lee" }),
  });
  // This machine reaches no outside host: the attempt fails, and the log says so.
  await page.getByRole("button", { name: "Deliveries" }).click();
  for (let tries = 0; !(await page.getByRole("cell", { name: "socialproof.pushed" }).count()) && tries < 50; tries++) {
    await page.waitForTimeout(200);
    await page.getByRole("button", { name: "Deliveries" }).click();
  }
  await page.getByRole("cell", { name: "socialproof.pushed" }).first().waitFor();
  await shot(page, "admin-webhooks");
  await page.getByRole("button", { name: "Redeliver" }).first().click();
  await page.getByText("Queued: it goes out again shortly.").waitFor();
  await page.getByRole("button", { name: "Turn off" }).click();
  await page.getByRole("button", { name: "Turn on" }).waitFor();
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByText("No webhooks yet.").waitFor();
  report.webhook = "added, logged, redelivered, turned off, deleted";
  await page.getByRole("link", { name: "Install & push secret" }).click();

  // The checklist ticks each first step as it is done: the push secret now, not yet a document
  // or a question (whether a page connected depends on the pushes' timing, so it is not read).
  let done = await stepsDone(page);
  assert.ok(done.includes("Create a push secret"), `done: ${done}`);
  assert.ok(!done.includes("Add a first document") && !done.includes("Ask a test question"), `done: ${done}`);

  // Add a document: the widget's answer cites it at once.
  await page.getByRole("link", { name: "Knowledge base" }).click();
  await page.getByLabel("Title").fill("Returns");
  await page.getByLabel("Format").selectOption("markdown");
  await page.getByLabel("Content").fill("# Returns\n\nAcme takes returns within 45 days of delivery, free of charge.");
  await page.getByRole("button", { name: "Add document" }).click();
  await page.getByRole("cell", { name: "Returns", exact: true }).waitFor();
  await shot(page, "admin-knowledge");
  done = await stepsDone(page);
  assert.ok(done.includes("Create a push secret") && done.includes("Add a first document"), `done: ${done}`);
  assert.ok(!done.includes("Ask a test question"), `done: ${done}`);
  await page.getByRole("link", { name: "Knowledge base" }).click();

  // A visitor chats on the new project's site.
  const visitor = await context.newPage();
  await visitor.goto(`${baseUrl}/demo?project=${SLUG}`);
  // The site names its signed-in customer, with the hash its server made.
  await visitor.waitForFunction(() => typeof window.HelpYap?.identify === "function");
  const userHash = createHmac("sha256", identitySecret).update("cust-9").digest("hex");
  const identified = await visitor.evaluate((hash) => HelpYap.identify(
    { userId: "cust-9", email: "vic@example.com", name: "Vic Visitor" }, hash), userHash);
  assert.equal(identified?.verified, true, JSON.stringify(identified));
  await visitor.locator("#helpyap-widget .launcher").click();
  await visitor.locator("#helpyap-widget textarea").fill("How long do I have to return an item?");
  await visitor.locator("#helpyap-widget textarea").press("Enter");
  const answer = visitor.locator("#helpyap-widget .msg.assistant").last();
  await answer.locator(".sources").waitFor({ timeout: 15000 });
  report.answer = await answer.textContent();
  assert.match(report.answer, /45 days/);
  await visitor.waitForFunction(() => !document.querySelector("#helpyap-widget").shadowRoot.querySelector("form button").disabled);
  await visitor.locator("#helpyap-widget textarea").fill("Do you sell pizza?");
  await visitor.locator("#helpyap-widget textarea").press("Enter");
  // The answer has ended when the send button comes back.
  await visitor.waitForFunction(() => {
    const root = document.querySelector("#helpyap-widget").shadowRoot;
    return root.querySelectorAll(".msg.assistant").length >= 3 && !root.querySelector("form button").disabled;
  }, null, { timeout: 15000 });
  assert.match(await answer.textContent(), /couldn't find that/);

  // The chat is in the inbox, flagged unanswered for the pizza question.
  await page.getByRole("link", { name: "Conversations" }).click();
  const thread = page.getByRole("button", { name: /^How long do I have to return an item\?/ });
  await thread.waitFor();
  assert.match(await thread.textContent(), /unanswered/);
  assert.match(await thread.textContent(), /Vic Visitor verified/);
  await thread.click();
  await page.locator(".bubble.assistant", { hasText: "45 days" }).waitFor();
  await page.locator(".visitor", { hasText: "Vic Visitor vic@example.com · user cust-9 verified" }).waitFor();

  // A teammate replies; the visitor, chat still open, sees it within seconds.
  await page.getByLabel("Reply as a teammate").fill("Hi, Dana from Acme here: we do sell pizza on Fridays!");
  await page.getByRole("button", { name: "Send reply" }).click();
  await page.locator(".bubble.agent", { hasText: "Dana from Acme" }).waitFor();
  const agentReply = visitor.locator("#helpyap-widget .msg.agent");
  await agentReply.waitFor({ timeout: 15000 });
  report.agentReplyInWidget = await agentReply.textContent();
  assert.match(report.agentReplyInWidget, /Acme Inc\. team.*Dana from Acme/s);
  assert.doesNotMatch(report.agentReplyInWidget, /@/, "the teammate's email stays private");
  if (screenshots) await visitor.screenshot({ path: `${screenshots}/widget-agent-reply.png` });
  // The visitor also leaves a lead for a human.
  const [sessionId, sessionToken] = await visitor.evaluate((slug) =>
    [localStorage.getItem(`helpyap:${slug}:sessionId`), localStorage.getItem(`helpyap:${slug}:token`)], SLUG);
  const lead = await fetch(`${baseUrl}/api/widget/lead`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ projectSlug: SLUG, sessionId, sessionToken, email: "visitor@example.com", name: "Vic", message: "Call me" }),
  });
  assert.equal(lead.status, 201, await lead.text());
  await visitor.close();
  await page.getByLabel("Only unanswered").check();
  await page.getByRole("button", { name: /^How long do I have to return/ }).waitFor();
  report.inboxShowsChat = true;
  await shot(page, "admin-inbox");

  // Overview: figures and the four charts with bars in them.
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("heading", { name: "Top questions" }).waitFor();
  assert.equal(await page.locator(".checklist").count(), 0, "every first step done: no checklist");
  report.charts = await page.locator(".chart svg").count();
  assert.equal(report.charts, 4);
  report.bars = await page.locator(".chart svg rect").count();
  assert.ok(report.bars >= 3, `bars drawn: ${report.bars}`);
  report.figures = Object.fromEntries(await page.locator(".figure").evaluateAll((nodes) =>
    nodes.map((n) => [n.querySelector(".label").textContent, n.querySelector(".value").textContent])));
  assert.equal(report.figures.Conversations, "1");
  assert.equal(report.figures["Popups pushed"], "2", "the first push and the webhook's");
  assert.equal(report.figures["Popups seen"], "1");
  assert.equal(report.figures["Popup clicks"], "1 (100%)");
  await page.getByRole("cell", { name: "purchased" }).waitFor();
  assert.equal(report.figures.Unanswered, "1");
  await shot(page, "admin-overview");

  // Leads: the lead, and a link to its conversation in the inbox.
  await page.getByRole("link", { name: "Leads" }).click();
  await page.getByRole("heading", { name: "Leads" }).waitFor();
  await page.getByRole("cell", { name: "visitor@example.com" }).waitFor();
  await page.getByRole("link", { name: /^Open / }).click();
  await page.locator(".bubble.agent", { hasText: "Dana from Acme" }).waitFor();
  // The lead is on the conversation; the teammate's reply made it theirs.
  await page.locator(".card.lead", { hasText: "Vic" }).getByRole("link", { name: "visitor@example.com" }).waitFor();
  await page.locator(".handoff .badge", { hasText: "with a teammate" }).waitFor();
  assert.equal(await page.locator(".inbox section").evaluate((node) => node.textContent.includes("null")), false);
  await shot(page, "admin-conversation-handoff");
  await page.getByRole("button", { name: "Hand back to the assistant" }).click();
  await page.locator(".handoff", { hasText: "Not assigned." }).waitFor();

  // On a phone every screen fits its width, and "Sign out" stays in reach.
  await page.setViewportSize({ width: 390, height: 844 });
  for (const screen of ["Overview", "Conversations", "Leads", "Knowledge base", "Widget settings",
    "Install & push secret", "Team", "Webhooks", "Your profile"]) {
    await page.getByRole("link", { name: screen, exact: true }).click();
    await page.locator("nav.side a[aria-current=page]", { hasText: screen }).waitFor();
    await page.locator("main h1").first().waitFor();
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${screen} is ${width} px wide on a 390 px phone`);
    const signOut = await page.getByRole("button", { name: "Sign out" }).boundingBox();
    assert.ok(signOut && signOut.x >= 0 && signOut.x + signOut.width <= 390, `${screen}: Sign out on screen`);
    if (screen === "Overview") await shot(page, "admin-overview-phone");
  }
  report.phoneWidth = true;
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem("helpyap-admin:refresh")), null);

  assert.deepEqual(problems, [], "no script errors and no CSP violations");
  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
