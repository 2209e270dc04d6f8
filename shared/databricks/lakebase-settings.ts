import { z } from 'zod'
import { SSL_MODES, type SslMode } from '../client/credential.js'
import {
  type CredentialRequest,
  type DatabaseClaim,
  MAX_CREDENTIAL_TTL_S,
  MIN_CREDENTIAL_TTL_S,
} from './credential-request.js'
import {
  invalidSettings,
  optionalSetting as optional,
  type WorkspaceAuthSettings,
  workspaceAuthSettings,
  workspaceEnvSchema,
} from './workspace-settings.js'

export type { WorkspaceAuthSettings }

/** Lakebase's default database in every instance and branch. */
export const DEFAULT_DATABASE = 'databricks_postgres'
/** Postgres' standard port, which Lakebase uses too. */
export const DEFAULT_PORT = 5432

/** An Autoscaling endpoint's resource path, as Databricks Apps put it in `LAKEBASE_ENDPOINT`. */
const ENDPOINT_PATH = /^projects\/[^/\s]+\/branches\/[^/\s]+\/endpoints\/[^/\s]+$/

/** Which Lakebase database the credentials are for. */
export type LakebaseTarget =
  | {
      kind: 'provisioned'
      instanceName: string
      /** Connect to the instance's readable secondaries (`read_only_dns`), not its primary. */
      readOnly?: true
    }
  | { kind: 'autoscaling'; endpoint: string }

/** Where Postgres listens and how to log in, apart from the password. */
export interface PostgresSettings {
  /** Given host; undefined means "look it up from the instance or endpoint". */
  host: string | undefined
  port: number
  database: string
  /**
   * Given role (`PGUSER`); undefined means "the token's `sub`, else SCIM Me". A group credential
   * logs in as the group's role instead.
   */
  user: string | undefined
  ssl: SslMode
}

/** Everything the `databricks` provider and its workspace authentication need. */
export interface DatabricksSettings {
  workspace: WorkspaceAuthSettings
  target: LakebaseTarget
  postgres: PostgresSettings
  /** Claims and lifetime to ask each database credential for; empty for the workspace's defaults. */
  credential: CredentialRequest
}

/** What a target's settings take from outside its environment: the broker config file. */
export interface TargetExtras {
  /** The target's `claims` in the broker config file (already validated there). */
  claims?: readonly DatabaseClaim[] | undefined
}

const TTL_RANGE = `must be ${MIN_CREDENTIAL_TTL_S}–${MAX_CREDENTIAL_TTL_S} (seconds)`

