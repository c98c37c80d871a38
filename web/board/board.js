// The sales team's board (docs/board.md): the pipeline by stage, a deal's page, a dashboard.
// Plain JavaScript, no framework, nothing fetched but this site's files, the API and the sign-in
// endpoints. Configuration from config.json beside this file: {apiBase, authBase, clientId}
// (make publish-board writes it from the stack's outputs; make dev's landing server serves the
// local one). Sign-in: Cognito's hosted UI, authorization code flow with PKCE; the ID token goes
// with every API call (the board's routes' JWT authorizer; the pipeline function requires the
// sales group).
"use strict";

(() => {
  const STAGES = ["prospect", "contacted", "demo_booked", "demo_done", "proposal_sent",
    "negotiation", "closed_won", "closed_lost"];
  const STAGE_NAMES = {
    prospect: "Prospect", contacted: "Contacted", demo_booked: "Demo booked", demo_done: "Demo done",
    proposal_sent: "Proposal sent", negotiation: "Negotiation", closed_won: "Won", closed_lost: "Lost",
  };
  const CSV_COLUMNS = ["id", "email", "name", "company", "stage", "deal_value_aud", "probability",
    "weighted_value_aud", "next_action", "next_action_date", "assigned_to", "source", "created_at"];
  const TOKEN_KEY = "board.id_token";
  const FLOW_KEY = "board.signin";

  const state = {
    config: null, token: null, who: null,
    deals: new Map(), // lead id -> lead (as the API returns it)
    summary: null, members: null, filter: { assignee: "", search: "" },
    notices: new Map(), // lead id -> {text, error}
  };

  const main = () => document.getElementById("main");
  const say = (text) => { document.getElementById("status").textContent = text; };

  // --- small helpers ---------------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const money = (value) => {
    const n = Number(value || 0);
    return "A$" + n.toLocaleString("en-AU", { minimumFractionDigits: n % 1 ? 2 : 0, maximumFractionDigits: 2 });
  };
  const dateText = (iso) => iso ? new Date(iso).toLocaleDateString("en-AU", { day: "numeric", month: "short", year: "numeric" }) : "";
  const timeText = (iso) => iso ? new Date(iso).toLocaleString("en-AU", { dateStyle: "medium", timeStyle: "short" }) : "";
  const overdue = (lead) => {
    const p = lead.pipeline;
    return Boolean(p.next_action_date) && !["closed_won", "closed_lost"].includes(p.stage)
      && new Date(p.next_action_date) < new Date();
  };
  const title = (lead) => lead.company || lead.name || lead.email;
  const weighted = (lead) => Number(lead.pipeline.deal_value_aud || 0) * lead.pipeline.probability / 100;

  function b64url(bytes) {
    return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function claimsOf(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(decodeURIComponent(escape(atob(part))));
    } catch (_) {
      return null;
    }
  }

  // --- sign-in (hosted UI, code flow with PKCE) -------------------------------------------------

  const redirectUri = () => location.origin + location.pathname;

  async function startSignIn(loginHint) {
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    const flowState = b64url(crypto.getRandomValues(new Uint8Array(16)));
    sessionStorage.setItem(FLOW_KEY, JSON.stringify({ verifier, state: flowState, hash: location.hash }));
    const params = new URLSearchParams({
      response_type: "code", client_id: state.config.clientId, redirect_uri: redirectUri(),
      scope: "openid email profile", state: flowState, code_challenge: challenge,
      code_challenge_method: "S256",
    });
    if (loginHint) params.set("login_hint", loginHint);
    location.assign(`${state.config.authBase}/oauth2/authorize?${params}`);
  }

  async function finishSignIn(params) {
    const flow = JSON.parse(sessionStorage.getItem(FLOW_KEY) || "null");
    sessionStorage.removeItem(FLOW_KEY);
    if (!flow || flow.state !== params.get("state")) throw new Error("the sign-in did not come from this page; sign in again");
    const response = await fetch(`${state.config.authBase}/oauth2/token`, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code", code: params.get("code"), client_id: state.config.clientId,
        redirect_uri: redirectUri(), code_verifier: flow.verifier,
      }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.id_token) throw new Error(`sign-in failed (${body.error || response.status})`);
    sessionStorage.setItem(TOKEN_KEY, body.id_token);
    history.replaceState(null, "", redirectUri() + (flow.hash || "#/"));
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    const params = new URLSearchParams({ client_id: state.config.clientId, logout_uri: redirectUri() });
    location.assign(`${state.config.authBase}/logout?${params}`);
  }

  function signInScreen(message) {
    document.getElementById("sign-out").hidden = true;
    main().replaceChildren(el("section", { class: "signin panel", "aria-labelledby": "signin-title" },
      el("h2", { id: "signin-title", text: "Sign in to the sales board" }),
      message ? el("p", { class: "notice error", role: "alert", text: message }) : null,
      el("button", { type: "button", class: "primary", onclick: () => startSignIn() }, "Sign in")));
  }

  function currentToken() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const claims = token && claimsOf(token);
    if (!claims || !claims.exp || claims.exp * 1000 < Date.now() + 30000) return null;
    return { token, claims };
  }

  // --- the API -------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, body) {
      super(body && (body.reason || body.error || body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(path, options = {}) {
    const response = await fetch(state.config.apiBase + path, {
      method: options.method || "GET",
      headers: { Authorization: `Bearer ${state.token}`, ...(options.body ? { "Content-Type": "application/json" } : {}) },
      body: options.body ? JSON.stringify(options.body) : undefined,
    });
    const body = await response.json().catch(() => null);
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      signInScreen("Your sign-in has expired: sign in again.");
      throw new ApiError(401, body);
    }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  async function loadDeals() {
    const deals = new Map();
    await Promise.all(STAGES.map(async (stage) => {
      let cursor = null;
      do {
        const query = new URLSearchParams({ stage, limit: "100" });
        if (cursor) query.set("cursor", cursor);
        const page = await api(`/pipeline/leads?${query}`);
        for (const lead of page.leads) deals.set(lead.id, lead);
        cursor = page.next_cursor;
      } while (cursor);
    }));
    state.deals = deals;
  }

  const loadSummary = async () => { state.summary = (await api("/pipeline/summary")).stages; };

  async function loadMembers() {
    if (!state.members) state.members = (await api("/founding/members")).members;
    return state.members;
  }

  // --- moving a deal ---------------------------------------------------------------------------

  async function move(id, stage) {
    const lead = state.deals.get(id);
    if (!lead || lead.pipeline.stage === stage) return;
    state.notices.delete(id);
    say(`Moving ${title(lead)} to ${STAGE_NAMES[stage]}…`);
    try {
      const answer = await api(`/pipeline/leads/${id}`, { method: "PATCH", body: { version: lead.version, stage } });
      state.deals.set(id, answer.lead);
      if (answer.stage_kept) {
        state.notices.set(id, { text: `Not moved: ${answer.stage_kept.reason || "the stage was kept"}.` });
      }
      say(`${title(lead)} moved to ${STAGE_NAMES[answer.lead.pipeline.stage]}.`);
    } catch (err) {
      if (err.status === 409) {
        // Someone else changed the deal since it was loaded: never overwrite, reload it.
        const fresh = await api(`/pipeline/leads/${id}`);
        state.deals.set(id, fresh.lead);
        state.notices.set(id, {
          error: true,
          text: "Someone else changed this deal meanwhile, so it was not moved. It has been reloaded: check it and move it again.",
        });
        say(`${title(lead)} was changed by someone else: reloaded, not moved.`);
      } else if (err.status !== 401) {
        state.notices.set(id, { error: true, text: `Not moved: ${err.message}` });
        say(`Could not move ${title(lead)}: ${err.message}`);
      }
    }
    await loadSummary().catch(() => {});
    renderBoard(id);
  }

  // --- the board -------------------------------------------------------------------------------

  function visible(lead) {
    const { assignee, search } = state.filter;
    if (assignee === "(none)" && lead.pipeline.assigned_to) return false;
    if (assignee && assignee !== "(none)" && lead.pipeline.assigned_to !== assignee) return false;
    if (search) {
      const needle = search.toLowerCase();
      if (!lead.email.toLowerCase().includes(needle) && !(lead.company || "").toLowerCase().includes(needle)) return false;
    }
    return true;
  }

  function filteredDeals() {
    return [...state.deals.values()].filter(visible).sort((a, b) =>
      STAGES.indexOf(a.pipeline.stage) - STAGES.indexOf(b.pipeline.stage)
      || (a.pipeline.next_action_date || "9").localeCompare(b.pipeline.next_action_date || "9")
      || a.email.localeCompare(b.email));
  }

  function card(lead) {
    const p = lead.pipeline;
    const id = lead.id;
    const late = overdue(lead);
    const notice = state.notices.get(id);
    const index = STAGES.indexOf(p.stage);
    const node = el("li", {
      class: "card", draggable: "true", tabindex: "0", "data-lead": id, "data-email": lead.email,
      "aria-label": `${title(lead)}, ${lead.email}, ${STAGE_NAMES[p.stage]}. Arrow keys move it to the previous or next stage; Enter opens it.`,
      "aria-describedby": notice ? `notice-${id}` : undefined,
    },
    el("h3", {}, el("a", { href: `#/deal/${id}`, tabindex: "-1" }, title(lead))),
    el("p", { class: "email", text: lead.email }),
    el("p", { class: "facts" },
      el("span", { class: "value" }, money(p.deal_value_aud), ` · ${p.probability}%`),
      el("span", { class: "assignee" }, p.assigned_to ? `Owner: ${p.assigned_to}` : "Unassigned")),
    p.next_action || p.next_action_date
      ? el("p", { class: "facts" }, el("span", { class: late ? "next overdue" : "next" },
        `Next: ${p.next_action || "—"}${p.next_action_date ? ` · ${dateText(p.next_action_date)}` : ""}${late ? " (overdue)" : ""}`))
      : null,
    el("label", { class: "move" }, "Move to",
      el("select", { "aria-label": `Move ${lead.email} to`, onchange: (e) => move(id, e.target.value) },
        STAGES.map((stage) => el("option", { value: stage, selected: stage === p.stage }, STAGE_NAMES[stage])))),
    notice ? el("p", { id: `notice-${id}`, class: notice.error ? "notice error" : "notice", role: "alert", text: notice.text }) : null);
    node.addEventListener("dragstart", (e) => {
      e.dataTransfer.setData("text/plain", id);
      e.dataTransfer.effectAllowed = "move";
      node.classList.add("dragging");
    });
    node.addEventListener("dragend", () => node.classList.remove("dragging"));
    node.addEventListener("keydown", (e) => {
      if (e.target !== node) return;
      if (e.key === "ArrowRight" && index < STAGES.length - 1) { e.preventDefault(); move(id, STAGES[index + 1]); }
      else if (e.key === "ArrowLeft" && index > 0) { e.preventDefault(); move(id, STAGES[index - 1]); }
      else if (e.key === "Enter") { e.preventDefault(); location.hash = `#/deal/${id}`; }
    });
    return node;
  }

  function renderBoard(focusId) {
    if (!location.hash.match(/^#\/?$/) && location.hash !== "") return;
    const summary = new Map((state.summary || []).map((s) => [s.stage, s]));
    const assignees = [...new Set([...state.deals.values()].map((l) => l.pipeline.assigned_to).filter(Boolean))].sort();
    const shown = filteredDeals();
    const search = el("input", {
      id: "search", type: "search", value: state.filter.search, placeholder: "name@company.com or Acme",
      oninput: (e) => { state.filter.search = e.target.value; renderBoard(); document.getElementById("search").focus(); },
    });
    const toolbar = el("div", { class: "toolbar", role: "search" },
      el("label", { for: "search" }, "Search e-mail or company", search),
      el("label", { for: "assignee" }, "Assignee",
        el("select", { id: "assignee", onchange: (e) => { state.filter.assignee = e.target.value; renderBoard(); } },
          el("option", { value: "", selected: !state.filter.assignee }, "Everyone"),
          el("option", { value: "(none)", selected: state.filter.assignee === "(none)" }, "Unassigned"),
          assignees.map((a) => el("option", { value: a, selected: state.filter.assignee === a }, a)))),
      el("button", { type: "button", id: "export-csv", onclick: exportCsv }, `Export CSV (${shown.length})`),
      el("button", { type: "button", onclick: () => refresh("board") }, "Reload"));
    const columns = el("div", { class: "columns" }, STAGES.map((stage) => {
      const s = summary.get(stage) || { count: 0, total_value_aud: "0", weighted_value_aud: "0" };
      const cards = shown.filter((l) => l.pipeline.stage === stage);
      const column = el("section", { class: "column", "data-stage": stage, "aria-labelledby": `col-${stage}` },
        el("h2", { id: `col-${stage}` }, STAGE_NAMES[stage]),
        el("p", { class: "stats", "data-count": s.count },
          el("span", { class: "count" }, `${s.count} ${s.count === 1 ? "deal" : "deals"}`),
          ` · ${money(s.total_value_aud)} · weighted ${money(s.weighted_value_aud)}`,
          cards.length !== s.count ? el("span", { class: "shown" }, ` (${cards.length} shown)`) : null),
        el("ul", { class: "cards", "aria-label": `${STAGE_NAMES[stage]} deals` }, cards.map(card)));
      column.addEventListener("dragover", (e) => { e.preventDefault(); column.classList.add("drop-target"); });
      column.addEventListener("dragleave", () => column.classList.remove("drop-target"));
      column.addEventListener("drop", (e) => {
        e.preventDefault();
        column.classList.remove("drop-target");
        const id = e.dataTransfer.getData("text/plain");
        if (id) move(id, stage);
      });
      return column;
    }));
    main().replaceChildren(el("h2", { class: "visually-hidden", text: "Pipeline board" }), toolbar, columns);
    if (focusId) main().querySelector(`[data-lead="${CSS.escape(focusId)}"]`)?.focus();
  }

  // --- CSV (the same columns and rules as `salesctl leads --csv`) --------------------------------

  function csvCell(raw) {
    let text = raw === null || raw === undefined ? "" : String(raw);
    if (/^[=+\-@\t\r]/.test(text)) text = "'" + text;
    return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function exactWeighted(lead) {
    // value × probability / 100 on the decimal string, exactly (cents × percent / 100).
    const [whole, frac = ""] = String(lead.pipeline.deal_value_aud || "0").split(".");
    const cents = BigInt(whole) * 100n + BigInt((frac + "00").slice(0, 2));
    const product = cents * BigInt(lead.pipeline.probability); // in 1/10000 dollars
    const intPart = product / 10000n;
    const rest = (product % 10000n).toString().padStart(4, "0").replace(/0+$/, "");
    return rest ? `${intPart}.${rest}` : `${intPart}`;
  }

  const utc = (iso) => iso ? new Date(iso).toISOString().replace(/\.000Z$/, "Z") : "";

  function dealsCsv(leads) {
    const lines = [CSV_COLUMNS];
    for (const lead of leads) {
      const p = lead.pipeline;
      lines.push([lead.id, lead.email, lead.name, lead.company, p.stage, p.deal_value_aud, p.probability,
        exactWeighted(lead), p.next_action, utc(p.next_action_date), p.assigned_to, lead.source, utc(lead.created_at)]);
    }
    return lines.map((cells) => cells.map(csvCell).join(",") + "\r\n").join("");
  }

  function exportCsv() {
    const leads = filteredDeals();
    // A byte order mark, so that spreadsheets read the file as UTF-8.
    const blob = new Blob(["\ufeff" + dealsCsv(leads)], { type: "text/csv;charset=utf-8" });
    const link = el("a", { href: URL.createObjectURL(blob), download: `deals-${new Date().toISOString().slice(0, 10)}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    say(`Exported ${leads.length} deals as CSV.`);
  }

  // --- a deal's page ---------------------------------------------------------------------------

  function causeInWords(entry, detail, spot) {
    const [kind, ...rest] = entry.cause.split(":");
    const what = rest.join(":");
    const to = entry.to;
    if (kind === "user") {
      const iam = /^arn:aws:(?:iam|sts)::\d+:(?:user|assumed-role)\/(.+)$/.exec(what);
      if (iam) return `Moved by ${iam[1].split("/").pop()} (IAM)`;
      return `Moved by ${what}`;
    }
    if (kind === "cal" || kind === "calendly") {
      const provider = kind === "cal" ? "Cal.com" : "Calendly";
      if (to === "demo_booked") return `Demo booked on ${provider}`;
      if (to === "contacted") return `Demo cancelled on ${provider}`;
      return `Booking changed on ${provider}`;
    }
    if (kind === "stripe") {
      if (to === "closed_won") {
        if (spot) return `Paid — founding spot ${spot}`;
        const plan = detail.lead.billing.plan_type;
        return plan ? `Paid — ${plan} plan` : "Paid";
      }
      return `Stripe: ${what}`;
    }
    return entry.cause;
  }

  function field(label, input, name) {
    return el("label", {}, label, input, el("span", { class: "saved", id: `saved-${name}`, "aria-live": "polite" }));
  }

  async function renderDeal(id) {
    main().replaceChildren(el("p", { class: "loading", text: "Loading the deal…" }));
    let detail;
    try {
      detail = await api(`/pipeline/leads/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err.status !== 401) main().replaceChildren(el("p", { class: "notice error", role: "alert", text: `Could not load the deal: ${err.message}` }));
      return;
    }
    const members = await loadMembers().catch(() => []);
    const spot = (members.find((m) => m.lead_id === id) || {}).spot;
    const lead = detail.lead;
    state.deals.set(lead.id, lead);
    const p = lead.pipeline;
    let version = lead.version;

    async function save(name, value) {
      const out = document.getElementById(`saved-${name}`);
      out.textContent = "Saving…";
      out.className = "saved";
      try {
        const answer = await api(`/pipeline/leads/${id}`, { method: "PATCH", body: { version, [name]: value } });
        version = answer.lead.version;
        state.deals.set(id, answer.lead);
        out.textContent = "Saved";
        say(`Saved ${name.replace(/_/g, " ")}.`);
        if (name === "stage") renderDeal(id);
      } catch (err) {
        out.className = "saved notice error";
        if (err.status === 409) {
          out.textContent = "Someone else changed this deal meanwhile: reloading it, your change was not saved.";
          setTimeout(() => renderDeal(id), 1500);
        } else {
          out.textContent = `Not saved: ${err.message}`;
        }
      }
    }
    const onChange = (name, convert = (v) => v.trim() === "" ? null : v.trim()) => (e) => save(name, convert(e.target.value));
    const dateValue = p.next_action_date ? p.next_action_date.slice(0, 10) : "";

    const record = el("section", { class: "panel", "aria-labelledby": "record-title" },
      el("h2", { id: "record-title", text: "The deal" }),
      el("div", { class: "fields" },
        field("Stage", el("select", { name: "stage", onchange: (e) => save("stage", e.target.value) },
          STAGES.map((s) => el("option", { value: s, selected: s === p.stage }, STAGE_NAMES[s]))), "stage"),
        field("Next action", el("input", { name: "next_action", value: p.next_action || "", maxlength: "200", onchange: onChange("next_action") }), "next_action"),
        field("Next action date", el("input", { name: "next_action_date", type: "date", value: dateValue, onchange: onChange("next_action_date") }), "next_action_date"),
        field("Assignee", el("input", { name: "assigned_to", value: p.assigned_to || "", onchange: onChange("assigned_to") }), "assigned_to"),
        field("Value (AUD)", el("input", { name: "deal_value_aud", inputmode: "decimal", value: p.deal_value_aud, onchange: onChange("deal_value_aud", (v) => v.trim() || "0") }), "deal_value_aud"),
        field("Probability (%)", el("input", { name: "probability", type: "number", min: "0", max: "100", step: "1", value: String(p.probability), onchange: onChange("probability", (v) => Number(v)) }), "probability")),
      el("p", {}, `E-mail ${lead.email} · source ${lead.source} · since ${dateText(lead.created_at)} · weighted ${money(weighted(lead))}`),
      lead.billing.follow_up ? el("p", { class: "notice", text: `Needs a person: ${lead.billing.follow_up}` }) : null);

    const history = [...detail.history].sort((a, b) => a.at.localeCompare(b.at));
    const timeline = el("section", { class: "panel", "aria-labelledby": "history-title" },
      el("h2", { id: "history-title", text: "Stage history" }),
      history.length ? el("ol", { class: "timeline" }, history.map((h) => el("li", { class: "history-entry" },
        el("div", {}, el("strong", {}, `${STAGE_NAMES[h.from] || h.from} → ${STAGE_NAMES[h.to] || h.to}`), ": ", causeInWords(h, detail, spot)),
        el("div", { class: "when" }, timeText(h.at), h.set_by === "automation" ? " · automatic" : "")))) : el("p", { text: "No stage changes yet." }));

    const bookings = el("section", { class: "panel", "aria-labelledby": "bookings-title" },
      el("h2", { id: "bookings-title", text: "Bookings" }),
      detail.bookings.length ? el("div", { class: "table-wrap" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Provider", "Starts", "Ends", "Status", "Title"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, detail.bookings.map((b) => el("tr", {},
          el("td", {}, (b.reference && b.reference.provider) || ""), el("td", {}, timeText(b.start)), el("td", {}, timeText(b.end)),
          el("td", {}, b.status), el("td", {}, b.title || "")))))) : el("p", { text: "No bookings." }));

    const subs = detail.billing.subscriptions;
    const invoices = detail.billing.invoices;
    const billing = el("section", { class: "panel", "aria-labelledby": "billing-title" },
      el("h2", { id: "billing-title", text: "Billing" }),
      el("p", {}, `Plan: ${lead.billing.plan_type || "—"}${spot ? ` · founding spot ${spot}` : ""} · Stripe customer: ${lead.billing.stripe_customer_id || "none"}`),
      subs.length ? el("ul", {}, subs.map((s) => el("li", {},
        `Subscription ${s.subscription}: ${s.status}${s.cancel_at_period_end ? " (cancels at period end)" : ""}${s.current_period_end ? `, period ends ${dateText(new Date(s.current_period_end * 1000).toISOString())}` : ""}`)))
        : el("p", { text: "No subscription recorded." }),
      invoices.length ? el("div", { class: "table-wrap" }, el("table", {},
        el("caption", { class: "visually-hidden" }, "Invoices"),
        el("thead", {}, el("tr", {}, ["Invoice", "Status", "Amount", "Attempts", "When"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, invoices.map((i) => el("tr", { class: i.status === "payment_failed" ? "failed" : "" },
          el("td", {}, i.invoice), el("td", {}, i.status === "payment_failed" ? "Payment failed" : i.status),
          el("td", {}, `${(i.amount / 100).toFixed(2)} ${i.currency.toUpperCase()}`), el("td", {}, i.attempt_count ?? ""),
          el("td", {}, timeText(new Date(i.event_created * 1000).toISOString())))))))
        : el("p", { text: "No invoices recorded." }));

    main().replaceChildren(
      el("p", {}, el("a", { href: "#/" }, "← Back to the board")),
      el("h2", { id: "deal-title" }, title(lead), " ", el("span", { class: "email", text: `(${lead.email})` })),
      record, timeline, bookings, billing);
    document.getElementById("deal-title").setAttribute("tabindex", "-1");
    document.getElementById("deal-title").focus();
  }

  // --- the dashboard ---------------------------------------------------------------------------

  function funnel(stages) {
    const width = 640, row = 34, left = 120, right = 10, height = stages.length * row + 30;
    const maxCount = Math.max(1, ...stages.map((s) => s.count));
    const maxWeighted = Math.max(1, ...stages.map((s) => Number(s.weighted_value_aud)));
    const span = width - left - right - 150;
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    const add = (parent, tag, attrs, text) => {
      const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
      for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
      if (text !== undefined) node.textContent = text;
      parent.append(node);
      return node;
    };
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    svg.setAttribute("class", "funnel");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-labelledby", "funnel-title funnel-desc");
    add(svg, "title", { id: "funnel-title" }, "Pipeline funnel");
    add(svg, "desc", { id: "funnel-desc" }, stages.map((s) => `${STAGE_NAMES[s.stage]}: ${s.count} deals, weighted ${money(s.weighted_value_aud)}`).join("; "));
    stages.forEach((s, i) => {
      const y = 10 + i * row;
      const g = add(svg, "g", { class: "stage", "data-stage": s.stage });
      add(g, "text", { x: left - 8, y: y + 16, "text-anchor": "end" }, STAGE_NAMES[s.stage]);
      const w = Math.max(2, (s.count / maxCount) * span);
      add(g, "rect", { class: "count", x: left + (span - w) / 2, y, width: w, height: 14, rx: 3, "data-count": s.count });
      const ww = Math.max(2, (Number(s.weighted_value_aud) / maxWeighted) * span);
      add(g, "rect", { class: "weighted", x: left + (span - ww) / 2, y: y + 16, width: ww, height: 8, rx: 2 });
      add(g, "text", { x: left + span + 8, y: y + 16 }, `${s.count} · ${money(s.weighted_value_aud)}`);
    });
    add(svg, "text", { x: left, y: height - 4 }, "Dark bar: deals; light bar: weighted value (AUD)");
    return svg;
  }

  async function renderDashboard() {
    main().replaceChildren(el("p", { class: "loading", text: "Loading the dashboard…" }));
    const apiRoot = state.config.apiBase.replace(/\/board\/api\/?$/, "");
    const [summary, members, holds, waitlist, spots] = await Promise.all([
      api("/pipeline/summary"), api("/founding/members"), api("/founding/holds"), api("/founding/waitlist"),
      fetch(`${apiRoot}/billing/founding-spots`).then((r) => (r.ok ? r.json() : null)).catch(() => null),
    ]).catch((err) => { if (err.status !== 401) main().replaceChildren(el("p", { class: "notice error", role: "alert", text: `Could not load the dashboard: ${err.message}` })); throw err; });
    state.summary = summary.stages;
    state.members = members.members;
    const total = spots ? spots.total : 20;
    const held = holds.holds.length;
    const reserved = 0; // no spot is reserved for a waitlisted person yet (the waitlist's offers come later)
    const free = spots ? spots.remaining : Math.max(0, total - members.members.length - held - reserved);
    const figures = [["Members", members.members.length], ["Held", held], ["Reserved", reserved], ["Free", free], ["Waitlist", waitlist.waitlist.length]];

    // The latest payment failures: the failed invoices of every deal with a Stripe customer.
    if (!state.deals.size) await loadDeals();
    const customers = [...state.deals.values()].filter((l) => l.billing && l.billing.stripe_customer_id);
    const details = await Promise.all(customers.map((l) => api(`/pipeline/leads/${l.id}`).catch(() => null)));
    const failures = details.filter(Boolean).flatMap((d) => d.billing.invoices
      .filter((i) => i.status === "payment_failed").map((i) => ({ lead: d.lead, invoice: i })))
      .sort((a, b) => b.invoice.event_created - a.invoice.event_created).slice(0, 10);

    main().replaceChildren(
      el("h2", { class: "visually-hidden", text: "Dashboard" }),
      el("section", { class: "panel", "aria-labelledby": "funnel-heading" },
        el("h2", { id: "funnel-heading", text: "Funnel: deals and weighted value by stage" }), funnel(summary.stages)),
      el("section", { class: "panel", "aria-labelledby": "spots-heading" },
        el("h2", { id: "spots-heading", text: `Founding spots (${total})` }),
        el("dl", { class: "spots" }, figures.map(([label, n]) => el("div", { "data-figure": label.toLowerCase() }, el("dt", {}, label), el("dd", {}, String(n)))))),
      el("section", { class: "panel", "aria-labelledby": "failures-heading" },
        el("h2", { id: "failures-heading", text: "Latest payment failures" }),
        failures.length ? el("div", { class: "table-wrap" }, el("table", { id: "payment-failures" },
          el("thead", {}, el("tr", {}, ["Deal", "Invoice", "Amount", "Attempts", "When"].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, failures.map(({ lead, invoice }) => el("tr", { class: "failed" },
            el("td", {}, el("a", { href: `#/deal/${lead.id}` }, lead.email)), el("td", {}, invoice.invoice),
            el("td", {}, `${(invoice.amount / 100).toFixed(2)} ${invoice.currency.toUpperCase()}`),
            el("td", {}, invoice.attempt_count ?? ""), el("td", {}, timeText(new Date(invoice.event_created * 1000).toISOString())))))))
          : el("p", { text: "No failed payments." })));
  }

  // --- routing -------------------------------------------------------------------------------

  async function refresh(view) {
    say("Loading…");
    try {
      await Promise.all([loadDeals(), loadSummary()]);
      say(`${state.deals.size} deals loaded.`);
    } catch (err) {
      if (err.status === 403) {
        main().replaceChildren(el("section", { class: "panel signin" },
          el("h2", { text: "Not allowed" }),
          el("p", { class: "notice error", role: "alert", text: `Signed in as ${state.who}, who is not in the sales group: ${err.message}` })));
        say("");
        return;
      }
      if (err.status !== 401) say(`Could not load the board: ${err.message}`);
      return;
    }
    if (view === "board") renderBoard();
  }

  async function route() {
    const hash = location.hash || "#/";
    for (const link of document.querySelectorAll("[data-nav]")) {
      const current = (link.dataset.nav === "dashboard") === hash.startsWith("#/dashboard") && !hash.startsWith("#/deal/");
      if (current) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    const deal = /^#\/deal\/([^/]+)$/.exec(hash);
    if (deal) return renderDeal(decodeURIComponent(deal[1]));
    if (hash.startsWith("#/dashboard")) {
      document.title = "Dashboard · Sales board";
      return renderDashboard().catch(() => {});
    }
    document.title = "Sales board · Agency OS";
    if (state.deals.size && state.summary) {
      renderBoard();
      return loadSummary().then(() => renderBoard()).catch(() => {});
    }
    return refresh("board");
  }

  async function start() {
    try {
      const response = await fetch("config.json", { cache: "no-store" });
      state.config = await response.json();
    } catch (_) {
      main().replaceChildren(el("p", { class: "notice error", role: "alert", text: "The board has no config.json: publish it with make publish-board." }));
      return;
    }
    const params = new URLSearchParams(location.search);
    if (params.get("code")) {
      try {
        await finishSignIn(params);
      } catch (err) {
        history.replaceState(null, "", redirectUri());
        return signInScreen(err.message);
      }
    } else if (params.get("error")) {
      history.replaceState(null, "", redirectUri());
      return signInScreen(`Sign-in failed: ${params.get("error_description") || params.get("error")}`);
    }
    const signedIn = currentToken();
    if (!signedIn) {
      const hint = params.get("login_hint");
      if (hint) return startSignIn(hint);
      return signInScreen();
    }
    state.token = signedIn.token;
    state.who = signedIn.claims.email || signedIn.claims["cognito:username"] || "?";
    document.getElementById("signed-in-as").textContent = `Signed in as ${state.who}`;
    const out = document.getElementById("sign-out");
    out.hidden = false;
    out.onclick = signOut;
    window.addEventListener("hashchange", () => { route(); document.getElementById("main").focus(); });
    route();
  }

  // For the browser test and for anyone checking an export by hand.
  window.AgencyBoard = { csvCell, dealsCsv, causeInWords };
  start();
})();
