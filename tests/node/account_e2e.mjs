// Drives Debian's chromium (headless) through an invitation's emailed link (a new account joins),
// then "forgot password" and its emailed link, then the email setting of the profile. The reset
// link is read from the test SMTP server's mail file.
// Usage: node account_e2e.mjs BASE_URL EMAIL MAIL_FILE JOIN_FRAGMENT [SCREENSHOT_DIR]
// Prints a JSON report; exits non-zero with the reason on the first failure.
import { launchChromium } from "./chromium.mjs";
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";

const [baseUrl, email, mailFile, joinFragment, screenshots] = process.argv.slice(2);
const report = {};
const browser = await launchChromium();

async function shot(page, name) {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png` });
}

function mailLink() {
  let lines = [];
  try { lines = readFileSync(mailFile, "utf8").trim().split("\n").filter(Boolean); } catch { /* none yet */ }
  const body = lines.length ? JSON.parse(lines[lines.length - 1]).body : "";
  return body.match(/https?:\/\/\S+#\/reset\/[\w-]+/)?.[0];
}

try {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  const problems = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));

  // Invited by email with no account: the link asks for a password, and the inbox is next.
  await page.goto(`${baseUrl}/admin${joinFragment}`);
  await page.getByLabel("Password", { exact: true }).fill("joining is easy 123");
  await page.getByLabel("Password again").fill("joining is easy 123");
  await shot(page, "admin-join");
  await page.getByRole("button", { name: "Join" }).click();
  await page.getByRole("heading", { name: "Conversations" }).waitFor();
  report.joined = true;
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();

  await page.goto(`${baseUrl}/admin`);
  await page.getByRole("button", { name: "Forgot password?" }).click();
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Email me a link" }).click();
  await page.getByText("If an account has this email").waitFor();
  let link;
  for (let tries = 0; !(link = mailLink()) && tries < 100; tries++) await page.waitForTimeout(100);
  assert.ok(link, "the reset email came");

  // The link names the server's public address (email.public_url); this one listens elsewhere.
  await page.goto(`${baseUrl}/admin${new URL(link).hash}`);
  await page.getByLabel("New password", { exact: true }).waitFor();
  assert.doesNotMatch(page.url(), /reset/, "the token leaves the address bar");
  await page.getByLabel("New password", { exact: true }).fill("a brand new password");
  await page.getByLabel("New password again").fill("a different one!!");
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByText("The two passwords differ.").waitFor();
  await page.getByLabel("New password again").fill("a brand new password");
  await shot(page, "admin-reset-password");
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByText("Password set. Sign in with it.").waitFor();
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill("a brand new password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
  report.resetAndSignedIn = true;

  await page.getByRole("link", { name: "Your profile" }).click();
  await page.getByLabel("Email me when a visitor leaves their contact").check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("Saved.").waitFor();
  assert.equal(await page.getByText("Email is off on this server").count(), 0, "email is on here");
  report.notificationsOn = true;

  assert.deepEqual(problems, [], "no script errors");
  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
