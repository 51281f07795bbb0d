// The operators' dashboard: log in as an admin (membership's login route, through the gateway),
// keep the token in sessionStorage (gone when the tab closes), then ask analytics for the
// figures every two seconds and draw them. Charts are small hand-written SVG: no library, no
// CDN, so the page works with no internet. Figures are defined in docs/kpis.md.
"use strict";

const API = "/api/v1/admin/analytics/dashboard";
const POLL_MS = 2000; // the issue asks for a confirmed order on the page within 5 s
// Consumer lag, read by analytics from the broker (at most every 10 s): asked for apart, less
// often, so the figures' two-second poll never waits on the broker.
const LAG_API = "/api/v1/admin/analytics/consumer-lag";
const LAG_MS = 10000;
const SVG_NS = "http://www.w3.org/2000/svg";
const STORE = { token: "ops.token", refresh: "ops.refresh", lang: "ops.lang", days: "ops.days" };

const I18N = {
  "zh-CN": {
    title: "实时数据看板",
    period: "周期",
    today: "今天",
    last7: "近 7 天",
    last30: "近 30 天",
    logout: "退出",
    loginTitle: "管理员登录",
    email: "邮箱",
    password: "密码",
    login: "登录",
    loginFailed: "登录失败：邮箱或密码不正确",
    notAdmin: "该账号不是管理员",
    expired: "登录已过期，请重新登录",
    unreachable: "暂时无法获取数据，正在重试…",
    updated: "更新于",
    gmv: "成交总额",
    netGmv: "净成交额",
    orders: "支付订单数",
    placed: "下单",
    aov: "客单价",
    perBuyer: "人均",
    payingMembers: "支付买家数",
    active: "活跃会员",
    refunds: "退款金额",
    returns: "退货",
    gmvByHour: "成交总额（按小时）",
    gmvByDay: "成交总额（按天）",
    funnel: "转化漏斗",
    views: "商品浏览",
    cart_adds: "加购",
    orders_placed: "下单",
    orders_paid: "支付",
    noEvent: "暂无事件",
    statusFlow: "订单状态流",
    flowPlaced: "已下单",
    flowConfirmed: "已确认",
    flowRejected: "被拒",
    flowCancelled: "已取消",
    flowReturned: "已退货",
    topProducts: "热销商品",
    product: "商品",
    category: "类目",
    units: "件数",
    lowStock: "低库存 SKU",
    onHand: "在库",
    safetyStock: "安全库存",
    none: "暂无",
    definitions: "口径见 docs/kpis.md（金额单位：人民币）。",
    consumerLag: "消费延迟",
    group: "消费组",
    topicsBehind: "落后的主题",
    recordsBehind: "未消费条数",
    partitionsBehind: "落后分区",
    lagUnavailable: "暂时无法读取消费延迟",
    reasons: {
      OUT_OF_STOCK: "缺货",
      PAYMENT_DECLINED: "支付被拒",
      INSUFFICIENT_FUNDS: "余额不足",
      RISK_REJECTED: "风控拒绝",
      PAYMENT_FAILED: "支付失败",
      COUPON_INVALID: "优惠券无效",
      INSUFFICIENT_POINTS: "积分不足",
      TIMEOUT: "超时",
      CANCELLED_BY_CUSTOMER: "顾客取消",
    },
  },
  en: {
    title: "Live operations dashboard",
    period: "Period",
    today: "Today",
    last7: "Last 7 days",
    last30: "Last 30 days",
    logout: "Log out",
    loginTitle: "Admin login",
    email: "Email",
    password: "Password",
    login: "Log in",
    loginFailed: "Login failed: wrong email or password",
    notAdmin: "This account is not an admin",
    expired: "Your session expired; please log in again",
    unreachable: "Cannot reach the figures right now; retrying…",
    updated: "updated",
    gmv: "GMV",
    netGmv: "net",
    orders: "Orders paid",
    placed: "placed",
    aov: "Average order value",
    perBuyer: "per buyer",
    payingMembers: "Paying members",
    active: "active members",
    refunds: "Refunds",
    returns: "returns",
    gmvByHour: "GMV by hour",
    gmvByDay: "GMV by day",
    funnel: "Conversion funnel",
    views: "Product views",
    cart_adds: "Cart adds",
    orders_placed: "Orders placed",
    orders_paid: "Orders paid",
    noEvent: "no event yet",
    statusFlow: "Order status flow",
    flowPlaced: "Placed",
    flowConfirmed: "Confirmed",
    flowRejected: "Rejected",
    flowCancelled: "Cancelled",
    flowReturned: "Returned",
    topProducts: "Top products",
    product: "Product",
    category: "Category",
    units: "Units",
    lowStock: "Low-stock SKUs",
    onHand: "On hand",
    safetyStock: "Safety stock",
    none: "none",
    definitions: "Definitions: docs/kpis.md (money in CNY).",
    consumerLag: "Consumer lag",
    group: "Group",
    topicsBehind: "Topics behind",
    recordsBehind: "Records behind",
    partitionsBehind: "Partitions behind",
    lagUnavailable: "Consumer lag unavailable right now",
    reasons: {
      OUT_OF_STOCK: "out of stock",
      PAYMENT_DECLINED: "payment declined",
      INSUFFICIENT_FUNDS: "insufficient funds",
      RISK_REJECTED: "risk rejected",
      PAYMENT_FAILED: "payment failed",
      COUPON_INVALID: "coupon invalid",
      INSUFFICIENT_POINTS: "insufficient points",
      TIMEOUT: "timed out",
      CANCELLED_BY_CUSTOMER: "by customer",
    },
  },
};

