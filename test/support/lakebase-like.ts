import type { MockWorkspaceServer } from '../../testing/serve.js'
import {
  createMockWorkspace,
  type MockWorkspace,
  type MockWorkspaceOptions,
} from '../testing/workspace/index.js'
import { freePort } from './free-port.js'
import { adminSql, createTestDatabase, type TestDatabase } from './postgres.js'

export interface LakebaseLike {
  workspace: MockWorkspace
  server: MockWorkspaceServer
  db: TestDatabase
  /** The Postgres role: the workspace identity, as on Lakebase. */
  role: string
  /** Environment for a broker pointed at this workspace and database. */
  brokerEnv: Record<string, string>
  close(): Promise<void>
}

const quote = (s: string) => s.replaceAll("'", "''")

/**
 * A Lakebase stand-in as strict as can be: a mock workspace on loopback whose every minted
 * database token becomes the role's only password on a real Postgres, `VALID UNTIL` its
 * expiry — so the previous token stops working at login the moment a new one is minted.
 */
export async function lakebaseLike(options: {
  lifetimeS: number
  identity?: string
  /**
   * `owner` (default): the role owns the schema `public`, like an instance owner. `apps`: only
   * CONNECT and CREATE on the database, exactly what a Databricks App's database resource grants
   * its service principal (so, on Postgres 15+, no CREATE in `public`).
   */
  grants?: 'owner' | 'apps'
  /** More workspace options, e.g. `clientId` (the role of an OAuth M2M service principal) or `instances`. */
  workspace?: Omit<
    MockWorkspaceOptions,
    'host' | 'identity' | 'tokenLifetimeS' | 'onCredentialMinted'
  >
}): Promise<LakebaseLike> {
  const role = options.identity ?? `user-${Math.random().toString(36).slice(2, 8)}@example.com`
  const db = await createTestDatabase('lb')
  const admin = adminSql()
  await admin.unsafe(`create role "${role}" with login`)
  if (options.grants === 'apps') {
    await admin.unsafe(`grant connect, create on database "${db.database}" to "${role}"`)
  } else {
    await admin.unsafe(`grant all privileges on database "${db.database}" to "${role}"`)
    await db.sql.unsafe(`alter schema public owner to "${role}"`)
  }
  const workspace = createMockWorkspace({
    ...options.workspace,
    host: `http://127.0.0.1:${await freePort()}`,
    identity: role,
    tokenLifetimeS: options.lifetimeS,
    onCredentialMinted: async (token, expiresAt, user) => {
      await admin.unsafe(
        `alter role "${user}" with password '${quote(token)}' valid until '${expiresAt.toISOString()}'`,
      )
    },
  })
  const server = await workspace.listen()
  return {
    workspace,
    server,
    db,
    role,
    brokerEnv: {
      ...workspace.env(),
      PGHOST: db.host,
      PGPORT: String(db.port),
      PGDATABASE: db.database,
      PGSSLMODE: 'disable',
    },
    async close() {
      await server.close()
      await db.drop()
      await admin.unsafe(`drop role if exists "${role}"`).catch(() => {})
      await admin.end()
    },
  }
}
