// The landing-page widget in a real browser (Debian's Chromium, driven by playwright-core)
// against the local stack that `make e2e` starts, through the local API gateway as in production:
// live count, a bad e-mail, a founding checkout through the Stripe stand-in's page and back, the
// payer signed in (a token from the gateway's local issuer) opening the billing portal, sold out
// with a waitlist position, a phone-width screen. Saves a screenshot of each state.
//
// Then the answers the stack cannot easily be made to give on cue, with create-checkout and
// founding-spots answered by page.route (the landing page is still the real one): 429
// too_many_holds (one network holding too many founding spots) and API Gateway's own 429, in
// different words; and the human check (Cloudflare Turnstile) with data-turnstile-sitekey, whose
// script is a stub served by page.route (nothing is fetched from the internet): the token is
// sent as turnstile_token with founding checkouts only, and 400 human_check_failed is shown. A
// page without the sitekey loads nothing from Cloudflare. `WIDGET_CASES=stubbed` runs only these
// (they need only WIDGET_URL: e.g. `infra/local/landing.py --port 18080 --api http://127.0.0.1:19000`).
//
// The embed snippet of docs/widget.md, read out of the doc, the stack's URLs replaced by the local
// ones, alone in a plain page: the landing server's /embed.html must be exactly that page, and it
// is opened from another origin than the landing page's (EMBED_ORIGIN, one of the gateway's
// WidgetOrigins under make dev): the widget loads from the local /widget/v1/ URL, shows the spots
// through the gateway's CORS and starts a checkout. With data-calendly-url instead, "Book a Demo"
// opens Calendly (its popup when the page has Calendly's script); the CSS custom properties
// recolour it.
//
// Environment (make e2e sets it):
//   WIDGET_URL       the landing page example, e.g. http://127.0.0.1:8080/ (make dev serves it;
//                    the widget's files at <its origin>/widget/v1/)
//   EMBED_ORIGIN     where the plain page with the snippet is opened: the landing server under
//                    another name (default http://localhost:8080)
//   API_URL          the local API gateway, e.g. http://127.0.0.1:9000 (the HTTP API's routes)
//   CHECKOUT_URL     create-checkout, e.g. http://127.0.0.1:9000/billing/create-checkout
//   STANDIN_URL      the Stripe stand-in, e.g. http://127.0.0.1:12111
//   SCREENSHOTS      where to save the screenshots (default target/browser-screenshots)
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   WIDGET_CASES     "stubbed": only the cases whose API answers are stubbed (no stack needed)

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] || fallback;
  if (!value) {
    console.error(`widget test: ${name} is not set (run it with make e2e)`);
    process.exit(2);
  }
  return value;
};

const WIDGET_URL = env("WIDGET_URL");
const API_URL = env("API_URL", "http://127.0.0.1:9000");
const CHECKOUT_URL = env("CHECKOUT_URL", `${API_URL}/billing/create-checkout`);
const STANDIN_URL = env("STANDIN_URL", "http://127.0.0.1:12111");
const SHOTS = resolve(env("SCREENSHOTS", "target/browser-screenshots"));
const STANDIN_KEY = "sk_test_local_standin";
const WIDGET_HOST = new URL(WIDGET_URL).origin;
const EMBED_ORIGIN = env("EMBED_ORIGIN", "http://localhost:8080");
mkdirSync(SHOTS, { recursive: true });

