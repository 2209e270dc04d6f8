import { describe, expect, it } from 'vitest'
import type { ClientConfig } from '../../../broker/config.js'
import type { TargetStatus } from '../../../broker/credential-cache.js'
import type { StatusView } from '../../../broker/status/status-json.js'
import { MIN_SPAN_MS, ticks, timelineView } from '../../../broker/status/timeline.js'
import { LABEL_WIDTH, RIGHT_MARGIN, VIEW_WIDTH } from '../../../broker/status/timeline-svg.js'
import { UpstreamError } from '../../../shared/databricks/upstream-error.js'
import { flush, MANUAL_CLOCK_START } from '../../../testing/manual-clock.js'
import { brokerApp } from '../../support/broker-app.js'

const SECOND = 1_000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const T0 = MANUAL_CLOCK_START
const CLIENT_TOKEN = 'timeline-client-token-0123456789'
const clients: ClientConfig[] = [{ name: 'app', token: CLIENT_TOKEN, targets: '*' }]

const status = (parts: Pick<TargetStatus, 'credentials' | 'history'>): TargetStatus => ({
  target: 'default',
  source: 'static',
  valid: true,
  stale: false,
  consecutiveFailures: 0,
  fetching: false,
  forcedRefreshes: 0,
  ...parts,
})

