/**
 * The status page's script: renders /api/state every few seconds (circulation picture, peers with their
 * last error, the history chart, received notes), and drives "sync now" with live progress from
 * /api/events. Reads the token from the page's meta tag and sends it as a header on every request.
 */
import './style.css';
import { HistoryChart } from './chart.js';
import { drawCirculation, statusClass } from './circulation.js';
import { el, when } from './dom.js';
import type { PeerView, ReceivedNote, Snapshot, StateResponse, SyncEvent } from './types.js';

const REFRESH_MS = 4000;
const token = document.querySelector<HTMLMetaElement>('meta[name="resonance-token"]')?.content ?? '';
const headers = { 'X-Resonance-Token': token };

const ui = {
  title: el('h1', {}, 'resonance-sync'),
  summary: el('p', { class: 'summary', 'data-testid': 'summary' }),
  syncButton: el('button', { type: 'button', 'data-testid': 'sync-now' }, 'Sync now'),
  syncStatus: el('p', { class: 'sync-status', 'data-testid': 'sync-status', role: 'status', 'aria-live': 'polite' }),
  updated: el('p', { class: 'updated', 'data-testid': 'updated' }),
  problem: el('p', { class: 'problem', 'data-testid': 'problem', hidden: '' }),
  circulation: el('div', { class: 'circulation-box', 'data-testid': 'circulation' }),
  peers: el('div', { class: 'peers', 'data-testid': 'peers' }),
  chart: el('div', { class: 'chart', 'data-testid': 'chart' }),
  chartCaption: el('p', { class: 'caption', 'data-testid': 'chart-caption' }),
  notes: el('ol', { class: 'notes', 'data-testid': 'notes' }),
};
const chart = new HistoryChart(ui.chart);

document.body.append(
  el('header', {}, ui.title, ui.summary, el('div', { class: 'actions' }, ui.syncButton, ui.syncStatus), ui.updated, ui.problem),
  el(
    'main',
    {},
    el('section', {}, el('h2', {}, 'Memory circulation'), ui.circulation, legend()),
    el('section', {}, el('h2', {}, 'Peers'), ui.peers),
    el('section', {}, el('h2', {}, 'Entries received and sent per run'), ui.chart, ui.chartCaption),
    el('section', {}, el('h2', {}, 'Latest received notes'), ui.notes),
  ),
);

function legend(): HTMLElement {
  const item = (kind: string, label: string) => el('span', { class: `legend-item ${kind}` }, el('i'), label);
  return el('p', { class: 'legend' }, item('ok', 'ok'), item('skipped', 'skipped'), item('failed', 'failed'), item('none', 'not yet'));
}

function render(snapshot: Snapshot): void {
  ui.title.textContent = `resonance-sync · ${snapshot.node.name}`;
  ui.summary.textContent = `${snapshot.db}: ${snapshot.entries} entries, ${snapshot.receivedEntries} received from other nodes`;
  ui.circulation.replaceChildren(drawCirculation(snapshot));
  ui.peers.replaceChildren(
    ...(snapshot.peers.length ? snapshot.peers.map(peerCard) : [el('p', {}, 'No peers configured: resonance-sync peer add NAME URL')]),
  );
  chart.update(snapshot.series);
  const total = (values: number[]) => values.reduce((sum, n) => sum + n, 0);
  ui.chartCaption.textContent = `${snapshot.series.at.length} points: ${total(snapshot.series.received)} received, ${total(snapshot.series.sent)} sent`;
  ui.notes.replaceChildren(
    ...(snapshot.notes.length ? snapshot.notes.map(noteItem) : [el('li', { class: 'empty' }, 'nothing received yet')]),
  );
  ui.updated.textContent = `updated ${when(snapshot.generatedAt)}; refreshes every ${REFRESH_MS / 1000} s`;
}

