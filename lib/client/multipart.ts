import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'

export interface Attachment {
  filename: string
  contentType: string
  /** Bytes, or a function giving a fresh stream: every attempt calls it again, so a retry never re-reads a consumed stream. */
  data: Buffer | Uint8Array | (() => Readable | AsyncIterable<Uint8Array>)
}

export interface MultipartBody {
  contentType: string
  body: Buffer | Readable
}

const CRLF = '\r\n'

function quoted (value: string): string {
  // RFC 7578: names are quoted strings; escape what would end them or break the header line.
  return value.replace(/["\\\r\n]/g, (character) => encodeURIComponent(character))
}

function partHead (boundary: string, disposition: string, contentType?: string): Buffer {
  const type = contentType === undefined ? '' : `Content-Type: ${contentType.replace(/[\r\n]/g, '')}${CRLF}`
  return Buffer.from(`--${boundary}${CRLF}Content-Disposition: form-data; ${disposition}${CRLF}${type}${CRLF}`)
}

/**
 * A multipart/form-data body built for one attempt. All-buffer bodies are one Buffer (with a
 * length); with a stream among the files, a generator that pulls each file in turn.
 */
export function multipartBody (fields: Array<[string, string]>, files: Attachment[]): MultipartBody {
  const boundary = `----fastify-chatwoot-${randomBytes(12).toString('hex')}`
  const head: Buffer[] = fields.map(([name, value]) =>
    Buffer.concat([partHead(boundary, `name="${quoted(name)}"`), Buffer.from(value), Buffer.from(CRLF)]))
  const fileHead = (file: Attachment) =>
    partHead(boundary, `name="attachments[]"; filename="${quoted(file.filename)}"`, file.contentType)
  const end = Buffer.from(`--${boundary}--${CRLF}`)
  const contentType = `multipart/form-data; boundary=${boundary}`

  if (files.every((file) => typeof file.data !== 'function')) {
    const chunks = [...head]
    for (const file of files) chunks.push(fileHead(file), Buffer.from(file.data as Uint8Array), Buffer.from(CRLF))
    chunks.push(end)
    return { contentType, body: Buffer.concat(chunks) }
  }
  async function * stream () {
    yield * head
    for (const file of files) {
      yield fileHead(file)
      if (typeof file.data === 'function') {
        for await (const chunk of file.data()) yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      } else {
        yield file.data
      }
      yield Buffer.from(CRLF)
    }
    yield end
  }
  return { contentType, body: Readable.from(stream(), { objectMode: false }) }
}
