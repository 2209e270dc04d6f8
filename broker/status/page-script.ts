import { TIMELINE_SCRIPT } from './timeline-svg.js'

/**
 * How often the page asks `/status.json` for news: a rotation or a failure shows within two
 * seconds, and a page left open costs the broker one small request every two seconds.
 */
export const POLL_INTERVAL_MS = 2_000
/** Countdowns are redrawn this often, so a second never visibly skips. */
export const TICK_INTERVAL_MS = 250

/**
 * The status page's only script, inline (its hash is in the page's CSP): counts down to each
 * target's expiry and next refresh on the broker's clock, and redraws the page's live parts (the
 * timelines included) from `/status.json`. Everything it writes goes in as text, never as HTML.
 * Without it the page is the server's rendering, complete but still.
 */
export const PAGE_SCRIPT = `(() => {
  'use strict'
  let offset = Number(document.body.dataset.now) - Date.now()
  const time = (iso) => (iso ? iso.slice(11, 19) + ' UTC' : '—')
  const countdown = (ms) => {
    const s = Math.floor(ms / 1000)
    const h = Math.floor(s / 3600)
    const m = Math.floor((s % 3600) / 60)
    return (h ? h + ' h ' : '') + (h || m ? m + ' m ' : '') + (s % 60) + ' s'
  }
  const field = (root, name) => root.querySelector('[data-field="' + name + '"]')
  const set = (root, name, text) => {
    const el = field(root, name)
    if (el) el.textContent = text
  }
  const tick = () => {
    const now = Date.now() + offset
    for (const el of document.querySelectorAll('[data-deadline]')) {
      const at = el.dataset.deadline === '' ? NaN : Number(el.dataset.deadline)
      el.textContent = Number.isNaN(at) ? '—' : at > now ? 'in ' + countdown(at - now) : el.dataset.past
    }
  }
${TIMELINE_SCRIPT}
  const rows = (tbody, items, cells, empty, span) => {
    const cell = (text) => {
      const td = document.createElement('td')
      td.textContent = text
      return td
    }
    tbody.replaceChildren(
      ...items.map((item) => {
        const tr = document.createElement('tr')
        tr.append(...cells(item).map(cell))
        return tr
      }),
    )
    if (items.length === 0) {
      const td = cell(empty)
      td.colSpan = span
      const tr = document.createElement('tr')
      tr.append(td)
      tbody.append(tr)
    }
  }
  const render = (view) => {
    offset = view.now_ms - Date.now()
    const readiness = field(document, 'readiness')
    readiness.textContent = view.draining ? 'draining' : view.ready ? 'ready' : 'not ready'
    readiness.className = 'badge ' + (view.ready ? 'ok' : 'bad')
    set(document, 'generated_at', time(view.generated_at))
    for (const t of view.targets) {
      const section = document.querySelector('[data-target="' + CSS.escape(t.target) + '"]')
      if (!section) continue
      const state = !t.valid ? 'no valid credential' : t.stale ? 'stale' : 'fresh'
      const badge = field(section, 'state')
      badge.textContent = state
      badge.className = 'badge ' + (!t.valid ? 'bad' : t.stale ? 'warn' : 'ok')
      set(section, 'source', t.source)
      set(section, 'user', t.user ?? '—')
      set(section, 'host', t.host ?? '—')
      set(section, 'stale', t.stale ? 'yes: serving the last good credential' : 'no')
      set(section, 'expires_at', t.expires_at ?? '—')
      set(section, 'next_refresh_at', t.next_refresh_at ?? '—')
      set(section, 'last_success_at', time(t.last_success_at))
      set(section, 'consecutive_failures', String(t.consecutive_failures))
      set(
        section,
        'forced_refreshes',
        t.forced_refreshes + (t.last_forced_refresh_at ? ', last ' + time(t.last_forced_refresh_at) : ''),
      )
      const e = t.last_error
      set(
        section,
        'last_error',
        e
          ? e.error_class + ' (' + e.kind + '), ' + time(e.at) +
              (e.upstream_status === null ? '' : ', HTTP ' + e.upstream_status) +
              (e.upstream_error_code === null ? '' : ' ' + e.upstream_error_code) + ': ' + e.message +
              '. Fix: ' + e.fix
          : 'none',
      )
      field(section, 'expires_in').dataset.deadline = t.expires_at_ms ?? ''
      field(section, 'next_refresh_in').dataset.deadline = t.next_refresh_at_ms ?? ''
      drawTimeline(section.querySelector('[data-timeline]'), t.timeline, view.now_ms, t.target)
      rows(
        section.querySelector('[data-list="history"]'),
        t.history,
        (r) => [
          time(r.at),
          r.outcome + (r.forced ? ' (forced)' : ''),
          r.duration_ms + ' ms',
          r.error_class ?? '—',
        ],
        'no refresh yet',
        4,
      )
    }
    const pooler = document.querySelector('[data-section="pgbouncer"]')
    const p = view.pgbouncer
    if (pooler && p) {
      const badge = field(pooler, 'pgbouncer_state')
      badge.textContent = p.up ? 'up' : 'down'
      badge.className = 'badge ' + (p.up ? 'ok' : 'bad')
      set(
        pooler,
        'pgbouncer_summary',
        (p.up ? 'up (pid ' + p.pid + ')' : 'down') + ', ' + p.restarts + ' restart(s), ' +
          p.server_connections + ' server connection(s) opened, ' + p.refused_logins + ' login(s) refused',
      )
      rows(
        pooler.querySelector('[data-list="pools"]'),
        p.pools,
        (q) => [q.database, String(q.clients_active), String(q.clients_waiting), String(q.servers_active),
          String(q.servers_idle), String(q.servers_login), q.max_wait_s.toFixed(1) + ' s', String(q.transactions)],
        'no figures yet',
        8,
      )
    }
    rows(
      document.querySelector('[data-list="callers"]'),
      view.requests.callers,
      (c) => [c.caller, String(c.last_minute), String(c.total)],
      'no requests in the window',
      3,
    )
    tick()
  }
  const poll = async () => {
    try {
      const response = await fetch('status.json', { cache: 'no-store', credentials: 'omit' })
      if (!response.ok) throw new Error('HTTP ' + response.status)
      render(await response.json())
      set(document, 'poll', 'live, updated every ${POLL_INTERVAL_MS / 1000} s')
    } catch {
      set(document, 'poll', 'status.json is not answering; retrying')
    }
  }
  tick()
  setInterval(tick, ${TICK_INTERVAL_MS})
  setInterval(poll, ${POLL_INTERVAL_MS})
})()
`
