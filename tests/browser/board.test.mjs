// The sales team's board (web/board/, docs/board.md) in a real browser (Debian's Chromium, driven
// by playwright-core) against the local stack that `make e2e` starts, after the widget test (so
// the table holds its 20 founding members, a waitlist and more). Through the local API gateway as
// in production: the board signs in with the gateway's stand-in for its Cognito user pool (the
// code flow with PKCE), calls the /board/api routes with the ID token, and the pipeline function
// requires the sales group.
//
//   - a dev user outside the sales group is refused (403 from the function, shown in words);
//   - ana@agency.test signs in; every column shows the count GET /pipeline/summary gives, and as
//     many cards;
//   - a deal dragged to proposal_sent moves, and its page's timeline says "Moved by ana@agency.test";
//   - a stale drag (the deal changed through the API after the board loaded it) shows the conflict
//     on the card, reloads it and leaves the other change in place;
//   - a card moves with the keyboard (→), the assignee filter and the search narrow the cards,
//     "Export CSV" downloads the filtered deals, quoted, with no spreadsheet formulas;
//   - the dashboard draws the funnel (SVG) with the summary's counts, the founding spots and the
//     latest payment failure (an invoice.payment_failed sent through the Stripe webhook);
//   - the deal page edits a field (next action, probability) with the deal's version;
//   - at 375 px wide nothing is wider than the screen and the "Move to" select moves a deal.
// Screenshots (board-*.png) at 1280 and 375 px wide in SCREENSHOTS.
//
// Environment (make e2e sets it):
//   BOARD_URL    the board, e.g. http://127.0.0.1:8080/board/index.html (make dev's landing server)
//   API_URL      the local API gateway, e.g. http://127.0.0.1:9000
//   PYTHON       the virtualenv's python (infra/local/send_webhook.py sends the Stripe events)
//   SCREENSHOTS  where to save the screenshots (default target/browser-screenshots)
//   CHROMIUM     the browser (default /usr/bin/chromium)

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const value = process.env[name] || fallback;
  if (!value) {
    console.error(`board test: ${name} is not set (run it with make e2e)`);
    process.exit(2);
  }
  return value;
};

const BOARD_URL = env("BOARD_URL");
const API_URL = env("API_URL", "http://127.0.0.1:9000");
const PYTHON = env("PYTHON", "python3");
const SHOTS = resolve(env("SCREENSHOTS", "target/browser-screenshots"));
const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
mkdirSync(SHOTS, { recursive: true });

const STAGES = ["prospect", "contacted", "demo_booked", "demo_done", "proposal_sent", "negotiation", "closed_won", "closed_lost"];
// Any SigV4 Authorization header passes the local gateway's AWS_IAM routes; the key id names the caller.
const IAM = { Authorization: "AWS4-HMAC-SHA256 Credential=AKIDBOARDTEST/20260101/ap-southeast-2/execute-api/aws4_request, SignedHeaders=host, Signature=00" };

