import { randomUUID } from 'node:crypto'
import { delay, http } from 'msw'
import type postgres from 'postgres'
import { freePort } from '../test/support/free-port.js'
import { createMockWorkspace, type MockWorkspace } from '../test/testing/workspace/index.js'
import { type MockWorkspaceServer, serveMockWorkspace } from '../testing/serve.js'

/** One database token the workspace minted: for whom, and when (epoch ms). */
export interface MintRecord {
  user: string
  at: number
}

export interface BenchWorkspace {
  readonly workspace: MockWorkspace
  readonly url: string
  /** Every database token minted, in order. */
  readonly mints: MintRecord[]
  /** Credential calls (Provisioned and Autoscaling) that minted a token for `user` so far. */
  mintsFor(user: string): number
  /** A personal access token of the workspace that belongs to `role`. */
  patFor(role: string): string
  /** Broker environment for `role` (Provisioned instance, PAT auth) on this workspace. */
  brokerEnv(role: string): Record<string, string>
  close(): Promise<void>
}

export interface BenchWorkspaceOptions {
  /** Superuser connection to the bench Postgres: every minted token becomes a role's password. */
  admin: postgres.Sql
  /** The identities (Postgres roles) that may call it; the first is the workspace's own. */
  roles: readonly string[]
  lifetimeS: number
  /** Added before every credential answer, as a stand-in for a real workspace's round trip. */
  upstreamLatencyMs: number
  /** Called after each token has become its role's password. */
  onMint?(record: MintRecord): void
}

const quote = (s: string) => s.replaceAll("'", "''")

/**
 * The Databricks workspace of test/testing/workspace on a real loopback socket, as strict as
 * test/support/lakebase-like.ts: every database token it mints becomes its role's only password,
 * `VALID UNTIL` its expiry, so the previous token stops working at login the moment a new one is
 * minted. Several roles share it, each with its own PAT.
 */
export async function startBenchWorkspace(options: BenchWorkspaceOptions): Promise<BenchWorkspace> {
  const [identity, ...others] = options.roles
  if (identity === undefined) throw new Error('a bench workspace needs at least one role')
  const host = `http://127.0.0.1:${await freePort()}`
  const mints: MintRecord[] = []
  // One ALTER ROLE at a time: concurrent ones on the same role fail in Postgres ("tuple
  // concurrently updated"), which would show as workspace errors Databricks never gives.
  let passwords: Promise<unknown> = Promise.resolve()
  const workspace = createMockWorkspace({
    host,
    identity,
    tokenLifetimeS: options.lifetimeS,
    onCredentialMinted: async (token, expiresAt, user) => {
      const set = passwords.then(() =>
        options.admin.unsafe(
          `alter role "${user}" with password '${quote(token)}' valid until '${expiresAt.toISOString()}'`,
        ),
      )
      passwords = set.catch(() => {})
      await set
      const record = { user, at: Date.now() }
      mints.push(record)
      options.onMint?.(record)
    },
  })
  const pats = new Map<string, string>([[identity, workspace.pat]])
  for (const role of others) {
    const pat = `dapi${randomUUID().replaceAll('-', '')}`
    workspace.acceptToken(pat, role)
    pats.set(role, pat)
  }
  // Resolvers that return nothing fall through to the workspace's own handlers.
  const latency = async () => {
    await delay(options.upstreamLatencyMs)
  }
  const server: MockWorkspaceServer = await serveMockWorkspace(host, [
    http.post(`${host}/api/2.0/database/credentials`, latency),
    http.post(`${host}/api/2.0/postgres/credentials`, latency),
    ...workspace.handlers,
  ])
  const patFor = (role: string) => {
    const pat = pats.get(role)
    if (pat === undefined) throw new Error(`no PAT for ${role}`)
    return pat
  }
  return {
    workspace,
    url: server.url,
    mints,
    mintsFor: (user) => mints.filter((m) => m.user === user).length,
    patFor,
    brokerEnv: (role) => ({
      ...workspace.env(),
      DATABRICKS_TOKEN: patFor(role),
    }),
    close: () => server.close(),
  }
}