function peerCard(peer: PeerView): HTMLElement {
  const rows = peer.directions.map((d) =>
    el(
      'li',
      { class: statusClass(d.status), 'data-direction': d.direction },
      el('strong', {}, d.direction === 'pull' ? `${peer.name} → here` : `here → ${peer.name}`),
      ' ',
      el('span', { class: 'status' }, d.status ?? 'never'),
      ` ${when(d.at)} · ${d.pending ?? '?'} pending`,
      el('br'),
      el('span', { class: 'route' }, `route: ${d.route}`),
    ),
  );
  const error = peer.lastError;
  return el(
    'article',
    { class: `peer ${error ? 'has-error' : ''}`, 'data-peer': peer.name },
    el('h3', {}, peer.name, el('span', { class: 'transport' }, `${peer.transport}${peer.enabled ? '' : ', disabled'}`)),
    el('p', { class: 'url' }, peer.url),
    el('ul', { class: 'directions' }, ...rows),
    el('p', { class: 'totals' }, `received ${peer.totals.received}, sent ${peer.totals.sent} in all`),
    error &&
      el(
        'p',
        { class: 'error', 'data-testid': 'peer-error' },
        el('strong', {}, `${error.direction} ${when(error.at)}: `),
        error.message,
        error.code ? el('code', {}, ` [${error.code}]`) : null,
      ),
  );
}

function noteItem(note: ReceivedNote): HTMLElement {
  return el(
    'li',
    { class: 'note' },
    el(
      'p',
      { class: 'meta' },
      el('span', { class: 'origin' }, `from ${note.originName ?? note.originId ?? 'unknown'}`),
      ` · ${note.timestamp ?? 'no time'}`,
      note.context ? ` · ${note.context}` : '',
      note.source ? ` · ${note.source}` : '',
    ),
    el('p', { class: 'content' }, note.content),
  );
}

async function refresh(): Promise<void> {
  try {
    const response = await fetch('/api/state', { headers, cache: 'no-store' });
    const state = (await response.json()) as StateResponse;
    if (!state.ok) return showProblem(`${state.error.message} [${state.error.code}]`);
    ui.problem.hidden = true;
    render(state.snapshot);
    setBusy(state.sync.busy);
    if (!state.sync.busy && state.sync.last && !ui.syncStatus.textContent) ui.syncStatus.textContent = describe(state.sync.last);
  } catch (error) {
    showProblem(`cannot reach resonance-sync ui (${String(error)}); is it still running?`);
  }
}

function showProblem(text: string): void {
  ui.problem.textContent = text;
  ui.problem.hidden = false;
}

function setBusy(busy: boolean): void {
  ui.syncButton.disabled = busy;
  ui.syncButton.textContent = busy ? 'Syncing…' : 'Sync now';
}

function describe(event: SyncEvent): string {
  switch (event.type) {
    case 'started':
      return 'sync started…';
    case 'progress': {
      const p = event.progress;
      return `${p.peer} ${p.direction}: ${p.sent} sent, ${p.received} stored, ${p.duplicates} already there`;
    }
    case 'finished':
      return `sync ${event.ok ? 'done' : 'done with failures'} at ${when(event.at)}: ${event.peers
        .map((p) => `${p.peer} ${p.ok ? `+${p.received} received, ${p.sent} sent` : 'failed'}`)
        .join('; ')}`;
    case 'error':
      return `sync failed: ${event.message} [${event.code}]`;
  }
}

ui.syncButton.addEventListener('click', async () => {
  setBusy(true);
  ui.syncStatus.textContent = 'sync started…';
  const response = await fetch('/api/sync', { method: 'POST', headers });
  if (response.status !== 202) {
    ui.syncStatus.textContent = `sync refused (${response.status})`;
    setBusy(false);
  }
});

const events = new EventSource('/api/events');
for (const type of ['started', 'progress', 'finished', 'error'] as const) {
  events.addEventListener(type, (message) => {
    const event = JSON.parse((message as MessageEvent<string>).data) as SyncEvent;
    ui.syncStatus.textContent = describe(event);
    ui.syncStatus.dataset.state = event.type;
    if (event.type === 'started') setBusy(true);
    if (event.type === 'finished' || event.type === 'error') {
      setBusy(false);
      void refresh();
    }
  });
}

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
