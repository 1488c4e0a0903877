/**
 * The OpenAPI document and the app agree: every route the Hono app registers is in the document
 * (or listed in UNDOCUMENTED_ROUTES) and every documented route exists. Then real answers of a
 * running coordinator (an agent registered over the real `/agents` socket) match their response
 * schemas, with a status the document lists for that route.
 */
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { z } from 'zod';
import { type Coordinator, startCoordinator } from '../../coordinator/index.js';
import {
  AgentListSchema,
  ErrorBodySchema,
  HealthSchema,
  JobListSchema,
  JobViewSchema,
  SubmitReplySchema,
} from '../../coordinator/http/api-schemas.js';
import { createApp, type HttpDeps } from '../../coordinator/http/app.js';
import { UNDOCUMENTED_ROUTES, openApiDocument, openApiPath } from '../../coordinator/http/openapi.js';
import { silentLogger } from '../../coordinator/log.js';
import { type AgentToCoordinator, type CoordinatorToAgent, VERSION } from '../../shared/index.js';
import { tempDir } from '../helpers/processes.js';

type Doc = ReturnType<typeof openApiDocument>;
type Operation = { responses: Record<string, unknown> };

let coordinator: Coordinator;
let agentSocket: Socket<CoordinatorToAgent, AgentToCoordinator> | null = null;
const doc: Doc = openApiDocument(VERSION);

test.after(async () => {
  agentSocket?.close();
  await coordinator?.close();
});

test('every route of the app is documented, and every documented route exists', () => {
  // Routes are registered without touching their dependencies, so an app built on empty ones lists them all.
  const deps = { version: VERSION, videoDir: tempDir('openapi-videos'), maxVideoBytes: 1, log: silentLogger(), onCancelled: () => {} };
  const app = createApp(deps as unknown as HttpDeps);
  const served = new Set(
    app.routes
      .filter((r) => r.method !== 'ALL') // middleware (app.use), not a route
      .map((r) => `${r.method} ${r.path}`),
  );
  for (const r of UNDOCUMENTED_ROUTES) assert.ok(served.delete(r), `UNDOCUMENTED_ROUTES names ${r}, which the app does not serve`);
  const documented = new Set<string>();
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) documented.add(`${method.toUpperCase()} ${path}`);
  }
  const servedAsDoc = new Set([...served].map((r) => openApiPath(r)));
  assert.equal([...servedAsDoc].filter((r) => !documented.has(r)).sort(), [], 'routes the app serves that the document does not describe');
  assert.equal([...documented].filter((r) => !servedAsDoc.has(r)).sort(), [], 'documented routes the app does not serve');
  assert.ok(documented.size >= 13);
});

test('the document is OpenAPI 3.1 with resolvable references', () => {
  assert.is(doc.openapi, '3.1.0');
  assert.is(doc.info.version, VERSION);
  const text = JSON.stringify(doc);
  for (const [, id] of text.matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)) {
    assert.ok(id! in doc.components.schemas, `dangling $ref to ${id}`);
  }
  const ids = new Set<string>();
  for (const ops of Object.values(doc.paths)) {
    for (const op of Object.values(ops) as Array<{ operationId: string }>) {
      assert.not.ok(ids.has(op.operationId), `operationId ${op.operationId} is used twice`);
      ids.add(op.operationId);
    }
  }
  const submit = doc.paths['/api/v1/jobs']!.post as { requestBody: { content: Record<string, { schema: { required: string[]; properties: Record<string, unknown> } }> } };
  const body = submit.requestBody.content['application/json']!.schema;
  assert.equal([...body.required].sort(), ['app_version_id', 'org_id', 'target', 'test_path'], 'fields with defaults are optional in the request');
  assert.ok('priority' in body.properties);
});

