// calsync dashboard: a small single-page app on the GraphQL API, with the caller's token.
//
// Rules this file keeps:
// - No inline script or style anywhere (a strict Content-Security-Policy applies), no request to
//   another origin, and no innerHTML with data: every value goes in through textContent.
// - The token lives in sessionStorage (this tab only) and is sent as a bearer token; a 401 signs out.
// - Every change an operator makes can be undone from the toast that confirms it.
// - Refreshes never replace the part of the page that holds the keyboard focus.
import * as Q from "./queries.js";

const TOKEN_KEY = "calsync.token";
const REFRESH_MS = 5000;
const PAGE = 50;
/** The API's largest page (MAX_PAGE_SIZE): longer lists are read page by page. */
const MAX_PAGE = 100;
const SYNC_STATUSES = ["SYNCED", "PENDING", "ERROR", "NEVER_SYNCED", "LEGACY", "REMOTE_DELETED"];
const WEBHOOK_STATUSES = ["RECEIVED", "PROCESSED", "FAILED", "IGNORED", "INVALID", "UNMATCHED"];
const TABS = [
  ["services", "Services"],
  ["orphans", "Orphans"],
  ["syncs", "Sync runs"],
  ["webhooks", "Webhook events"],
  ["audit", "Audit trail"],
];

const $ = (id) => document.getElementById(id);
const traceUi = document.querySelector('meta[name="calsync-trace-ui"]')?.getAttribute("content") ?? "";

// ---------- DOM helpers ----------

/** el("td", { class: "num" }, "12"): attributes, then children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

function replace(target, ...children) {
  target.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

/** True when the keyboard focus is inside `node`: a refresh leaves it alone. */
const holdsFocus = (node) => node && node.contains(document.activeElement) && document.activeElement !== document.body;

