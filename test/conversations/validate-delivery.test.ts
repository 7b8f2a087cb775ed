import { Readable } from 'node:stream'
import { test } from 'tap'
import {
  MAX_ATTACHMENTS, MAX_CONTENT_LENGTH, MAX_IDENTIFIER_LENGTH, MAX_SOURCE_ID_LENGTH, MESSAGE_TYPES, validateDelivery
} from '../../lib/conversations/validate-delivery.js'
import type { DeliveryInput } from '../../lib/conversations/types.js'

const contact = { identifier: '5511999990001@s.whatsapp.net', name: 'Ana Lima', phone_number: '+5511999990001' }
const file = { filename: 'photo.jpg', contentType: 'image/jpeg', data: Buffer.from([0xff, 0xd8, 0x00, 0xff]) }
const good = (): any => ({ contact: { ...contact }, message: { content: 'hello', source_id: 'wamid.1' } })

/** The error validateDelivery throws for `input`; a validation that passes fails the test. */
function refusal (input: unknown): { code: string, statusCode: number, message: string } {
  try {
    validateDelivery(input as DeliveryInput)
  } catch (error) {
    return error as { code: string, statusCode: number, message: string }
  }
  throw new Error('expected validateDelivery to throw')
}

/** A valid input with one change made by `change`. */
function changed (change: (input: any) => void): unknown {
  const input = good()
  change(input)
  return input
}

