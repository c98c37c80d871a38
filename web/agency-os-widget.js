/*!
 * Agency OS founding-member widget. No framework, no build step.
 *
 * Drop it into a page (docs/widget.md has the snippet with the stack's URLs):
 *
 *   <link rel="stylesheet" href="https://<distribution>/widget/v1/agency-os-widget.css">
 *   <div data-agency-os-widget
 *        data-api-base="https://api.example.com"      (the HTTP API's URL)
 *        data-cal-link="keiracom/demo"></div>          (the Cal.com event to book)
 *   <script src="https://<distribution>/widget/v1/agency-os-widget.js" defer></script>
 *
 * "Book a Demo": data-cal-link (a Cal.com event, "user/event") or data-calendly-url (a Calendly
 * scheduling page, https://calendly.com/user/event); with both, Cal.com's. The button opens
 * the provider's popup when the page loads its embed script (Cal.com's embed.js, Calendly's
 * widget.js), else the booking page in a new tab; without either attribute there is no button.
 * Colours and font: the CSS custom properties in agency-os-widget.css (--agency-os-accent, …).
 *
 * Optional attributes: data-success-url, data-cancel-url (must be allowed by the API),
 * data-endpoint-founding-spots / data-endpoint-create-checkout (full URLs, for a stack whose
 * functions are not behind one base URL, such as `cargo lambda watch`),
 * data-turnstile-sitekey (the human check: when the API has TURNSTILE_SECRET_KEY, give the
 * sitekey of that Turnstile widget; the widget then loads Cloudflare's Turnstile script, renders
 * the challenge and sends its token as `turnstile_token` with founding checkouts; without the
 * attribute nothing is loaded from Cloudflare).
 * Or from script: AgencyOSWidget.mount(element, {apiBase, calLink, calendlyUrl, turnstileSiteKey, ...}).
 */
