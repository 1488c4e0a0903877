// The dashboard page: one Socket.IO connection to the coordinator's `/dashboard` namespace. It gets
// a snapshot on connect, then pushed updates; it never polls. Times are shown against the server's
// clock (the offset is taken from each message) and moved on once a second while the tab is open.
// When the coordinator asks for a token, the page asks the user for one and keeps it in
// localStorage (the "Forget token" button removes it).
import { io } from './socket.io.esm.min.js';
import { plural } from './format.js';
import { renderAgents, renderQueues, renderRecent, renderRunning, renderRuns, tick } from './render.js';

const TOKEN_KEY = 'qgjob.dashboard.token';
const TAIL_LINES = 50;

/** @type {(id: string) => HTMLElement} */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

const state = {
  /** @type {import('../../../shared/dashboard.js').DashboardSnapshot | null} */
  snap: null,
  /** Server time minus browser time (ms). */
  offsetMs: 0,
  /** @type {Map<string, {attempt: number, lines: import('../../../shared/dashboard.js').DashboardLogLine[]}>} */
  tails: new Map(),
};
const serverNow = () => Date.now() + state.offsetMs;

// ── token ──

const storedToken = () => {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
};
function saveToken(token) {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives only as long as the page
  }
  memoryToken = token;
}
let memoryToken = storedToken();

// A websocket first (one connection, no long-polling requests); HTTP long-polling when a proxy refuses websockets.
const socket = io('/dashboard', {
  auth: (cb) => cb(memoryToken ? { token: memoryToken } : {}),
  transports: ['websocket', 'polling'],
  tryAllTransports: true,
  autoConnect: false,
});

/** @param {'connecting' | 'live' | 'reconnecting' | 'offline' | 'unauthorized'} s @param {string} [detail] */
function setConnection(s, detail) {
  const pill = $('connection');
  pill.dataset.connection = s;
  pill.textContent = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', offline: 'offline', unauthorized: 'token required' }[s];
  pill.title = detail ?? '';
  document.body.dataset.connection = s;
  $('forget-token').hidden = !memoryToken;
}

function askForToken(message) {
  const prompt = $('token-prompt');
  prompt.hidden = false;
  $('token-message').textContent = message;
  const input = /** @type {HTMLInputElement} */ ($('token-input'));
  input.value = '';
  input.focus();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const token = /** @type {HTMLInputElement} */ ($('token-input')).value.trim();
  if (!token) return;
  saveToken(token);
  $('token-prompt').hidden = true;
  setConnection('connecting');
  socket.connect();
});

$('forget-token').addEventListener('click', () => {
  saveToken('');
  socket.disconnect();
  state.snap = null;
  state.tails.clear();
  render(ALL);
  setConnection('connecting');
  socket.connect();
});

// ── socket ──

socket.on('connect', () => setConnection('live'));
socket.on('disconnect', (reason) => {
  setConnection('reconnecting', reason);
  // The server closed this connection on purpose (e.g. it restarts the page's feed): connect again.
  if (reason === 'io server disconnect') socket.connect();
});
socket.on('connect_error', (err) => {
  const data = /** @type {{code?: string, message?: string} | undefined} */ (/** @type {any} */ (err).data);
  if (data?.code === 'unauthorized') {
    setConnection('unauthorized', data.message);
    askForToken(memoryToken ? 'That token was not accepted. Enter an API token for this coordinator.' : 'This coordinator requires an API token. Enter yours to see its jobs.');
    return;
  }
  setConnection(socket.active ? 'reconnecting' : 'offline', err.message);
});

socket.on('snapshot', (snap) => {
  state.snap = snap;
  state.offsetMs = Date.parse(snap.at) - Date.now();
  state.tails = new Map(snap.tails.map((t) => [t.job_id, { attempt: t.attempt, lines: t.lines.slice(-TAIL_LINES) }]));
  $('token-prompt').hidden = true;
  $('version').textContent = `v${snap.version}`;
  $('viewer').textContent = snap.viewer.org === '*' ? 'all orgs' : `org ${snap.viewer.org}`;
  document.body.dataset.viewerOrg = snap.viewer.org;
  render(ALL);
});

socket.on('update', (u) => {
  const snap = state.snap;
  if (!snap) return;
  state.offsetMs = Date.parse(u.at) - Date.now();
  const changed = new Set();
  for (const k of /** @type {const} */ (['queues', 'agents', 'running', 'recent', 'runs'])) {
    if (u[k] !== undefined) {
      /** @type {any} */ (snap)[k] = u[k];
      changed.add(k);
    }
  }
  if (u.running) {
    const live = new Set(u.running.map((j) => j.job_id));
    for (const id of state.tails.keys()) if (!live.has(id)) state.tails.delete(id);
  }
  for (const batch of u.logs ?? []) {
    let tail = state.tails.get(batch.job_id);
    if (!tail || tail.attempt !== batch.attempt) state.tails.set(batch.job_id, (tail = { attempt: batch.attempt, lines: [] }));
    const last = tail.lines.length ? tail.lines[tail.lines.length - 1].n : 0;
    for (const l of batch.lines) if (l.n > last) tail.lines.push(l);
    if (tail.lines.length > TAIL_LINES) tail.lines.splice(0, tail.lines.length - TAIL_LINES);
    changed.add('running');
  }
  render(changed);
});

// ── rendering: panels that changed, at most once per frame ──

const ALL = new Set(['queues', 'agents', 'running', 'recent', 'runs']);
const pending = new Set();
let frame = 0;
function render(sections) {
  for (const s of sections) pending.add(s);
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  const snap = state.snap;
  const now = serverNow();
  const todo = new Set(pending);
  pending.clear();
  const queues = snap?.queues ?? [];
  const agents = snap?.agents ?? [];
  const running = snap?.running ?? [];
  const recent = snap?.recent ?? [];
  if (todo.has('queues')) {
    renderQueues($('queues-body'), queues, now);
    $('queues-count').textContent = `${plural(queues.reduce((n, q) => n + q.depth, 0), 'job')} waiting`;
  }
  if (todo.has('agents')) {
    renderAgents($('agents-body'), agents, now);
    const slots = agents.flatMap((a) => a.slots);
    $('agents-count').textContent = `${agents.filter((a) => a.connected).length}/${agents.length} connected · ${slots.filter((s) => s.state === 'idle').length} idle · ${slots.filter((s) => s.state === 'busy').length} busy`;
  }
  if (todo.has('running')) {
    renderRunning($('running-list'), running, state.tails, now);
    $('running-count').textContent = `${running.length}`;
  }
  if (todo.has('recent')) {
    renderRecent($('recent-body'), recent, now);
    const passed = recent.filter((r) => r.status === 'passed').length;
    $('recent-count').textContent = recent.length ? `${passed}/${recent.length} passed` : '';
  }
  if (todo.has('runs')) renderRuns($('runs-list'), snap ? snap.runs : [], now);
}

// Waits and ages move with time: their text is moved on once a second (no request is made).
setInterval(() => {
  if (state.snap && !document.hidden) tick(document.body, serverNow());
}, 1000);

setConnection('connecting');
render(ALL);
socket.connect();
