// Drives Debian's chromium (headless) through answers as visitors get them on the demo project:
// the owner sets the answers' languages, instructions and the widget's language in the
// dashboard; a visitor's question gets the sentence that answers it with a real link to read
// more; a help-center list and bold text render as a list and bold (and HTML in it stays text);
// a question the help center cannot answer offers a person with a button; asking for a person
// opens the contact form by itself. At desktop and phone sizes.
// Usage: node answers_e2e.mjs BASE_URL EMAIL PASSWORD [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { launchChromium, signIn } from "./chromium.mjs";
import { strict as assert } from "node:assert";

const [baseUrl, email, password, screenshots] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();

async function shot(page, name) {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png` });
}

const problems = [];
const watch = (page) => {
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()}`); });
};

/** Asks `question` in the open widget and waits for the answer to end. */
async function ask(page, question) {
  const widget = (selector) => page.locator(`#helpyap-widget ${selector}`);
  const before = await widget(".msg.assistant").count();
  await widget("form:not(.lead) textarea").fill(question);
  await widget("form:not(.lead) textarea").press("Enter");
  await page.waitForFunction((count) => {
    const root = document.querySelector("#helpyap-widget").shadowRoot;
    return root.querySelectorAll(".msg.assistant").length > count && !root.querySelector("form:not(.lead) button").disabled;
  }, before, { timeout: 15000 });
  return widget(".msg.assistant").last();
}

try {
  // The owner: Spanish answers too, instructions for a model, the widget in Spanish.
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const owner = await desk.newPage();
  watch(owner);
  await signIn(owner, baseUrl, email, password);
  await owner.goto(`${baseUrl}/admin#/demo/settings`);
  await owner.getByRole("heading", { name: "Widget settings" }).waitFor();
  await owner.getByLabel("Main language").selectOption("en");
  await owner.getByLabel("Español").check();
  const instructions = "Be brief. Hand refunds over $500 to a person.";
  await owner.getByLabel("Instructions for the AI model").fill(instructions);
  await owner.getByLabel("Widget language").selectOption("es");
  await owner.getByLabel("Custom widget texts").fill("send = Preguntar");
  await owner.getByRole("button", { name: "Save settings" }).click();
  await owner.getByText("Saved").waitFor();
  await shot(owner, "answers-settings");
  await owner.reload();
  await owner.getByRole("heading", { name: "Widget settings" }).waitFor();
  assert.equal(await owner.getByLabel("Instructions for the AI model").inputValue(), instructions);
  assert.equal(await owner.getByLabel("Español").isChecked(), true);
  assert.equal(await owner.getByLabel("Widget language").inputValue(), "es");

  // A visitor at desktop size: the widget speaks Spanish, with the owner's own word.
  const visitor = await desk.newPage();
  watch(visitor);
  await visitor.goto(`${baseUrl}/demo`);
  const widget = (selector) => visitor.locator(`#helpyap-widget ${selector}`);
  await widget(".launcher").click();
  assert.equal(await widget("form:not(.lead) textarea").getAttribute("placeholder"), "Escribe tu pregunta…");
  assert.equal(await widget("form:not(.lead) button[type=submit]").textContent(), "Preguntar");

  const sale = await ask(visitor, "Can I return a jacket I bought 3 weeks ago? It was on sale.");
  report.sale = await sale.locator(".md").textContent();
  assert.match(report.sale, /^Sale items can be returned within 14 days\./);
  const link = sale.locator(".md a");
  assert.equal(await link.getAttribute("href"), "https://acme.example/help/returns");
  assert.equal(await link.textContent(), "Returns and refunds");
  assert.ok(!report.sale.includes("]("), "the link is a link, not Markdown");

  // The test put up a document with a list, bold text and HTML a careless paste left in.
  const wrap = await ask(visitor, "Do you offer gift wrapping?");
  report.wrap = await wrap.locator(".md").textContent();
  assert.equal(await wrap.locator(".md li").count(), 2, report.wrap);
  assert.equal(await wrap.locator(".md li strong").first().textContent(), "Classic");
  assert.equal(await visitor.evaluate(() => window.__pwned), undefined);
  await shot(visitor, "answers-desktop");

  // Nothing on it: a person is offered with a button, which opens the contact form.
  const none = await ask(visitor, "Do you sell spaceships?");
  assert.match(await none.textContent(), /couldn't find that/);
  const offer = widget(".offer button");
  assert.equal(await offer.textContent(), "Hablar con una persona");
  await offer.click();
  await widget("form.lead").waitFor();

  // The owner improves that answer from the inbox; the next visitor asking gets it first.
  await owner.getByRole("link", { name: "Conversations" }).click();
  await owner.getByRole("button", { name: /Can I return a jacket/ }).click();
  await shot(owner, "answers-inbox");
  await owner.getByRole("button", { name: "Improve the answer to “Do you sell spaceships?”" }).click();
  await owner.locator("#improve-answer").fill("No, but our **Trail Jacket** is out of this world.");
  await shot(owner, "answers-improve");
  await owner.getByRole("button", { name: "Save to the FAQ" }).click();
  await owner.getByText("Saved to the FAQ").waitFor();
  const curated = await ask(visitor, "do you sell spaceships");
  assert.equal(await curated.locator(".md strong").textContent(), "Trail Jacket");
  assert.equal(await curated.locator(".sources").textContent(), "Fuentes:FAQ");
  await owner.getByRole("link", { name: "Knowledge base" }).click();
  await owner.getByText("Do you sell spaceships?").waitFor();
  await shot(owner, "answers-faq");

  // A visitor on a phone asks for a person: the contact form opens by itself.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const mobile = await phone.newPage();
  watch(mobile);
  await mobile.goto(`${baseUrl}/demo`);
  await mobile.locator("#helpyap-widget .launcher").click();
  await ask(mobile, "I want to speak to a person");
  await mobile.locator("#helpyap-widget form.lead").waitFor();
  const hello = await ask(mobile, "thanks!");
  assert.equal(await hello.locator(".md").textContent(), "You're welcome! Is there anything else I can help with?");
  await shot(mobile, "answers-phone");

  assert.deepEqual(problems, []);
  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
