import { createHash } from 'node:crypto'
import { html, raw } from 'hono/html'
import { PAGE_SCRIPT } from './page-script.js'
import { pgbouncerSection } from './pgbouncer-section.js'
import type { StatusView, TargetView } from './status-json.js'
import { TIMELINE_LEGEND, TIMELINE_STYLE, timelineSvg } from './timeline-svg.js'

const STYLE = `
  :root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.4; }
  body { margin: 1.5rem auto; max-width: 60rem; padding: 0 1rem; }
  h1 { margin-bottom: 0.25rem; }
  section { border: 1px solid #8884; border-radius: 0.5rem; padding: 0 1rem 1rem; margin: 1rem 0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
  dt { font-weight: 600; }
  dd { margin: 0; overflow-wrap: anywhere; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 0.2rem 0.5rem; border-bottom: 1px solid #8883; }
  small { opacity: 0.7; }
  .badge { border-radius: 0.3rem; padding: 0.05rem 0.4rem; font-size: 0.85em; font-weight: 600; }
  .ok { background: #1a7f3733; } .warn { background: #bf870033; } .bad { background: #cf222e33; }
${TIMELINE_STYLE}`

const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`

/**
 * The page may run its own inline script and style (pinned by hash) and fetch `/status.json`
 * from its own origin; nothing else, and no one may frame it.
 */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(PAGE_SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** `59 m 58 s`, as the page's script counts it. */
export function formatCountdown(ms: number): string {
  const s = Math.floor(ms / 1000)
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  return `${h ? `${h} h ` : ''}${h || m ? `${m} m ` : ''}${s % 60} s`
}

const time = (iso: string | null) => (iso ? `${iso.slice(11, 19)} UTC` : '—')

/** A countdown the script keeps moving; without the script, the value when the page was made. */
function deadline(field: string, at: number | null, now: number, past: string) {
  const text = at === null ? '—' : at > now ? `in ${formatCountdown(at - now)}` : past
  return html`<span data-field="${field}" data-deadline="${at ?? ''}" data-past="${past}">${text}</span>`
}

function lastError(error: TargetView['last_error']): string {
  if (!error) return 'none'
  const upstream =
    (error.upstream_status === null ? '' : `, HTTP ${error.upstream_status}`) +
    (error.upstream_error_code === null ? '' : ` ${error.upstream_error_code}`)
  return `${error.error_class} (${error.kind}), ${time(error.at)}${upstream}: ${error.message}. Fix: ${error.fix}`
}

/** How often a client's refusal report minted a credential, and when it last did. */
export function forcedRefreshes(
  t: Pick<TargetView, 'forced_refreshes' | 'last_forced_refresh_at'>,
) {
  const last = t.last_forced_refresh_at
  return `${t.forced_refreshes}${last ? `, last ${time(last)}` : ''}`
}

function target(t: TargetView, now: number) {
  const state = !t.valid ? 'no valid credential' : t.stale ? 'stale' : 'fresh'
  const tone = !t.valid ? 'bad' : t.stale ? 'warn' : 'ok'
  return html`<section data-target="${t.target}">
    <h2>${t.target} <span data-field="state" class="badge ${tone}">${state}</span></h2>
    <dl>
      <dt>Source</dt>
      <dd data-field="source">${t.source}</dd>
      <dt>User</dt>
      <dd data-field="user">${t.user ?? '—'}</dd>
      <dt>Host</dt>
      <dd data-field="host">${t.host ?? '—'}</dd>
      <dt>Expires</dt>
      <dd>
        ${deadline('expires_in', t.expires_at_ms, now, 'expired')}
        <small data-field="expires_at">${t.expires_at ?? '—'}</small>
      </dd>
      <dt>Next refresh</dt>
      <dd>
        ${deadline('next_refresh_in', t.next_refresh_at_ms, now, 'due now')}
        <small data-field="next_refresh_at">${t.next_refresh_at ?? '—'}</small>
      </dd>
      <dt>Stale</dt>
      <dd data-field="stale">${t.stale ? 'yes: serving the last good credential' : 'no'}</dd>
      <dt>Last success</dt>
      <dd data-field="last_success_at">${time(t.last_success_at)}</dd>
      <dt>Failures in a row</dt>
      <dd data-field="consecutive_failures">${t.consecutive_failures}</dd>
      <dt>Forced refreshes</dt>
      <dd data-field="forced_refreshes">${forcedRefreshes(t)}</dd>
      <dt>Last error</dt>
      <dd data-field="last_error">${lastError(t.last_error)}</dd>
    </dl>
    <h3>Timeline</h3>
    <div data-timeline>${timelineSvg(t.timeline, now, t.target)}</div>
    ${TIMELINE_LEGEND}
    <h3>Last refreshes</h3>
    <table>
      <thead>
        <tr><th>Time</th><th>Outcome</th><th>Duration</th><th>Error class</th></tr>
      </thead>
      <tbody data-list="history">
        ${
          t.history.length === 0
            ? html`<tr><td colspan="4">no refresh yet</td></tr>`
            : t.history.map(
                (r) =>
                  html`<tr>
                    <td>${time(r.at)}</td>
                    <td>${r.outcome}${r.forced ? ' (forced)' : ''}</td>
                    <td>${r.duration_ms} ms</td>
                    <td>${r.error_class ?? '—'}</td>
                  </tr>`,
              )
        }
      </tbody>
    </table>
  </section>`
}

/**
 * The broker's status page, rendered on the server so that it is complete without JavaScript;
 * its inline script then keeps it live. Everything on it comes from {@link StatusView}, which
 * holds no secret.
 */
export function statusPage(view: StatusView) {
  const readiness = view.draining ? 'draining' : view.ready ? 'ready' : 'not ready'
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Lakebase broker</title>
        <style>${raw(STYLE)}</style>
      </head>
      <body data-now="${view.now_ms}">
        <header>
          <h1>Lakebase broker</h1>
          <p>
            <span data-field="readiness" class="badge ${view.ready ? 'ok' : 'bad'}">${readiness}</span>
            as of <span data-field="generated_at">${time(view.generated_at)}</span>
            · <span data-field="poll">reload to update</span>
          </p>
        </header>
        <main>
          ${view.targets.map((t) => target(t, view.now_ms))}
          ${view.pgbouncer ? pgbouncerSection(view.pgbouncer) : ''}
          <section>
            <h2>Requests per caller</h2>
            <table>
              <thead>
                <tr>
                  <th>Caller</th>
                  <th>Last ${view.requests.last_minute_s} s</th>
                  <th>Last ${view.requests.window_s / 60} min</th>
                </tr>
              </thead>
              <tbody data-list="callers">
                ${
                  view.requests.callers.length === 0
                    ? html`<tr><td colspan="3">no requests in the window</td></tr>`
                    : view.requests.callers.map(
                        (c) =>
                          html`<tr><td>${c.caller}</td><td>${c.last_minute}</td><td>${c.total}</td></tr>`,
                      )
                }
              </tbody>
            </table>
          </section>
        </main>
        <script>${raw(PAGE_SCRIPT)}</script>
      </body>
    </html>`
}
