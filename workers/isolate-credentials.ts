import {
  type BrokerCredentials,
  type BrokerCredentialsOptions,
  brokerCredentials,
  CLIENT_MIN_TTL_MS,
  type Clock,
  type Credential,
  systemClock,
} from 'lakebase-broker'

/**
 * The last credential an isolate got from the broker: plain data, which, unlike a socket or a
 * pending fetch, a Worker may carry from one request to the next.
 */
export interface CredentialSlot {
  held: Credential | undefined
  /** The version Postgres refused, until a request has reported it to the broker. */
  refused?: string | undefined
}

/**
 * Broker credentials for one Worker request, over the isolate's slot. Until the broker's refresh
 * point the slot's credential is used without a call; after it, this request asks the broker with
 * a client of its own (workerd cancels a request that waits on another request's I/O, so no
 * fetch is shared across requests) and stores the answer in the slot. While the broker cannot
 * answer, the slot's credential is used as long as it is valid, as the Node client does.
 */
export function requestCredentials(
  slot: CredentialSlot,
  options: BrokerCredentialsOptions,
): BrokerCredentials {
  const clock: Clock = options.clock ?? systemClock
  const client = brokerCredentials({ ...options, shared: false })
  const valid = (now: number) => {
    const held = slot.held
    return held && now < Date.parse(held.expiresAt) - CLIENT_MIN_TTL_MS ? held : undefined
  }
  return {
    target: client.target,
    async get() {
      const now = clock.now()
      const held = valid(now)
      if (held && now < Date.parse(held.refreshAt)) return held
      try {
        // A refusal seen by an earlier request is reported by this one's client.
        if (slot.refused !== undefined) client.forget(slot.refused)
        const fresh = await client.get()
        slot.held = fresh
        slot.refused = undefined
        return fresh
      } catch (err) {
        const still = valid(clock.now())
        if (still) return still
        throw err
      }
    },
    current() {
      return client.current() ?? valid(clock.now())
    },
    async password() {
      try {
        return (await this.get()).password
      } catch {
        return ''
      }
    },
    forget() {
      slot.refused = slot.held?.version ?? slot.refused
      slot.held = undefined
      client.forget(slot.refused)
    },
  }
}
