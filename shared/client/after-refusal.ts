import type { BrokerCredentials } from './broker-client.js'
import type { Credential } from './credential.js'

/** One login attempt's state after Postgres refused it. */
export interface RefusedLogin {
  /** The refused login's error: what the caller gets if no better credential comes in time. */
  error: unknown
  /**
   * The versions this attempt was handed since its first refusal (kept by the caller for the
   * whole attempt): one handed back again with `retryAfter` was tried and refused already.
   */
  tried: Set<string>
  /** When the attempt must have a credential by (ms, on `now`'s clock): its connect timeout. */
  deadline: number
}

/**
 * The next credential after Postgres refused a login and the client forgot the refused one: the
 * broker's answer to the report. The broker rate-limits the refreshes reports force; inside that
 * window it hands back the reported credential with `retryAfter`. The first time a version comes
 * back, it is tried (drivers cannot say which password failed: it may have been another
 * connection's older one). Handed back again, it was refused again: the wait is taken, if it ends
 * by the deadline, and the report made again; past the deadline the refused login's error stands.
 */
export async function credentialAfterRefusal(
  credentials: BrokerCredentials,
  login: RefusedLogin,
  now: () => number = () => performance.now(),
): Promise<Credential> {
  for (;;) {
    const credential = await credentials.get()
    if (credential.retryAfter === undefined || !login.tried.has(credential.version)) {
      login.tried.add(credential.version)
      return credential
    }
    const waitMs = credential.retryAfter * 1000
    if (now() + waitMs > login.deadline) throw login.error
    await new Promise((resolve) => setTimeout(resolve, waitMs))
    if (now() >= login.deadline) throw login.error
    credentials.forget(credential.version)
  }
}
