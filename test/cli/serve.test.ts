import { readdir } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { tempDir } from '../support/broker.js'
import { freePort } from '../support/free-port.js'
import { spawnTs } from '../support/process.js'

describe('lakebase-broker serve', () => {
  it('stopped by SIGTERM while it waits for the database, exits 0 and leaves no socket folder', async () => {
    const tmp = await tempDir('lakebase-serve-tmp-')
    const child = spawnTs('cli/main.ts', ['serve'], {
      TMPDIR: tmp,
      XDG_CONFIG_HOME: await tempDir('lakebase-xdg-'),
      // A Postgres that is not there (yet): serve keeps retrying the migrations.
      PGHOST: '127.0.0.1',
      PGPORT: String(await freePort()),
      PGUSER: 'app',
      PGPASSWORD: 'not-a-real-password',
      PGSSLMODE: 'disable',
      PORT: String(await freePort()),
      BROKER_DRAIN_S: '0',
    })
    await child.waitFor('database not ready for migrations; retrying', 30_000)
    expect((await readdir(tmp)).filter((f) => f.startsWith('lakebase-serve-'))).toHaveLength(1)

    child.child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
    // (tsx keeps its compile cache in TMPDIR too.)
    expect((await readdir(tmp)).filter((f) => f.startsWith('lakebase-serve-'))).toEqual([])
    expect(child.output()).not.toContain('not-a-real-password')
  }, 60_000)
})
