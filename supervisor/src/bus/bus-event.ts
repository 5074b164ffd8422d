/** Priority levels as array indexes: 3 = critical, 2 = high, 1 = normal, 0 = low. */
export type PriorityLevel = 0 | 1 | 2 | 3;

export const PRIORITY_NAMES = ['low', 'normal', 'high', 'critical'] as const;
export type PriorityName = (typeof PRIORITY_NAMES)[number];

/** An accepted event inside the supervisor. */
export interface BusEvent {
  id: string;
  channel: string;
  /** Publisher's agent id, from the socket the call came in on. */
  source: string;
  priority: PriorityLevel;
  timestampMs: number;
  /** JSON payload bytes as the publisher sent them. */
  body: Buffer;
}
