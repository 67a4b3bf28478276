/* The live page of ksmd's stats endpoint: reads v1/stats every
 * REFRESH_MS and v1/history (the last hour, kept by the daemon) every
 * HISTORY_MS, fills the tables and, when the chart library loaded, draws
 * the hour. Read only: it only ever GETs. Every value from the daemon
 * enters the page as text (textContent), never as markup: guest names and
 * reasons are whatever the configuration and the guests said. A field the
 * snapshot lacks is shown as a dash, never as zero (docs/STATS.md). */
'use strict';

(function () {
  const REFRESH_MS = 5000;
  const HISTORY_MS = 10000;
  const DECISIONS_SHOWN = 20;
  const HOUR_MINUTES = 60;
  const MIN_SPAN_MINUTES = 5;   /* a young daemon's charts span this at least */
  const DOTS_BELOW = 30;        /* fewer points than this are drawn as dots too */
  const DASH = '\u2013';

  const byId = (id) => document.getElementById(id);
  const has = (v) => typeof v === 'number' && isFinite(v);

  function bytes(n) {
    if (!has(n)) return DASH;
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let v = Math.abs(n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
    const digits = u === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
    return (n < 0 ? '\u2212' : '') + v.toFixed(digits) + ' ' + units[u];
  }

  function signedBytes(n) {
    if (!has(n)) return DASH;
    return n > 0 ? '+' + bytes(n) : n === 0 ? '0' : bytes(n);
  }

  function clock(t) {
    return has(t) ? new Date(t * 1000).toLocaleTimeString() : DASH;
  }

  function duration(s) {
    if (!has(s)) return DASH;
    if (s < 120) return Math.round(s) + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }

  function setText(id, text, cls) {
    const el = byId(id);
    el.textContent = text;
    if (cls) el.className = cls;
    else el.removeAttribute('class');
  }

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  /* Saved by ballooning: what the balloons hold, over the guests that
   * report both their size and their balloon (as v1/history counts it). */
  function ballooned(guests) {
    let sum = 0;
    let any = false;
    for (const g of guests) {
      if (has(g.mem_max_bytes) && has(g.balloon_actual_bytes)) {
        sum += g.mem_max_bytes - g.balloon_actual_bytes;
        any = true;
      }
    }
    return any ? sum : undefined;
  }

  function renderHost(s) {
    const host = s.host || {};
    const ksm = s.ksm || {};
    const policy = s.policy || {};
    const guests = Array.isArray(s.guests) ? s.guests : [];
    setText('budget', bytes(host.budget_bytes));
    const over = has(host.budget_bytes) && has(host.guests_total_bytes) &&
      host.guests_total_bytes > host.budget_bytes;
    setText('guests-total', bytes(host.guests_total_bytes) + (over ? ' (over the budget)' : ''),
      over ? 'over' : '');
    setText('guest-used', bytes(policy.guest_used_bytes));
    setText('available', bytes(host.mem_available_bytes) +
      (has(host.mem_total_bytes) ? ' of ' + bytes(host.mem_total_bytes) : ''));
    setText('merged', bytes(ksm.general_profit));
    setText('ballooned', bytes(ballooned(guests)));
    setText('psi', has(host.psi_some_avg10) ? host.psi_some_avg10.toFixed(2) + ' %' : DASH);
    const ksmText = has(ksm.run) ? (ksm.run === 1 ? 'running' : ksm.run === 2 ? 'unmerging' : 'stopped') : DASH;
    setText('ksm', ksmText + (ksm.pacing_reason ? ': ' + ksm.pacing_reason : ''));
    const parts = [];
    if (policy.state) parts.push(policy.state + (policy.dry_run ? ' (dry run)' : ''));
    if (policy.host_reason) parts.push(policy.host_reason);
    setText('policy', parts.length ? parts.join(': ') : DASH);
  }

  function renderGuests(guests) {
    const body = byId('guest-rows');
    const rows = document.createDocumentFragment();
    const sorted = guests.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)));
    for (const g of sorted) {
      const tr = document.createElement('tr');
      tr.dataset.guest = String(g.name);
      cell(tr, String(g.name));
      cell(tr, g.state ? String(g.state) : DASH, g.state ? 'state-' + String(g.state) : '');
      cell(tr, bytes(g.mem_max_bytes), 'num');
      cell(tr, bytes(g.balloon_target_bytes), 'num');
      cell(tr, bytes(g.balloon_actual_bytes), 'num');
      cell(tr, bytes(g.mem_min_bytes), 'num');
      cell(tr, bytes(g.rss_bytes), 'num');
      cell(tr, has(g.ksm_merging_pages) ? bytes(g.ksm_merging_pages * 4096) : DASH, 'num');
      cell(tr, g.reason ? String(g.reason) : '');
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
  }

  function renderDecisions(decisions) {
    const body = byId('decision-rows');
    const rows = document.createDocumentFragment();
    for (const d of decisions.slice(-DECISIONS_SHOWN).reverse()) {
      const tr = document.createElement('tr');
      cell(tr, clock(d.time), 'time');
      cell(tr, d.target ? String(d.target) : DASH);
      cell(tr, d.action ? String(d.action) : DASH);
      cell(tr, signedBytes(d.delta_bytes), 'num');
      cell(tr, d.reason ? String(d.reason) : '');
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
  }

  /* ---- charts (only with the chart library) ---- */

  const charts = {};

  function makeChart(id, series) {
    return new window.Chart(byId(id), {
      type: 'line',
      data: {
        datasets: series.map((s) => ({
          label: s.label, data: [], borderColor: s.color, backgroundColor: s.color,
          borderWidth: 2, pointRadius: 0, borderDash: s.dash || [], spanGaps: false,
        })),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', axis: 'x', intersect: false },
        scales: {
          x: {
            type: 'linear', min: -HOUR_MINUTES, max: 0,
            title: { display: true, text: 'minutes ago' },
            ticks: { stepSize: 10, callback: (v) => (v === 0 ? 'now' : String(-v)) },
          },
          y: { beginAtZero: true, ticks: { callback: (v) => bytes(v) } },
        },
        plugins: {
          legend: { position: 'bottom' },
          tooltip: { callbacks: { label: (c) => c.dataset.label + ': ' + bytes(c.parsed.y) } },
        },
      },
    });
  }

  function setupCharts() {
    if (typeof window.Chart !== 'function') {
      byId('charts-missing').hidden = false;
      for (const id of ['chart-memory', 'chart-saved']) byId(id).closest('figure').hidden = true;
      return;
    }
    charts.memory = {
      chart: makeChart('chart-memory', [
        { label: 'budget', color: '#b3261e', dash: [6, 4] },
        { label: 'guests hold', color: '#1a73e8' },
        { label: 'guests cost', color: '#188038' },
      ]),
      keys: ['budget_bytes', 'guests_total_bytes', 'guest_used_bytes'],
      canvas: 'chart-memory',
    };
    charts.saved = {
      chart: makeChart('chart-saved', [
        { label: 'by merging', color: '#9334e6' },
        { label: 'by ballooning', color: '#e37400' },
      ]),
      keys: ['merged_bytes', 'ballooned_bytes'],
      canvas: 'chart-saved',
    };
  }

  function renderHistory(h) {
    const points = Array.isArray(h.points) ? h.points : [];
    const now = has(h.time) ? h.time : 0;
    /* the hour at most, since the oldest point: a ksmd started a minute
     * ago has a minute to show */
    const oldest = points.length ? (points[0].time - now) / 60 : 0;
    const span = Math.min(HOUR_MINUTES, Math.max(MIN_SPAN_MINUTES, Math.ceil(-oldest)));
    for (const c of Object.values(charts)) {
      c.chart.options.scales.x.min = -span;
      c.chart.options.scales.x.ticks.stepSize = span > 20 ? 10 : span > 5 ? 2 : 1;
      c.chart.data.datasets.forEach((ds, i) => {
        const key = c.keys[i];
        /* a point without the figure breaks the line: unknown is not zero */
        ds.data = points.map((p) => ({ x: (p.time - now) / 60, y: has(p[key]) ? p[key] : null }));
        ds.pointRadius = points.length < DOTS_BELOW ? 2 : 0;
      });
      c.chart.update('none');
      byId(c.canvas).dataset.points = String(points.length);
    }
  }

  /* ---- refreshing ---- */

  async function getJSON(path) {
    const r = await fetch(path, { cache: 'no-store', credentials: 'omit' });
    if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + r.statusText);
    return r.json();
  }

  async function refresh() {
    try {
      const s = await getJSON('v1/stats');
      renderHost(s);
      renderGuests(Array.isArray(s.guests) ? s.guests : []);
      renderDecisions(Array.isArray(s.decisions) ? s.decisions : []);
      setText('status', 'ksmd ' + (s.ksmd_version || '') + ', snapshot of ' + clock(s.time) +
        ', up ' + duration(s.uptime_seconds) + ', refreshed every ' + REFRESH_MS / 1000 + ' s',
        'status');
      document.body.dataset.snapshot = String(s.time);
    } catch (e) {
      setText('status', 'no answer from ksmd (' + e.message + '); retrying', 'status stale');
    }
  }

  async function refreshHistory() {
    if (!Object.keys(charts).length) return;
    try {
      renderHistory(await getJSON('v1/history'));
    } catch (e) {
      setText('status', 'no history from ksmd (' + e.message + '); retrying', 'status stale');
    }
  }

  function every(ms, fn) {
    const run = () => fn().finally(() => setTimeout(run, ms));
    run();
  }

  setupCharts();
  every(REFRESH_MS, refresh);
  every(HISTORY_MS, refreshHistory);
})();
