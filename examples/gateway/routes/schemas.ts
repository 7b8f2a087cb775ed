// What a gateway accepts from its chat channel; Chatwoot's own limits where it has them, so a
// bad message is refused here with its field rather than by Chatwoot after a round trip.
export const instanceParams = {
  type: 'object',
  required: ['instance'],
  properties: { instance: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' } }
} as const

export const contactSchema = {
  type: 'object',
  required: ['identifier'],
  additionalProperties: false,
  properties: {
    identifier: { type: 'string', minLength: 1, maxLength: 255 },
    name: { type: 'string', minLength: 1, maxLength: 255 },
    phone_number: { type: 'string', pattern: '^\\+[1-9]\\d{1,14}$' },
    email: { type: 'string', format: 'email', maxLength: 255 },
    avatar_url: { type: 'string', format: 'uri' },
    // Other ids of the same person (a WhatsApp lid and phone id): docs/identity.md.
    aliases: { type: 'array', maxItems: 8, items: { type: 'string', minLength: 1, maxLength: 255 } }
  }
} as const

export const messageSchema = {
  type: 'object',
  required: ['content'],
  additionalProperties: false,
  properties: {
    content: { type: 'string', minLength: 1, maxLength: 150_000 },
    message_type: { type: 'string', enum: ['incoming', 'outgoing'] },
    private: { type: 'boolean' },
    source_id: { type: 'string', minLength: 1, maxLength: 255 },
    content_attributes: { type: 'object' }
  }
} as const

export const deliveryAnswer = {
  type: 'object',
  properties: {
    messageId: { type: 'integer' },
    conversationId: { type: 'integer' },
    contactId: { type: 'integer' },
    sourceId: { type: 'string' },
    cache: { type: 'string' },
    recovered: { type: 'boolean' },
    deduplicated: { type: 'boolean' }
  }
} as const

// The media route's text fields, checked with the same rules as the JSON route's.
export const mediaFieldsSchema = {
  type: 'object',
  required: ['identifier'],
  additionalProperties: false,
  properties: {
    identifier: contactSchema.properties.identifier,
    name: contactSchema.properties.name,
    phone_number: contactSchema.properties.phone_number,
    email: contactSchema.properties.email,
    content: messageSchema.properties.content,
    source_id: messageSchema.properties.source_id
  }
} as const

/** `?queue=1` where the gateway has an outbox; without one the flag is refused, not ignored. */
export function queueQuery (outbox: boolean) {
  return {
    type: 'object',
    properties: { queue: { type: 'string', enum: outbox ? ['0', '1'] : ['0'] } }
  } as const
}

/** An outbox entry, as `?queue=1` answers it (202). */
export const queuedAnswer = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    sourceId: { type: 'string' },
    state: { type: 'string' },
    existing: { type: 'boolean' }
  }
} as const
