import { z } from 'zod'

/**
 * The shortest and longest database credential lifetime Lakebase Autoscaling mints when asked
 * (`ttl` of `POST /api/2.0/postgres/credentials`); without one it mints an hour's.
 */
export const MIN_CREDENTIAL_TTL_S = 300
export const MAX_CREDENTIAL_TTL_S = 3600

/**
 * One claim narrowing what a database credential may do, passed through to the workspace as
 * given: a permission set (e.g. `READ_ONLY`) over some resources (`{table_name}` or
 * `{unspecified_resource_name}`).
 */
export const databaseClaimSchema = z.strictObject({
  permission_set: z.string().min(1),
  resources: z
    .array(
      z.strictObject({
        table_name: z.string().min(1).optional(),
        unspecified_resource_name: z.string().min(1).optional(),
      }),
    )
    .optional(),
})
export type DatabaseClaim = z.infer<typeof databaseClaimSchema>

/** The claims of one target, as the broker config file gives them. */
export const databaseClaimsSchema = z.array(databaseClaimSchema).min(1)

/** What a target asks for besides its database: all optional, the workspace's defaults else. */
export interface CredentialRequest {
  /** Sent as `claims`. */
  claims?: readonly DatabaseClaim[] | undefined
  /** Sent as `ttl` (Autoscaling only), in seconds, {@link MIN_CREDENTIAL_TTL_S}–{@link MAX_CREDENTIAL_TTL_S}. */
  ttlS?: number | undefined
  /**
   * Sent as `group_name` (Autoscaling only): a workspace group's display name. The token then
   * logs in as the group's Postgres role, and the caller must be a member.
   */
  groupName?: string | undefined
}

/**
 * A lifetime in seconds as the Databricks REST APIs write a protobuf Duration: `"900s"`.
 */
export function durationField(seconds: number): string {
  return `${seconds}s`
}
