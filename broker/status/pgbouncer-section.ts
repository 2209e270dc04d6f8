import { html } from 'hono/html'
import type { PgbouncerStatus } from '../pgbouncer/pgbouncer.js'

/** One pool as the status page shows it: `SHOW POOLS` with the database's `SHOW STATS` totals. */
export interface PoolView {
  database: string
  clients_active: number
  clients_waiting: number
  servers_active: number
  servers_idle: number
  servers_login: number
  max_wait_s: number
  transactions: number
  avg_transaction_us: number
}

/** The local PgBouncer on the status page and in `/status.json`; no secret. */
export interface PgbouncerView {
  version: string
  up: boolean
  pid: number | null
  socket: string
  tcp: string | null
  pool_mode: string
  restarts: number
  server_connections: number
  refused_logins: number
  /** When the pool figures were read from its admin console. */
  figures_at: string | null
  pools: PoolView[]
}

export function pgbouncerView(status: PgbouncerStatus): PgbouncerView {
  const figures = status.figures
  const stats = new Map((figures?.stats ?? []).map((s) => [s.database, s]))
  return {
    version: status.version,
    up: status.up,
    pid: status.pid ?? null,
    socket: status.socket,
    tcp: status.tcp ?? null,
    pool_mode: status.poolMode,
    restarts: status.restarts,
    server_connections: status.serverConnections,
    refused_logins: status.refusedLogins,
    figures_at: figures ? new Date(figures.at).toISOString() : null,
    pools: (figures?.pools ?? []).map((p) => ({
      database: p.database,
      clients_active: p.clientsActive,
      clients_waiting: p.clientsWaiting,
      servers_active: p.serversActive,
      servers_idle: p.serversIdle,
      servers_login: p.serversLogin,
      max_wait_s: p.maxWaitS,
      transactions: stats.get(p.database)?.transactions ?? 0,
      avg_transaction_us: stats.get(p.database)?.avgTransactionUs ?? 0,
    })),
  }
}

/** The pool table's cells, shared with the page's script (which redraws them as text). */
export const POOL_COLUMNS = [
  'Database',
  'Clients active',
  'Clients waiting',
  'Servers active',
  'Servers idle',
  'Servers logging in',
  'Longest wait',
  'Transactions',
] as const

export function poolCells(p: PoolView): string[] {
  return [
    p.database,
    String(p.clients_active),
    String(p.clients_waiting),
    String(p.servers_active),
    String(p.servers_idle),
    String(p.servers_login),
    `${p.max_wait_s.toFixed(1)} s`,
    String(p.transactions),
  ]
}

/** "up (pid 1234), 1 restart, 12 server connections, 0 refused logins". */
export function pgbouncerSummary(v: PgbouncerView): string {
  const state = v.up ? `up (pid ${v.pid})` : 'down'
  return `${state}, ${v.restarts} restart(s), ${v.server_connections} server connection(s) opened, ${v.refused_logins} login(s) refused`
}

/** The status page's PgBouncer section, a section of its own below the targets. */
export function pgbouncerSection(v: PgbouncerView) {
  return html`<section data-section="pgbouncer">
    <h2>PgBouncer ${v.version} <span data-field="pgbouncer_state" class="badge ${v.up ? 'ok' : 'bad'}">${v.up ? 'up' : 'down'}</span></h2>
    <dl>
      <dt>Socket</dt>
      <dd>${v.socket}</dd>
      <dt>TCP</dt>
      <dd>${v.tcp ?? 'off'}</dd>
      <dt>Pool mode</dt>
      <dd>${v.pool_mode}</dd>
      <dt>Since start</dt>
      <dd data-field="pgbouncer_summary">${pgbouncerSummary(v)}</dd>
    </dl>
    <table>
      <thead>
        <tr>${POOL_COLUMNS.map((c) => html`<th>${c}</th>`)}</tr>
      </thead>
      <tbody data-list="pools">
        ${
          v.pools.length === 0
            ? html`<tr><td colspan="${POOL_COLUMNS.length}">no figures yet</td></tr>`
            : v.pools.map((p) => html`<tr>${poolCells(p).map((c) => html`<td>${c}</td>`)}</tr>`)
        }
      </tbody>
    </table>
  </section>`
}
