// Drives Debian's chromium (headless) through the dashboard's Team view and invitations: an
// owner of `demo` invites a user (and withdraws a second invitation, and removes an agent); the
// invited user signs in with no role anywhere, sees the invitations, declines the one to `other`,
// accepts the one to `demo` and lands in its views; the owner then makes them an owner.
// Usage: node admin_team_e2e.mjs BASE_URL PASSWORD ADMIN OWNER AGENT INVITEE [SCREENSHOT_DIR]
// (the four users exist; OWNER owns demo, AGENT is its agent, INVITEE has no role but an
// invitation to `other`). Prints a JSON report; exits non-zero with the reason on the first failure.
import { launchChromium } from "./chromium.mjs";
import { strict as assert } from "node:assert";

const [baseUrl, password, adminEmail, ownerEmail, agentEmail, inviteeEmail, screenshots] = process.argv.slice(2);
const NOBODY = "nobody@example.com";
const report = {};

const browser = await launchChromium();

async function shot(page, name) {
  if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png`, fullPage: true });
}

// A tab of its own (own sessionStorage, so its own sign-in) that records script errors and
// Content-Security-Policy violations (they show up as console errors).
async function newPage(problems) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => { if (message.type() === "error") problems.push(`console: ${message.text()} (${message.location().url})`); });
  return page;
}

async function signIn(page, email) {
  await page.goto(`${baseUrl}/admin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

try {
  const problems = [];

  // The owner opens the Team view: every member, admins marked and fixed.
  const owner = await newPage(problems);
  const confirms = [];
  owner.on("dialog", (dialog) => { confirms.push(dialog.message()); dialog.accept(); });
  await signIn(owner, ownerEmail);
  await owner.getByRole("heading", { name: "Overview" }).waitFor();
  await owner.getByRole("link", { name: "Team" }).click();
  await owner.getByRole("heading", { name: "Team", exact: true }).waitFor();
  const members = owner.locator("section", { has: owner.getByRole("heading", { name: "Members" }) });
  const pending = owner.locator("section", { has: owner.getByRole("heading", { name: "Pending invitations" }) });
  await members.getByRole("cell", { name: agentEmail, exact: true }).waitFor();
  const adminRow = members.getByRole("row").filter({ hasText: adminEmail });
  assert.equal(await adminRow.locator(".badge").textContent(), "admin");
  assert.equal(await adminRow.getByRole("button").count(), 0, "an admin can't be removed here");
  assert.equal(await adminRow.getByRole("combobox").count(), 0, "nor have their role changed");
  assert.match(await members.getByRole("row").filter({ hasText: ownerEmail }).textContent(), /\(you\)/);
  assert.equal(await owner.getByLabel(`Role of ${agentEmail}`).inputValue(), "agent");
  await pending.getByText("No pending invitations.").waitFor();

  // Invite the user as an agent, and someone else as an owner.
  for (const [email, role] of [[inviteeEmail, "agent"], [NOBODY, "owner"]]) {
    await owner.getByLabel("Email address").fill(email);
    await owner.getByLabel("Role", { exact: true }).selectOption(role);
    await owner.getByRole("button", { name: "Invite", exact: true }).click();
    await owner.getByText(`Invitation sent to ${email}. They will see it after signing in.`).waitFor();
    await pending.getByRole("row").filter({ hasText: email }).getByRole("cell", { name: role, exact: true }).waitFor();
  }
  assert.equal(await owner.getByLabel("Email address").inputValue(), "", "the form is cleared after inviting");
  report.pendingShown = await pending.getByRole("row").count() - 1;
  await shot(owner, "admin-team");

  // Withdraw the second invitation; remove the agent, after a confirmation.
  await owner.getByRole("button", { name: `Withdraw the invitation to ${NOBODY}` }).click();
  await owner.getByText(`Invitation to ${NOBODY} withdrawn.`).waitFor();
  await pending.getByRole("cell", { name: NOBODY, exact: true }).waitFor({ state: "detached" });
  await owner.getByRole("button", { name: `Remove ${agentEmail}` }).click();
  await owner.getByText(`Removed ${agentEmail}.`).waitFor();
  await members.getByRole("cell", { name: agentEmail, exact: true }).waitFor({ state: "detached" });
  assert.equal(confirms.length, 1, "only the removal asks first");
  assert.match(confirms[0], new RegExp(`Remove ${agentEmail} from .*They lose access`));

  // The invited user signs in with no role anywhere: the invitations wait on top.
  const invitee = await newPage(problems);
  await signIn(invitee, inviteeEmail);
  await invitee.getByText("You have no role on any project yet.").waitFor();
  const cards = invitee.locator("section.invitation");
  const demoCard = cards.filter({ hasText: "(demo)" });
  const otherCard = cards.filter({ hasText: "(other)" });
  await demoCard.waitFor();
  report.cards = await cards.allTextContents();
  assert.equal(report.cards.length, 2, `${report.cards}`);
  assert.match(await demoCard.textContent(), /You're invited to join .+ \(demo\) as an agent\./);
  assert.match(await otherCard.textContent(), /You're invited to join .+ \(other\) as an owner\./);
  await shot(invitee, "admin-invitation");

  // Decline one: its card goes, the page stays.
  await otherCard.getByRole("button", { name: /^Decline/ }).click();
  await otherCard.waitFor({ state: "detached" });
  await invitee.getByText("You have no role on any project yet.").waitFor();

  // Accept the other: the project is in the picker and its views are open.
  await demoCard.getByRole("button", { name: /^Accept/ }).click();
  await invitee.getByRole("heading", { name: "Overview" }).waitFor();
  assert.equal(await cards.count(), 0, "no card once answered");
  assert.equal(await invitee.getByLabel("Project").inputValue(), "demo");
  report.inviteeViews = await invitee.getByRole("navigation", { name: "Sections" }).getByRole("link").allTextContents();
  assert.deepEqual(report.inviteeViews, ["Overview", "Conversations", "Leads", "Your profile"], "an agent's views");
  assert.match(await invitee.evaluate(() => location.hash), /^#\/demo\/overview$/);

  // The owner (after a reload, which keeps the sign-in) sees the new member; makes them an owner.
  await owner.reload();
  await owner.getByRole("heading", { name: "Team", exact: true }).waitFor();
  await pending.getByText("No pending invitations.").waitFor();
  const role = owner.getByLabel(`Role of ${inviteeEmail}`);
  assert.equal(await role.inputValue(), "agent");
  await role.selectOption("owner");
  await owner.getByText("Role updated.").waitFor();
  assert.equal(confirms.length, 1, "changing someone else's role asks nothing");
  report.roleUpdated = true;

  assert.deepEqual(problems, [], "no script errors and no CSP violations");
  console.log(JSON.stringify(report));
} catch (error) {
  console.error(error.stack || String(error));
  process.exitCode = 1;
} finally {
  await browser.close();
}
