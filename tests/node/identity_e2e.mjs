// HelpYap.identify in Debian's chromium, with identity verification on: the site's server signs
// the visitor's id (node's crypto, as the README shows), the page names them — queued before
// the widget loaded on the laptop, after it on the phone — and the conversation started on the
// laptop opens on the phone. A forged hash is refused and leaves the visitor anonymous.
// When the owner rotates the secret under an open page, its questions still get answers (as a
// guest's).
// Usage: node identity_e2e.mjs BASE_URL IDENTITY_SECRET OWNER_EMAIL OWNER_PASSWORD [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { createHmac } from "node:crypto";
import { strict as assert } from "node:assert";
import { launchChromium } from "./chromium.mjs";
import { shopHelpers } from "./shop.mjs";

const [baseUrl, identitySecret, ownerEmail, ownerPassword, screenshots] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();
const { shot } = shopHelpers(browser, baseUrl, "", screenshots);

const ANA = { userId: "user-42", email: "ana@example.com", name: "Ana Lopez" };
const userHash = (userId) => createHmac("sha256", identitySecret).update(userId).digest("hex");

// A signed-in page: the stub, `identify` queued with the hash the site's server made, the tag.
const signedInPage = (hash, queued) => `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Account</title>
<link rel="icon" href="data:,"></head><body><h1>Your account</h1>
<script>
window.HelpYap=window.HelpYap||{q:[]};["open","close","toggle","setLocale","identify","on","off","shutdown"].forEach(function(m){HelpYap[m]=HelpYap[m]||function(){HelpYap.q.push([m,[].slice.call(arguments)])}});
window.__ready = false;
HelpYap.on("ready", function () { window.__ready = true; });
${queued ? `HelpYap.identify(${JSON.stringify(ANA)}, ${JSON.stringify(hash)});` : ""}
</script>
<script src="/widget.js" data-project="demo" async></script></body></html>`;

async function visit(viewport, hash, queued) {
  const context = await browser.newContext({ viewport });
  await context.route(`${baseUrl}/account/**`, (route) =>
    route.fulfill({ contentType: "text/html", body: signedInPage(hash, queued) }));
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error.message));
  page.warnings = [];
  page.on("console", (message) => { if (message.type() === "warning") page.warnings.push(message.text()); });
  await page.goto(`${baseUrl}/account/home`);
  await page.waitForFunction(() => window.__ready, null, { timeout: 15000 });
  return { context, page };
}

const widget = (page, selector, options) => page.locator(`#helpyap-widget ${selector}`, options);

try {
  // The laptop: identify queued before load; Ana asks.
  const laptop = await visit({ width: 1280, height: 800 }, userHash(ANA.userId), true);
  await laptop.page.evaluate(() => HelpYap.open());
  await widget(laptop.page, ".quick button", { hasText: "Pricing" }).click();
  await widget(laptop.page, ".msg.assistant .feedback").first().waitFor({ timeout: 15000 });
  const laptopSession = await laptop.page.evaluate(() => localStorage.getItem("helpyap:demo:sessionId"));
  assert.ok(laptopSession, "the laptop has a conversation");

  // The phone: a new browser. Identified after load, it is shown Ana's conversation.
  const phone = await visit({ width: 390, height: 844 }, userHash(ANA.userId), false);
  const answer = await phone.page.evaluate(([user, hash]) => HelpYap.identify(user, hash),
    [ANA, userHash(ANA.userId)]);
  assert.equal(answer?.conversation, "other", JSON.stringify(answer));
  assert.equal(answer.verified, true);
  assert.equal(await phone.page.evaluate(() => localStorage.getItem("helpyap:demo:sessionId")), laptopSession);
  assert.notEqual(
    await phone.page.evaluate(() => localStorage.getItem("helpyap:demo:token")),
    await laptop.page.evaluate(() => localStorage.getItem("helpyap:demo:token")),
    "the phone has a token of its own");
  await phone.page.evaluate(() => HelpYap.open());
  await widget(phone.page, ".msg.user", { hasText: "Pricing" }).waitFor({ timeout: 15000 });
  await shot(phone.page, "widget-identify-phone");
  // And goes on with it: the question is Ana's, from either browser.
  await widget(phone.page, "textarea").fill("Do you ship abroad?");
  await widget(phone.page, "form button[type=submit]").click();
  await widget(phone.page, ".msg.assistant .feedback").nth(1).waitFor({ timeout: 15000 });
  await laptop.page.reload();
  await laptop.page.waitForFunction(() => window.__ready, null, { timeout: 15000 });
  await laptop.page.evaluate(() => HelpYap.open());
  await widget(laptop.page, ".msg.user", { hasText: "Do you ship abroad?" }).waitFor({ timeout: 15000 });

  // A forged hash: refused, a warning, and the visitor stays anonymous with no conversation.
  const stranger = await visit({ width: 1280, height: 800 }, "00".repeat(32), true);
  const refused = await stranger.page.evaluate((user) => HelpYap.identify(user, "ab".repeat(32)), ANA);
  assert.equal(refused, null);
  assert.ok(stranger.page.warnings.some((text) => /identify refused: userHash does not match/.test(text)),
    JSON.stringify(stranger.page.warnings));
  assert.equal(await stranger.page.evaluate(() => localStorage.getItem("helpyap:demo:sessionId")), null);
  await stranger.page.evaluate(() => HelpYap.open());
  await widget(stranger.page, ".quick button").first().waitFor();
  assert.equal(await widget(stranger.page, ".msg.user").count(), 0, "nothing of Ana's shown");

  // Sign-out on the phone: it forgets her; identified again, it finds her conversation again.
  await phone.page.evaluate(() => HelpYap.shutdown());
  assert.equal(await phone.page.evaluate(() => localStorage.getItem("helpyap:demo:sessionId")), null);
  const again = await phone.page.evaluate(([user, hash]) => HelpYap.identify(user, hash),
    [ANA, userHash(ANA.userId)]);
  assert.equal(again?.conversation, "other");
  await widget(phone.page, ".msg.user", { hasText: "Do you ship abroad?" }).waitFor({ timeout: 15000 });

  // The owner rotates the secret while the laptop's page is open: its hash no longer vouches,
  // and its next question is answered all the same, as a guest's, with a warning.
  const login = await fetch(`${baseUrl}/api/admin/auth/login`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: ownerEmail, password: ownerPassword }),
  });
  const { accessToken } = await login.json();
  const rotated = await fetch(`${baseUrl}/api/admin/projects/demo/identity-secret`, {
    method: "POST", headers: { Authorization: `Bearer ${accessToken}` },
  });
  assert.equal(rotated.status, 200);
  const answersBefore = await widget(laptop.page, ".msg.assistant .feedback").count();
  await widget(laptop.page, "textarea").fill("How do I reset my password?");
  await widget(laptop.page, "form button[type=submit]").click();
  await widget(laptop.page, ".msg.assistant .feedback").nth(answersBefore).waitFor({ timeout: 15000 });
  assert.equal(await widget(laptop.page, ".msg.error").count(), 0, "no error shown");
  assert.ok(laptop.page.warnings.some((text) => /identity was refused/.test(text)), JSON.stringify(laptop.page.warnings));

  for (const { page } of [laptop, phone, stranger]) assert.deepEqual(page.errors, []);
  report.session = laptopSession;
  report.identity = true;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
