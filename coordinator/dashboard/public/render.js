// Renders the dashboard's panels from plain data. Text goes in with textContent only (never
// innerHTML), links only when they are http(s). Rows carry data-* attributes (job id, status, …)
// for people inspecting the page and for tests.
import { ago, clock, duration, plural, safeUrl, shortId, since } from './format.js';

/**
 * A new element: `h('td', { class: 'num', dataset: { jobId } }, 'text', child)`.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 */
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'dataset') for (const [dk, dv] of Object.entries(v)) { if (dv !== undefined && dv !== null) e.dataset[dk] = String(dv); }
    else if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  return e;
}

/** A coloured state label. @param {string} state */
const badge = (state, label = state.replace('_', ' ')) => h('span', { class: `badge s-${state}`, dataset: { state } }, label);
const empty = (cols, text) => h('tr', { class: 'empty' }, h('td', { colspan: cols }, text));
const code = (text, title) => h('code', { title }, text);
const muted = (text) => h('span', { class: 'muted' }, text);

/** Time since `iso`, kept current by `tick()`. @param {string | null | undefined} iso @param {number} nowMs */
const sinceSpan = (iso, nowMs, cls) => h('span', { class: cls, dataset: { since: iso ?? undefined } }, since(iso, nowMs));
/** `… ago`, kept current by `tick()`. @param {string | null | undefined} iso @param {number} nowMs */
const agoSpan = (iso, nowMs, cls) => h('span', { class: cls, dataset: { ago: iso ?? undefined } }, ago(iso, nowMs));

/**
 * Moves every shown wait and age to `nowMs` without rebuilding the panels (a selection or a
 * scrolled log stays where it is).
 * @param {ParentNode} root
 * @param {number} nowMs
 */
export function tick(root, nowMs) {
  for (const e of root.querySelectorAll('[data-since]')) e.textContent = since(/** @type {HTMLElement} */ (e).dataset.since, nowMs);
  for (const e of root.querySelectorAll('[data-ago]')) e.textContent = ago(/** @type {HTMLElement} */ (e).dataset.ago, nowMs);
}

/**
 * Queues per app version.
 * @param {HTMLElement} body the tbody
 * @param {import('../../../shared/dashboard.js').DashboardQueue[]} queues
 * @param {number} nowMs server time
 */
export function renderQueues(body, queues, nowMs) {
  const maxDepth = Math.max(1, ...queues.map((q) => q.depth));
  body.replaceChildren(
    ...(queues.length === 0
      ? [empty(6, 'No jobs waiting.')]
      : queues.map((q) => {
          const bar = h('span', { class: 'bar' });
          bar.style.width = `${Math.max(q.depth ? 4 : 0, (q.depth / maxDepth) * 100)}%`;
          return h(
            'tr',
            { dataset: { appVersionId: q.app_version_id, depth: q.depth, running: q.running } },
            h('td', null, code(q.app_version_id)),
            h('td', { class: 'orgs' }, q.org_ids.join(', ')),
            h('td', { class: 'num depth' }, h('span', { class: 'depth-cell' }, bar, h('b', null, String(q.depth)))),
            h('td', { class: 'num' }, String(q.running)),
            h('td', { class: 'num wait' }, sinceSpan(q.oldest_queued_at, nowMs)),
            h(
              'td',
              { class: 'classes' },
              ...Object.entries(q.by_class).map(([k, n]) => h('span', { class: 'chip' }, `${k} ${n}`)),
              q.top_priority !== null ? h('span', { class: 'chip prio', title: 'highest priority waiting' }, `p${q.top_priority}`) : null,
            ),
          );
        })),
  );
}

/**
 * Agents and their slots, one row per slot.
 * @param {HTMLElement} body the tbody
 * @param {import('../../../shared/dashboard.js').DashboardAgent[]} agents
 * @param {number} nowMs
 */
