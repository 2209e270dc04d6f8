import { describe, expect, it } from 'vitest'
import { parseLogLine, RefusedLogins } from '../../../broker/pgbouncer/log-lines.js'
import {
  RESTART_BASE_MS,
  RESTART_MAX_MS,
  restartDelayMs,
} from '../../../broker/pgbouncer/supervisor.js'

/** Lines as PgBouncer 1.18 wrote them in a session against a strict Postgres. */
const at = '2026-12-07 10:14:32.926 UTC [26402]'

describe("PgBouncer's log lines", () => {
  it.each([
    [
      `${at} LOG process up: PgBouncer 1.18.0, libevent 2.1.12-stable (epoll)`,
      'debug',
      { kind: 'up' },
    ],
    [`${at} LOG got SIGHUP, re-reading config`, 'debug', { kind: 'reloading' }],
    [
      `${at} WARNING cannot listen on 127.0.0.1:16499: bind(): Address already in use`,
      'warn',
      { kind: 'listen-failed' },
    ],
    [
      `${at} LOG S-0x55bd7a38a7a0: app/app@127.0.0.1:15999 new connection to server (from 127.0.0.1:52712)`,
      'debug',
      { kind: 'server-connection', server: 'S-0x55bd7a38a7a0', database: 'app' },
    ],
    [
      `${at} ERROR S: login failed: FATAL: password authentication failed for user "app"`,
      'error',
      { kind: 'password-refused' },
    ],
    [
      `${at} WARNING server login failed: FATAL password authentication failed for user "app"`,
      'warn',
      { kind: 'password-refused' },
    ],
    [
      `${at} LOG S-0x55bd7a38a7a0: reporting-ro/app@127.0.0.1:15999 closing because: login failed (age=0s)`,
      'debug',
      { kind: 'login-failed', server: 'S-0x55bd7a38a7a0', database: 'reporting-ro' },
    ],
    [
      `${at} LOG S-0x55bd7a38a7a0: app/app@127.0.0.1:15999 closing because: server lifetime over (age=1s)`,
      'debug',
      { kind: 'server-closed', server: 'S-0x55bd7a38a7a0' },
    ],
    [
      `${at} LOG C-0x55bd7a3830c0: app/root@unix(1726):16432 login attempt: db=app user=root tls=no`,
      'debug',
      { kind: 'other' },
    ],
    [`${at} FATAL PgBouncer should not run as root`, 'fatal', { kind: 'other' }],
    ['something PgBouncer did not format', 'info', { kind: 'other' }],
  ])('%s', (line, level, event) => {
    expect(parseLogLine(line)).toMatchObject({ level, event })
  })

  it('drop the timestamp and pid', () => {
    expect(parseLogLine(`${at} LOG got SIGHUP, re-reading config`).text).toBe(
      'got SIGHUP, re-reading config',
    )
  })
})

describe('RefusedLogins', () => {
  const event = (line: string) => parseLogLine(`${at} ${line}`).event
  const opened = (server: string) =>
    event(`LOG ${server}: shop/u@h:5432 new connection to server (from 127.0.0.1:5)`)
  const failed = (server: string) =>
    event(`LOG ${server}: shop/u@h:5432 closing because: login failed (age=0s)`)

  it('names the database of a login the server refused, and what was loaded when its connection began', () => {
    const refusals = new RefusedLogins<string>()
    expect(refusals.feed(opened('S-0x1'), 'v1')).toBeUndefined()
    expect(
      refusals.feed(event('ERROR S: login failed: FATAL: password authentication failed'), 'v2'),
    ).toBeUndefined()
    expect(refusals.feed(failed('S-0x1'), 'v2')).toEqual({ database: 'shop', startedWith: 'v1' })
  })

  it('ignores a login that failed for another reason (a server down, a missing database)', () => {
    const refusals = new RefusedLogins<string>()
    refusals.feed(opened('S-0x1'), 'v1')
    refusals.feed(event('ERROR S: login failed: FATAL: database "x" does not exist'), 'v1')
    expect(refusals.feed(failed('S-0x1'), 'v1')).toBeUndefined()
  })

  it('reports each refusal once, and forgets a connection once it is closed', () => {
    const refusals = new RefusedLogins<string>()
    refusals.feed(opened('S-0x1'), 'v1')
    refusals.feed(event('LOG S-0x1: shop/u@h:5432 closing because: server lifetime over'), 'v1')
    refusals.feed(event('WARNING server login failed: FATAL password authentication failed'), 'v2')
    // The same name, reused by a connection the log did not show opening.
    expect(refusals.feed(failed('S-0x1'), 'v2')).toEqual({
      database: 'shop',
      startedWith: undefined,
    })
    expect(refusals.feed(failed('S-0x1'), 'v2')).toBeUndefined()
  })
})

describe('restartDelayMs', () => {
  it.each([
    [1, 0, RESTART_BASE_MS / 2],
    [1, 0.999_999, RESTART_BASE_MS],
    [2, 0, RESTART_BASE_MS],
    [3, 0, RESTART_BASE_MS * 2],
    [100, 0, RESTART_MAX_MS / 2],
    [100, 0.999_999, RESTART_MAX_MS],
  ])('after %i failure(s) with jitter %d waits about %d ms', (failures, random, ms) => {
    expect(restartDelayMs(failures, random)).toBeCloseTo(ms, 0)
  })
})