describe('the status timeline', () => {
  it('is null before the first credential or fetch', () => {
    expect(timelineView(status({ credentials: [], history: [] }), T0)).toBeNull()
  })

  it('runs from the first credential or fetch to the last expiry, or now when that is later', () => {
    const credentials = [
      { ordinal: 1, issuedAt: T0, refreshAt: T0 + 30 * MINUTE, expiresAt: T0 + HOUR },
      { ordinal: 2, issuedAt: T0 + 30 * MINUTE, refreshAt: T0 + HOUR, expiresAt: T0 + 90 * MINUTE },
    ]
    const history = [
      { at: T0 - 5 * MINUTE, outcome: 'failure' as const, durationMs: 10, forced: false },
      { at: T0, outcome: 'success' as const, durationMs: 10, forced: false },
    ]
    const view = timelineView(status({ credentials, history }), T0 + 70 * MINUTE)
    expect(view).toMatchObject({
      from_ms: T0 - 5 * MINUTE,
      to_ms: T0 + 90 * MINUTE,
      credentials: [
        { ordinal: 1, state: 'expired' },
        { ordinal: 2, state: 'held' },
      ],
    })
    expect(timelineView(status({ credentials, history }), T0 + 2 * HOUR)?.to_ms).toBe(T0 + 2 * HOUR)
    // A lone failure gets an axis of its own length.
    const lone = timelineView(
      status({ credentials: [], history: history.slice(0, 1) }),
      T0 - 5 * MINUTE,
    )
    expect(lone?.to_ms).toBe(T0 - 5 * MINUTE + MIN_SPAN_MS)
  })

  it.each([
    [45 * SECOND, 15 * SECOND, 'HH:MM:SS'],
    [2 * MINUTE, 30 * SECOND, 'HH:MM:SS'],
    [6 * MINUTE, MINUTE, 'HH:MM'],
    [7 * MINUTE, 5 * MINUTE, 'HH:MM'],
    [135 * MINUTE, 30 * MINUTE, 'HH:MM'],
    [3 * DAY, 12 * HOUR, 'HH:MM'],
    [200 * DAY, 34 * DAY, 'YYYY-MM-DD'],
  ])('over %d ms, ticks every %d ms, labelled %s', (span, step, form) => {
    const from = T0 + 7 * SECOND
    const marks = ticks(from, from + span)
    expect(marks.length).toBeGreaterThanOrEqual(1)
    expect(marks.length).toBeLessThanOrEqual(6)
    for (const [i, mark] of marks.entries()) {
      expect(mark.at_ms % step).toBe(0)
      expect(mark.at_ms).toBeGreaterThanOrEqual(from)
      if (i > 0) expect(mark.at_ms - (marks[i - 1]?.at_ms ?? 0)).toBe(step)
      const iso = new Date(mark.at_ms).toISOString()
      const label = { 'HH:MM:SS': iso.slice(11, 19), 'HH:MM': iso.slice(11, 16) }[form as 'HH:MM']
      expect(mark.label).toBe(label ?? iso.slice(0, 10))
    }
  })

  it('is in /status.json and drawn on the page: credentials, refresh points, forced refreshes and errors by kind, no secret', async () => {
    const { clock, request, warm, providers, caches } = brokerApp({ clients })
    const provider = providers.default
    const cache = caches.get('default')
    const minted = [(await warm()).default]
    await clock.advance(30 * MINUTE)
    minted.push(provider.succeed(HOUR))
    await clock.advance(15 * MINUTE)
    const report = cache?.refused((await cache.get()).version)
    await flush()
    minted.push(provider.succeed(HOUR))
    await report
    await clock.advance(30 * MINUTE)
    provider.fail(
      new UpstreamError('upstream_5xx', 'the workspace answered 503', {
        retryAfterMs: 10 * MINUTE,
      }),
    )
    await clock.advance(10 * MINUTE)
    provider.fail(new UpstreamError('forbidden', 'the workspace answered 403'))
    await flush()

    const view = (await (await request('/status.json')).json()) as StatusView
    expect(view.targets[0]?.timeline).toMatchObject({
      from_ms: T0,
      to_ms: T0 + 105 * MINUTE,
      credentials: [
        { ordinal: 1, issued_at_ms: T0, refresh_at_ms: T0 + 30 * MINUTE, state: 'expired' },
        {
          ordinal: 2,
          issued_at_ms: T0 + 30 * MINUTE,
          expires_at_ms: T0 + 90 * MINUTE,
          state: 'replaced',
        },
        {
          ordinal: 3,
          issued_at_ms: T0 + 45 * MINUTE,
          refresh_at_ms: T0 + 75 * MINUTE,
          state: 'held',
        },
      ],
      refreshes: [
        { at_ms: T0, outcome: 'success', forced: false, error_kind: null },
        { at_ms: T0 + 30 * MINUTE, outcome: 'success', forced: false },
        { at_ms: T0 + 45 * MINUTE, outcome: 'success', forced: true },
        {
          at_ms: T0 + 75 * MINUTE,
          error_class: 'upstream_5xx',
          error_kind: 'transient',
          forced: false,
        },
        { at_ms: T0 + 85 * MINUTE, error_class: 'forbidden', error_kind: 'permanent' },
      ],
    })
    expect(view.targets[0]?.history[2]).toMatchObject({ outcome: 'success', forced: true })

    const page = await (await request('/')).text()
    const x = (ms: number) =>
      LABEL_WIDTH + ((ms - T0) / (105 * MINUTE)) * (VIEW_WIDTH - LABEL_WIDTH - RIGHT_MARGIN)
    const bar =
      /<rect\s+class="credential held"\s+data-ordinal="3"\s+x="([\d.]+)"\s+y="[\d.]+"\s+width="([\d.]+)"/.exec(
        page,
      )
    expect(Number(bar?.[1])).toBeCloseTo(x(T0 + 45 * MINUTE), 0)
    expect(Number(bar?.[2])).toBeCloseTo(x(T0 + 105 * MINUTE) - x(T0 + 45 * MINUTE), 0)
    expect(page).toMatch(/<circle\s+class="refresh success forced"\s+data-at="\d+"/)
    expect(page).toMatch(/<path\s+class="refresh failure permanent"\s+data-at="\d+"/)
    expect(page).toContain('<td>success (forced)</td>')
    const json = JSON.stringify(view)
    for (const credential of minted) {
      expect(page).not.toContain(credential.password)
      expect(json).not.toContain(credential.password)
    }
    expect(page + json).not.toContain(CLIENT_TOKEN)
  })
})