function when(iso) {
  if (!iso) return el("span", { class: "muted" }, "—");
  const d = new Date(iso);
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const text =
    s < 5 ? "just now" : s < 60 ? `${s} s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : s < 86400 ? `${Math.round(s / 3600)} h ago` : d.toLocaleString();
  return el("time", { datetime: iso, title: d.toLocaleString() }, text);
}

/** The coverage card: the figure, and its bar under it. */
function coverageFigure(coverage) {
  if (!coverage.activeServices) return [el("span", { class: "v muted" }, "no services")];
  const p = coverage.coveragePercent;
  return [
    el("span", { class: "v" }, `${p.toFixed(2)} %`),
    el("span", { class: "bar wide", role: "progressbar", "aria-label": "Coverage", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": p }, el("span", { dataset: { w: String(p) } })),
  ];
}

function percent(coverage) {
  // Nothing active: there is no coverage to speak of (not "0.00 %").
  if (!coverage.activeServices) return el("span", { class: "muted" }, "no services");
  const p = coverage.coveragePercent;
  return el(
    "span",
    { class: "nowrap" },
    el("span", { class: "bar", role: "presentation" }, el("span", { style: null, dataset: { w: String(p) } })),
    `${p.toFixed(2)} %`,
  );
}

/** Bars take their width from data-w through the CSSOM, which a strict CSP allows (style attributes it would not). */
function sizeBars(root) {
  for (const span of root.querySelectorAll(".bar > span[data-w]")) span.style.width = `${Math.max(0, Math.min(100, Number(span.dataset.w)))}%`;
}

const STATUS_TONE = {
  SYNCED: "ok", SUCCEEDED: "ok", PROCESSED: "ok", PENDING: "info", QUEUED: "info", RUNNING: "info", RECEIVED: "info",
  ERROR: "bad", FAILED: "bad", INVALID: "bad", NEVER_SYNCED: "warn", UNMATCHED: "warn", REMOTE_DELETED: "warn",
};
const badge = (status) => el("span", { class: `badge ${STATUS_TONE[status] ?? ""}` }, status.replaceAll("_", " ").toLowerCase());

function traceLink(traceId) {
  if (!traceId) return el("span", { class: "muted" }, "—");
  const short = `${traceId.slice(0, 8)}…`;
  if (traceUi.includes("{traceId}")) {
    return el("a", { href: traceUi.replace("{traceId}", traceId), target: "_blank", rel: "noopener", title: `trace ${traceId}` }, short);
  }
  return el("code", { title: `trace ${traceId} (set TRACE_UI_URL to link traces)` }, short);
}

/**
 * Attendee data never reaches the screen: names, e-mails, phones, what they typed, and the
 * fields Cal.com builds from them (a booking's title names the attendee; a no-show message and
 * cancelledBy carry an e-mail; a location may be a phone number).
 */
const PERSONAL = /^(attendees?|guests|responses|userFieldsResponses|customInputs|email|attendeeEmail|attendeeName|attendeePhoneNumber|phoneNumber|smsReminderNumber|firstName|lastName|name|userPrimaryEmail|cancelledBy|cancelledByEmail|rescheduledBy|rescheduledByEmail|noShowHost|title|additionalNotes|description|message|location|cancellationReason|rejectionReason)$/i;
function hidePersonal(value) {
  if (Array.isArray(value)) return value.map(hidePersonal);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, PERSONAL.test(k) ? "[hidden]" : hidePersonal(v)]));
  }
  return value;
}

// ---------- toasts and confirmation ----------

function toast(message, { undo, tone } = {}) {
  const box = el("div", { class: `toast ${tone ?? ""}` }, el("span", {}, message));
  if (undo) {
    box.append(
      el("button", {
        type: "button",
        class: "small",
        "aria-label": `Undo: ${message}`,
        onclick: async (e) => {
          e.currentTarget.disabled = true;
          try {
            await undo();
            box.remove();
            toast("Undone.");
          } catch (err) {
            box.remove();
            toast(`Undo failed: ${err.message}`, { tone: "bad" });
          }
          view?.refresh?.();
        },
      }, "Undo"),
    );
  }
  $("toasts").append(box);
  setTimeout(() => box.remove(), undo ? 20000 : 6000);
}

/** A modal question (native <dialog>: focus moves in, Escape cancels). Resolves to true on Confirm. */
function confirmDialog(title, body, okLabel, danger) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  replace($("confirm-body"), body);
  $("confirm-ok").textContent = okLabel;
  $("confirm-ok").className = danger ? "danger" : "";
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

// ---------- API ----------

class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

async function gql(query, variables = {}) {
  let res;
  try {
    res = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", authorization: `Bearer ${token()}` },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError("calsync did not answer; is it running?", "NETWORK");
  }
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    signOut("That token was not accepted (UNAUTHENTICATED): check it and sign in again.");
    throw new ApiError("not signed in", "UNAUTHENTICATED");
  }
  if (body.errors?.length) {
    const e = body.errors[0];
    throw new ApiError(e.message, e.extensions?.code ?? "ERROR");
  }
  return body.data;
}

/**
 * A GraphQL subscription over server-sent events (the request carries the bearer token, which
 * EventSource cannot send, so this reads the stream with fetch).
 */
async function subscribe(query, variables, onNext, signal) {
  const res = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream", authorization: `Bearer ${token()}` },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  if (!res.ok || !res.body) throw new ApiError(`subscription refused (${res.status})`, "SUBSCRIPTION");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (event === "complete") return;
      if (data) {
        const payload = JSON.parse(data);
        if (payload.errors?.length) throw new ApiError(payload.errors[0].message, payload.errors[0].extensions?.code);
        onNext(payload.data);
      }
    }
  }
}

/**
 * Reads `limit` items of a connection, page by page (at most MAX_PAGE each), and returns the
 * last page's connection with every edge read so far.
 */
async function readPages(query, variables, limit, pick) {
  let after = null;
  let edges = [];
  let conn = null;
  while (edges.length < limit) {
    const data = await gql(query, { ...variables, first: Math.min(MAX_PAGE, limit - edges.length), after });
    conn = pick(data);
    if (!conn) return null;
    edges = edges.concat(conn.edges);
    if (!conn.pageInfo.hasNextPage) break;
    after = conn.pageInfo.endCursor;
  }
  return { ...conn, edges };
}

// ---------- sign in / out ----------

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  view?.stop?.();
  view = null;
  replace($("view"));
  $("who").hidden = true;
  $("login").hidden = false;
  showError(message ?? "");
  $("token").value = "";
  $("token").focus();
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const value = $("token").value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN_KEY, value);
  $("token").value = "";
  route();
});
$("signout").addEventListener("click", () => signOut());

// ---------- views ----------

let view = null;

function route() {
  view?.stop?.();
  view = null;
  showError("");
  if (!token()) {
    $("login").hidden = false;
    $("who").hidden = true;
    replace($("view"));
    $("token").focus();
    return;
  }
  $("login").hidden = true;
  $("who").hidden = false;
  $("who-label").textContent = "Signed in";
  const m = /^#\/company\/([^/]+)(?:\/(\w+))?/.exec(location.hash);
  $("nav-overview").toggleAttribute("aria-current", !m);
  if (!m) $("nav-overview").setAttribute("aria-current", "page");
  view = m ? companyView(decodeURIComponent(m[1]), m[2] ?? "services") : overviewView();
  view.start();
}

window.addEventListener("hashchange", route);

/** Runs `load` now and every REFRESH_MS while the page is visible and no dialog is open. */
function poller(load) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (document.visibilityState === "visible" && !$("confirm").open) {
      try {
        await load();
      } catch (err) {
        // A company the token may not see is the page's own message ("Company not found").
        if (!["UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"].includes(err.code)) showError(err.message);
      }
    }
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  return {
    start: () => void tick(),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
    now: () => load().catch((err) => err.code !== "UNAUTHENTICATED" && showError(err.message)),
  };
}

function overviewView() {
  const root = el("div", {});
  replace($("view"), root);
  document.title = "calsync · dashboard";
  const cards = el("div", { class: "cards", id: "totals" });
  const tbody = el("tbody", { id: "companies" });
  replace(
    root,
    el("h1", {}, "Overview"),
    el("p", { class: "muted" }, "What is synced, orphaned or failing, per company. Refreshes every 5 s."),
    cards,
    el("h2", {}, "Companies"),
    el(
      "div",
      { class: "table-wrap" },
      el(
        "table",
        {},
        el(
          "thead",
          {},
          el(
            "tr",
            {},
            ...["Company", "Cal.com", "Coverage"].map((h) => el("th", { scope: "col" }, h)),
            ...["Active", "Synced", "Orphaned", "Errors", "Remote deleted"].map((h) => el("th", { scope: "col", class: "num" }, h)),
            el("th", { scope: "col" }, "Last sync"),
            el("th", { scope: "col", class: "num" }, "Failed webhooks"),
            el("th", { scope: "col", class: "num", title: "Booking changes Cal.com made that no webhook brought, recovered by reconciliation" }, "Missed webhooks recovered"),
          ),
        ),
        tbody,
      ),
    ),
  );
  const load = async () => {
    const { coverageReport: r } = await gql(Q.OVERVIEW);
    const t = r.totals;
    replace(
      cards,
      card("Companies", r.totalCompanies),
      card("Using Cal.com", r.companiesUsingCalcom),
      card("Active services", t.activeServices),
      card("Synced", t.syncedServices),
      card("Orphaned", t.neverSyncedServices),
      card("Errors", t.erroredServices),
      card("Coverage", t.activeServices ? `${t.coveragePercent.toFixed(2)} %` : "no services"),
      card("Missed webhooks recovered", r.companies.reduce((n, c) => n + c.company.missedWebhooksRecovered, 0)),
    );
    if (holdsFocus(tbody)) return;
    replace(
      tbody,
      r.companies.length === 0
        ? el("tr", {}, el("td", { colspan: 11, class: "empty" }, "No companies yet. Create one with createCompany or `calsync company create`."))
        : r.companies.map(({ company: c, coverage: v }) =>
            el(
              "tr",
              {},
              el("th", { scope: "row" }, el("a", { href: `#/company/${encodeURIComponent(c.id)}` }, c.name), el("div", { class: "muted small" }, c.slug)),
              el("td", {}, c.calcomConnected ? el("span", { class: "badge ok" }, "connected") : el("span", { class: "badge" }, "not connected")),
              el("td", {}, percent(v)),
              num(v.activeServices),
              num(v.syncedServices),
              num(v.neverSyncedServices),
              num(v.erroredServices),
              num(v.remoteDeletedServices),
              el("td", {}, c.lastSyncRun ? [badge(c.lastSyncRun.status), " ", when(c.lastSyncRun.finishedAt ?? c.lastSyncRun.queuedAt)] : el("span", { class: "muted" }, "never")),
              el("td", { class: "num" }, c.failedWebhooks.totalCount ? el("a", { href: `#/company/${encodeURIComponent(c.id)}/webhooks` }, String(c.failedWebhooks.totalCount)) : "0"),
              num(c.missedWebhooksRecovered),
            ),
          ),
    );
    sizeBars(root);
  };
  return poller(load);
}

