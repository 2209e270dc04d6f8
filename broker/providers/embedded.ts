import { type CryptoKey, generateKeyPair, SignJWT } from 'jose'
import type postgres from 'postgres'
import { type Clock, systemClock } from '../../shared/client/clock.js'
import type { ProviderCredential } from '../../shared/client/credential.js'
import { toUpstreamError, UpstreamError } from '../../shared/databricks/upstream-error.js'
import type { CredentialProvider } from './provider.js'
import { scramSha256Verifier } from './scram-verifier.js'

/** Lakebase tokens live one hour; the embedded stand-in does the same unless told otherwise. */
export const DEFAULT_EMBEDDED_TOKEN_TTL_S = 3600

export interface EmbeddedProviderOptions {
  /** A superuser connection to `database` on the embedded server: creates the role, sets its password. */
  admin: postgres.Sql
  host: string
  port: number
  database: string
  /** The role to log in as: `LAKEBASE_DEV_USER`, as Lakebase uses the identity as the role. */
  user: string
  tokenTtlS?: number
  clock?: Clock
}

/**
 * The embedded Postgres behaving like Lakebase: each fetch mints a JWT (a local key) whose `sub`
 * is the user, and makes it that role's only password, `VALID UNTIL` its expiry. So a laptop
 * exercises the production login path: the username is the identity, the password is a
 * short-lived token, and an old token stops working at login once it is replaced. The password
 * is set as its SCRAM-SHA-256 verifier, so the token is in no statement Postgres could log.
 */
export class EmbeddedProvider implements CredentialProvider {
  readonly source = 'embedded' as const
  private readonly clock: Clock
  private readonly ttlMs: number
  private key: Promise<CryptoKey> | undefined
  private roleReady = false

  constructor(private readonly options: EmbeddedProviderOptions) {
    this.clock = options.clock ?? systemClock
    this.ttlMs = (options.tokenTtlS ?? DEFAULT_EMBEDDED_TOKEN_TTL_S) * 1000
  }

  async fetch(signal?: AbortSignal): Promise<ProviderCredential> {
    signal?.throwIfAborted()
    const now = this.clock.now()
    const expiresAt = new Date(Math.floor((now + this.ttlMs) / 1000) * 1000)
    const token = await new SignJWT({ scope: 'postgres' })
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject(this.options.user)
      .setIssuer('lakebase-embedded')
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(await this.signingKey())
    try {
      await this.ensureRole()
      // The token's SCRAM verifier, not the token: Postgres may log the statement's text.
      const verifier = await scramSha256Verifier(token)
      signal?.throwIfAborted()
      const { admin, user } = this.options
      // ALTER ROLE takes no bind parameters; the verifier is base64 and `$:`, quoted anyway.
      const alter = admin.unsafe(
        `alter role ${quoteIdent(user)} with login password ${quoteLiteral(verifier)} valid until ${quoteLiteral(expiresAt.toISOString())}`,
      )
      // The cache's deadline (or its stop) cancels the statement: a role locked by another
      // session would otherwise hold the fetch, and the target, for as long as the lock lasts.
      const cancel = () => void alter.cancel()
      signal?.addEventListener('abort', cancel, { once: true })
      try {
        await alter
      } finally {
        signal?.removeEventListener('abort', cancel)
      }
    } catch (err) {
      if (signal?.aborted) throw toUpstreamError(signal.reason)
      throw toUpstreamError(err)
    }
    return {
      user: this.options.user,
      password: token,
      host: this.options.host,
      port: this.options.port,
      database: this.options.database,
      ssl: 'disable',
      issuedAt: new Date(now),
      expiresAt,
      source: 'embedded',
    }
  }

  describe() {
    const { host, port, database, user } = this.options
    return { source: this.source, host, port, database, user, tokenTtlS: this.ttlMs / 1000 }
  }

  private signingKey(): Promise<CryptoKey> {
    this.key ??= generateKeyPair('ES256').then((pair) => pair.privateKey)
    return this.key
  }

  /** The role exists, may log in, and owns what the app needs: the database and its schema. */
  private async ensureRole(): Promise<void> {
    if (this.roleReady) return
    const { admin, user, database } = this.options
    const [existing] = await admin`select 1 from pg_roles where rolname = ${user}`
    if (!existing) await admin.unsafe(`create role ${quoteIdent(user)} with login`)
    await admin.unsafe(
      `grant all privileges on database ${quoteIdent(database)} to ${quoteIdent(user)}`,
    )
    await admin.unsafe(`alter schema public owner to ${quoteIdent(user)}`)
    this.roleReady = true
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new UpstreamError('config', 'a NUL byte in a role setting')
  return `'${value.replaceAll("'", "''")}'`
}
