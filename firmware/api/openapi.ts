// The OpenAPI description of the API, built from the command registry so it cannot drift from what
// the device serves. The device serves it at GET /api/openapi.json; the repo keeps a copy in
// docs/openapi.json (regenerate with `node firmware/api/openapi.ts --write`; a test checks they match).
import type { CommandRegistryLike } from '../commands/types.ts'
import { argSchema, bodySchema, mutates, RESERVED, routePath } from './routes.ts'

export const API_VERSION = '1.0.0'

const errorSchema = {
  type: 'object',
  required: ['ok', 'code', 'message'],
  properties: {
    ok: { const: false },
    code: { type: 'string', description: 'stable error code, see docs/errors.md' },
    message: { type: 'string', description: 'what is wrong and what to do' },
    field: { type: 'string', description: 'the offending field, for validation errors' },
    confirmToken: { type: 'string', description: 'with 409: repeat the request with {"confirm": token}' },
  },
}

function errors(extra: Record<string, string>): Record<string, unknown> {
  const base: Record<string, string> = {
    '401': 'client certificate missing, untrusted, expired or revoked',
    '429': 'rate limit for this client exceeded (Retry-After header)',
    ...extra,
  }
  const out: Record<string, unknown> = {}
  for (const [k, d] of Object.entries(base)) out[k] = { description: d, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
  return out
}

type CommandSpecOf = ReturnType<CommandRegistryLike['list']>[number]

/** The path item of one registry command: GET with query parameters, or POST with a JSON body. */
function commandPath(r: { spec: CommandSpecOf; command: string; method: string }): Record<string, unknown> {
  const ok = { description: 'the command ran', content: { 'application/json': { schema: { $ref: '#/components/schemas/Ok' } } } }
  const summary = r.spec.summary
  const description = [
    r.spec.details ?? '',
    `Registry command "${r.command}"; permission ${r.spec.permission}.`,
    `Console example: ${r.spec.examples[0] ?? r.command}`,
  ]
    .filter(Boolean)
    .join('\n\n')
  if (r.method === 'GET') {
    return {
      get: {
        operationId: r.command.replace(/\s+/g, '_'),
        summary,
        description,
        parameters: r.spec.args.map((a) => ({ name: a.name, in: 'query', required: !a.optional && a.default === undefined, schema: argSchema(a) })),
        responses: { '200': ok, ...errors({ '400': 'a query parameter is wrong (the message names it)', '404': 'no such resource' }) },
      },
    }
  } else {
    return {
      post: {
        operationId: r.command.replace(/\s+/g, '_'),
        summary,
        description,
        requestBody: { required: true, content: { 'application/json': { schema: bodySchema(r.spec) } } },
        responses: {
          '200': ok,
          ...errors({
            '400': 'malformed JSON, a wrong type (null included), a missing or unknown field, or a value out of range (the message names the field)',
            '403': "the certificate's role may not run this command (checked before the body)",
            '409': r.spec.destructive ? 'confirmation needed: repeat with {"confirm": confirmToken}' : 'the command cannot run in the current state',
            '413': 'body larger than the limit',
            '415': 'Content-Type must be application/json',
          }),
        },
      },
    }
  }
}

/** The resources that are not commands: this document, whoami, the command list, the event streams. */
function builtinPaths(): Record<string, unknown> {
  const paths: Record<string, unknown> = {}
  paths['/api/openapi.json'] = {
    get: {
      operationId: 'openapi',
      summary: 'this description',
      responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': {} } } },
    },
  }
  paths['/api/whoami'] = {
    get: {
      operationId: 'whoami',
      summary: 'the client as the device sees it (from the certificate)',
      responses: {
        '200': {
          description: 'identity',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                properties: { cn: { type: 'string' }, serial: { type: 'string' }, role: { type: 'string' }, permission: { type: 'string' } },
              },
            },
          },
        },
        ...errors({}),
      },
    },
  }
  paths['/api/commands'] = {
    get: {
      operationId: 'commands',
      summary: 'the command list with arguments, permissions and REST paths',
      responses: { '200': { description: 'commands', content: { 'application/json': {} } }, ...errors({}) },
    },
  }
  const streamParams = [
    {
      name: 'types',
      in: 'query',
      required: false,
      schema: {
        type: 'string',
        default: 'transition,meters,doa,recommendation,change',
        description: 'comma-separated subset of transition, meters, doa, recommendation, panel, change, inference',
      },
    },
    {
      name: 'metersHz',
      in: 'query',
      required: false,
      schema: { type: 'number', minimum: 0.2, maximum: 50, default: 10, description: 'meter updates per second' },
    },
    {
      name: 'lastEventId',
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 0, description: 'resume after this event id (SSE clients send the Last-Event-ID header instead)' },
    },
  ]
  const streamErrors = errors({
    '400': 'a query parameter is wrong',
    '429': 'this certificate already holds the most event streams one certificate may open (4)',
    '503': 'too many event streams open on the unit',
  })
  paths['/api/events'] = {
    get: {
      operationId: 'events',
      summary:
        'server-sent event stream: transitions, meters at the requested rate, DOA, recommendations, setting changes; Last-Event-ID replays what a reconnecting client missed',
      parameters: [...streamParams, { name: 'Last-Event-ID', in: 'header', required: false, schema: { type: 'integer', minimum: 0 } }],
      responses: {
        '200': {
          description:
            'text/event-stream; each event has "id: <unit event id>" (not meters), "event: <type>" and "data: <json>" with "eventId" and "at" (ISO 8601 UTC, ms); "event: reset" when the asked id is older than the buffer',
          content: { 'text/event-stream': {} },
        },
        ...streamErrors,
      },
    },
  }
  paths['/api/ws'] = {
    get: {
      operationId: 'eventsWebSocket',
      summary: 'the same events over a WebSocket (same certificate checks): each message is {"event": type, "id": n, "data": {...}}',
      parameters: streamParams,
      responses: { '101': { description: 'switching to the WebSocket protocol' }, ...streamErrors },
    },
  }
  return paths
}

