import type { ErrorClass } from '../shared/databricks/upstream-error.js'

/**
 * What a person can do about a failed fetch, by its class and the provider that failed. Shown
 * beside the error on the status page, `/status.json`, `/readyz`, the 503 answer, the metrics,
 * the functions' database health and `doctor`: one sentence, never a value from the environment.
 */
export function suggestedFix(errorClass: ErrorClass, source: string): string {
  const workspace = source === 'databricks'
  switch (errorClass) {
    case 'unauthorized':
      return workspace
        ? 'sign in again: `databricks auth login` for a CLI login, else a new `DATABRICKS_TOKEN` or service principal secret'
        : 'the credential source refused the login: renew the secret it uses'
    case 'forbidden':
      return workspace
        ? 'grant this identity access to the Lakebase instance or endpoint (a missing permission), or name one it may use'
        : 'the credential source refused this identity: grant it access'
    case 'not_found':
      return workspace
        ? 'the instance or endpoint does not exist (deleted or misspelled): check `LAKEBASE_INSTANCE_NAME` / `LAKEBASE_ENDPOINT` with `npm run configure`'
        : 'the credential source does not know this target: check its name'
    case 'bad_request':
      return 'the workspace refused the request as malformed: check the settings with `npm run doctor`'
    case 'config':
      return 'correct the setting the message names; `npm run doctor` checks them all'
    case 'command_failed':
      return 'run `LAKEBASE_CREDENTIAL_COMMAND` by hand to see why it fails'
    case 'malformed_response':
      return 'the answer was not understood: check that the host is a Databricks workspace, and report it if it is'
    case 'rate_limited':
      return 'none needed: the broker waits out the rate limit and tries again'
    default:
      return 'none needed if it passes: the broker retries with backoff while it serves the credential it holds'
  }
}
