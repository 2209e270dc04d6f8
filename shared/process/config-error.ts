/**
 * A configuration problem, reported at start-up before any request is served. Every command
 * exits with {@link EXIT_CONFIG} on it (see `shared/process/run-main.ts`).
 */
export class ConfigError extends Error {
  constructor(
    message: string,
    /** What the user should set to fix it. */
    readonly suggestion?: string,
  ) {
    super(message)
    this.name = 'ConfigError'
  }
}