// [what, input, field the message must name, a pattern the message must match as well]
const REFUSED: Array<[string, unknown, string, RegExp?]> = [
  ['no input', undefined, 'the input', /got a value of type undefined/],
  ['an array as input', [], 'the input', /an array of 0/],
  ['no contact', changed((input) => { delete input.contact }), 'contact', /must be an object/],
  ['a string as contact', changed((input) => { input.contact = 'ana' }), 'contact', /got "ana"/],
  ['no message', changed((input) => { input.message = null }), 'message', /got null/],
  ['no identifier', changed((input) => { delete input.contact.identifier }), 'contact.identifier', /got none/],
  ['a numeric identifier', changed((input) => { input.contact.identifier = 5511 }), 'contact.identifier', /number 5511/],
  ['an empty identifier', changed((input) => { input.contact.identifier = '' }), 'contact.identifier', /empty/],
  ['a blank identifier', changed((input) => { input.contact.identifier = '   ' }), 'contact.identifier', /blank/],
  ['a long identifier', changed((input) => { input.contact.identifier = 'x'.repeat(MAX_IDENTIFIER_LENGTH + 1) }),
    'contact.identifier', new RegExp(`at most ${MAX_IDENTIFIER_LENGTH} characters, got ${MAX_IDENTIFIER_LENGTH + 1}`)],
  ['a NUL in the identifier', changed((input) => { input.contact.identifier = 'ana\u0000' }), 'contact.identifier', /NUL/],
  ['a numeric name', changed((input) => { input.contact.name = 42 }), 'contact.name', /must be a string/],
  ['an object phone', changed((input) => { input.contact.phone_number = {} }), 'contact.phone_number', /type object/],
  ['a boolean avatar_url', changed((input) => { input.contact.avatar_url = true }), 'contact.avatar_url', /boolean true/],
  ['a NUL in the name', changed((input) => { input.contact.name = 'A\u0000na' }), 'contact.name', /NUL/],
  ['a NUL in the phone', changed((input) => { input.contact.phone_number = '+55\u0000' }), 'contact.phone_number', /NUL/],
  ['a NUL in the email', changed((input) => { input.contact.email = 'a\u0000@b.c' }), 'contact.email', /NUL/],
  ['a NUL in the avatar_url', changed((input) => { input.contact.avatar_url = 'https://a\u0000' }), 'contact.avatar_url', /NUL/],
  ['a list as additional_attributes', changed((input) => { input.contact.additional_attributes = ['x'] }),
    'contact.additional_attributes', /must be an object/],
  ['a NUL deep in additional_attributes', changed((input) => { input.contact.additional_attributes = { a: { b: ['\u0000'] } } }),
    'contact.additional_attributes.a.b[0]', /NUL/],
  ['numeric content', changed((input) => { input.message.content = 12 }), 'message.content', /must be a string/],
  ['content over the limit', changed((input) => { input.message.content = 'x'.repeat(MAX_CONTENT_LENGTH + 1) }),
    'message.content', new RegExp(`at most ${MAX_CONTENT_LENGTH} characters .*got ${MAX_CONTENT_LENGTH + 1}`)],
  ['a NUL in the content', changed((input) => { input.message.content = 'hel\u0000lo' }), 'message.content', /NUL/],
  ['a bogus message_type', changed((input) => { input.message.message_type = 'inbound' }), 'message.message_type',
    /one of incoming, outgoing, activity, template, got "inbound"/],
  ['a numeric message_type', changed((input) => { input.message.message_type = 0 }), 'message.message_type', /number 0/],
  ['a numeric source_id', changed((input) => { input.message.source_id = 1234 }), 'message.source_id', /pass String\(1234\)/],
  ['an empty source_id', changed((input) => { input.message.source_id = '' }), 'message.source_id', /non-empty string/],
  ['a null source_id', changed((input) => { input.message.source_id = null }), 'message.source_id', /got null/],
  ['a long source_id', changed((input) => { input.message.source_id = 's'.repeat(MAX_SOURCE_ID_LENGTH + 1) }),
    'message.source_id', new RegExp(`at most ${MAX_SOURCE_ID_LENGTH} characters`)],
  ['a NUL in the source_id', changed((input) => { input.message.source_id = 'wamid\u0000' }), 'message.source_id', /NUL/],
  ['attachments not an array', changed((input) => { input.message.attachments = file }), 'message.attachments', /must be an array/],
  ['too many attachments', changed((input) => { input.message.attachments = Array.from({ length: MAX_ATTACHMENTS + 1 }, () => file) }),
    'message.attachments', new RegExp(`at most ${MAX_ATTACHMENTS} files .*got ${MAX_ATTACHMENTS + 1}`)],
  ['a null attachment', changed((input) => { input.message.attachments = [file, null] }), 'message.attachments[1]', /must be an object/],
  ['an attachment without filename', changed((input) => { input.message.attachments = [{ ...file, filename: '' }] }),
    'message.attachments[0].filename', /non-empty string/],
  ['an attachment without content type', changed((input) => { input.message.attachments = [{ ...file, contentType: undefined }] }),
    'message.attachments[0].contentType', /non-empty string/],
  ['an attachment whose data is a stream', changed((input) => { input.message.attachments = [{ ...file, data: Readable.from(['x']) }] }),
    'message.attachments[0].data', /fresh stream/],
  ['a NUL in an attachment filename', changed((input) => { input.message.attachments = [{ ...file, filename: 'a\u0000.jpg' }] }),
    'message.attachments[0].filename', /NUL/],
  ['a number as content_attributes', changed((input) => { input.message.content_attributes = 7 }), 'message.content_attributes',
    /object or a JSON string/],
  ['an array as content_attributes', changed((input) => { input.message.content_attributes = [] }), 'message.content_attributes', /an array/],
  ['a NUL key in content_attributes', changed((input) => { input.message.content_attributes = { 'a\u0000': 1 } }),
    'a key of message.content_attributes', /NUL/],
  ['a string private', changed((input) => { input.message.private = 'yes' }), 'message.private', /must be a boolean, got "yes"/],
  ['a numeric content_type', changed((input) => { input.message.content_type = 1 }), 'message.content_type', /must be a string/],
  ['a numeric echo_id', changed((input) => { input.message.echo_id = 1 }), 'message.echo_id', /must be a string/]
]

for (const [what, input, field, pattern] of REFUSED) {
  test(`refused: ${what}`, async (t) => {
    const error = refusal(input)
    t.equal(error.code, 'FST_CHATWOOT_DELIVERY_INVALID')
    t.equal(error.statusCode, 400)
    t.ok(error.message.startsWith(`Invalid delivery: ${field} `), `the message names ${field}: ${error.message}`)
    if (pattern !== undefined) t.match(error.message, pattern)
  })
}