export function buildOpenApi(registry: CommandRegistryLike): Record<string, unknown> {
  const paths: Record<string, unknown> = {}
  const routes = registry
    .list()
    .map((spec) => ({ spec, command: spec.name, path: routePath(spec.name), method: mutates(spec) ? 'POST' : 'GET' }))
    .filter((r) => !RESERVED.has(r.path))
    .sort((a, b) => a.path.localeCompare(b.path))
  for (const r of routes) paths[r.path] = commandPath(r)
  Object.assign(paths, builtinPaths())
  const sorted: Record<string, unknown> = {}
  for (const k of Object.keys(paths).sort()) sorted[k] = paths[k]
  return {
    openapi: '3.1.0',
    info: {
      title: 'Stage appliance local API',
      version: API_VERSION,
      description:
        "HTTPS with TLS 1.3 only and mutual certificates issued by the device's operator CA (see docs/provisioning.md). Observer certificates are read-only. Every state change is audited. JSON in and out.",
    },
    servers: [{ url: 'https://{device}:{port}', variables: { device: { default: 'localhost' }, port: { default: '8443' } } }],
    security: [{ mutualTLS: [] }],
    paths: sorted,
    components: {
      securitySchemes: {
        mutualTLS: { type: 'mutualTLS', description: 'client certificate signed by the operator CA; OU=operator (read/write) or OU=observer (read-only)' },
      },
      schemas: {
        Ok: { type: 'object', required: ['ok', 'command', 'value'], properties: { ok: { const: true }, command: { type: 'string' }, value: {} } },
        Error: errorSchema,
      },
    },
  }
}

export function openApiText(registry: CommandRegistryLike): string {
  return `${JSON.stringify(buildOpenApi(registry), null, 2)}\n`
}
