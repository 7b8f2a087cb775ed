// examples/gateway: POST /instances/:instance/media (multipart), and what callers see while
// Chatwoot is down.
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'tap'
import { FormData, request } from 'undici'
import { createChatwootSimulator, serverUrl } from '../../lib/testing/index.js'
import { testDatabase } from '../helpers/app.js'
import { addInstance, EMPTY, message, multipart, postMessage, setup, startGateway, storedMessages, tally } from './fixture.js'

const MAX_FILE = 64 * 1024
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex')

/** A form with `fields`, and `files` as [field name, file name, type, bytes]. */
function form (fields: Record<string, string>, files: Array<[string, string, string, Buffer]> = []) {
  const data = new FormData()
  for (const [name, value] of Object.entries(fields)) data.append(name, value)
  for (const [name, filename, type, bytes] of files) data.append(name, new Blob([bytes], { type }), filename)
  return data
}

test('media over real HTTP: two files and a caption are stored on one message, with their exact bytes', async (t) => {
  const { sim, account, app } = await setup(t, { maxFileSize: MAX_FILE })
  await addInstance(app, sim, account)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const photo = randomBytes(MAX_FILE) // exactly the limit: accepted
  const notes = Buffer.from('first line\nsecond line\n')

  const response = await request(`${address}/instances/acme/media`, {
    method: 'POST',
    body: form({ identifier: 'alice@s.whatsapp.net', name: 'Alice', content: 'two files' },
      [['attachments', 'photo.jpg', 'image/jpeg', photo], ['attachments', 'notes.txt', 'text/plain', notes]])
  })
  const answer = await response.body.json() as Record<string, unknown>
  t.equal(response.statusCode, 200, 'delivered')
  t.match(answer, { messageId: Number, conversationId: Number, contactId: Number, sourceId: String, cache: 'miss' })

  t.strictSame(await storedMessages(sim, account), [{
    id: answer.messageId, content: 'two files', source_id: answer.sourceId, display_id: answer.conversationId, message_type: 0, contact_id: answer.contactId
  }], 'one message, with the caption, in the answer\'s conversation')
  const files = await sim.query('SELECT message_id, file_type, extension, meta FROM attachments WHERE account_id = $1 ORDER BY id', [account.accountId])
  t.strictSame(files, [
    { message_id: answer.messageId, file_type: 0, extension: 'jpg', meta: { filename: 'photo.jpg', content_type: 'image/jpeg', byte_size: MAX_FILE, sha256: sha256(photo) } },
    { message_id: answer.messageId, file_type: 3, extension: 'txt', meta: { filename: 'notes.txt', content_type: 'text/plain', byte_size: notes.length, sha256: sha256(notes) } }
  ], 'both files on that message, in order, byte for byte')
  const [contact] = await sim.query('SELECT identifier, name FROM contacts WHERE id = $1', [answer.contactId])
  t.strictSame(contact, { identifier: 'alice@s.whatsapp.net', name: 'Alice' }, 'the contact made from the form fields')
})

test('bad media requests answer 4xx naming the field, and nothing reaches Chatwoot', async (t) => {
  const { sim, account, app } = await setup(t, { maxFileSize: MAX_FILE })
  await addInstance(app, sim, account)
  const small = Buffer.from('hello')
  const post = async (data: FormData) => app.inject({ method: 'POST', url: '/instances/acme/media', ...await multipart(data) })

  const noIdentifier = await post(form({ content: 'x' }, [['attachments', 'a.txt', 'text/plain', small]]))
  t.equal(noIdentifier.statusCode, 400, 'no identifier: 400')
  t.match(noIdentifier.json(), { code: 'GATEWAY_VALIDATION', field: 'body.identifier' })

  // The same rules as the JSON route's, so a bad field never costs a trip to Chatwoot.
  const fieldCases: Array<[string, Record<string, string>, string]> = [
    ['a phone number without +', { identifier: 'alice', phone_number: '5511999990001', content: 'x' }, 'body.phone_number'],
    ['an identifier of 256 characters', { identifier: 'a'.repeat(256), content: 'x' }, 'body.identifier'],
    ['content of 150001 characters', { identifier: 'alice', content: 'x'.repeat(150_001) }, 'body.content'],
    ['an unknown field', { identifier: 'alice', content: 'x', vip: 'yes' }, 'body.vip']
  ]
  for (const [what, fields, field] of fieldCases) {
    const answer = await post(form(fields))
    t.equal(answer.statusCode, 400, `${what}: 400`)
    t.match(answer.json(), { code: 'GATEWAY_VALIDATION', error: 'Bad Request', field }, `${what}: field ${field}`)
  }
  const longField = await post(form({ identifier: 'alice', content: 'x'.repeat(600_001) }))
  t.equal(longField.statusCode, 413, 'a text field above the field size: 413, never cut short')
  t.match(longField.json(), { code: 'GATEWAY_FIELD_TOO_LARGE', error: 'Payload Too Large', field: 'body.content' })

  const emptyIdentifier = await post(form({ identifier: '', content: 'x' }))
  t.equal(emptyIdentifier.statusCode, 400, 'an empty identifier: 400')
  t.match(emptyIdentifier.json(), { field: 'body.identifier' })

  const wrongField = await post(form({ identifier: 'alice' }, [['file', 'a.txt', 'text/plain', small]]))
  t.equal(wrongField.statusCode, 400, 'a file under another name: 400')
  t.match(wrongField.json(), { code: 'GATEWAY_FIELD_INVALID', field: 'body.file', message: /attachments/ })

  const nothing = await post(form({ identifier: 'alice' }))
  t.equal(nothing.statusCode, 400, 'neither a file nor content: 400')
  t.match(nothing.json(), { code: 'GATEWAY_FIELD_INVALID', field: 'body.attachments' })

  const json = await app.inject({ method: 'POST', url: '/instances/acme/media', payload: { identifier: 'alice', content: 'x' } })
  t.equal(json.statusCode, 400, 'a JSON body: 400')
  t.match(json.json(), { code: 'GATEWAY_FIELD_INVALID', field: 'body', message: 'body must be multipart/form-data' })

  const tooLarge = await post(form({ identifier: 'alice', content: 'big' },
    [['attachments', 'ok.txt', 'text/plain', small], ['attachments', 'big.bin', 'application/octet-stream', randomBytes(MAX_FILE + 1)]]))
  t.equal(tooLarge.statusCode, 413, 'a file one byte above maxFileSize: 413')
  t.match(tooLarge.json(), { statusCode: 413, code: 'FST_REQ_FILE_TOO_LARGE', error: 'Payload Too Large' })
  t.notOk('stack' in tooLarge.json(), 'no stack')

  t.same(sim.requests, [], 'no request reached the simulator')
  t.same(await tally(sim, account), EMPTY, 'nothing stored, not even the small file beside the large one')
  t.equal(app.chatwoot.stats().deliveries, 0)
})