test('a huge value is described by its length, never echoed', async (t) => {
  const error = refusal(changed((input) => { input.message.content = 'secret-ish '.repeat(20_000) }))
  t.match(error.message, /got 220000/)
  t.notMatch(error.message, /secret-ish/)
  t.ok(error.message.length < 200, `a short message (${error.message.length} characters)`)
  const long = refusal(changed((input) => { input.message.message_type = 'x'.repeat(5000) }))
  t.match(long.message, /got a string of 5000 characters/)
  t.ok(long.message.length < 200)
})

test('content is counted in characters as Chatwoot counts them: an emoji is one, not two UTF-16 units', async (t) => {
  const emoji = '\u{1F600}'
  t.equal(emoji.length, 2)
  t.doesNotThrow(() => validateDelivery(changed((input) => { input.message.content = emoji.repeat(MAX_CONTENT_LENGTH) }) as DeliveryInput),
    `${MAX_CONTENT_LENGTH} emoji (${MAX_CONTENT_LENGTH * 2} units) are within the limit`)
  const over = refusal(changed((input) => { input.message.content = emoji.repeat(MAX_CONTENT_LENGTH + 1) }))
  t.match(over.message, new RegExp(`got ${MAX_CONTENT_LENGTH + 1}$`))
})

test('valid deliveries pass: the smallest, every message type, every optional field, 15 attachments, bytes with NUL in them', async (t) => {
  t.doesNotThrow(() => validateDelivery({ contact: { identifier: 'a' }, message: {} }), 'identifier and an empty message')
  t.doesNotThrow(() => validateDelivery(changed((input) => { input.contact.email = null; input.contact.phone_number = null }) as DeliveryInput),
    'null optional contact fields (empty columns of a host\'s record) count as not given')
  for (const type of MESSAGE_TYPES) {
    t.doesNotThrow(() => validateDelivery(changed((input) => { input.message.message_type = type }) as DeliveryInput), type)
  }
  const full: DeliveryInput = {
    contact: { ...contact, email: 'ana@example.com', avatar_url: 'https://example.com/a.png', additional_attributes: { city: 'Recife' } },
    message: {
      content: 'x'.repeat(MAX_CONTENT_LENGTH),
      message_type: 'outgoing',
      private: false,
      content_type: 'text',
      content_attributes: { in_reply_to: 1 },
      source_id: 's'.repeat(MAX_SOURCE_ID_LENGTH),
      echo_id: 'echo-1',
      // Bytes are data: a NUL among them is not a NUL in a text field.
      attachments: [...Array.from({ length: MAX_ATTACHMENTS - 1 }, () => file), { ...file, data: () => Readable.from([Buffer.from([0])]) }]
    }
  }
  t.doesNotThrow(() => validateDelivery(full), 'every field at its bound')
  t.doesNotThrow(() => validateDelivery(changed((input) => { input.message.content_attributes = '{"in_reply_to": 1}' }) as DeliveryInput),
    'content_attributes as a JSON string (Chatwoot parses it)')
  t.doesNotThrow(() => validateDelivery(changed((input) => { input.message.content_attributes = { deep: { list: [1, 'two'] } } }) as DeliveryInput),
    'content_attributes as an object')
  t.doesNotThrow(() => validateDelivery(changed((input) => { input.contact.identifier = 'x'.repeat(MAX_IDENTIFIER_LENGTH) }) as DeliveryInput),
    'an identifier at its bound')
})

test('the limits are exported as named constants with Chatwoot\'s values', async (t) => {
  t.equal(MAX_CONTENT_LENGTH, 150_000)
  t.equal(MAX_ATTACHMENTS, 15)
  t.same([...MESSAGE_TYPES], ['incoming', 'outgoing', 'activity', 'template'])
  t.throws(() => { (MESSAGE_TYPES as string[]).push('other') }, 'the list of types cannot be changed')
})