/** Calls the coordinator and checks the answer: a status the document lists for the route, and a body matching `schema`. */
async function call<S extends z.ZodType>(
  method: string,
  path: string,
  route: string,
  expectStatus: number,
  schema: S,
  body?: unknown,
): Promise<z.output<S>> {
  const res = await fetch(`${coordinator.url}${path}`, {
    method,
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  assert.is(res.status, expectStatus, `${method} ${path}`);
  const op = (doc.paths as Record<string, Record<string, Operation>>)[route]?.[method.toLowerCase()];
  assert.ok(op, `${method} ${route} is documented`);
  assert.ok(String(res.status) in op.responses || res.status >= 500, `${method} ${route} documents status ${res.status}`);
  const json: unknown = await res.json();
  const parsed = schema.safeParse(json);
  assert.ok(parsed.success, `${method} ${path}: ${parsed.success ? '' : JSON.stringify(parsed.error.issues)}\n${JSON.stringify(json)}`);
  return parsed.data as z.output<S>;
}

test('real answers match their response schemas', async () => {
  const dataDir = tempDir('openapi');
  coordinator = await startCoordinator({ port: 0, dataDir, databaseUrl: `sqlite:${join(dataDir, 'qgjob.sqlite')}`, log: () => {} });
  // An agent with one slot, over the real socket, so the fleet has something to show.
  agentSocket = io(`${coordinator.url}/agents`, { transports: ['websocket'], reconnection: false });
  const reply = await agentSocket.timeout(5000).emitWithAck('register', {
    agent_id: 'doc-agent',
    name: 'doc-agent',
    version: VERSION,
    slots: [{ slot_id: 's1', target: 'device', platform: 'ios', device_name: 'wire', endpoint: 'http://127.0.0.1:1', installed_app_version_id: null }],
    running: [],
  });
  assert.ok(reply.ok, JSON.stringify(reply));

  const health = await call('GET', '/healthz', '/healthz', 200, HealthSchema);
  assert.is(health.agents, 1);

  // Android jobs: the registered slot is iOS, so they wait (with a reason) and can be cancelled.
  const spec = { org_id: 'acme', app_version_id: 'doc-v1', test_path: 'tests/onboarding.spec.js', target: 'emulator' };
  const submitted = await call('POST', '/api/v1/jobs', '/api/v1/jobs', 201, SubmitReplySchema, spec);
  const job = await call('GET', `/api/v1/jobs/${submitted.job_id}`, '/api/v1/jobs/{id}', 200, JobViewSchema);
  assert.is(job.status, 'queued');
  assert.type(job.waiting_reason, 'string');
  const list = await call('GET', '/api/v1/jobs?limit=5', '/api/v1/jobs', 200, JobListSchema);
  assert.is(list.jobs[0]?.job_id, submitted.job_id);
  const agents = await call('GET', '/api/v1/agents', '/api/v1/agents', 200, AgentListSchema);
  assert.is(agents.agents[0]?.slots[0]?.state, 'idle');
  const cancelled = await call('POST', `/api/v1/jobs/${submitted.job_id}/cancel`, '/api/v1/jobs/{id}/cancel', 200, JobViewSchema);
  assert.is(cancelled.status, 'cancelled');
  await call('POST', `/api/v1/jobs/${submitted.job_id}/resubmit`, '/api/v1/jobs/{id}/resubmit', 201, SubmitReplySchema);

  // Errors: one shape, a stable code, with the statuses the document lists.
  const missing = await call('GET', '/api/v1/jobs/job_00000000000000000000000000', '/api/v1/jobs/{id}', 404, ErrorBodySchema);
  assert.is(missing.error.code, 'job_not_found');
  const invalid = await call('POST', '/api/v1/jobs', '/api/v1/jobs', 400, ErrorBodySchema, { ...spec, priority: 99 });
  assert.is(invalid.error.code, 'validation_failed');
  assert.ok(invalid.error.fields?.priority);
  const again = await call('POST', `/api/v1/jobs/${submitted.job_id}/cancel`, '/api/v1/jobs/{id}/cancel', 409, ErrorBodySchema);
  assert.is(again.error.code, 'illegal_transition');
  const noBuild = await call('GET', '/api/v1/apps/never-uploaded', '/api/v1/apps/{app_version_id}', 404, ErrorBodySchema);
  assert.is(noBuild.error.code, 'build_not_found');
  const badQuery = await call('GET', '/api/v1/jobs?limit=0', '/api/v1/jobs', 400, ErrorBodySchema);
  assert.is(badQuery.error.code, 'validation_failed');

  // The served document is this one.
  const served = await (await fetch(`${coordinator.url}/api/v1/openapi.json`)).json();
  assert.equal(served, JSON.parse(JSON.stringify(doc)));
});

test.run();
