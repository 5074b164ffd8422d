/**
 * Version of the `eos.agent.v1` handshake. agent-host and supervisor must agree exactly;
 * bump it on any change a peer of the previous version would misread.
 */
export const PROTOCOL_VERSION = 1;
