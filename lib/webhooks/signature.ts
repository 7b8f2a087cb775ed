import { createHmac, timingSafeEqual } from 'node:crypto'

/** The headers Chatwoot signs a delivery with (CONTRACT.md, Webhooks). */
export interface SignatureHeaders {
  signature?: string
  timestamp?: string
}

export interface VerifySettings {
  /** How far the timestamp may be from now, either way: older is a replay, newer a skewed clock. */
  windowMs: number
  nowMs?: number
}

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`, as Chatwoot sends it. */
export function signWebhook (secret: string, timestamp: string | number, rawBody: string | Buffer): string {
  const hmac = createHmac('sha256', secret)
  hmac.update(`${timestamp}.`)
  hmac.update(rawBody)
  return `sha256=${hmac.digest('hex')}`
}

const SIGNATURE = /^sha256=([0-9a-f]{64})$/i
const SECONDS = /^\d{1,12}$/

/**
 * Which check a delivery fails, or undefined when it passes. The answer names the check and what was
 * wrong with the header, never the secret nor the expected signature (issue #13809: admins need to
 * know a secret mismatch from a clock skew, not the value).
 */
export function signatureProblem (headers: SignatureHeaders, rawBody: Buffer, secret: string, settings: VerifySettings): string | undefined {
  const { signature, timestamp } = headers
  const { windowMs, nowMs = Date.now() } = settings
  if (timestamp === undefined || timestamp === '') return 'missing header X-Chatwoot-Timestamp'
  if (signature === undefined || signature === '') return 'missing header X-Chatwoot-Signature'
  if (!SECONDS.test(timestamp)) return 'X-Chatwoot-Timestamp is not unix seconds'
  const skewMs = Math.abs(nowMs - Number(timestamp) * 1000)
  if (skewMs > windowMs) {
    return `stale timestamp: X-Chatwoot-Timestamp is ${Math.round(skewMs / 1000)} s from this server's clock (window ${Math.round(windowMs / 1000)} s)`
  }
  const given = SIGNATURE.exec(signature)
  if (given === null) return 'X-Chatwoot-Signature is not "sha256=<64 hex digits>"'
  const expected = Buffer.from(signWebhook(secret, timestamp, rawBody).slice('sha256='.length), 'hex')
  // Both are 32 bytes here (the pattern fixed the length), as timingSafeEqual requires.
  if (!timingSafeEqual(Buffer.from(given[1]!, 'hex'), expected)) {
    return 'bad signature: the body was not signed with this instance\'s chatwoot.webhookSecret (compare the secret shown in Chatwoot)'
  }
  return undefined
}

/** Constant-time equality of two strings of any length (a path token). */
export function sameSecret (given: string, expected: string): boolean {
  const a = createHmac('sha256', 'path-token').update(given).digest()
  const b = createHmac('sha256', 'path-token').update(expected).digest()
  return timingSafeEqual(a, b)
}
