// A conversation resolved while the visitor's own answer still streams, in Debian's chromium at
// 390×844: the answer streams on undisturbed, and the rating card comes after it, once.
// The server's model is the test suite's fake, asked to drip its answer (`[drip]`, ~10 s).
// Usage: node rating_stream_e2e.mjs BASE_URL OWNER_EMAIL OWNER_PASSWORD
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { strict as assert } from "node:assert";
import { launchChromium } from "./chromium.mjs";

const [baseUrl, ownerEmail, ownerPassword] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();

const login = await fetch(`${baseUrl}/api/admin/auth/login`, {
  method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify({ email: ownerEmail, password: ownerPassword }),
});
const { accessToken } = await login.json();
const auth = { Authorization: `Bearer ${accessToken}`, "Content-Type": "application/json" };

try {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  // The visitor's live channel, and the moment it tells of the resolution.
  let told = null;
  const connected = new Promise((resolve) => page.on("websocket", (socket) => {
    if (!socket.url().includes("/api/widget/session/ws")) return;
    socket.on("framereceived", ({ payload }) => {
      if (String(payload).includes("\"ready\"")) resolve();
      if (String(payload).includes("\"resolved\"")) told ??= Date.now();
    });
  }));
  const widget = (selector, options) => page.locator(`#helpyap-widget ${selector}`, options);
  await page.goto(`${baseUrl}/demo?project=demo`);
  await widget(".launcher").click();
  await widget("form textarea").fill("[drip] Tell me everything about returns");
  await widget("form textarea").press("Enter");
  await widget(".msg.assistant", { hasText: "word3" }).waitFor({ timeout: 15000 });
  await connected;

  // A teammate resolves it while the answer streams.
  const sessionId = await page.evaluate(() => localStorage.getItem("helpyap:demo:sessionId"));
  const resolved = await fetch(`${baseUrl}/api/admin/projects/demo/conversations/${sessionId}`, {
    method: "PATCH", headers: auth, body: JSON.stringify({ status: "resolved" }),
  });
  assert.equal(resolved.status, 200, await resolved.text());
  const deadline = Date.now() + 5000;
  while (!told && Date.now() < deadline) await page.waitForTimeout(50);
  assert.ok(told, "the live channel told the widget");
  // Told mid-answer: no card yet, the answer still growing.
  const streaming = await widget(".msg.assistant").last().textContent();
  assert.equal(await widget("form.rating").count(), 0, "not in the middle of the answer");
  assert.ok(!streaming.includes("word199"), "the answer was still streaming");
  // Once it is complete, the card, after the answer.
  await widget(".msg.assistant", { hasText: "word199" }).waitFor({ timeout: 20000 });
  await widget("form.rating").waitFor({ timeout: 5000 });
  assert.equal(await widget("form.rating").count(), 1);
  report.cardAfterAnswer = await page.evaluate(() => {
    const log = document.querySelector("#helpyap-widget").shadowRoot.querySelector(".log");
    const children = [...log.children];
    const answer = children.findLastIndex((node) => node.textContent.includes("word199"));
    return children.indexOf(log.querySelector("form.rating")) > answer;
  });
  assert.equal(report.cardAfterAnswer, true);
  assert.deepEqual(errors, []);
  report.rateAfterAnswer = true;
  console.log(JSON.stringify(report));
} finally {
  await browser.close();
}
