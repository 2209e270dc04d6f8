import * as nodeServer from '@hono/node-server'
import * as msw from 'msw'
import postgres from 'postgres'
import { expect, it } from 'vitest'

/**
 * The `oldest-peers` project (vitest.config.ts) runs its suites on the oldest major of each peer
 * the ranges allow, the other projects on the newest: this says which ran.
 */
it('runs on the peer majors its project names (oldest-peers: postgres 3, @hono/node-server 1, msw 2)', async ({
  task,
}) => {
  // Builds a client without connecting; postgres.js 4 added `stats` to it.
  const sql = postgres({ max: 1 })
  const majors = {
    postgres: 'stats' in sql ? 4 : 3,
    '@hono/node-server': 'upgradeWebSocket' in nodeServer ? 2 : 1,
    msw: 'getCleanUrlString' in msw ? 3 : 2,
  }
  await sql.end({ timeout: 0 })
  expect(majors).toEqual(
    task.file.projectName === 'oldest-peers'
      ? { postgres: 3, '@hono/node-server': 1, msw: 2 }
      : { postgres: 4, '@hono/node-server': 2, msw: 3 },
  )
})
