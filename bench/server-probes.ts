import type { Child } from './child-process.js'

/** How often `/readyz` is asked while a broker fetches its first credentials. */
const READY_POLL_MS = 50
/** A broker not ready by then (its first credential calls held, or failing) has failed outright. */
const READY_TIMEOUT_MS = 30_000

/** A GET, with the client token when given: the status and the body as text. */
export async function getJson(
  url: string,
  token?: string,
): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  })
  return { status: response.status, text: await response.text() }
}

/** Polls the broker's `/readyz` until it holds a valid credential for every target. */
export async function untilReady(brokerUrl: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await getJson(`${brokerUrl}/readyz`).catch(() => ({ status: 0 }))).status !== 200) {
    if (Date.now() > deadline)
      throw new Error(`broker at ${brokerUrl} not ready in ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS))
  }
}

/** The URL a server printed: `listening <url>` (bench servers) or its pino line (the functions). */
export async function listeningUrl(child: Child): Promise<string> {
  const match = await child.waitFor(
    /listening (http:\/\/\S+)|"url":"(http:\/\/[^"]+)"[^\n]*"msg":"functions listening"/,
  )
  return (match[1] ?? match[2]) as string
}