export function renderAgents(body, agents, nowMs) {
  if (agents.length === 0) return body.replaceChildren(empty(7, 'No agents have connected yet.'));
  const rows = [];
  for (const a of [...agents].sort((x, y) => Number(y.connected) - Number(x.connected) || x.name.localeCompare(y.name))) {
    const busy = a.slots.filter((s) => s.state === 'busy').length;
    rows.push(
      h(
        'tr',
        { class: 'agent-row', dataset: { agentId: a.agent_id, connected: a.connected } },
        h(
          'th',
          { colspan: 7 },
          h('span', { class: `dot ${a.connected ? 'on' : 'off'}`, title: a.connected ? 'connected' : 'disconnected' }),
          h('span', { class: 'agent-name' }, a.name),
          a.name !== a.agent_id ? muted(` ${a.agent_id}`) : null,
          muted(` · v${a.version} · ${plural(a.slots.length, 'slot')}, ${busy} busy · ${a.connected ? 'up ' : 'last seen '}`),
          a.connected ? sinceSpan(a.connected_at, nowMs, 'muted') : agoSpan(a.last_seen_at, nowMs, 'muted'),
        ),
      ),
    );
    for (const s of a.slots) {
      rows.push(
        h(
          'tr',
          { class: 'slot-row', dataset: { agentId: a.agent_id, slotId: s.slot_id, state: s.state, jobId: s.job_id ?? undefined, redacted: s.redacted } },
          h('td', null, code(s.slot_id)),
          h('td', null, `${s.target}/${s.platform}`),
          h('td', { class: 'device', title: s.endpoint }, s.device_name),
          h('td', { class: 'build' }, s.installed_app_version_id ? code(s.installed_app_version_id) : muted(s.redacted ? 'hidden' : 'none')),
          h('td', null, badge(s.state)),
          h('td', { class: 'job' }, s.job_id ? code(shortId(s.job_id), s.job_id) : s.state === 'busy' ? muted("another org's job") : muted('—')),
          h('td', { class: 'health' }, s.health_reason ? h('span', { class: 'warn', title: s.health_reason }, s.health_reason) : muted(`${plural(s.installs, 'install')}`)),
        ),
      );
    }
  }
  body.replaceChildren(...rows);
}

/**
 * Jobs on slots, each with the tail of its log.
 * @param {HTMLElement} list
 * @param {import('../../../shared/dashboard.js').DashboardRunningJob[]} running
 * @param {Map<string, {attempt: number, lines: import('../../../shared/dashboard.js').DashboardLogLine[]}>} tails
 * @param {number} nowMs
 */
export function renderRunning(list, running, tails, nowMs) {
  if (running.length === 0) return list.replaceChildren(h('p', { class: 'empty-note' }, 'Nothing is running.'));
  const cards = running.map((j) => {
    const tail = tails.get(j.job_id);
    const log = h(
      'pre',
      { class: 'log', dataset: { log: j.job_id } },
      ...(tail && tail.lines.length
        ? tail.lines.map((l) => h('div', { class: `line ${l.stream}`, dataset: { n: l.n } }, h('span', { class: 'ts' }, clock(new Date(l.at_ms).toISOString())), l.text))
        : [h('div', { class: 'line agent' }, j.status === 'assigned' ? 'waiting for the agent to start…' : 'no output yet')]),
    );
    const card = h(
      'article',
      { class: 'job-card', dataset: { jobId: j.job_id, status: j.status } },
      h(
        'header',
        null,
        badge(j.status),
        h('span', { class: 'test-path', title: j.test_path }, j.test_path),
        h('span', { class: 'elapsed' }, sinceSpan(j.started_at ?? j.assigned_at, nowMs)),
      ),
      h(
        'div',
        { class: 'meta' },
        code(shortId(j.job_id), j.job_id),
        muted(` ${j.org_id} · `),
        code(j.app_version_id),
        muted(` · ${j.agent_id ?? '?'}/${j.slot_id ?? '?'} · attempt ${j.attempt}/${j.max_attempts}${j.installed_build ? ' · installed the build' : ''}`),
      ),
      log,
    );
    return card;
  });
  list.replaceChildren(...cards);
  for (const pre of list.querySelectorAll('pre.log')) pre.scrollTop = pre.scrollHeight;
}

