/** A workspace access token and when it stops working (null when unknown, e.g. a PAT). */
export interface WorkspaceToken {
  accessToken: string
  expiresAt: Date | null
}

/**
 * Signs calls to a Databricks workspace. Implementations cache the workspace token and refresh
 * it before it expires (single flight); failures throw UpstreamError.
 */
export interface WorkspaceAuth {
  /** The method in use, named in the start-up log: `pat`, `oauth-m2m`, `databricks-cli`, … */
  readonly method: string
  /** The workspace URL, normalised without a trailing slash. */
  readonly host: string
  token(signal: AbortSignal): Promise<WorkspaceToken>
}
