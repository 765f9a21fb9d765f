// The park's live dashboard: it renders each "state" event the park
// pushes (server-sent events, about one a second) into the tables.
"use strict";

const $ = (sel) => document.querySelector(sel);

function text(s) {
  const d = document.createElement("div");
  d.textContent = s == null ? "" : String(s);
  return d.innerHTML;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function secs(s) {
  if (!(s > 0)) return "";
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

function rows(tbody, items, cols, empty) {
  tbody.innerHTML = items.length
    ? items.map((it) => "<tr>" + cols(it).map((c) => "<td" + (c.cls ? ' class="' + c.cls + '"' : "") + ">" + (c.html != null ? c.html : text(c)) + "</td>").join("") + "</tr>").join("")
    : '<tr><td class="empty" colspan="' + tbody.parentElement.tHead.rows[0].cells.length + '">' + empty + "</td></tr>";
}

function progress(j) {
  const total = j.total || 0;
  const pct = total > 0 ? Math.min(100, (100 * j.done) / total) : 0;
  const label = total > 0 ? pct.toFixed(0) + "%" : "splitting";
  return { html: '<div class="bar" data-done="' + j.done + '" data-total="' + total + '"><div style="width:' + pct + '%"></div><span>' + label + "</span></div>" };
}

// workingFor is what a member works on: a workman's foremen with the
// names of their running jobs, a foreman's jobs by name.
function workingFor(m, running) {
  const name = (id) => { const j = running.find((j) => j.id === id); return j ? j.name : id; };
  if (m.role === "workman") {
    return (m.for || []).map((f) => {
      const jobs = running.filter((j) => j.foreman === f).map((j) => j.name);
      return jobs.length ? f + " (" + jobs.join(", ") + ")" : f;
    }).join(", ");
  }
  return (m.jobs || []).map(name).join(", ");
}

function render(v) {
  const workmen = v.members.filter((m) => m.role === "workman");
  const busy = workmen.reduce((a, m) => a + (m.busy || 0), 0);
  const cap = workmen.reduce((a, m) => a + (m.capacity || 0), 0);
  const running = v.jobs.filter((j) => j.state === "running");
  $("#summary").textContent = v.url + " · " + v.members.length + " members · " + workmen.length +
    " workmen, " + busy + " of " + cap + " slots busy · " + running.length + " jobs running";

  rows($("#running tbody"), running, (j) => [
    { html: "<b>" + text(j.name) + "</b> <span class=\"muted\">" + text(j.id) + "</span>" },
    j.foreman, progress(j),
    j.done + " / " + (j.total || j.split + "+"),
    j.rate ? j.rate.toFixed(1) + "/s" : "", secs(j.eta_seconds), j.workers,
    j.retried + " / " + j.reassigned + " / " + j.backups, j.failed,
    bytes(j.bytes_in) + " / " + bytes(j.bytes_out),
  ], "no job running");

  rows($("#works tbody"), v.works || [], (q) => [q.type, q.waiting, q.taken], "no contractor has served a Work type yet");

  rows($("#members tbody"), v.members, (m) => [
    m.role, m.type || "", m.id, { html: '<span class="state-' + text(m.state) + '">' + text(m.state) + "</span>" },
    m.role === "workman" ? (m.busy || 0) + " / " + m.capacity : "",
    m.role === "workman" ? m.claimed : "",
    m.role === "workman" ? (m.done || 0) + " (" + (m.failed || 0) + ")" : "",
    workingFor(m, running),
    m.endpoint && m.endpoint.url ? m.endpoint.mode + " " + m.endpoint.url : "",
    (m.host || "") + (m.pid ? " pid " + m.pid : ""), m.last_seen_seconds.toFixed(1) + " s ago",
  ], "no members");

  const finished = v.jobs.filter((j) => j.state !== "running");
  rows($("#finished tbody"), finished, (j) => [
    { html: "<b>" + text(j.name) + "</b> <span class=\"muted\">" + text(j.id) + "</span>" },
    j.foreman, { html: '<span class="state-' + text(j.state) + '">' + text(j.state) + "</span>" },
    j.done + (j.failed ? " (" + j.failed + " failed)" : ""),
    secs((Date.parse(j.finished) - Date.parse(j.started)) / 1000),
    j.rate ? j.rate.toFixed(1) + "/s" : "", new Date(j.finished).toLocaleTimeString(),
    { html: text(j.error), cls: "error" },
  ], "no job finished yet");

  const t = v.throughput, peak = Math.max(1, ...t);
  $("#chart").innerHTML = t.map((n, i) => n ? '<rect x="' + i + '" width="1" y="' + (60 - (60 * n) / peak) + '" height="' + (60 * n) / peak + '"/>' : "").join("");
  const last = t.slice(-10).reduce((a, n) => a + n, 0) / 10;
  $("#chart-label").textContent = "peak " + peak + "/s · last 10 s " + last.toFixed(1) + "/s";
}

function connect() {
  const es = new EventSource("/api/events");
  es.addEventListener("state", (e) => {
    $("#conn").textContent = "live";
    $("#conn").className = "conn up";
    render(JSON.parse(e.data));
  });
  es.onerror = () => {
    $("#conn").textContent = "reconnecting";
    $("#conn").className = "conn down";
  };
}

connect();
