import { randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { getTableName } from 'drizzle-orm'
import postgres from 'postgres'
import { type ConfigError, chooseProvider, type ProviderKind } from '../../broker/config.js'
import { suggestedFix } from '../../broker/suggested-fix.js'
import { migrationStatus } from '../../functions/db/migration-status.js'
import { modelInferenceLogs, userPreferences } from '../../functions/db/schema.js'
import { connectBroker, DEFAULT_BROKER_URL } from '../../shared/client/broker-client.js'
import { clientBrokerToken } from '../../shared/client/broker-token.js'
import type { SslMode } from '../../shared/client/credential.js'
import { LakebaseError } from '../../shared/client/errors.js'
import { isLoopbackHost } from '../../shared/client/loopback.js'
import { sqlstateOf } from '../../shared/client/sqlstate.js'
import { sslOption } from '../../shared/client/tls.js'
import { autoscalingDatabaseToken } from '../../shared/databricks/autoscaling.js'
import {
  endpointUnservable,
  provisionedUnservable,
} from '../../shared/databricks/database-state.js'
import { databaseTokenExpiry, readTokenClaims } from '../../shared/databricks/database-token.js'
import { givenHostProblem, isCheckableHost } from '../../shared/databricks/host-check.js'
import {
  type DatabricksSettings,
  databricksSettingsFromEnv,
  isTokenPlaceholderUser,
} from '../../shared/databricks/lakebase-settings.js'
import { getDatabase, type LakebaseDatabase } from '../../shared/databricks/list-databases.js'
import { resolvePostgresUser } from '../../shared/databricks/postgres-user.js'
import { provisionedDatabaseToken } from '../../shared/databricks/provisioned.js'
import { UpstreamError } from '../../shared/databricks/upstream-error.js'
import type { BoundWorkspaceCall } from '../../shared/databricks/workspace-http.js'
import { CONNECT_TIMEOUT_S } from '../../shared/postgres/create-sql.js'
import { type Env, envValue, loadEnv } from '../../shared/process/env.js'
import { pgPortFrom, sslModeFrom } from '../../shared/process/pg-settings.js'
import { renderTable } from './table.js'
import { probeTls } from './tls-probe.js'
import { openWorkspace, type WorkspaceSession } from './workspace.js'

export const DOCTOR_HELP = `Usage: npm run doctor [-- --dir DIR]

Checks every link between this project and its database, in order, and prints one table:

  settings        the variables name a workspace and a Lakebase database (or a local Postgres)
  workspace auth  signing in to the workspace (PAT, OAuth M2M, profile or CLI, as the broker)
  instance state  the instance is AVAILABLE (the endpoint ACTIVE or IDLE, and not disabled)
  host            a given PGHOST is one of the hosts the instance or endpoint lists
  credential      the workspace mints a database token for it
  username        the Postgres role: LAKEBASE_GROUP's group role, else PGUSER, else the token's
                  identity (never "token")
  TLS             the server offers TLS (and its certificate verifies, with verify-full)
  Postgres login  logging in with that role and token
  migrations      every migration in migrations/ is applied
  grants          the role may use and create in its schema and read and write the tables
  broker          the broker (LAKEBASE_BROKER_URL) answers with a credential

A check that needs a failed one is shown as skipped. Each failure says how to fix it. Exits 1 when
a link is broken, 0 when all pass. Reads the environment and .env.local (in --dir, default here).`

export type CheckStatus = 'pass' | 'FAIL' | 'skip' | 'n/a'

/** One row of the doctor's table. */
export interface CheckResult {
  check: string
  status: CheckStatus
  detail: string
  fix?: string
}

export interface DoctorIo {
  env: Env
  cwd: string
  out: (text: string) => void
}

/** Everything an earlier check learned that a later one needs. */
interface Facts {
  env: Env
  provider?: ProviderKind
  settings?: DatabricksSettings
  session?: WorkspaceSession
  call?: BoundWorkspaceCall
  database?: LakebaseDatabase
  password?: string
  tokenSubject?: string | undefined
  user?: string
  host?: string
  port?: number
  dbName?: string
  ssl?: SslMode
}

/** A check: its name, the checks it needs, and how it runs. */
interface Check {
  name: string
  needs: readonly string[]
  run(facts: Facts): Promise<Omit<CheckResult, 'check'>>
}

/** The options of `doctor` (besides `--help`). */
export const DOCTOR_OPTIONS = { dir: { type: 'string' } } as const

/** `npm run doctor`: prints the table, returns the exit code. */
export async function doctor(argv: readonly string[], io: DoctorIo): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { help: { type: 'boolean', short: 'h' }, ...DOCTOR_OPTIONS },
  })
  if (values.help) {
    io.out(DOCTOR_HELP)
    return 0
  }
  const env = loadEnv(resolve(io.cwd, values.dir ?? '.'), io.env)
  const results = await runChecks(env)
  io.out(
    renderTable(
      ['check', 'result', 'detail'],
      results.map((r) => ({
        cells: [r.check, r.status, r.detail],
        ...(r.status === 'FAIL' && r.fix ? { note: `fix: ${r.fix}` } : {}),
      })),
    ),
  )
  const broken = results.filter((r) => r.status === 'FAIL')
  io.out(
    broken.length === 0
      ? '\nEvery link works.'
      : `\n${broken.length} broken: ${broken.map((r) => r.check).join(', ')}. Fix the first one, then run npm run doctor again.`,
  )
  return broken.length === 0 ? 0 : 1
}

