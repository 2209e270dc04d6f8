import { html, raw } from 'hono/html'
import type { TimelineCredential, TimelineRefresh, TimelineView } from './timeline.js'

// The drawing, in SVG user units; the page scales it to the section's width.
/** Wide enough for six tick labels and a row label at the page's widest (60rem). */
export const VIEW_WIDTH = 960
/** Left of the axis: the row labels (`#12`, `refreshes`). */
export const LABEL_WIDTH = 80
/** Right of the axis, so that a tick label at the very end is not cut off. */
export const RIGHT_MARGIN = 24
export const TOP_MARGIN = 6
/** One row per credential, then one for the refreshes. */
export const ROW_HEIGHT = 22
export const BAR_HEIGHT = 12
/** Below the axis: the tick labels. */
export const AXIS_HEIGHT = 20
export const MARK_RADIUS = 5

/**
 * The timeline's classes, in the page's (hash-pinned) style sheet: the drawing carries classes
 * and geometry only, never a `style` attribute, which the page's CSP would refuse.
 */
export const TIMELINE_STYLE = `
  .timeline { display: block; width: 100%; height: auto; margin: 0.5rem 0 0.25rem; }
  .timeline text { font-size: 11px; fill: currentColor; }
  .timeline .tick, .timeline .axis { stroke: #8887; }
  .now { stroke: currentColor; stroke-dasharray: 3 3; }
  .credential { fill: #0969da; } .credential.replaced { fill: #0969da66; }
  .credential.expired { fill: #8885; }
  .refresh-point { stroke: currentColor; stroke-width: 3; }
  .refresh.success { fill: #1a7f37; } .refresh.transient { fill: #bf8700; }
  .refresh.permanent { fill: #cf222e; } .refresh.forced { stroke: #8250df; stroke-width: 3; }
  .legend svg { width: 0.9em; height: 0.9em; vertical-align: -0.1em; }
  .legend .now { stroke-width: 2; stroke-dasharray: 3 2; }
  .legend { font-size: 0.85em; margin-top: 0; }
  .legend span { white-space: nowrap; margin-right: 0.5em; }
`

const round = (v: number) => Math.round(v * 10) / 10
const clock = (ms: number) => `${new Date(ms).toISOString().slice(11, 19)} UTC`

/** The x of a moment: the axis runs from `from_ms` at its left end to `to_ms` at its right. */
function scale(t: TimelineView) {
  const width = VIEW_WIDTH - LABEL_WIDTH - RIGHT_MARGIN
  return (ms: number) => round(LABEL_WIDTH + ((ms - t.from_ms) / (t.to_ms - t.from_ms)) * width)
}

function credentialTitle(c: TimelineCredential) {
  return (
    `credential #${c.ordinal} (${c.state}): issued ${clock(c.issued_at_ms)}, ` +
    `refresh ${clock(c.refresh_at_ms)}, expires ${clock(c.expires_at_ms)}`
  )
}

function refreshTitle(r: TimelineRefresh) {
  const what = r.forced ? 'forced refresh' : 'refresh'
  const how = r.outcome === 'success' ? 'succeeded' : `failed, ${r.error_class} (${r.error_kind})`
  return `${clock(r.at_ms)}: ${what} ${how}`
}

function refreshClass(r: TimelineRefresh) {
  return `refresh ${r.outcome}${r.forced ? ' forced' : ''}${r.error_kind ? ` ${r.error_kind}` : ''}`
}

/** A triangle, for a failure, centred on (x, y) like a success's circle. */
function triangle(x: number, y: number) {
  const r = MARK_RADIUS
  return `M${x} ${y - r}L${round(x + r)} ${y + r}L${round(x - r)} ${y + r}Z`
}

/** A row's label, right-aligned against the axis's left end; `y` is the row's middle. */
function rowLabel(y: number, label: string) {
  const at = LABEL_WIDTH - 8
  return html`<text class="row-label" x="${at}" y="${y + 4}" text-anchor="end">${label}</text>`
}

