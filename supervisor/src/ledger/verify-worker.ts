import { parentPort } from 'node:worker_threads';
import { verifyChunk, type ChunkTask } from './verify-chunk.js';

// Worker entry for parallel verification: one ChunkTask in, one ChunkResult out.
parentPort?.on('message', (msg: { id: number; task: ChunkTask }) => {
  try {
    parentPort?.postMessage({ id: msg.id, result: verifyChunk(msg.task) });
  } catch (err) {
    parentPort?.postMessage({ id: msg.id, failure: (err as Error).message });
  }
});