/** Runs every check in order; one whose needs did not pass is skipped. */
export async function runChecks(env: Env): Promise<CheckResult[]> {
  const facts: Facts = { env }
  const results: CheckResult[] = []
  const outcome = new Map<string, CheckStatus>()
  for (const check of CHECKS) {
    // A check that does not apply (n/a) blocks nothing: the static provider has no workspace.
    const blocked = check.needs.filter((name) => !['pass', 'n/a'].includes(outcome.get(name) ?? ''))
    let result: Omit<CheckResult, 'check'>
    if (blocked.length > 0) {
      result = { status: 'skip', detail: `needs ${blocked.join(', ')}` }
    } else {
      try {
        result = await check.run(facts)
      } catch (err) {
        result = { status: 'FAIL', detail: (err as Error).message }
      }
    }
    outcome.set(check.name, result.status)
    results.push({ check: check.name, ...result })
  }
  return results
}

const WORKSPACE = 'workspace auth'
const STATE = 'instance state'
const HOST = 'host'
const CREDENTIAL = 'credential'
const USERNAME = 'username'
const TLS = 'TLS'
const LOGIN = 'Postgres login'

const CHECKS: readonly Check[] = [
  { name: 'settings', needs: [], run: checkSettingsLink },
  { name: WORKSPACE, needs: ['settings'], run: checkWorkspace },
  { name: STATE, needs: [WORKSPACE], run: checkState },
  { name: HOST, needs: [STATE], run: checkHost },
  { name: CREDENTIAL, needs: [STATE], run: checkCredential },
  { name: USERNAME, needs: [CREDENTIAL], run: checkUsername },
  { name: TLS, needs: ['settings'], run: checkTls },
  { name: LOGIN, needs: [USERNAME, TLS], run: checkLogin },
  { name: 'migrations', needs: [LOGIN], run: checkMigrations },
  { name: 'grants', needs: [LOGIN], run: checkGrants },
  { name: 'broker', needs: [], run: checkBroker },
]