/** Row `i`: credential `c`'s bar from issue to expiry, and its refresh point across it. */
function credentialRow(c: TimelineCredential, i: number, x: (ms: number) => number) {
  const top = TOP_MARGIN + i * ROW_HEIGHT
  const barY = top + (ROW_HEIGHT - BAR_HEIGHT) / 2
  return html`${rowLabel(top + ROW_HEIGHT / 2, `#${c.ordinal}`)}
    <rect
      class="credential ${c.state}"
      data-ordinal="${c.ordinal}"
      x="${x(c.issued_at_ms)}"
      y="${barY}"
      width="${round(x(c.expires_at_ms) - x(c.issued_at_ms))}"
      height="${BAR_HEIGHT}"
    ><title>${credentialTitle(c)}</title></rect>
    <line
      class="refresh-point"
      data-ordinal="${c.ordinal}"
      x1="${x(c.refresh_at_ms)}"
      x2="${x(c.refresh_at_ms)}"
      y1="${barY - 2}"
      y2="${barY + BAR_HEIGHT + 2}"
    />`
}

function refreshMark(r: TimelineRefresh, at: number, y: number) {
  const title = html`<title>${refreshTitle(r)}</title>`
  return r.outcome === 'success'
    ? html`<circle
        class="${refreshClass(r)}"
        data-at="${r.at_ms}"
        cx="${at}"
        cy="${y}"
        r="${MARK_RADIUS}"
      >${title}</circle>`
    : html`<path class="${refreshClass(r)}" data-at="${r.at_ms}" d="${triangle(at, y)}">${title}</path>`
}

/**
 * The timeline as inline SVG, rendered on the server: one bar per credential from issue to
 * expiry with its refresh point marked, then every fetch (circle: success; triangle: failure,
 * coloured by kind; ringed: forced by a refusal report), and a dashed line at `now`.
 * {@link TIMELINE_SCRIPT} draws the same from `/status.json`; keep the two in step.
 */
export function timelineSvg(t: TimelineView | null, now: number, target: string) {
  if (t === null) return html`<p>no credential or refresh yet</p>`
  const x = scale(t)
  const axisY = TOP_MARGIN + (t.credentials.length + 1) * ROW_HEIGHT
  const marksY = axisY - ROW_HEIGHT / 2
  const tickMark = (at: number, label: string) =>
    html`<line class="tick" x1="${at}" x2="${at}" y1="${TOP_MARGIN}" y2="${axisY}" />
      <text class="tick-label" x="${at}" y="${axisY + 14}" text-anchor="middle">${label}</text>`
  return html`<svg
    class="timeline"
    viewBox="0 0 ${VIEW_WIDTH} ${axisY + AXIS_HEIGHT}"
    role="img"
    aria-label="${`credentials and refreshes of ${target} over time`}"
    data-from="${t.from_ms}"
    data-to="${t.to_ms}"
  >
    ${t.ticks.map((tick) => tickMark(x(tick.at_ms), tick.label))}
    <line class="axis" x1="${LABEL_WIDTH}" x2="${VIEW_WIDTH - RIGHT_MARGIN}" y1="${axisY}" y2="${axisY}" />
    ${t.credentials.map((c, i) => credentialRow(c, i, x))}
    ${rowLabel(marksY, 'refreshes')}
    ${t.refreshes.map((r) => refreshMark(r, x(r.at_ms), marksY))}
    <line class="now" x1="${x(now)}" x2="${x(now)}" y1="${TOP_MARGIN}" y2="${axisY}"><title>now</title></line>
  </svg>`
}

/** One legend entry: the mark as the timeline draws it, and what it means. */
const key = (shape: string, meaning: string) =>
  html`<span><svg viewBox="-6 -6 12 12" aria-hidden="true">${raw(shape)}</svg> ${meaning}</span>`
const bar = (state: TimelineCredential['state']) =>
  `<rect class="credential ${state}" x="-6" y="-3" width="12" height="6" />`
const triangleKey = (kind: string) => `<path class="refresh failure ${kind}" d="M0 -5L5 5L-5 5Z" />`

/** What the timeline's marks mean; drawn with the timeline's own classes. */
export const TIMELINE_LEGEND = html`<p class="legend">
  ${key(bar('held'), 'held credential')} ${key(bar('replaced'), 'replaced, still valid')}
  ${key(bar('expired'), 'expired')}
  ${key('<line class="refresh-point" x1="0" x2="0" y1="-6" y2="6" />', 'refresh point')}
  ${key('<circle class="refresh success" r="4" />', 'refresh')}
  ${key('<circle class="refresh success forced" r="4" />', 'forced refresh')}
  ${key(triangleKey('transient'), 'transient error')}
  ${key(triangleKey('permanent'), 'permanent error')}
  ${key('<line class="now" x1="0" x2="0" y1="-6" y2="6" />', 'now')}
</p>`

/**
 * The page script's half of the timeline: `drawTimeline(box, timeline, now, target)` redraws
 * {@link timelineSvg}'s drawing from `/status.json`, element by element (no markup is parsed).
 */
export const TIMELINE_SCRIPT = `
  const SVG_NS = 'http://www.w3.org/2000/svg'
  const clockTime = (ms) => new Date(ms).toISOString().slice(11, 19) + ' UTC'
  const round = (v) => Math.round(v * 10) / 10
  const svg = (tag, attrs, text) => {
    const el = document.createElementNS(SVG_NS, tag)
    for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value))
    if (text !== undefined) el.textContent = text
    return el
  }
  /** The element with a tooltip. */
  const titled = (el, title) => {
    el.append(svg('title', {}, title))
    return el
  }
  const rowLabel = (y, label) =>
    svg('text', { class: 'row-label', x: ${LABEL_WIDTH - 8}, y: y + 4, 'text-anchor': 'end' }, label)
  const credentialRow = (c, i, x) => {
    const top = ${TOP_MARGIN} + i * ${ROW_HEIGHT}
    const barY = top + ${(ROW_HEIGHT - BAR_HEIGHT) / 2}
    const title = 'credential #' + c.ordinal + ' (' + c.state + '): issued ' +
      clockTime(c.issued_at_ms) + ', refresh ' + clockTime(c.refresh_at_ms) + ', expires ' +
      clockTime(c.expires_at_ms)
    const bar = svg('rect', {
      class: 'credential ' + c.state,
      'data-ordinal': c.ordinal,
      x: x(c.issued_at_ms),
      y: barY,
      width: round(x(c.expires_at_ms) - x(c.issued_at_ms)),
      height: ${BAR_HEIGHT},
    })
    const point = svg('line', {
      class: 'refresh-point',
      'data-ordinal': c.ordinal,
      x1: x(c.refresh_at_ms),
      x2: x(c.refresh_at_ms),
      y1: barY - 2,
      y2: barY + ${BAR_HEIGHT + 2},
    })
    return [rowLabel(top + ${ROW_HEIGHT / 2}, '#' + c.ordinal), titled(bar, title), point]
  }
  const refreshMark = (r, at, y) => {
    const radius = ${MARK_RADIUS}
    const attrs = {
      class: 'refresh ' + r.outcome + (r.forced ? ' forced' : '') + (r.error_kind ? ' ' + r.error_kind : ''),
      'data-at': r.at_ms,
    }
    const mark = r.outcome === 'success'
      ? svg('circle', { ...attrs, cx: at, cy: y, r: radius })
      : svg('path', {
          ...attrs,
          d: 'M' + at + ' ' + (y - radius) + 'L' + round(at + radius) + ' ' + (y + radius) + 'L' + round(at - radius) +
            ' ' + (y + radius) + 'Z',
        })
    const how = r.outcome === 'success' ? 'succeeded' : 'failed, ' + r.error_class + ' (' + r.error_kind + ')'
    return titled(mark, clockTime(r.at_ms) + ': ' + (r.forced ? 'forced refresh' : 'refresh') + ' ' + how)
  }
  const drawTimeline = (box, t, now, target) => {
    if (!t) {
      const p = document.createElement('p')
      p.textContent = 'no credential or refresh yet'
      box.replaceChildren(p)
      return
    }
    const width = ${VIEW_WIDTH - LABEL_WIDTH - RIGHT_MARGIN}
    const x = (ms) => round(${LABEL_WIDTH} + ((ms - t.from_ms) / (t.to_ms - t.from_ms)) * width)
    const axisY = ${TOP_MARGIN} + (t.credentials.length + 1) * ${ROW_HEIGHT}
    const marksY = axisY - ${ROW_HEIGHT / 2}
    const root = svg('svg', {
      class: 'timeline',
      viewBox: '0 0 ${VIEW_WIDTH} ' + (axisY + ${AXIS_HEIGHT}),
      role: 'img',
      'aria-label': 'credentials and refreshes of ' + target + ' over time',
      'data-from': t.from_ms,
      'data-to': t.to_ms,
    })
    for (const step of t.ticks) {
      const at = x(step.at_ms)
      root.append(
        svg('line', { class: 'tick', x1: at, x2: at, y1: ${TOP_MARGIN}, y2: axisY }),
        svg('text', { class: 'tick-label', x: at, y: axisY + 14, 'text-anchor': 'middle' }, step.label),
      )
    }
    root.append(
      svg('line', { class: 'axis', x1: ${LABEL_WIDTH}, x2: ${VIEW_WIDTH - RIGHT_MARGIN}, y1: axisY, y2: axisY }),
      ...t.credentials.flatMap((c, i) => credentialRow(c, i, x)),
      rowLabel(marksY, 'refreshes'),
      ...t.refreshes.map((r) => refreshMark(r, x(r.at_ms), marksY)),
      titled(svg('line', { class: 'now', x1: x(now), x2: x(now), y1: ${TOP_MARGIN}, y2: axisY }), 'now'),
    )
    box.replaceChildren(root)
  }
`
