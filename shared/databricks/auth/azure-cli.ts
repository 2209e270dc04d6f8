import { z } from 'zod'
import { UpstreamError } from '../upstream-error.js'
import { AZURE_DATABRICKS_RESOURCE_ID } from './azure.js'
import type { TokenSource } from './cached-token.js'
import { type CliDescription, parseCliJson, runCli } from './cli-process.js'

/**
 * How long `az account get-access-token` may run. It answers from the CLI's token cache, but may
 * first refresh over the network and start Python, which takes seconds on a cold machine; thirty
 * seconds covers that and still stops a hung CLI from holding the only in-flight fetch.
 */
export const AZURE_CLI_TIMEOUT_MS = 30_000

const AZURE_CLI: CliDescription = {
  label: 'the Azure CLI',
  pathVariable: 'AZURE_CLI_PATH',
  loginNeeded: /az login|AADSTS700082|AADSTS50173|refresh token|interaction_required/i,
  loginAdvice: 'run `az login` again',
}

/** Which `az` to run, in which tenant. */
export interface AzureCliOptions {
  /** The binary: `AZURE_CLI_PATH`, else `az`. */
  cliPath: string
  /** `ARM_TENANT_ID`, passed as `--tenant` when set. */
  tenantId?: string | undefined
  timeoutMs?: number
}

const outputSchema = z.object({
  accessToken: z.string().min(1),
  // Azure CLI 2.54+ prints `expires_on`, POSIX seconds; older ones only `expiresOn`, local time.
  expires_on: z.coerce.number().positive().optional(),
  expiresOn: z.string().min(1).optional(),
})

/**
 * The developer's Azure login (the Databricks SDKs' `azure-cli`): runs
 * `<cliPath> account get-access-token --resource <Azure Databricks> --output json` and reads
 * `{"accessToken", "expires_on" | "expiresOn"}` from its stdout.
 *
 * Failures are as for the Databricks CLI: a missing binary is `config`, an exit asking for
 * `az login` is `unauthorized`, others `command_failed`; stdout is never repeated.
 */
export function azureCliTokenSource(options: AzureCliOptions): TokenSource {
  const args = [
    'account',
    'get-access-token',
    '--resource',
    AZURE_DATABRICKS_RESOURCE_ID,
    '--output',
    'json',
    ...(options.tenantId === undefined ? [] : ['--tenant', options.tenantId]),
  ]
  return async (signal) => {
    const stdout = await runCli(
      options.cliPath,
      args,
      { timeout: options.timeoutMs ?? AZURE_CLI_TIMEOUT_MS, signal },
      AZURE_CLI,
    )
    const parsed = parseCliJson(stdout, outputSchema, AZURE_CLI)
    const expiresAt = expiryOf(parsed)
    if (expiresAt === undefined) {
      throw new UpstreamError(
        'malformed_response',
        'the Azure CLI printed JSON without a readable expires_on or expiresOn',
      )
    }
    return { accessToken: parsed.accessToken, expiresAt }
  }
}

function expiryOf(parsed: z.infer<typeof outputSchema>): Date | undefined {
  if (parsed.expires_on !== undefined) return new Date(parsed.expires_on * 1000)
  if (parsed.expiresOn === undefined) return undefined
  // `2026-12-01 11:22:33.000000`, in the machine's local time zone, as the CLI writes it.
  const at = new Date(parsed.expiresOn.replace(' ', 'T'))
  return Number.isNaN(at.getTime()) ? undefined : at
}