async function checkSettingsLink(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  const { env } = facts
  let provider: ProviderKind | undefined
  try {
    provider = chooseProvider(env, undefined)
  } catch (err) {
    return { status: 'FAIL', detail: (err as Error).message, fix: (err as ConfigError).suggestion }
  }
  facts.provider = provider
  if (provider === undefined) {
    return {
      status: 'FAIL',
      detail: 'LAKEBASE_NOT_CONFIGURED: no workspace or database is named',
      fix: 'run npm run configure (it writes DATABRICKS_HOST and LAKEBASE_INSTANCE_NAME to .env.local); without them npm start uses its embedded Postgres',
    }
  }
  if (provider === 'static') {
    const user = envValue(env, 'PGUSER')
    if (user === undefined || envValue(env, 'PGPASSWORD') === undefined) {
      return { status: 'FAIL', detail: 'the static provider needs PGUSER and PGPASSWORD' }
    }
    facts.user = user
    facts.password = envValue(env, 'PGPASSWORD')
    facts.host = envValue(env, 'PGHOST', 'LAKEBASE_HOST') ?? 'localhost'
    facts.port = pgPortFrom(env)
    facts.dbName = envValue(env, 'PGDATABASE', 'LAKEBASE_DATABASE') ?? 'postgres'
    facts.ssl = sslModeFrom(env)
    return { status: 'pass', detail: `static: ${user}@${facts.host}:${facts.port}/${facts.dbName}` }
  }
  if (provider !== 'databricks') {
    return { status: 'pass', detail: `${provider} provider: only the broker is checked` }
  }
  const pgUser = envValue(env, 'PGUSER')
  if (pgUser !== undefined && isTokenPlaceholderUser(pgUser)) {
    return {
      status: 'FAIL',
      detail: 'PGUSER is "token": Postgres would answer role "token" does not exist',
      fix: "unset PGUSER (the broker uses the token's own identity: your email, or a service principal's client id) or set it to that identity",
    }
  }
  try {
    facts.settings = databricksSettingsFromEnv(env)
  } catch (err) {
    return {
      status: 'FAIL',
      detail: `LAKEBASE_NOT_CONFIGURED: ${(err as Error).message}`,
      fix: 'run npm run configure, or npm run configure -- --check-only to see each setting',
    }
  }
  const { target, postgres: pg } = facts.settings
  facts.host = pg.host
  facts.port = pg.port
  facts.dbName = pg.database
  facts.ssl = pg.ssl
  const what = target.kind === 'provisioned' ? `instance ${target.instanceName}` : target.endpoint
  return { status: 'pass', detail: `databricks: ${what}, database ${pg.database}` }
}

async function checkWorkspace(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (facts.provider !== 'databricks' || !facts.settings) return notDatabricks(facts)
  try {
    facts.session = await openWorkspace(facts.settings.workspace)
    facts.call = await facts.session.call()
  } catch (err) {
    return { status: 'FAIL', detail: (err as Error).message, fix: signInFix(err) }
  }
  return { status: 'pass', detail: `${facts.session.auth.method} at ${facts.session.auth.host}` }
}

async function checkState(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (facts.provider !== 'databricks') return notDatabricks(facts)
  const { target } = facts.settings as DatabricksSettings
  const [kind, name] =
    target.kind === 'provisioned'
      ? (['provisioned', target.instanceName] as const)
      : (['autoscaling', target.endpoint] as const)
  let database: LakebaseDatabase
  try {
    database = await getDatabase(facts.call as BoundWorkspaceCall, kind, name)
  } catch (err) {
    const notFound = err instanceof UpstreamError && err.errorClass === 'not_found'
    return {
      status: 'FAIL',
      detail: (err as Error).message,
      fix: notFound
        ? `${suggestedFix('not_found', 'databricks')}; it lists the databases this identity can see`
        : err instanceof UpstreamError && err.errorClass !== 'forbidden'
          ? suggestedFix(err.errorClass, 'databricks')
          : `${suggestedFix('forbidden', 'databricks')} (CAN_USE on the instance or project)`,
    }
  }
  facts.database = database
  facts.host ??= database.host
  if (!database.ready) {
    const unservable =
      kind === 'provisioned'
        ? provisionedUnservable(name, database.state)
        : endpointUnservable(name, { state: database.state, disabled: database.disabled })
    return {
      status: 'FAIL',
      detail: `${name} is ${database.disabled ? 'disabled' : (database.state ?? 'in an unknown state')}`,
      fix:
        unservable?.suggestion ??
        (kind === 'provisioned'
          ? 'wait until it is AVAILABLE (STARTING takes a few minutes); the broker keeps minting meanwhile and retries by itself'
          : 'wait until the endpoint is ACTIVE or IDLE; the broker keeps minting meanwhile and retries by itself'),
    }
  }
  return { status: 'pass', detail: `${name} is ${database.state}${hostNote(database.host)}` }
}

