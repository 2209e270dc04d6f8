import { randomUUID } from 'node:crypto'
import { type CryptoKey, generateKeyPair, SignJWT } from 'jose'

/** The claims of a token the kit mints. */
export interface MintClaims {
  /** Omitted from the token when undefined. */
  sub: string | undefined
  /** Seconds since the epoch. */
  iat: number
  /** Seconds since the epoch. */
  exp: number
}

/**
 * Signs real JWTs (ES256, with a key generated per workspace), so that the broker's token handling
 * (`decodeJwt`, `exp`, `sub`) is exercised exactly as with Databricks' tokens. The broker never
 * verifies signatures; `verificationKey` is there for tests that want to.
 */
export class TokenMinter {
  readonly #keys: Promise<{ privateKey: CryptoKey; publicKey: CryptoKey }>
  readonly #issuer: string
  readonly #kid = randomUUID()

  constructor(issuer: string) {
    this.#issuer = issuer
    this.#keys = generateKeyPair('ES256')
  }

  /** The public key the tokens verify with. */
  async verificationKey(): Promise<CryptoKey> {
    return (await this.#keys).publicKey
  }

  async sign(claims: MintClaims): Promise<string> {
    const jwt = new SignJWT({
      jti: randomUUID(),
      ...(claims.sub === undefined ? {} : { sub: claims.sub }),
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.#kid })
      .setIssuer(this.#issuer)
      .setAudience('databricks')
      .setIssuedAt(claims.iat)
      .setExpirationTime(claims.exp)
    return jwt.sign((await this.#keys).privateKey)
  }
}