// docs/widget.md's snippet uses these as the stack's URLs (WidgetUrl's host, HttpApiUrl).
const DOC_WIDGET_HOST = "https://d111111abcdef8.cloudfront.net";
const DOC_API = /https:\/\/[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com/g;

/** The embed snippet of docs/widget.md (the html block after its embed-snippet marker), with the
 * stack's URLs replaced by the local ones. */
function embedSnippet() {
  const doc = readFileSync(new URL("../../docs/widget.md", import.meta.url), "utf8");
  const match = /<!-- embed-snippet[\s\S]*?-->\s*```html\n([\s\S]*?)```/.exec(doc);
  assert.ok(match, "docs/widget.md has no embed snippet (an html block after <!-- embed-snippet … -->)");
  const snippet = match[1];
  assert.ok(snippet.includes(`${DOC_WIDGET_HOST}/widget/v1/agency-os-widget.js`), snippet);
  assert.match(snippet, DOC_API);
  const local = snippet.replaceAll(DOC_WIDGET_HOST, WIDGET_HOST).replace(DOC_API, API_URL);
  assert.doesNotMatch(local, /https:\/\//, "every URL of the snippet is replaced by a local one");
  return local;
}

/** A plain HTML page holding only `snippet` (as infra/local/landing.py's /embed.html). */
function plainPage(snippet) {
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>A plain page</title></head>\n<body>\n${snippet}</body></html>\n`;
}

/** Opens `html` at `url`, answered by the test (on the widget's own origin: Chromium lets a page
 * the test answers reach loopback servers only on its own origin). */
async function openPage(context, url, html) {
  const page = await context.newPage();
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  await page.route(url, (route) => route.fulfill({ status: 200, contentType: "text/html; charset=utf-8", body: html }));
  await page.goto(url);
  return page;
}

// The flags that work on these machines' closed network (see the env notes).
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

const banner = (page) => page.locator(".aos-banner");
const status = (page) => page.locator(".aos-status");

/** Reloads until the banner says `text` (founding-spots caches for 5 s per instance). */
async function bannerBecomes(page, pattern, seconds = 30) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const text = (await banner(page).textContent()) || "";
    if (pattern.test(text)) return text;
    if (Date.now() > deadline) {
      assert.fail(`banner never matched ${pattern}; last: ${JSON.stringify(text)}`);
    }
    await page.waitForTimeout(1500);
    await page.reload();
    await page.waitForFunction(() => !/Loading/.test(document.querySelector(".aos-banner")?.textContent || "Loading"));
  }
}

async function standinSessions(email) {
  const response = await fetch(`${STANDIN_URL}/v1/checkout/sessions?customer_email=${encodeURIComponent(email)}`, {
    headers: { Authorization: `Bearer ${STANDIN_KEY}` },
  });
  assert.equal(response.status, 200);
  const body = await response.json();
  return body.data.filter((s) => s.customer_email === email);
}

/** A founding member made over HTTP: checkout, then "Pay" through the stand-in. The gateway
 * throttles create-checkout as the template says (burst 10, 5/s): a 429 is waited out. */
async function payFounding(email) {
  let response;
  for (let attempt = 0; ; attempt += 1) {
    response = await fetch(CHECKOUT_URL, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email, plan_type: "founding" }),
    });
    if (response.status !== 429 || attempt === 20) break;
    await new Promise((done) => setTimeout(done, 300));
  }
  const body = await response.json();
  assert.equal(response.status, 200, JSON.stringify(body));
  const paid = await fetch(`${STANDIN_URL}/checkout/${body.session_id}/pay`, { method: "POST" });
  const result = await paid.json();
  assert.equal(result.webhook.status, 200, JSON.stringify(result));
}

/** JSON from a stubbed API route, with the CORS header API Gateway would add for the landing page. */
function json(status, body) {
  return {
    status,
    contentType: "application/json",
    headers: { "Access-Control-Allow-Origin": new URL(WIDGET_URL).origin },
    body: JSON.stringify(body),
  };
}

// Stands in for https://challenges.cloudflare.com/turnstile/v0/api.js: the explicit-render API
// the widget uses (render, getResponse, reset); "I am human" yields Cloudflare's test token.
const TURNSTILE_STUB = `
window.turnstile = {
  sitekeys: [], resets: 0, token: "",
  render(container, options) {
    this.sitekeys.push(options.sitekey);
    this.container = container; this.options = options; this.draw();
    return "stub-widget";
  },
  draw() {
    this.container.innerHTML = "";
    const box = document.createElement("div");
    box.style.cssText = "display:inline-flex;align-items:center;gap:.5rem;width:300px;height:65px;padding:0 .75rem;border:1px solid #d0d4dc;background:#fafafa;box-sizing:border-box";
    const button = document.createElement("button");
    button.type = "button"; button.textContent = "I am human"; button.className = "stub-turnstile";
    button.onclick = () => {
      this.token = "XXXX.DUMMY.TOKEN.XXXX"; button.textContent = "Success!"; button.disabled = true;
      this.options.callback(this.token);
    };
    box.append(button, document.createTextNode("Turnstile (test stub)"));
    this.container.append(box);
  },
  getResponse() { return this.token; },
  reset() { this.resets += 1; this.token = ""; this.draw(); },
};`;

const SITEKEY = "1x00000000000000000000AA"; // Cloudflare's always-passing test sitekey

/** The cases whose API answers come from page.route: refusals in plain words, the human check. */
async function stubbedCases() {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const fromCloudflare = [];
  context.on("request", (request) => {
    if (new URL(request.url()).hostname === "challenges.cloudflare.com") fromCloudflare.push(request.url());
  });
  // Anything else outside this machine would hang on the closed network: refuse it at once.
  await context.route((url) => !["127.0.0.1", "localhost"].includes(url.hostname) &&
    url.hostname !== "challenges.cloudflare.com", (route) => route.abort());
  // The count for the landing page and for the snippet's plain page (EMBED_ORIGIN): API Gateway
  // echoes an allowed origin.
  await context.route(`${API_URL}/billing/founding-spots`, (route) => route.fulfill({
    ...json(200, { total: 20, remaining: 6, members: 12, held: 2, discount_percent: 40, waitlist_open: false }),
    headers: { "Access-Control-Allow-Origin": route.request().headers().origin || WIDGET_HOST },
  }));
  const sent = [];
  let answer = json(500, {});
  await context.route(CHECKOUT_URL, (route) => {
    if (route.request().method() !== "POST") return route.continue();
    sent.push(route.request().postDataJSON());
    return route.fulfill(answer);
  });

  // 1. One network holding too many founding spots: create-checkout's 429 too_many_holds.
  const page = await context.newPage();
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  await page.goto(WIDGET_URL);
  await banner(page).filter({ hasText: "6 of 20 founding spots left" }).waitFor();
  answer = json(429, {
    error: "too_many_holds",
    reason: "This network already holds 2 founding spots; a spot is released when its checkout ends.",
    retry_after_seconds: 1500,
  });
  await page.getByLabel("Work e-mail").fill("third-hold@example.com");
  await page.getByRole("button", { name: "Become a founding member" }).click();
  const held = await status(page).filter({ hasText: "held from your network" }).textContent();
  assert.equal(held, "Too many founding spots are being held from your network right now. " +
    "Please try again in about 25 minutes, or join the waitlist.");
  assert.deepEqual(sent.at(-1), { email: "third-hold@example.com", plan_type: "founding" }, "no token without a sitekey");
  assert.equal(await page.getByRole("button", { name: "Become a founding member" }).isDisabled(), false);
  assert.notEqual(await page.getByLabel("Work e-mail").getAttribute("aria-invalid"), "true", "not the e-mail's fault");
  await shot(page, "11-too-many-holds.png", `create-checkout answered 429 too_many_holds: "${held}"`);

  // 1b. A customer with a live subscription checking out again: 409 already_subscribed, and the
  // widget points them to their billing portal instead of a second charge.
  answer = json(409, {
    error: "already_subscribed",
    reason: "this e-mail has an active subscription; manage it in the customer portal",
    portal: "/billing/customer-portal",
  });
  await page.getByLabel("Work e-mail").fill("subscribed@example.com");
  await page.getByRole("button", { name: "Become a founding member" }).click();
  const subscribed = await status(page).filter({ hasText: "already has an active subscription" }).textContent();
  assert.match(subscribed, /customer portal/);
  await shot(page, "11b-already-subscribed.png", `create-checkout answered 409 already_subscribed: "${subscribed}"`);

  // 2. API Gateway's own throttle: busy for everyone, other words.
  answer = json(429, { message: "Too Many Requests" });
  await page.getByRole("button", { name: "Become a founding member" }).click();
  const busy = await status(page).filter({ hasText: "signing up right now" }).textContent();
  assert.doesNotMatch(busy, /held from your network/);
  await shot(page, "12-throttled.png", `API Gateway's throttle (429 Too Many Requests): "${busy}"`);
  assert.deepEqual(fromCloudflare, [], "no sitekey: nothing is loaded from Cloudflare");

  // 3. The human check: a page with data-turnstile-sitekey (the landing page, the attribute added).
  const checked = await context.newPage();
  checked.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  await checked.route(WIDGET_URL, async (route) => {
    const response = await route.fetch();
    const html = (await response.text())
      .replace("<div data-agency-os-widget", `<div data-agency-os-widget data-turnstile-sitekey="${SITEKEY}"`);
    assert.match(html, /data-turnstile-sitekey/);
    await route.fulfill({ response, body: html });
  });
  await checked.route("https://challenges.cloudflare.com/turnstile/v0/api.js*", (route) =>
    route.fulfill({ status: 200, contentType: "text/javascript", body: TURNSTILE_STUB }));
  await checked.goto(WIDGET_URL);
  await checked.getByRole("button", { name: "I am human" }).waitFor();
  assert.deepEqual(await checked.evaluate(() => window.turnstile.sitekeys), [SITEKEY]);
  assert.equal(fromCloudflare.length, 1, `Cloudflare's script once: ${fromCloudflare}`);
  assert.match(fromCloudflare[0], /\/turnstile\/v0\/api\.js\?render=explicit$/);

  // Not completed: no request, a plain-words message.
  const before = sent.length;
  await checked.getByLabel("Work e-mail").fill("human@example.com");
  await checked.getByRole("button", { name: "Become a founding member" }).click();
  await status(checked).filter({ hasText: "Please complete the check and try again." }).waitFor();
  assert.equal(sent.length, before, "nothing sent without a token");

  // Completed: the token goes with the founding checkout; refused (400 human_check_failed), the
  // message, and a fresh challenge (a token is checked once).
  await checked.getByRole("button", { name: "I am human" }).click();
  answer = json(400, { error: "human_check_failed", reason: "The human check has expired or was already used." });
  await status(checked).evaluate((node) => { node.textContent = ""; });
  await checked.getByRole("button", { name: "Become a founding member" }).click();
  await status(checked).filter({ hasText: "Please complete the check and try again." }).waitFor();
  assert.deepEqual(sent.at(-1), {
    email: "human@example.com", plan_type: "founding", turnstile_token: "XXXX.DUMMY.TOKEN.XXXX",
  });
  assert.equal(await checked.evaluate(() => window.turnstile.resets), 1, "the challenge is reset after a check");
  await checked.getByRole("button", { name: "I am human" }).waitFor();
  await shot(checked, "13-human-check.png", "with data-turnstile-sitekey: the challenge (a stub of Turnstile) and 400 human_check_failed in plain words");

  // The standard plan does not spend the token.
  await checked.getByRole("button", { name: "I am human" }).click();
  answer = json(503, { error: "unavailable" });
  await checked.getByRole("button", { name: "Start on the standard plan" }).click();
  await status(checked).filter({ hasText: "unavailable right now" }).waitFor();
  assert.deepEqual(sent.at(-1), { email: "human@example.com", plan_type: "standard" });
  assert.equal(await checked.evaluate(() => window.turnstile.resets), 1);

  // 4. Calendly for "Book a Demo", and a site's colours and font.
  await bookingAndColours(context);
  await context.close();
}

/** The snippet from docs/widget.md in a plain page: from the local /widget/v1/ URL, the spots
 * through the gateway (CORS for EMBED_ORIGIN), a checkout started (the standard plan: no founding
 * spot held). */
async function embeddedSnippet() {
  const url = `${EMBED_ORIGIN}/embed.html`;
  const served = await fetch(`${WIDGET_HOST}/embed.html`);
  assert.equal(served.status, 200);
  assert.equal(await served.text(), plainPage(embedSnippet()), "the page is docs/widget.md's snippet and nothing else");
  const context = await browser.newContext({ viewport: { width: 900, height: 700 } });
  const loaded = new Map();
  context.on("response", (response) => loaded.set(response.url(), response.status()));
  const page = await context.newPage();
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  await page.goto(url);
  const text = await bannerBecomes(page, /(\d+) of 20 founding spots left/);
  for (const file of ["agency-os-widget.js", "agency-os-widget.css"]) {
    assert.equal(loaded.get(`${WIDGET_HOST}/widget/v1/${file}`), 200, `${file} from /widget/v1/: ${[...loaded]}`);
  }
  assert.equal(await page.getByRole("button", { name: "Book a Demo" }).getAttribute("data-cal-link"), "keiracom/demo");
  assert.equal(await page.evaluate(() => document.body.children.length), 3, "the page holds only the snippet");
  await shot(page, "0-embed-snippet.png", `docs/widget.md's snippet alone on ${url}: "${text}"`);
  const email = `embedded-${Date.now()}@example.com`;
  await page.getByLabel("Work e-mail").fill(email);
  await page.getByRole("button", { name: "Start on the standard plan" }).click();
  await page.waitForURL(`${STANDIN_URL}/checkout/**`);
  assert.equal((await standinSessions(email)).length, 1, "one checkout from the embedded widget");
  await page.getByText(email).first().waitFor();
  await shot(page, "0-embed-checkout.png", `the checkout the embedded widget started (standard plan, ${email})`);
  await context.close();
}

/** Calendly instead of Cal.com, and the CSS custom properties, on the snippet's plain page. */
async function bookingAndColours(context) {
  const calendly = "https://calendly.com/keiracom/demo";
  const snippet = embedSnippet().replace(/data-cal-link="[^"]*"/, `data-calendly-url="${calendly}"`);
  assert.ok(snippet.includes("data-calendly-url"), snippet);
  const styled = `<style>:root { --agency-os-accent: rgb(124, 58, 237); --agency-os-font: Georgia, serif; }</style>\n`;
  const page = await openPage(context, `${WIDGET_HOST}/calendly-page.html`, plainPage(styled + snippet));
  await page.evaluate(() => {
    window.opened = [];
    window.open = (url) => { window.opened.push(url); return null; };
  });
  const demo = page.getByRole("button", { name: "Book a Demo" });
  await banner(page).filter({ hasText: "founding spots left" }).waitFor();
  assert.equal(await demo.getAttribute("data-calendly-url"), calendly);
  assert.equal(await demo.getAttribute("data-cal-link"), null);
  await demo.click();
  assert.deepEqual(await page.evaluate(() => window.opened), [calendly], "without Calendly's script: its page");
  await page.evaluate(() => {
    window.popups = [];
    window.Calendly = { initPopupWidget: (options) => window.popups.push(options.url) };
  });
  await demo.click();
  assert.deepEqual(await page.evaluate(() => window.popups), [calendly], "with Calendly's script: its popup");
  const primary = page.getByRole("button", { name: "Become a founding member" });
  assert.equal(await primary.evaluate((node) => getComputedStyle(node).backgroundColor), "rgb(124, 58, 237)");
  assert.match(await primary.evaluate((node) => getComputedStyle(node).fontFamily), /Georgia/);
  await shot(page, "14-calendly-and-colours.png", "data-calendly-url for Book a Demo; --agency-os-accent and --agency-os-font set by the page");

  // Neither booking attribute: no "Book a Demo" button.
  const none = snippet.replace(/\s*data-calendly-url="[^"]*"/, "");
  const bare = await openPage(context, `${WIDGET_HOST}/no-booking.html`, plainPage(none));
  await banner(bare).filter({ hasText: "founding spots left" }).waitFor();
  assert.equal(await bare.getByRole("button", { name: "Book a Demo" }).count(), 0);
}

if (process.env.WIDGET_CASES === "stubbed") {
  try {
    await stubbedCases();
    console.log(`widget test (stubbed cases): passed (${shots.length} screenshots in ${SHOTS})`);
  } finally {
    await browser.close();
  }
  process.exit(0);
}

try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));

  // 1. The live count.
  await page.goto(WIDGET_URL);
  const start = await bannerBecomes(page, /(\d+) of 20 founding spots left/);
  const before = Number(/(\d+) of 20/.exec(start)[1]);
  assert.equal(before, 20, "a fresh table: all 20 spots free");
  assert.match(start, /40% lifetime discount/);
  await shot(page, "1-live-count.png", `the banner from GET /billing/founding-spots: "${start}"`);

  // 1b. docs/widget.md's snippet pasted into a plain page on another origin.
  await embeddedSnippet();

  // 2. A bad e-mail: the API's 400 in plain words, focus on the field, the button usable again.
  await page.getByLabel("Work e-mail").fill("ada@example");
  await page.getByRole("button", { name: "Become a founding member" }).click();
  await status(page).filter({ hasText: "valid e-mail" }).waitFor();
  assert.equal(await page.getByLabel("Work e-mail").getAttribute("aria-invalid"), "true");
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("type")), "email");
  assert.equal(await page.getByRole("button", { name: "Become a founding member" }).isDisabled(), false);
  await shot(page, "2-bad-email.png", "create-checkout answered 400 (field email); the widget says so in plain words");

  // 3. The founding form: a double click sends one request, then the stand-in's checkout page.
  const founder = `founder-${Date.now()}@example.com`;
  await page.getByLabel("Work e-mail").fill(founder);
  await page.getByLabel("Company (optional)").fill("Acme Agency");
  const submit = page.getByRole("button", { name: "Become a founding member" });
  await submit.dblclick();
  await page.waitForURL(`${STANDIN_URL}/checkout/**`);
  assert.equal((await standinSessions(founder)).length, 1, "one checkout for a double click");
  await page.getByText(founder).first().waitFor();
  await shot(page, "3-checkout.png", "the Stripe stand-in's checkout page for the founding plan");

  // 4. Pay, come back, and the count has dropped by one.
  await page.getByRole("button", { name: "Pay" }).click();
  await page.waitForURL((url) => url.toString().startsWith(new URL(WIDGET_URL).origin));
  await shot(page, "4-welcome.png", `the success page checkout returned to: ${page.url()}`);
  await page.goto(WIDGET_URL);
  const after = await bannerBecomes(page, /19 of 20 founding spots left/);
  await shot(page, "5-after-payment.png", `back on the landing page after paying: "${after}"`);

  // 5. Signed in, the payer opens the billing portal. The token comes from the gateway's local
  // issuer; the page's script calls POST /billing/customer-portal with it, cross-origin, so the
  // browser sends a CORS preflight (Authorization header) that the gateway answers as the
  // template's CorsConfiguration says, and the JWT authorizer passes the e-mail claim on.
  const issued = await fetch(`${API_URL}/local-issuer/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email: founder, email_verified: true }),
  });
  assert.equal(issued.status, 200);
  const { access_token: token } = await issued.json();
  const portalCall = (bearer) => page.evaluate(async ({ url, bearer }) => {
    const headers = { "Content-Type": "application/json" };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const response = await fetch(url, { method: "POST", headers, body: "{}" });
    return { status: response.status, body: await response.json() };
  }, { url: `${API_URL}/billing/customer-portal`, bearer });
  const signedOut = await portalCall(null);
  assert.deepEqual(signedOut, { status: 401, body: { message: "Unauthorized" } }, "no token: the authorizer's 401");
  const forged = await portalCall(token.slice(0, -4) + (token.endsWith("AAAA") ? "BBBB" : "AAAA"));
  assert.equal(forged.status, 401, "a token whose signature does not verify");
  const portal = await portalCall(token);
  assert.equal(portal.status, 200, JSON.stringify(portal));
  assert.ok(portal.body.portal_url.startsWith(`${STANDIN_URL}/portal/`), portal.body.portal_url);
  await page.goto(portal.body.portal_url);
  await page.getByText(founder).first().waitFor();
  await shot(page, "6-portal.png", `signed in as ${founder}: the billing portal from POST /billing/customer-portal`);
  await page.getByRole("link", { name: /Return to/ }).click();
  await page.waitForURL((url) => url.pathname === "/account");
  await shot(page, "7-account.png", `back from the portal: ${page.url()}`);
  await page.goto(WIDGET_URL);

  // 6. Sold out: 19 more members, then the banner and the waitlist.
  for (let n = 0; n < 19; n += 1) {
    await payFounding(`member-${n}-${Date.now()}@example.com`);
  }
  const soldOut = await bannerBecomes(page, /All 20 founding spots are taken/);
  assert.equal(await page.getByRole("button", { name: "Join the waitlist" }).count(), 1);
  await shot(page, "8-sold-out.png", `all 20 taken: "${soldOut}"`);
  await page.getByLabel("Work e-mail").fill(`late-${Date.now()}@example.com`);
  await page.getByRole("button", { name: "Join the waitlist" }).click();
  const waitlisted = await status(page).filter({ hasText: "on the waitlist" }).textContent();
  assert.match(waitlisted, /You are number \d+ on the waitlist/);
  await shot(page, "9-waitlisted.png", `the 409 founding_full answer with its position: "${waitlisted}"`);

  // 7. A phone-width screen: nothing wider than the screen, the form usable.
  const phone = await browser.newContext({ viewport: { width: 375, height: 740 }, isMobile: true });
  const small = await phone.newPage();
  await small.goto(WIDGET_URL);
  await bannerBecomes(small, /founding spots are taken|founding spots left/);
  assert.equal(await small.getByRole("button", { name: "Join the waitlist" }).count(), 1, "sold out on the phone too");
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  const box = await small.getByRole("button", { name: "Book a Demo" }).boundingBox();
  assert.ok(box && box.height >= 44, "touch targets are at least 44px tall");
  assert.equal(await small.getByRole("button", { name: "Book a Demo" }).getAttribute("data-cal-link"), "keiracom/demo");
  await shot(small, "10-phone.png", "the widget at 375px wide");

  // 8. The refusals and the human check, with stubbed API answers.
  await stubbedCases();

  console.log(`widget test: passed (${shots.length} screenshots in ${SHOTS})`);
} finally {
  await browser.close();
}
