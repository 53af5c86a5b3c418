/**
 * The picture of memory circulation: this node in the middle, its peers around it, and per peer two
 * arrows, pull (peer -> here) and push (here -> peer), each colored by its last run (ok, skipped, failed)
 * and labeled with what is pending and the route.
 */
import { shorten, svg, when } from './dom.js';
import type { DirectionView, PeerView, Snapshot } from './types.js';

const WIDTH = 640;
const HEIGHT = 420;
const CENTER = { x: WIDTH / 2, y: HEIGHT / 2 };
const RADIUS = 155;
const NODE_R = 34;

export function statusClass(status: string | null): string {
  if (status === 'ok' || status === 'skipped' || status === 'failed' || status === 'running') return status;
  return 'none';
}

export function drawCirculation(snapshot: Snapshot): SVGElement {
  const root = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: 'img',
    'aria-label': `memory circulation of ${snapshot.node.name}`,
    class: 'circulation',
  });
  const defs = svg('defs');
  for (const kind of ['ok', 'skipped', 'failed', 'running', 'none']) {
    defs.append(
      svg(
        'marker',
        { id: `arrow-${kind}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: `arrowhead ${kind}` }),
      ),
    );
  }
  root.append(defs);
  const count = snapshot.peers.length;
  snapshot.peers.forEach((peer, i) => {
    const angle = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(count, 1);
    const at = { x: CENTER.x + RADIUS * Math.cos(angle), y: CENTER.y + RADIUS * Math.sin(angle) };
    root.append(peerLinks(peer, at));
    root.append(nodeCircle(peer.name, at, `peer ${peer.enabled ? '' : 'disabled'}`, peer.url));
  });
  root.append(nodeCircle(snapshot.node.name, CENTER, 'self', `${snapshot.db}: ${snapshot.entries} entries`));
  if (count === 0) root.append(svg('text', { x: CENTER.x, y: HEIGHT - 20, class: 'hint', 'text-anchor': 'middle' }, 'no peers configured'));
  return root;
}

function nodeCircle(name: string, at: { x: number; y: number }, kind: string, tooltip: string): SVGElement {
  return svg(
    'g',
    { class: `node ${kind}`, 'data-node': name },
    svg('title', {}, tooltip),
    svg('circle', { cx: at.x, cy: at.y, r: NODE_R }),
    svg('text', { x: at.x, y: at.y + 4, 'text-anchor': 'middle' }, shorten(name, 12)),
  );
}

function peerLinks(peer: PeerView, at: { x: number; y: number }): SVGElement {
  const group = svg('g', { class: 'links', 'data-peer-links': peer.name });
  const dx = at.x - CENTER.x;
  const dy = at.y - CENTER.y;
  const length = Math.hypot(dx, dy) || 1;
  const ux = dx / length;
  const uy = dy / length;
  // Two parallel lanes, one per direction, so both arrows and both labels stay readable.
  const lane = (offset: number) => ({ ox: -uy * offset, oy: ux * offset });
  for (const direction of peer.directions) {
    const { ox, oy } = lane(direction.direction === 'pull' ? -9 : 9);
    const near = { x: CENTER.x + ux * (NODE_R + 4) + ox, y: CENTER.y + uy * (NODE_R + 4) + oy };
    const far = { x: at.x - ux * (NODE_R + 4) + ox, y: at.y - uy * (NODE_R + 4) + oy };
    const [from, to] = direction.direction === 'pull' ? [far, near] : [near, far];
    const kind = statusClass(direction.status);
    // Each label sits beside its own lane, on the outer side, so the two never overlap.
    const mid = { x: (near.x + far.x) / 2 + ox * 1.5, y: (near.y + far.y) / 2 + oy * 1.5 };
    const anchor = Math.abs(ox) < 3 ? 'middle' : ox < 0 ? 'end' : 'start';
    const dy = Math.abs(ox) < 3 ? (oy < 0 ? -14 : 8) : -3;
    group.append(
      svg(
        'g',
        { class: `link ${kind}`, 'data-direction': direction.direction, 'data-status': kind },
        svg('title', {}, linkTooltip(peer, direction)),
        svg('line', { x1: from.x, y1: from.y, x2: to.x, y2: to.y, 'marker-end': `url(#arrow-${kind})` }),
        svg(
          'text',
          { x: mid.x, y: mid.y + dy, 'text-anchor': anchor, class: 'link-label' },
          svg('tspan', { x: mid.x }, linkLabel(direction)),
          svg('tspan', { x: mid.x, dy: 12, class: 'route' }, shorten(direction.route, 30)),
        ),
      ),
    );
  }
  return group;
}

function linkLabel(direction: DirectionView): string {
  const pending = direction.pending === null ? '?' : String(direction.pending);
  return `${direction.direction} ${pending} pending · ${direction.status ?? 'never'}`;
}

function linkTooltip(peer: PeerView, direction: DirectionView): string {
  const arrow = direction.direction === 'pull' ? `${peer.name} → here` : `here → ${peer.name}`;
  return `${arrow}\nroute: ${direction.route}\nlast: ${direction.status ?? 'never'} ${when(direction.at)}\npending: ${direction.pending ?? 'unknown'}`;
}
