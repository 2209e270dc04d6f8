import { type Socket, connect as tcpConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

/** A TLS probe that has not finished by now is talking to a black hole. */
export const TLS_PROBE_TIMEOUT_MS = 5_000
/** Postgres' SSLRequest: length 8, then the request code 80877103 (1234 << 16 | 5679). */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])

export type TlsProbe =
  | { kind: 'tls'; protocol: string | null; authorized: boolean }
  | { kind: 'refused-tls' }
  | { kind: 'unreachable'; code: string }
  | { kind: 'handshake-failed'; reason: string }

/**
 * Asks the Postgres server at `host:port` for TLS the way a client does (SSLRequest), then
 * completes the handshake, verifying the certificate against `host` when `verify` is set. Never
 * sends a password: it stops after the handshake.
 */
export function probeTls(
  host: string,
  port: number,
  verify: boolean,
  timeoutMs = TLS_PROBE_TIMEOUT_MS,
): Promise<TlsProbe> {
  return new Promise((resolve) => {
    let settled = false
    const sockets: Socket[] = []
    const done = (result: TlsProbe) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      for (const s of sockets) s.destroy()
      resolve(result)
    }
    const timer = setTimeout(() => done({ kind: 'unreachable', code: 'ETIMEDOUT' }), timeoutMs)
    const socket = tcpConnect({ host, port })
    sockets.push(socket)
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done({ kind: 'unreachable', code: err.code ?? err.message }),
    )
    socket.once('connect', () => socket.write(SSL_REQUEST))
    socket.once('data', (answer) => {
      if (answer[0] !== 0x53 /* 'S' */) {
        done({ kind: 'refused-tls' })
        return
      }
      socket.removeAllListeners('error')
      const tls = tlsConnect({
        socket,
        servername: /^[\d.:]+$/.test(host) ? undefined : host,
        rejectUnauthorized: verify,
      })
      sockets.push(tls)
      tls.once('secureConnect', () =>
        done({ kind: 'tls', protocol: tls.getProtocol(), authorized: tls.authorized }),
      )
      tls.once('error', (err) => done({ kind: 'handshake-failed', reason: err.message }))
    })
  })
}
