/**
 * `lakebase-broker/broker`: the credential broker, run inside your own process. The
 * `lakebase-broker broker` command runs the same broker as a process of its own.
 */
export { ConfigError } from './config.js'
export { type InProcessBroker, type StartBrokerOptions, startBroker } from './in-process.js'
