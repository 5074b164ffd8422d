/**
 * Version of the `eos.agent.v1` handshake. agent-host and supervisor must agree exactly;
 * bump it on any change a peer of the previous version would misread.
 *
 * - 1: the walking skeleton; `act()` was the unary `Act` RPC.
 * - 2: acts travel on the Session stream (`ActBatch` up, `ActResults` down); the unary `Act` RPC is gone.
 */
export const PROTOCOL_VERSION = 2;
