import type { BrokerCredentials } from './broker-client.js'
import type { Credential } from './credential.js'

/** One login attempt's state after Postgres refused it. */
export interface RefusedLogin {
  /** The refused login's error: what the caller gets if no better credential comes in time. */
  error: unknown
  /** Logins refused so far in this attempt. */
  refusals: number
  /** When the attempt must have a credential by (ms, on `now`'s clock): its connect timeout. */
  deadline: number
}

/**
 * The next credential after Postgres refused a login and the client forgot the refused one: the
 * broker's answer to the report. The broker rate-limits the refreshes reports force; inside that
 * window it hands back the reported credential with `retryAfter`. The first time, that one is
 * tried (drivers cannot say which password failed: it may have been another connection's older
 * one). Refused again, the wait is taken, if it ends by the deadline, and the report made again;
 * past the deadline the refused login's error stands.
 */
export async function credentialAfterRefusal(
  credentials: BrokerCredentials,
  login: RefusedLogin,
  now: () => number = () => performance.now(),
): Promise<Credential> {
  for (;;) {
    const credential = await credentials.get()
    if (credential.retryAfter === undefined || login.refusals < 2) return credential
    const waitMs = credential.retryAfter * 1000
    if (now() + waitMs > login.deadline) throw login.error
    await new Promise((resolve) => setTimeout(resolve, waitMs))
    credentials.forget(credential.version)
  }
}