/** A given PGHOST against the hosts the instance or endpoint lists (a loopback one is not checked). */
async function checkHost(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (facts.provider !== 'databricks') return notDatabricks(facts)
  const given = facts.settings?.postgres.host
  const database = facts.database as LakebaseDatabase
  if (given === undefined) {
    return { status: 'pass', detail: `looked up${hostNote(database.host)}` }
  }
  if (!isCheckableHost(given)) {
    return {
      status: 'pass',
      detail: `PGHOST ${given} is loopback (a tunnel or proxy): not checked`,
    }
  }
  const what = `${database.kind === 'provisioned' ? 'database instance' : 'endpoint'} ${database.name}`
  const found = givenHostProblem(given, what, database.hosts)
  if (found === undefined) return { status: 'pass', detail: `PGHOST ${given} is ${what}'s` }
  return { status: 'FAIL', detail: found.problem, fix: found.fix }
}

async function checkCredential(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (facts.provider !== 'databricks') return notDatabricks(facts)
  const { target } = facts.settings as DatabricksSettings
  const call = facts.call as BoundWorkspaceCall
  try {
    const issued =
      target.kind === 'provisioned'
        ? await provisionedDatabaseToken(
            call,
            target.instanceName,
            randomUUID(),
            facts.settings?.credential.claims,
          )
        : await autoscalingDatabaseToken(call, target.endpoint, facts.settings?.credential)
    const claims = readTokenClaims(issued.token)
    const expiresAt = databaseTokenExpiry(issued.statedExpiry, claims, Date.now())
    facts.password = issued.token
    facts.tokenSubject = claims.sub
    const minutes = Math.round((expiresAt.getTime() - Date.now()) / 60_000)
    return {
      status: 'pass',
      detail: `a token valid for ${minutes} min (until ${expiresAt.toISOString()})`,
    }
  } catch (err) {
    return {
      status: 'FAIL',
      detail: `CREDENTIAL_UNAVAILABLE: ${(err as Error).message}`,
      fix: 'this identity may not get a token for the database: grant it access to the instance (or endpoint), or sign in as an identity that has it',
    }
  }
}

async function checkUsername(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (facts.provider === 'static') return { status: 'pass', detail: `${facts.user} (PGUSER)` }
  if (facts.provider !== 'databricks') return notDatabricks(facts)
  const configured = envValue(facts.env, 'PGUSER')
  const subject = facts.tokenSubject
  const group = facts.settings?.credential.groupName
  if (group !== undefined) {
    facts.user = group
    const ignored = configured !== undefined && configured !== group ? '; PGUSER is not used' : ''
    return { status: 'pass', detail: `${group} (the group role of LAKEBASE_GROUP${ignored})` }
  }
  if (configured !== undefined && subject !== undefined && configured !== subject) {
    return {
      status: 'FAIL',
      detail: `PGUSER is ${configured}, but the token is for ${subject}: Postgres would answer password authentication failed`,
      fix: `unset PGUSER, or set it to ${subject}`,
    }
  }
  try {
    facts.user = await resolvePostgresUser({
      configured,
      tokenSubject: subject,
      call: facts.call as BoundWorkspaceCall,
    })
  } catch (err) {
    return { status: 'FAIL', detail: (err as Error).message, fix: 'set PGUSER to your identity' }
  }
  const from =
    configured !== undefined ? 'PGUSER' : subject !== undefined ? "the token's sub" : 'SCIM Me'
  return { status: 'pass', detail: `${facts.user} (from ${from})` }
}

