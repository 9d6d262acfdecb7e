// The operators' dashboard: polls GET /v1/dashboard/data with an account's token and
// redraws itself. No framework, no build step, nothing loaded from outside; every value
// from the server goes into the page as text (textContent), never as markup.
(() => {
  "use strict";

  const TOKEN_KEY = "emulation.reporting.operatorToken";
  const SVG_NS = "http://www.w3.org/2000/svg";
  const TZ = "Asia/Ho_Chi_Minh";
  const TYPES = {
    ministry: "Bộ, ngành Trung ương", province: "Tỉnh, thành phố", police: "Công an tỉnh, thành phố",
    front: "Mặt trận, tổ chức chính trị - xã hội", organization: "Cơ quan, tổ chức, doanh nghiệp",
    individual: "Cá nhân",
  };
  const STATUS = { sent: "đã gửi", delivered: "đã nhận", failed: "gửi lỗi", deferred: "hoãn gửi",
                   cancelled: "đã hủy", unknown: "chưa rõ kết quả", escalated: "đã gửi lại kênh khác",
                   skipped: "bỏ qua" };
  const pct = new Intl.NumberFormat("vi-VN", { style: "percent", minimumFractionDigits: 1,
                                               maximumFractionDigits: 1 });
  const when = new Intl.DateTimeFormat("vi-VN", { timeZone: TZ, day: "2-digit", month: "2-digit",
                                                  year: "numeric", hour: "2-digit", minute: "2-digit" });
  const shortDay = (iso) => `${iso.slice(8, 10)}/${iso.slice(5, 7)}`;

  let refreshMs = 3000;
  let timer = null;

  // -- the token: from the URL fragment (#token=...) once, then sessionStorage ----------
  function takeToken() {
    const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (match) {
      sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
      // Out of the address bar (and the history) as soon as it is read.
      history.replaceState(null, "", location.pathname + location.search);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askToken() {
    const given = window.prompt("Mã truy cập tài khoản cán bộ (account token):");
    if (given && given.trim()) sessionStorage.setItem(TOKEN_KEY, given.trim());
    return sessionStorage.getItem(TOKEN_KEY);
  }

  // -- small DOM helpers -----------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function setText(id, value) {
    document.getElementById(id).textContent = value;
  }

  function status(text, isError) {
    const node = document.getElementById("status");
    node.textContent = text;
    node.classList.toggle("error", Boolean(isError));
  }

  // -- drawing ---------------------------------------------------------------------------
  function drawKpis(d) {
    const c = document.getElementById("completeness");
    c.textContent = pct.format(d.completeness);
    c.dataset.value = String(d.completeness);
    const t = document.getElementById("timeliness");
    t.textContent = pct.format(d.timeliness);
    t.dataset.value = String(d.timeliness);
    setText("submitted", d.submitted);
    setText("expected", d.expected);
    setText("on-time", d.on_time);
    setText("late", d.late);
    setText("reminders-unknown", d.reminders_unknown);
    setText("reminders-escalated", d.reminders_escalated);
    setText("deadline", when.format(new Date(d.deadline)));
    const days = Math.ceil((new Date(d.deadline) - new Date(d.as_of)) / 86400000);
    setText("countdown", days > 0 ? `còn ${days} ngày` : "đã hết hạn");
    setText("as-of", `Số liệu năm ${d.period}, phản ánh các sự kiện đã xử lý đến `
      + `${when.format(new Date(d.as_of))} (giờ Hà Nội)`
      + (d.last_event_at ? `; sự kiện mới nhất lúc ${when.format(new Date(d.last_event_at))}.` : "."));
  }

  function drawChart(d) {
    const box = document.getElementById("chart");
    const W = 900, H = 280, L = 46, R = 16, T = 16, B = 34;
    const series = d.series;
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "xMidYMid meet" });
    const deadlineDay = new Date(d.deadline).toLocaleDateString("en-CA", { timeZone: TZ });
    const first = series.length ? series[0].date : deadlineDay;
    const lastSeries = series.length ? series[series.length - 1].date : deadlineDay;
    const last = lastSeries > deadlineDay ? lastSeries : deadlineDay;
    const t0 = Date.parse(first), t1 = Math.max(Date.parse(last), t0 + 86400000);
    const x = (iso) => L + (W - L - R) * (Date.parse(iso) - t0) / (t1 - t0);
    const y = (v) => T + (H - T - B) * (1 - v);
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      chart.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      chart.append(svg("text", { class: "axis", x: L - 6, y: y(v) + 4, "text-anchor": "end" },
                       `${v * 100}%`));
    }
    const step = Math.max(1, Math.ceil((t1 - t0) / 86400000 / 10));
    for (let t = t0; t <= t1; t += step * 86400000) {
      const iso = new Date(t).toISOString().slice(0, 10);
      chart.append(svg("text", { class: "axis", x: x(iso), y: H - B + 16, "text-anchor": "middle" },
                       shortDay(iso)));
    }
    chart.append(svg("line", { class: "deadline", x1: x(deadlineDay), x2: x(deadlineDay), y1: T,
                               y2: H - B }));
    chart.append(svg("text", { class: "mark", x: x(deadlineDay) - 4, y: T + 10, "text-anchor": "end" },
                     `Hạn ${shortDay(deadlineDay)}`));
    if (series.length) {
      const today = series[series.length - 1].date;
      if (today !== deadlineDay) {
        chart.append(svg("line", { class: "today", x1: x(today), x2: x(today), y1: T, y2: H - B }));
        chart.append(svg("text", { class: "mark today", x: x(today) + 4, y: T + 10 }, "Hôm nay"));
      }
      for (const [key, cls] of [["completeness", "line-c"], ["timeliness", "line-t"]]) {
        // A step line: the rate holds through each day and changes at its end.
        const pts = [];
        series.forEach((p, i) => {
          const next = i + 1 < series.length ? series[i + 1].date : null;
          pts.push(`${x(p.date).toFixed(1)},${y(p[key]).toFixed(1)}`);
          if (next) pts.push(`${x(next).toFixed(1)},${y(p[key]).toFixed(1)}`);
        });
        chart.append(svg("polyline", { class: cls, points: pts.join(" ") }));
      }
    }
    box.replaceChildren(chart);
  }

  function barRow(name, c) {
    const bar = svg("svg", { viewBox: "0 0 100 14", preserveAspectRatio: "none" });
    bar.append(svg("rect", { class: "track", x: 0, y: 0, width: 100, height: 14 }));
    bar.append(svg("rect", { class: "bar-c", x: 0, y: 0, width: 100 * c.completeness, height: 14 }));
    bar.append(svg("rect", { class: "bar-t", x: 0, y: 4, width: 100 * c.timeliness, height: 6 }));
    bar.append(svg("title", {}, `đầy đủ ${pct.format(c.completeness)}, đúng hạn ${pct.format(c.timeliness)}`));
    return el("div", { class: "row" }, el("span", { class: "name", title: name }, name), bar,
              el("span", { class: "num" }, `${c.submitted}/${c.expected}`));
  }

  function drawBars(d) {
    document.getElementById("by-type").replaceChildren(
      ...Object.entries(d.by_type).map(([t, c]) => barRow(TYPES[t] || t, c)));
    document.getElementById("by-cluster").replaceChildren(
      ...Object.entries(d.by_cluster).map(([, c]) => barRow(c.name, c)));
  }

  function drawMissing(d) {
    setText("missing-count", d.missing_units.length);
    const rows = d.missing_units.map((m) => {
      const last = m.last_reminder;
      const lastText = last ? `${last.sent_at ? when.format(new Date(last.sent_at)) : "–"} · `
        + `${last.channel} · ${last.stage} · ${STATUS[last.status] || last.status}` : "chưa có";
      return el("tr", {}, el("td", { title: m.unit_id }, m.name), el("td", {}, TYPES[m.type] || m.type),
                el("td", {}, m.cluster_id || ""), el("td", {}, m.reminders), el("td", {}, lastText));
    });
    document.querySelector("#missing tbody").replaceChildren(...rows);
  }

  // Report links need the token too: fetch with it, then hand the file to the browser.
  function reportLink(href, label, filename) {
    const a = el("a", { href, "data-filename": filename }, label);
    a.addEventListener("click", async (event) => {
      event.preventDefault();
      const token = sessionStorage.getItem(TOKEN_KEY);
      const r = await fetch(href, { headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
      if (!r.ok) { status(`Không tải được báo cáo (${r.status}).`, true); return; }
      // Saved as a file, even the HTML page: opened from a blob: URL it would inherit
      // this page's Content-Security-Policy, which forbids the report's inline styles.
      const url = URL.createObjectURL(await r.blob());
      const save = el("a", { href: url, download: filename });
      document.body.append(save);
      save.click();
      save.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    });
    return a;
  }

  function links(map, stem) {
    return Object.entries(map).map(([fmt, href]) => reportLink(href, fmt.toUpperCase(), `${stem}.${fmt}`));
  }

  function drawReports(d) {
    const national = el("p", {}, el("strong", {}, `Báo cáo tổng hợp toàn quốc năm ${d.period}: `),
                        ...links(d.reports.national, `national-${d.period}`));
    const rows = d.reports.clusters.map((c) => el("tr", {}, el("td", {}, c.name),
      el("td", {}, ...links(c.links, `${c.cluster_id}-${d.period}`))));
    const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Cụm thi đua"),
                                                     el("th", {}, "Báo cáo tổng kết"))),
                     el("tbody", {}, ...rows));
    document.getElementById("reports").replaceChildren(national, table);
  }

  // The reporting service's audit trail, for an admin's token (others get 403: hidden).
  async function drawAudit(token) {
    const section = document.getElementById("audit-section");
    const r = await fetch("/v1/audit?limit=20", {
      headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
    if (!r.ok) { section.hidden = true; return; }
    const page = await r.json();
    const rows = page.records.map((a) => el("tr", {},
      el("td", {}, when.format(new Date(a.at))),
      el("td", { title: a.actor.token_id || "" }, `${a.actor.name || a.actor.unit_id} (${a.actor.role || a.actor.kind})`),
      el("td", {}, `${a.method} ${a.route}`),
      el("td", {}, Object.entries(a.target || {}).map(([k, v]) => `${k}=${v}`).join(", ")),
      el("td", {}, a.reason),
      el("td", {}, String(a.status))));
    document.querySelector("#audit tbody").replaceChildren(...rows);
    section.hidden = false;
  }

  // -- polling ---------------------------------------------------------------------------
  function period() {
    return new URLSearchParams(location.search).get("period");
  }

  function movement() {
    return new URLSearchParams(location.search).get("movement");
  }

  async function refresh() {
    clearTimeout(timer);
    let token = takeToken();
    if (!token) {
      status("Cần mã truy cập của cán bộ vận hành: nhấn “Xem” để nhập.", true);
      return;
    }
    const params = new URLSearchParams();
    if (period()) params.set("period", period());
    if (movement()) params.set("movement", movement());
    const query = params.toString() ? `?${params}` : "";
    try {
      const r = await fetch(`/v1/dashboard/data${query}`, {
        headers: { Authorization: `Bearer ${token}` }, cache: "no-store" });
      if (r.status === 401 || r.status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        status("Mã truy cập không hợp lệ: nhấn “Xem” để nhập lại.", true);
        return;
      }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const d = await r.json();
      refreshMs = Math.max(1000, 1000 * (d.refresh_seconds || 3));
      document.getElementById("period").value = d.period;
      document.getElementById("movement").value = d.movement;
      setText("movement-name", d.movement_name);
      drawKpis(d);
      drawChart(d);
      drawBars(d);
      drawMissing(d);
      drawReports(d);
      await drawAudit(token);
      status(`Tự cập nhật mỗi ${refreshMs / 1000} giây; lần cuối lúc ${new Date().toLocaleTimeString("vi-VN")}.`);
    } catch (err) {
      status(`Chưa lấy được số liệu (${err.message}); sẽ thử lại.`, true);
    }
    timer = setTimeout(refresh, refreshMs);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("period-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = document.getElementById("period").value;
      const params = new URLSearchParams(location.search);
      if (value) params.set("period", value); else params.delete("period");
      params.set("movement", document.getElementById("movement").value);
      history.replaceState(null, "", `${location.pathname}?${params}`);
      if (!sessionStorage.getItem(TOKEN_KEY)) askToken();
      refresh();
    });
    document.getElementById("forget-token").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      clearTimeout(timer);
      status("Đã xóa mã truy cập khỏi phiên làm việc.", false);
    });
    if (!takeToken()) askToken();
    refresh();
  });
})();
