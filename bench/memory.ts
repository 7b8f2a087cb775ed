// Bounded memory (issue 11): a gateway meets millions of distinct contacts a month, and before the
// bound every one of them left its conversation id on the heap (527 B each, expired or not). Here a
// million distinct contacts go through the layer deliver() uses (lookup, then get-or-create), and
// the heap is read after a forced GC: with the default bound it must stay small, and a second pass
// over the same contacts must not grow it further.
import { performance } from 'node:perf_hooks'
import { DEFAULT_MAX_ENTRIES } from '../dist/bounded-map.js'
import { ConversationCache } from '../dist/conversations/conversation-cache.js'
import { conversationKeys } from '../dist/conversations/keys.js'
import type { CachedConversation, ConversationStore } from '../dist/conversations/store.js'
import { atMost, figureOf, type MeasureOptions, type SuiteResult } from './measure.js'

// rounds: the passes over the same contacts; operations: the distinct contacts of each.
export const options: MeasureOptions = { operations: 1_000_000, concurrency: 64, rounds: 2 }
const HEAP_GROWTH_GOAL_MB = 64
// A second pass may cost a little more (the Map's hash table after a million deletions), not a second helping.
const SECOND_PASS_GOAL = 1.1
// On a loaded machine the suite stops a pass here rather than run for minutes; the figures say so.
const PASS_LIMIT_MS = 25_000
const MB = 1024 * 1024

export const title = `${options.operations.toLocaleString('en')} distinct contacts through the conversation cache ` +
  `(default bound ${DEFAULT_MAX_ENTRIES.toLocaleString('en')}), heap after a forced GC`

/**
 * Stands where Redis does in production: outside this heap. It remembers nothing, so every contact
 * misses, takes the lock and creates: the longest path through the cache. Only what the cache calls.
 */
const remoteStore: Pick<ConversationStore, 'get' | 'set' | 'tryLock' | 'unlock' | 'extendLock' | 'compareAndDelete' | 'announce'> = {
  get: async () => undefined,
  set: async () => {},
  tryLock: async () => 'token',
  unlock: async () => {},
  extendLock: async () => true,
  compareAndDelete: async () => false,
  announce: async () => {}
}

function heapMb (): number {
  // Twice: the first collection may leave what finalizers freed for the next one.
  globalThis.gc!()
  globalThis.gc!()
  return process.memoryUsage().heapUsed / MB
}

/** One pass of `contacts` distinct contacts, `concurrency` at a time, as deliver() does it: look, then get-or-create. */
async function pass (cache: ConversationCache, contacts: number, concurrency: number) {
  let next = 0
  let created = 0
  const deadline = performance.now() + PASS_LIMIT_MS
  const create = async (): Promise<CachedConversation> => ({ conversationId: ++created, contactId: created })
  const worker = async () => {
    while (next < contacts && performance.now() < deadline) {
      // Built per contact, as deliver() builds them: the bench itself holds no contact.
      const keys = conversationKeys('fcw:', 'bench', 1, 1, `55${String(next++).padStart(11, '0')}@s.whatsapp.net`)
      if (await cache.lookup(keys) === undefined) await cache.resolve(keys, create)
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, worker))
  const seconds = (performance.now() - started) / 1000
  return { done: next, opsPerSec: next / seconds, seconds }
}

export async function run ({ operations, concurrency }: MeasureOptions): Promise<SuiteResult> {
  if (typeof globalThis.gc !== 'function') throw new Error('the memory suite reads the heap after a forced GC: run node with --expose-gc')
  const cache = new ConversationCache({
    store: remoteStore as ConversationStore,
    ttlMs: 8 * 3_600_000,
    localTtlMs: 60_000,
    lockTtlMs: 30_000,
    count: () => {}
  })
  const before = heapMb()
  const first = await pass(cache, operations, concurrency)
  const afterFirst = heapMb()
  const second = await pass(cache, operations, concurrency)
  const afterSecond = heapMb()
  // Read after the last GC: the cache, and all it holds, is alive while the heap is measured.
  const kept = cache.localEntries

  const firstGrowth = afterFirst - before
  const secondGrowth = afterSecond - before
  const round1 = (value: number) => Math.round(value * 10) / 10
  const cutShort = first.done < operations || second.done < operations
  return {
    figures: [
      figureOf('first pass, every contact new (baseline)', [first.opsPerSec], [1]),
      figureOf('second pass, the same contacts again', [second.opsPerSec], [second.opsPerSec / first.opsPerSec])
    ],
    goals: [
      atMost(`heap growth after ${first.done.toLocaleString('en')} distinct contacts`, round1(firstGrowth), HEAP_GROWTH_GOAL_MB, 'MB'),
      atMost('heap growth, second pass over first (flat)', Math.round(secondGrowth / firstGrowth * 100) / 100, SECOND_PASS_GOAL, 'x')
    ],
    facts: {
      'contacts per pass': cutShort ? `${first.done} / ${second.done} (cut short at ${PASS_LIMIT_MS / 1000} s a pass)` : operations,
      'ids kept in process': kept,
      'heap growth after the second pass (MB)': round1(secondGrowth),
      'bytes per id kept': Math.round(firstGrowth * MB / kept),
      'bytes per distinct contact seen': Math.round(firstGrowth * MB / first.done),
      'pass seconds (first, second)': `${round1(first.seconds)}, ${round1(second.seconds)}`
    }
  }
}