async function checkTls(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (!usesPostgresSettings(facts)) return notDatabricks(facts)
  const ssl = facts.ssl as SslMode
  const port = facts.port as number
  if (facts.host === undefined) {
    // The host comes from the instance lookup, which did not happen.
    return { status: 'skip', detail: `needs ${STATE} (no PGHOST)` }
  }
  const host = facts.host
  if (ssl === 'disable') {
    if (isLoopbackHost(host) || facts.provider === 'static') {
      return { status: 'pass', detail: `off for ${host} (PGSSLMODE=disable)` }
    }
    return {
      status: 'FAIL',
      detail: `PGSSLMODE=disable for ${host}: the token would travel in clear text, and Lakebase refuses it`,
      fix: 'set PGSSLMODE=require (or unset it)',
    }
  }
  const probe = await probeTls(host, port, ssl === 'verify-full' || ssl === 'verify-ca')
  switch (probe.kind) {
    case 'tls':
      return {
        status: 'pass',
        detail: `${probe.protocol ?? 'TLS'} with ${host}:${port} (PGSSLMODE=${ssl}${probe.authorized ? ', certificate verified' : ''})`,
      }
    case 'refused-tls':
      if (ssl === 'prefer') return { status: 'pass', detail: `${host}:${port} has no TLS (prefer)` }
      return {
        status: 'FAIL',
        detail: `${host}:${port} does not offer TLS`,
        fix: "PGHOST is probably not a Lakebase host; unset it to use the instance's own",
      }
    case 'unreachable':
      return {
        status: 'FAIL',
        detail: `cannot reach ${host}:${port} (${probe.code})`,
        fix: 'check PGHOST/PGPORT, the network (VPN, firewall, the workspace IP access list)',
      }
    case 'handshake-failed':
      return {
        status: 'FAIL',
        detail: `TLS with ${host}:${port} failed: ${probe.reason}`,
        fix: 'with PGSSLMODE=verify-full the certificate must match PGHOST; use require to skip verification',
      }
  }
}

