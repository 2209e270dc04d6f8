import { z } from 'zod'

/** Where a credential came from; one value per provider. */
export const CREDENTIAL_SOURCES = ['databricks', 'static', 'embedded', 'command'] as const
export type CredentialSource = (typeof CREDENTIAL_SOURCES)[number]

/** libpq's `sslmode` values that this project understands. */
export const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const
export type SslMode = (typeof SSL_MODES)[number]

/** One Postgres login, as a provider fetches it. */
export interface ProviderCredential {
  user: string
  password: string
  host: string
  port: number
  database: string
  ssl: SslMode
  /** The effective expiry: the earliest over the whole chain that produced the password. */
  expiresAt: Date
  /** When the credential was obtained; the refresh schedule measures lifetime from here. */
  issuedAt: Date
  source: CredentialSource
  /**
   * Lakebase Provisioned: the instance's `read_only_dns` (its readable secondaries), when it has
   * one and the host was looked up. The same password logs in there; the broker serves it as the
   * target's read-only companion `<target>-ro`.
   */
  readOnlyHost?: string
}

/**
 * The body of `GET /v1/credentials[/{target}]` and `POST /v1/credentials/{target}/refresh`.
 * `version` is opaque and non-secret; it changes whenever the broker holds a new credential, and a
 * client names it to report that Postgres refused that one.
 */
export const servedCredentialSchema = z.object({
  target: z.string(),
  user: z.string().min(1),
  password: z.string().min(1),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  database: z.string().min(1),
  ssl: z.enum(SSL_MODES),
  expiresAt: z.iso.datetime({ offset: true }),
  refreshAt: z.iso.datetime({ offset: true }),
  stale: z.boolean(),
  source: z.enum(CREDENTIAL_SOURCES),
  version: z.string().min(1).max(128),
  /**
   * In the answer to a refusal report when the broker could not mint a new credential yet (its
   * forced refreshes are rate-limited): the seconds until a report can. The credential is the one
   * reported; it may still work if another connection's older password was the one refused.
   */
  retryAfter: z.number().int().positive().optional(),
  /**
   * With `stale: true`: why the broker's refresh failed, and what a person can do about it. The
   * credential is still valid; Postgres accepts it until `expiresAt`.
   */
  upstreamError: z
    .object({
      errorClass: z.string(),
      kind: z.enum(['transient', 'permanent']),
      message: z.string(),
      fix: z.string(),
      at: z.iso.datetime({ offset: true }),
    })
    .optional(),
})
export type Credential = z.infer<typeof servedCredentialSchema>

/** The body of `POST /v1/credentials/{target}/refresh`: the version Postgres refused. */
export const refusalSchema = z.strictObject({ refused: z.string().min(1).max(128) })
export type Refusal = z.infer<typeof refusalSchema>