const card = (k, v) => el("div", { class: "card" }, el("span", { class: "v" }, String(v)), el("span", { class: "k" }, k));
const num = (n) => el("td", { class: "num" }, String(n));

function companyView(id, tab) {
  const root = el("div", {});
  replace($("view"), root);
  const header = el("div", { id: "company-head" });
  const live = el("div", { id: "sync-live", hidden: true });
  const body = el("div", { id: "tab-body" });
  const tabs = el(
    "nav",
    { class: "tabs", "aria-label": "Company sections" },
    TABS.map(([key, label]) =>
      el("a", { href: `#/company/${encodeURIComponent(id)}/${key}`, "aria-current": key === tab ? "page" : null }, label),
    ),
  );
  replace(root, el("p", {}, el("a", { href: "#/" }, "← All companies")), header, live, tabs, body);

  let company = null;
  let watching = null;
  const abort = new AbortController();

  async function watchRun(run) {
    if (watching === run.id) return;
    watching = run.id;
    live.hidden = false;
    const bar = el("span", { dataset: { w: String(run.progress * 100) } });
    const label = el("span", { class: "live" });
    const show = (r) => {
      bar.dataset.w = String(Math.round(r.progress * 100));
      bar.parentElement?.setAttribute("aria-valuenow", String(Math.round(r.progress * 100)));
      label.textContent = ` ${Math.round(r.progress * 100)} % · ${r.status.toLowerCase()} · ${r.fetched} event types fetched`;
      sizeBars(live);
    };
    replace(
      live,
      el(
        "div",
        { class: "card" },
        el("strong", {}, "Sync in progress "),
        el("span", { class: "bar big progress", role: "progressbar", "aria-label": "Sync progress", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": Math.round(run.progress * 100) }, bar),
        label,
      ),
    );
    show(run);
    try {
      let last = run;
      await subscribe(Q.SYNC_PROGRESS, { id: run.id }, (d) => show((last = d.syncRunProgress)), abort.signal);
      toast(last.status === "SUCCEEDED" ? `Sync finished: ${last.created} created, ${last.updated} updated, ${last.unchanged} unchanged.` : `Sync ${last.status.toLowerCase()}${last.error ? `: ${last.error}` : ""}`, { tone: last.status === "FAILED" ? "bad" : undefined });
    } catch (err) {
      if (err.name !== "AbortError") showError(`Live progress stopped: ${err.message}`);
    } finally {
      watching = null;
      if (!abort.signal.aborted) {
        live.hidden = true;
        loadHead().catch(() => {});
        tabView.now?.();
      }
    }
  }

  async function loadHead() {
    try {
      company = (await gql(Q.COMPANY, { id })).company;
    } catch (err) {
      if (err.code !== "FORBIDDEN" && err.code !== "NOT_FOUND" && err.code !== "BAD_USER_INPUT") throw err;
      company = null;
    }
    if (!company) {
      tabs.hidden = true;
      body.hidden = true;
      tabView.stop();
      replace(header, el("h1", {}, "Company not found"), el("p", { class: "muted" }, "It does not exist, or this token may not see it."));
      return;
    }
    document.title = `${company.name} · calsync`;
    const v = company.coverage;
    const run = company.lastSyncRun;
    if (holdsFocus(header)) {
      // Keep the buttons in place; update the figures only.
      const cov = header.querySelector("#coverage");
      if (cov) replace(cov, coverageFigure(v));
    } else {
      replace(
        header,
        el(
          "div",
          { class: "head" },
          el("div", {}, el("h1", {}, company.name), el("div", { class: "muted" }, company.slug, " · ", company.calcomConnected ? "connected to Cal.com" : "not connected to Cal.com")),
          company.calcomConnected
            ? el("button", { type: "button", id: "sync-now", onclick: syncNow }, "Sync now")
            : null,
        ),
        el(
          "div",
          { class: "cards" },
          el("div", { class: "card" }, el("div", { id: "coverage" }, coverageFigure(v)), el("span", { class: "k" }, "Coverage")),
          card("Active services", v.activeServices),
          card("Synced", v.syncedServices),
          card("Orphaned", v.neverSyncedServices),
          card("Errors", v.erroredServices),
          card("Legacy", v.legacyServices),
          card("Failed webhooks", company.failedWebhooks.totalCount),
          card("Missed webhooks recovered", company.missedWebhooksRecovered),
        ),
        el(
          "p",
          { class: "muted small" },
          "Last sync: ", run ? [badge(run.status), " ", when(run.finishedAt ?? run.queuedAt)] : "never",
          v.lastSyncedAt ? [" · services last synced ", when(v.lastSyncedAt)] : null,
          " · Last booking reconciliation: ",
          company.lastReconcileRun
            ? [badge(company.lastReconcileRun.status), " ", when(company.lastReconcileRun.finishedAt ?? company.lastReconcileRun.queuedAt), ` (${company.lastReconcileRun.recovered} recovered)`]
            : "never",
        ),
      );
    }
    sizeBars(header);
    if (run && (run.status === "QUEUED" || run.status === "RUNNING")) void watchRun(run);
  }

  async function syncNow(e) {
    const button = e.currentTarget;
    button.disabled = true;
    try {
      const { syncCompany: run } = await gql(Q.SYNC_COMPANY, { id });
      toast("Sync queued.");
      void watchRun(run);
    } catch (err) {
      toast(`Sync not started: ${err.message}`, { tone: "bad" });
    } finally {
      button.disabled = false;
    }
  }

  const tabView = (TAB_VIEWS[tab] ?? TAB_VIEWS.services)(id, body, () => loadHead());
  const head = poller(loadHead);
  return {
    start() {
      head.start();
      tabView.start();
    },
    stop() {
      abort.abort();
      head.stop();
      tabView.stop();
    },
    refresh() {
      head.now();
      tabView.now();
    },
  };
}

function tableOf(columns, rows, emptyText) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col", class: c.startsWith("#") ? "num" : null }, c.replace(/^#/, ""))))),
      el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, emptyText))),
    ),
  );
}

