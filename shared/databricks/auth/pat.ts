import type { WorkspaceAuth, WorkspaceToken } from '../workspace-auth.js'

/**
 * A personal access token, sent as is. Databricks does not say when a PAT expires, so its expiry
 * is unknown (null) and it adds nothing to the credential's effective expiry; a revoked or
 * expired PAT shows up as a 401 from the workspace.
 */
export class PatAuth implements WorkspaceAuth {
  // Private, so that logging or inspecting the auth object never shows the token.
  readonly #token: string

  /**
   * @param host the workspace URL, normalised
   * @param token the PAT
   * @param method the name in the start-up log: `pat`, or `profile:<name>/pat`
   */
  constructor(
    readonly host: string,
    token: string,
    readonly method = 'pat',
  ) {
    this.#token = token
  }

  async token(): Promise<WorkspaceToken> {
    return { accessToken: this.#token, expiresAt: null }
  }
}