async function iam(method, path, body) {
  const response = await fetch(`${API_URL}${path}`, {
    method, headers: { ...IAM, ...(body ? { "Content-Type": "application/json" } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json = await response.json();
  return { status: response.status, body: json };
}

async function lead(id) {
  const { status, body } = await iam("GET", `/pipeline/leads/${id}`);
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

/** A deal made through the IAM API: created, then put at a stage with its fields. */
async function makeDeal(email, company, fields) {
  const created = await iam("POST", "/pipeline/leads", { email, company });
  assert.ok([200, 201].includes(created.status), JSON.stringify(created.body));
  const { lead: l } = created.body;
  const edited = await iam("PATCH", `/pipeline/leads/${l.id}`, { version: l.version, ...fields });
  assert.equal(edited.status, 200, JSON.stringify(edited.body));
  return edited.body.lead;
}

const day = 24 * 3600 * 1000;
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");
const stamp = Date.now();
const globex = await makeDeal(`buyer-${stamp}@globex.test`, "Globex", {
  stage: "demo_done", deal_value_aud: "12000", probability: 40, assigned_to: "raj@agency.test",
  next_action: "Send proposal", next_action_date: iso(Date.now() - 2 * day),
});
const initech = await makeDeal(`cto-${stamp}@initech.test`, "Initech", {
  stage: "negotiation", deal_value_aud: "8000", probability: 70, assigned_to: "ana@agency.test",
  next_action: "Call", next_action_date: iso(Date.now() + 10 * day),
});
const umbrella = await makeDeal(`it-${stamp}@umbrella.test`, "Umbrella", { stage: "demo_done", deal_value_aud: "3000", probability: 30 });
const hooli = await makeDeal(`ops-${stamp}@hooli.test`, "Hooli", { stage: "contacted", deal_value_aud: "500.50", probability: 10 });
const hostileCompany = '=HYPERLINK("http://evil.example","x")';
const eve = await makeDeal(`eve-${stamp}@evil.test`, hostileCompany, { stage: "prospect", assigned_to: "raj@agency.test", deal_value_aud: "1.25", probability: 50 });

// A paying customer whose renewal failed: a standard checkout, then invoice.payment_failed, both
// signed by infra/local/send_webhook.py with .env.dev's secret, to the local stripe-webhook.
const payer = `late-payer-${stamp}@example.com`;
for (const event of ["checkout.session.completed", "invoice.payment_failed"]) {
  execFileSync(PYTHON, [join(ROOT, "infra/local/send_webhook.py"), "stripe", event, "--email", payer, "--base", API_URL],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});

const shots = [];
async function shot(page, name, what) {
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage: true });
  shots.push({ path, what });
  console.log(`screenshot ${path}: ${what}`);
}

const outside = [];
/** A browser context (a person's browser) signed in as `user` through the local user pool. */
async function signedIn(user, viewport) {
  const context = await browser.newContext({ viewport, acceptDownloads: true, ...(viewport.width < 500 ? { isMobile: true } : {}) });
  await context.route((url) => !["127.0.0.1", "localhost"].includes(url.hostname), (route) => {
    outside.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  page.on("pageerror", (err) => assert.fail(`page error: ${err.message}`));
  await page.goto(`${BOARD_URL}?login_hint=${encodeURIComponent(user)}`);
  await page.getByText(`Signed in as ${user}`).waitFor();
  assert.ok(!page.url().includes("code="), `the code is gone from the address: ${page.url()}`);
  return { context, page };
}

const column = (page, stage) => page.locator(`section.column[data-stage="${stage}"]`);
const cardOf = (page, id) => page.locator(`li.card[data-lead="${id}"]`);

async function summaryCounts() {
  const { status, body } = await iam("GET", "/pipeline/summary");
  assert.equal(status, 200);
  return Object.fromEntries(body.stages.map((s) => [s.stage, s.count]));
}

async function columnsMatchSummary(page) {
  const counts = await summaryCounts();
  for (const stage of STAGES) {
    await column(page, stage).locator(`.stats[data-count="${counts[stage]}"]`).waitFor();
    assert.equal(await column(page, stage).locator("li.card").count(), counts[stage], `${stage}: one card per deal`);
  }
  return counts;
}

try {
  // 1. Signed in, but not in the sales group: the function's 403, in words.
  {
    const { context, page } = await signedIn("guest@agency.test", { width: 1280, height: 800 });
    const refused = await page.getByRole("alert").textContent();
    assert.match(refused, /not in the sales group/);
    await shot(page, "board-0-not-in-sales-group.png", `guest@agency.test (no group) signed in: "${refused}"`);
    await context.close();
  }

  // 2. The board, as ana@agency.test: each column has the summary's count and as many cards.
  const { context, page } = await signedIn("ana@agency.test", { width: 1280, height: 900 });
  const counts = await columnsMatchSummary(page);
  await assert.doesNotReject(cardOf(page, globex.id).locator(".next.overdue").waitFor(), "the overdue next action is marked");
  assert.match(await cardOf(page, globex.id).textContent(), /Globex.*A\$12,000.*Owner: raj@agency.test.*Send proposal.*overdue/s);
  await shot(page, "board-1-board-1280.png", `the board at 1280 px as ana@agency.test: counts per stage as GET /pipeline/summary gives them (${STAGES.map((s) => `${s} ${counts[s]}`).join(", ")})`);

  // 3. Drag Globex from demo_done to proposal_sent; the history names Ana.
  // Dropped near the column's heading (a long column's middle may be far down the page).
  await cardOf(page, globex.id).dragTo(column(page, "proposal_sent"), { sourcePosition: { x: 4, y: 4 }, targetPosition: { x: 30, y: 20 } });
  await column(page, "proposal_sent").locator(`li.card[data-lead="${globex.id}"]`).waitFor();
  assert.equal((await lead(globex.id)).lead.pipeline.stage, "proposal_sent");
  await columnsMatchSummary(page);
  await page.goto(`${BOARD_URL}#/deal/${globex.id}`);
  const moved = page.locator(".history-entry").filter({ hasText: "Demo done → Proposal sent" });
  await moved.waitFor();
  assert.match(await moved.textContent(), /Moved by ana@agency\.test/);
  assert.equal((await lead(globex.id)).history.at(-1).cause, "user:ana@agency.test");
  await shot(page, "board-2-deal-after-drag-1280.png", "Globex's page after the drag: the timeline's last entry \"Demo done → Proposal sent: Moved by ana@agency.test\"");

  // 4. A stale drag: Umbrella changed through the API after the board loaded it.
  await page.goto(`${BOARD_URL}#/`);
  await cardOf(page, umbrella.id).waitFor();
  const before = await lead(umbrella.id);
  const meanwhile = await iam("PATCH", `/pipeline/leads/${umbrella.id}`, { version: before.lead.version, next_action: "Changed by Sam meanwhile" });
  assert.equal(meanwhile.status, 200);
  await cardOf(page, umbrella.id).dragTo(column(page, "negotiation"), { sourcePosition: { x: 4, y: 4 }, targetPosition: { x: 30, y: 20 } });
  const conflict = cardOf(page, umbrella.id).getByRole("alert");
  await conflict.waitFor();
  assert.match(await conflict.textContent(), /Someone else changed this deal meanwhile, so it was not moved/);
  assert.equal(await column(page, "demo_done").locator(`li.card[data-lead="${umbrella.id}"]`).count(), 1, "still in demo_done");
  assert.match(await cardOf(page, umbrella.id).textContent(), /Changed by Sam meanwhile/, "the card shows the reloaded deal");
  const after = await lead(umbrella.id);
  assert.equal(after.lead.pipeline.stage, "demo_done", "not overwritten");
  assert.equal(after.lead.pipeline.next_action, "Changed by Sam meanwhile");
  await shot(page, "board-3-conflict-1280.png", "a stale drag of Umbrella: the card says someone else changed it, reloads it (the other change shown) and stays in Demo done");

  // 5. The keyboard: Hooli's card focused, → moves it to the next stage, focus stays on it.
  await cardOf(page, hooli.id).focus();
  await page.keyboard.press("ArrowRight");
  await column(page, "demo_booked").locator(`li.card[data-lead="${hooli.id}"]`).waitFor();
  assert.equal((await lead(hooli.id)).lead.pipeline.stage, "demo_booked");
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.lead), hooli.id, "focus stays on the moved card");

  // 6. Filter by assignee, search, and the CSV of what is shown.
  await page.getByLabel("Assignee").selectOption("raj@agency.test");
  await page.waitForFunction(() => document.querySelectorAll("li.card").length === 2);
  const shownIds = await page.locator("li.card").evaluateAll((cards) => cards.map((c) => c.dataset.lead).sort());
  assert.deepEqual(shownIds, [globex.id, eve.id].sort());
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: /Export CSV/ }).click()]);
  const csv = readFileSync(await download.path(), "utf8");
  assert.ok(csv.startsWith("\ufeffid,email,name,company,stage,deal_value_aud,probability,weighted_value_aud,next_action,next_action_date,assigned_to,source,created_at\r\n"), csv.slice(0, 200));
  const rows = csv.slice(1).split("\r\n");
  assert.equal(rows.length, 4, `header, two deals, the final line break: ${csv}`);
  const eveRow = rows.find((r) => r.includes(eve.email));
  assert.ok(eveRow.includes(`,"'=HYPERLINK(""http://evil.example"",""x"")",prospect,1.25,50,0.625,`), eveRow);
  assert.ok(rows.find((r) => r.includes(globex.email)).includes(",proposal_sent,12000,40,4800,Send proposal,"), rows.join("\n"));
  await page.getByLabel("Search e-mail or company").fill("globex");
  await page.waitForFunction(() => document.querySelectorAll("li.card").length === 1);
  assert.equal(await cardOf(page, globex.id).count(), 1);
  await shot(page, "board-4-filtered-1280.png", "the board filtered by assignee raj@agency.test and searched for \"globex\": one card");
  await page.getByLabel("Search e-mail or company").fill("");
  await page.getByLabel("Assignee").selectOption("");

  // 7. The dashboard: the funnel from the summary, the founding spots, the payment failure.
  await page.getByRole("link", { name: "Dashboard" }).click();
  await page.locator("svg.funnel").waitFor();
  const now = await summaryCounts();
  const bars = await page.locator("svg.funnel rect.count").evaluateAll((rects) => rects.map((r) => Number(r.dataset.count)));
  assert.deepEqual(bars, STAGES.map((s) => now[s]), "one bar per stage, the summary's counts");
  const members = (await iam("GET", "/founding/members")).body.members.length;
  const waitlist = (await iam("GET", "/founding/waitlist")).body.waitlist.length;
  const spots = await (await fetch(`${API_URL}/billing/founding-spots`)).json();
  const figure = async (name) => Number(await page.locator(`[data-figure="${name}"] dd`).textContent());
  assert.equal(await figure("members"), members);
  assert.equal(members, 20, "the widget test made 20 founding members");
  assert.equal(await figure("free"), spots.remaining);
  assert.equal(await figure("reserved"), 0);
  assert.equal(await figure("waitlist"), waitlist);
  const failure = page.locator("#payment-failures tr").filter({ hasText: payer });
  await failure.waitFor();
  await shot(page, "board-5-dashboard-1280.png", `the dashboard: the funnel (SVG), founding spots (${members} members, ${spots.remaining} free, waitlist ${waitlist}) and the payment failure of ${payer}`);

  // 8. The deal page edits fields with the deal's version.
  await page.goto(`${BOARD_URL}#/deal/${initech.id}`);
  const next = page.getByLabel("Next action", { exact: true });
  await next.fill("Send the contract");
  await next.press("Tab");
  await page.locator("#saved-next_action").filter({ hasText: "Saved" }).waitFor();
  const probability = page.getByLabel("Probability (%)");
  await probability.fill("85");
  await probability.press("Tab");
  await page.locator("#saved-probability").filter({ hasText: "Saved" }).waitFor();
  const edited = (await lead(initech.id)).lead;
  assert.equal(edited.pipeline.next_action, "Send the contract");
  assert.equal(edited.pipeline.probability, 85);
  assert.equal(edited.version, initech.version + 2, "two edits, each with the version it read");
  await shot(page, "board-6-deal-edited-1280.png", "Initech's page after editing its next action and probability inline (both \"Saved\")");
  await context.close();

  // 9. A phone: 375 px wide, nothing wider than the screen; "Move to" moves a deal.
  const phone = await signedIn("ana@agency.test", { width: 375, height: 800 });
  await columnsMatchSummary(phone.page);
  const overflow = () => phone.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(await overflow() <= 0, `the board is ${await overflow()}px wider than the phone`);
  await shot(phone.page, "board-7-board-375.png", "the board at 375 px: the stages one under another, every card with its Move to select");
  await phone.page.getByLabel(`Move ${hooli.email} to`).selectOption("demo_done");
  await column(phone.page, "demo_done").locator(`li.card[data-lead="${hooli.id}"]`).waitFor();
  assert.equal((await lead(hooli.id)).lead.pipeline.stage, "demo_done");
  await phone.page.goto(`${BOARD_URL}#/deal/${globex.id}`);
  await phone.page.locator(".history-entry").first().waitFor();
  assert.ok(await overflow() <= 0, "the deal page fits the phone");
  await shot(phone.page, "board-8-deal-375.png", "Globex's page at 375 px: the fields, the timeline, bookings and billing");
  await phone.page.goto(`${BOARD_URL}#/dashboard`);
  await phone.page.locator("svg.funnel").waitFor();
  await phone.page.locator("#payment-failures").waitFor();
  assert.ok(await overflow() <= 0, "the dashboard fits the phone");
  await shot(phone.page, "board-9-dashboard-375.png", "the dashboard at 375 px");
  await phone.context.close();

  assert.deepEqual(outside, [], "the board fetched nothing outside this machine");
  console.log(`board test: passed (${shots.length} screenshots in ${SHOTS})`);
} finally {
  await browser.close();
}
