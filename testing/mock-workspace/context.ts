import { MOCK_ROUTES, type MockRoute } from '../routes.js'
import type { ScriptStep } from '../script.js'
import { TokenMinter } from '../tokens.js'

/** One request the workspace received, for tests that check what was sent. */
export interface RecordedRequest {
  route: MockRoute
  method: string
  url: string
  authorization: string | null
  /** The raw body of a POST. */
  body: string | undefined
}

/** A database token the workspace minted. */
export interface MintedCredential {
  token: string
  expiresAt: Date
  /** The role it logs in as: the caller's identity, or the group's role for a group credential. */
  user: string
  /** The `group_name` of a group credential; undefined for the caller's own. */
  group?: string | undefined
  /** The `claims` the credential request carried, as sent; undefined when it carried none. */
  claims?: unknown[] | undefined
  /** The `ttl` an Autoscaling credential request asked for, in seconds; undefined when none. */
  ttlS?: number | undefined
}

/** How {@link WorkspaceContext.mint} mints; every field optional. */
export interface MintOptions {
  /** Whose token it is (its `sub`); the workspace identity by default. */
  user?: string
  /** A group credential: it logs in as this group's role (the token's `sub` stays `user`). */
  group?: string
  lifetimeS?: number
  noSub?: boolean
  expired?: boolean
  /** Recorded with the credential: what the request asked for. */
  claims?: unknown[]
  ttlS?: number
}

/** Who a bearer token belongs to. */
export interface Caller {
  user: string
  /** ms; undefined for tokens that do not expire (a PAT). */
  expiresAt: number | undefined
}

/** What the shared part of the workspace is set up with, defaults already applied. */
export interface ContextSettings {
  host: string
  now: () => number
  identity: string
  /** Bearer tokens accepted as `identity` that never expire: the PAT and any the test adds. */
  acceptedTokens: readonly string[]
  /** Lifetime of minted database tokens, seconds. */
  tokenLifetimeS: number
  /** How a scripted `delayMs` waits. */
  sleep: (ms: number) => Promise<void>
  onCredentialMinted?:
    | ((token: string, expiresAt: Date, user: string) => void | Promise<void>)
    | undefined
}

/** How long ago a token minted `expired` expired. */
const EXPIRED_AGO_S = 60

/**
 * What every route of the mock workspace shares: the calls and requests it recorded, the steps
 * scripted for each route, the bearer tokens it accepts, and the tokens it minted. Each API's
 * module (provisioned.ts, autoscaling.ts, oauth.ts, …) reads and adds to it.
 */
export class WorkspaceContext {
  readonly host: string
  readonly now: () => number
  readonly identity: string
  readonly sleep: (ms: number) => Promise<void>
  readonly calls = Object.fromEntries(MOCK_ROUTES.map((route) => [route, 0])) as Record<
    MockRoute,
    number
  >
  readonly requests: RecordedRequest[] = []
  /** Every token minted (database tokens and OAuth access tokens), to search logs for. */
  readonly minted: string[] = []
  readonly credentials: MintedCredential[] = []
  readonly #settings: ContextSettings
  readonly #minter: TokenMinter
  readonly #bearers = new Map<string, Caller>()
  readonly #queues = new Map<MockRoute, ScriptStep[]>()
  readonly #outages = new Map<MockRoute, ScriptStep>()

  constructor(settings: ContextSettings) {
    this.#settings = settings
    this.host = settings.host
    this.now = settings.now
    this.identity = settings.identity
    this.sleep = settings.sleep
    this.#minter = new TokenMinter(`${settings.host}/oidc`)
    for (const token of settings.acceptedTokens) this.acceptToken(token, settings.identity)
  }

  /** Queue steps for the next calls of `route`. */
  script(route: MockRoute, steps: ScriptStep[]): void {
    const queue = this.#queues.get(route) ?? []
    queue.push(...steps)
    this.#queues.set(route, queue)
  }

  pending(route: MockRoute): number {
    return this.#queues.get(route)?.length ?? 0
  }

  outage(route: MockRoute, step: ScriptStep): void {
    this.#outages.set(route, step)
  }

  unscript(route: MockRoute): void {
    this.#queues.delete(route)
    this.#outages.delete(route)
  }

  /** The step this call of `route` follows: the next queued one, else the outage, else none. */
  nextStep(route: MockRoute): ScriptStep {
    return this.#queues.get(route)?.shift() ?? this.#outages.get(route) ?? {}
  }

  totalCalls(): number {
    return Object.values(this.calls).reduce((sum, n) => sum + n, 0)
  }

  acceptToken(token: string, user: string, expiresAt?: number): void {
    this.#bearers.set(token, { user, expiresAt })
  }

  /** The caller a request's bearer token names, or undefined when it names none still valid. */
  authenticate(request: Request): Caller | undefined {
    const header = request.headers.get('authorization') ?? ''
    const match = /^Bearer (.+)$/.exec(header)
    const caller = match?.[1] === undefined ? undefined : this.#bearers.get(match[1])
    if (caller?.expiresAt !== undefined && this.now() >= caller.expiresAt) return undefined
    return caller
  }

  /** Mints a database token (recorded, hook awaited). */
  async mint(options: MintOptions = {}): Promise<MintedCredential> {
    const subject = options.user ?? this.identity
    const user = options.group ?? subject
    const iat = Math.floor(this.now() / 1000)
    const exp = options.expired
      ? iat - EXPIRED_AGO_S
      : iat + (options.lifetimeS ?? this.#settings.tokenLifetimeS)
    const token = await this.#minter.sign({ sub: options.noSub ? undefined : subject, iat, exp })
    const credential: MintedCredential = {
      token,
      expiresAt: new Date(exp * 1000),
      user,
      ...(options.group === undefined ? {} : { group: options.group }),
      claims: options.claims,
      ttlS: options.ttlS,
    }
    this.minted.push(token)
    this.credentials.push(credential)
    await this.#settings.onCredentialMinted?.(token, credential.expiresAt, user)
    return credential
  }

  /** Mints a workspace access token for `subject`, accepted as a bearer until it expires. */
  async issueAccessToken(subject: string, lifetimeS: number): Promise<string> {
    const iat = Math.floor(this.now() / 1000)
    const token = await this.#minter.sign({ sub: subject, iat, exp: iat + lifetimeS })
    this.minted.push(token)
    this.acceptToken(token, subject, (iat + lifetimeS) * 1000)
    return token
  }
}
