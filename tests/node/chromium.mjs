// Starts Debian's chromium headless for the browser scripts, with the flags this sandbox needs
// (no background networking: the machine has no network to reach).
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
}

/** Signs `page` in to the dashboard at `baseUrl` and waits for the overview. */
export async function signIn(page, baseUrl, email, password) {
  await page.goto(`${baseUrl}/admin`);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
}
