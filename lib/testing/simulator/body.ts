import { railsError } from './answers.js'
import type { NewAttachment } from './data/messages.js'
import { isRecord, type Params } from './params.js'

// Room for 150000 four-byte characters, so an over-long message gets Chatwoot's 422, not a 413.
export const JSON_BODY_LIMIT = 4 * 1024 * 1024
// Chatwoot's default maximum attachment size is 40 MB; fifteen of them would not fit anyway.
export const MULTIPART_BODY_LIMIT = 64 * 1024 * 1024

/** Rails reads an empty body as no parameters, and a JSON array or scalar as none it can use. */
export function parseJson (body: string): Params {
  if (body.trim() === '') return {}
  let value: unknown
  try {
    value = JSON.parse(body)
  } catch (error) {
    throw Object.assign(railsError(400), { cause: error })
  }
  return isRecord(value) ? value : {}
}

/** Fields as strings, and the files sent as `attachments[]`, kept whole so a test can check their bytes. */
export async function parseMultipart (body: Buffer, contentType: string): Promise<Params> {
  let form: FormData
  try {
    form = await new Response(body, { headers: { 'content-type': contentType } }).formData()
  } catch (error) {
    throw Object.assign(railsError(400), { cause: error })
  }
  const params: Params = {}
  const attachments: NewAttachment[] = []
  for (const [name, value] of form) {
    if (typeof value === 'string') {
      params[name] = value
    } else if (name === 'attachments[]' || name === 'attachments') {
      attachments.push({
        filename: value.name,
        contentType: value.type || 'application/octet-stream',
        data: Buffer.from(await value.arrayBuffer())
      })
    }
  }
  params.attachments = attachments
  return params
}
