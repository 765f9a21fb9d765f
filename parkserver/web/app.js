// The park's live dashboard: it renders each "state" event the park
// pushes (server-sent events, about one a second) into the tables.
//
// Every value from the park (members' entries, jobs, errors) is data:
// the page builds its elements itself and puts values in text nodes, in
// classes from a fixed set (STATES) and in numeric attributes. Nothing
// from the park goes through innerHTML or into a markup string.
"use strict";

const $ = (sel) => document.querySelector(sel);

// STATES are the states that have a style (state-NAME); any other value
// is shown as text with none.
const STATES = new Set(["waiting", "busy", "running", "done", "failed", "cancelled", "lost"]);

// el returns a new element with class cls (if any) and children: nodes as
// they are, anything else as text.
function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) e.append(c instanceof Node ? c : c == null ? "" : String(c));
  return e;
}

function num(n) {
  n = Number(n);
  return Number.isFinite(n) ? n : 0;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  n = num(n);
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

function secs(s) {
  s = num(s);
  if (!(s > 0)) return "";
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + " min " + Math.round(s % 60) + " s";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

// rows replaces tbody's rows with one per item: cols(item) gives its
// cells, each a td element or what goes in a plain one.
function rows(tbody, items, cols, empty) {
  const trs = items.map((it) => el("tr", "", ...cols(it).map((c) => c instanceof HTMLTableCellElement ? c : el("td", "", c))));
  if (!trs.length) {
    const td = el("td", "empty", empty);
    td.colSpan = tbody.parentElement.tHead.rows[0].cells.length;
    trs.push(el("tr", "", td));
  }
  tbody.replaceChildren(...trs);
}

// state is a member's or job's state, styled if it is one of STATES.
function state(s) {
  return el("span", STATES.has(s) ? "state-" + s : "", s);
}

// jobCell names a job; a click shows its timeline.
function jobCell(j) {
  const td = el("td", "pick", el("b", "", j.name), " ", el("span", "muted", j.id));
  td.addEventListener("click", () => { location.hash = "job=" + encodeURIComponent(j.id); });
  return td;
}

function progress(j) {
  const total = num(j.total), done = num(j.done);
  const pct = total > 0 ? Math.min(100, (100 * done) / total) : 0;
  const fill = el("div");
  fill.style.width = pct + "%";
  const bar = el("div", "bar", fill, el("span", "", total > 0 ? pct.toFixed(0) + "%" : "splitting"));
  bar.dataset.done = done;
  bar.dataset.total = total;
  return bar;
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

function chart(t) {
  const peak = Math.max(1, ...t);
  const bars = [];
  t.forEach((n, i) => {
    if (!n) return;
    const h = (60 * n) / peak;
    const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    r.setAttribute("x", i);
    r.setAttribute("width", 1);
    r.setAttribute("y", 60 - h);
    r.setAttribute("height", h);
    bars.push(r);
  });
  $("#chart").replaceChildren(...bars);
  const last = t.slice(-10).reduce((a, n) => a + n, 0) / 10;
  $("#chart-label").textContent = "peak " + peak + "/s · last 10 s " + last.toFixed(1) + "/s";
}

function render(v) {
  const workmen = v.members.filter((m) => m.role === "workman");
  const busy = workmen.reduce((a, m) => a + num(m.busy), 0);
  const cap = workmen.reduce((a, m) => a + num(m.capacity), 0);
  const running = v.jobs.filter((j) => j.state === "running");
  endedIDs = new Set(v.jobs.filter((j) => j.state !== "running").map((j) => j.id));
  $("#summary").textContent = v.url + " · " + v.members.length + " members · " + workmen.length +
    " workmen, " + busy + " of " + cap + " slots busy · " + running.length + " jobs running";

  rows($("#running tbody"), running, (j) => [
    jobCell(j), j.foreman, progress(j),
    num(j.done) + " / " + (num(j.total) || num(j.split) + "+"),
    j.rate ? num(j.rate).toFixed(1) + "/s" : "", secs(j.eta_seconds), num(j.workers),
    num(j.retried) + " / " + num(j.reassigned) + " / " + num(j.backups), num(j.failed),
    bytes(j.bytes_in) + " / " + bytes(j.bytes_out),
  ], "no job running");

  rows($("#works tbody"), v.works || [], (q) => [q.type, num(q.waiting), num(q.taken)], "no contractor has served a Work type yet");

  rows($("#members tbody"), v.members, (m) => [
    m.role, m.type || "", m.id, state(m.state),
    m.role === "workman" ? num(m.busy) + " / " + num(m.capacity) : "",
    m.role === "workman" ? num(m.claimed) : "",
    m.role === "workman" ? num(m.done) + " (" + num(m.failed) + ")" : "",
    workingFor(m, running),
    m.endpoint && m.endpoint.url ? m.endpoint.mode + " " + m.endpoint.url : "",
    (m.host || "") + (m.pid ? " pid " + num(m.pid) : ""), num(m.last_seen_seconds).toFixed(1) + " s ago",
  ], "no members");

  const finished = v.jobs.filter((j) => j.state !== "running");
  rows($("#finished tbody"), finished, (j) => [
    jobCell(j), j.foreman, state(j.state),
    num(j.done) + (j.failed ? " (" + num(j.failed) + " failed)" : ""),
    secs((Date.parse(j.finished) - Date.parse(j.started)) / 1000),
    j.rate ? num(j.rate).toFixed(1) + "/s" : "", new Date(j.finished).toLocaleTimeString(),
    el("td", "error", j.error),
  ], "no job finished yet");

  chart((v.throughput || []).map(num));
}

// replica is a server's place in a stream or the meta group, styled by
// one of a fixed set of classes.
function replica(r) {
  const s = r.leader ? "leader" : r.offline ? "offline" : r.current ? "current" : "behind";
  return el("span", "replica-" + s, s + (s === "behind" && r.lag ? " " + num(r.lag) : ""));
}

// renderCluster shows the park's cluster as this server sees it (from
// /api/cluster): its servers, the meta leader, each stream's leader and
// replicas. A park of one server has no cluster section.
function renderCluster(c) {
  $("#cluster").hidden = !c.clustered;
  if (!c.clustered) return;
  const routes = c.routes || [], peers = new Map((c.peers || []).map((p) => [p.name, p]));
  $("#cluster-summary").textContent = "· seen from " + c.name + " · meta leader " + (c.meta_leader || "none (electing, or no quorum)");
  const names = [...new Set([c.name, ...routes, ...peers.keys()])].sort();
  rows($("#servers tbody"), names, (n) => {
    const p = peers.get(n);
    return [n, n === c.name ? "this server" : routes.includes(n) ? "up" : "down", p ? replica(p) : "",
      p && !p.leader && c.jetstream_meta_leader && num(p.seen_ms) > 0 ? (num(p.seen_ms) / 1000).toFixed(1) + " s ago" : ""];
  }, "no servers");
  rows($("#streams tbody"), c.streams || [], (s) => [
    s.name, num(s.messages), s.leader || "none",
    el("td", "", ...(s.replicas || []).filter((r) => !r.leader).flatMap((r, i) => [i ? ", " : "", r.name + " ", replica(r)])),
  ], c.streams_error || "no streams");
}

// cluster reads /api/cluster every 2 s.
async function cluster() {
  try {
    const r = await fetch("/api/cluster", { credentials: "same-origin" });
    if (r.ok) renderCluster(await r.json());
  } catch (e) {
    // The park is down: the event stream's badge says so.
  }
  setTimeout(cluster, 2000);
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

// The task timeline of the job the page's address names (#job=ID): a
// lane per worker slot, each attempt a bar from when it was sent to when
// its outcome came (or now), in a class by its outcome, reruns outlined.
// It is read again every half second until the job is known to have
// ended (its foreman writes it as often): a straggler shows within a
// second.
const OUTCOMES = ["running", "done", "exception", "lost", "busy", "dropped"];
const SVG = "http://www.w3.org/2000/svg";
let endedIDs = new Set(), shownJob = "", timelineTimer = 0;

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text != null) e.textContent = String(text);
  return e;
}

function us(n) {
  n = num(n);
  return n < 1000 ? n + " µs" : n < 1e6 ? (n / 1000).toFixed(1) + " ms" : (n / 1e6).toFixed(2) + " s";
}

function drawTimeline(t) {
  const as = Array.isArray(t.attempts) ? t.attempts : [];
  const workers = Array.isArray(t.workers) ? t.workers : [];
  const lane = (a) => num(a[1]) * 65536 + num(a[2]);
  const lanes = [...new Set(as.map(lane))].sort((x, y) => x - y);
  const row = new Map(lanes.map((k, i) => [k, i]));
  const now = (Date.now() - Date.parse(t.start)) * 1000;
  const end = (a) => (num(a[5]) > 0 ? num(a[5]) : Math.max(now, num(a[4])));
  const t0 = as.length ? Math.min(...as.map((a) => num(a[4]))) : 0;
  const t1 = Math.max(t0 + 1, ...as.map(end));
  const W = 1000, H = 16, LABEL = 200;
  const x = (v) => (LABEL + ((W - LABEL) * (v - t0)) / (t1 - t0)).toFixed(1);
  const nodes = lanes.map((k, i) => svgEl("text", { x: 0, y: i * H + 11 }, (workers[Math.floor(k / 65536)] || "?") + " slot " + (k % 65536)));
  for (const a of as) {
    const outcome = OUTCOMES[num(a[6])] || "running";
    const r = svgEl("rect", {
      x: x(num(a[4])), y: row.get(lane(a)) * H + 2, height: H - 4,
      width: Math.max(1, x(end(a)) - x(num(a[4]))).toFixed(1),
      class: "tl-" + outcome + (num(a[7]) ? " tl-rerun" : ""),
      "data-task": num(a[0]), "data-worker": workers[num(a[1])] || "", "data-slot": num(a[2]),
    });
    r.append(svgEl("title", {}, "task " + num(a[0]) + " on " + (workers[num(a[1])] || "?") + ": " + outcome +
      (num(a[7]) ? " (a rerun)" : "") + ", " + us(end(a) - num(a[4])) + " after waiting " + us(num(a[4]) - num(a[3]))));
    nodes.push(r);
  }
  const svg = $("#timeline");
  svg.setAttribute("viewBox", "0 0 " + W + " " + Math.max(H, lanes.length * H));
  svg.setAttribute("height", Math.max(H, lanes.length * H));
  svg.replaceChildren(...nodes);
  $("#timeline-label").textContent = "job " + t.job + " · " + num(t.recorded) + " attempts" +
    (as.length < num(t.recorded) ? ", " + as.length + " shown (the last and a sample of the others)" : "") + " · " + us(t1 - t0) +
    " · green done, red exception, orange lost, grey busy or dropped, blue running; reruns outlined";
}

async function timeline() {
  clearTimeout(timelineTimer);
  const m = /^#job=([A-Za-z0-9_-]{1,128})$/.exec(location.hash);
  shownJob = m ? m[1] : "";
  $("#timeline-section").hidden = !shownJob;
  if (!shownJob) return;
  const id = shownJob;
  let again = true;
  try {
    const r = await fetch("/api/timeline?job=" + encodeURIComponent(id), { credentials: "same-origin" });
    if (id !== shownJob) return;
    if (r.ok) {
      drawTimeline(await r.json());
      again = !endedIDs.has(id); // running, or not known yet
    } else {
      $("#timeline-label").textContent = "job " + id + ": " + (await r.text()).trim();
    }
  } catch (e) {
    // The park is down: the event stream's badge says so.
  }
  if (again && id === shownJob) timelineTimer = setTimeout(timeline, 500);
}

window.addEventListener("hashchange", timeline);
connect();
cluster();
timeline();