const state = {
  lang: pickLanguage(),
  days: Number(localStorage.getItem(STORE.days)) || 1,
  report: null, // the last answer, redrawn when the language changes
  timer: null,
  lastUpdate: null,
  lag: null, // the last consumer-lag answer; null until one came, or after a failed one
  lagAt: 0,
};

function pickLanguage() {
  const saved = localStorage.getItem(STORE.lang);
  if (saved && I18N[saved]) return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

function t(key) {
  return I18N[state.lang][key] ?? I18N.en[key] ?? key;
}

function reason(code) {
  return I18N[state.lang].reasons[code] ?? code;
}

const $ = (selector) => document.querySelector(selector);

// ---- numbers -----------------------------------------------------------------------------

function money(fen) {
  if (fen === null || fen === undefined) return "—";
  // Fen are integers: divide once for display only; the API keeps the exact figure.
  return new Intl.NumberFormat(state.lang, { style: "currency", currency: "CNY" }).format(fen / 100);
}

function count(n) {
  return n === null || n === undefined ? "—" : new Intl.NumberFormat(state.lang).format(n);
}

function percent(rate) {
  if (rate === null || rate === undefined) return "—";
  return new Intl.NumberFormat(state.lang, { style: "percent", maximumFractionDigits: 1 }).format(rate);
}

// ---- session -----------------------------------------------------------------------------

function token() {
  return sessionStorage.getItem(STORE.token);
}

function keepTokens(pair) {
  sessionStorage.setItem(STORE.token, pair.access_token);
  sessionStorage.setItem(STORE.refresh, pair.refresh_token);
}

function forget() {
  sessionStorage.removeItem(STORE.token);
  sessionStorage.removeItem(STORE.refresh);
}

async function login(event) {
  event.preventDefault();
  $("#login-error").textContent = "";
  const body = { email: $("#email").value.trim(), password: $("#password").value };
  let response;
  try {
    response = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  } catch {
    $("#login-error").textContent = t("unreachable");
    return;
  }
  if (!response.ok) {
    $("#login-error").textContent = t("loginFailed");
    return;
  }
  keepTokens(await response.json());
  $("#password").value = "";
  showBoard();
}

// The access token lives 15 minutes: renew it once with the refresh token before giving up.
async function renew() {
  const refresh = sessionStorage.getItem(STORE.refresh);
  if (!refresh) return false;
  try {
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: refresh }),
    });
    if (!response.ok) return false;
    keepTokens(await response.json());
    return true;
  } catch {
    return false;
  }
}