const TAB_VIEWS = {
  services(id, body) {
    const status = el("select", { id: "status-filter" }, el("option", { value: "" }, "All statuses"), SYNC_STATUSES.map((s) => el("option", { value: s }, s.replaceAll("_", " ").toLowerCase())));
    const search = el("input", { id: "search", type: "search", placeholder: "name or slug" });
    const count = el("span", { class: "muted", "aria-live": "polite" });
    const list = el("div", {});
    let limit = PAGE;
    replace(
      body,
      el(
        "div",
        { class: "toolbar" },
        el("div", { class: "field" }, el("label", { for: "status-filter" }, "Status"), status),
        el("div", { class: "field grow" }, el("label", { for: "search" }, "Search"), search),
        count,
      ),
      list,
    );
    const load = async () => {
      const filter = {};
      if (status.value) filter.syncStatus = [status.value];
      if (search.value.trim()) filter.search = search.value.trim();
      const conn = await readPages(Q.SERVICES, { id, filter }, limit, (d) => d.company?.services);
      if (!conn) return;
      count.textContent = `${conn.totalCount} service${conn.totalCount === 1 ? "" : "s"}`;
      if (holdsFocus(list)) return;
      replace(
        list,
        tableOf(
          ["Service", "Status", "#Duration", "#Price", "Cal.com event type", "Last synced", "Error"],
          conn.edges.map(({ node: s }) =>
            el(
              "tr",
              {},
              el("th", { scope: "row" }, s.name, el("div", { class: "muted small" }, s.slug ?? ""), s.isActive ? null : el("span", { class: "badge" }, "inactive")),
              el("td", {}, badge(s.syncStatus)),
              el("td", { class: "num" }, s.durationMinutes ? `${s.durationMinutes} min` : "—"),
              el("td", { class: "num" }, s.priceMinor !== null && s.priceMinor !== undefined ? `${(s.priceMinor / 100).toFixed(2)} ${s.currency ?? ""}` : "—"),
              el("td", {}, s.calcomEventTypeId ?? el("span", { class: "muted" }, "none")),
              el("td", {}, when(s.lastCalcomSync)),
              el("td", { class: "small" }, s.syncError ?? ""),
            ),
          ),
          "No services match.",
        ),
        conn.pageInfo.hasNextPage
          ? el("p", {}, el("button", { type: "button", class: "secondary", onclick: () => { limit += PAGE; void p.now(); } }, `Show ${PAGE} more`))
          : null,
      );
    };
    let debounce = null;
    status.addEventListener("change", () => { limit = PAGE; void p.now(); });
    search.addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => { limit = PAGE; void p.now(); }, 250);
    });
    const p = poller(load);
    return p;
  },

  orphans(id, body, reloadHead) {
    const list = el("div", {});
    const legacyList = el("div", {});
    const minScore = el("input", { id: "min-score", type: "number", min: "0", max: "1", step: "0.05", value: "0.8" });
    const acceptButton = el("button", { type: "button", id: "accept-preview" }, "Accept all above score…");
    const legacyButton = el("button", { type: "button", id: "legacy-preview", class: "danger" }, "Mark remaining orphans legacy…");
    replace(
      body,
      el("p", { class: "muted" }, "Active services without a Cal.com event type. Link each to a suggested event type, export it to Cal.com, or mark it legacy (no longer offered). Every step can be undone."),
      el(
        "div",
        { class: "toolbar" },
        el("div", { class: "field" }, el("label", { for: "min-score" }, "Minimum score"), minScore),
        acceptButton,
        legacyButton,
      ),
      el("h2", { id: "orphans-title" }, "Orphaned services"),
      list,
      el("h2", {}, "Legacy services"),
      legacyList,
    );

    const after = () => {
      reloadHead();
      void p.now();
    };
    const act = async (button, fn) => {
      button.disabled = true;
      try {
        await fn();
      } catch (err) {
        toast(err.message, { tone: "bad" });
        button.disabled = false;
      }
      after();
    };

    acceptButton.addEventListener("click", () =>
      act(acceptButton, async () => {
        const score = Number(minScore.value);
        if (!(score >= 0 && score <= 1)) throw new Error("The minimum score runs from 0 to 1.");
        const { acceptLinkSuggestions: preview } = await gql(Q.ACCEPT_SUGGESTIONS, { id, minScore: score, dryRun: true });
        if (!preview.length) {
          toast(`No suggestion scores ${score} or more.`);
          acceptButton.disabled = false;
          return;
        }
        const ok = await confirmDialog(
          `Link ${preview.length} service${preview.length === 1 ? "" : "s"}?`,
          [el("p", {}, `Preview (nothing changed yet): each service is linked to its suggested Cal.com event type scoring ${score} or more.`), el("ul", {}, preview.map((s) => el("li", {}, `${s.service.name} → ${s.title} (score ${s.score.toFixed(2)})`)))],
          `Link ${preview.length}`,
        );
        acceptButton.disabled = false;
        if (!ok) return;
        const { acceptLinkSuggestions: linked } = await gql(Q.ACCEPT_SUGGESTIONS, { id, minScore: score, dryRun: false });
        toast(`Linked ${linked.length} service${linked.length === 1 ? "" : "s"}.`, {
          undo: async () => {
            for (const s of linked) await gql(Q.UNLINK_SERVICE, { serviceId: s.service.id });
          },
        });
      }),
    );

    legacyButton.addEventListener("click", () =>
      act(legacyButton, async () => {
        const { markOrphanedServicesLegacy: preview } = await gql(Q.MARK_LEGACY, { id, dryRun: true });
        if (!preview.count) {
          toast("No orphaned services left to mark.");
          legacyButton.disabled = false;
          return;
        }
        const ok = await confirmDialog(
          `Mark ${preview.count} service${preview.count === 1 ? "" : "s"} legacy?`,
          [el("p", {}, "They stop counting as orphans and are no longer offered. Nothing is deleted; each can be reactivated."), el("ul", {}, preview.services.map((s) => el("li", {}, s.name)))],
          `Mark ${preview.count} legacy`,
          true,
        );
        legacyButton.disabled = false;
        if (!ok) return;
        const { markOrphanedServicesLegacy: done } = await gql(Q.MARK_LEGACY, { id, dryRun: false });
        toast(`Marked ${done.count} service${done.count === 1 ? "" : "s"} legacy.`, {
          undo: async () => {
            for (const s of done.services) await gql(Q.REACTIVATE_SERVICE, { serviceId: s.id });
          },
        });
      }),
    );

    const load = async () => {
      let company;
      try {
        ({ company } = await gql(Q.ORPHANS, { id }));
      } catch (err) {
        if (err.code === "GRAPHQL_VALIDATION_FAILED") {
          replace(list, el("p", { class: "empty" }, "This calsync has no orphan workflow yet (linkSuggestions and its mutations are missing from its API)."));
          return;
        }
        throw err;
      }
      if (!company) return;
      let candidates = [];
      let suggestionsError = null;
      if (company.calcomConnected) {
        try {
          candidates = (await gql(Q.SUGGESTIONS, { id })).company?.linkSuggestions ?? [];
        } catch (err) {
          if (err.code === "UNAUTHENTICATED") throw err;
          suggestionsError = err.message;
        }
      }
      const byService = new Map();
      for (const s of candidates) {
        const l = byService.get(s.service.id) ?? [];
        l.push(s);
        byService.set(s.service.id, l);
      }
      acceptButton.hidden = !company.calcomConnected;
      legacyButton.disabled = company.orphans.totalCount === 0;
      if (!holdsFocus(list)) {
        replace(
          list,
          suggestionsError ? el("p", { class: "alert" }, `No suggestions right now: ${suggestionsError}`) : null,
          tableOf(
            ["Service", "#Duration", "Suggested Cal.com event types", "Other actions"],
            company.orphans.edges.map(({ node: s }) => {
              const suggestions = (byService.get(s.id) ?? []).sort((a, b) => b.score - a.score);
              return el(
                "tr",
                { dataset: { service: s.id } },
                el("th", { scope: "row" }, s.name, el("div", { class: "muted small" }, s.slug ?? "")),
                el("td", { class: "num" }, s.durationMinutes ? `${s.durationMinutes} min` : "—"),
                el(
                  "td",
                  {},
                  suggestions.length
                    ? suggestions.map((g) =>
                        el(
                          "div",
                          { class: "suggestion" },
                          el("span", {}, g.title, g.lengthInMinutes ? ` · ${g.lengthInMinutes} min` : "", g.slug ? el("span", { class: "muted small" }, ` /${g.slug}`) : null),
                          el("span", { class: "score" }, `score ${g.score.toFixed(2)}`),
                          g.ambiguous ? el("span", { class: "badge warn", title: "Another candidate or another service scores about as high: check before linking. Accept-all skips it." }, "ambiguous") : null,
                          el(
                            "button",
                            {
                              type: "button",
                              class: "small",
                              "aria-label": `Link ${s.name} to ${g.title}`,
                              dataset: { eventType: String(g.calcomEventTypeId) },
                              onclick: (e) =>
                                act(e.currentTarget, async () => {
                                  await gql(Q.LINK_SERVICE, { serviceId: s.id, eventTypeId: g.calcomEventTypeId });
                                  toast(`Linked ${s.name} to ${g.title}.`, { undo: () => gql(Q.UNLINK_SERVICE, { serviceId: s.id }) });
                                }),
                            },
                            "Link",
                          ),
                        ),
                      )
                    : el("span", { class: "muted" }, suggestionsError ? "—" : company.calcomConnected ? "no match on Cal.com" : "connect Cal.com for suggestions"),
                ),
                el(
                  "td",
                  {},
                  company.calcomConnected
                    ? el(
                        "button",
                        {
                          type: "button",
                          class: "small secondary",
                          "aria-label": `Export to Cal.com: ${s.name}`,
                          onclick: (e) =>
                            act(e.currentTarget, async () => {
                              const { exportServiceToCalcom: done } = await gql(Q.EXPORT_SERVICE, { serviceId: s.id });
                              toast(`Exported ${s.name} to Cal.com (event type ${done.calcomEventTypeId}).`, { undo: () => gql(Q.UNLINK_SERVICE, { serviceId: s.id }) });
                            }),
                        },
                        "Export to Cal.com",
                      )
                    : el("span", { class: "muted small" }, "connect Cal.com to export"),
                ),
              );
            }),
            "No orphaned services: every active service is on Cal.com.",
          ),
          company.orphans.totalCount > company.orphans.edges.length
            ? el("p", { class: "muted" }, `Showing the first ${company.orphans.edges.length} of ${company.orphans.totalCount} orphans; the rest appear as these are settled (or filter them on the Services tab).`)
            : null,
        );
      }
      if (!holdsFocus(legacyList)) {
        replace(
          legacyList,
          tableOf(
            ["Service", "#Duration", "Actions"],
            company.legacy.edges.map(({ node: s }) =>
              el(
                "tr",
                {},
                el("th", { scope: "row" }, s.name, el("div", { class: "muted small" }, s.slug ?? "")),
                el("td", { class: "num" }, s.durationMinutes ? `${s.durationMinutes} min` : "—"),
                el(
                  "td",
                  {},
                  el(
                    "button",
                    {
                      type: "button",
                      class: "small secondary",
                      "aria-label": `Reactivate ${s.name}`,
                      onclick: (e) =>
                        act(e.currentTarget, async () => {
                          await gql(Q.REACTIVATE_SERVICE, { serviceId: s.id });
                          toast(`Reactivated ${s.name}.`);
                        }),
                    },
                    "Reactivate",
                  ),
                ),
              ),
            ),
            "No legacy services.",
          ),
        );
      }
    };
    const p = poller(load);
    return p;
  },

  syncs(id, body) {
    const list = el("div", {});
    replace(body, el("p", { class: "muted" }, "Full syncs of the company's Cal.com event types: scheduled, manual (Sync now, the CLI) and after webhooks. An event type an orphan may be the same offer as is held for the Orphans tab, not imported as a duplicate."), list);
    const load = async () => {
      const { company } = await gql(Q.SYNC_RUNS, { id });
      if (!company || holdsFocus(list)) return;
      replace(
        list,
        tableOf(
          ["Queued", "Trigger", "Status", "Progress", "#Duration", "#Fetched", "#Created", "#Updated", "#Unchanged", "#Remote deleted", "#Held for orphans", "Error", "Trace"],
          company.syncRuns.edges.map(({ node: r }) =>
            el(
              "tr",
              {},
              el("td", {}, when(r.queuedAt)),
              el("td", {}, r.trigger.toLowerCase()),
              el("td", {}, badge(r.status)),
              el("td", { class: "nowrap" }, `${Math.round(r.progress * 100)} %`),
              el("td", { class: "num" }, r.durationMs === null ? "—" : `${(r.durationMs / 1000).toFixed(2)} s`),
              num(r.fetched),
              num(r.created),
              num(r.updated),
              num(r.unchanged),
              num(r.remoteDeleted),
              num(r.heldForLinking),
              el("td", { class: "small" }, r.error ? `${r.errorClass ? `${r.errorClass}: ` : ""}${r.error}` : ""),
              el("td", {}, traceLink(r.traceId)),
            ),
          ),
          "No sync runs yet.",
        ),
      );
    };
    return poller(load);
  },

  webhooks(id, body) {
    const status = el("select", { id: "webhook-status" }, el("option", { value: "" }, "All statuses"), WEBHOOK_STATUSES.map((s) => el("option", { value: s }, s.toLowerCase())));
    const count = el("span", { class: "muted", "aria-live": "polite" });
    const list = el("div", {});
    const open = new Set();
    let limit = PAGE;
    replace(
      body,
      el("p", { class: "muted" }, "Every signed delivery from Cal.com, as stored. Attendee names, e-mails and phone numbers are hidden from payloads here."),
      el("div", { class: "toolbar" }, el("div", { class: "field" }, el("label", { for: "webhook-status" }, "Status"), status), count),
      list,
    );
    const payloadRow = async (eventId, cell) => {
      try {
        const { webhookEvent } = await gql(Q.WEBHOOK_PAYLOAD, { id: eventId });
        replace(cell, el("pre", { class: "payload", tabindex: "0", "aria-label": "Payload, attendee data hidden" }, JSON.stringify(hidePersonal(webhookEvent?.payload ?? null), null, 2)));
      } catch (err) {
        replace(cell, el("span", { class: "muted" }, err.message));
      }
    };
    const load = async () => {
      const conn = await readPages(Q.WEBHOOK_EVENTS, { id, status: status.value || null }, limit, (d) => d.company?.webhookEvents);
      if (!conn) return;
      count.textContent = `${conn.totalCount} event${conn.totalCount === 1 ? "" : "s"}`;
      if (holdsFocus(list)) return;
      const rows = [];
      for (const { node: w } of conn.edges) {
        const detail = el("td", { colspan: 8 });
        const detailRow = el("tr", { hidden: !open.has(w.id) }, detail);
        if (open.has(w.id)) void payloadRow(w.id, detail);
        rows.push(
          el(
            "tr",
            { dataset: { event: w.id } },
            el("td", {}, when(w.receivedAt)),
            el("td", {}, el("code", {}, w.triggerEvent), w.source === "RECONCILE" ? el("div", { class: "muted small" }, "recovered by reconciliation") : null),
            el("td", {}, badge(w.status), w.duplicateCount ? el("span", { class: "muted small" }, ` +${w.duplicateCount} duplicate${w.duplicateCount === 1 ? "" : "s"}`) : null),
            num(w.attempts),
            el("td", { class: "small" }, w.lastError ?? ""),
            el("td", {}, traceLink(w.traceId)),
            el(
              "td",
              {},
              el(
                "button",
                {
                  type: "button",
                  class: "small secondary",
                  "aria-expanded": open.has(w.id) ? "true" : "false",
                  "aria-label": `Payload of ${w.triggerEvent} received ${new Date(w.receivedAt).toLocaleString()}`,
                  onclick: (e) => {
                    const shown = !open.has(w.id);
                    if (shown) open.add(w.id);
                    else open.delete(w.id);
                    e.currentTarget.setAttribute("aria-expanded", String(shown));
                    detailRow.hidden = !shown;
                    if (shown) void payloadRow(w.id, detail);
                  },
                },
                "Payload",
              ),
            ),
            el(
              "td",
              {},
              w.status === "FAILED"
                ? el(
                    "button",
                    {
                      type: "button",
                      class: "small",
                      "aria-label": `Retry ${w.triggerEvent} received ${new Date(w.receivedAt).toLocaleString()}`,
                      onclick: async (e) => {
                        e.currentTarget.disabled = true;
                        try {
                          await gql(Q.RETRY_WEBHOOK, { id: w.id });
                          toast(`${w.triggerEvent} queued again.`);
                        } catch (err) {
                          toast(`Retry refused: ${err.message}`, { tone: "bad" });
                        }
                        void p.now();
                      },
                    },
                    "Retry",
                  )
                : null,
            ),
          ),
          detailRow,
        );
      }
      replace(
        list,
        tableOf(["Received", "Trigger", "Status", "#Attempts", "Error", "Trace", "Payload", "Retry"], rows, "No webhook events."),
        conn.pageInfo.hasNextPage ? el("p", {}, el("button", { type: "button", class: "secondary", onclick: () => { limit += PAGE; void p.now(); } }, `Show ${PAGE} more`)) : null,
      );
    };
    status.addEventListener("change", () => { limit = PAGE; void p.now(); });
    const p = poller(load);
    return p;
  },

  audit(id, body) {
    const list = el("div", {});
    replace(body, el("p", { class: "muted" }, "Who changed what: links, exports, legacy marks, reactivations, tokens, connections."), list);
    const load = async () => {
      const { company } = await gql(Q.AUDIT, { id });
      if (!company || holdsFocus(list)) return;
      replace(
        list,
        tableOf(
          ["When", "Actor", "Action", "Details"],
          company.auditEvents.edges.map(({ node: a }) =>
            el("tr", {}, el("td", {}, when(a.createdAt)), el("td", {}, el("code", {}, a.actor)), el("td", {}, a.action), el("td", { class: "small" }, el("code", {}, JSON.stringify(hidePersonal(a.details ?? {}))))),
          ),
          "Nothing recorded yet.",
        ),
      );
    };
    return poller(load);
  },
};

route();
