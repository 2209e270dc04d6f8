/** The one local user when no proxy names one (`LAKEBASE_DEV_USER`). */
export const DEFAULT_DEV_USER = 'dev-user@example.com'