const port = z.preprocess(
  (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
  z
    .string()
    .trim()
    .regex(/^\d+$/, { error: 'must be a port number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(1, { error: 'must be 1–65535' })
        .max(65535, { error: 'must be 1–65535' }),
    )
    .optional(),
)

const envSchema = workspaceEnvSchema.extend({
  LAKEBASE_INSTANCE_NAME: optional,
  LAKEBASE_ENDPOINT: optional.pipe(
    z
      .string()
      .regex(ENDPOINT_PATH, { error: 'must look like projects/<p>/branches/<b>/endpoints/<e>' })
      .optional(),
  ),
  PGHOST: optional,
  LAKEBASE_HOST: optional,
  PGPORT: port,
  LAKEBASE_PORT: port,
  PGDATABASE: optional,
  LAKEBASE_DATABASE: optional,
  PGUSER: optional,
  PGSSLMODE: optional.pipe(
    z.enum(SSL_MODES, { error: `must be one of ${SSL_MODES.join(', ')}` }).optional(),
  ),
  LAKEBASE_READ_ONLY: optional.pipe(
    z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  ),
  LAKEBASE_GROUP: optional,
  LAKEBASE_CREDENTIAL_TTL_S: optional.pipe(
    z
      .string()
      .regex(/^\d+$/, { error: 'must be a whole number of seconds' })
      .transform(Number)
      .pipe(
        z
          .number()
          .min(MIN_CREDENTIAL_TTL_S, { error: TTL_RANGE })
          .max(MAX_CREDENTIAL_TTL_S, { error: TTL_RANGE }),
      )
      .optional(),
  ),
})

/**
 * Reads the `databricks` provider's settings from environment variables, once, at start-up.
 *
 * | setting | variables, first set wins | default |
 * |---|---|---|
 * | workspace, credentials, profile, CLI | `DATABRICKS_*` | see `workspaceAuthSettings` (shared/databricks) |
 * | database | exactly one of `LAKEBASE_INSTANCE_NAME` (Provisioned), `LAKEBASE_ENDPOINT` (Autoscaling) | — |
 * | host | `PGHOST`, `LAKEBASE_HOST` | looked up from the instance or endpoint |
 * | port | `PGPORT`, `LAKEBASE_PORT` | 5432 |
 * | database name | `PGDATABASE`, `LAKEBASE_DATABASE` | `databricks_postgres` |
 * | user | `PGUSER` | the token's `sub`, else SCIM Me |
 * | TLS | `PGSSLMODE` | `require` |
 * | read replicas (Provisioned) | `LAKEBASE_READ_ONLY=true`: the host is the instance's `read_only_dns` (without it the broker still offers it as `<target>-ro`) | `false` |
 * | credential lifetime (Autoscaling) | `LAKEBASE_CREDENTIAL_TTL_S`, 300–3600 | the workspace's (1 h) |
 * | group role (Autoscaling) | `LAKEBASE_GROUP`: a workspace group's display name; the credential is the group's (`group_name`) and the user is the group's role | the caller's own |
 * | claims | the target's `claims` in the broker config file | none |
 *
 * `PG*` wins over `LAKEBASE_*` because Databricks Apps set the `PG*` ones for the app's database
 * resource.
 *
 * @throws Error (a configuration error) naming each offending variable, never its value.
 */
export function databricksSettingsFromEnv(
  env: Record<string, string | undefined>,
  extras: TargetExtras = {},
): DatabricksSettings {
  const e = parseEnv(env)

  if ((e.LAKEBASE_INSTANCE_NAME === undefined) === (e.LAKEBASE_ENDPOINT === undefined)) {
    throw new Error(
      e.LAKEBASE_INSTANCE_NAME === undefined
        ? 'set LAKEBASE_INSTANCE_NAME (Lakebase Provisioned) or LAKEBASE_ENDPOINT (Lakebase Autoscaling) to name the database'
        : 'set only one of LAKEBASE_INSTANCE_NAME (Lakebase Provisioned) and LAKEBASE_ENDPOINT (Lakebase Autoscaling), not both',
    )
  }
  const target: LakebaseTarget =
    e.LAKEBASE_INSTANCE_NAME !== undefined
      ? {
          kind: 'provisioned',
          instanceName: e.LAKEBASE_INSTANCE_NAME,
          ...(e.LAKEBASE_READ_ONLY === 'true' ? { readOnly: true as const } : {}),
        }
      : { kind: 'autoscaling', endpoint: e.LAKEBASE_ENDPOINT as string }

  if (e.LAKEBASE_READ_ONLY === 'true' && target.kind !== 'provisioned') {
    // An Autoscaling read replica is an endpoint of its own, named like any other.
    throw new Error(
      'LAKEBASE_READ_ONLY applies to a Lakebase Provisioned instance; for Autoscaling, set LAKEBASE_ENDPOINT to the read-only endpoint',
    )
  }

  if (e.LAKEBASE_CREDENTIAL_TTL_S !== undefined && target.kind !== 'autoscaling') {
    // Provisioned's credential call takes no lifetime; a silently ignored setting would mislead.
    throw new Error(
      'LAKEBASE_CREDENTIAL_TTL_S applies to Lakebase Autoscaling (LAKEBASE_ENDPOINT) only; unset it for an instance',
    )
  }

  if (e.LAKEBASE_GROUP !== undefined && target.kind !== 'autoscaling') {
    // Provisioned's credential call takes no group_name (the SDK's service/database.py).
    throw new Error(
      'LAKEBASE_GROUP applies to Lakebase Autoscaling (LAKEBASE_ENDPOINT) only: Provisioned mints no group credential; unset it for an instance',
    )
  }

  if (e.PGUSER !== undefined && isTokenPlaceholderUser(e.PGUSER)) {
    throw new Error(TOKEN_USER_TRAP)
  }

  return {
    workspace: workspaceAuthSettings(e),
    target,
    postgres: {
      host: e.PGHOST ?? e.LAKEBASE_HOST,
      port: e.PGPORT ?? e.LAKEBASE_PORT ?? DEFAULT_PORT,
      database: e.PGDATABASE ?? e.LAKEBASE_DATABASE ?? DEFAULT_DATABASE,
      user: e.PGUSER,
      ssl: e.PGSSLMODE ?? 'require',
    },
    credential: {
      ...(extras.claims === undefined ? {} : { claims: extras.claims }),
      ...(e.LAKEBASE_CREDENTIAL_TTL_S === undefined ? {} : { ttlS: e.LAKEBASE_CREDENTIAL_TTL_S }),
      ...(e.LAKEBASE_GROUP === undefined ? {} : { groupName: e.LAKEBASE_GROUP }),
    },
  }
}

type ParsedEnv = z.infer<typeof envSchema>

function parseEnv(env: Record<string, string | undefined>): ParsedEnv {
  const parsed = envSchema.safeParse(env)
  if (!parsed.success) throw invalidSettings(parsed.error)
  return parsed.data
}

/**
 * True for the user name `token`, which some tools put in PGUSER next to a token password;
 * Lakebase has no such role (`role "token" does not exist`).
 */
export function isTokenPlaceholderUser(user: string): boolean {
  return user.trim().toLowerCase() === 'token'
}

/** The explanation given whenever the user `token` shows up. */
export const TOKEN_USER_TRAP =
  "PGUSER is \"token\", but Lakebase logs in as the identity that owns the token (a user's email or a service principal's application id); unset PGUSER to use the token's own identity, or set it to that role"
