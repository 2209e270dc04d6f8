import { ConfigError, chooseProvider, type ProviderKind } from '../../broker/config.js'
import { SSL_MODES } from '../../shared/client/credential.js'
import { isLoopbackHost } from '../../shared/client/loopback.js'
import { resolveWorkspaceAuth } from '../../shared/databricks/auth/resolve.js'
import { normaliseWorkspaceHost } from '../../shared/databricks/host.js'
import {
  databricksSettingsFromEnv,
  isTokenPlaceholderUser,
  TOKEN_USER_TRAP,
} from '../../shared/databricks/lakebase-settings.js'
import { type Env, envValue } from '../../shared/process/env.js'
import { workspaceSettingsFrom } from './workspace.js'

/**
 * One setting as `--check-only` judges it. `note` is worth reading but breaks nothing; `warning`
 * breaks nothing here either (a value kept as the user wrote it), but disagrees with another.
 */
export interface SettingFinding {
  setting: string
  status: 'ok' | 'missing' | 'wrong' | 'note' | 'warning'
  /** What was found; never a secret's value. */
  detail: string
  fix?: string
}

const CONFIGURE_FIX = 'run `npm run configure` (it signs in and lists your databases)'
const ENDPOINT_PATH = /^projects\/[^/\s]+\/branches\/[^/\s]+\/endpoints\/[^/\s]+$/

/**
 * Judges the Lakebase settings in `env` (the environment over `.env.local`) without any network
 * call: what the broker would choose, and each variable it would read, with the fix for every
 * one that is missing or wrong. Reading a config profile is the only I/O.
 */
export async function checkSettings(env: Env): Promise<SettingFinding[]> {
  let provider: ProviderKind | undefined
  try {
    provider = chooseProvider(env, undefined)
  } catch (err) {
    return [
      {
        setting: 'LAKEBASE_PROVIDER',
        status: 'wrong',
        detail: (err as Error).message,
        fix: err instanceof ConfigError ? err.suggestion : undefined,
      },
    ]
  }
  switch (provider) {
    case undefined:
      return [
        {
          setting: 'DATABRICKS_HOST',
          status: 'missing',
          detail: 'no workspace is named (npm start would use its embedded Postgres)',
          fix: `${CONFIGURE_FIX}, or set DATABRICKS_HOST=https://<workspace>.cloud.databricks.com`,
        },
        {
          setting: 'LAKEBASE_INSTANCE_NAME',
          status: 'missing',
          detail: 'no Lakebase database is named (or LAKEBASE_ENDPOINT for Autoscaling)',
          fix: `${CONFIGURE_FIX}, or set LAKEBASE_INSTANCE_NAME=<instance> or LAKEBASE_ENDPOINT=projects/<p>/branches/<b>/endpoints/<e>`,
        },
      ]
    case 'databricks':
      return checkDatabricks(env)
    case 'static':
      return checkStatic(env)
    case 'command':
      return [{ setting: 'LAKEBASE_CREDENTIAL_COMMAND', status: 'ok', detail: 'command provider' }]
    case 'embedded':
      return [{ setting: 'LAKEBASE_PROVIDER', status: 'ok', detail: 'embedded (npm start)' }]
  }
}

