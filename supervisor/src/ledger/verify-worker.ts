import { parentPort } from 'node:worker_threads';
import type { ScanBuffer } from './segment-scanner.js';
import { verifyChunk, type ChunkTask } from './verify-chunk.js';

// One read buffer for all chunks of this worker (the worker ends with the verification).
const scratch: ScanBuffer = {};

// Worker entry for parallel verification: one ChunkTask in, one ChunkResult out.
parentPort?.on('message', (msg: { id: number; task: ChunkTask }) => {
  try {
    parentPort?.postMessage({ id: msg.id, result: verifyChunk(msg.task, scratch) });
  } catch (err) {
    parentPort?.postMessage({ id: msg.id, failure: (err as Error).message });
  }
});