function logout(message) {
  forget();
  stopPolling();
  state.report = null;
  state.lag = null;
  state.lagAt = 0;
  showLogin(message || "");
}

// ---- polling -----------------------------------------------------------------------------

function stopPolling() {
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
}

function schedule() {
  stopPolling();
  state.timer = setTimeout(poll, POLL_MS);
}

async function fetchReport() {
  const granularity = state.days === 1 ? "hour" : "day";
  const url = `${API}?days=${state.days}&granularity=${granularity}&top=5`;
  return fetch(url, { headers: { Authorization: `Bearer ${token()}` }, cache: "no-store" });
}

// One request at a time: the next is scheduled when this one is done, so a slow answer never
// piles requests up behind it.
async function poll() {
  if (!token()) return;
  pollLag();
  try {
    let response = await fetchReport();
    if (response.status === 401 && (await renew())) response = await fetchReport();
    if (response.status === 401) return logout(t("expired"));
    if (response.status === 403) return logout(t("notAdmin"));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    state.report = await response.json();
    state.lastUpdate = new Date();
    $("#board-error").textContent = "";
    $("#live").classList.remove("stale");
    render();
  } catch {
    $("#board-error").textContent = t("unreachable");
    $("#live").classList.add("stale");
  }
  schedule();
}

async function pollLag() {
  if (Date.now() - state.lagAt < LAG_MS) return;
  state.lagAt = Date.now();
  try {
    const response = await fetch(LAG_API, {
      headers: { Authorization: `Bearer ${token()}` },
      cache: "no-store",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    state.lag = await response.json();
  } catch {
    state.lag = null;
  }
  renderLag();
}

function renderLag() {
  const body = $("#consumer-lag tbody");
  $("#lag-error").textContent = state.lagAt && !state.lag ? t("lagUnavailable") : "";
  if (!state.lag) return body.replaceChildren();
  fillTable(
    body,
    state.lag.groups.map((g) => [
      g.group,
      g.topics.filter((x) => x.lag > 0).map((x) => `${x.topic} ${count(x.lag)}`).join(", ") || "—",
      count(g.lag),
      `${count(g.partitions_behind)} / ${count(g.partitions)}`,
    ]),
  );
}

// ---- views -------------------------------------------------------------------------------

function showLogin(message) {
  $("#board").hidden = true;
  $("#logout").hidden = true;
  $("#live").hidden = true;
  $("#period-label").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#email").focus();
}

function showBoard() {
  $("#login").hidden = true;
  $("#board").hidden = false;
  $("#logout").hidden = false;
  $("#live").hidden = false;
  $("#period-label").hidden = false;
  poll();
}

function applyLanguage(lang) {
  state.lang = lang;
  localStorage.setItem(STORE.lang, lang);
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) {
    node.textContent = t(node.dataset.i18n);
  }
  for (const button of document.querySelectorAll("button.lang")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
  render();
}

function setTile(id, value, raw, sub) {
  const tile = document.getElementById(id);
  const shown = tile.querySelector(".value");
  // A changed figure flashes: an operator sees what just moved.
  if (tile.dataset.value !== undefined && tile.dataset.value !== String(raw)) {
    tile.classList.add("changed");
    setTimeout(() => tile.classList.remove("changed"), 1200);
  }
  tile.dataset.value = String(raw);
  shown.textContent = value;
  tile.querySelector(".sub").textContent = sub;
}

function render() {
  const report = state.report;
  if (!report) return;
  const totals = report.kpis.totals;
  setTile("tile-gmv", money(totals.gmv), totals.gmv, `${t("netGmv")} ${money(totals.net_gmv)}`);
  setTile(
    "tile-orders",
    count(totals.orders_paid),
    totals.orders_paid,
    `${t("placed")} ${count(totals.orders_placed)}`,
  );
  setTile(
    "tile-aov",
    money(totals.aov),
    totals.aov,
    `${t("perBuyer")} ${money(totals.gmv_per_paying_member)}`,
  );
  setTile(
    "tile-members",
    count(totals.paying_members),
    totals.paying_members,
    `${t("active")} ${count(totals.active_members)}`,
  );
  setTile(
    "tile-refunds",
    money(totals.refund_amount),
    totals.refund_amount,
    `${t("returns")} ${count(totals.returns)}`,
  );
  const hourly = report.kpis.granularity === "hour";
  $("#gmv-title").textContent = t(hourly ? "gmvByHour" : "gmvByDay");
  drawColumns(
    $("#chart-gmv"),
    report.kpis.buckets.map((b) => ({
      label: hourly ? b.start.slice(11, 13) : b.start.slice(5, 10),
      value: b.gmv,
      title: `${b.start}  ${money(b.gmv)}  (${count(b.orders_paid)})`,
    })),
  );
  drawFunnel($("#chart-funnel"), report.funnel.steps);
  drawBars($("#chart-status"), statusRows(report.kpis.status_flow));
  fillTable(
    $("#top-products tbody"),
    report.top_products.items.map((p) => [
      p.name || p.product_id,
      p.category,
      count(p.units_sold),
      money(p.gmv),
    ]),
  );
  fillTable(
    $("#low-stock tbody"),
    report.low_stock.items.slice(0, 10).map((s) => [s.sku, s.category, count(s.on_hand), count(s.safety_stock)]),
  );
  renderLag();
  if (state.lastUpdate) {
    $("#updated").textContent = `${t("updated")} ${state.lastUpdate.toLocaleTimeString(state.lang)}`;
  }
}

function statusRows(flow) {
  const rows = [
    { label: t("flowPlaced"), value: flow.placed, kind: "bar-soft" },
    { label: t("flowConfirmed"), value: flow.confirmed, kind: "bar-good" },
  ];
  for (const [code, n] of Object.entries(flow.rejected)) {
    rows.push({ label: `${t("flowRejected")} · ${reason(code)}`, value: n, kind: "bar-bad" });
  }
  for (const [code, n] of Object.entries(flow.cancelled)) {
    rows.push({ label: `${t("flowCancelled")} · ${reason(code)}`, value: n, kind: "bar-fill" });
  }
  rows.push({ label: t("flowReturned"), value: flow.returned, kind: "bar-fill" });
  return rows;
}

function fillTable(body, rows) {
  body.replaceChildren();
  if (!rows.length) {
    const cell = document.createElement("td");
    cell.colSpan = 4;
    cell.className = "empty";
    cell.textContent = t("none");
    body.append(document.createElement("tr"));
    body.lastChild.append(cell);
    return;
  }
  for (const row of rows) {
    const tr = document.createElement("tr");
    row.forEach((value, index) => {
      const td = document.createElement("td");
      td.textContent = value;
      if (index >= 2) td.className = "num";
      tr.append(td);
    });
    body.append(tr);
  }
}

// ---- SVG ---------------------------------------------------------------------------------

function svg(name, attributes = {}, text) {
  const node = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function canvas(container, width, height) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  container.replaceChildren(root);
  return root;
}

// Columns over time (GMV per hour or day), with a baseline and the top value marked.
function drawColumns(container, points) {
  const width = 900;
  const height = 220;
  const pad = { top: 18, bottom: 24, left: 8, right: 8 };
  const root = canvas(container, width, height);
  const top = Math.max(0, ...points.map((p) => p.value));
  const slot = (width - pad.left - pad.right) / Math.max(points.length, 1);
  const usable = height - pad.top - pad.bottom;
  root.append(svg("line", { class: "axis", x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom }));
  points.forEach((point, index) => {
    const h = top > 0 ? (point.value / top) * usable : 0;
    const x = pad.left + index * slot;
    const bar = svg("rect", {
      class: "bar-fill",
      x: x + slot * 0.15,
      y: height - pad.bottom - h,
      width: slot * 0.7,
      height: Math.max(h, point.value > 0 ? 1 : 0),
      rx: 2,
    });
    bar.append(svg("title", {}, point.title));
    root.append(bar);
    // Every label for days and for a few hours; every third hour when 24 would crowd.
    if (points.length <= 14 || index % 3 === 0) {
      root.append(svg("text", { x: x + slot / 2, y: height - 8, "text-anchor": "middle" }, point.label));
    }
    if (point.value === top && top > 0) {
      root.append(
        svg("text", { class: "strong", x: x + slot / 2, y: height - pad.bottom - h - 5, "text-anchor": "middle" }, money(point.value)),
      );
    }
  });
}

// Horizontal bars with a label on the left and the figure on the right.
function drawBars(container, rows) {
  const width = 440;
  const rowHeight = 24;
  const labelWidth = 170;
  const root = canvas(container, width, rowHeight * rows.length + 6);
  const top = Math.max(1, ...rows.map((r) => r.value));
  rows.forEach((row, index) => {
    const y = index * rowHeight + 4;
    const w = ((width - labelWidth - 50) * row.value) / top;
    root.append(svg("text", { x: 0, y: y + 14 }, row.label));
    root.append(svg("rect", { class: row.kind, x: labelWidth, y, width: Math.max(w, row.value > 0 ? 2 : 0), height: rowHeight - 8, rx: 2 }));
    root.append(svg("text", { class: "strong", x: labelWidth + w + 6, y: y + 13 }, count(row.value)));
  });
}

// The funnel: each step's bar narrower than the one before, its count and its rate from the
// step before; a step no event carries yet says so instead of showing zero.
function drawFunnel(container, steps) {
  const width = 440;
  const rowHeight = 40;
  const root = canvas(container, width, rowHeight * steps.length);
  const known = steps.filter((s) => s.count !== null).map((s) => s.count);
  const top = Math.max(1, ...known);
  steps.forEach((step, index) => {
    const y = index * rowHeight;
    const w = step.count === null ? 0 : Math.max(((width - 40) * step.count) / top, step.count > 0 ? 2 : 0);
    const x = (width - w) / 2;
    if (step.count === null) {
      root.append(svg("rect", { class: "bar-soft", x: 20, y: y + 14, width: width - 40, height: 22, rx: 3, opacity: 0.35 }));
    } else {
      root.append(svg("rect", { class: index === steps.length - 1 ? "bar-good" : "bar-fill", x, y: y + 14, width: w, height: 22, rx: 3 }));
    }
    const rate = index > 0 && step.rate !== null ? ` · ${percent(step.rate)}` : "";
    const figure = step.count === null ? t("noEvent") : `${count(step.count)}${rate}`;
    root.append(svg("text", { class: "strong", x: 20, y: y + 10 }, t(step.step)));
    root.append(svg("text", { x: width - 20, y: y + 10, "text-anchor": "end" }, figure));
  });
}

// ---- start -------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", () => logout(""));
  for (const button of document.querySelectorAll("button.lang")) {
    button.addEventListener("click", () => applyLanguage(button.dataset.lang));
  }
  const period = $("#period");
  period.value = String(state.days);
  period.addEventListener("change", () => {
    state.days = Number(period.value);
    localStorage.setItem(STORE.days, period.value);
    poll();
  });
  applyLanguage(state.lang);
  if (token()) showBoard();
  else showLogin("");
});
