// The webhook receiver's pure rules: Chatwoot's signature check, which events reach the host, and
// the failure reason an agent sees. No server: times and payloads are given.
import { createHmac } from 'node:crypto'
import { test } from 'tap'
import { classify, hasSourceId } from '../../lib/webhooks/events.js'
import { failureReason } from '../../lib/webhooks/outcome.js'
import { sameSecret, signatureProblem, signWebhook } from '../../lib/webhooks/signature.js'

const SECRET = 'whsec-correct-horse-battery'
const NOW_S = 1_800_000_000
const BODY = Buffer.from('{"event":"message_created","id":7}')
const settings = { windowMs: 300_000, nowMs: NOW_S * 1000 }

test('signWebhook is HMAC-SHA256 of "<timestamp>.<raw body>", hex, prefixed sha256=', async (t) => {
  const expected = createHmac('sha256', SECRET).update(`${NOW_S}.${BODY.toString()}`).digest('hex')
  t.equal(signWebhook(SECRET, NOW_S, BODY), `sha256=${expected}`)
})

test('a good signature passes, also at the edges of the window', async (t) => {
  for (const timestamp of [NOW_S, NOW_S - 300, NOW_S + 300]) {
    const headers = { timestamp: String(timestamp), signature: signWebhook(SECRET, timestamp, BODY) }
    t.equal(signatureProblem(headers, BODY, SECRET, settings), undefined, `timestamp ${timestamp - NOW_S} s`)
  }
  const upper = { timestamp: String(NOW_S), signature: signWebhook(SECRET, NOW_S, BODY).toUpperCase().replace('SHA256=', 'sha256=') }
  t.equal(signatureProblem(upper, BODY, SECRET, settings), undefined, 'hex digits in either case')
})

test('each failed check is named, and never shows the secret or the expected signature', async (t) => {
  const good = signWebhook(SECRET, NOW_S, BODY)
  const cases: Array<[string, { timestamp?: string, signature?: string }, Buffer, string, RegExp]> = [
    ['no timestamp', { signature: good }, BODY, SECRET, /^missing header X-Chatwoot-Timestamp/],
    ['no signature', { timestamp: String(NOW_S) }, BODY, SECRET, /^missing header X-Chatwoot-Signature/],
    ['empty signature', { timestamp: String(NOW_S), signature: '' }, BODY, SECRET, /^missing header X-Chatwoot-Signature/],
    ['timestamp in ms', { timestamp: `${NOW_S}000.5`, signature: good }, BODY, SECRET, /not unix seconds/],
    ['stale', { timestamp: String(NOW_S - 301), signature: signWebhook(SECRET, NOW_S - 301, BODY) }, BODY, SECRET, /^stale timestamp: .* 301 s .*window 300 s/],
    ['future', { timestamp: String(NOW_S + 3600), signature: signWebhook(SECRET, NOW_S + 3600, BODY) }, BODY, SECRET, /^stale timestamp: .* 3600 s/],
    ['no prefix', { timestamp: String(NOW_S), signature: good.slice(7) }, BODY, SECRET, /not "sha256=<64 hex digits>"/],
    ['short', { timestamp: String(NOW_S), signature: good.slice(0, -2) }, BODY, SECRET, /not "sha256=<64 hex digits>"/],
    ['other secret', { timestamp: String(NOW_S), signature: good }, BODY, 'another-secret', /^bad signature/],
    ['body changed', { timestamp: String(NOW_S), signature: good }, Buffer.from(`${BODY} `), SECRET, /^bad signature/],
    ['timestamp changed', { timestamp: String(NOW_S - 1), signature: good }, BODY, SECRET, /^bad signature/]
  ]
  for (const [name, headers, body, secret, expected] of cases) {
    const problem = signatureProblem(headers, body, secret, settings)
    t.match(problem, expected, name)
    t.notMatch(problem, SECRET, `${name}: no secret`)
    t.notMatch(problem, good.slice(7, 20), `${name}: no signature`)
  }
})

test('sameSecret compares tokens of any length', async (t) => {
  t.ok(sameSecret('a'.repeat(30), 'a'.repeat(30)))
  t.notOk(sameSecret('a'.repeat(30), 'a'.repeat(31)))
  t.notOk(sameSecret('', 'a'.repeat(30)))
})

const message = (extra: Record<string, unknown> = {}) => ({
  event: 'message_created', id: 11, content: 'hello', message_type: 'outgoing', private: false, source_id: null, conversation: { id: 5 }, ...extra
})

test('only outgoing and template messages, not private, not echoes, reach the host', async (t) => {
  const agent = classify(message(), hasSourceId)
  t.match(agent, { action: 'agent-message', conversationId: 5, message: { id: 11 } })
  t.match(classify(message({ message_type: 'template' }), hasSourceId), { action: 'agent-message' }, 'greetings and out-of-office')
  t.match(classify(message({ message_type: 'incoming', source_id: 'wamid.1' }), hasSourceId), { action: 'ignored', reason: 'message_type incoming' })
  t.match(classify(message({ message_type: 'activity' }), hasSourceId), { action: 'ignored' })
  t.match(classify(message({ private: true }), hasSourceId), { action: 'ignored', reason: 'private note' })
  t.match(classify(message({ source_id: 'wamid.2' }), hasSourceId), { action: 'ignored', reason: /echo/ }, 'our own mirrored post')
  t.match(classify(message({ source_id: '' }), hasSourceId), { action: 'agent-message' }, 'an empty source_id is none')
  t.match(classify(message({ source_id: 'x' }), () => false), { action: 'agent-message' }, 'the host decides what an echo is')
  t.match(classify(message({ conversation: { display_id: 9, id: 5 } }), hasSourceId), { conversationId: 9 }, 'display_id first')
  t.match(classify(message({ conversation: {} }), hasSourceId), { action: 'ignored', reason: /without a conversation id/ })
  t.match(classify(message({ id: '11' }), hasSourceId), { action: 'ignored', reason: /without a message id/ })
})

test('status changes are recognised; other events are ignored with their name', async (t) => {
  t.match(classify({ event: 'conversation_status_changed', id: 5, status: 'resolved' }, hasSourceId),
    { action: 'status-changed', conversationId: 5, status: 'resolved' })
  t.match(classify({ event: 'conversation_updated', id: 5 }, hasSourceId), { action: 'status-changed', status: undefined })
  t.match(classify({ event: 'contact_created' }, hasSourceId), { action: 'ignored', reason: 'event contact_created' })
  t.match(classify({}, hasSourceId), { action: 'ignored', reason: 'event missing' })
})

test('failureReason: code and message, cut to 500 characters', async (t) => {
  t.equal(failureReason(Object.assign(new Error('number not on WhatsApp'), { code: 'WA_131026' })), 'WA_131026: number not on WhatsApp')
  t.equal(failureReason(new Error('plain')), 'plain')
  t.equal(failureReason('a string'), 'a string')
  const long = failureReason(new Error('x'.repeat(2000)))
  t.equal(long.length, 500)
  t.ok(long.endsWith('…'))
})
