// multipartBody builds the attachment upload by hand (undici's FormData cannot be rebuilt for a
// retry from a stream factory). Checked by parsing what it builds. Pure: no server.
import { Readable } from 'node:stream'
import { test } from 'tap'
import { multipartBody } from '../../lib/client/multipart.js'

async function bytes (body: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(body)) return body
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(Buffer.from(chunk))
  return Buffer.concat(chunks)
}

function boundaryOf (contentType: string): string {
  const match = /^multipart\/form-data; boundary=(\S+)$/.exec(contentType)
  if (match === null) throw new Error(`not a multipart content type: ${contentType}`)
  return match[1] as string
}

/** Each part's header lines and body, split on the boundary as a server would. */
function parts (body: Buffer, boundary: string) {
  const text = body.toString('latin1')
  if (!text.endsWith(`--${boundary}--\r\n`)) throw new Error('no closing boundary')
  return text.split(`--${boundary}`).slice(1, -1).map((raw) => {
    if (!raw.startsWith('\r\n') || !raw.endsWith('\r\n')) throw new Error(`bad part framing: ${JSON.stringify(raw.slice(0, 40))}`)
    const [head, ...rest] = raw.slice(2, -2).split('\r\n\r\n')
    return { headers: (head as string).split('\r\n'), body: rest.join('\r\n\r\n') }
  })
}

test('fields then files, each framed and typed; all buffers give one Buffer', async (t) => {
  const { contentType, body } = multipartBody([['content', 'hello'], ['message_type', 'outgoing']], [
    { filename: 'a.txt', contentType: 'text/plain', data: Buffer.from('first\r\nfile') },
    { filename: 'b.bin', contentType: 'application/octet-stream', data: new Uint8Array([0, 255, 13, 10]) }
  ])
  t.ok(Buffer.isBuffer(body), 'a Buffer, so the request has a length')
  const found = parts(body as Buffer, boundaryOf(contentType))
  t.same(found, [
    { headers: ['Content-Disposition: form-data; name="content"'], body: 'hello' },
    { headers: ['Content-Disposition: form-data; name="message_type"'], body: 'outgoing' },
    { headers: ['Content-Disposition: form-data; name="attachments[]"; filename="a.txt"', 'Content-Type: text/plain'], body: 'first\r\nfile' },
    { headers: ['Content-Disposition: form-data; name="attachments[]"; filename="b.bin"', 'Content-Type: application/octet-stream'], body: '\u0000\u00ff\r\n' }
  ])
})

test('each body gets its own boundary, absent from the content', async (t) => {
  const one = multipartBody([['content', 'x']], [])
  const two = multipartBody([['content', 'x']], [])
  t.not(boundaryOf(one.contentType), boundaryOf(two.contentType))
  t.match(boundaryOf(one.contentType), /^----fastify-chatwoot-[0-9a-f]{24}$/)
})

test('a stream factory gives a stream, called again for every body built (a retry re-reads nothing)', async (t) => {
  let calls = 0
  const file = {
    filename: 'voice.ogg',
    contentType: 'audio/ogg',
    data: () => { calls++; return Readable.from([Buffer.from('chunk-1;'), Buffer.from('chunk-2')]) }
  }
  const attempts = [multipartBody([['content', 'hi']], [file, { filename: 'n.txt', contentType: 'text/plain', data: Buffer.from('note') }]),
    multipartBody([['content', 'hi']], [file])]
  t.equal(calls, 0, 'nothing is read until the body is')
  const first = attempts[0]!
  t.ok(first.body instanceof Readable, 'a stream among the files: a stream body')
  const found = parts(await bytes(first.body), boundaryOf(first.contentType))
  t.same(found.map((part) => part.body), ['hi', 'chunk-1;chunk-2', 'note'])
  t.equal(calls, 1)
  t.same(parts(await bytes(attempts[1]!.body), boundaryOf(attempts[1]!.contentType)).map((part) => part.body), ['hi', 'chunk-1;chunk-2'])
  t.equal(calls, 2, 'each attempt asked for a fresh stream')
})

test('a stream of strings (an async iterable) is sent as bytes', async (t) => {
  async function * text () { yield 'héllo' as unknown as Uint8Array }
  const { contentType, body } = multipartBody([], [{ filename: 't.txt', contentType: 'text/plain', data: text }])
  const [part] = parts(await bytes(body), boundaryOf(contentType))
  t.equal(Buffer.from(part!.body, 'latin1').toString('utf8'), 'héllo')
})

test('names and types cannot break out of their header line', async (t) => {
  const { contentType, body } = multipartBody([['na"me\r\nX-Evil: 1', 'v']], [
    { filename: 'a"b\\c\r\nContent-Type: text/html.txt', contentType: 'text/plain\r\nX-Evil: 1', data: Buffer.from('d') }
  ])
  const found = parts(body as Buffer, boundaryOf(contentType))
  t.same(found[0]!.headers, ['Content-Disposition: form-data; name="na%22me%0D%0AX-Evil: 1"'])
  t.same(found[1]!.headers, [
    'Content-Disposition: form-data; name="attachments[]"; filename="a%22b%5Cc%0D%0AContent-Type: text/html.txt"',
    'Content-Type: text/plainX-Evil: 1'
  ])
  t.notMatch(body.toString(), /\r\nX-Evil/, 'no injected header line')
})