async function checkLogin(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (!usesPostgresSettings(facts)) return notDatabricks(facts)
  const sql = connect(facts)
  try {
    const [row] = await sql<{ user: string; db: string }[]>`
      select current_user as user, current_database() as db`
    return { status: 'pass', detail: `logged in as ${row?.user} to ${row?.db}` }
  } catch (err) {
    return loginFailure(err, facts)
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}

async function checkMigrations(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (!usesPostgresSettings(facts)) return notDatabricks(facts)
  const sql = connect(facts)
  try {
    const status = await migrationStatus(sql)
    if (status.applied >= status.known) {
      return { status: 'pass', detail: `${status.applied} of ${status.known} applied` }
    }
    return {
      status: 'FAIL',
      detail: `${status.applied} of ${status.known} applied`,
      fix: 'npm run migrate (npm start and npm run serve migrate too)',
    }
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}

/** The project's tables, as the migrations create them. */
const PROJECT_TABLES = [getTableName(userPreferences), getTableName(modelInferenceLogs)]
const TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const

/**
 * What the login role may do where the project lives: USAGE and CREATE on its schema (CREATE only
 * matters while tables are missing: the migrations create them), the four DML privileges on
 * each project table that exists, and USAGE on its id sequence. Each gap becomes a GRANT for the
 * owner to run: the classic Lakebase trap of tables created by a person and used by an app's
 * service principal (or the other way round).
 */
async function checkGrants(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  if (!usesPostgresSettings(facts)) return notDatabricks(facts)
  const sql = connect(facts)
  try {
    const [where] = await sql<
      { role: string; schema: string | null; usage: boolean; create: boolean; dbcreate: boolean }[]
    >`select current_user as role, current_schema() as schema,
        coalesce(has_schema_privilege(current_schema(), 'USAGE'), false) as usage,
        coalesce(has_schema_privilege(current_schema(), 'CREATE'), false) as create,
        has_database_privilege(current_database(), 'CREATE') as dbcreate`
    if (!where?.schema) {
      return {
        status: 'FAIL',
        detail: 'no schema on the search_path exists or is usable',
        fix: 'reset search_path, or as the owner run: GRANT USAGE ON SCHEMA public TO the role',
      }
    }
    const role = quoteIdent(where.role)
    const schema = quoteIdent(where.schema)
    const grants: string[] = []
    const lacking: string[] = []
    const tables = await sql<
      {
        name: string
        exists: boolean
        privileges: string[] | null
        sequence: string | null
        seq_usage: boolean | null
      }[]
    >`select t.name, c.oid is not null as exists,
        case when c.oid is null then null else array(
          select p from unnest(${[...TABLE_PRIVILEGES]}::text[]) p
          where has_table_privilege(c.oid, p)) end as privileges,
        pg_get_serial_sequence(c.oid::regclass::text, 'id') as sequence,
        case when c.oid is null then null else coalesce(has_sequence_privilege(
          pg_get_serial_sequence(c.oid::regclass::text, 'id'), 'USAGE'), true) end as seq_usage
      from unnest(${PROJECT_TABLES}::text[]) as t(name)
      left join pg_class c on c.relname = t.name
        and c.relnamespace = ${where.schema}::regnamespace`
    const missingTables = tables.some((t) => !t.exists)
    if (!where.usage) {
      lacking.push(`USAGE on schema ${where.schema}`)
      grants.push(`GRANT USAGE ON SCHEMA ${schema} TO ${role};`)
    }
    if (!where.create && missingTables && !where.dbcreate) {
      lacking.push(`CREATE on schema ${where.schema} (the migrations create the tables)`)
      grants.push(`GRANT CREATE ON SCHEMA ${schema} TO ${role};`)
    }
    for (const table of tables.filter((t) => t.exists)) {
      const missing = TABLE_PRIVILEGES.filter((p) => !table.privileges?.includes(p))
      if (missing.length > 0) {
        lacking.push(`${missing.join(', ')} on ${table.name}`)
        grants.push(
          `GRANT ${missing.join(', ')} ON TABLE ${schema}.${quoteIdent(table.name)} TO ${role};`,
        )
      }
      if (table.sequence && table.seq_usage === false) {
        lacking.push(`USAGE on sequence ${table.sequence}`)
        grants.push(`GRANT USAGE, SELECT ON SEQUENCE ${table.sequence} TO ${role};`)
      }
    }
    if (grants.length > 0) {
      return {
        status: 'FAIL',
        detail: `${where.role} lacks ${lacking.join('; ')}`,
        fix: `as the owner of schema ${where.schema} and its tables (e.g. the person who ran the migrations), run: ${grants.join(' ')}`,
      }
    }
    const present = tables.filter((t) => t.exists).length
    return {
      status: 'pass',
      detail: `${where.role} may use ${where.schema}${where.create ? ' and create in it' : ''}; reads and writes ${present} of ${tables.length} tables${missingTables ? ' (the rest come with the migrations)' : ''}`,
    }
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

async function checkBroker(facts: Facts): Promise<Omit<CheckResult, 'check'>> {
  const url = envValue(facts.env, 'LAKEBASE_BROKER_URL') ?? DEFAULT_BROKER_URL
  const token = await clientBrokerToken(facts.env)
  const target = envValue(facts.env, 'LAKEBASE_BROKER_TARGET') ?? 'default'
  try {
    const credential = await connectBroker({ url, token, target }).get()
    const minutes = Math.round((Date.parse(credential.expiresAt) - Date.now()) / 60_000)
    return {
      status: 'pass',
      detail: `${url} serves ${credential.user} for ${credential.host}:${credential.port} (${credential.source}, ${minutes} min left${credential.stale ? ', STALE' : ''})`,
    }
  } catch (err) {
    if (!(err instanceof LakebaseError)) throw err
    const upstream = err.technicalDetails
    if (err.code === 'CREDENTIAL_UNAVAILABLE') {
      const code = upstream.upstream_error_code ?? upstream.error_class
      return {
        status: 'FAIL',
        detail: `CREDENTIAL_UNAVAILABLE: ${err.message}${code ? ` (${String(code)})` : ''}`,
        fix: "the broker is up but holds no credential: the checks above (run with the broker's settings) show which link; its /readyz and log say the same",
      }
    }
    const refused = /refused this client/.test(err.message)
    return {
      status: 'FAIL',
      detail: refused ? `BROKER_UNAUTHORIZED: ${err.message}` : err.message,
      fix: refused
        ? "set LAKEBASE_BROKER_TOKEN to the broker's client token (its BROKER_TOKEN, or its token file)"
        : String(upstream.suggestion ?? 'start the broker: npm run broker, or npm start'),
    }
  }
}

function connect(facts: Facts): postgres.Sql {
  return postgres({
    host: facts.host,
    port: facts.port,
    database: facts.dbName,
    username: facts.user,
    password: facts.password,
    ssl: sslOption(facts.ssl as SslMode, facts.host),
    max: 1,
    connect_timeout: CONNECT_TIMEOUT_S,
    onnotice: () => {},
    connection: { application_name: 'lakebase-doctor' },
  })
}

function loginFailure(err: unknown, facts: Facts): Omit<CheckResult, 'check'> {
  const code = sqlstateOf(err)
  const message = (err as Error).message
  switch (code) {
    case '28000':
      return {
        status: 'FAIL',
        detail: message,
        fix: isTokenPlaceholderUser(facts.user ?? '')
          ? 'unset PGUSER: Lakebase logs in as the token\'s identity, never "token"'
          : `Postgres has no role ${facts.user}: the instance owner adds it (workspace UI: the instance's Roles, or databricks_create_role), or set PGUSER to an identity that has one`,
      }
    case '28P01':
      return {
        status: 'FAIL',
        detail: message,
        fix: "the token is not for this role, or it expired: unset PGUSER so the token's own identity is used, and check DATABRICKS_HOST is the workspace of the instance",
      }
    case '3D000':
      return {
        status: 'FAIL',
        detail: message,
        fix: `set PGDATABASE to an existing database (Lakebase's default is databricks_postgres)`,
      }
    default:
      return {
        status: 'FAIL',
        detail: `DATABASE_UNAVAILABLE: ${message}${code ? ` (${code})` : ''}`,
        fix: 'check PGHOST, PGPORT and the network; a starting instance refuses logins for a while',
      }
  }
}

function signInFix(err: unknown): string {
  const code = err instanceof UpstreamError ? err.upstreamErrorCode : undefined
  if (code === 'invalid_client') return 'DATABRICKS_CLIENT_ID / DATABRICKS_CLIENT_SECRET are wrong'
  if (err instanceof UpstreamError && err.errorClass === 'unauthorized') {
    return 'the workspace token is invalid or expired: create a new one, or `databricks auth login --host <workspace>`'
  }
  if (err instanceof UpstreamError) return 'check DATABRICKS_HOST and the network'
  return 'set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET, or log in with the Databricks CLI'
}

/** The providers whose Postgres settings the doctor can log in with itself. */
function usesPostgresSettings(facts: Facts): boolean {
  return facts.provider === 'databricks' || facts.provider === 'static'
}

function notDatabricks(facts: Facts): Omit<CheckResult, 'check'> {
  return { status: 'n/a', detail: notApplicable(facts.provider) }
}

function notApplicable(provider: ProviderKind | undefined): string {
  return `not used by the ${provider ?? 'configured'} provider`
}

function hostNote(host: string | undefined): string {
  return host === undefined ? '' : ` (${host})`
}