async function checkDatabricks(env: Env): Promise<SettingFinding[]> {
  const findings: SettingFinding[] = []
  const host = envValue(env, 'DATABRICKS_HOST')
  let hostOk = false
  if (host === undefined) {
    findings.push({
      setting: 'DATABRICKS_HOST',
      status: envValue(env, 'DATABRICKS_CONFIG_PROFILE') ? 'note' : 'missing',
      detail: 'unset; the workspace comes from the config profile, if any',
      fix: `${CONFIGURE_FIX}, or set DATABRICKS_HOST=https://<workspace>.cloud.databricks.com`,
    })
  } else {
    try {
      findings.push({
        setting: 'DATABRICKS_HOST',
        status: 'ok',
        detail: normaliseWorkspaceHost(host),
      })
      hostOk = true
    } catch (err) {
      findings.push({
        setting: 'DATABRICKS_HOST',
        status: 'wrong',
        detail: (err as Error).message,
        fix: 'set it to the workspace URL, e.g. https://<workspace>.cloud.databricks.com',
      })
    }
  }

  if (hostOk || host === undefined) {
    try {
      const auth = await resolveWorkspaceAuth(workspaceSettingsFrom(env))
      findings.push({ setting: 'workspace sign-in', status: 'ok', detail: auth.method })
    } catch (err) {
      findings.push({
        setting: 'workspace sign-in',
        status: 'wrong',
        detail: (err as Error).message,
        fix: 'set DATABRICKS_TOKEN, or DATABRICKS_CLIENT_ID + DATABRICKS_CLIENT_SECRET, or log in with `databricks auth login --host <workspace>`',
      })
    }
  }

  const instance = envValue(env, 'LAKEBASE_INSTANCE_NAME')
  const endpoint = envValue(env, 'LAKEBASE_ENDPOINT')
  if (instance !== undefined && endpoint !== undefined) {
    findings.push({
      setting: 'LAKEBASE_INSTANCE_NAME',
      status: 'wrong',
      detail: 'both LAKEBASE_INSTANCE_NAME and LAKEBASE_ENDPOINT are set',
      fix: 'keep one: the instance (Provisioned) or the endpoint (Autoscaling)',
    })
  } else if (instance !== undefined) {
    findings.push({ setting: 'LAKEBASE_INSTANCE_NAME', status: 'ok', detail: instance })
  } else if (endpoint !== undefined) {
    findings.push(
      ENDPOINT_PATH.test(endpoint)
        ? { setting: 'LAKEBASE_ENDPOINT', status: 'ok', detail: endpoint }
        : {
            setting: 'LAKEBASE_ENDPOINT',
            status: 'wrong',
            detail: 'not an endpoint path',
            fix: 'set it to projects/<p>/branches/<b>/endpoints/<e>',
          },
    )
  } else {
    findings.push({
      setting: 'LAKEBASE_INSTANCE_NAME',
      status: 'missing',
      detail: 'no Lakebase database is named (or LAKEBASE_ENDPOINT for Autoscaling)',
      fix: `${CONFIGURE_FIX}, or set LAKEBASE_INSTANCE_NAME=<instance>`,
    })
  }

  const user = envValue(env, 'PGUSER')
  if (user !== undefined && isTokenPlaceholderUser(user)) {
    findings.push({
      setting: 'PGUSER',
      status: 'wrong',
      detail: 'is "token": Postgres answers role "token" does not exist',
      fix: TOKEN_USER_TRAP,
    })
  } else {
    findings.push({
      setting: 'PGUSER',
      status: 'ok',
      detail: user ?? "unset: the token's own identity (its sub), as Lakebase expects",
    })
  }

  const pgHost = envValue(env, 'PGHOST', 'LAKEBASE_HOST')
  const ssl = envValue(env, 'PGSSLMODE') ?? 'require'
  if (!(SSL_MODES as readonly string[]).includes(ssl)) {
    findings.push({
      setting: 'PGSSLMODE',
      status: 'wrong',
      detail: `is not one of ${SSL_MODES.join(', ')}`,
      fix: 'set PGSSLMODE=require (Lakebase requires TLS)',
    })
  } else if ((ssl === 'disable' || ssl === 'prefer') && !(pgHost && isLoopbackHost(pgHost))) {
    findings.push({
      setting: 'PGSSLMODE',
      status: 'wrong',
      detail: `${ssl}: the token would travel without TLS, and Lakebase refuses that`,
      fix: 'set PGSSLMODE=require (or verify-full), or unset it',
    })
  } else {
    findings.push({ setting: 'PGSSLMODE', status: 'ok', detail: ssl })
  }

  if (envValue(env, 'PGPASSWORD') !== undefined) {
    findings.push({
      setting: 'PGPASSWORD',
      status: 'note',
      detail: 'ignored: with DATABRICKS_HOST the broker mints a token for every login',
    })
  }

  // Anything the checks above did not name (e.g. a bad port) still stops the broker: say so.
  if (!findings.some((f) => f.status === 'missing' || f.status === 'wrong')) {
    try {
      databricksSettingsFromEnv(env)
    } catch (err) {
      findings.push({ setting: 'settings', status: 'wrong', detail: (err as Error).message })
    }
  }
  return findings
}

function checkStatic(env: Env): SettingFinding[] {
  const findings: SettingFinding[] = []
  for (const name of ['PGHOST', 'PGUSER', 'PGPASSWORD']) {
    const value = envValue(env, name)
    findings.push(
      value === undefined
        ? {
            setting: name,
            status: 'missing',
            detail: 'the static provider needs it',
            fix: `set ${name}`,
          }
        : { setting: name, status: 'ok', detail: name === 'PGPASSWORD' ? 'set' : value },
    )
  }
  return findings
}

/** True when the finding stops a command: a setting missing or wrong. */
export function isFailing(finding: SettingFinding): boolean {
  return finding.status === 'missing' || finding.status === 'wrong'
}

/** True when no finding is missing or wrong. */
export function settingsPass(findings: readonly SettingFinding[]): boolean {
  return !findings.some(isFailing)
}