(function () {
  "use strict";

  var TOTAL_FALLBACK = 20;
  // Explicit rendering: the widget decides where and when the challenge appears.
  var TURNSTILE_SCRIPT = "https://challenges.cloudflare.com/turnstile/v0/api.js?render=explicit";
  var turnstileLoading = null;

  /** Loads Cloudflare's Turnstile script, once per page, and only when a widget asks for it. */
  function loadTurnstile() {
    if (window.turnstile) {
      return Promise.resolve(window.turnstile);
    }
    if (!turnstileLoading) {
      turnstileLoading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = TURNSTILE_SCRIPT;
        script.async = true;
        script.onload = function () {
          if (window.turnstile) {
            resolve(window.turnstile);
          } else {
            reject(new Error("Turnstile did not start"));
          }
        };
        script.onerror = function () {
          turnstileLoading = null;
          reject(new Error("Turnstile could not be loaded"));
        };
        document.head.appendChild(script);
      });
    }
    return turnstileLoading;
  }

  function minutesFrom(seconds) {
    var minutes = Math.max(1, Math.ceil(Number(seconds) / 60));
    return minutes === 1 ? "about a minute" : "about " + minutes + " minutes";
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") {
        node.textContent = attrs[key];
      } else {
        node.setAttribute(key, attrs[key]);
      }
    });
    (children || []).forEach(function (child) {
      node.appendChild(child);
    });
    return node;
  }

  /** A Calendly scheduling page's URL, or "" for anything that is not an https URL. */
  function httpsUrl(url) {
    url = String(url || "").trim();
    return /^https:\/\/[^\s"'<>]+$/i.test(url) ? url : "";
  }

  function trimSlash(url) {
    return String(url || "").replace(/\/+$/, "");
  }

  /** What a person should read for an API answer that is not a success. */
  function explain(status, body) {
    body = body || {};
    if (status === 0) {
      return "We could not reach our servers. Check your connection and try again.";
    }
    if (status === 400 && body.field === "email") {
      return "Please enter a valid e-mail address, like name@company.com.";
    }
    if (status === 400 && body.field === "company_name") {
      return "Please shorten the company name.";
    }
    if (status === 400 && body.error === "human_check_failed") {
      return "Please complete the check and try again.";
    }
    if (status === 409 && body.error === "founding_full") {
      return "All founding spots are taken. You are number " + body.waitlist_position +
        " on the waitlist; we will e-mail you if a spot opens.";
    }
    if (status === 400 && body.error === "offer_expired") {
      return "This offer has ended, so the spot went to the next person in line. You are still on the waitlist.";
    }
    if (status === 400 && body.error === "offer_not_yours") {
      return "This offer was made to another e-mail address: use the address the offer was sent to.";
    }
    if (status === 400 && body.error === "invalid_offer") {
      return "This offer link is damaged. Please open it again from the e-mail.";
    }
    if (status === 409 && body.error === "already_subscribed") {
      // One customer, one subscription: a second checkout would charge them twice.
      return "This e-mail already has an active subscription. To change or cancel it, open " +
        "Billing in your Agency OS account (the customer portal).";
    }
    if (status === 409 && body.error === "already_founding_member") {
      return "This e-mail already holds founding spot #" + body.spot_number + ".";
    }
    if (status === 413) {
      return "That is more text than we can take; please shorten it.";
    }
    if (status === 429 && body.error === "too_many_holds") {
      // One network holding too many founding spots at once (create-checkout's own answer).
      var wait = isFinite(Number(body.retry_after_seconds)) && Number(body.retry_after_seconds) > 0
        ? "in " + minutesFrom(body.retry_after_seconds) : "later";
      return "Too many founding spots are being held from your network right now. Please try again " +
        wait + ", or join the waitlist.";
    }
    if (status === 429) {
      // API Gateway's throttle ({"message":"Too Many Requests"}): busy for everyone, briefly.
      return "Lots of people are signing up right now. Please try again in a few seconds.";
    }
    if (status >= 500) {
      return "The service is unavailable right now. Please try again in a minute.";
    }
    return "Something went wrong (" + status + "). Please try again.";
  }

  /** The waitlist offer in the page's address (`?offer=<token>` from the offer e-mail): its
   * e-mail, spot and end, read from the token's first part (create-checkout checks the
   * signature; this only shows what the link says). Null without a readable one. */
  function offerFromUrl(search) {
    var token = "";
    try {
      token = new URLSearchParams(search || "").get("offer") || "";
    } catch (e) {
      return null;
    }
    var payload = token.split(".")[0];
    if (!payload) {
      return null;
    }
    try {
      var text = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
      var claims = JSON.parse(text);
      if (typeof claims.e !== "string" || !isFinite(claims.s) || !isFinite(claims.u)) {
        return null;
      }
      return { token: token, email: claims.e, spot: Number(claims.s), until: new Date(claims.u * 1000) };
    } catch (e) {
      return null;
    }
  }

  function request(method, url, payload) {
    var init = { method: method, headers: { Accept: "application/json" } };
    if (payload) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    return fetch(url, init).then(
      function (response) {
        return response.text().then(function (text) {
          var body = null;
          try {
            body = text ? JSON.parse(text) : null;
          } catch (ignored) {
            body = null;
          }
          return { status: response.status, body: body };
        });
      },
      function () {
        return { status: 0, body: null };
      }
    );
  }

  function Widget(root, options) {
    this.root = root;
    this.options = options;
    this.busy = false;
    this.soldOut = false;
    var base = trimSlash(options.apiBase);
    this.spotsUrl = options.foundingSpotsUrl || base + "/billing/founding-spots";
    this.checkoutUrl = options.createCheckoutUrl || base + "/billing/create-checkout";
    this.offer = offerFromUrl(window.location.search);
    this.render();
    this.refresh();
  }

  Widget.prototype.render = function () {
    var id = "aos-" + Math.random().toString(36).slice(2, 8);
    this.banner = el("p", { class: "aos-banner", "aria-live": "polite", text: "Loading founding spots…" });
    this.email = el("input", {
      id: id + "-email", name: "email", type: "email", required: "", autocomplete: "email",
      inputmode: "email", placeholder: "you@company.com", "aria-describedby": id + "-status"
    });
    this.company = el("input", {
      id: id + "-company", name: "company", type: "text", autocomplete: "organization",
      maxlength: "200", placeholder: "Your agency"
    });
    this.submit = el("button", { type: "submit", class: "aos-primary", text: "Become a founding member" });
    this.standard = el("button", { type: "button", class: "aos-secondary", text: "Start on the standard plan" });
    this.status = el("p", { id: id + "-status", class: "aos-status", role: "status", "aria-live": "polite" });
    this.form = el("form", { class: "aos-form", novalidate: "" }, [
      el("div", { class: "aos-field" }, [
        el("label", { for: id + "-email", text: "Work e-mail" }), this.email
      ]),
      el("div", { class: "aos-field" }, [
        el("label", { for: id + "-company", text: "Company (optional)" }), this.company
      ]),
      el("div", { class: "aos-actions" }, [this.submit, this.standard]),
      this.status
    ]);
    if (this.options.turnstileSiteKey) {
      this.challenge = el("div", { class: "aos-turnstile" });
      this.form.insertBefore(this.challenge, this.form.querySelector(".aos-actions"));
    }
    var calLink = this.options.calLink || "";
    var calendlyUrl = calLink ? "" : httpsUrl(this.options.calendlyUrl);
    var demoAttrs = { type: "button", class: "aos-demo", text: "Book a Demo" };
    if (calLink) {
      demoAttrs["data-cal-link"] = calLink; // Cal.com's embed opens its modal for these
    } else if (calendlyUrl) {
      demoAttrs["data-calendly-url"] = calendlyUrl;
    }
    this.demo = calLink || calendlyUrl ? el("button", demoAttrs) : null;
    var self = this;
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.checkout("founding");
    });
    this.standard.addEventListener("click", function () {
      self.checkout("standard");
    });
    if (this.demo) {
      this.demo.addEventListener("click", function () {
        if (calLink) {
          // Cal.com's embed (if the page loads it) opens its own modal for data-cal-link
          // buttons; without it, open the booking page.
          if (!window.Cal) {
            window.open("https://cal.com/" + calLink, "_blank", "noopener");
          }
        } else if (window.Calendly && window.Calendly.initPopupWidget) {
          window.Calendly.initPopupWidget({ url: calendlyUrl });
        } else {
          window.open(calendlyUrl, "_blank", "noopener");
        }
      });
    }
    if (this.offer) {
      // Arriving from an offer e-mail: the spot is theirs until the offer ends; one click.
      this.email.value = this.offer.email;
      this.email.setAttribute("readonly", "");
      this.submit.textContent = "Claim founding spot " + this.offer.spot;
    }
    var parts = [this.banner, this.form];
    if (this.demo) {
      parts.push(el("p", { class: "aos-or", text: "Not sure yet?" }), this.demo);
    }
    var section = el("section", { class: "aos-widget", "aria-label": "Founding membership" }, parts);
    this.root.innerHTML = "";
    this.root.appendChild(section);
    if (this.challenge) {
      this.mountChallenge();
    }
  };

  /** The human check (Cloudflare Turnstile), when the page gave a sitekey. */
  Widget.prototype.mountChallenge = function () {
    var self = this;
    this.turnstileToken = "";
    loadTurnstile().then(function (turnstile) {
      self.turnstile = turnstile;
      self.turnstileId = turnstile.render(self.challenge, {
        sitekey: self.options.turnstileSiteKey,
        theme: "light",
        callback: function (token) {
          self.turnstileToken = token;
        },
        "expired-callback": function () {
          self.turnstileToken = "";
        },
        "error-callback": function () {
          self.turnstileToken = "";
        }
      });
    }, function () {
      self.challenge.classList.add("aos-error");
      self.challenge.textContent = "The human check could not load. Check your connection (or " +
        "allow challenges.cloudflare.com), then reload the page.";
    });
  };

  Widget.prototype.challengeToken = function () {
    if (this.turnstileToken) {
      return this.turnstileToken;
    }
    if (this.turnstile && this.turnstileId != null && this.turnstile.getResponse) {
      return this.turnstile.getResponse(this.turnstileId) || "";
    }
    return "";
  };

  /** A token is good for one check: after create-checkout has seen it, ask for a new one. */
  Widget.prototype.resetChallenge = function () {
    this.turnstileToken = "";
    if (this.turnstile && this.turnstileId != null) {
      this.turnstile.reset(this.turnstileId);
    }
  };

  /** Whether the page shows a live offer (its banner wins over the count). */
  Widget.prototype.showOffer = function () {
    if (!this.offer) {
      return false;
    }
    var until = this.offer.until;
    if (until.getTime() <= Date.now()) {
      this.banner.textContent = "This offer ended on " + until.toLocaleString() +
        ". You are still on the waitlist; we will e-mail you if another spot opens.";
      this.banner.classList.add("aos-sold-out");
      return true;
    }
    this.banner.textContent = "Founding spot " + this.offer.spot + " is reserved for you until " +
      until.toLocaleString() + ". Claim it in one click: 40% lifetime discount.";
    this.banner.classList.add("aos-offer");
    this.root.setAttribute("data-offer-spot", String(this.offer.spot));
    return true;
  };

  Widget.prototype.refresh = function () {
    var self = this;
    if (this.showOffer()) {
      return Promise.resolve();
    }
    return request("GET", this.spotsUrl).then(function (answer) {
      var body = answer.body;
      if (answer.status !== 200 || !body) {
        self.banner.textContent = "Founding membership: 40% lifetime discount.";
        return;
      }
      var total = body.total || TOTAL_FALLBACK;
      self.soldOut = body.remaining <= 0;
      self.root.setAttribute("data-remaining", String(body.remaining));
      if (self.soldOut) {
        self.banner.textContent = "All " + total + " founding spots are taken. Join the waitlist and we will e-mail you if one opens.";
        self.submit.textContent = "Join the waitlist";
        self.banner.classList.add("aos-sold-out");
      } else {
        self.banner.textContent = body.remaining + " of " + total + " founding spots left — " +
          (body.discount_percent || 40) + "% lifetime discount";
        self.submit.textContent = "Become a founding member";
        self.banner.classList.remove("aos-sold-out");
      }
    });
  };

  Widget.prototype.setBusy = function (busy) {
    this.busy = busy;
    this.submit.disabled = busy;
    this.standard.disabled = busy;
    this.form.setAttribute("aria-busy", busy ? "true" : "false");
  };

  Widget.prototype.showError = function (message, focusEmail) {
    this.status.textContent = message;
    this.status.classList.add("aos-error");
    if (focusEmail) {
      this.email.setAttribute("aria-invalid", "true");
      this.email.focus();
    }
  };

  Widget.prototype.checkout = function (plan) {
    if (this.busy) {
      return; // never double-submit
    }
    var email = this.email.value.trim();
    this.status.textContent = "";
    this.status.classList.remove("aos-error");
    this.email.removeAttribute("aria-invalid");
    if (!email || email.indexOf("@") < 1) {
      this.showError(explain(400, { field: "email" }), true);
      return;
    }
    var payload = { email: email, plan_type: plan };
    if (plan === "founding" && this.offer) {
      payload.offer = this.offer.token;
    }
    var company = this.company.value.trim();
    if (company) {
      payload.company_name = company;
    }
    if (this.options.successUrl) {
      payload.success_url = this.options.successUrl;
    }
    if (this.options.cancelUrl) {
      payload.cancel_url = this.options.cancelUrl;
    }
    var checked = plan === "founding" && !!this.challenge;
    if (checked) {
      var token = this.challengeToken();
      if (!token) {
        this.showError(explain(400, { error: "human_check_failed" }), false);
        return;
      }
      payload.turnstile_token = token;
    }
    var self = this;
    this.setBusy(true);
    this.status.textContent = "Starting checkout…";
    return request("POST", this.checkoutUrl, payload).then(function (answer) {
      if (answer.status === 200 && answer.body && answer.body.checkout_url) {
        self.status.textContent = "Taking you to checkout…";
        window.location.assign(answer.body.checkout_url);
        return; // stay disabled while the page changes
      }
      self.setBusy(false);
      if (checked) {
        self.resetChallenge();
      }
      var body = answer.body || {};
      if (answer.status === 409 && body.error === "founding_full") {
        self.status.classList.add("aos-waitlisted");
        self.status.textContent = explain(409, body);
        self.refresh();
        return;
      }
      self.showError(explain(answer.status, body), answer.status === 400 && body.field === "email");
    });
  };

  function fromAttributes(node) {
    return {
      apiBase: node.getAttribute("data-api-base") || "",
      calLink: node.getAttribute("data-cal-link") || "",
      calendlyUrl: node.getAttribute("data-calendly-url") || "",
      successUrl: node.getAttribute("data-success-url") || "",
      cancelUrl: node.getAttribute("data-cancel-url") || "",
      foundingSpotsUrl: node.getAttribute("data-endpoint-founding-spots") || "",
      createCheckoutUrl: node.getAttribute("data-endpoint-create-checkout") || "",
      turnstileSiteKey: node.getAttribute("data-turnstile-sitekey") || ""
    };
  }

  var api = {
    mount: function (node, options) {
      return new Widget(node, options || fromAttributes(node));
    },
    explain: explain
  };
  window.AgencyOSWidget = api;

  function mountAll() {
    var nodes = document.querySelectorAll("[data-agency-os-widget]");
    Array.prototype.forEach.call(nodes, function (node) {
      node.agencyOSWidget = api.mount(node);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mountAll);
  } else {
    mountAll();
  }
})();