/**
 * Jobs that ended, newest first.
 * @param {HTMLElement} body the tbody
 * @param {import('../../../shared/dashboard.js').DashboardResult[]} results
 * @param {number} nowMs
 */
export function renderRecent(body, results, nowMs) {
  if (results.length === 0) return body.replaceChildren(empty(8, 'No job has ended yet.'));
  const rows = [];
  for (const r of results) {
    const video = safeUrl(r.video_url);
    const tests = Object.entries(r.tests).map(([k, n]) => `${n} ${k}`).join(' · ');
    rows.push(
      h(
        'tr',
        { class: 'result-row', dataset: { jobId: r.job_id, status: r.status } },
        h('td', null, badge(r.status)),
        h('td', { class: 'test-path', title: r.test_path }, r.test_path, r.error ? h('div', { class: 'error', title: r.error.message }, `${r.error.reason}: ${r.error.message}`) : null),
        h('td', null, code(shortId(r.job_id), r.job_id)),
        h('td', null, r.org_id, muted(' · '), code(r.app_version_id)),
        h('td', null, `${r.target}/${r.platform}`, r.attempts > 1 ? muted(` · ${r.attempts} attempts`) : null),
        h('td', { class: 'num' }, duration(r.duration_ms), tests ? h('div', { class: 'muted small' }, tests) : null),
        h('td', { class: 'num', title: r.finished_at ?? '' }, agoSpan(r.finished_at, nowMs)),
        h('td', null, video ? h('a', { href: video, target: '_blank', rel: 'noopener noreferrer', class: 'video', dataset: { video: r.job_id } }, '▶ video') : muted('—')),
      ),
    );
  }
  body.replaceChildren(...rows);
}

const SEGMENTS = /** @type {const} */ (['passed', 'failed', 'timed_out', 'error', 'cancelled', 'running', 'assigned', 'queued']);

/**
 * Runs with a progress bar of their jobs' states.
 * @param {HTMLElement} list
 * @param {import('../../../shared/dashboard.js').DashboardRun[] | null} runs
 * @param {number} nowMs
 */
export function renderRuns(list, runs, nowMs) {
  if (runs === null) return list.replaceChildren(h('p', { class: 'empty-note', dataset: { runs: 'none' } }, 'No runs on this coordinator.'));
  if (runs.length === 0) return list.replaceChildren(h('p', { class: 'empty-note', dataset: { runs: 'none' } }, 'No runs yet.'));
  list.replaceChildren(
    ...runs.map((r) => {
      const bar = h('div', { class: 'progress', title: SEGMENTS.filter((s) => r.counts[s]).map((s) => `${r.counts[s]} ${s}`).join(', ') });
      for (const s of SEGMENTS) {
        const n = r.counts[s] ?? 0;
        if (!n) continue;
        const seg = h('span', { class: `seg s-${s}` });
        seg.style.flexGrow = String(n);
        bar.append(seg);
      }
      return h(
        'div',
        { class: 'run', dataset: { runId: r.run_id, status: r.status } },
        h(
          'div',
          { class: 'run-head' },
          badge(r.status),
          h('span', { class: 'run-name', title: r.run_id }, r.name ?? r.run_id),
          h('span', { class: 'run-count' }, `${r.done}/${r.total}`),
        ),
        bar,
        h(
          'div',
          { class: 'meta' },
          muted(`${r.org_id} · `),
          code(r.app_version_id),
          muted(` · ${r.finished_at ? `took ${duration(r.duration_ms)}, ended ` : 'started '}`),
          agoSpan(r.finished_at ?? r.created_at, nowMs, 'muted'),
          r.rerun_of ? muted(` · rerun of ${r.rerun_of}`) : null,
        ),
      );
    }),
  );
}
