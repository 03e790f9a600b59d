/**
 * Message batches held in memory: each batch's items and their outcomes are decided when it
 * is created; it shows `in_progress` until `processingMs` passed (or until it was canceled),
 * then `ended` with a `results_url`. Bounded: past `maxBatches` the oldest is forgotten.
 */
import type { MessageBatch, MessageBatchIndividualResponse } from '@anthropic-ai/sdk/resources/messages/batches';
import type { Message } from '@anthropic-ai/sdk/resources/messages';
import { batchId } from './ids.js';
import type { BatchItemOutcome } from './script-types.js';

export interface BatchItem {
  custom_id: string;
  outcome: BatchItemOutcome;
  /** The reply of a succeeded item. */
  message?: Message;
  /** The error body of an errored item. */
  error?: { type: 'error'; error: { type: string; message: string }; request_id: string | null };
}

export interface StoredBatch {
  id: string;
  createdAt: number;
  /** When processing ends unless canceled first. */
  endsAt: number;
  canceledAt: number | null;
  items: BatchItem[];
}

const DAY_MS = 24 * 60 * 60 * 1000;
const iso = (ms: number): string => new Date(ms).toISOString();

export class BatchStore {
  readonly #batches = new Map<string, StoredBatch>();
  readonly #max: number;
  readonly #now: () => number;

  constructor(maxBatches = 1000, now: () => number = Date.now) {
    this.#max = maxBatches;
    this.#now = now;
  }

  create(items: BatchItem[], processingMs: number): StoredBatch {
    const now = this.#now();
    const batch: StoredBatch = { id: batchId(), createdAt: now, endsAt: now + processingMs, canceledAt: null, items };
    this.#batches.set(batch.id, batch);
    if (this.#batches.size > this.#max) {
      const oldest = this.#batches.keys().next().value;
      if (oldest !== undefined) this.#batches.delete(oldest);
    }
    return batch;
  }

  get(id: string): StoredBatch | undefined {
    return this.#batches.get(id);
  }

  /** Newest first, as the API lists them. */
  list(): StoredBatch[] {
    return [...this.#batches.values()].reverse();
  }

  delete(id: string): boolean {
    return this.#batches.delete(id);
  }

  clear(): void {
    this.#batches.clear();
  }

  /** Whether the batch has ended (processed, or canceled before). */
  ended(b: StoredBatch): boolean {
    const now = this.#now();
    if (b.canceledAt !== null && b.canceledAt < b.endsAt) return now > b.canceledAt;
    return now >= b.endsAt;
  }

  /** Starts canceling; a no-op on an ended batch. Returns whether it was in progress. */
  cancel(b: StoredBatch): boolean {
    if (this.ended(b) || b.canceledAt !== null) return false;
    b.canceledAt = this.#now();
    return true;
  }

  /** Each item's outcome once ended: items not yet processed when canceled are `canceled`. */
  outcomes(b: StoredBatch): BatchItemOutcome[] {
    const canceledEarly = b.canceledAt !== null && b.canceledAt < b.endsAt;
    return b.items.map((i) => (canceledEarly && i.outcome === 'succeeded' ? 'canceled' : i.outcome));
  }

  /**
   * The `MessageBatch` object. `phase` forces the status of the response that just created
   * or canceled it (`in_progress` / `canceling`), whatever the clock says.
   */
  view(b: StoredBatch, baseUrl: string, phase?: 'created' | 'canceling'): MessageBatch {
    const ended = phase === undefined && this.ended(b);
    const counts = { processing: 0, succeeded: 0, errored: 0, canceled: 0, expired: 0 };
    if (ended) for (const o of this.outcomes(b)) counts[o]++;
    else counts.processing = b.items.length;
    const status: MessageBatch['processing_status'] = ended ? 'ended' : b.canceledAt !== null ? 'canceling' : 'in_progress';
    const endedAt = b.canceledAt !== null && b.canceledAt < b.endsAt ? b.canceledAt : b.endsAt;
    return {
      id: b.id,
      type: 'message_batch',
      processing_status: phase === 'created' ? 'in_progress' : status,
      request_counts: counts,
      ended_at: ended ? iso(endedAt) : null,
      created_at: iso(b.createdAt),
      expires_at: iso(b.createdAt + DAY_MS),
      archived_at: null,
      cancel_initiated_at: b.canceledAt !== null ? iso(b.canceledAt) : null,
      results_url: ended ? `${baseUrl}/v1/messages/batches/${b.id}/results` : null,
    };
  }

  /** The lines of the results file, in request order. */
  results(b: StoredBatch): MessageBatchIndividualResponse[] {
    const outcomes = this.outcomes(b);
    return b.items.map((item, i): MessageBatchIndividualResponse => {
      const outcome = outcomes[i]!;
      switch (outcome) {
        case 'succeeded':
          return { custom_id: item.custom_id, result: { type: 'succeeded', message: item.message! } };
        case 'errored':
          return { custom_id: item.custom_id, result: { type: 'errored', error: item.error! as never } };
        case 'canceled':
          return { custom_id: item.custom_id, result: { type: 'canceled' } };
        case 'expired':
          return { custom_id: item.custom_id, result: { type: 'expired' } };
      }
    });
  }
}