test('Chatwoot answering 503 to everything: the caller gets 503 FST_CHATWOOT_SERVER, no stack, no token', async (t) => {
  const { sim, account, app } = await setup(t)
  await addInstance(app, sim, account)
  sim.faults.add({ status: 503, times: Infinity })

  const answer = await postMessage(app, message('alice', 'during the outage'))
  t.equal(answer.statusCode, 503)
  t.same(answer.json(), {
    statusCode: 503,
    code: 'FST_CHATWOOT_SERVER',
    error: 'Service Unavailable',
    message: `Chatwoot listInboxes (GET /api/v1/accounts/${account.accountId}/inboxes) answered 503: Service Unavailable`
  }, 'the coded answer, and nothing else (no stack)')
  t.notOk(answer.body.includes(account.token), 'no token')
  t.equal(sim.requests.length, 4, 'the first call (the inbox\'s identity) was tried 4 times (the default 3 retries)')
  t.ok(sim.requests.every((logged) => logged.status === 503 && logged.path.endsWith('/inboxes')))

  const media = await app.inject({ method: 'POST', url: '/instances/acme/media', ...await multipart(form({ identifier: 'alice', content: 'x' })) })
  t.equal(media.statusCode, 503, 'the media route too')
  t.match(media.json(), { code: 'FST_CHATWOOT_SERVER' })

  sim.faults.clear()
  const after = await postMessage(app, message('alice', 'after the outage'))
  t.equal(after.statusCode, 200, 'delivered once Chatwoot is back')
  t.same((await storedMessages(sim, account)).map((row) => row.content), ['after the outage'], 'only that message is stored')
})

test('Chatwoot gone (simulator closed), over real HTTP: 503 FST_CHATWOOT_NETWORK, no stack, no token', async (t) => {
  const db = await testDatabase(t)
  const sim = await createChatwootSimulator({ database: serverUrl() })
  let simClosed = false
  t.teardown(async () => { if (!simClosed) await sim.close() })
  const account = await sim.createAccount()
  const { app } = await startGateway(t, db.url)
  await addInstance(app, sim, account)
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const first = await postMessage(app, message('alice', 'before'))
  t.equal(first.statusCode, 200, 'delivered while Chatwoot is up')

  await sim.close()
  simClosed = true
  const response = await request(`${address}/instances/acme/messages`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(message('alice', 'after'))
  })
  const text = await response.body.text()
  t.equal(response.statusCode, 503)
  t.match(String(response.headers['content-type']), /^application\/json/)
  const body = JSON.parse(text)
  t.same(Object.keys(body).sort(), ['code', 'error', 'message', 'statusCode'], 'only the documented keys (no stack)')
  t.match(body, { statusCode: 503, code: 'FST_CHATWOOT_NETWORK', error: 'Service Unavailable', message: /createMessage .*network error/ },
    'the cached conversation is posted to directly, and that post fails on the network')
  t.notOk(text.includes(account.token), 'no token')
  t.notOk(/\n\s+at /.test(text), 'no stack frames in the text')
})
