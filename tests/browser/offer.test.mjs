// The waitlist offer, followed in headless Chromium against the local stack (`make e2e`): the
// link from the offer e-mail (prepared by tests/e2e's `prepare_an_offer_for_the_browser`: the
// 20 spots held, a person waitlisted, a spot freed, waitlist-offers run, the e-mail read back
// from the local SES) opens the landing page, which says the spot is reserved and until when;
// one click starts that person's founding checkout; paying through the Stripe stand-in makes
// them a founding member. Screenshots of each step.
//
// Settings (environment):
//   OFFER_LINK_FILE  the file the Rust step wrote: the link, then the e-mail (target/offer-link.txt)
//   API_URL          the local gateway (http://127.0.0.1:9000)
//   STANDIN_URL      the Stripe stand-in (http://127.0.0.1:12111)
//   SCREENSHOTS      where to save the screenshots (target/browser-screenshots)
//   CHROMIUM         the browser (/usr/bin/chromium)

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

function env(name, fallback) {
  const value = process.env[name];
  if (value) return value;
  if (fallback === undefined) throw new Error(`${name} is required`);
  return fallback;
}

const [LINK, EMAIL] = readFileSync(env("OFFER_LINK_FILE", "target/offer-link.txt"), "utf8").trim().split("\n");
const API_URL = env("API_URL", "http://127.0.0.1:9000");
const STANDIN_URL = env("STANDIN_URL", "http://127.0.0.1:12111");
const SHOTS = resolve(env("SCREENSHOTS", "target/browser-screenshots"));
mkdirSync(SHOTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

const shots = [];
async function shot(page, name, what) {
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage: true });
  shots.push({ path, what });
  console.log(`screenshot ${path}: ${what}`);
}

async function members() {
  const response = await fetch(`${API_URL}/billing/founding-spots`);
  assert.equal(response.status, 200);
  return (await response.json()).members;
}

try {
  assert.equal(await members(), 0, "no member before the offer is taken");

  // 1. The link at phone width, then on a desktop: the reservation, in words, and one button.
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const small = await phone.newPage();
  small.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  await small.goto(LINK);
  await small.locator(".aos-banner").filter({ hasText: "reserved for you until" }).waitFor();
  await shot(small, "offer-1-reserved-375.png", `the offer link at 375 px: "${await small.locator(".aos-banner").textContent()}"`);

  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  await page.goto(LINK);
  const banner = await page.locator(".aos-banner").filter({ hasText: "Founding spot 6 is reserved for you until" }).textContent();
  assert.equal(await page.getByLabel("Work e-mail").inputValue(), EMAIL, "the e-mail is the offer's");
  const claim = page.getByRole("button", { name: "Claim founding spot 6" });
  await shot(page, "offer-2-reserved.png", `the landing page from the offer e-mail: "${banner}"`);

  // 2. One click: that person's founding checkout at the Stripe stand-in.
  await claim.click();
  await page.waitForURL(`${STANDIN_URL}/checkout/**`);
  await page.getByText(EMAIL).first().waitFor();
  await shot(page, "offer-3-checkout.png", "one click from the offer: the stand-in's checkout page for the founding plan");

  // 3. Pay: a founding member of the offered spot.
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL((url) => !url.toString().startsWith(STANDIN_URL));
  await shot(page, "offer-4-welcome.png", `paid; back on ${page.url()}`);
  const deadline = Date.now() + 30000;
  let count = await members();
  while (count !== 1 && Date.now() < deadline) {
    await new Promise((done) => setTimeout(done, 1000)); // founding-spots caches 5 s
    count = await members();
  }
  assert.equal(count, 1, "the offered spot became a founding membership");
  console.log(`offer test: passed (${shots.length} screenshots in ${SHOTS})`);
} finally {
  await browser.close();
}
