import { onTestFinished } from 'vitest'
import {
  createMockWorkspace,
  type MockWorkspace,
  type MockWorkspaceOptions,
} from '../testing/workspace/index.js'
import { freePort } from './free-port.js'

/**
 * A mock workspace served on a free loopback port, which a broker reaches as it would a real
 * one (`ws.env()` points it there); the socket closes when the test finishes.
 */
export async function loopbackWorkspace(
  options: Omit<MockWorkspaceOptions, 'host'> = {},
): Promise<MockWorkspace> {
  const ws = createMockWorkspace({ ...options, host: `http://127.0.0.1:${await freePort()}` })
  const server = await ws.listen()
  onTestFinished(() => server.close())
  return ws
}
