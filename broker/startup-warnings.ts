import { toUpstreamError } from '../shared/databricks/upstream-error.js'
import type { Logger } from '../shared/process/logger.js'
import type { CredentialProvider } from './providers/provider.js'

/**
 * Logs what a target's provider finds worth a warning once it asks upstream (a given `PGHOST` that
 * the instance or endpoint does not list, say), in the background: start-up never waits for it,
 * and a check that could not be made is said at `info`, since serving does not depend on it.
 * `signal` ends it when the broker stops first.
 */
export async function logStartupWarnings(
  target: string,
  provider: CredentialProvider,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  if (provider.startupWarnings === undefined) return
  try {
    const warnings = await provider.startupWarnings(signal)
    for (const warning of warnings) logger.warn({ target }, warning)
    if (warnings.length === 0) logger.debug({ target }, 'start-up checks passed')
  } catch (err) {
    if (signal.aborted) return
    const { errorClass, message } = toUpstreamError(err)
    logger.info({ target, errorClass, message }, 'could not check PGHOST against the database')
  }
}
